//! Members of an org.

use super::Arg;
use crate::auth::scope::{ProjectHandle, Scoped, Tenant};
use parityrail_core::domain::roles::Role;
use parityrail_core::fault::Fallible;
pub use parityrail_core::rows::members::MemberRow;
use serde::Deserialize;

const COLS: &str = "id, email, role, created_at";

pub async fn get(t: &Tenant, member_id: &str) -> Fallible<Option<MemberRow>> {
    t.first(
        &format!("SELECT {COLS} FROM members WHERE org_id = ?1 AND id = ?2"),
        vec![Arg::text(member_id)],
    )
    .await
}

/// The org's owner (exactly one, by the `members_one_owner` index).
pub async fn owner(t: &Tenant) -> Fallible<Option<MemberRow>> {
    t.first(
        &format!("SELECT {COLS} FROM members WHERE org_id = ?1 AND role = ?2"),
        vec![Arg::text("owner")],
    )
    .await
}

pub async fn list(t: &Tenant, after: Option<&str>, limit: u32) -> Fallible<Vec<MemberRow>> {
    t.all(
        &format!("SELECT {COLS} FROM members WHERE org_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3"),
        vec![Arg::text(after.unwrap_or("")), Arg::Int(i64::from(limit))],
    )
    .await
}

pub async fn by_email(t: &Tenant, email: &str) -> Fallible<Option<MemberRow>> {
    t.first(
        &format!("SELECT {COLS} FROM members WHERE org_id = ?1 AND email = ?2"),
        vec![Arg::text(email)],
    )
    .await
}

pub fn insert(t: &Tenant, m: &MemberRow) -> Fallible<Scoped> {
    t.stmt(
        "INSERT INTO members (org_id, id, email, role, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        vec![
            Arg::text(&m.id),
            Arg::text(&m.email),
            Arg::text(m.role.as_str()),
            Arg::text(&m.created_at),
        ],
    )
}

pub fn set_role(t: &Tenant, member_id: &str, role: &str) -> Fallible<Scoped> {
    t.stmt(
        "UPDATE members SET role = ?3 WHERE org_id = ?1 AND id = ?2",
        vec![Arg::text(member_id), Arg::text(role)],
    )
}

/// Removes the member and its per-project overrides.
pub fn delete(t: &Tenant, member_id: &str) -> Fallible<Vec<Scoped>> {
    Ok(vec![
        t.stmt(
            "DELETE FROM project_roles WHERE org_id = ?1 AND member_id = ?2",
            vec![Arg::text(member_id)],
        )?,
        t.stmt(
            "DELETE FROM members WHERE org_id = ?1 AND id = ?2",
            vec![Arg::text(member_id)],
        )?,
    ])
}

/// Sets (or with `None` clears) a member's role override in one project.
pub fn set_override(pr: &ProjectHandle, member_id: &str, role: Option<&str>) -> Fallible<Scoped> {
    let (t, project_id) = (pr.tenant(), pr.as_str());
    match role {
        Some(role) => t.stmt(
            "INSERT INTO project_roles (org_id, project_id, member_id, role) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (project_id, member_id) DO UPDATE SET role = excluded.role WHERE org_id = ?1",
            vec![Arg::text(project_id), Arg::text(member_id), Arg::text(role)],
        ),
        None => t.stmt(
            "DELETE FROM project_roles WHERE org_id = ?1 AND project_id = ?2 AND member_id = ?3",
            vec![Arg::text(project_id), Arg::text(member_id)],
        ),
    }
}

pub async fn get_override(pr: &ProjectHandle, member_id: &str) -> Fallible<Option<Role>> {
    let (t, project_id) = (pr.tenant(), pr.as_str());
    #[derive(Deserialize)]
    struct R {
        role: Role,
    }
    let r: Option<R> = t
        .first(
            "SELECT role FROM project_roles WHERE org_id = ?1 AND project_id = ?2 AND member_id = ?3",
            vec![Arg::text(project_id), Arg::text(member_id)],
        )
        .await?;
    Ok(r.map(|r| r.role))
}
