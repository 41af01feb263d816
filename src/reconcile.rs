//! Reconcile, in both workers: reading one customer from Stripe and the app, diffing (the pure
//! `domain::reconcile`), and committing what `domain::checks` plans to D1 (`D1Incidents`) with
//! an audit entry per change and a snapshot per opened incident, one batch on the project chain.
//! Used by `POST …/customers/{cus}/check` (the edge), and in the coordinator's worker by the
//! outbox drain (`check_customers`), full runs (`plan_and_apply`) and the re-checks around a
//! repair.

use super::audit::By;
use super::auth::scope::{ProjectHandle, Scoped};
use super::project_io;
use super::repo;
use super::services::Services;
use parityrail_core::domain::apikey::Environment;
use parityrail_core::domain::append::Step;
use parityrail_core::domain::audit::{Actor, Draft};
#[cfg(feature = "edge")]
pub use parityrail_core::domain::check_entries::view;
use parityrail_core::domain::check_entries::{self, capped};
pub use parityrail_core::domain::checks::Applied;
use parityrail_core::domain::checks::{self, Batch, CustomerPlan, IncidentBook, Live, Scope};
use parityrail_core::domain::ids::{IncidentId, RepairId, SnapshotId};
use parityrail_core::domain::incidents::Incident;
use parityrail_core::domain::mapping::Mapping;
use parityrail_core::domain::reconcile::{self, ProductFeatures, StripeCustomer, SubFacts};
use parityrail_core::domain::repairs::RepairChange;
use parityrail_core::domain::runs::Decided;
#[cfg(feature = "coordinator")]
use parityrail_core::domain::runs::Range;
use parityrail_core::domain::time::Timestamp;
use parityrail_core::fault::{Fallible, Fault};
use parityrail_core::stripe::model::Subscription;
use parityrail_core::stripe::StripeError;
use serde_json::json;
use std::collections::BTreeMap;

/// The project's mapping; `409 mapping_missing` without one.
pub async fn mapping(pr: &ProjectHandle) -> Fallible<Mapping> {
    repo::mappings::get(pr)
        .await?
        .map(|(m, _)| m)
        .ok_or(Fault::MappingMissing)
}

/// Checks one customer now: re-reads it (subscriptions, the features of their products and,
/// when entitlements are mapped, its active entitlements) from Stripe and its row from the app
/// over the read connection, then opens, updates and resolves its incidents. Returns the
/// customer's open and ignored incidents after the check.
pub async fn check_customer(
    svc: &Services,
    by: By<'_>,
    env: Environment,
    customer: &str,
) -> Fallible<Vec<Incident>> {
    let mut outcomes = check_customers(svc, by, env, &[customer.to_owned()]).await?;
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
    svc: &Services,
    by: By<'_>,
    env: Environment,
    customers: &[String],
) -> Fallible<BTreeMap<String, Fallible<()>>> {
    let pr = by.project();
    let m = mapping(pr).await?;
    let client = project_io::stripe(svc, pr).await?;
    let mut stripe = Vec::with_capacity(customers.len());
    for customer in customers {
        stripe.push(read_stripe(&m, &client, customer).await);
    }
    let session = project_io::read_session(svc, pr, env)
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
            Ok((side, features)) => decide_one(svc, by, &m, customer, side, &features, found).await,
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
    client: &parityrail_core::stripe::StripeClient<super::connectors::WorkerHttp>,
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
    let subscriptions: Vec<SubFacts> = subs.iter().map(Subscription::facts).collect();
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
    svc: &Services,
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
    let decided = Decided {
        drifts: reconcile::diff(m, customer, expected.as_ref(), actual.as_ref()),
        stripe: stripe_side,
        app: app_values,
    };
    let book = D1Incidents {
        svc,
        by,
        counted: None,
    };
    checks::apply_customer(&book, m, customer, &decided).await?;
    Ok(())
}

/// The incidents and repairs of one project in D1, on its audit chain
/// (`domain::checks::IncidentBook`), changed by `by`; a run step's batches also add their
/// counts to the run (`counted`).
struct D1Incidents<'a> {
    svc: &'a Services,
    by: By<'a>,
    counted: Option<&'a dyn Fn(Applied) -> Fallible<Scoped>>,
}

impl IncidentBook for D1Incidents<'_> {
    type Error = Fault;

    fn now(&self) -> Timestamp {
        self.svc.now
    }

    fn incident_ids(&self, n: usize) -> Fallible<Vec<String>> {
        let mut ids = Vec::with_capacity(n);
        for _ in 0..n {
            ids.push(IncidentId::generate(&mut self.svc.rng())?.to_string());
        }
        Ok(ids)
    }

    fn repair_id(&self) -> String {
        RepairId::generate(&mut self.svc.rng())
            .map(|i| i.to_string())
            .unwrap_or_default()
    }

    async fn commit<'d>(
        &self,
        scope: Scope<'_>,
        decide: &dyn Fn(&Live) -> Fallible<Batch<'d>>,
    ) -> Fallible<Batch<'d>> {
        let (pr, actor) = (self.by.project(), self.by.actor());
        self.by
            .retrying(self.svc.now, || async {
                let live = live(pr, scope).await?;
                let batch = decide(&live)?;
                if batch.plans.is_empty() {
                    return Ok(Step::Done(batch));
                }
                let (drafts, mut stmts) = statements(self.svc, pr, &actor, &batch.plans)?;
                if let Some(counted) = self.counted {
                    stmts.push(counted(batch.applied)?);
                }
                Ok(Step::commit(drafts, stmts, batch))
            })
            .await
    }
}

/// The open and ignored incidents of `scope` and the repairs they name, read after the chain
/// head (so a concurrent ignore, approval or check makes the batch be decided again).
async fn live(pr: &ProjectHandle, scope: Scope<'_>) -> Fallible<Live> {
    let incidents = match scope {
        Scope::Customer(c) => repo::incidents::live_for_customer(pr, c).await?,
        Scope::Range(r) => repo::incidents::live_in_range(pr, &r.after, r.upto.as_deref()).await?,
    };
    let repairs = if !incidents.iter().any(|i| i.repair_id.is_some()) {
        Vec::new()
    } else {
        match scope {
            Scope::Customer(c) => repo::repairs::named_by_customer(pr, c).await?,
            Scope::Range(r) => {
                repo::repairs::named_in_range(pr, &r.after, r.upto.as_deref()).await?
            }
        }
    };
    Ok(Live {
        incidents,
        repairs: repairs.into_iter().map(|r| (r.id.clone(), r)).collect(),
    })
}

/// The audit drafts and D1 statements of planned changes: an entry per incident change, an
/// insert and a snapshot per opened incident, an update per changed one; an entry and an
/// insert or a transition per repair change; an update per incident linked to a new repair.
fn statements(
    svc: &Services,
    pr: &ProjectHandle,
    actor: &Actor,
    plans: &[CustomerPlan<'_>],
) -> Fallible<(Vec<Draft>, Vec<Scoped>)> {
    let drafts = check_entries::drafts(actor, plans);
    let mut stmts = Vec::new();
    for plan in plans {
        for c in &plan.incidents {
            let after = c.after();
            match c.before() {
                None => {
                    stmts.push(repo::incidents::insert(pr, after)?);
                    stmts.extend(crate::alerts::queue(svc, pr, after)?);
                    let sid = SnapshotId::generate(&mut svc.rng())?.to_string();
                    stmts.push(repo::incidents::snapshot(
                        pr,
                        &sid,
                        after,
                        &capped(&json!(plan.decided.stripe)),
                        &capped(&json!(plan.decided.app)),
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
            match rc {
                RepairChange::Created(r) => stmts.push(repo::repairs::insert(pr, r)?),
                RepairChange::Withdrawn { before, after } => {
                    stmts.extend(repo::repairs::transition(pr, before, after)?)
                }
            }
        }
    }
    Ok((drafts, stmts))
}

/// Applies the plans of every customer a run decided in `range` (a run's step, in the
/// coordinator's worker)
/// (`domain::checks::apply_range`), each batch adding its counts to the run (`counted`, in the
/// same batch).
#[cfg(feature = "coordinator")]
pub async fn plan_and_apply(
    svc: &Services,
    by: By<'_>,
    m: &Mapping,
    range: &Range,
    decided: &BTreeMap<String, Decided>,
    counted: &dyn Fn(Applied) -> Fallible<Scoped>,
) -> Fallible<Applied> {
    let book = D1Incidents {
        svc,
        by,
        counted: Some(counted),
    };
    checks::apply_range(&book, m, range, decided).await
}
