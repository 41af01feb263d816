//! Members and roles (SPEC §1): exactly one owner; only the owner transfers ownership; admins
//! manage everyone else. Every change needs a live, org-scoped key (a test key never changes live
//! access). Removing a member revokes its keys in the same batch, each with a `key.revoked` entry.

use super::PageQuery;
use crate::audit::{record_as, retrying_as, Chain};
use crate::auth::principal::Principal;
use crate::handlers::keys::revoked_by_removal;
use crate::http::{json, page};
use crate::http::{App, PathId, Query, RawBody};
use crate::repo::{self, members::MemberRow};
use axum::extract::State;
use axum::response::Response;
use parityrail_core::api::bodies::{AddMember, ChangeRole};
use parityrail_core::api::error::{ApiError, ApiResult};
use parityrail_core::domain::access::{self, Mover};
use parityrail_core::domain::append::Step;
use parityrail_core::domain::audit::{Action, Draft};
use parityrail_core::domain::ids::MemberId;
use parityrail_core::domain::input;
use parityrail_core::domain::roles::Role;
use parityrail_core::fault::Fault;
use serde_json::{json, Value};

/// GET /v1/org/members — org-scoped keys only (a project key does not list every e-mail).
#[worker::send]
pub async fn list(p: Principal, q: Query) -> ApiResult<Response> {
    let q = PageQuery::of(q.raw())?;
    let rows = repo::members::list(&p.tenant, q.cursor.as_deref(), q.fetch_limit()).await?;
    let (rows, next) = q.finish(rows, |m| m.id.clone());
    page(rows.iter().map(MemberRow::view).collect(), next)
}

/// POST /v1/org/members
#[worker::send]
pub async fn add(State(app): State<App>, p: Principal, body: RawBody) -> ApiResult<Response> {
    let svc = &app.svc;
    let body: AddMember = body.json()?;
    let email = input::email("email", &body.email)?;
    if body.role == Role::Owner {
        return Err(ApiError::bad_field(
            "role",
            "must be admin or member; transfer ownership with PATCH",
        ));
    }
    let m = MemberRow {
        id: MemberId::generate(&mut svc.rng())?.to_string(),
        email,
        role: body.role,
        created_at: svc.now.to_rfc3339(),
    };
    if repo::members::by_email(&p.tenant, &m.email)
        .await?
        .is_some()
    {
        return Err(Fault::MemberExists.into());
    }
    let draft = Draft::new(
        p.actor(),
        Action::MemberAdded,
        format!("member:{}", m.id),
        Value::Null,
        json!(m.view()),
    );
    // A concurrent add of the same e-mail loses on the unique index: 409 member_exists.
    record_as(&p, Chain::Org, &draft, svc.now, || {
        Ok(vec![repo::members::insert(&p.tenant, &m)?])
    })
    .await?;
    json(201, &m.view())
}

async fn load(p: &Principal, mid: &MemberId) -> ApiResult<MemberRow> {
    repo::members::get(&p.tenant, mid.as_str())
        .await?
        .ok_or_else(|| ApiError::not_found("member"))
}

/// PATCH /v1/org/members/{mid} — `{role}`; making someone `owner` transfers ownership (owner only).
#[worker::send]
pub async fn update(
    State(app): State<App>,
    p: Principal,
    PathId(mid): PathId<MemberId>,
    body: RawBody,
) -> ApiResult<Response> {
    let svc = &app.svc;
    let mid = &mid;
    load(&p, mid).await?;
    let body: ChangeRole = body.json()?;
    let after = retrying_as(&p, Chain::Org, svc.now, || async {
        let target = load(&p, mid).await?;
        let plan =
            access::role_change(p.org_role, target.role, body.role).map_err(ApiError::from)?;
        if plan.is_empty() {
            return Ok(Step::Done(target));
        }
        let mut moves = Vec::new();
        for (who, role) in plan {
            let member = match who {
                Mover::Caller => load(&p, &p.member_id).await?,
                Mover::Target => target.clone(),
            };
            moves.push((member, role));
        }
        let mut drafts = Vec::new();
        let mut changes = Vec::new();
        let mut last = None;
        for (m, role) in moves {
            let mut m_after = m.clone();
            m_after.role = role;
            drafts.push(Draft::new(
                p.actor(),
                Action::MemberUpdated,
                format!("member:{}", m.id),
                json!(m.view()),
                json!(m_after.view()),
            ));
            changes.push(repo::members::set_role(&p.tenant, &m.id, role.as_str())?);
            if role < m.role {
                recap_minted(&p, &m.id, role, &mut drafts, &mut changes).await?;
            }
            last = Some(m_after);
        }
        let last = last.ok_or_else(|| ApiError::internal("no member moved"))?;
        Ok(Step::commit(drafts, changes, last))
    })
    .await?;
    json(200, &after.view())
}

/// A demoted member may still hold the keys it minted for others (or that were minted through
/// its keys): each whose cap is above what the member can grant now is capped there, recorded as
/// `key.capped`, in the demotion's batch.
async fn recap_minted(
    p: &Principal,
    member: &str,
    now_role: Role,
    drafts: &mut Vec<Draft>,
    changes: &mut Vec<crate::auth::scope::Scoped>,
) -> ApiResult<()> {
    for k in repo::keys::active_for_member(&p.tenant, member).await? {
        if k.member_id == member {
            continue;
        }
        let Some(cap) = k.minted_role else {
            continue;
        };
        let Some(lower) = access::recap(now_role, cap) else {
            continue;
        };
        let mut after = k.clone();
        after.minted_role = Some(lower);
        drafts.push(Draft::new(
            p.actor(),
            Action::KeyCapped,
            format!("key:{}", k.id),
            json!({"id": k.id, "minted_role": k.minted_role}),
            json!({"id": k.id, "minted_role": after.minted_role}),
        ));
        changes.push(repo::keys::set_cap(&p.tenant, &k.id, lower.as_str())?);
    }
    Ok(())
}

/// DELETE /v1/org/members/{mid} — removes the member and revokes every key it has.
#[worker::send]
pub async fn remove(
    State(app): State<App>,
    p: Principal,
    PathId(mid): PathId<MemberId>,
) -> ApiResult<Response> {
    let svc = &app.svc;
    let mid = &mid;
    let at = svc.now.to_rfc3339();
    retrying_as(&p, Chain::Org, svc.now, || async {
        let target = load(&p, mid).await?;
        access::may_remove_member(target.role)?;
        let draft = Draft::new(
            p.actor(),
            Action::MemberRemoved,
            format!("member:{}", target.id),
            json!(target.view()),
            Value::Null,
        );
        let keys = repo::keys::active_for_member(&p.tenant, &target.id).await?;
        let mut drafts = vec![draft];
        drafts.extend(revoked_by_removal(
            &p.actor(),
            &keys,
            &at,
            &format!("member:{}", target.id),
        ));
        let mut changes = vec![repo::keys::revoke_member_keys(&p.tenant, &target.id, &at)?];
        changes.extend(repo::members::delete(&p.tenant, &target.id)?);
        Ok(Step::commit(drafts, changes, ()))
    })
    .await?;
    json(200, &json!({"id": mid, "deleted": true}))
}
