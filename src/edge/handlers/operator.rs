//! Operator bootstrap: the one route the operator token opens.

use super::keys::{mint, NewKeySpec};
use crate::domain::apikey::{Capability, Environment};
use crate::domain::audit::{Actor, Draft};
use crate::domain::ids::{MemberId, OrgId};
use crate::domain::input;
use crate::domain::ports::OsRng;
use crate::domain::roles::Role;
use crate::edge::audit::{commit, retrying, Chain};
use crate::edge::auth::OperatorGrant;
use crate::edge::error::ApiResult;
use crate::edge::http::{json, json_body, Ctx};
use crate::edge::repo::{self, members::MemberRow, orgs::OrgRow};
use serde::Deserialize;
use serde_json::{json, Value};
use worker::{Request, Response};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateOrg {
    name: String,
    owner_email: String,
}

/// POST /v1/operator/orgs — creates an org, its owner and the owner's first key (live, repair,
/// org scope). The key's plaintext is in this response and nowhere else, ever.
pub async fn create_org(ctx: &Ctx, mut req: Request, grant: OperatorGrant) -> ApiResult<Response> {
    let body: CreateOrg = json_body(&mut req).await?;
    let name = input::name("name", &body.name)?;
    let email = input::email("owner_email", &body.owner_email)?;
    let now = ctx.now.to_rfc3339();
    let org = OrgRow {
        id: OrgId::generate(&mut OsRng)?.to_string(),
        name,
        created_at: now.clone(),
    };
    let owner = MemberRow {
        id: MemberId::generate(&mut OsRng)?.to_string(),
        email,
        role: Role::Owner.as_str().to_owned(),
        created_at: now,
    };
    let t = grant.tenant_for(
        ctx,
        OrgId::parse(&org.id).map_err(|e| crate::edge::error::ApiError::internal(e.to_string()))?,
    )?;
    let key = mint(
        ctx,
        NewKeySpec {
            name: "owner bootstrap key".to_owned(),
            environment: Environment::Live,
            capability: Capability::Repair,
            project_id: None,
            member_id: owner.id.clone(),
            expires_at: None,
        },
    )?;
    let created = |action, target: String, after| {
        Draft::new(Actor::Operator, action, target, Value::Null, after)
    };
    let drafts = vec![
        created("org.created", format!("org:{}", org.id), json!(org)),
        created("member.added", format!("member:{}", owner.id), json!(owner)),
        created(
            "key.created",
            format!("key:{}", key.row.id),
            key.view(false),
        ),
    ];
    retrying(&t, Chain::Org, |head| async {
        let changes = vec![
            repo::orgs::insert(&t, &org)?,
            repo::members::insert(&t, &owner)?,
            repo::keys::insert(&t, &key.row, key.plain.hash().as_str())?,
        ];
        commit(&t, Chain::Org, head, drafts.clone(), changes, ctx.now).await
    })
    .await?;
    json(
        201,
        &json!({"org": org, "owner": owner, "key": key.view(true)}),
    )
}
