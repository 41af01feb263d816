//! A project's connectors, opened from its sealed credentials (`domain::credentials` over the
//! D1 store of sealed rows): what the integration routes, the reconcile checks, the
//! coordinator's runs, drains and approvals all use. Takes a `ProjectHandle` (the tenancy check
//! already passed, or a system grant), never a request.

use super::auth::scope::ProjectHandle;
use super::connectors::{WorkerHttp, WorkerTimer};
use super::repo;
use super::services::Services;
use parityrail_core::domain::apikey::Environment;
use parityrail_core::domain::credentials::{CredentialStore, Credentials, Kind, Sealed};
use parityrail_core::domain::integrations::DbUrl;
use parityrail_core::domain::vault::Keyring;
use parityrail_core::fault::{Fallible, Fault};
use parityrail_core::pg::{self, PgError};
use parityrail_core::stripe::StripeClient;

/// The sealed credentials of one project in D1.
struct D1Credentials<'a>(&'a ProjectHandle);

impl CredentialStore for D1Credentials<'_> {
    type Error = Fault;

    async fn sealed(&self, kind: Kind) -> Fallible<Option<Sealed>> {
        let rows = repo::credentials::for_project(self.0).await?;
        Ok(rows
            .into_iter()
            .find(|r| r.kind == kind.as_str())
            .map(|r| Sealed {
                id: r.id,
                sealed: r.sealed,
            }))
    }
}

fn credentials<'a>(
    pr: &'a ProjectHandle,
    ring: &'a dyn Fn() -> Fallible<Keyring>,
) -> Credentials<'a, D1Credentials<'a>> {
    Credentials {
        store: D1Credentials(pr),
        ring,
        org: pr.tenant().org_id().as_str(),
        project: pr.as_str(),
    }
}

/// The project's read-only Stripe client; `409 integration_missing` without a key.
pub async fn stripe(svc: &Services, pr: &ProjectHandle) -> Fallible<StripeClient<WorkerHttp>> {
    let ring = || svc.keyring();
    let key = credentials(pr, &ring).open(Kind::StripeApiKey).await?;
    Ok(svc.stripe(key))
}

/// The project's repair URL, checked like the read URL (a live project requires TLS).
pub async fn repair_url(svc: &Services, pr: &ProjectHandle, env: Environment) -> Fallible<DbUrl> {
    let ring = || svc.keyring();
    Ok(credentials(pr, &ring)
        .db_url(Kind::DbRepairUrl, env)
        .await?)
}

/// Opens the project's read credential as a read-only session with client-side time limits.
/// The outer error is ParityRail's (no credential, vault); the inner one the database's.
pub async fn read_session(
    svc: &Services,
    pr: &ProjectHandle,
    env: Environment,
) -> Fallible<Result<pg::ReadSession<WorkerTimer>, PgError>> {
    let ring = || svc.keyring();
    let url = credentials(pr, &ring).db_url(Kind::DbReadUrl, env).await?;
    Ok(svc.pg_read(&url).await)
}
