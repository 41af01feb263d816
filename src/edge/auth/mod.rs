//! Authentication and authorisation: the first thing every `/v1` handler does. It turns a
//! request into a `Principal` (key + member + tenant) or an error, applies rate limits, and is
//! the only place that constructs a `Tenant`. Nothing is cached: a revoked or expired key, or a
//! removed member, fails on the very next request.

pub mod scope;

use super::error::{ApiError, ApiResult};
use super::http::{query_param, Ctx};
use super::repo::{self, projects::ProjectRow};
use crate::domain::access::{self, Caller};
use crate::domain::apikey::{Capability, Environment, PlainKey};
use crate::domain::audit::Actor;
use crate::domain::ids::{KeyId, MemberId, OrgId};
use crate::domain::ratelimit::Decision;
use crate::domain::roles::{self, effective_role, Need, Role};
use crate::domain::time::Timestamp;
use scope::Tenant;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use wasm_bindgen::JsValue;
use worker::Request;

pub struct Principal {
    pub tenant: Tenant,
    pub key_id: KeyId,
    pub member_id: MemberId,
    pub org_role: Role,
    pub capability: Capability,
    pub environment: Environment,
    /// `Some(project id)` when the key is limited to one project.
    pub only_project: Option<String>,
}

/// A project the caller may see, with the caller's role in it after overrides.
pub struct ProjectScope {
    pub row: ProjectRow,
    pub role: Role,
}

#[derive(Deserialize)]
struct KeyAuthRow {
    id: String,
    org_id: String,
    member_id: String,
    environment: String,
    project_id: Option<String>,
    capability: String,
    expires_at: Option<String>,
    revoked_at: Option<String>,
    last_used_at: Option<String>,
    role: String,
}

const BAD_KEY: &str = "the API key is not valid (unknown, revoked or expired)";

fn credential(req: &Request) -> Option<String> {
    let header = req.headers().get("authorization").ok().flatten();
    if let Some(h) = header {
        let mut parts = h.splitn(2, ' ');
        let scheme = parts.next().unwrap_or("");
        let value = parts.next().unwrap_or("").trim();
        if scheme.eq_ignore_ascii_case("bearer") && !value.is_empty() {
            return Some(value.to_owned());
        }
        return Some(String::new()); // present but malformed
    }
    query_param(req, "api_key")
}

/// Authenticates an API key and applies its rate limit. A client over its failure budget is
/// refused before its credential is even looked at.
pub async fn authenticate(ctx: &Ctx, req: &Request) -> ApiResult<Principal> {
    client_gate(ctx).await?;
    let Some(raw) = credential(req) else {
        return Err(failed(
            ctx,
            ApiError::unauthorized("missing_api_key", "an API key is required"),
        )
        .await);
    };
    match lookup(ctx, &raw).await {
        Ok(p) => {
            let per_minute = ctx.var_u32("RATE_LIMIT_KEY_PER_MINUTE", 600);
            check_limit(ctx, &format!("key:{}", p.key_id), per_minute).await?;
            Ok(p)
        }
        Err(e) if e.status == 401 => Err(failed(ctx, e).await),
        Err(e) => Err(e),
    }
}

async fn lookup(ctx: &Ctx, raw: &str) -> ApiResult<Principal> {
    let bad = || ApiError::unauthorized("invalid_api_key", BAD_KEY);
    let key = PlainKey::parse(raw).map_err(|_| bad())?;
    let db = ctx.env.d1("DB")?;
    let row: Option<KeyAuthRow> = db
        .prepare(
            "SELECT k.id, k.org_id, k.member_id, k.environment, k.project_id, k.capability, k.expires_at, \
             k.revoked_at, k.last_used_at, m.role FROM api_keys k \
             JOIN members m ON m.id = k.member_id AND m.org_id = k.org_id WHERE k.key_hash = ?1",
        )
        .bind(&[JsValue::from_str(key.hash().as_str())])?
        .first(None)
        .await?;
    let row = row.ok_or_else(bad)?;
    if row.revoked_at.is_some() {
        return Err(bad());
    }
    if let Some(exp) = &row.expires_at {
        if Timestamp::parse(exp).map_or(true, |t| t <= ctx.now) {
            return Err(bad());
        }
    }
    let environment = Environment::parse(&row.environment).ok_or_else(bad)?;
    if environment != key.environment() {
        return Err(bad());
    }
    let tenant = Tenant::new(db, OrgId::parse(&row.org_id).map_err(|_| bad())?);
    let principal = Principal {
        key_id: KeyId::parse(&row.id).map_err(|_| bad())?,
        member_id: MemberId::parse(&row.member_id).map_err(|_| bad())?,
        org_role: Role::parse(&row.role).ok_or_else(bad)?,
        capability: Capability::parse(&row.capability).ok_or_else(bad)?,
        environment,
        only_project: row.project_id,
        tenant,
    };
    // last_used_at has one-minute resolution so that reads do not each cost a write.
    let stale = row
        .last_used_at
        .as_deref()
        .and_then(|t| Timestamp::parse(t).ok())
        .is_none_or(|t| ctx.now.millis() - t.millis() >= 60_000);
    if stale {
        let (org, id, at) = (
            principal.tenant.org_id().clone(),
            principal.key_id.to_string(),
            ctx.now.to_rfc3339(),
        );
        let db = ctx.env.d1("DB")?;
        ctx.wctx.wait_until(async move {
            let t = Tenant::new(db, org);
            let _ = repo::keys::touch(&t, &id, &at).await;
        });
    }
    Ok(principal)
}

fn ip_limit(ctx: &Ctx) -> u32 {
    ctx.var_u32("RATE_LIMIT_IP_PER_MINUTE", 60)
}

/// Refuses (`429`) every credential-bearing request from a client that is over its failure
/// budget, until its window ends, without evaluating the credential.
pub async fn client_gate(ctx: &Ctx) -> ApiResult<()> {
    let d = limiter(
        ctx,
        &ctx.client_bucket,
        &format!("check?limit={}", ip_limit(ctx)),
    )
    .await?;
    if d.allowed {
        Ok(())
    } else {
        Err(ApiError::rate_limited(d.retry_after_secs))
    }
}

/// Counts a failed or unauthenticated request against the client's budget and returns `err`
/// (or the limiter's own error when it cannot be reached: failing closed).
pub async fn failed(ctx: &Ctx, err: ApiError) -> ApiError {
    match limiter(ctx, &ctx.client_bucket, "fail").await {
        Ok(_) => err,
        Err(unavailable) => unavailable,
    }
}

/// Calls that make ParityRail connect somewhere on a caller's behalf (testing a database URL,
/// checking a Stripe key with Stripe) are limited per project (`RATE_LIMIT_PROBE_PER_MINUTE`,
/// default 10), so they serve neither as a port scanner nor as a Stripe-key oracle.
pub async fn probe_limit(ctx: &Ctx, project_id: &str) -> ApiResult<()> {
    let per_minute = ctx.var_u32("RATE_LIMIT_PROBE_PER_MINUTE", 10);
    check_limit(ctx, &format!("probe:{project_id}"), per_minute).await
}

async fn check_limit(ctx: &Ctx, bucket: &str, per_minute: u32) -> ApiResult<()> {
    let d = limiter(ctx, bucket, &format!("take?per_minute={per_minute}")).await?;
    if d.allowed {
        Ok(())
    } else {
        Err(ApiError::rate_limited(d.retry_after_secs))
    }
}

/// One call to the bucket's `RateLimiter` object. When the limiter cannot be reached the request
/// is refused (`503 rate_limiter_unavailable`): limits fail closed, never open.
async fn limiter(ctx: &Ctx, bucket: &str, op: &str) -> ApiResult<Decision> {
    let call = async {
        let stub = ctx
            .env
            .durable_object("RATE_LIMITER")?
            .id_from_name(bucket)?
            .get_stub()?;
        let mut res = stub
            .fetch_with_str(&format!("https://rate-limiter/{op}"))
            .await?;
        res.json::<Decision>().await
    };
    call.await.map_err(|e| {
        let mut err = ApiError::new(
            503,
            "rate_limiter_unavailable",
            "the rate limiter is unavailable; the request was refused, retry shortly",
        );
        err.retry_after = Some(5);
        err.detail = Some(format!("rate limiter: {e}"));
        err
    })
}

/// For scheduled jobs (no caller): one tenant per org, `after` the given org id, at most
/// `limit`. The only other unscoped query besides the key lookup.
pub async fn system_tenants(env: &worker::Env, after: &str, limit: u32) -> ApiResult<Vec<Tenant>> {
    #[derive(Deserialize)]
    struct R {
        org_id: String,
    }
    let db = env.d1("DB")?;
    let rows: Vec<R> = db
        .prepare("SELECT org_id FROM orgs WHERE org_id > ?1 ORDER BY org_id LIMIT ?2")
        .bind(&[
            JsValue::from_str(after),
            JsValue::from_f64(f64::from(limit)),
        ])?
        .all()
        .await?
        .results()?;
    rows.into_iter()
        .map(|r| {
            let org = OrgId::parse(&r.org_id).map_err(|e| ApiError::internal(e.to_string()))?;
            Ok(Tenant::new(env.d1("DB")?, org))
        })
        .collect()
}

/// Proof that the operator token was presented; the only way to reach an org that has no key.
pub struct OperatorGrant(());

impl OperatorGrant {
    pub fn tenant_for(&self, ctx: &Ctx, org: OrgId) -> ApiResult<Tenant> {
        Ok(Tenant::new(ctx.env.d1("DB")?, org))
    }
}

/// Checks `Authorization: Bearer <OPERATOR_TOKEN>` in constant time (over SHA-256 digests, so
/// neither content nor length leaks through timing).
pub async fn operator(ctx: &Ctx, req: &Request) -> ApiResult<OperatorGrant> {
    client_gate(ctx).await?;
    let presented = req
        .headers()
        .get("authorization")
        .ok()
        .flatten()
        .and_then(|h| h.strip_prefix("Bearer ").map(str::to_owned));
    let expected = ctx.var("OPERATOR_TOKEN");
    let ok = match (presented, expected) {
        (Some(p), Some(e)) if e.len() >= 16 => {
            bool::from(Sha256::digest(p.as_bytes()).ct_eq(&Sha256::digest(e.as_bytes())))
        }
        _ => false,
    };
    if ok {
        Ok(OperatorGrant(()))
    } else {
        Err(failed(
            ctx,
            ApiError::unauthorized("invalid_operator_token", "operator token required"),
        )
        .await)
    }
}

impl Principal {
    /// The caller as `domain::access` sees it.
    pub fn caller(&self) -> Caller {
        Caller {
            org_role: self.org_role,
            environment: self.environment,
        }
    }

    /// Routes that change live access (members, ownership) or show org-wide history need a
    /// live key.
    pub fn require_live(&self) -> ApiResult<()> {
        Ok(access::may_change_members(self.caller())?)
    }

    pub fn actor(&self) -> Actor {
        Actor::Member {
            member: self.member_id.clone(),
            key: self.key_id.clone(),
        }
    }

    /// For org-level routes: the member's org role decides.
    pub fn require(&self, need: Need) -> ApiResult<()> {
        Ok(roles::check(need, self.capability, self.org_role)?)
    }

    /// Org-level changes (members, keys, new projects) need a key that is not limited to one project.
    pub fn require_org_scope(&self) -> ApiResult<()> {
        match self.only_project {
            None => Ok(()),
            Some(_) => Err(ApiError::forbidden(
                "key_scope",
                "this key is limited to one project",
            )),
        }
    }

    /// The tenancy check every project route starts with. A malformed id, a missing project, one
    /// of another org, another environment or outside the key's scope all give the same 404.
    pub async fn project(&self, pid: &str) -> ApiResult<ProjectScope> {
        let not_found = || ApiError::not_found("project");
        if crate::domain::ids::ProjectId::parse(pid).is_err() {
            return Err(not_found());
        }
        if self.only_project.as_deref().is_some_and(|only| only != pid) {
            return Err(not_found());
        }
        let found = repo::projects::get_for_member(
            &self.tenant,
            pid,
            self.environment.as_str(),
            self.member_id.as_str(),
        )
        .await?
        .ok_or_else(not_found)?;
        let role = effective_role(
            self.org_role,
            found.override_role.as_deref().and_then(Role::parse),
        );
        let row = found.project;
        Ok(ProjectScope { row, role })
    }

    /// For project routes: the member's role in that project decides.
    pub fn require_in(&self, p: &ProjectScope, need: Need) -> ApiResult<()> {
        Ok(roles::check(need, self.capability, p.role)?)
    }
}
