//! What the system entry points (cron, Durable Object alarms) may reach with a `SystemGrant`:
//! every tenant in turn, one tenant or project by an id the system stored, and the scheduled
//! jobs' positions.

use super::grants::{SystemGrant, RAW};
use super::scope::{ProjectHandle, Tenant};
use crate::repo;
use crate::services::Services;
use parityrail_core::domain::ids::{OrgId, ProjectId};
use parityrail_core::fault::{Fallible, Fault};

/// For scheduled jobs (no caller): one tenant per org, `after` the given org id, at most
/// `limit`. Only the system entry points (cron, Durable Object alarms) hold a `SystemGrant`.
pub async fn system_tenants(
    svc: &Services,
    _grant: &SystemGrant,
    after: &str,
    limit: u32,
) -> Fallible<Vec<Tenant>> {
    let db = svc.db(&RAW)?;
    let orgs = repo::orgs::all_after(&db, after, limit).await?;
    orgs.into_iter()
        .map(|org| Ok(Tenant::new(svc.db(&RAW)?, org)))
        .collect()
}

/// One org's tenant for system work, by an id the system itself stored (a job's position).
pub fn system_tenant(svc: &Services, _grant: &SystemGrant, org: &str) -> Fallible<Tenant> {
    let org = OrgId::parse(org).map_err(|e| Fault::internal(e.to_string()))?;
    Ok(Tenant::new(svc.db(&RAW)?, org))
}

/// Where the scheduled job `job` stopped ("" for the start).
pub async fn job_cursor(svc: &Services, _grant: &SystemGrant, job: &str) -> Fallible<String> {
    repo::jobs::cursor(&svc.db(&RAW)?, job).await
}

/// Saves where `job` stopped.
pub async fn save_job_cursor(
    svc: &Services,
    _grant: &SystemGrant,
    job: &str,
    cursor: &str,
) -> Fallible<()> {
    repo::jobs::save_cursor(&svc.db(&RAW)?, job, cursor, &svc.now.to_rfc3339()).await
}

/// A project of `t` for system work, by an id read from that tenant's own rows.
pub fn system_project(t: &Tenant, id: &str, _grant: &SystemGrant) -> Fallible<ProjectHandle> {
    let id = ProjectId::parse(id).map_err(|e| Fault::internal(e.to_string()))?;
    Ok(ProjectHandle::new(t.clone(), id))
}
