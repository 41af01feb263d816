//! What a check (one customer) or a run step (a key range) does to the incidents and repairs of
//! the customers it decided: planned against what is live, read after the chain head
//! (`plan_batch`, pure), and committed through one port, `IncidentBook` (D1 and the project
//! chain at the edge), tested here with an in-memory fake.
//!
//! Every batch is planned again from a fresh read when the chain moved, and a range is applied
//! in batches of whole customers, each planned from what the previous ones committed, so
//! repeating the work (a step retried after a crash) opens nothing twice; an ignore, an approval
//! or another check racing it is never lost or undone.

use super::incidents::{self, Change, Incident};
use super::mapping::{GraceRule, Mapping};
use super::repairs::{self, Repair, RepairChange};
use super::runs::{Decided, Range};
use super::time::Timestamp;
use std::collections::BTreeMap;

impl Decided {
    /// A subscription of the customer is in a `keep` grace state.
    pub fn in_keep(&self, m: &Mapping) -> bool {
        self.stripe.as_ref().is_some_and(|s| {
            s.subscriptions
                .iter()
                .any(|sub| m.grace.rule(&sub.status) == GraceRule::Keep)
        })
    }
}

/// What one check does to one customer: its incident changes, the repairs that follow them,
/// and the unchanged incidents that got a repair (their `repair_id` moves), with what was
/// decided (its Stripe and app states are kept with each incident it opens).
#[derive(Debug)]
pub struct CustomerPlan<'a> {
    pub decided: &'a Decided,
    pub incidents: Vec<Change>,
    pub repairs: Vec<RepairChange>,
    pub links: Vec<(Incident, Incident)>,
}

impl CustomerPlan<'_> {
    /// Changes it makes (each is a statement and most an audit entry).
    pub fn len(&self) -> usize {
        self.incidents.len() + self.repairs.len() + self.links.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What is live where a batch is planned, read after the chain head: the open and ignored
/// incidents, and the repairs they name (by id).
#[derive(Debug, Clone, Default)]
pub struct Live {
    pub incidents: Vec<Incident>,
    pub repairs: BTreeMap<String, Repair>,
}

/// How many incidents a batch opened and resolved.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    pub opened: u64,
    pub resolved: u64,
}

/// One batch: whole customers' plans, what they open and resolve, and whether customers with
/// changes were left for the next batch.
#[derive(Debug)]
pub struct Batch<'a> {
    pub plans: Vec<CustomerPlan<'a>>,
    pub applied: Applied,
    pub more: bool,
}

/// Names for what a plan creates.
pub struct Ids<'i> {
    pub incident: &'i mut dyn FnMut() -> String,
    pub repair: &'i mut dyn FnMut() -> String,
}

/// Plans one customer against its live incidents and the repairs they name.
pub fn plan_customer<'a>(
    m: &Mapping,
    existing: &[Incident],
    latest: &BTreeMap<String, Repair>,
    decided: &'a Decided,
    now: Timestamp,
    ids: &mut Ids<'_>,
) -> CustomerPlan<'a> {
    let mut changes = incidents::plan(existing, &decided.drifts, now, &mut *ids.incident);
    let rctx = repairs::Context {
        mapping: m,
        row: decided.app.as_ref(),
        in_keep: decided.in_keep(m),
        now,
    };
    let (repairs, links) = repairs::follow(&rctx, existing, &mut changes, latest, &mut *ids.repair);
    CustomerPlan {
        decided,
        incidents: changes,
        repairs,
        links,
    }
}

/// Plans `decided` (customer, what was decided) in order against `live`, whole customers at a
/// time, until the batch holds `max_changes` or more: customers with nothing to change are
/// passed over, and `more` says whether any with changes were left out.
pub fn plan_batch<'a>(
    m: &Mapping,
    decided: &[(&str, &'a Decided)],
    live: &Live,
    now: Timestamp,
    ids: &mut Ids<'_>,
    max_changes: usize,
) -> Batch<'a> {
    let mut batch = Batch {
        plans: Vec::new(),
        applied: Applied::default(),
        more: false,
    };
    let mut size = 0;
    for (customer, d) in decided {
        let mine: Vec<Incident> = live
            .incidents
            .iter()
            .filter(|i| i.customer == *customer)
            .cloned()
            .collect();
        let plan = plan_customer(m, &mine, &live.repairs, d, now, ids);
        if plan.is_empty() {
            continue;
        }
        if size >= max_changes {
            batch.more = true;
            break;
        }
        size += plan.len();
        for c in &plan.incidents {
            match c {
                Change::Opened(_) => batch.applied.opened += 1,
                Change::Resolved { .. } => batch.applied.resolved += 1,
                Change::Updated { .. } => {}
            }
        }
        batch.plans.push(plan);
    }
    batch
}

/// Where a batch is planned: one customer's incidents, or a run's key range.
#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    Customer(&'a str),
    Range(&'a Range),
}

/// Applying a range did not settle: batches went on past any that can be needed (a bug).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unsettled;

/// The incidents and repairs of one project, and the audit chain they are recorded on.
#[allow(async_fn_in_trait)]
pub trait IncidentBook {
    type Error: From<Unsettled>;
    /// The clock of the unit of work (its changes are stamped with it).
    fn now(&self) -> Timestamp;
    /// `n` fresh incident ids.
    fn incident_ids(&self, n: usize) -> Result<Vec<String>, Self::Error>;
    /// A fresh repair id (empty when there is no randomness: the commit refuses it).
    fn repair_id(&self) -> String;
    /// Reads what is live in `scope` after the chain head, asks `decide` for the batch, and
    /// commits it (each change with its audit entry, each opened incident with its snapshot)
    /// in one batch; decided again from a fresh read when the chain moved. A batch without
    /// plans commits nothing. Answers the batch committed.
    async fn commit<'d>(
        &self,
        scope: Scope<'_>,
        decide: &dyn Fn(&Live) -> Result<Batch<'d>, Self::Error>,
    ) -> Result<Batch<'d>, Self::Error>;
}

/// Changes committed per batch when a run applies a range (each with its audit entry).
pub const CHANGES_PER_BATCH: usize = 100;

fn decide_with<'d, B: IncidentBook>(
    book: &B,
    m: &Mapping,
    decided: &[(&str, &'d Decided)],
    live: &Live,
    max_changes: usize,
) -> Result<Batch<'d>, B::Error> {
    let n = decided.iter().map(|(_, d)| d.drifts.len()).sum();
    let mut fresh = book.incident_ids(n)?.into_iter();
    let mut incident = || fresh.next().unwrap_or_default();
    let mut repair = || book.repair_id();
    let mut ids = Ids {
        incident: &mut incident,
        repair: &mut repair,
    };
    Ok(plan_batch(
        m,
        decided,
        live,
        book.now(),
        &mut ids,
        max_changes,
    ))
}

/// Applies what a check of `customer` decided: its incident changes, in `IncidentKind` order.
pub async fn apply_customer<B: IncidentBook>(
    book: &B,
    m: &Mapping,
    customer: &str,
    decided: &Decided,
) -> Result<Vec<Change>, B::Error> {
    let one = [(customer, decided)];
    let decide = |live: &Live| decide_with(book, m, &one, live, usize::MAX);
    let batch = book.commit(Scope::Customer(customer), &decide).await?;
    Ok(batch.plans.into_iter().flat_map(|p| p.incidents).collect())
}

/// Applies what a run decided in `range`, about `CHANGES_PER_BATCH` changes a batch, each
/// planned from what the previous ones committed. Customers whose incidents appeared in the
/// range after the run decided it are planned against them, so nothing opens twice.
pub async fn apply_range<B: IncidentBook>(
    book: &B,
    m: &Mapping,
    range: &Range,
    decided: &BTreeMap<String, Decided>,
) -> Result<Applied, B::Error> {
    let list: Vec<(&str, &Decided)> = decided.iter().map(|(c, d)| (c.as_str(), d)).collect();
    let decide = |live: &Live| decide_with(book, m, &list, live, CHANGES_PER_BATCH);
    let mut total = Applied::default();
    // Each batch commits at least one customer's changes and a re-plan never repeats a
    // committed one, so this ends; the bound only guards against a bug looping forever.
    for _ in 0..=(decided.len() + 2) {
        let batch = book.commit(Scope::Range(range), &decide).await?;
        total.opened += batch.applied.opened;
        total.resolved += batch.applied.resolved;
        if !batch.more {
            return Ok(total);
        }
    }
    Err(Unsettled.into())
}

#[cfg(test)]
mod tests;
