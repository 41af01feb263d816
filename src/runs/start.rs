//! Starting a run, at the edge (the API and the cron): recorded, then handed to the project's
//! coordinator.

use super::book::D1Runs;
use crate::audit::By;
use crate::reconcile::mapping;
use crate::repo;
use crate::services::Services;
use parityrail_core::domain::credentials::Kind;
use parityrail_core::domain::ids::RunId;
use parityrail_core::domain::records::{self, Run, RunTrigger};
use parityrail_core::fault::{Fallible, Fault};
use std::collections::BTreeSet;

/// A run that `start` refused for now, for a reason that stands until the next tick (one is
/// going, the project is not configured for runs, the chain was contended): the cron passes
/// over it quietly. These are every refusal `start` can make for the system (a caller's
/// re-check is not part of it); anything else is a failure the cron reports.
pub fn not_now(e: &Fault) -> bool {
    matches!(e, Fault::RunInProgress(_) | Fault::AuditContention) || e.needs_a_person()
}

/// Starts a full run of the project (`domain::records::start`): records it (`running`, audited
/// as `run.started`) and hands it to the project's coordinator. `409 run_in_progress` (with
/// `run_id`) while one is going; `409 mapping_missing` / `integration_missing` when it could
/// not run at all.
pub async fn start(svc: &Services, by: By<'_>, trigger: RunTrigger) -> Fallible<Run> {
    let pr = by.project();
    mapping(pr).await?;
    let kinds: BTreeSet<String> = repo::credentials::for_project(pr)
        .await?
        .into_iter()
        .map(|c| c.kind)
        .collect();
    for kind in [Kind::StripeApiKey, Kind::DbReadUrl] {
        if !kinds.contains(kind.as_str()) {
            return Err(Fault::IntegrationMissing(kind.what()));
        }
    }
    let id = RunId::generate(&mut svc.rng())?.to_string();
    let run = Run::new(id, trigger, svc.now);
    records::start(&D1Runs { svc, by }, &run, svc.now).await?;
    Ok(run)
}
