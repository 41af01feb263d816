//! Chain heads and the size of each chain's newest signed checkpoint (migration 0017; a trigger
//! on the audit log keeps the heads).

use super::Arg;
use crate::edge::auth::scope::Tenant;
use crate::fault::Fallible;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
pub struct Head {
    pub chain: String,
}

/// The org's chains whose head moved past their newest checkpoint, at most `limit`.
pub async fn unsigned(t: &Tenant, limit: u32) -> Fallible<Vec<Head>> {
    t.all(
        "SELECT chain FROM chain_heads WHERE org_id = ?1 AND checkpoint_seq < seq \
         ORDER BY chain LIMIT ?2",
        vec![Arg::Int(i64::from(limit))],
    )
    .await
}

/// Records that `chain` has a signed checkpoint of size `size`.
pub async fn signed(t: &Tenant, chain: &str, size: i64, at: &str) -> Fallible<()> {
    t.run(
        "UPDATE chain_heads SET checkpoint_seq = ?3, checkpoint_at = ?4 \
         WHERE org_id = ?1 AND chain = ?2 AND checkpoint_seq < ?3",
        vec![Arg::text(chain), Arg::Int(size), Arg::text(at)],
    )
    .await
}

/// The size of the newest checkpoint D1 noted for `chain` (0 when none was signed).
pub async fn noted(t: &Tenant, chain: &str) -> Fallible<u64> {
    #[derive(Deserialize)]
    struct N {
        checkpoint_seq: i64,
    }
    let r: Option<N> = t
        .first(
            "SELECT checkpoint_seq FROM chain_heads WHERE org_id = ?1 AND chain = ?2",
            vec![Arg::text(chain)],
        )
        .await?;
    Ok(r.map_or(0, |n| n.checkpoint_seq.max(0) as u64))
}
