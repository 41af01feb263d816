//! `ProjectCoordinator` Durable Object, one per project (named by project id): the one place a
//! project's background work is serialised — its full reconcile runs step by step (SPEC §6),
//! the drain of its webhook outbox (SPEC §7), its repair approvals, one per repair at a time,
//! and the automatic approval of grants (SPEC §8), and its exports step by step (SPEC §10).
//!
//! This object only receives and delegates. It takes the operations of `api::coordinator` from
//! ParityRail's edge worker (through `client`; Durable Objects have no public address), each
//! for the project it is named for only (`409` otherwise), records them in its `storage` and
//! answers `202` (an approval: the final repair, or the error rendered through `api::error`).
//! Each alarm then does one run step, one drain, a round of automatic approvals, the recovery
//! of approvals cut short and one export step (`steps`, `approvals`): the policies — retries,
//! backoff and giving up, wake generations, approval fencing, pacing — are the engines of
//! `domain::coordinator` and `domain::auto_approve`, over `storage` and the adapter's work.

use super::storage::{Storage, Target};
use super::{approvals, steps};
use crate::auth::grants::{EntryPoint, SystemGrant};
use crate::services::Services;
use parityrail_core::api::coordinator::{Approval, Assignment, ExportAssignment, ForProject, Op};
use parityrail_core::api::error::{ApiError, Relayed};
use parityrail_core::domain::coordinator::drain;
use parityrail_core::domain::coordinator::inflight::Approving;
use parityrail_core::domain::coordinator::Alarm;
use parityrail_core::fault::Fault;
use serde::de::DeserializeOwned;
use worker::{durable_object, DurableObject, Env, Method, Request, Response, Result, State};

/// How long a wake waits for more events before the outbox is drained (`WEBHOOK_COALESCE_MS`).
const WEBHOOK_COALESCE_MS: u32 = 1_000;

#[durable_object]
pub struct ProjectCoordinator {
    state: State,
    env: Env,
    /// Repairs whose approval runs in this object now: a second approval of one of them is
    /// answered `409` at once, before it reads anything.
    approving: Approving,
}

/// A failure of this object's own storage, for the platform (the alarm is tried again).
fn platform(f: Fault) -> worker::Error {
    worker::Error::RustError(f.detail().unwrap_or_else(|| f.message()))
}

fn accepted() -> Result<Response> {
    Ok(Response::empty()?.with_status(202))
}

impl DurableObject for ProjectCoordinator {
    fn new(state: State, env: Env) -> Self {
        Self {
            state,
            env,
            approving: Approving::default(),
        }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        match (req.method(), Op::of_path(&req.path())) {
            (Method::Post, Some(Op::StartRun)) => self.start_run(req).await,
            (Method::Post, Some(Op::WakeOutbox)) => self.wake_outbox(req).await,
            (Method::Post, Some(Op::WakeRepairs)) => self.wake_repairs(req).await,
            (Method::Post, Some(Op::StartExport)) => self.start_export(req).await,
            (Method::Post, Some(Op::Approve)) => self.approve(req).await,
            _ => Response::error("no such coordinator operation", 404),
        }
    }

    async fn alarm(&self) -> Result<Response> {
        let (st, grant) = (self.storage()?, self.grant());
        // Each with its own `Services` (and clock), as each began.
        let svc = || Services::new(self.env.clone());
        steps::run_step(&svc(), &grant, &st)
            .await
            .map_err(platform)?;
        steps::drain_step(&svc(), &grant, &st)
            .await
            .map_err(platform)?;
        let approving = &self.approving;
        approvals::auto_step(&svc(), &grant, &st, approving)
            .await
            .map_err(platform)?;
        approvals::recover(&svc(), &grant, &st, approving)
            .await
            .map_err(platform)?;
        steps::export_step(&svc(), &grant, &st)
            .await
            .map_err(platform)?;
        Response::ok("")
    }
}

impl ProjectCoordinator {
    fn storage(&self) -> Result<Storage> {
        Storage::open(&self.state).map_err(platform)
    }

    fn grant(&self) -> SystemGrant {
        SystemGrant::for_entry_point(EntryPoint::durable_object(&self.state))
    }

    /// The body of `req`, for this object's own project only (a refusal otherwise).
    async fn receive<T: DeserializeOwned + ForProject>(
        &self,
        mut req: Request,
        bad: &str,
    ) -> Result<std::result::Result<T, Response>> {
        let Ok(body) = req.json::<T>().await else {
            return Ok(Err(Response::error(bad, 400)?));
        };
        let ns = self.env.durable_object("PROJECT_COORDINATOR")?;
        if ns.id_from_name(body.project())? != self.state.id() {
            return Ok(Err(Response::error("not this project's coordinator", 409)?));
        }
        Ok(Ok(body))
    }

    /// `POST /runs/start`: drive the run from the next alarm, now.
    async fn start_run(&self, req: Request) -> Result<Response> {
        let a: Assignment = match self.receive(req, "bad assignment").await? {
            Ok(a) => a,
            Err(refused) => return Ok(refused),
        };
        let st = self.storage()?;
        st.start_run(&a).map_err(platform)?;
        st.mark_auto(&Target::of(&a)).map_err(platform)?;
        st.set(0).await.map_err(platform)?;
        accepted()
    }

    /// `POST /outbox/wake`: drain the outbox at the next alarm, at most `WEBHOOK_COALESCE_MS`
    /// from now: the events of a burst are drained together (one Stripe re-read per customer
    /// for all of them), and acknowledging them does not compete with a drain after each.
    async fn wake_outbox(&self, req: Request) -> Result<Response> {
        let a: Assignment = match self.receive(req, "bad assignment").await? {
            Ok(a) => a,
            Err(refused) => return Ok(refused),
        };
        let (st, t) = (self.storage()?, Target::of(&a));
        // A drain may suggest grants to approve automatically.
        st.mark_auto(&t).map_err(platform)?;
        let svc = Services::new(self.env.clone());
        let coalesce = svc.var_u32("WEBHOOK_COALESCE_MS", WEBHOOK_COALESCE_MS);
        drain::wake(&st, &t, i64::from(coalesce))
            .await
            .map_err(platform)?;
        accepted()
    }

    /// `POST /repairs/wake`: a check suggested repairs in a project that approves grants
    /// automatically.
    async fn wake_repairs(&self, req: Request) -> Result<Response> {
        let a: Assignment = match self.receive(req, "bad assignment").await? {
            Ok(a) => a,
            Err(refused) => return Ok(refused),
        };
        let st = self.storage()?;
        st.mark_auto(&Target::of(&a)).map_err(platform)?;
        st.within(0).await.map_err(platform)?;
        accepted()
    }

    /// `POST /exports/start`: write the export from the next alarm (after any started before).
    async fn start_export(&self, req: Request) -> Result<Response> {
        let a: ExportAssignment = match self.receive(req, "bad assignment").await? {
            Ok(a) => a,
            Err(refused) => return Ok(refused),
        };
        let st = self.storage()?;
        st.add_export(&a).map_err(platform)?;
        st.within(0).await.map_err(platform)?;
        accepted()
    }

    /// `POST /repairs/approve`: approves, executes and verifies one repair; `200` with the
    /// final repair, or the error as the worker renders it (relayed by the worker as it is).
    async fn approve(&self, req: Request) -> Result<Response> {
        let a: Approval = match self.receive(req, "bad approval").await? {
            Ok(a) => a,
            Err(refused) => return Ok(refused),
        };
        let (st, grant) = (self.storage()?, self.grant());
        let svc = Services::new(self.env.clone());
        match approvals::approve(&svc, &grant, &st, &self.approving, &a).await {
            Ok(view) => Response::from_json(&view),
            Err(f) => {
                let e = ApiError::from(f);
                Ok(Response::from_json(&Relayed::from(&e))?.with_status(e.status))
            }
        }
    }
}
