//! API keys: create, list, revoke, rotate (SPEC §2). Plaintext leaves only in create and rotate
//! responses. A caller can never mint or rotate a key more powerful than itself: not for a
//! member of a higher role, and not a live key from a test key.

use super::PageQuery;
use crate::domain::apikey::{Capability, Environment, PlainKey};
use crate::domain::audit::Draft;
use crate::domain::ids::{KeyId, ProjectId};
use crate::domain::input;
use crate::domain::ports::OsRng;
use crate::domain::roles::{Need, Role};
use crate::domain::time::Timestamp;
use crate::edge::audit::{commit, record, retrying, Chain};
use crate::edge::auth::Principal;
use crate::edge::error::{ApiError, ApiResult};
use crate::edge::http::{json, json_body, page, Ctx};
use crate::edge::repo::{self, keys::KeyRow};
use serde::Deserialize;
use serde_json::{json, Value};
use worker::{Request, Response};

pub struct NewKeySpec {
    pub name: String,
    pub environment: Environment,
    pub capability: Capability,
    pub project_id: Option<String>,
    pub member_id: String,
    pub expires_at: Option<String>,
}

pub struct NewKey {
    pub plain: PlainKey,
    pub row: KeyRow,
}

impl NewKey {
    /// The key's public view; with `secret`, plus the plaintext under `key` (create responses only).
    pub fn view(&self, secret: bool) -> Value {
        let mut v = view(&self.row);
        if secret {
            v["key"] = json!(self.plain.expose());
        }
        v
    }
}

pub fn view(row: &KeyRow) -> Value {
    let mut v = json!(row);
    v["scope"] = json!(row.scope());
    v
}

pub fn mint(ctx: &Ctx, spec: NewKeySpec) -> ApiResult<NewKey> {
    let plain = PlainKey::generate(spec.environment, &mut OsRng)?;
    let row = KeyRow {
        id: KeyId::generate(&mut OsRng)?.to_string(),
        name: spec.name,
        prefix: plain.prefix().to_owned(),
        last4: plain.last4().to_owned(),
        environment: spec.environment.as_str().to_owned(),
        project_id: spec.project_id,
        capability: spec.capability.as_str().to_owned(),
        member_id: spec.member_id,
        created_at: ctx.now.to_rfc3339(),
        last_used_at: None,
        expires_at: spec.expires_at,
        revoked_at: None,
    };
    Ok(NewKey { plain, row })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateKey {
    name: String,
    environment: Environment,
    capability: Capability,
    project_id: Option<String>,
    member_id: Option<String>,
    expires_at: Option<Timestamp>,
}

/// A key for `member_role` in `environment` may be managed by this caller.
async fn may_manage(p: &Principal, environment: &str, member_id: &str) -> ApiResult<()> {
    if p.environment == Environment::Test && environment != "test" {
        return Err(ApiError::forbidden(
            "wrong_environment",
            "a test key cannot manage live keys",
        ));
    }
    let member = repo::members::get(&p.tenant, member_id).await?;
    let role = member.as_ref().and_then(|m| Role::parse(&m.role));
    match role {
        Some(r) if r <= p.org_role => Ok(()),
        Some(_) => Err(ApiError::forbidden(
            "insufficient_role",
            "cannot manage keys of a member with a higher role",
        )),
        None => Err(ApiError::bad_field("member_id", "no such member")),
    }
}

/// POST /v1/keys
pub async fn create(ctx: &Ctx, mut req: Request, p: Principal) -> ApiResult<Response> {
    p.require(Need::Admin)?;
    p.require_org_scope()?;
    let body: CreateKey = json_body(&mut req).await?;
    let name = input::name("name", &body.name)?;
    if body.expires_at.is_some_and(|t| t <= ctx.now) {
        return Err(ApiError::bad_field("expires_at", "must be in the future"));
    }
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
    let member_id = body.member_id.unwrap_or_else(|| p.member_id.to_string());
    may_manage(&p, body.environment.as_str(), &member_id).await?;
    let key = mint(
        ctx,
        NewKeySpec {
            name,
            environment: body.environment,
            capability: body.capability,
            project_id: body.project_id,
            member_id,
            expires_at: body.expires_at.map(Timestamp::to_rfc3339),
        },
    )?;
    let draft = Draft::new(
        p.actor(),
        "key.created",
        format!("key:{}", key.row.id),
        Value::Null,
        key.view(false),
    );
    record(&p.tenant, Chain::Org, &draft, ctx.now, || {
        Ok(vec![repo::keys::insert(
            &p.tenant,
            &key.row,
            key.plain.hash().as_str(),
        )?])
    })
    .await?;
    json(201, &key.view(true))
}

/// GET /v1/keys — never shows a secret. A project-scoped key sees only its project's keys.
pub async fn list(req: Request, p: Principal) -> ApiResult<Response> {
    p.require(Need::Read)?;
    let q = PageQuery::from(&req)?;
    let rows = repo::keys::list(
        &p.tenant,
        p.only_project.as_deref(),
        q.cursor.as_deref(),
        q.fetch_limit(),
    )
    .await?;
    let (rows, next) = q.finish(rows, |r| r.id.clone());
    page(rows.iter().map(view).collect(), next)
}

async fn load(p: &Principal, kid: &str) -> ApiResult<KeyRow> {
    let not_found = || ApiError::not_found("key");
    KeyId::parse(kid).map_err(|_| not_found())?;
    let row = repo::keys::get(&p.tenant, kid)
        .await?
        .ok_or_else(not_found)?;
    if p.only_project.is_some() && row.project_id != p.only_project {
        return Err(not_found());
    }
    Ok(row)
}

/// DELETE /v1/keys/{kid} — revokes at once; the next request with that key gets 401.
pub async fn revoke(ctx: &Ctx, p: Principal, kid: &str) -> ApiResult<Response> {
    p.require(Need::Admin)?;
    p.require_org_scope()?;
    let at = ctx.now.to_rfc3339();
    let after = retrying(&p.tenant, Chain::Org, |head| async {
        let row = load(&p, kid).await?;
        may_manage(&p, &row.environment, &row.member_id).await?;
        if row.revoked_at.is_some() {
            return Ok(row);
        }
        let mut after = row.clone();
        after.revoked_at = Some(at.clone());
        let draft = Draft::new(
            p.actor(),
            "key.revoked",
            format!("key:{}", row.id),
            view(&row),
            view(&after),
        );
        let stmt = repo::keys::revoke(&p.tenant, &row.id, &at)?;
        commit(
            &p.tenant,
            Chain::Org,
            head,
            vec![draft],
            vec![stmt],
            ctx.now,
        )
        .await?;
        Ok(after)
    })
    .await?;
    json(200, &view(&after))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Rotate {
    grace_seconds: u32,
}

const MAX_GRACE_SECONDS: u32 = 24 * 3600;

/// POST /v1/keys/{kid}/rotate — a new key with the same settings; the old one stops working
/// after `grace_seconds` (0 = at once, at most 86400).
pub async fn rotate(ctx: &Ctx, mut req: Request, p: Principal, kid: &str) -> ApiResult<Response> {
    p.require(Need::Admin)?;
    p.require_org_scope()?;
    let body: Rotate = json_body(&mut req).await?;
    if body.grace_seconds > MAX_GRACE_SECONDS {
        return Err(ApiError::bad_field(
            "grace_seconds",
            "must be from 0 to 86400",
        ));
    }
    let (row, old_after, new) = retrying(&p.tenant, Chain::Org, |head| async {
        let row = load(&p, kid).await?;
        may_manage(&p, &row.environment, &row.member_id).await?;
        let expired = row
            .expires_at
            .as_deref()
            .is_some_and(|e| Timestamp::parse(e).map_or(true, |t| t <= ctx.now));
        if row.revoked_at.is_some() || expired {
            return Err(ApiError::conflict(
                "key_inactive",
                "a revoked or expired key cannot be rotated",
            )
            .into());
        }
        let (old_after, new) = rotation(ctx, &row, body.grace_seconds)?;
        let draft = Draft::new(
            p.actor(),
            "key.rotated",
            format!("key:{}", row.id),
            view(&row),
            json!({"old": view(&old_after), "new": new.view(false)}),
        );
        let old_change = match (&old_after.revoked_at, &old_after.expires_at) {
            (Some(at), _) => repo::keys::revoke(&p.tenant, &row.id, at)?,
            (None, Some(end)) => repo::keys::set_expiry(&p.tenant, &row.id, end)?,
            (None, None) => return Err(ApiError::internal("rotation without an end").into()),
        };
        let insert = repo::keys::insert(&p.tenant, &new.row, new.plain.hash().as_str())?;
        commit(
            &p.tenant,
            Chain::Org,
            head,
            vec![draft],
            vec![old_change, insert],
            ctx.now,
        )
        .await?;
        Ok((row, old_after, new))
    })
    .await?;
    let mut out = new.view(true);
    out["rotated_from"] = json!(row.id);
    out["old_key_expires_at"] = json!(old_after.revoked_at.or(old_after.expires_at));
    json(201, &out)
}

/// The old key as rotation leaves it, and its successor with the same settings.
fn rotation(ctx: &Ctx, row: &KeyRow, grace_seconds: u32) -> ApiResult<(KeyRow, NewKey)> {
    let environment = Environment::parse(&row.environment)
        .ok_or_else(|| ApiError::internal("bad environment"))?;
    let capability =
        Capability::parse(&row.capability).ok_or_else(|| ApiError::internal("bad capability"))?;
    let new = mint(
        ctx,
        NewKeySpec {
            name: row.name.clone(),
            environment,
            capability,
            project_id: row.project_id.clone(),
            member_id: row.member_id.clone(),
            expires_at: row.expires_at.clone(),
        },
    )?;
    let mut old_after = row.clone();
    if grace_seconds == 0 {
        old_after.revoked_at = Some(ctx.now.to_rfc3339());
    } else {
        let grace_end = ctx.now.plus_seconds(i64::from(grace_seconds));
        let end = match row
            .expires_at
            .as_deref()
            .and_then(|e| Timestamp::parse(e).ok())
        {
            Some(existing) if existing < grace_end => existing,
            _ => grace_end,
        };
        old_after.expires_at = Some(end.to_rfc3339());
    }
    Ok((old_after, new))
}
