//! Reading and verifying audit chains (SPEC §9): a project's chain, and the org's chain (live,
//! org-scoped keys only: it records live keys and live projects).

use crate::auth::extract::InProject;
use crate::auth::principal::Principal;
use crate::auth::scope::Tenant;
use crate::checkpoints::{self, Trusted};
use crate::http::App;
use crate::http::{json, page, Query};
use crate::repo;
use crate::services::Services;
use axum::extract::State;
use axum::response::Response;
use parityrail_core::api::error::{ApiError, ApiResult};
use parityrail_core::domain::audit::{ChainVerifier, Verification};
use parityrail_core::domain::input;

/// The org chain; its routes are `LiveOrgKey` (the guard refused test and project keys).
fn org_chain(p: &Principal) -> String {
    format!("org:{}", p.tenant.org_id())
}

fn project_chain(ip: &InProject) -> String {
    format!("project:{}", ip.project.id())
}

/// GET /v1/org/audit — entries after `after_seq` (or `cursor`).
#[worker::send]
pub async fn list_org(p: Principal, q: Query) -> ApiResult<Response> {
    let chain = org_chain(&p);
    list(&p.tenant, &chain, &q).await
}

/// GET /v1/projects/{pid}/audit — entries after `after_seq` (or `cursor`).
#[worker::send]
pub async fn list_project(ip: InProject, q: Query) -> ApiResult<Response> {
    list(&ip.p.tenant, &project_chain(&ip), &q).await
}

/// GET /v1/org/audit/verify — recomputes the whole org chain and holds it to its newest signed
/// checkpoint.
#[worker::send]
pub async fn verify_org(State(app): State<App>, p: Principal) -> ApiResult<Response> {
    let chain = org_chain(&p);
    verify(&app.svc, &p.tenant, &chain).await
}

/// GET /v1/projects/{pid}/audit/verify — recomputes the whole project chain and holds it to its
/// newest signed checkpoint.
#[worker::send]
pub async fn verify_project(State(app): State<App>, ip: InProject) -> ApiResult<Response> {
    verify(&app.svc, &ip.p.tenant, &project_chain(&ip)).await
}

async fn list(t: &Tenant, chain: &str, q: &Query) -> ApiResult<Response> {
    let limit = input::limit(q.get("limit").as_deref())?;
    let after = q.get("after_seq").or_else(|| q.get("cursor"));
    let after_seq = match after.as_deref() {
        None | Some("") => 0,
        Some(s) => s
            .parse::<u64>()
            .map_err(|_| ApiError::bad_field("after_seq", "must be a sequence number"))?,
    };
    let mut rows = repo::audit::page(t, chain, after_seq, limit + 1).await?;
    let next = if rows.len() > limit as usize {
        rows.truncate(limit as usize);
        rows.last().map(|e| e.seq.to_string())
    } else {
        None
    };
    page(rows, next)
}

const VERIFY_PAGE: u32 = 1000;

async fn verify(svc: &Services, t: &Tenant, chain: &str) -> ApiResult<Response> {
    let mut verifier = match checkpoints::trusted(svc, t, chain).await? {
        Trusted::None => ChainVerifier::default(),
        Trusted::Valid(cp, _) => ChainVerifier::against(checkpoints::seen(&cp)),
        Trusted::Invalid(reason, size) => {
            return json(
                200,
                &Verification::Bad {
                    ok: false,
                    first_bad_seq: size,
                    reason,
                    entries_checked: 0,
                    checkpoint: None,
                },
            )
        }
    };
    let mut after = 0;
    'pages: loop {
        let rows = repo::audit::page(t, chain, after, VERIFY_PAGE).await?;
        let n = rows.len();
        for e in &rows {
            after = e.seq;
            if !verifier.push(e) {
                break 'pages;
            }
        }
        if n < VERIFY_PAGE as usize {
            break;
        }
    }
    json(200, &verifier.finish())
}
