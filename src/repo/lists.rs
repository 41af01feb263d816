//! Row shapes several repositories share (one decoder in the wasm for each): a count, and a list
//! of project ids.

use super::Arg;
use crate::auth::scope::Tenant;
use parityrail_core::fault::Fallible;

/// `SELECT count(*) AS n …` in the tenant: one row type for every count.
pub async fn count(t: &Tenant, sql: &str, args: Vec<Arg>) -> Fallible<i64> {
    Ok(number(t, sql, args).await?.map_or(0, |n| n.max(0)))
}

/// `SELECT … AS n …` of one row, if there is one (the count's row type).
pub async fn number(t: &Tenant, sql: &str, args: Vec<Arg>) -> Fallible<Option<i64>> {
    #[derive(serde::Deserialize)]
    struct N {
        n: i64,
    }
    let r: Option<N> = t.first(sql, args).await?;
    Ok(r.map(|r| r.n))
}

/// `SELECT DISTINCT project_id …` in the tenant: one row type for every such list.
pub async fn project_ids(t: &Tenant, sql: &str, args: Vec<Arg>) -> Fallible<Vec<String>> {
    #[derive(serde::Deserialize)]
    struct P {
        project_id: String,
    }
    let rows: Vec<P> = t.all(sql, args).await?;
    Ok(rows.into_iter().map(|r| r.project_id).collect())
}
