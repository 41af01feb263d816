//! Authentication and authorisation: the first thing every `/v1` route does. It turns a request
//! into a `Principal` (who, how authenticated, which tenant) or an error, applies rate limits,
//! and is the only place that constructs a `Tenant`. Nothing is cached: a revoked or expired key,
//! or a removed member, fails on the very next request. The route guard (`guard.rs`) runs it for
//! every declared route, enforcing that route's guard from the one route declaration
//! (`api::routes`); the extractors (`extract.rs`) hand its result to handlers.

pub mod extract;
pub mod guard;
pub mod scope;

use super::http::{query_param, App, RequestMeta};
use super::repo::{self, keys::KeyAuth, projects::ProjectRow};
use super::services::Services;
use axum::http::{HeaderMap, Uri};
use parityrail_core::api::error::{ApiError, ApiResult, BAD_KEY};
use parityrail_core::domain::access::{self, Caller};
use parityrail_core::domain::apikey::{Capability, Environment, PlainKey};
use parityrail_core::domain::audit::Actor;
use parityrail_core::domain::ids::{KeyId, MemberId, OrgId, ProjectId};
use parityrail_core::domain::roles::{self, effective_role, Need, Role};
use parityrail_core::domain::time::Timestamp;
use parityrail_core::fault::{Fallible, Fault};
use scope::{ProjectHandle, Scoped, Tenant};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// How a principal proved who it is. Audit actors, rate limits and capability checks read it,
/// so sessions (dashboard) and the system (cron, Durable Object alarms) fit in beside keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authn {
    /// An API key (`Authorization: Bearer pr_…` or `?api_key=`).
    ApiKey { key_id: KeyId },
}

impl Authn {
    /// The `RateLimiter` bucket its requests are counted in: per key, per session later.
    pub fn rate_bucket(&self) -> String {
        match self {
            Authn::ApiKey { key_id } => format!("key:{key_id}"),
        }
    }
}

#[derive(Clone)]
pub struct Principal {
    pub tenant: Tenant,
    pub authn: Authn,
    pub member_id: MemberId,
    /// The role the key acts with at org level (`domain::access::acting_role`).
    pub org_role: Role,
    /// Who minted the calling key and the most it acts with anywhere, when another member did.
    pub origin: Option<(MemberId, Role)>,
    /// The key's member's own org role, uncapped (overrides replace it per project).
    member_org_role: Role,
    pub capability: Capability,
    pub environment: Environment,
    /// `Some(project id)` when the key is limited to one project.
    pub only_project: Option<ProjectId>,
}

/// A project the caller may see, with the caller's role in it after overrides. Only
/// `Principal::project` constructs one (the tenancy check), so a handler holding it has passed.
#[derive(Clone)]
pub struct ProjectScope {
    pub row: ProjectRow,
    pub role: Role,
    /// The member's override in this project as authentication read it (the caller guard
    /// re-checks it).
    override_role: Option<Role>,
    handle: ProjectHandle,
}

impl ProjectScope {
    pub fn id(&self) -> &ProjectId {
        self.handle.id()
    }

    /// What project-scoped repositories take.
    pub fn handle(&self) -> &ProjectHandle {
        &self.handle
    }
}

fn credential(headers: &HeaderMap, uri: &Uri) -> Option<String> {
    if let Some(h) = headers.get("authorization") {
        let h = h.to_str().unwrap_or("");
        let mut parts = h.splitn(2, ' ');
        let scheme = parts.next().unwrap_or("");
        let value = parts.next().unwrap_or("").trim();
        if scheme.eq_ignore_ascii_case("bearer") && !value.is_empty() {
            return Some(value.to_owned());
        }
        return Some(String::new()); // present but malformed
    }
    query_param(uri, "api_key")
}

/// Authenticates an API key and applies its rate limit. The attempt is counted against the
/// client's failure budget before the credential is looked at (a locked-out client is refused
/// there), and refunded once the key turned out valid.
pub async fn authenticate(
    app: &App,
    meta: &RequestMeta,
    headers: &HeaderMap,
    uri: &Uri,
) -> ApiResult<Principal> {
    let svc = &app.svc;
    let attempt = client_attempt(svc, meta).await?;
    let Some(raw) = credential(headers, uri) else {
        return Err(ApiError::unauthorized(
            "missing_api_key",
            "an API key is required",
        ));
    };
    let p = lookup(app, &raw).await?;
    refund_attempt(app, meta, &attempt);
    let per_minute = svc.var_u32("RATE_LIMIT_KEY_PER_MINUTE", 600);
    check_limit(svc, &p.authn.rate_bucket(), per_minute).await?;
    Ok(p)
}

async fn lookup(app: &App, raw: &str) -> ApiResult<Principal> {
    let bad = || ApiError::unauthorized("invalid_api_key", BAD_KEY);
    let svc = &app.svc;
    let key = PlainKey::parse(raw).map_err(|_| bad())?;
    let db = svc.db(&RAW)?;
    let k: KeyAuth = repo::keys::by_hash(&db, key.hash().as_str())
        .await?
        .ok_or_else(bad)?;
    if !access::key_is_active(k.revoked, k.expires_at, svc.now)
        || k.environment != key.environment()
    {
        return Err(bad());
    }
    // last_used_at has one-minute resolution so that reads do not each cost a write.
    let stale = k
        .last_used_at
        .is_none_or(|t| svc.now.millis() - t.millis() >= 60_000);
    if stale {
        let (org, id, at) = (k.org.clone(), k.key_id.to_string(), svc.now.to_rfc3339());
        let db = svc.db(&RAW)?;
        app.wctx.wait_until(async move {
            let t = Tenant::new(db, org);
            let _ = repo::keys::touch(&t, &id, &at).await;
        });
    }
    Ok(Principal {
        tenant: Tenant::new(db, k.org),
        authn: Authn::ApiKey { key_id: k.key_id },
        member_id: k.member,
        org_role: access::acting_role(k.role, k.origin.as_ref().map(|(_, c)| *c)),
        origin: k.origin,
        member_org_role: k.role,
        capability: k.capability,
        environment: k.environment,
        only_project: k.project,
    })
}

fn ip_limit(svc: &Services) -> u32 {
    svc.var_u32("RATE_LIMIT_IP_PER_MINUTE", 60)
}

/// The window a counted attempt belongs to (for its refund).
#[derive(serde::Deserialize)]
pub struct Attempt {
    allowed: bool,
    retry_after_secs: u32,
    window: i64,
}

/// Counts a credential-bearing request against the client's failure budget, before anything
/// else happens; refuses (`429`) a client over its budget until its window ends.
pub async fn client_attempt(svc: &Services, meta: &RequestMeta) -> ApiResult<Attempt> {
    let op = format!("attempt?limit={}", ip_limit(svc));
    let a: Attempt = svc.limiter_call(&meta.client_bucket, &op).await?;
    if a.allowed {
        Ok(a)
    } else {
        Err(ApiError::rate_limited(a.retry_after_secs))
    }
}

/// Takes back the attempt of a request whose credential was valid (after the response, off its
/// path; only within the window it was counted in; a refund that fails only leaves the client
/// one attempt shorter for that window).
fn refund_attempt(app: &App, meta: &RequestMeta, attempt: &Attempt) {
    let (svc, bucket) = (app.svc.clone(), meta.client_bucket.clone());
    let op = format!("refund?window={}", attempt.window);
    app.wctx.wait_until(async move {
        let _ = svc.limiter(&bucket, &op).await;
    });
}

/// Calls that make ParityRail connect somewhere on a caller's behalf (testing a database URL,
/// checking a Stripe key with Stripe) are limited per project (`RATE_LIMIT_PROBE_PER_MINUTE`,
/// default 10) and per org (`RATE_LIMIT_PROBE_ORG_PER_MINUTE`, default 30, so new projects do
/// not bring new budgets), so they serve neither as a port scanner nor as a Stripe-key oracle.
pub async fn probe_limit(svc: &Services, project: &ProjectScope) -> ApiResult<()> {
    // The project's own budget first, so one project cannot drain its org's.
    let per_minute = svc.var_u32("RATE_LIMIT_PROBE_PER_MINUTE", 10);
    check_limit(svc, &format!("probe:{}", project.id()), per_minute).await?;
    let per_org = svc.var_u32("RATE_LIMIT_PROBE_ORG_PER_MINUTE", 30);
    let org = project.handle().tenant().org_id();
    check_limit(svc, &format!("probe-org:{org}"), per_org).await
}

async fn check_limit(svc: &Services, bucket: &str, per_minute: u32) -> ApiResult<()> {
    let d = svc
        .limiter(bucket, &format!("take?per_minute={per_minute}"))
        .await?;
    if d.allowed {
        Ok(())
    } else {
        Err(ApiError::rate_limited(d.retry_after_secs))
    }
}

/// Proof that the operator token was presented; the only way to reach an org that has no key.
#[derive(Clone)]
pub struct OperatorGrant(());

impl OperatorGrant {
    pub fn tenant_for(&self, svc: &Services, org: OrgId) -> ApiResult<Tenant> {
        Ok(Tenant::new(svc.db(&RAW)?, org))
    }
}

/// Checks `Authorization: Bearer <OPERATOR_TOKEN>` in constant time (over SHA-256 digests, so
/// neither content nor length leaks through timing), counted against the client's budget first.
pub async fn operator(
    app: &App,
    meta: &RequestMeta,
    headers: &HeaderMap,
) -> ApiResult<OperatorGrant> {
    let svc = &app.svc;
    let attempt = client_attempt(svc, meta).await?;
    let presented = headers
        .get("authorization")
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "));
    let expected = svc.var("OPERATOR_TOKEN");
    let ok = match (presented, expected) {
        (Some(p), Some(e)) if e.len() >= 16 => {
            bool::from(Sha256::digest(p.as_bytes()).ct_eq(&Sha256::digest(e.as_bytes())))
        }
        _ => false,
    };
    if !ok {
        return Err(ApiError::unauthorized(
            "invalid_operator_token",
            "operator token required",
        ));
    }
    refund_attempt(app, meta, &attempt);
    Ok(OperatorGrant(()))
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

    /// The origin (`access::key_origin`) of a key this caller mints or rotates for `target`;
    /// `previous` is the rotated key's own origin.
    pub fn origin_for(
        &self,
        target: &str,
        previous: Option<Option<(String, Role)>>,
    ) -> Option<(String, Role)> {
        let calling = self.origin.as_ref().map(|(m, c)| (m.to_string(), *c));
        access::key_origin(
            &self.member_id.to_string(),
            self.org_role,
            calling,
            &target.to_owned(),
            previous,
        )
    }

    pub fn actor(&self) -> Actor {
        match &self.authn {
            Authn::ApiKey { key_id } => Actor::Member {
                member: self.member_id.clone(),
                key: key_id.clone(),
            },
        }
    }

    /// Re-reads what authentication established — the key is still active with the same cap,
    /// its member still exists with the same org role and, inside a project, the project is
    /// still there and the caller's role in it is unchanged — for a change about to commit. `retrying_as` and
    /// `retrying_in` run it at the start of every attempt, after the chain head was read, for a
    /// clear answer; the caller guard in the batch (`guard`) makes it exact.
    pub async fn recheck(&self, scope: Option<&ProjectScope>, now: Timestamp) -> Fallible<()> {
        let Authn::ApiKey { key_id } = &self.authn;
        let key = repo::keys::get(&self.tenant, key_id.as_str()).await?;
        let expired = |k: &repo::keys::KeyRow| {
            k.expires_at
                .as_deref()
                .is_some_and(|e| Timestamp::parse(e).map_or(true, |t| t <= now))
        };
        let Some(key) = key.filter(|k| k.revoked_at.is_none() && !expired(k)) else {
            return Err(Fault::CallerRevoked);
        };
        if key.minted_role != self.origin.as_ref().map(|(_, cap)| *cap) {
            return Err(Fault::CallerChanged);
        }
        match repo::members::get(&self.tenant, self.member_id.as_str()).await? {
            None => return Err(Fault::CallerRevoked),
            Some(m) if m.role != self.member_org_role => return Err(Fault::CallerChanged),
            Some(_) => {}
        }
        if let Some(scope) = scope {
            let now_in = self.project(scope.id().as_str()).await?;
            if now_in.override_role != scope.override_role || now_in.role != scope.role {
                return Err(Fault::CallerChanged);
            }
        }
        Ok(())
    }

    /// The caller guard (migrations 0009, 0019) for a caller's batch: the batch aborts unless
    /// the key and its cap, the member's org role and (inside `scope`) the project and the
    /// override are still what authentication read.
    pub fn guard(&self, scope: Option<&ProjectScope>, now: Timestamp) -> Fallible<Scoped> {
        let Authn::ApiKey { key_id } = &self.authn;
        let at = now.to_rfc3339();
        let project = scope.map(|s| (s.id().as_str(), s.override_role.map(Role::as_str)));
        repo::callers::check(
            &self.tenant,
            &repo::callers::CallerCheck {
                key_id: key_id.as_str(),
                minted_role: self.origin.as_ref().map(|(_, cap)| cap.as_str()),
                member_id: self.member_id.as_str(),
                role: self.member_org_role.as_str(),
                project,
                at: &at,
            },
        )
    }

    /// What a change made on this caller's behalf elsewhere (the project's Durable Object
    /// executing an approval) needs to record and guard it as this caller's: the audit actor and
    /// the caller guard, exactly as authentication read them.
    pub fn seal(&self, scope: &ProjectScope) -> CallerSeal {
        let Authn::ApiKey { key_id } = &self.authn;
        CallerSeal {
            member: self.member_id.to_string(),
            key: key_id.to_string(),
            minted_role: self.origin.as_ref().map(|(_, cap)| cap.as_str().to_owned()),
            role: self.member_org_role.as_str().to_owned(),
            override_role: scope.override_role.map(|r| r.as_str().to_owned()),
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
    pub async fn project(&self, pid: &str) -> Fallible<ProjectScope> {
        let not_found = || Fault::NotFound("project");
        let id = ProjectId::parse(pid).map_err(|_| not_found())?;
        if self.only_project.as_ref().is_some_and(|only| *only != id) {
            return Err(not_found());
        }
        let found = repo::projects::get_for_member(
            &self.tenant,
            id.as_str(),
            self.environment.as_str(),
            self.member_id.as_str(),
        )
        .await?
        .ok_or_else(not_found)?;
        let override_role = found.override_role;
        let own = effective_role(self.member_org_role, override_role);
        let role = access::acting_role(own, self.origin.as_ref().map(|(_, c)| *c));
        Ok(ProjectScope {
            row: found.project,
            role,
            override_role,
            handle: ProjectHandle::new(self.tenant.clone(), id),
        })
    }

    /// The handle of a new project this caller creates, with a fresh id (nothing else can be
    /// turned into a handle without the tenancy check).
    pub fn creating_project(&self, svc: &Services) -> ApiResult<ProjectHandle> {
        let id = ProjectId::generate(&mut svc.rng())?;
        Ok(ProjectHandle::new(self.tenant.clone(), id))
    }

    /// For project routes: the member's role in that project decides.
    pub fn require_in(&self, p: &ProjectScope, need: Need) -> ApiResult<()> {
        Ok(roles::check(need, self.capability, p.role)?)
    }
}

/// A caller as authentication read it, carried to where its change commits (`Principal::seal`).
/// Only ParityRail's own worker sends one to a Durable Object; it is never read from a client.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct CallerSeal {
    member: String,
    key: String,
    /// The key's cap as authentication read it (`None`: uncapped).
    minted_role: Option<String>,
    role: String,
    override_role: Option<String>,
}

impl CallerSeal {
    /// The sealed caller as the approver of a repair.
    pub fn approver(&self) -> Fallible<parityrail_core::domain::approval::Approver> {
        let bad = |e: parityrail_core::domain::ids::IdError| Fault::internal(e.to_string());
        Ok(parityrail_core::domain::approval::Approver::Person {
            member: MemberId::parse(&self.member).map_err(bad)?,
            key: KeyId::parse(&self.key).map_err(bad)?,
        })
    }

    /// The caller guard (migrations 0009, 0019) inside `pr`: the batch aborts unless the key
    /// and its cap, the member's org role and its override in the project are still what
    /// authentication read.
    pub fn guard(&self, pr: &ProjectHandle, now: Timestamp) -> Fallible<Scoped> {
        repo::callers::check(
            pr.tenant(),
            &repo::callers::CallerCheck {
                key_id: &self.key,
                minted_role: self.minted_role.as_deref(),
                member_id: &self.member,
                role: &self.role,
                project: Some((pr.as_str(), self.override_role.as_deref())),
                at: &now.to_rfc3339(),
            },
        )
    }
}

/// For scheduled jobs (no caller): one tenant per org, `after` the given org id, at most
/// `limit`. Only the system entry points (cron, Durable Object alarms) hold a `SystemGrant`.
pub async fn system_tenants(
    svc: &Services,
    _grant: &SystemGrant,
    after: &str,
    limit: u32,
) -> Fallible<Vec<Tenant>> {
    let db = svc.db(&RAW)?;
    let orgs = repo::orgs::all_after(&db, after, limit).await?;
    orgs.into_iter()
        .map(|org| Ok(Tenant::new(svc.db(&RAW)?, org)))
        .collect()
}

/// One org's tenant for system work, by an id the system itself stored (a job's position).
pub fn system_tenant(svc: &Services, _grant: &SystemGrant, org: &str) -> Fallible<Tenant> {
    let org = OrgId::parse(org).map_err(|e| Fault::internal(e.to_string()))?;
    Ok(Tenant::new(svc.db(&RAW)?, org))
}

/// Where the scheduled job `job` stopped ("" for the start).
pub async fn job_cursor(svc: &Services, _grant: &SystemGrant, job: &str) -> Fallible<String> {
    repo::jobs::cursor(&svc.db(&RAW)?, job).await
}

/// Saves where `job` stopped.
pub async fn save_job_cursor(
    svc: &Services,
    _grant: &SystemGrant,
    job: &str,
    cursor: &str,
) -> Fallible<()> {
    repo::jobs::save_cursor(&svc.db(&RAW)?, job, cursor, &svc.now.to_rfc3339()).await
}

/// A project of `t` for system work, by an id read from that tenant's own rows.
pub fn system_project(t: &Tenant, id: &str, _grant: &SystemGrant) -> Fallible<ProjectHandle> {
    let id = ProjectId::parse(id).map_err(|e| Fault::internal(e.to_string()))?;
    Ok(ProjectHandle::new(t.clone(), id))
}

/// A Stripe delivery whose signature checked out against one of its project's webhook secrets.
/// Only `webhook` makes one.
#[derive(Clone)]
pub struct VerifiedWebhook {
    pub project: ProjectHandle,
    pub event: parityrail_core::domain::webhook::EventFacts,
}

/// The one answer to every delivery that does not verify (SPEC §7: it does not say which check
/// failed).
pub fn webhook_refused() -> ApiError {
    ApiError::new(
        400,
        "invalid_webhook",
        "the webhook delivery could not be verified",
    )
}

/// Why a delivery was not verified: it does not verify (nothing to log), or ParityRail could
/// not tell (storage, the keyring: logged). Both answer the same `400`.
#[derive(Debug)]
pub enum Unverified {
    Refused,
    Failed(Fault),
}

impl From<Fault> for Unverified {
    fn from(f: Fault) -> Self {
        Unverified::Failed(f)
    }
}

/// The checks of a delivery that need no I/O: a `Stripe-Signature` header that parses, with a
/// timestamp within 300 s of now, and a project id of the right shape. Returns the header.
pub fn webhook_precheck(app: &App, pid: &str, headers: &HeaderMap) -> Result<String, Unverified> {
    use parityrail_core::domain::webhook;
    let refused = |_| Unverified::Refused;
    let header = headers
        .get("stripe-signature")
        .and_then(|h| h.to_str().ok())
        .ok_or(Unverified::Refused)?;
    let parsed = webhook::parse_header(header).ok_or(Unverified::Refused)?;
    let now = app.svc.now.millis() / 1000;
    if (now - parsed.timestamp).abs() > webhook::TOLERANCE_SECS {
        return Err(Unverified::Refused);
    }
    ProjectId::parse(pid).map_err(refused)?;
    Ok(header.to_owned())
}

/// Verifies a delivery to `POST /webhooks/stripe/{pid}` after `webhook_precheck`: the project
/// exists and has webhook secrets, the header signs `body` under one of them, the body is a
/// Stripe event, and its mode matches the project's environment (a test-mode event never
/// reaches a live project). No failure budget: a 256-bit HMAC is not guessed, and Stripe sends
/// every tenant's deliveries from the same few addresses, which one tenant's failures must not
/// lock out. Instead a refusal costs the same whatever the id names: the body is signed under
/// `webhook::SECRET_SLOTS` slots also for a project without secrets and for an id no project
/// has, and the answer comes only after that work.
pub async fn webhook(
    app: &App,
    pid: &str,
    header: &str,
    body: &[u8],
) -> Result<VerifiedWebhook, Unverified> {
    use parityrail_core::domain::webhook;
    let svc = &app.svc;
    let refused = || Unverified::Refused;
    let id = ProjectId::parse(pid).map_err(|_| refused())?;
    let db = svc.db(&RAW)?;
    let now_secs = svc.now.millis() / 1000;
    // One round trip: the project's org and environment and its sealed webhook secrets.
    let Some((org, environment, rows)) = repo::projects::webhook_target(&db, id.as_str()).await?
    else {
        // No such project: the same work as a project without secrets (the keyring read, the
        // HMACs kept from being optimised away, their result being unused), then the same
        // refusal.
        std::hint::black_box(svc.keyring().is_ok());
        std::hint::black_box(webhook::verify(
            header,
            std::hint::black_box(body),
            &[],
            now_secs,
        ))
        .ok();
        return Err(refused());
    };
    let org = OrgId::parse(&org).map_err(|_| refused())?;
    let project = ProjectHandle::new(Tenant::new(db, org), id);
    let ring = svc.keyring()?;
    let mut secrets = Vec::new();
    for row in &rows {
        // Opened with the project's own binding: a row of another project does not open. One
        // that does not open (sealed under a retired key) is skipped, so the other secret of a
        // rotation still verifies.
        match super::vault::open(&ring, project.tenant(), row) {
            Ok(s) => secrets.push(s),
            Err(e) => worker::console_error!(
                "{}",
                serde_json::json!({"webhook": "secret", "credential": row.id, "detail": e.detail()})
            ),
        }
    }
    let keys: Vec<&[u8]> = secrets.iter().map(|s| s.expose().as_bytes()).collect();
    webhook::verify(header, body, &keys, now_secs).map_err(|_| refused())?;
    let event = webhook::event_facts(body).ok_or_else(refused)?;
    let live = environment == Environment::Live.as_str();
    if event.livemode.is_some_and(|m| m != live) {
        return Err(refused());
    }
    Ok(VerifiedWebhook { project, event })
}

/// Permission to open raw D1 (`Services::db`); only this module holds one.
pub struct RawDb(());
const RAW: RawDb = RawDb(());

/// Proof that the caller is a system entry point (the cron handler or a Durable Object's alarm),
/// the only code allowed to walk every tenant. Constructed only by `edge::entry`.
pub struct SystemGrant(());

impl SystemGrant {
    pub(crate) fn for_entry_point(_: super::entry::EntryPoint) -> Self {
        SystemGrant(())
    }
}
