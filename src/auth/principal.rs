//! Who is calling: an API key turned into a `Principal` (who, how authenticated, which tenant,
//! with what role), the tenancy check that turns a project id into a `ProjectScope`, the
//! re-checks and caller checks a change runs before it commits, and the `CallerSeal` that
//! carries the caller to a Durable Object. Nothing is cached: a revoked or expired key, or a
//! removed member, fails on the very next request.

#[cfg(feature = "edge")]
use super::grants::RAW;
#[cfg(feature = "edge")]
use super::limits::{check_limit, refund_attempt, Attempt};
use super::scope::{ProjectHandle, Scoped, Tenant};
#[cfg(feature = "edge")]
use crate::http::{App, RequestMeta};
#[cfg(feature = "edge")]
use crate::repo::keys::KeyAuth;
use crate::repo::{self, projects::ProjectRow};
use crate::services::Services;
#[cfg(feature = "edge")]
use axum::http::{HeaderMap, Uri};
pub use parityrail_core::api::coordinator::CallerSeal;
#[cfg(feature = "edge")]
use parityrail_core::api::error::BAD_KEY;
use parityrail_core::api::error::{ApiError, ApiResult};
use parityrail_core::domain::access::{self, Caller};
#[cfg(feature = "edge")]
use parityrail_core::domain::apikey::PlainKey;
use parityrail_core::domain::apikey::{Capability, Environment};
use parityrail_core::domain::audit::Actor;
use parityrail_core::domain::ids::{KeyId, MemberId, ProjectId};
use parityrail_core::domain::roles::{self, effective_role, Need, Role};
use parityrail_core::domain::sessions::Via;
use parityrail_core::domain::time::Timestamp;
use parityrail_core::fault::{Fallible, Fault};

/// How a principal proved who it is. Audit actors, rate limits and capability checks read it,
/// so sessions (dashboard) and the system (cron, Durable Object alarms) fit in beside keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authn {
    /// An API key (`Authorization: Bearer pr_…` or `?api_key=`).
    ApiKey { key_id: KeyId },
    /// A dashboard session (the `__Host-` cookie), acting with `key_id` (`domain::sessions`).
    Session {
        session_id: String,
        key_id: KeyId,
        via: Via,
    },
}

impl Authn {
    /// The key the caller acts with (a session's, for a session).
    pub fn key_id(&self) -> &KeyId {
        match self {
            Authn::ApiKey { key_id } | Authn::Session { key_id, .. } => key_id,
        }
    }

    /// The `RateLimiter` bucket its requests are counted in: per acting key.
    pub fn rate_bucket(&self) -> String {
        format!("key:{}", self.key_id())
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
    /// The member's override in this project as authentication read it (the caller check
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

#[cfg(feature = "edge")]
pub(super) fn credential(headers: &HeaderMap, uri: &Uri) -> Option<String> {
    let authorization = headers
        .get("authorization")
        .map(|h| h.to_str().unwrap_or(""));
    parityrail_core::api::credential::credential(authorization, uri.query())
}

/// A caller whose credential turned out good: its attempt refunded, its key's rate limit taken.
#[cfg(feature = "edge")]
pub(super) async fn admitted(
    app: &App,
    meta: &RequestMeta,
    attempt: &Attempt,
    p: Principal,
) -> ApiResult<Principal> {
    let svc = &app.svc;
    refund_attempt(app, meta, attempt);
    let per_minute = svc.var_u32("RATE_LIMIT_KEY_PER_MINUTE", 600);
    check_limit(svc, &p.authn.rate_bucket(), per_minute).await?;
    Ok(p)
}

/// The principal of an API key's plaintext (`401 invalid_api_key` for anything but an active
/// key of its environment; a key minted for a session never signs in this way).
#[cfg(feature = "edge")]
pub(super) async fn key_principal(app: &App, raw: &str) -> ApiResult<Principal> {
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
    let authn = Authn::ApiKey {
        key_id: k.key_id.clone(),
    };
    Ok(principal_of(app, Tenant::new(db, k.org.clone()), k, authn))
}

/// The principal acting with key `k` (its `last_used_at` moved, at one-minute resolution).
#[cfg(feature = "edge")]
pub(super) fn principal_of(app: &App, tenant: Tenant, k: KeyAuth, authn: Authn) -> Principal {
    let svc = &app.svc;
    // last_used_at has one-minute resolution so that reads do not each cost a write.
    let stale = k
        .last_used_at
        .is_none_or(|t| svc.now.millis() - t.millis() >= 60_000);
    if stale {
        let (t, id, at) = (tenant.clone(), k.key_id.to_string(), svc.now.to_rfc3339());
        app.wctx.wait_until(async move {
            let _ = repo::keys::touch(&t, &id, &at).await;
        });
    }
    Principal {
        tenant,
        authn,
        member_id: k.member,
        org_role: access::acting_role(k.role, k.origin.as_ref().map(|(_, c)| *c)),
        origin: k.origin,
        member_org_role: k.role,
        capability: k.capability,
        environment: k.environment,
        only_project: k.project,
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
        Actor::Member {
            member: self.member_id.clone(),
            key: self.authn.key_id().clone(),
        }
    }

    /// Re-reads what authentication established — the key is still active with the same cap,
    /// its member still exists with the same org role and, inside a project, the project is
    /// still there and the caller's role in it is unchanged — for a change about to commit. `retrying_as` and
    /// `retrying_in` run it at the start of every attempt, after the chain head was read, for a
    /// clear answer; the caller check in the batch (`caller_check`) makes it exact.
    pub async fn recheck(&self, scope: Option<&ProjectScope>, now: Timestamp) -> Fallible<()> {
        let key_id = self.authn.key_id();
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

    /// The caller check (migrations 0009, 0019) for a caller's batch: the batch aborts unless
    /// the key and its cap, the member's org role and (inside `scope`) the project and the
    /// override are still what authentication read.
    pub fn caller_check(&self, scope: Option<&ProjectScope>, now: Timestamp) -> Fallible<Scoped> {
        let key_id = self.authn.key_id();
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
    /// the caller check, exactly as authentication read them.
    pub fn seal(&self, scope: &ProjectScope) -> CallerSeal {
        let key_id = self.authn.key_id();
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
        self.denied(roles::check(need, self.capability, self.org_role))
    }

    /// A refusal for want of capability is, for an e-mail session, a step-up to ask for.
    fn denied(&self, r: Result<(), roles::Denied>) -> ApiResult<()> {
        match (r, &self.authn) {
            (
                Err(roles::Denied::Capability),
                Authn::Session {
                    via: Via::Email, ..
                },
            ) => Err(ApiError::forbidden(
                "step_up_required",
                "confirm this change by e-mail first: POST /v1/session/step-up sends a link",
            )),
            (r, _) => Ok(r?),
        }
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
        self.denied(roles::check(need, self.capability, p.role))
    }
}

/// The caller check (migrations 0009, 0019) of a sealed caller inside `pr`: the batch aborts
/// unless the key and its cap, the member's org role and its override in the project are still
/// what authentication read.
pub fn sealed_caller_check(
    seal: &CallerSeal,
    pr: &ProjectHandle,
    now: Timestamp,
) -> Fallible<Scoped> {
    repo::callers::check(
        pr.tenant(),
        &repo::callers::CallerCheck {
            key_id: &seal.key,
            minted_role: seal.minted_role.as_deref(),
            member_id: &seal.member,
            role: &seal.role,
            project: Some((pr.as_str(), seal.override_role.as_deref())),
            at: &now.to_rfc3339(),
        },
    )
}
