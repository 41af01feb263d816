//! Reading and verifying audit chains (SPEC §9).

use crate::domain::audit::ChainVerifier;
use crate::domain::input;
use crate::domain::roles::Need;
use crate::edge::auth::Principal;
use crate::edge::error::{ApiError, ApiResult};
use crate::edge::http::{json, page, query_param};
use crate::edge::repo;
use worker::{Request, Response};

/// Resolves the chain a route names, checking tenancy and scope first.
async fn chain_for(p: &Principal, pid: Option<&str>) -> ApiResult<String> {
    match pid {
        Some(pid) => {
            let scope = p.project(pid).await?;
            p.require_in(&scope, Need::Read)?;
            Ok(format!("project:{pid}"))
        }
        None => {
            // The org chain records live keys and live projects: live, org-scoped keys only.
            p.require(Need::Read)?;
            p.require_org_scope()?;
            p.require_live()?;
            Ok(format!("org:{}", p.tenant.org_id()))
        }
    }
}

/// GET /v1/projects/{pid}/audit, GET /v1/org/audit — entries after `after_seq` (or `cursor`).
pub async fn list(req: Request, p: Principal, pid: Option<&str>) -> ApiResult<Response> {
    let chain = chain_for(&p, pid).await?;
    let limit = input::limit(query_param(&req, "limit").as_deref())?;
    let after = query_param(&req, "after_seq").or_else(|| query_param(&req, "cursor"));
    let after_seq = match after.as_deref() {
        None | Some("") => 0,
        Some(s) => s
            .parse::<u64>()
            .map_err(|_| ApiError::bad_field("after_seq", "must be a sequence number"))?,
    };
    let mut rows = repo::audit::page(&p.tenant, &chain, after_seq, limit + 1).await?;
    let next = if rows.len() > limit as usize {
        rows.truncate(limit as usize);
        rows.last().map(|e| e.seq.to_string())
    } else {
        None
    };
    page(rows, next)
}

const VERIFY_PAGE: u32 = 1000;

/// GET /v1/projects/{pid}/audit/verify, GET /v1/org/audit/verify — recomputes the whole chain.
pub async fn verify(p: Principal, pid: Option<&str>) -> ApiResult<Response> {
    let chain = chain_for(&p, pid).await?;
    let mut verifier = ChainVerifier::default();
    let mut after = 0;
    'pages: loop {
        let rows = repo::audit::page(&p.tenant, &chain, after, VERIFY_PAGE).await?;
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
