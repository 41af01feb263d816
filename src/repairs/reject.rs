//! Rejecting a repair, at the edge.

use crate::audit::By;
use crate::repo;
use crate::services::Services;
use parityrail_core::domain::append::Step;
use parityrail_core::domain::audit::{Action, Draft};
use parityrail_core::domain::repairs::{Repair, RepairStatus};
use parityrail_core::fault::{Fallible, Fault, RepairRefusal};
use serde_json::json;

/// Rejects a pending repair with a reason, as the caller (`POST …/repairs/{rid}/reject`).
pub async fn reject(svc: &Services, by: By<'_>, rid: &str, reason: &str) -> Fallible<Repair> {
    let (pr, actor, now) = (by.project(), by.actor(), svc.now);
    by.retrying(now, || async {
        let before = repo::repairs::get(pr, rid)
            .await?
            .ok_or(Fault::NotFound("repair"))?;
        if before.status != RepairStatus::Pending {
            return Err(RepairRefusal::NotPending(before.status.as_str()).into());
        }
        let mut after = before.moved(RepairStatus::Rejected, now);
        after.reason = Some(reason.to_owned());
        let stmts = repo::repairs::transition(pr, &before, &after)?;
        let draft = Draft::new(
            actor.clone(),
            Action::RepairRejected,
            format!("repair:{rid}"),
            json!(before),
            json!(after),
        );
        Ok(Step::commit(vec![draft], stmts, after))
    })
    .await
}
