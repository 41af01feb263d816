//! The caller guard (migration 0009): one statement at the front of a caller's batch whose
//! trigger aborts the batch unless the caller is still what authentication found.

use super::Arg;
use crate::edge::auth::scope::{Scoped, Tenant};
use crate::fault::Fallible;

/// What the guard re-checks: the key, its member's org role and, inside a project, the
/// project and the member's override there (`None`: no override).
pub struct CallerCheck<'a> {
    pub key_id: &'a str,
    pub member_id: &'a str,
    pub role: &'a str,
    pub project: Option<(&'a str, Option<&'a str>)>,
    pub at: &'a str,
}

pub fn check(t: &Tenant, c: &CallerCheck<'_>) -> Fallible<Scoped> {
    let (project, override_role) = c.project.map_or((None, None), |(p, o)| (Some(p), o));
    t.stmt(
        "INSERT INTO caller_checks (org_id, key_id, member_id, role, project_id, override_role, at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        vec![
            Arg::text(c.key_id),
            Arg::text(c.member_id),
            Arg::text(c.role),
            Arg::opt(project),
            Arg::opt(override_role),
            Arg::text(c.at),
        ],
    )
}
