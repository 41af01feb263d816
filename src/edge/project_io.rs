//! A project's connectors, opened from its sealed credentials: what the integration routes, the
//! reconcile checks, the coordinator's runs, drains and approvals all use. Takes a
//! `ProjectHandle` (the tenancy check already passed, or a system grant), never a request.

use super::auth::scope::ProjectHandle;
use super::connectors::{WorkerHttp, WorkerTimer};
use super::repo;
use super::services::Services;
use super::vault;
use crate::domain::apikey::Environment;
use crate::domain::integrations::{check_db_url, DbUrl};
use crate::domain::vault::Secret;
use crate::fault::{Fallible, Fault};
use crate::pg::{self, PgError};
use crate::stripe::StripeClient;

/// Opens the project's credential of `kind`; `409 integration_missing` when there is none.
pub async fn open_credential(
    ctx: &Services,
    pr: &ProjectHandle,
    kind: &str,
    what: &'static str,
) -> Fallible<Secret> {
    let rows = repo::credentials::for_project(pr).await?;
    let row = rows
        .iter()
        .find(|r| r.kind == kind)
        .ok_or(Fault::IntegrationMissing(what))?;
    vault::open(&ctx.keyring()?, pr.tenant(), row)
}

/// The project's read-only Stripe client.
pub async fn stripe(ctx: &Services, pr: &ProjectHandle) -> Fallible<StripeClient<WorkerHttp>> {
    let key = open_credential(ctx, pr, "stripe_api_key", "Stripe").await?;
    Ok(ctx.stripe(key))
}

/// The project's repair URL, checked like the read URL (a live project requires TLS).
pub async fn repair_url(ctx: &Services, pr: &ProjectHandle, env: Environment) -> Fallible<DbUrl> {
    let secret = open_credential(ctx, pr, "db_repair_url", "database repair_url").await?;
    let url = DbUrl::parse(secret.expose())
        .map_err(|_| Fault::internal("stored database URL does not parse"))?;
    check_db_url(&url, env).map_err(|e| Fault::Input(e.input_error("repair_url")))?;
    Ok(url)
}

/// Opens the project's read credential as a read-only session with client-side time limits.
/// The outer error is ParityRail's (no credential, vault); the inner one the database's.
pub async fn read_session(
    ctx: &Services,
    pr: &ProjectHandle,
    env: Environment,
) -> Fallible<Result<pg::ReadSession<WorkerTimer>, PgError>> {
    let secret = open_credential(ctx, pr, "db_read_url", "database").await?;
    let url = DbUrl::parse(secret.expose())
        .map_err(|_| Fault::internal("stored database URL does not parse"))?;
    // A URL stored before live projects required TLS is refused here too.
    check_db_url(&url, env).map_err(|e| Fault::Input(e.input_error("read_url")))?;
    Ok(ctx.pg_read(&url).await)
}
