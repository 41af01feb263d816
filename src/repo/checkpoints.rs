//! Chain heads and the note of each chain's newest signed checkpoint, its size and head hash
//! (migrations 0017, 0019; a trigger on the audit log keeps the heads).

use super::Arg;
use crate::auth::scope::Tenant;
use parityrail_core::domain::checkpoints::Note;
use parityrail_core::fault::Fallible;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
pub struct Head {
    pub chain: String,
}

/// The org's chains whose head moved past their newest checkpoint, or whose newest checkpoint's
/// put has not been seen to succeed (a pending note), at most `limit`.
pub async fn unsigned(t: &Tenant, limit: u32) -> Fallible<Vec<Head>> {
    t.all(
        "SELECT chain FROM chain_heads WHERE org_id = ?1 AND (checkpoint_seq < seq \
         OR checkpoint_pending = 1) ORDER BY chain LIMIT ?2",
        vec![Arg::Int(i64::from(limit))],
    )
    .await
}

/// Moves the note of `chain`'s newest checkpoint to `to` only while its size is still `from`
/// (compare-and-swap, migration 0019); whether it moved.
pub async fn move_note(t: &Tenant, chain: &str, from: u64, to: &Note, at: &str) -> Fallible<bool> {
    #[derive(Deserialize)]
    struct Moved {
        #[allow(dead_code)]
        checkpoint_seq: i64,
    }
    let moved: Option<Moved> = t
        .first(
            "UPDATE chain_heads SET checkpoint_seq = ?3, checkpoint_hash = ?4, checkpoint_at = ?5, \
             checkpoint_pending = 1 WHERE org_id = ?1 AND chain = ?2 AND checkpoint_seq = ?6 \
             RETURNING checkpoint_seq",
            vec![
                Arg::text(chain),
                Arg::Int(to.size as i64),
                Arg::opt(to.hash.as_deref()),
                Arg::text(at),
                Arg::Int(from as i64),
            ],
        )
        .await?;
    Ok(moved.is_some())
}

/// Marks the note of `chain` settled (its checkpoint's put succeeded) while its size is `size`.
pub async fn settle(t: &Tenant, chain: &str, size: u64) -> Fallible<()> {
    t.run(
        "UPDATE chain_heads SET checkpoint_pending = 0 WHERE org_id = ?1 AND chain = ?2 \
         AND checkpoint_seq = ?3",
        vec![Arg::text(chain), Arg::Int(size as i64)],
    )
    .await
}

/// The note of the newest checkpoint D1 keeps for `chain` (size 0 when none was signed).
pub async fn noted(t: &Tenant, chain: &str) -> Fallible<Note> {
    #[derive(Deserialize)]
    struct N {
        checkpoint_seq: i64,
        checkpoint_hash: Option<String>,
        checkpoint_pending: i64,
    }
    let r: Option<N> = t
        .first(
            "SELECT checkpoint_seq, checkpoint_hash, checkpoint_pending FROM chain_heads \
             WHERE org_id = ?1 AND chain = ?2",
            vec![Arg::text(chain)],
        )
        .await?;
    Ok(r.map_or_else(Note::default, |n| Note {
        size: n.checkpoint_seq.max(0) as u64,
        hash: n.checkpoint_hash,
        pending: n.checkpoint_pending != 0,
    }))
}
