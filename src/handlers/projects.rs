//! Projects (SPEC §1, §14): `live` or `test`, visible only to keys of the same environment.
//! `project.created` opens the project's own chain; `project.deleted` goes to the org chain,
//! since the project (and so its chain's API) is gone afterwards while its entries remain.

use super::PageQuery;
use crate::audit::{also_on, head_of, record_as, retrying_in, Chain};
use crate::auth::extract::InProject;
use crate::auth::principal::Principal;
use crate::handlers::keys::revoked_by_removal;
use crate::http::{json, page, App, PathId, Query, RawBody};
use crate::repo::{self, projects::ProjectRow};
use axum::extract::State;
use axum::response::Response;
use parityrail_core::api::bodies::{CreateProject, PatchProject, RoleChange, SetRole};
use parityrail_core::api::error::{ApiError, ApiResult};
use parityrail_core::domain::access;
use parityrail_core::domain::alerts::MAX_RECIPIENTS;
use parityrail_core::domain::append::Step;
use parityrail_core::domain::audit::{Action, Draft};
use parityrail_core::domain::ids::MemberId;
use parityrail_core::domain::input;
use parityrail_core::domain::roles::{effective_role, Need, Role};
use serde_json::{json, Value};

const DEFAULT_RECONCILE_MINUTES: i64 = 60;

/// POST /v1/projects — `environment` defaults to the key's and may not differ from it.
#[worker::send]
pub async fn create(State(app): State<App>, p: Principal, body: RawBody) -> ApiResult<Response> {
    let svc = &app.svc;
    let body: CreateProject = body.json()?;
    let name = input::name("name", &body.name)?;
    let environment = body.environment.unwrap_or(p.environment);
    if environment != p.environment {
        return Err(ApiError::forbidden(
            "wrong_environment",
            format!(
                "a {} key creates {} projects only",
                p.environment.as_str(),
                p.environment.as_str()
            ),
        ));
    }
    let now = svc.now.to_rfc3339();
    let handle = p.creating_project(svc)?;
    let row = ProjectRow {
        id: handle.as_str().to_owned(),
        name,
        environment,
        reconcile_every_minutes: DEFAULT_RECONCILE_MINUTES,
        auto_approve_grants: false,
        alert_recipients: None,
        created_at: now.clone(),
        updated_at: now,
    };
    let draft = Draft::new(
        p.actor(),
        Action::ProjectCreated,
        format!("project:{}", row.id),
        Value::Null,
        json!(row.view()),
    );
    record_as(&p, Chain::Project(&handle), &draft, svc.now, || {
        Ok(vec![repo::projects::insert(&p.tenant, &row)?])
    })
    .await?;
    json(201, &row.view())
}

/// GET /v1/projects
#[worker::send]
pub async fn list(p: Principal, q: Query) -> ApiResult<Response> {
    let q = PageQuery::of(q.raw())?;
    let rows = repo::projects::list(
        &p.tenant,
        p.environment.as_str(),
        p.only_project.as_ref().map(|id| id.as_str()),
        q.cursor.as_deref(),
        q.fetch_limit(),
    )
    .await?;
    let (rows, next) = q.finish(rows, |r| r.id.clone());
    page(rows.iter().map(ProjectRow::view).collect(), next)
}

/// GET /v1/projects/{pid}
#[worker::send]
pub async fn get(ip: InProject) -> ApiResult<Response> {
    json(200, &ip.project.row.view())
}

/// PATCH /v1/projects/{pid} — `{name?, reconcile_every_minutes?, auto_approve_grants?,
/// alert_recipients?}`.
#[worker::send]
pub async fn patch(State(app): State<App>, ip: InProject, body: RawBody) -> ApiResult<Response> {
    let svc = &app.svc;
    let (p, pr) = (&ip.p, ip.project.handle());
    let pid = pr.as_str();
    let body: PatchProject = body.json()?;
    if body.name.is_none()
        && body.reconcile_every_minutes.is_none()
        && body.auto_approve_grants.is_none()
        && body.alert_recipients.is_none()
    {
        return Err(ApiError::bad_field(
            "name",
            "nothing to change: give name, reconcile_every_minutes, auto_approve_grants or \
             alert_recipients",
        ));
    }
    if body.alert_recipients.is_some() {
        // Where the org's alerts go is the org's to decide: an org-wide key acting with the org's
        // admin role (not a key limited to this project, not a project-admin override).
        p.require_org_scope()?;
        p.require(Need::Admin)?;
    }
    let recipients = match &body.alert_recipients {
        None => None,
        Some(list) if list.len() > MAX_RECIPIENTS => {
            return Err(ApiError::bad_field(
                "alert_recipients",
                "at most 50 addresses",
            ))
        }
        Some(list) => Some(
            list.iter()
                .map(|e| input::email("alert_recipients", e))
                .collect::<Result<Vec<_>, _>>()?,
        ),
    };
    let name = body
        .name
        .as_deref()
        .map(|n| input::name("name", n))
        .transpose()?;
    if body
        .reconcile_every_minutes
        .is_some_and(|m| !(5..=1440).contains(&m))
    {
        return Err(ApiError::bad_field(
            "reconcile_every_minutes",
            "must be from 5 to 1440",
        ));
    }
    let after = retrying_in(p, &ip.project, svc.now, || async {
        // Re-read inside the retry so `before` is always what the change replaced.
        let before = repo::projects::get(&p.tenant, pid, p.environment.as_str())
            .await?
            .ok_or_else(|| ApiError::not_found("project"))?;
        let mut after = before.clone();
        if let Some(n) = &name {
            after.name.clone_from(n);
        }
        if let Some(m) = body.reconcile_every_minutes {
            after.reconcile_every_minutes = m;
        }
        if let Some(a) = body.auto_approve_grants {
            after.auto_approve_grants = a;
        }
        if let Some(r) = &recipients {
            after.alert_recipients = (!r.is_empty()).then(|| json!(r).to_string());
        }
        after.updated_at = svc.now.to_rfc3339();
        let draft = Draft {
            actor: p.actor(),
            action: Action::ProjectUpdated,
            target: format!("project:{pid}"),
            before: json!(before.view()),
            after: json!(after.view()),
        };
        let update = repo::projects::update(pr, &after)?;
        Ok(Step::commit(vec![draft], vec![update], after))
    })
    .await?;
    json(200, &after.view())
}

/// DELETE /v1/projects/{pid} — owner only. Revokes the project's keys (a `key.revoked` entry
/// each), deletes its sealed credentials (a `credential.deleted` entry each), configuration and
/// overrides, in one batch with `project.deleted` on the org chain *and* on the project's own
/// chain: every other change to the project appends to that chain, so none can race the
/// deletion. The chains stay (append-only).
#[worker::send]
pub async fn delete(State(app): State<App>, ip: InProject) -> ApiResult<Response> {
    let svc = &app.svc;
    let (p, pr) = (&ip.p, ip.project.handle());
    let pid = pr.as_str();
    let at = svc.now.to_rfc3339();
    retrying_in(p, &ip.project, svc.now, || async {
        // The org chain guards the keys this revokes: its head before reading them.
        let org_head = head_of(&p.tenant, Chain::Org).await?;
        let row = repo::projects::get(&p.tenant, pid, p.environment.as_str())
            .await?
            .ok_or_else(|| ApiError::not_found("project"))?;
        let target = format!("project:{pid}");
        let deleted = || {
            Draft::new(
                p.actor(),
                Action::ProjectDeleted,
                &target,
                json!(row.view()),
                Value::Null,
            )
        };
        let keys = repo::keys::active_for_project(pr).await?;
        let credentials = repo::credentials::for_project(pr).await?;
        let mut org_drafts = vec![deleted()];
        org_drafts.extend(revoked_by_removal(&p.actor(), &keys, &at, &target));
        org_drafts.extend(credentials.iter().map(|c| {
            Draft::new(
                p.actor(),
                Action::CredentialDeleted,
                format!("credential:{}", c.id),
                json!({"project_id": pid, "kind": c.kind, "slot": c.slot, "key_id": c.key_id}),
                Value::Null,
            )
        }));
        let mut changes = vec![
            repo::keys::revoke_project_keys(pr, &at)?,
            repo::credentials::delete_project(pr)?,
        ];
        changes.extend(repo::projects::delete(pr)?);
        changes.extend(also_on(
            &p.tenant,
            Chain::Org,
            org_head,
            org_drafts,
            svc.now,
        )?);
        Ok(Step::commit(vec![deleted()], changes, ()))
    })
    .await?;
    json(200, &json!({"id": pid, "deleted": true}))
}

/// PUT /v1/projects/{pid}/members/{mid} — `{role: "admin" | "member" | null}` sets the member's
/// role override in this project; only an explicit `null` clears it. Overrides are set by org
/// admins (an override alone is not enough), never on the owner, never above the caller's role.
#[worker::send]
pub async fn set_member_role(
    State(app): State<App>,
    ip: InProject,
    PathId(mid): PathId<MemberId>,
    body: RawBody,
) -> ApiResult<Response> {
    let svc = &app.svc;
    let (p, scope) = (&ip.p, &ip.project);
    let pid = scope.id().as_str();
    let mid = mid.as_str();
    let not_found = || ApiError::not_found("member");
    repo::members::get(&p.tenant, mid)
        .await?
        .ok_or_else(not_found)?;
    let body: SetRole = body.json()?;
    let grant = match body.role {
        RoleChange::Missing => {
            return Err(ApiError::bad_field(
                "role",
                "is required: admin, member, or null to clear the override",
            ))
        }
        RoleChange::Clear => None,
        RoleChange::Set(Role::Owner) => {
            return Err(ApiError::bad_field("role", "must be admin, member or null"))
        }
        RoleChange::Set(r) => Some(r),
    };
    let role = grant.map(Role::as_str);
    retrying_in(p, scope, svc.now, || async {
        // Deleted meanwhile (its deletion appends to this chain too): not found, not a 500.
        repo::projects::get(&p.tenant, pid, p.environment.as_str())
            .await?
            .ok_or_else(|| ApiError::not_found("project"))?;
        // The target's org role as of now, not as of the request's start.
        let member = repo::members::get(&p.tenant, mid)
            .await?
            .ok_or_else(not_found)?;
        let target_org_role = member.role;
        let before = repo::members::get_override(scope.handle(), mid).await?;
        let target_in_project = effective_role(target_org_role, before);
        access::may_set_override(
            p.org_role,
            scope.role,
            target_org_role,
            target_in_project,
            grant,
        )
        .map_err(ApiError::from)?;
        let draft = Draft {
            actor: p.actor(),
            action: Action::ProjectMemberRoleSet,
            target: format!("member:{mid}"),
            before: json!({"project_id": pid, "member_id": mid, "role": before}),
            after: json!({"project_id": pid, "member_id": mid, "role": role}),
        };
        let change = repo::members::set_override(scope.handle(), mid, role)?;
        Ok(Step::commit(vec![draft], vec![change], ()))
    })
    .await?;
    json(
        200,
        &json!({"project_id": pid, "member_id": mid, "role": role}),
    )
}
