//! Whether alerts are on, and an incident's alert queued with the batch that opens it.

use crate::auth::scope::{ProjectHandle, Scoped};
use crate::repo;
use crate::services::Services;
use parityrail_core::domain::alerts::alerts_on;
use parityrail_core::domain::incidents::Incident;
use parityrail_core::fault::Fallible;

/// Whether alerts are on (a Resend key is configured).
pub fn on(svc: &Services) -> bool {
    svc.var("RESEND_API_KEY").is_some()
}

/// The statement queueing `i`'s alert, when it is alerted and alerts are on.
pub fn queue(svc: &Services, pr: &ProjectHandle, i: &Incident) -> Fallible<Option<Scoped>> {
    if !alerts_on(i.kind) || !on(svc) {
        return Ok(None);
    }
    repo::alerts::queue(pr, i).map(Some)
}
