//! A run's steps, in the coordinator's worker: one step of the run its alarm drives (Stripe
//! pages into `Facts`, products, app ranges decided and applied in D1), and its end when the
//! coordinator gives up on it.

use super::book::{system, D1Runs, SYSTEM_JOB};
use crate::audit::By;
use crate::auth::scope::ProjectHandle;
use crate::connectors::WorkerTimer;
use crate::coordinator::storage::Facts;
use crate::project_io;
use crate::reconcile::{mapping, plan_and_apply, Applied};
use crate::repo;
use crate::services::Services;
use parityrail_core::domain::mapping::Mapping;
use parityrail_core::domain::reconcile::{AppValues, ProductFeatures, StripeCustomer};
use parityrail_core::domain::records::{self, Counts, Next, Position, Run, Stepped};
use parityrail_core::domain::run_step::{self, AppStep, Batches};
use parityrail_core::domain::runs::{
    advance, At, Decided, Phase, Range, RunSource, APP_BATCH, STRIPE_BATCH,
};
use parityrail_core::fault::{Fallible, Fault};
use parityrail_core::pg::ReadSession;
use std::collections::{BTreeMap, BTreeSet};

/// Ends a running run `failed` with `message` (the coordinator gave up on it).
pub async fn abandon(
    svc: &Services,
    pr: &ProjectHandle,
    run_id: &str,
    message: &str,
) -> Fallible<()> {
    records::abandon(
        &D1Runs {
            svc,
            by: system(pr),
        },
        run_id,
        message,
    )
    .await
}

/// Does one step of `run_id` (`domain::records::step`). A Stripe or database failure ends the
/// run `failed` with a clear error (incidents already recorded stay); an `Err` is ParityRail's
/// own failure (D1, the vault), after which the coordinator tries the same step again.
pub async fn step(
    svc: &Services,
    pr: &ProjectHandle,
    facts: &Facts,
    run_id: &str,
) -> Fallible<Next> {
    let book = D1Runs {
        svc,
        by: system(pr),
    };
    records::step(&book, run_id, |run, pos| async move {
        do_step(svc, pr, facts, &run, &pos).await
    })
    .await
}

/// A run step's reads and writes, as `domain::runs::advance` asks for them: Stripe through the
/// project's client, facts in the coordinator's storage, app ranges decided and applied in D1.
struct Source<'a> {
    svc: &'a Services,
    pr: &'a ProjectHandle,
    facts: &'a Facts,
    run: &'a Run,
    pos: &'a Position,
    client: parityrail_core::stripe::StripeClient<crate::connectors::WorkerHttp>,
    /// What the app step counted (the listing steps count only Stripe requests).
    counts: std::cell::RefCell<Counts>,
}

impl RunSource for Source<'_> {
    type Error = Fault;

    async fn subscriptions_page(&self, cursor: Option<&str>) -> Fallible<Option<String>> {
        let page = self.client.subscriptions_page(None, cursor).await?;
        self.facts.put_subscriptions(&self.run.id, &page.data)?;
        Ok(page.next)
    }

    async fn customers_page(&self, cursor: Option<&str>) -> Fallible<Option<String>> {
        let page = self.client.customers_page(cursor).await?;
        let ids: Vec<&str> = page
            .data
            .iter()
            .filter(|c| !c.deleted)
            .map(|c| c.id.as_str())
            .collect();
        self.facts.put_customers(&self.run.id, &ids)?;
        Ok(page.next)
    }

    async fn product_after(&self, after: &str) -> Fallible<Option<String>> {
        self.facts.product_after(&self.run.id, after)
    }

    async fn features(&self, product: &str) -> Fallible<()> {
        let keys = self
            .client
            .product_features(product)
            .await?
            .unwrap_or_default();
        self.facts.put_features(&self.run.id, product, &keys)
    }

    async fn handed(&self, phase: Phase, cursor: &str) -> Fallible<(bool, usize)> {
        if self.facts.cursor_repeats(&self.run.id, phase, cursor)? {
            return Ok((true, 0));
        }
        Ok((false, self.facts.cursor_count(&self.run.id, phase)?))
    }

    async fn app_range(&self, cursor: Option<&str>) -> Fallible<Option<String>> {
        // The step's position is the run's own (`advance` is asked at `pos`).
        debug_assert_eq!(cursor, self.pos.cursor.as_deref());
        let (upto, counts) = app_step(self.svc, self.pr, self.facts, self.run, self.pos).await?;
        *self.counts.borrow_mut() = counts;
        Ok(upto)
    }
}

async fn do_step(
    svc: &Services,
    pr: &ProjectHandle,
    facts: &Facts,
    run: &Run,
    pos: &Position,
) -> Fallible<Stepped> {
    let src = Source {
        svc,
        pr,
        facts,
        run,
        pos,
        client: project_io::stripe(svc, pr).await?,
        counts: Default::default(),
    };
    let here = At {
        phase: pos.phase,
        cursor: pos.cursor.clone(),
    };
    let next = advance(&src, &here, MAX_PAGES_PER_PHASE).await?;
    let (client, mut counts) = (src.client, src.counts.into_inner());
    counts.stripe_requests += u64::from(client.requests());
    Ok(Stepped {
        next,
        counts,
        notes: facts.take_notes(),
    })
}

/// The most pages one listing phase may take (as one `StripeClient` walk may).
const MAX_PAGES_PER_PHASE: usize = parityrail_core::stripe::MAX_PAGES as usize;

/// One `app` step (`domain::run_step::app_step`): a keyset read of the app table, the Stripe
/// customers of the same range from `Facts`, the live incidents there from D1; decided and
/// applied. `None`: the key space is done.
async fn app_step(
    svc: &Services,
    pr: &ProjectHandle,
    facts: &Facts,
    run: &Run,
    pos: &Position,
) -> Fallible<(Option<String>, Counts)> {
    let m = mapping(pr).await?;
    let project = repo::projects::of_handle(pr)
        .await?
        .ok_or(Fault::ProjectGone)?;
    let session = project_io::read_session(svc, pr, project.environment)
        .await?
        .map_err(Fault::from)?;
    let batches = Batches::new(
        svc.var_u32("RUN_APP_BATCH", APP_BATCH),
        svc.var_u32("RUN_STRIPE_BATCH", STRIPE_BATCH),
    );
    let step = AppRead {
        svc,
        pr,
        facts,
        run,
        pos,
        m: &m,
        session,
        since: run.started_at.to_rfc3339(),
    };
    let after = pos.cursor.clone().unwrap_or_default();
    let done = run_step::app_step(&step, &m, &after, batches).await?;
    // Fault injection for the crash-retry test only (RUN_FAULT_CRASH_AFTER_APPLY=1, in the e2e
    // build): the step's incident changes are committed, then the step dies before it records
    // itself, once.
    #[cfg(feature = "fault-hooks")]
    if svc.var("RUN_FAULT_CRASH_AFTER_APPLY").as_deref() == Some("1")
        && facts.first_time("crash_after_apply")?
    {
        return Err(Fault::internal("injected crash after apply"));
    }
    Ok(done)
}

/// An `app` step's reads and writes: the app table through the read session, the run's facts,
/// D1's incidents, the incident book.
struct AppRead<'a> {
    svc: &'a Services,
    pr: &'a ProjectHandle,
    facts: &'a Facts,
    run: &'a Run,
    pos: &'a Position,
    m: &'a Mapping,
    session: ReadSession<WorkerTimer>,
    /// When the run started (RFC 3339).
    since: String,
}

impl AppStep for AppRead<'_> {
    type Error = Fault;

    async fn rows_after(&self, after: &str, limit: u32) -> Fallible<Vec<(String, AppValues)>> {
        let m = self.m;
        let rows = self
            .session
            .rows_after(
                &m.table,
                &m.customer_column,
                &m.value_columns(),
                std::slice::from_ref(&m.plan_column),
                after,
                limit,
            )
            .await
            .map_err(Fault::from)?;
        Ok(rows.into_iter().map(|r| (r.key, r.values)).collect())
    }

    async fn customers_after(&self, after: &str, limit: u32) -> Fallible<Vec<String>> {
        self.facts.customers_after(&self.run.id, after, limit)
    }

    async fn stripe_customers(
        &self,
        ids: &[String],
        range: &Range,
    ) -> Fallible<BTreeMap<String, StripeCustomer>> {
        self.facts
            .stripe_customers(&self.run.id, ids, |c| range.contains(c))
    }

    async fn features(&self) -> Fallible<ProductFeatures> {
        self.facts.features(&self.run.id)
    }

    async fn with_incidents(&self, range: &Range) -> Fallible<BTreeSet<String>> {
        let live =
            repo::incidents::live_in_range(self.pr, &range.after, range.upto.as_deref()).await?;
        Ok(live.into_iter().map(|i| i.customer).collect())
    }

    async fn touched_since_start(&self, range: &Range) -> Fallible<BTreeSet<String>> {
        let upto = range.upto.as_deref();
        repo::incidents::touched_since(self.pr, &range.after, upto, &self.since).await
    }

    async fn apply(&self, range: &Range, decided: &BTreeMap<String, Decided>) -> Fallible<()> {
        let (pr, run, step) = (self.pr, &self.run.id, self.pos.step);
        let by = By::System {
            project: pr,
            job: SYSTEM_JOB,
        };
        // Each batch of incident changes counts itself (guarded by this step's number).
        let count =
            |a: Applied| repo::runs::add_incident_counts(pr, run, step, a.opened, a.resolved);
        plan_and_apply(self.svc, by, self.m, range, decided, &count).await?;
        Ok(())
    }

    fn note(&self, message: String) {
        self.facts.note(message);
    }
}
