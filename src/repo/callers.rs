//! The caller check (migrations 0009, 0019): one statement at the front of a caller's batch whose
//! trigger aborts the batch unless the caller is still what authentication found.

use super::Arg;
use crate::auth::scope::{ProjectHandle, Scoped, Tenant};
use parityrail_core::fault::Fallible;

/// What the guard re-checks (migrations 0009, 0019): the key and its cap (`None`: uncapped),
/// its member's org role and, inside a project, the project and the member's override there
/// (`None`: no override).
pub struct CallerCheck<'a> {
    pub key_id: &'a str,
    pub minted_role: Option<&'a str>,
    pub member_id: &'a str,
    pub role: &'a str,
    pub project: Option<(&'a str, Option<&'a str>)>,
    pub at: &'a str,
}

pub fn check(t: &Tenant, c: &CallerCheck<'_>) -> Fallible<Scoped> {
    let (project, override_role) = c.project.map_or((None, None), |(p, o)| (Some(p), o));
    t.stmt(
        "INSERT INTO caller_checks (org_id, key_id, member_id, role, project_id, override_role, at, minted_role) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        vec![
            Arg::text(c.key_id),
            Arg::text(c.member_id),
            Arg::text(c.role),
            Arg::opt(project),
            Arg::opt(override_role),
            Arg::text(c.at),
            Arg::opt(c.minted_role),
        ],
    )
}

/// The guard of an automatic approval's claim (migration 0019): the batch aborts
/// (`auto_approve_off`) unless project `pr` still exists with `auto_approve_grants` on.
pub fn automatic(pr: &ProjectHandle) -> Fallible<Scoped> {
    pr.tenant().stmt(
        "INSERT INTO auto_approval_checks (org_id, project_id) VALUES (?1, ?2)",
        vec![Arg::text(pr.as_str())],
    )
}
