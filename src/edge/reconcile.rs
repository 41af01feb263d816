//! Reconcile at the edge: reading one customer from Stripe and the app, diffing (the pure
//! `domain::reconcile`), and applying the incident plan (`domain::incidents`) to D1 with an audit
//! entry per change and a snapshot per opened incident, all in one batch on the project chain.
//! Used by `POST …/customers/{cus}/check`, the outbox drain (`check_customers`), full runs
//! (`plan_and_apply`) and the re-checks around a repair.

use super::audit::By;
use super::auth::scope::{ProjectHandle, Scoped};
use super::project_io;
use super::repo;
use super::services::Services;
use crate::domain::apikey::Environment;
use crate::domain::append::Step;
use crate::domain::audit::{Actor, Draft};
use crate::domain::ids::{IncidentId, RepairId, SnapshotId};
use crate::domain::incidents::{self, Incident};
use crate::domain::mapping::{GraceRule, Mapping};
use crate::domain::reconcile::{
    self, AppValues, ItemFacts, ProductFeatures, StripeCustomer, SubFacts,
};
use crate::domain::repairs::{self, Repair, RepairChange};
use crate::domain::runs::{Decided, Range};
use crate::fault::{Fallible, Fault};
use crate::stripe::model::Subscription;
use crate::stripe::StripeError;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The project's mapping; `409 mapping_missing` without one.
pub async fn mapping(pr: &ProjectHandle) -> Fallible<Mapping> {
    repo::mappings::get(pr)
        .await?
        .map(|(m, _)| m)
        .ok_or(Fault::MappingMissing)
}

/// What the diff needs of a Stripe subscription.
pub fn facts(s: &Subscription) -> SubFacts {
    SubFacts {
        id: s.id.clone(),
        status: s.status.clone(),
        items: s
            .items
            .data
            .iter()
            .map(|i| ItemFacts {
                price: i.price_id().map(str::to_owned),
                product: i.product_id().map(str::to_owned),
            })
            .collect(),
    }
}

/// Checks one customer now: re-reads it (subscriptions, the features of their products and,
/// when entitlements are mapped, its active entitlements) from Stripe and its row from the app
/// over the read connection, then opens, updates and resolves its incidents. Returns the
/// customer's open and ignored incidents after the check.
pub async fn check_customer(
    ctx: &Services,
    by: By<'_>,
    env: Environment,
    customer: &str,
) -> Fallible<Vec<Incident>> {
    let mut outcomes = check_customers(ctx, by, env, &[customer.to_owned()]).await?;
    outcomes
        .remove(customer)
        .unwrap_or_else(|| Err(Fault::internal("the customer was not checked")))?;
    repo::incidents::live_for_customer(by.project(), customer).await
}

/// Checks several customers (a drain of the outbox): first each is re-read from Stripe, then
/// the app rows of all of them in one read (`= ANY`, one session, one round trip). Stripe
/// first: the app state a check decides on is then never older than the Stripe state, so a
/// grant the app made in answer to a Stripe change is seen (and a Stripe change after the read
/// comes with its own event and check). The outer error stops every check (no mapping, the
/// database down); the inner ones are each customer's own (Stripe, several app rows).
pub async fn check_customers(
    ctx: &Services,
    by: By<'_>,
    env: Environment,
    customers: &[String],
) -> Fallible<BTreeMap<String, Fallible<()>>> {
    let pr = by.project();
    let m = mapping(pr).await?;
    let client = project_io::stripe(ctx, pr).await?;
    let mut stripe = Vec::with_capacity(customers.len());
    for customer in customers {
        stripe.push(read_stripe(&m, &client, customer).await);
    }
    let session = project_io::read_session(ctx, pr, env)
        .await?
        .map_err(Fault::from)?;
    let columns = m.value_columns();
    let rows = session
        .rows_by_keys(
            &m.table,
            &m.customer_column,
            &columns,
            std::slice::from_ref(&m.plan_column),
            customers,
        )
        .await
        .map_err(Fault::from)?;
    let mut by_key: BTreeMap<&str, Vec<&reconcile::AppValues>> = BTreeMap::new();
    for r in &rows {
        by_key.entry(r.key.as_str()).or_default().push(&r.values);
    }
    let mut out = BTreeMap::new();
    for (customer, side) in customers.iter().zip(stripe) {
        let found = by_key.get(customer.as_str()).map_or(&[][..], Vec::as_slice);
        let outcome = match side {
            Ok((side, features)) => decide_one(ctx, by, &m, customer, side, &features, found).await,
            Err(e) => Err(e),
        };
        out.insert(customer.clone(), outcome);
    }
    Ok(out)
}

/// What Stripe says of one customer now (`None`: no such customer), with the features of the
/// products its subscriptions bill.
pub async fn read_stripe(
    m: &Mapping,
    client: &crate::stripe::StripeClient<super::connectors::WorkerHttp>,
    customer: &str,
) -> Fallible<(Option<StripeCustomer>, ProductFeatures)> {
    let mut features = ProductFeatures::new();
    if client
        .customer(customer)
        .await
        .map_err(Fault::from)?
        .is_none()
    {
        return Ok((None, features));
    }
    let subs = client
        .subscriptions_of(customer)
        .await
        .map_err(Fault::from)?;
    let active_entitlements = if m.entitlements.is_empty() {
        None
    } else {
        match client.active_entitlements(customer).await {
            Ok(list) => Some(list.into_iter().map(|e| e.lookup_key).collect()),
            // A Stripe API without the Entitlements endpoint (localstripe): none known.
            Err(StripeError::Client(404)) => None,
            Err(e) => return Err(e.into()),
        }
    };
    let subscriptions: Vec<SubFacts> = subs.iter().map(facts).collect();
    // The features of the products the customer's subscriptions bill, as a full run reads them,
    // so a check and a run decide the same way.
    if !m.entitlements.is_empty() {
        let products: std::collections::BTreeSet<&str> = subscriptions
            .iter()
            .flat_map(|s| s.items.iter().filter_map(|i| i.product.as_deref()))
            .collect();
        for p in products {
            let keys = client
                .product_features(p)
                .await
                .map_err(Fault::from)?
                .unwrap_or_default();
            features.insert(p.to_owned(), keys.into_iter().collect());
        }
    }
    let side = StripeCustomer {
        subscriptions,
        active_entitlements,
    };
    Ok((Some(side), features))
}

/// Decides one customer of `check_customers` from what was read, and applies the plan.
async fn decide_one(
    ctx: &Services,
    by: By<'_>,
    m: &Mapping,
    customer: &str,
    stripe_side: Option<StripeCustomer>,
    features: &ProductFeatures,
    rows: &[&reconcile::AppValues],
) -> Fallible<()> {
    if rows.len() > 1 {
        // Which row grants access is ambiguous: decide nothing (a full run skips it too).
        return Err(Fault::DuplicateAppRows);
    }
    let app_values = rows.first().map(|v| (*v).clone());
    let expected = stripe_side
        .as_ref()
        .map(|s| reconcile::expected(m, s, features));
    let actual = app_values.as_ref().map(|v| reconcile::actual(m, v));
    let drifts = reconcile::diff(m, customer, expected.as_ref(), actual.as_ref());
    let snapshot = Snapshot {
        stripe: stripe_side,
        app: app_values,
    };
    apply(ctx, by, m, customer, &drifts, &snapshot).await?;
    Ok(())
}

/// The states a check decided on: kept with each incident it opens, and what repairs are
/// suggested from.
pub struct Snapshot {
    pub stripe: Option<StripeCustomer>,
    pub app: Option<AppValues>,
}

impl Snapshot {
    /// A subscription of the customer is in a `keep` grace state.
    fn in_keep(&self, m: &Mapping) -> bool {
        self.stripe.as_ref().is_some_and(|s| {
            s.subscriptions
                .iter()
                .any(|sub| m.grace.rule(&sub.status) == GraceRule::Keep)
        })
    }
}

/// What one check does to one customer: its incident changes, the repairs that follow them,
/// and the unchanged incidents that got a repair (their `repair_id` moves).
struct CustomerPlan<'a> {
    incidents: Vec<incidents::Change>,
    repairs: Vec<RepairChange>,
    links: Vec<(Incident, Incident)>,
    snapshot: &'a Snapshot,
}

impl CustomerPlan<'_> {
    fn len(&self) -> usize {
        self.incidents.len() + self.repairs.len() + self.links.len()
    }
}

/// Plans one customer against its live incidents and the repairs they name.
#[allow(clippy::too_many_arguments)]
fn plan_customer<'a>(
    ctx: &Services,
    m: &Mapping,
    existing: &[Incident],
    latest: &BTreeMap<String, Repair>,
    drifts: &[reconcile::Drift],
    snapshot: &'a Snapshot,
    incident_ids: &mut impl FnMut() -> String,
) -> CustomerPlan<'a> {
    let now = ctx.now;
    let mut changes = incidents::plan(existing, drifts, now, &mut *incident_ids);
    let rctx = repairs::Context {
        mapping: m,
        row: snapshot.app.as_ref(),
        in_keep: snapshot.in_keep(m),
        now,
    };
    let repair_id = || {
        RepairId::generate(&mut ctx.rng())
            .map(|i| i.to_string())
            .unwrap_or_default()
    };
    let (repairs, links) = repairs::follow(&rctx, existing, &mut changes, latest, repair_id);
    CustomerPlan {
        incidents: changes,
        repairs,
        links,
        snapshot,
    }
}

fn by_id(repairs: Vec<Repair>) -> BTreeMap<String, Repair> {
    repairs.into_iter().map(|r| (r.id.clone(), r)).collect()
}

/// Applies the plan for one customer's drifts under the project chain: the customer's open and
/// ignored incidents (and the repairs they name) are read after the chain head, so a concurrent
/// ignore, approval or check makes this run again from fresh state (an ignore is never lost or
/// undone, a repair never withdrawn once approved).
pub async fn apply(
    ctx: &Services,
    by: By<'_>,
    m: &Mapping,
    customer: &str,
    drifts: &[reconcile::Drift],
    snapshot: &Snapshot,
) -> Fallible<Vec<incidents::Change>> {
    let (now, pr, actor) = (ctx.now, by.project(), by.actor());
    by.retrying(now, || async {
        let existing = repo::incidents::live_for_customer(pr, customer).await?;
        let latest = if existing.iter().any(|i| i.repair_id.is_some()) {
            by_id(repo::repairs::named_by_customer(pr, customer).await?)
        } else {
            BTreeMap::new()
        };
        let mut ids = fresh_ids(ctx, drifts.len())?;
        let mut next = || ids.next().unwrap_or_default();
        let plan = plan_customer(ctx, m, &existing, &latest, drifts, snapshot, &mut next);
        if plan.len() == 0 {
            return Ok(Step::Done(Vec::new()));
        }
        let (drafts, stmts) = statements(ctx, pr, &actor, std::slice::from_ref(&plan))?;
        Ok(Step::commit(drafts, stmts, plan.incidents))
    })
    .await
}

fn fresh_ids(ctx: &Services, n: usize) -> Fallible<std::vec::IntoIter<String>> {
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n {
        ids.push(IncidentId::generate(&mut ctx.rng())?.to_string());
    }
    Ok(ids.into_iter())
}

/// The audit drafts and D1 statements of planned changes: an entry per incident change, an
/// insert and a snapshot per opened incident, an update per changed one; an entry and an
/// insert or a transition per repair change; an update per incident linked to a new repair.
fn statements(
    ctx: &Services,
    pr: &ProjectHandle,
    actor: &Actor,
    plans: &[CustomerPlan<'_>],
) -> Fallible<(Vec<Draft>, Vec<Scoped>)> {
    let mut drafts = Vec::new();
    let mut stmts = Vec::new();
    for plan in plans {
        for c in &plan.incidents {
            let after = c.after();
            drafts.push(Draft::new(
                actor.clone(),
                c.action(),
                format!("incident:{}", after.id),
                c.before().map_or(Value::Null, view),
                view(after),
            ));
            match c.before() {
                None => {
                    stmts.push(repo::incidents::insert(pr, after)?);
                    let sid = SnapshotId::generate(&mut ctx.rng())?.to_string();
                    stmts.push(repo::incidents::snapshot(
                        pr,
                        &sid,
                        after,
                        &capped(&json!(plan.snapshot.stripe)),
                        &capped(&json!(plan.snapshot.app)),
                    )?);
                }
                Some(before) => stmts.push(repo::incidents::update(pr, before, after)?),
            }
        }
        for (before, after) in &plan.links {
            stmts.push(repo::incidents::update(pr, before, after)?);
        }
        for rc in &plan.repairs {
            let after = rc.after();
            if after.id.is_empty() {
                return Err(Fault::internal("no randomness for a repair id"));
            }
            let before = match rc {
                RepairChange::Created(r) => {
                    stmts.push(repo::repairs::insert(pr, r)?);
                    Value::Null
                }
                RepairChange::Withdrawn { before, after } => {
                    stmts.extend(repo::repairs::transition(pr, before, after)?);
                    json!(before)
                }
            };
            drafts.push(Draft::new(
                actor.clone(),
                rc.action(),
                format!("repair:{}", after.id),
                before,
                json!(after),
            ));
        }
    }
    Ok((drafts, stmts))
}

/// The most of one side's state a snapshot keeps (a customer with hundreds of subscriptions
/// must not make one D1 row, or one batch, huge).
const SNAPSHOT_MAX_BYTES: usize = 32 * 1024;

fn capped(v: &Value) -> Value {
    let bytes = v.to_string().len();
    if bytes <= SNAPSHOT_MAX_BYTES {
        v.clone()
    } else {
        json!({"truncated": true, "bytes": bytes})
    }
}

/// Changes committed per batch when a run applies a range (each with its audit entry).
const CHANGES_PER_BATCH: usize = 100;

/// What applying a range changed.
#[derive(Debug, Default, Clone, Copy)]
pub struct Applied {
    pub opened: u64,
    pub resolved: u64,
}

/// Applies the plans of every customer a run decided in `range`, against the live incidents of
/// the range (and the repairs they name) as read after the chain head, whole customers at a
/// time, about `CHANGES_PER_BATCH` changes a batch. Each batch re-plans from what the previous
/// ones committed, so repeating this (a step retried after a crash) opens nothing twice.
/// Customers whose incidents appeared in the range after the run decided it are left to the
/// next check.
pub async fn plan_and_apply(
    ctx: &Services,
    by: By<'_>,
    m: &Mapping,
    range: &Range,
    decided: &BTreeMap<String, Decided>,
    counted: &dyn Fn(Applied) -> Fallible<Scoped>,
) -> Fallible<Applied> {
    let (now, pr, actor) = (ctx.now, by.project(), by.actor());
    let snapshots: BTreeMap<&str, Snapshot> = decided
        .iter()
        .map(|(c, d)| {
            let s = Snapshot {
                stripe: d.stripe.clone(),
                app: d.app.clone(),
            };
            (c.as_str(), s)
        })
        .collect();
    let drift_count = decided.values().map(|d| d.drifts.len()).sum();
    let mut total = Applied::default();
    // Each batch commits at least one customer's changes and a re-plan never repeats a
    // committed one, so this ends; the bound only guards against a bug looping forever.
    for _ in 0..=(decided.len() + 2) {
        let (applied, more) = by
            .retrying(now, || async {
                let existing =
                    repo::incidents::live_in_range(pr, &range.after, range.upto.as_deref()).await?;
                let latest = if existing.iter().any(|i| i.repair_id.is_some()) {
                    by_id(
                        repo::repairs::named_in_range(pr, &range.after, range.upto.as_deref())
                            .await?,
                    )
                } else {
                    BTreeMap::new()
                };
                let mut ids = fresh_ids(ctx, drift_count)?;
                let mut next = || ids.next().unwrap_or_default();
                let mut plans = Vec::new();
                let mut size = 0;
                let mut more = false;
                for (customer, d) in decided {
                    let mine: Vec<_> = existing
                        .iter()
                        .filter(|i| &i.customer == customer)
                        .cloned()
                        .collect();
                    let snapshot = snapshots
                        .get(customer.as_str())
                        .ok_or_else(|| Fault::internal("a planned customer has no snapshot"))?;
                    let plan =
                        plan_customer(ctx, m, &mine, &latest, &d.drifts, snapshot, &mut next);
                    if plan.len() == 0 {
                        continue;
                    }
                    if size >= CHANGES_PER_BATCH {
                        more = true;
                        break;
                    }
                    size += plan.len();
                    plans.push(plan);
                }
                if plans.is_empty() {
                    return Ok::<_, Fault>(Step::Done((Applied::default(), false)));
                }
                let mut applied = Applied::default();
                for c in plans.iter().flat_map(|p| &p.incidents) {
                    match c {
                        incidents::Change::Opened(_) => applied.opened += 1,
                        incidents::Change::Resolved { .. } => applied.resolved += 1,
                        incidents::Change::Updated { .. } => {}
                    }
                }
                let (drafts, mut stmts) = statements(ctx, pr, &actor, &plans)?;
                stmts.push(counted(applied)?);
                Ok(Step::commit(drafts, stmts, (applied, more)))
            })
            .await?;
        total.opened += applied.opened;
        total.resolved += applied.resolved;
        if !more {
            return Ok(total);
        }
    }
    Err(Fault::internal("applying a range did not settle"))
}

/// The API and audit view of an incident (SPEC §15 fields).
pub fn view(i: &Incident) -> Value {
    json!(i)
}
