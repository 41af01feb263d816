//! API keys: create, list, revoke, rotate (SPEC §2). Plaintext leaves only in create and rotate
//! responses. Who may mint, rotate or revoke which key is decided by `domain::access`: a test key
//! sees and manages test keys only, and a key acting for another member needs a role above it.

use super::PageQuery;
use crate::audit::{retrying_as, Chain};
use crate::auth::principal::Principal;
use crate::http::{json, page, App, PathId, Query, RawBody};
use crate::repo;
use axum::extract::State;
use axum::response::Response;
use parityrail_core::api::bodies::{CreateKey, Rotate};
use parityrail_core::api::error::{ApiError, ApiResult};
use parityrail_core::domain::access::{self, OldKeyEnd};
use parityrail_core::domain::apikey::Environment;
use parityrail_core::domain::append::Step;
use parityrail_core::domain::audit::{Action, Draft};
use parityrail_core::domain::ids::{KeyId, ProjectId};
use parityrail_core::domain::input;
use parityrail_core::domain::roles::Role;
use parityrail_core::domain::time::Timestamp;
pub use parityrail_core::rows::keys::{mint, revoked_by_removal, view, KeyRow, NewKeySpec};
use serde_json::{json, Value};

/// The org role of the member a key acts for.
async fn member_role(p: &Principal, member_id: &str) -> ApiResult<Role> {
    let member = repo::members::get(&p.tenant, member_id).await?;
    member
        .as_ref()
        .map(|m| m.role)
        .ok_or_else(|| ApiError::bad_field("member_id", "no such member"))
}

/// Minting (or rotating) a key of `environment` acting for `member_id`.
async fn may_mint(p: &Principal, environment: Environment, member_id: &str) -> ApiResult<()> {
    let role = member_role(p, member_id).await?;
    let is_self = member_id == p.member_id.as_str();
    Ok(access::may_mint_key(
        p.caller(),
        environment,
        role,
        is_self,
    )?)
}

/// POST /v1/keys
#[worker::send]
pub async fn create(State(app): State<App>, p: Principal, body: RawBody) -> ApiResult<Response> {
    let svc = &app.svc;
    let body: CreateKey = body.json()?;
    let name = input::name("name", &body.name)?;
    if body.expires_at.is_some_and(|t| t <= svc.now) {
        return Err(ApiError::bad_field("expires_at", "must be in the future"));
    }
    let member_id = body
        .member_id
        .clone()
        .unwrap_or_else(|| p.member_id.to_string());
    // The checks run inside the retry: a project deleted or a member removed meanwhile appends
    // to the org chain, so this creation runs again and sees it.
    let key = retrying_as(&p, Chain::Org, svc.now, || async {
        if let Some(pid) = &body.project_id {
            let found = match ProjectId::parse(pid) {
                Ok(_) => repo::projects::get(&p.tenant, pid, body.environment.as_str()).await?,
                Err(_) => None,
            };
            if found.is_none() {
                return Err(ApiError::bad_field(
                    "project_id",
                    "no such project in this environment",
                ));
            }
        }
        may_mint(&p, body.environment, &member_id).await?;
        let key = mint(
            NewKeySpec {
                name: name.clone(),
                environment: body.environment,
                capability: body.capability,
                project_id: body.project_id.clone(),
                member_id: member_id.clone(),
                expires_at: body.expires_at.map(Timestamp::to_rfc3339),
                origin: p.origin_for(&member_id, None),
                via: Some(p.member_id.to_string()),
            },
            &mut svc.rng(),
            svc.now,
        )?;
        let draft = Draft::new(
            p.actor(),
            Action::KeyCreated,
            format!("key:{}", key.row.id),
            Value::Null,
            key.view(false),
        );
        let insert = repo::keys::insert(&p.tenant, &key.row, key.plain.hash().as_str())?;
        Ok(Step::commit(vec![draft], vec![insert], key))
    })
    .await?;
    json(201, &key.view(true))
}

/// GET /v1/keys — never shows a secret. A project-scoped key sees only its project's keys; a
/// test key sees only test keys.
#[worker::send]
pub async fn list(p: Principal, q: Query) -> ApiResult<Response> {
    let q = PageQuery::of(q.raw())?;
    let only_env = match p.environment {
        Environment::Test => Some(Environment::Test.as_str()),
        Environment::Live => None,
    };
    let rows = repo::keys::list(
        &p.tenant,
        p.only_project.as_ref().map(|id| id.as_str()),
        only_env,
        q.cursor.as_deref(),
        q.fetch_limit(),
    )
    .await?;
    let (rows, next) = q.finish(rows, |r| r.id.clone());
    page(rows.iter().map(view).collect(), next)
}

/// A key the caller can see (others, including live keys for a test key, are missing).
async fn load(p: &Principal, kid: &KeyId) -> ApiResult<(KeyRow, Environment)> {
    let not_found = || ApiError::not_found("key");
    let row = repo::keys::get_api(&p.tenant, kid.as_str())
        .await?
        .ok_or_else(not_found)?;
    let only = p.only_project.as_ref().map(|id| id.as_str());
    if only.is_some() && row.project_id.as_deref() != only {
        return Err(not_found());
    }
    let env = row.environment;
    if !access::may_see_key(p.caller(), env) {
        return Err(not_found());
    }
    Ok((row, env))
}

/// DELETE /v1/keys/{kid} — revokes at once; the next request with that key gets 401.
#[worker::send]
pub async fn revoke(
    State(app): State<App>,
    p: Principal,
    PathId(kid): PathId<KeyId>,
) -> ApiResult<Response> {
    let svc = &app.svc;
    let kid = &kid;
    let at = svc.now.to_rfc3339();
    let after = retrying_as(&p, Chain::Org, svc.now, || async {
        let (row, env) = load(&p, kid).await?;
        let role = member_role(&p, &row.member_id).await?;
        access::may_revoke_key(p.caller(), env, role).map_err(ApiError::from)?;
        if row.revoked_at.is_some() {
            return Ok(Step::Done(row));
        }
        let mut after = row.clone();
        after.revoked_at = Some(at.clone());
        let draft = Draft::new(
            p.actor(),
            Action::KeyRevoked,
            format!("key:{}", row.id),
            view(&row),
            view(&after),
        );
        let stmt = repo::keys::revoke(&p.tenant, &row.id, &at)?;
        Ok(Step::commit(vec![draft], vec![stmt], after))
    })
    .await?;
    json(200, &view(&after))
}

/// POST /v1/keys/{kid}/rotate — a new key with the same settings; the old one stops working
/// after `grace_seconds` (0 = at once, at most 86400).
#[worker::send]
pub async fn rotate(
    State(app): State<App>,
    p: Principal,
    PathId(kid): PathId<KeyId>,
    body: RawBody,
) -> ApiResult<Response> {
    let svc = &app.svc;
    let kid = &kid;
    let body: Rotate = body.json()?;
    if body.grace_seconds > access::MAX_GRACE_SECONDS {
        return Err(access::RotationError::GraceTooLong.into());
    }
    let (row, old_after, new) = retrying_as(&p, Chain::Org, svc.now, || async {
        let (row, env) = load(&p, kid).await?;
        may_mint(&p, env, &row.member_id).await?;
        let expires = row
            .expires_at
            .as_deref()
            .map(|e| Timestamp::parse(e).unwrap_or(Timestamp::from_millis(0)));
        let end = access::rotation_end(
            svc.now,
            body.grace_seconds,
            row.revoked_at.is_some(),
            expires,
        )?;
        let capability = row.capability;
        let new = mint(
            NewKeySpec {
                name: row.name.clone(),
                environment: env,
                capability,
                project_id: row.project_id.clone(),
                member_id: row.member_id.clone(),
                expires_at: row.expires_at.clone(),
                origin: p.origin_for(&row.member_id, Some(row.origin())),
                via: Some(p.member_id.to_string()),
            },
            &mut svc.rng(),
            svc.now,
        )?;
        let mut old_after = row.clone();
        let old_change = match end {
            OldKeyEnd::RevokedAt(at) => {
                old_after.revoked_at = Some(at.to_rfc3339());
                repo::keys::revoke(&p.tenant, &row.id, &at.to_rfc3339())?
            }
            OldKeyEnd::ExpiresAt(at) => {
                old_after.expires_at = Some(at.to_rfc3339());
                repo::keys::set_expiry(&p.tenant, &row.id, &at.to_rfc3339())?
            }
        };
        let draft = Draft::new(
            p.actor(),
            Action::KeyRotated,
            format!("key:{}", row.id),
            view(&row),
            json!({"old": view(&old_after), "new": new.view(false)}),
        );
        let insert = repo::keys::insert(&p.tenant, &new.row, new.plain.hash().as_str())?;
        Ok(Step::commit(
            vec![draft],
            vec![old_change, insert],
            (row, old_after, new),
        ))
    })
    .await?;
    let mut out = new.view(true);
    out["rotated_from"] = json!(row.id);
    out["old_key_expires_at"] = json!(old_after.revoked_at.or(old_after.expires_at));
    json(201, &out)
}
