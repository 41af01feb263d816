//! Operator bootstrap: the one route the operator token opens.

use super::keys::{mint, NewKeySpec};
use crate::audit::{retrying, Chain};
use crate::auth::extract::Operator;
use crate::http::{json, App, PathId, RawBody};
use crate::repo::{self, members::MemberRow, orgs::OrgRow};
use axum::extract::State;
use axum::response::Response;
use parityrail_core::api::bodies::{CreateOrg, OwnerKey};
use parityrail_core::api::error::{ApiError, ApiResult};
use parityrail_core::domain::apikey::{Capability, Environment};
use parityrail_core::domain::append::Step;
use parityrail_core::domain::audit::{Action, Actor, Draft};
use parityrail_core::domain::ids::{MemberId, OrgId};
use parityrail_core::domain::input;
use parityrail_core::domain::roles::Role;
use parityrail_core::domain::time::Timestamp;
use serde_json::{json, Value};

/// POST /v1/operator/orgs — creates an org, its owner and the owner's first key (live, repair,
/// org scope). The key's plaintext is in this response and nowhere else, ever.
#[worker::send]
pub async fn create_org(
    State(app): State<App>,
    Operator(grant): Operator,
    body: RawBody,
) -> ApiResult<Response> {
    let svc = &app.svc;
    let body: CreateOrg = body.json()?;
    let name = input::name("name", &body.name)?;
    let email = input::email("owner_email", &body.owner_email)?;
    let now = svc.now.to_rfc3339();
    let org = OrgRow {
        id: OrgId::generate(&mut svc.rng())?.to_string(),
        name,
        created_at: now.clone(),
    };
    let owner = MemberRow {
        id: MemberId::generate(&mut svc.rng())?.to_string(),
        email,
        role: Role::Owner,
        created_at: now,
    };
    let t = grant.tenant_for(
        svc,
        OrgId::parse(&org.id).map_err(|e| ApiError::internal(e.to_string()))?,
    )?;
    let key = mint(
        owner_key_spec("owner bootstrap key".to_owned(), &owner.id, None),
        &mut svc.rng(),
        svc.now,
    )?;
    let created = |action, target: String, after| {
        Draft::new(Actor::Operator, action, target, Value::Null, after)
    };
    let drafts = vec![
        created(
            Action::OrgCreated,
            format!("org:{}", org.id),
            json!(org.view()),
        ),
        created(
            Action::MemberAdded,
            format!("member:{}", owner.id),
            json!(owner.view()),
        ),
        created(
            Action::KeyCreated,
            format!("key:{}", key.row.id),
            key.view(false),
        ),
    ];
    retrying(&t, Chain::Org, svc.now, || async {
        let changes = vec![
            repo::orgs::insert(&t, &org)?,
            repo::members::insert(&t, &owner)?,
            repo::keys::insert(&t, &key.row, key.plain.hash().as_str())?,
        ];
        Ok::<_, ApiError>(Step::commit(drafts.clone(), changes, ()))
    })
    .await?;
    json(
        201,
        &json!({"org": org.view(), "owner": owner.view(), "key": key.view(true)}),
    )
}

/// A live, org-scoped repair key for the owner, minted by nobody (no cap): what only the
/// operator hands out.
fn owner_key_spec(name: String, owner: &str, expires_at: Option<String>) -> NewKeySpec {
    NewKeySpec {
        name,
        environment: Environment::Live,
        capability: Capability::Repair,
        project_id: None,
        member_id: owner.to_owned(),
        expires_at,
        origin: None,
        via: None,
    }
}

/// How long a key from `owner_key` lives: long enough for the owner to mint its own (uncapped,
/// since it mints for itself) and revoke nothing else.
const OWNER_KEY_TTL_SECONDS: i64 = 24 * 3600;

/// POST /v1/operator/orgs/{oid}/owner-key — a fresh live repair key for the org's *current*
/// owner, minted by nobody but the operator (so uncapped). After an ownership transfer this is
/// how the new owner gets owner powers that the previous owner cannot share: every key it held
/// for the new owner stays capped below owner. The plaintext is in this response only.
///
/// Bounded, so a leaked operator token is not a standing key to every org: only while the owner
/// holds no active uncapped live key (`409 owner_has_key` otherwise: the owner mints its own),
/// the key expires after 24 hours, and the issue is on the org chain the owner reads.
#[worker::send]
pub async fn owner_key(
    State(app): State<App>,
    Operator(grant): Operator,
    PathId(org): PathId<OrgId>,
    body: RawBody,
) -> ApiResult<Response> {
    let svc = &app.svc;
    let body: OwnerKey = body.json()?;
    let name = input::name(
        "name",
        body.name.as_deref().unwrap_or("owner key (operator)"),
    )?;
    let t = grant.tenant_for(svc, org)?;
    let key = retrying(&t, Chain::Org, svc.now, || async {
        // The owner as of the chain head: a transfer racing this appends to the same chain.
        let owner = repo::members::owner(&t)
            .await?
            .ok_or_else(|| ApiError::not_found("org"))?;
        let held = repo::keys::active_for_member(&t, &owner.id).await?;
        if held.iter().any(|k| uncapped_owner_key(k, &owner.id, svc.now)) {
            return Err(ApiError::conflict(
                "owner_has_key",
                "the org's owner already holds an active uncapped live key and mints further keys itself",
            ));
        }
        let expires = svc.now.plus_seconds(OWNER_KEY_TTL_SECONDS).to_rfc3339();
        let key = mint(
            owner_key_spec(name.clone(), &owner.id, Some(expires)),
            &mut svc.rng(),
            svc.now,
        )?;
        let draft = Draft::new(
            Actor::Operator,
            Action::KeyCreated,
            format!("key:{}", key.row.id),
            Value::Null,
            key.view(false),
        );
        let insert = repo::keys::insert(&t, &key.row, key.plain.hash().as_str())?;
        Ok(Step::commit(vec![draft], vec![insert], key))
    })
    .await?;
    json(201, &key.view(true))
}

/// A key of the owner's that acts as owner: its own, live, repair, org-wide, not capped by a
/// minter, not expired.
fn uncapped_owner_key(k: &repo::keys::KeyRow, owner: &str, now: Timestamp) -> bool {
    let live = k
        .expires_at
        .as_deref()
        .is_none_or(|e| Timestamp::parse(e).is_ok_and(|t| t > now));
    k.member_id == owner
        && k.environment == Environment::Live
        && k.capability == Capability::Repair
        && k.project_id.is_none()
        && k.minted_role.is_none()
        && k.revoked_at.is_none()
        && live
}
