//! Projects of an org.

use super::Arg;
use crate::auth::scope::d1_within;
use crate::auth::scope::{ProjectHandle, Scoped, Tenant};
use crate::error::OrInternal;
use parityrail_core::fault::Fallible;
pub use parityrail_core::rows::projects::{ProjectForMember, ProjectRow};
use serde::Deserialize;

const COLS: &str =
    "id, name, environment, reconcile_every_minutes, auto_approve_grants, alert_recipients, created_at, updated_at";

/// A project of this org in `environment` (optionally only `only` when the key is
/// project-scoped). Missing, other-org, other-environment and out-of-scope all give `None`.
pub async fn get(t: &Tenant, id: &str, environment: &str) -> Fallible<Option<ProjectRow>> {
    t.first(
        &format!("SELECT {COLS} FROM projects WHERE org_id = ?1 AND id = ?2 AND environment = ?3"),
        vec![Arg::text(id), Arg::text(environment)],
    )
    .await
}

/// The project a handle names (system work: its environment is what the project says).
pub async fn of_handle(pr: &ProjectHandle) -> Fallible<Option<ProjectRow>> {
    pr.tenant()
        .first(
            &format!("SELECT {COLS} FROM projects WHERE org_id = ?1 AND id = ?2"),
            vec![Arg::text(pr.as_str())],
        )
        .await
}

/// The environment of project `id` of the org, if it still exists (signed checkpoints name it).
pub async fn environment_of(t: &Tenant, id: &str) -> Fallible<Option<String>> {
    #[derive(Deserialize)]
    struct E {
        environment: String,
    }
    let e: Option<E> = t
        .first(
            "SELECT environment FROM projects WHERE org_id = ?1 AND id = ?2",
            vec![Arg::text(id)],
        )
        .await?;
    Ok(e.map(|e| e.environment))
}

/// The org's projects due for a scheduled run at `now`, in one query: with a mapping, no run
/// going, and no run started within their `reconcile_every_minutes`.
pub async fn due_for_run(t: &Tenant, now: &str, limit: u32) -> Fallible<Vec<ProjectRow>> {
    t.all(
        &format!(
            "SELECT {COLS} FROM projects WHERE org_id = ?1 \
             AND id IN (SELECT project_id FROM mappings WHERE org_id = ?1) \
             AND id NOT IN (SELECT project_id FROM runs WHERE org_id = ?1 AND status = ?2) \
             AND id NOT IN (SELECT r.project_id FROM runs r WHERE r.org_id = ?1 \
               AND julianday(?3) - julianday(r.started_at) < reconcile_every_minutes / 1440.0) \
             ORDER BY id LIMIT ?4"
        ),
        vec![
            Arg::text("running"),
            Arg::text(now),
            Arg::Int(i64::from(limit)),
        ],
    )
    .await
}

pub async fn get_for_member(
    t: &Tenant,
    id: &str,
    environment: &str,
    member_id: &str,
) -> Fallible<Option<ProjectForMember>> {
    t.first(
        &format!(
            "SELECT {COLS}, (SELECT r.role FROM project_roles r WHERE r.org_id = ?1 AND r.project_id = p.id \
             AND r.member_id = ?4) AS override_role FROM projects p \
             WHERE p.org_id = ?1 AND p.id = ?2 AND p.environment = ?3"
        ),
        vec![
            Arg::text(id),
            Arg::text(environment),
            Arg::text(member_id),
        ],
    )
    .await
}

pub async fn list(
    t: &Tenant,
    environment: &str,
    only: Option<&str>,
    after: Option<&str>,
    limit: u32,
) -> Fallible<Vec<ProjectRow>> {
    t.all(
        &format!(
            "SELECT {COLS} FROM projects WHERE org_id = ?1 AND environment = ?2 AND (?3 IS NULL OR id = ?3) \
             AND id > ?4 ORDER BY id LIMIT ?5"
        ),
        vec![Arg::text(environment), Arg::opt(only), Arg::text(after.unwrap_or("")), Arg::Int(i64::from(limit))],
    )
    .await
}

pub fn insert(t: &Tenant, p: &ProjectRow) -> Fallible<Scoped> {
    t.stmt(
        "INSERT INTO projects (org_id, id, name, environment, reconcile_every_minutes, auto_approve_grants, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        vec![
            Arg::text(&p.id),
            Arg::text(&p.name),
            Arg::text(p.environment.as_str()),
            Arg::Int(p.reconcile_every_minutes),
            Arg::Int(i64::from(p.auto_approve_grants)),
            Arg::text(&p.created_at),
            Arg::text(&p.updated_at),
        ],
    )
}

pub fn update(pr: &ProjectHandle, p: &ProjectRow) -> Fallible<Scoped> {
    pr.tenant().stmt(
        "UPDATE projects SET name = ?3, reconcile_every_minutes = ?4, auto_approve_grants = ?5, updated_at = ?6, \
         alert_recipients = ?7 WHERE org_id = ?1 AND id = ?2",
        vec![
            Arg::text(pr.as_str()),
            Arg::text(&p.name),
            Arg::Int(p.reconcile_every_minutes),
            Arg::Int(i64::from(p.auto_approve_grants)),
            Arg::text(&p.updated_at),
            p.alert_recipients.as_deref().map_or(Arg::Null, Arg::text),
        ],
    )
}

/// Removes the project's configuration, sealed credentials and overrides (its audit chain stays:
/// append-only).
pub fn delete(pr: &ProjectHandle) -> Fallible<Vec<Scoped>> {
    let (t, id) = (pr.tenant(), pr.as_str());
    let mut stmts = vec![
        t.stmt(
            "DELETE FROM project_roles WHERE org_id = ?1 AND project_id = ?2",
            vec![Arg::text(id)],
        )?,
        t.stmt(
            "DELETE FROM projects WHERE org_id = ?1 AND id = ?2",
            vec![Arg::text(id)],
        )?,
    ];
    stmts.extend(super::webhooks::delete_project(pr)?);
    Ok(stmts)
}

/// What a webhook delivery to project `id` is verified against, across all orgs, in one round
/// trip: the project's org and environment and its sealed webhook secrets. Only `auth` calls
/// it, before the signature is checked.
pub async fn webhook_target(
    db: &worker::D1Database,
    id: &str,
) -> Fallible<Option<(String, String, Vec<super::credentials::CredentialRow>)>> {
    #[derive(Deserialize)]
    struct Row {
        org_id: String,
        environment: String,
        id: Option<String>,
        project_id: Option<String>,
        kind: Option<String>,
        slot: Option<i64>,
        sealed: Option<String>,
        key_id: Option<String>,
        public: Option<String>,
        created_at: Option<String>,
        format: Option<i64>,
    }
    let rows = db
        .prepare(
            "SELECT p.org_id, p.environment, c.id, c.project_id, c.kind, c.slot, c.sealed, c.key_id, \
             c.public, c.created_at, c.format FROM projects p LEFT JOIN credentials c \
             ON c.org_id = p.org_id AND c.project_id = p.id AND c.kind = ?2 WHERE p.id = ?1",
        )
        .bind(&[
            wasm_bindgen::JsValue::from_str(id),
            wasm_bindgen::JsValue::from_str("stripe_webhook_secret"),
        ]).or_internal()?;
    let rows: Vec<Row> = d1_within(rows.all())
        .await?
        .or_internal()?
        .results()
        .or_internal()?;
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let (org, env) = (first.org_id.clone(), first.environment.clone());
    let secrets = rows
        .into_iter()
        .filter_map(|r| {
            Some(super::credentials::CredentialRow {
                id: r.id?,
                project_id: r.project_id?,
                kind: r.kind?,
                slot: r.slot?,
                sealed: r.sealed?,
                key_id: r.key_id?,
                public: r.public?,
                created_at: r.created_at?,
                format: r.format?,
            })
        })
        .collect();
    Ok(Some((org, env, secrets)))
}

/// The org's projects with a mapping and a Stripe key (what the Events API recovery visits).
pub async fn with_stripe_and_mapping(t: &Tenant, after: &str, limit: u32) -> Fallible<Vec<String>> {
    #[derive(Deserialize)]
    struct Id {
        id: String,
    }
    let rows: Vec<Id> = t
        .all(
            "SELECT id FROM projects WHERE org_id = ?1 \
             AND id IN (SELECT project_id FROM mappings WHERE org_id = ?1) \
             AND id IN (SELECT project_id FROM credentials WHERE org_id = ?1 AND kind = ?2) \
             AND id > ?3 ORDER BY id LIMIT ?4",
            vec![
                Arg::text("stripe_api_key"),
                Arg::text(after),
                Arg::Int(i64::from(limit)),
            ],
        )
        .await?;
    Ok(rows.into_iter().map(|r| r.id).collect())
}
