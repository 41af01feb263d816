//! Export bundles (migration 0017). Rows parse into `Export` as they are read
//! (`parityrail_core::rows::exports`).

use super::Arg;
use crate::auth::scope::{ProjectHandle, Scoped};
use parityrail_core::domain::exports::Link;
use parityrail_core::fault::{Fallible, Fault};
use parityrail_core::rows::exports::ExportRow;
pub use parityrail_core::rows::exports::{Export, ExportStatus};
use serde::Deserialize;

const COLS: &str = "id, project_id, status, format, from_seq, to_seq, actions, requested_by, \
                    created_at, finished_at, entry_count, first_seq, first_hash, last_seq, \
                    last_hash, files, error";

pub async fn get(pr: &ProjectHandle, id: &str) -> Fallible<Option<Export>> {
    pr.tenant()
        .first::<ExportRow>(
            &format!(
                "SELECT {COLS} FROM exports WHERE org_id = ?1 AND project_id = ?2 AND id = ?3"
            ),
            vec![Arg::text(pr.as_str()), Arg::text(id)],
        )
        .await?
        .map(ExportRow::parse)
        .transpose()
}

/// The project's exports, newest first, before `(created_at, id)` when given.
pub async fn list(
    pr: &ProjectHandle,
    before: Option<(&str, &str)>,
    limit: u32,
) -> Fallible<Vec<Export>> {
    let (at, id) = before.unwrap_or(("9999", ""));
    let rows: Vec<ExportRow> = pr
        .tenant()
        .all(
            &format!(
                "SELECT {COLS} FROM exports WHERE org_id = ?1 AND project_id = ?2 \
                 AND (created_at < ?3 OR (created_at = ?3 AND id < ?4)) \
                 ORDER BY created_at DESC, id DESC LIMIT ?5"
            ),
            vec![
                Arg::text(pr.as_str()),
                Arg::text(at),
                Arg::text(id),
                Arg::Int(i64::from(limit)),
            ],
        )
        .await?;
    rows.into_iter().map(ExportRow::parse).collect()
}

pub fn insert(pr: &ProjectHandle, e: &Export) -> Fallible<Scoped> {
    let actions = e
        .actions
        .as_ref()
        .map(|a| serde_json::to_string(a).unwrap_or_default());
    pr.tenant().stmt(
        "INSERT INTO exports (org_id, id, project_id, status, format, from_seq, to_seq, actions, \
         requested_by, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        vec![
            Arg::text(&e.id),
            Arg::text(pr.as_str()),
            Arg::text(e.status.as_str()),
            Arg::text(e.format.as_str()),
            Arg::Int(e.from_seq as i64),
            Arg::Int(e.to_seq as i64),
            Arg::opt(actions),
            Arg::text(&e.requested_by),
            Arg::text(&e.created_at),
        ],
    )
}

/// Ends a running export: `succeeded` with what it wrote, or `failed` with why.
pub fn finish(pr: &ProjectHandle, e: &Export) -> Fallible<Scoped> {
    let files = serde_json::to_string(&e.files).map_err(|x| Fault::internal(x.to_string()))?;
    let (first_seq, first_hash) = split(&e.first);
    let (last_seq, last_hash) = split(&e.last);
    pr.tenant().stmt(
        "UPDATE exports SET status = ?4, finished_at = ?5, entry_count = ?6, first_seq = ?7, \
         first_hash = ?8, last_seq = ?9, last_hash = ?10, files = ?11, error = ?12 \
         WHERE org_id = ?1 AND project_id = ?2 AND id = ?3 AND status = ?13",
        vec![
            Arg::text(pr.as_str()),
            Arg::text(&e.id),
            Arg::text(e.status.as_str()),
            Arg::opt(e.finished_at.clone()),
            e.count.map_or(Arg::Null, |n| Arg::Int(n as i64)),
            first_seq,
            first_hash,
            last_seq,
            last_hash,
            Arg::text(files),
            Arg::opt(e.error.clone()),
            Arg::text(ExportStatus::Running.as_str()),
        ],
    )
}

fn split(l: &Option<Link>) -> (Arg, Arg) {
    match l {
        Some(l) => (Arg::Int(l.seq as i64), Arg::text(&l.hash)),
        None => (Arg::Null, Arg::Null),
    }
}

/// Where a time falls in a chain (entries' times never go backwards): the first entry at or
/// after `at` (`Side::From`), or the last at or before it (`Side::To`).
pub enum Side {
    From,
    To,
}

pub async fn seq_at(
    pr: &ProjectHandle,
    chain: &str,
    at: &str,
    side: Side,
) -> Fallible<Option<u64>> {
    #[derive(Deserialize)]
    struct S {
        seq: Option<i64>,
    }
    let sql = match side {
        Side::From => {
            "SELECT MIN(seq) AS seq FROM audit_log WHERE org_id = ?1 AND chain = ?2 AND at >= ?3"
        }
        Side::To => {
            "SELECT MAX(seq) AS seq FROM audit_log WHERE org_id = ?1 AND chain = ?2 AND at <= ?3"
        }
    };
    let r: Option<S> = pr
        .tenant()
        .first(sql, vec![Arg::text(chain), Arg::text(at)])
        .await?;
    Ok(r.and_then(|s| s.seq).and_then(|n| u64::try_from(n).ok()))
}

/// How many of the project's exports are running.
pub async fn running(pr: &ProjectHandle) -> Fallible<u64> {
    let n = super::lists::count(
        pr.tenant(),
        "SELECT COUNT(*) AS n FROM exports WHERE org_id = ?1 AND project_id = ?2 AND status = ?3",
        vec![
            Arg::text(pr.as_str()),
            Arg::text(ExportStatus::Running.as_str()),
        ],
    )
    .await?;
    Ok(n as u64)
}

/// Ends a running export `failed` without reading it (for one whose row no longer parses).
pub async fn fail_unread(pr: &ProjectHandle, id: &str, error: &str, at: &str) -> Fallible<()> {
    pr.tenant()
        .run(
            "UPDATE exports SET status = ?4, error = ?5, finished_at = ?6 \
             WHERE org_id = ?1 AND project_id = ?2 AND id = ?3 AND status = ?7",
            vec![
                Arg::text(pr.as_str()),
                Arg::text(id),
                Arg::text(ExportStatus::Failed.as_str()),
                Arg::text(error),
                Arg::text(at),
                Arg::text(ExportStatus::Running.as_str()),
            ],
        )
        .await
}
