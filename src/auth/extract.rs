//! Authentication and tenancy as axum extractors, so a handler's signature says what it needs:
//! `Principal` (an org route), `InProject` (a project route: the project resolved through the
//! caller's org and scope, the caller's role in it checked), `Operator` (the bootstrap token).
//! They only hand over what the route guard (`guard.rs`) established for the matched route; a
//! handler asking for something its route's guard does not give fails loudly (500), never open.

use super::operator::OperatorGrant;
use super::principal::{Principal, ProjectScope};
use super::session::{SessionCaller, SignInGrant};
use super::webhook::VerifiedWebhook;
use crate::http::App;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use parityrail_core::api::error::ApiError;

/// A project route's caller and project.
#[derive(Clone)]
pub struct InProject {
    pub p: Principal,
    pub project: ProjectScope,
}

fn take<T: Clone + Send + Sync + 'static>(parts: &mut Parts, what: &str) -> Result<T, ApiError> {
    parts
        .extensions
        .remove::<T>()
        .ok_or_else(|| ApiError::internal(format!("the route guard established no {what}")))
}

impl FromRequestParts<App> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &App) -> Result<Self, ApiError> {
        take(parts, "principal")
    }
}

impl FromRequestParts<App> for InProject {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &App) -> Result<Self, ApiError> {
        take(parts, "project")
    }
}

/// The operator bootstrap route's grant.
pub struct Operator(pub OperatorGrant);

impl FromRequestParts<App> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &App) -> Result<Self, ApiError> {
        take(parts, "operator grant").map(Operator)
    }
}

impl FromRequestParts<App> for VerifiedWebhook {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &App) -> Result<Self, ApiError> {
        take(parts, "verified webhook")
    }
}

impl FromRequestParts<App> for SessionCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &App) -> Result<Self, ApiError> {
        take(parts, "session")
    }
}

impl FromRequestParts<App> for SignInGrant {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &App) -> Result<Self, ApiError> {
        take(parts, "sign-in grant")
    }
}
