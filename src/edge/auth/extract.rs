//! Authentication and tenancy as axum extractors, so a handler's signature says what it needs:
//! `Principal` (an org-level route), `InProject` (a project route: the project resolved through
//! the caller's org and scope first, then the caller's role in it checked), `Operator` (the
//! bootstrap token). Each enforces the guard the one route declaration (`api::routes`) gives the
//! matched route, so the need is written once; using the wrong extractor for a route is refused.

use super::{authenticate, operator, OperatorGrant, Principal, ProjectScope};
use crate::api::error::{ApiError, ApiResult};
use crate::api::routes::{self, Guard, RouteSpec};
use crate::edge::http::{meta, App, Params};
use axum::extract::{FromRequestParts, MatchedPath};
use axum::http::request::Parts;

/// The declared route this request matched.
fn route(parts: &Parts) -> ApiResult<&'static RouteSpec> {
    let path = parts
        .extensions
        .get::<MatchedPath>()
        .map(MatchedPath::as_str)
        .ok_or_else(|| ApiError::internal("no matched route"))?;
    routes::lookup(parts.method.as_str(), path)
        .ok_or_else(|| ApiError::internal(format!("route {path} is not declared")))
}

impl FromRequestParts<App> for Principal {
    type Rejection = ApiError;

    /// An org-level route: authenticate, then the route's need against the org role.
    #[worker::send]
    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, ApiError> {
        let spec = route(parts)?;
        let Guard::Key(need) = spec.guard else {
            return Err(ApiError::internal("a key-less route extracted a principal"));
        };
        if spec.project_scoped() {
            return Err(ApiError::internal("a project route must extract InProject"));
        }
        let p = authenticate(app, &meta(parts)?, &parts.headers, &parts.uri).await?;
        p.require(need)?;
        Ok(p)
    }
}

/// A project route's caller and project: authenticated, the project resolved (the same 404 for
/// missing, foreign and out-of-scope), then the route's need against the role in that project.
pub struct InProject {
    pub p: Principal,
    pub project: ProjectScope,
}

impl FromRequestParts<App> for InProject {
    type Rejection = ApiError;

    #[worker::send]
    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, ApiError> {
        let spec = route(parts)?;
        let (Guard::Key(need), true) = (spec.guard, spec.project_scoped()) else {
            return Err(ApiError::internal("InProject on a route without {pid}"));
        };
        let p = authenticate(app, &meta(parts)?, &parts.headers, &parts.uri).await?;
        let params = Params::from_request_parts(parts, app).await?;
        let project = p.project(params.get("pid")?).await?;
        p.require_in(&project, need)?;
        Ok(InProject { p, project })
    }
}

/// The operator bootstrap route's grant.
pub struct Operator(pub OperatorGrant);

impl FromRequestParts<App> for Operator {
    type Rejection = ApiError;

    #[worker::send]
    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, ApiError> {
        if route(parts)?.guard != Guard::Operator {
            return Err(ApiError::internal("operator grant on another route"));
        }
        Ok(Operator(
            operator(app, &meta(parts)?, &parts.headers).await?,
        ))
    }
}
