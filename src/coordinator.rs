//! `ProjectCoordinator` Durable Object, one per project (named by project id): it drives the
//! project's full reconcile runs step by step (SPEC §6), drains its webhook outbox (SPEC §7),
//! runs its repair approvals (SPEC §8), one per repair at a time, approves automatic grants, and
//! writes its exports step by step. Thin by design: the logic is `edge::runs`, `edge::webhooks`,
//! `edge::repairs` and `edge::exports` (over the pure `domain` engines); this object keeps only
//! what it is driving (the run, the exports in progress, approvals in flight, whether a drain or
//! an automatic approval is wanted), schedules the next step with its alarm, and builds the same
//! `Services` the fetch and cron handlers build. Its work answers `Fault`; only its own HTTP
//! surface (the worker asking it) renders one, through `api::error`.
//!
//! Only ParityRail's own worker reaches it (Durable Objects have no public address): it takes
//! `POST /runs/start` with the run's org, project and id, checks that the project is the one it
//! is named for, and answers `202`. The alarm then does one step per invocation. A step that
//! fails on ParityRail's side (D1, the vault) is tried again with backoff; after
//! `MAX_FAILURES` in a row the run is ended `failed`, so a project is never stuck "running".

use super::exports::{self, ExportAssignment};
use super::runs::{self, Assignment, Facts, Next};
use super::services::Services;
use super::webhooks;
use super::{repairs, repo};
use crate::auth::grants::{EntryPoint, SystemGrant};
use crate::auth::system::{system_project, system_tenant};
use parityrail_core::api::error::{ApiError, Relayed};
use parityrail_core::domain::apikey::Environment;
use parityrail_core::domain::approval;
use parityrail_core::domain::exports::Progress;
use parityrail_core::domain::repairs::RepairStatus;
use parityrail_core::fault::{Fallible, Fault, RepairRefusal};
use serde::Deserialize;
use std::cell::RefCell;
use std::collections::BTreeSet;
use worker::{
    console_error, durable_object, DurableObject, Env, Method, Request, Response, Result,
    SqlStorageValue, State,
};

/// ParityRail-side failures in a row before a run is given up.
const MAX_FAILURES: i64 = 5;

/// How long a wake waits for more events before the outbox is drained.
const WEBHOOK_COALESCE_MS: u32 = 1_000;

/// How long an approval may go without its outcome recorded before `recover_step` finishes it
/// (`domain::approval::recover_after`). The shipped build holds `REPAIR_RECOVER_AFTER_MS` to
/// its floor of 2 minutes; only the e2e build (feature `fault-hooks`) may go below it.
fn recover_after(svc: &Services) -> i64 {
    let configured = svc
        .var("REPAIR_RECOVER_AFTER_MS")
        .and_then(|v| v.parse::<u32>().ok());
    let db = svc.var_u32("DB_TIMEOUT_MS", parityrail_core::pg::CONNECT_TIMEOUT_MS)
        + 2 * svc.var_u32(
            "DB_SESSION_TIMEOUT_MS",
            parityrail_core::pg::SESSION_TIMEOUT_MS,
        );
    let floor = if cfg!(feature = "fault-hooks") {
        0
    } else {
        approval::RECOVER_FLOOR_MS
    };
    i64::from(approval::recover_after(configured, db, floor))
}

/// A random token (hex) for an approval in `inflight`.
fn fresh_token() -> String {
    let mut b = [0u8; 16];
    let _ = getrandom::getrandom(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A repair's approval running in this object: in `approving` from `start` until dropped, so an
/// approval cut short (its future dropped) never blocks the repair for the object's lifetime.
struct Running<'a> {
    set: &'a RefCell<BTreeSet<String>>,
    repair: String,
}

impl<'a> Running<'a> {
    fn start(set: &'a RefCell<BTreeSet<String>>, repair: &str) -> Option<Self> {
        set.borrow_mut().insert(repair.to_owned()).then(|| Running {
            set,
            repair: repair.to_owned(),
        })
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.set.borrow_mut().remove(&self.repair);
    }
}

#[durable_object]
pub struct ProjectCoordinator {
    state: State,
    env: Env,
    /// Repairs whose approval this object is running now: a second approval of one of them is
    /// answered `409` at once, before it reads anything.
    approving: RefCell<BTreeSet<String>>,
}

#[derive(Deserialize)]
struct Current {
    org: String,
    project: String,
    run: String,
    failures: i64,
}

impl ProjectCoordinator {
    fn tables(&self) -> Result<()> {
        let sql = self.state.storage().sql();
        sql.exec(
            "CREATE TABLE IF NOT EXISTS current (one INTEGER PRIMARY KEY CHECK (one = 1), \
             org TEXT NOT NULL, project TEXT NOT NULL, run TEXT NOT NULL, failures INTEGER NOT NULL)",
            None,
        )?;
        sql.exec(
            // `drain_gen`, not the older `drain` (no `gen` column; `CREATE … IF NOT EXISTS`
            // would keep it): a wake left in the old table is re-sent by the cron.
            "CREATE TABLE IF NOT EXISTS drain_gen (one INTEGER PRIMARY KEY CHECK (one = 1), \
             org TEXT NOT NULL, project TEXT NOT NULL, gen INTEGER NOT NULL DEFAULT 0)",
            None,
        )?;
        sql.exec(
            "CREATE TABLE IF NOT EXISTS auto (one INTEGER PRIMARY KEY CHECK (one = 1), \
             org TEXT NOT NULL, project TEXT NOT NULL)",
            None,
        )?;
        // Approvals this object started and has not seen to a recorded end: an approval cut
        // short (the object reset, D1 failing) is finished by `recover_step`.
        sql.exec(
            "CREATE TABLE IF NOT EXISTS inflight (repair TEXT PRIMARY KEY, org TEXT NOT NULL, \
             project TEXT NOT NULL, environment TEXT NOT NULL, started INTEGER NOT NULL, \
             token TEXT NOT NULL)",
            None,
        )?;
        // Exports this object writes, in the order they were started, each with the engine's
        // saved progress (`domain::exports::Progress`).
        sql.exec(
            "CREATE TABLE IF NOT EXISTS exports (id TEXT PRIMARY KEY, org TEXT NOT NULL, \
             project TEXT NOT NULL, progress TEXT NOT NULL, failures INTEGER NOT NULL, \
             next_at INTEGER NOT NULL DEFAULT 0)",
            None,
        )?;
        Ok(())
    }

    /// The project whose outbox this object drains, once woken.
    fn drain_target(&self) -> Result<Option<(String, String)>> {
        self.target("drain_gen")
    }

    /// The org and project stored in `table` (`drain_gen` or `auto`), if any.
    fn target(&self, table: &str) -> Result<Option<(String, String)>> {
        #[derive(Deserialize)]
        struct Target {
            org: String,
            project: String,
        }
        self.tables()?;
        let rows: Vec<Target> = self
            .state
            .storage()
            .sql()
            .exec(&format!("SELECT org, project FROM {table}"), None)?
            .to_array()?;
        Ok(rows.into_iter().next().map(|t| (t.org, t.project)))
    }

    /// `POST /outbox/wake`: drain the project's outbox at the next alarm, at most
    /// `WEBHOOK_COALESCE_MS` (1 s) from now: the events of a burst are drained together (one
    /// Stripe re-read per customer for all of them), and acknowledging them does not compete
    /// with a drain after every one.
    async fn wake(&self, req: Request) -> Result<Response> {
        let a = match self.assignment(req).await? {
            Ok(a) => a,
            Err(refused) => return Ok(refused),
        };
        let s = |v: &str| SqlStorageValue::String(v.to_owned());
        self.state.storage().sql().exec(
            "INSERT INTO drain_gen (one, org, project, gen) VALUES (1, ?, ?, 0) ON CONFLICT (one) \
             DO UPDATE SET org = excluded.org, project = excluded.project, gen = drain_gen.gen + 1",
            vec![s(&a.org), s(&a.project)],
        )?;
        self.mark_auto(&a.org, &a.project)?;
        let svc = Services::new(self.env.clone());
        let coalesce = svc.var_u32("WEBHOOK_COALESCE_MS", WEBHOOK_COALESCE_MS);
        self.alarm_within(i64::from(coalesce)).await?;
        Ok(Response::empty()?.with_status(202))
    }

    /// Look for pending grants to approve automatically at the next alarms (what a check, a
    /// drain or a run may have suggested).
    fn mark_auto(&self, org: &str, project: &str) -> Result<()> {
        let s = |v: &str| SqlStorageValue::String(v.to_owned());
        self.state.storage().sql().exec(
            "INSERT OR REPLACE INTO auto (one, org, project) VALUES (1, ?, ?)",
            vec![s(org), s(project)],
        )?;
        Ok(())
    }

    /// `POST /repairs/wake`: a check suggested repairs in a project that approves grants
    /// automatically.
    async fn wake_auto(&self, req: Request) -> Result<Response> {
        let a = match self.assignment(req).await? {
            Ok(a) => a,
            Err(refused) => return Ok(refused),
        };
        self.mark_auto(&a.org, &a.project)?;
        self.alarm_within(0).await?;
        Ok(Response::empty()?.with_status(202))
    }

    /// Sets the alarm `ms` from now unless it is already set sooner.
    async fn alarm_within(&self, ms: i64) -> Result<()> {
        let now = worker::Date::now().as_millis() as i64;
        let at = now + ms.max(0);
        match self.state.storage().get_alarm().await? {
            Some(existing) if existing <= at => Ok(()),
            _ => self.state.storage().set_alarm(ms.max(0)).await,
        }
    }

    fn current(&self) -> Result<Option<Current>> {
        self.tables()?;
        let rows: Vec<Current> = self
            .state
            .storage()
            .sql()
            .exec("SELECT org, project, run, failures FROM current", None)?
            .to_array()?;
        Ok(rows.into_iter().next())
    }

    fn set_failures(&self, n: i64) -> Result<()> {
        self.state.storage().sql().exec(
            "UPDATE current SET failures = ?",
            vec![SqlStorageValue::Integer(n)],
        )?;
        Ok(())
    }

    /// Forgets run `run` (ended): only if it is still the current one (a new run may have
    /// arrived while its last step waited on D1), and only its own facts.
    fn forget(&self, run: &str, facts: &Facts) -> Result<()> {
        self.state.storage().sql().exec(
            "DELETE FROM current WHERE run = ?",
            vec![SqlStorageValue::String(run.to_owned())],
        )?;
        facts.forget_run(run)
    }

    /// The assignment a request carries, for this object's own project only (a refusal
    /// otherwise); the tables exist once it returns.
    async fn assignment(
        &self,
        mut req: Request,
    ) -> Result<std::result::Result<Assignment, Response>> {
        let a: Assignment = match req.json().await {
            Ok(a) => a,
            Err(_) => return Ok(Err(Response::error("bad assignment", 400)?)),
        };
        if !self.is_named_for(&a.project)? {
            return Ok(Err(Response::error("not this project's coordinator", 409)?));
        }
        self.tables()?;
        Ok(Ok(a))
    }

    /// Whether this object is the one named for `project`.
    fn is_named_for(&self, project: &str) -> Result<bool> {
        let ns = self.env.durable_object("PROJECT_COORDINATOR")?;
        Ok(ns.id_from_name(project)? == self.state.id())
    }

    async fn start(&self, req: Request) -> Result<Response> {
        let a = match self.assignment(req).await? {
            Ok(a) => a,
            Err(refused) => return Ok(refused),
        };
        let s = |v: &str| SqlStorageValue::String(v.to_owned());
        self.state.storage().sql().exec(
            "INSERT OR REPLACE INTO current (one, org, project, run, failures) VALUES (1, ?, ?, ?, 0)",
            vec![s(&a.org), s(&a.project), s(&a.run)],
        )?;
        Facts::new(self.state.storage().sql())?.forget_except(&a.run)?;
        self.mark_auto(&a.org, &a.project)?;
        self.state.storage().set_alarm(0).await?;
        Ok(Response::empty()?.with_status(202))
    }
}

impl DurableObject for ProjectCoordinator {
    fn new(state: State, env: Env) -> Self {
        Self {
            state,
            env,
            approving: RefCell::new(BTreeSet::new()),
        }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        match (req.method(), req.path().as_str()) {
            (Method::Post, "/runs/start") => self.start(req).await,
            (Method::Post, "/outbox/wake") => self.wake(req).await,
            (Method::Post, "/repairs/approve") => self.approve(req).await,
            (Method::Post, "/repairs/wake") => self.wake_auto(req).await,
            (Method::Post, "/exports/start") => self.start_export(req).await,
            _ => Response::error("no such coordinator operation", 404),
        }
    }

    async fn alarm(&self) -> Result<Response> {
        self.run_step().await?;
        self.drain_step().await?;
        self.auto_step().await?;
        self.recover_step().await?;
        self.export_step().await?;
        Response::ok("")
    }
}

impl ProjectCoordinator {
    /// `POST /repairs/approve`: approves, executes and verifies one repair of this object's
    /// project (`edge::repairs::approve`); `200` with the final repair, or the error as the
    /// worker renders it. One approval per repair at a time: a second one while it runs is
    /// refused here, and one after it ends is refused by the repair's status in D1.
    async fn approve(&self, mut req: Request) -> Result<Response> {
        let a: repairs::Approval = match req.json().await {
            Ok(a) => a,
            Err(_) => return Response::error("bad approval", 400),
        };
        if !self.is_named_for(&a.project)? {
            return Response::error("not this project's coordinator", 409);
        }
        let svc = Services::new(self.env.clone());
        match self.approve_one(&svc, &a).await {
            Ok(view) => Response::from_json(&view),
            Err(f) => {
                // This object's HTTP surface: the worker that asked relays the error as it is.
                let e = ApiError::from(f);
                Ok(Response::from_json(&Relayed::from(&e))?.with_status(e.status))
            }
        }
    }

    /// One approval, unless one of the same repair is running in this object. Until it ends
    /// with its outcome recorded, the approval is also kept in `inflight`, with an alarm, so
    /// that an approval cut short is finished (`recover_step`).
    async fn approve_one(
        &self,
        svc: &Services,
        a: &repairs::Approval,
    ) -> Fallible<serde_json::Value> {
        let Some(_running) = Running::start(&self.approving, &a.repair) else {
            return Err(Fault::Repair(RepairRefusal::ApprovalRunning));
        };
        let token = self
            .track(a)
            .map_err(|e| Fault::internal(format!("inflight: {e}")))?;
        self.alarm_within(recover_after(svc))
            .await
            .map_err(|e| Fault::internal(format!("alarm: {e}")))?;
        // The approval stays ours while its token is the one stored: a recovery replaces it
        // first (and storage refuses an instance that was replaced).
        let still_ours =
            || self.token_of(&a.repair).ok().flatten().as_deref() == Some(token.as_str());
        let grant = SystemGrant::for_entry_point(EntryPoint::durable_object(&self.state));
        let outcome = async {
            let t = system_tenant(svc, &grant, &a.org)?;
            let pr = system_project(&t, &a.project, &grant)?;
            let m = repo::mappings::get(&pr).await?.map(|(m, _)| m);
            let r = repairs::approve(svc, &pr, a, &still_ours).await;
            // Done with it unless its outcome may still be unrecorded.
            let unfinished = match repo::repairs::get(&pr, &a.repair).await {
                Ok(Some(now)) => {
                    matches!(now.status, RepairStatus::Executing | RepairStatus::Executed)
                }
                Ok(None) => false,
                Err(_) => true,
            };
            if !unfinished {
                self.untrack(&a.repair)
                    .map_err(|e| Fault::internal(format!("inflight: {e}")))?;
            }
            Ok::<_, Fault>(repairs::view(&r?, m.as_ref()))
        }
        .await;
        if let Err(e) = &outcome {
            if e.is_transient() {
                console_error!(
                    "{}",
                    serde_json::json!({"repair": a.repair, "error": e.code(), "detail": e.detail()})
                );
            }
        }
        outcome
    }

    /// Records an approval in `inflight` (kept as it was when already there: its start time
    /// and token are the first approval's) and returns its token.
    fn track(&self, a: &repairs::Approval) -> Result<String> {
        self.tables()?;
        let s = |v: &str| SqlStorageValue::String(v.to_owned());
        self.state.storage().sql().exec(
            "INSERT OR IGNORE INTO inflight (repair, org, project, environment, started, token) \
             VALUES (?, ?, ?, ?, ?, ?)",
            vec![
                s(&a.repair),
                s(&a.org),
                s(&a.project),
                s(a.environment.as_str()),
                SqlStorageValue::Integer(worker::Date::now().as_millis() as i64),
                s(&fresh_token()),
            ],
        )?;
        self.token_of(&a.repair)?
            .ok_or_else(|| worker::Error::RustError("inflight row vanished".into()))
    }

    fn token_of(&self, repair: &str) -> Result<Option<String>> {
        #[derive(Deserialize)]
        struct T {
            token: String,
        }
        let rows: Vec<T> = self
            .state
            .storage()
            .sql()
            .exec(
                "SELECT token FROM inflight WHERE repair = ?",
                vec![SqlStorageValue::String(repair.to_owned())],
            )?
            .to_array()?;
        Ok(rows.into_iter().next().map(|t| t.token))
    }

    fn untrack(&self, repair: &str) -> Result<()> {
        self.state.storage().sql().exec(
            "DELETE FROM inflight WHERE repair = ?",
            vec![SqlStorageValue::String(repair.to_owned())],
        )?;
        Ok(())
    }

    /// Finishes approvals cut short: tracked for longer than `RECOVER_AFTER_MS` and not running
    /// in this object now (`repairs::recover`).
    async fn recover_step(&self) -> Result<()> {
        #[derive(Deserialize)]
        struct Inflight {
            repair: String,
            org: String,
            project: String,
            environment: String,
            started: i64,
        }
        self.tables()?;
        let rows: Vec<Inflight> = self
            .state
            .storage()
            .sql()
            .exec(
                "SELECT repair, org, project, environment, started FROM inflight",
                None,
            )?
            .to_array()?;
        if rows.is_empty() {
            return Ok(());
        }
        let now = worker::Date::now().as_millis() as i64;
        let svc = Services::new(self.env.clone());
        let grant = SystemGrant::for_entry_point(EntryPoint::durable_object(&self.state));
        let mut waiting = false;
        for f in rows {
            let running = self.approving.borrow().contains(&f.repair);
            if running || now - f.started < recover_after(&svc) {
                waiting = true;
                continue;
            }
            // Take the approval over before acting: an instance still running it can no longer
            // claim or commit (its token is gone).
            self.state.storage().sql().exec(
                "UPDATE inflight SET token = ? WHERE repair = ?",
                vec![
                    SqlStorageValue::String(fresh_token()),
                    SqlStorageValue::String(f.repair.clone()),
                ],
            )?;
            let done = async {
                let env = Environment::parse(&f.environment)
                    .ok_or_else(|| Fault::internal("inflight without an environment"))?;
                let t = system_tenant(&svc, &grant, &f.org)?;
                let pr = system_project(&t, &f.project, &grant)?;
                repairs::recover(&svc, &pr, &f.repair, env).await
            }
            .await;
            match done {
                Ok(()) => self.untrack(&f.repair)?,
                Err(e) => {
                    waiting = true;
                    console_error!(
                        "{}",
                        serde_json::json!({"recover_repair": f.repair, "error": e.code(), "detail": e.detail()})
                    );
                }
            }
        }
        if waiting {
            self.alarm_within(recover_after(&svc)).await?;
        }
        Ok(())
    }

    /// Approves the project's pending grants automatically, a few per alarm, when the project
    /// says so (`auto_approve_grants`). Looks again at the next alarm while a run or a drain
    /// may still suggest more.
    async fn auto_step(&self) -> Result<()> {
        let Some((org, project)) = self.target("auto")? else {
            return Ok(());
        };
        let svc = Services::new(self.env.clone());
        let grant = SystemGrant::for_entry_point(EntryPoint::durable_object(&self.state));
        let found = async {
            let t = system_tenant(&svc, &grant, &org)?;
            let pr = system_project(&t, &project, &grant)?;
            let Some(row) = repo::projects::of_handle(&pr).await? else {
                return Ok((None, Vec::new(), false));
            };
            if !row.auto_approve_grants {
                return Ok((None, Vec::new(), false));
            }
            let (grants, more) = repairs::auto_approvable(&pr).await?;
            Ok::<_, Fault>((Some(row.environment), grants, more))
        }
        .await;
        let (environment, grants, more) = match found {
            Ok(f) => f,
            Err(e) => {
                console_error!(
                    "{}",
                    serde_json::json!({"auto_approve": project, "error": e.code(), "detail": e.detail()})
                );
                return self.alarm_within(30_000).await;
            }
        };
        let mut progressed = false;
        // Without the project's row there is nothing to approve (and `grants` is empty).
        let approvals = environment.map(|env| grants.into_iter().map(move |r| (r, env)));
        for (r, environment) in approvals.into_iter().flatten() {
            let a = repairs::Approval {
                org: org.clone(),
                project: project.clone(),
                repair: r.id.clone(),
                environment,
                caller: None,
            };
            match self.approve_one(&svc, &a).await {
                Ok(_) => progressed = true,
                // The setting was turned off (or the project deleted) since it was read: every
                // later claim would be refused the same way, so the round ends here (the next
                // alarm reads the setting again).
                Err(Fault::Repair(RepairRefusal::AutomaticOff)) => break,
                Err(e) => console_error!(
                    "{}",
                    serde_json::json!({"auto_approve": r.id, "error": e.code(), "message": e.message()})
                ),
            }
        }
        if more {
            // Go on at once while approvals go through; when every one was refused (no repair
            // credential, the database down), look again in a minute instead of spinning.
            return self.alarm_within(if progressed { 0 } else { 60_000 }).await;
        }
        let busy = self.current()?.is_some() || self.drain_target()?.is_some();
        if !busy {
            self.state.storage().sql().exec("DELETE FROM auto", None)?;
        }
        Ok(())
    }

    /// One drain of the outbox, when woken: the next alarm is when something is due again.
    async fn drain_step(&self) -> Result<()> {
        let Some((org, project)) = self.drain_target()? else {
            return Ok(());
        };
        // A wake that arrives while this drain waits on D1 or Stripe moves `gen`: the drain
        // row then stays for the next alarm instead of being forgotten with this one.
        #[derive(Deserialize)]
        struct Gen {
            gen: i64,
        }
        let gen: Vec<Gen> = self
            .state
            .storage()
            .sql()
            .exec("SELECT gen FROM drain_gen", None)?
            .to_array()?;
        let gen = gen.first().map_or(0, |g| g.gen);
        let svc = Services::new(self.env.clone());
        let grant = SystemGrant::for_entry_point(EntryPoint::durable_object(&self.state));
        let outcome = async {
            let t = system_tenant(&svc, &grant, &org)?;
            let pr = system_project(&t, &project, &grant)?;
            webhooks::drain(&svc, &pr).await
        }
        .await;
        match outcome {
            Ok(None) => {
                self.state.storage().sql().exec(
                    "DELETE FROM drain_gen WHERE gen = ?",
                    vec![SqlStorageValue::Integer(gen)],
                )?;
                if self.drain_target()?.is_some() {
                    self.alarm_within(0).await?;
                }
            }
            Ok(Some(due)) => self.alarm_within(due.millis() - svc.now.millis()).await?,
            Err(e) => {
                console_error!(
                    "{}",
                    serde_json::json!({"drain": project, "error": e.code(), "detail": e.detail()})
                );
                self.alarm_within(30_000).await?;
            }
        }
        Ok(())
    }

    /// One step of the run this object drives, if any.
    async fn run_step(&self) -> Result<()> {
        let Some(cur) = self.current()? else {
            return Ok(());
        };
        let svc = Services::new(self.env.clone());
        let grant = SystemGrant::for_entry_point(EntryPoint::durable_object(&self.state));
        let facts = Facts::new(self.state.storage().sql())?;
        let outcome = async {
            let t = system_tenant(&svc, &grant, &cur.org)?;
            let pr = system_project(&t, &cur.project, &grant)?;
            let next = runs::step(&svc, &pr, &facts, &cur.run).await;
            Ok::<_, Fault>((pr, next))
        }
        .await;
        match outcome {
            Ok((_, Ok(Next::More))) => {
                if cur.failures > 0 {
                    self.set_failures(0)?;
                }
                self.state.storage().set_alarm(0).await?;
            }
            Ok((_, Ok(Next::Stop))) => {
                self.forget(&cur.run, &facts)?;
            }
            Ok((pr, Err(e))) => {
                console_error!(
                    "{}",
                    serde_json::json!({"run": cur.run, "error": e.code(), "detail": e.detail()})
                );
                let failures = cur.failures + 1;
                if failures >= MAX_FAILURES {
                    let message =
                        "ParityRail could not continue the run (storage failures); start another";
                    if runs::abandon(&svc, &pr, &cur.run, message).await.is_ok() {
                        self.forget(&cur.run, &facts)?;
                        return Ok(());
                    }
                }
                self.set_failures(failures)?;
                // 2, 4, 8, 16 … seconds.
                self.state
                    .storage()
                    .set_alarm(1000i64 << failures.min(8))
                    .await?;
            }
            Err(e) => {
                console_error!(
                    "{}",
                    serde_json::json!({"run": cur.run, "error": e.code(), "detail": e.detail()})
                );
                self.state.storage().set_alarm(30_000).await?;
            }
        }
        Ok(())
    }

    /// `POST /exports/start`: write the export at the next alarm (after any started before it).
    async fn start_export(&self, mut req: Request) -> Result<Response> {
        let a: ExportAssignment = match req.json().await {
            Ok(a) => a,
            Err(_) => return Response::error("bad assignment", 400),
        };
        if !self.is_named_for(&a.project)? {
            return Response::error("not this project's coordinator", 409);
        }
        self.tables()?;
        let s = |v: &str| SqlStorageValue::String(v.to_owned());
        let fresh = serde_json::to_string(&Progress::default())
            .map_err(|e| worker::Error::RustError(e.to_string()))?;
        self.state.storage().sql().exec(
            "INSERT OR IGNORE INTO exports (id, org, project, progress, failures) VALUES (?, ?, ?, ?, 0)",
            vec![s(&a.export), s(&a.org), s(&a.project), s(&fresh)],
        )?;
        self.alarm_within(0).await?;
        Ok(Response::empty()?.with_status(202))
    }

    /// One step of the export that is due first, if any: its progress is saved after every step
    /// (a failed one too); a failing export backs off (others go on meanwhile) and after
    /// `MAX_FAILURES` in a row ends `failed`, whatever failed.
    async fn export_step(&self) -> Result<()> {
        #[derive(Deserialize)]
        struct Row {
            id: String,
            org: String,
            project: String,
            progress: String,
            failures: i64,
            next_at: i64,
        }
        self.tables()?;
        let sql = self.state.storage().sql();
        let rows: Vec<Row> = sql
            .exec(
                "SELECT id, org, project, progress, failures, next_at FROM exports \
                 ORDER BY next_at, rowid LIMIT 1",
                None,
            )?
            .to_array()?;
        let Some(r) = rows.into_iter().next() else {
            return Ok(());
        };
        let now = worker::Date::now().as_millis() as i64;
        if r.next_at > now {
            return self.alarm_within(r.next_at - now).await;
        }
        let svc = Services::new(self.env.clone());
        let grant = SystemGrant::for_entry_point(EntryPoint::durable_object(&self.state));
        // A progress that does not parse starts the export again from its first byte.
        let mut progress: Progress = serde_json::from_str(&r.progress).unwrap_or_default();
        let project = system_tenant(&svc, &grant, &r.org)
            .and_then(|t| system_project(&t, &r.project, &grant));
        let outcome = match &project {
            Ok(pr) => exports::step(&svc, pr, &r.id, &mut progress).await,
            Err(e) => Err(e.clone()),
        };
        let id = SqlStorageValue::String(r.id.clone());
        let forget = || -> Result<()> {
            sql.exec("DELETE FROM exports WHERE id = ?", vec![id.clone()])?;
            Ok(())
        };
        let p = serde_json::to_string(&progress)
            .map_err(|e| worker::Error::RustError(e.to_string()))?;
        match outcome {
            Ok(exports::Next::More) => {
                sql.exec(
                    "UPDATE exports SET progress = ?, failures = 0, next_at = 0 WHERE id = ?",
                    vec![SqlStorageValue::String(p), id.clone()],
                )?;
            }
            Ok(exports::Next::Done) => forget()?,
            Err(e) => {
                console_error!(
                    "{}",
                    serde_json::json!({"export": r.id, "error": e.code(), "detail": e.detail()})
                );
                // A chain that does not verify will not verify on a retry: the export ends now,
                // saying why.
                let permanent = matches!(e, Fault::ChainNotIntact(_));
                let message = e.message();
                let failures = if permanent {
                    MAX_FAILURES
                } else {
                    r.failures + 1
                };
                if failures >= MAX_FAILURES {
                    let why = if permanent {
                        message.as_str()
                    } else {
                        "ParityRail could not write the export; start another"
                    };
                    // Forgotten only once D1 no longer says `running` (or the project is gone);
                    // otherwise only the ending is tried again, every ten minutes.
                    let ended = match &project {
                        Err(_) => true,
                        Ok(pr) => {
                            exports::end(&svc, pr, &r.id, Err(why)).await.is_ok()
                                || {
                                    let at = svc.now.to_rfc3339();
                                    match repo::exports::fail_unread(pr, &r.id, why, &at).await {
                                        Ok(()) => {
                                            console_error!(
                                                "{}",
                                                serde_json::json!({"export": r.id, "ended_unaudited": why})
                                            );
                                            true
                                        }
                                        Err(f) => {
                                            console_error!(
                                                "{}",
                                                serde_json::json!({"export": r.id, "error": f.code(), "detail": f.detail()})
                                            );
                                            false
                                        }
                                    }
                                }
                        }
                    };
                    if ended {
                        forget()?;
                    } else {
                        sql.exec(
                            "UPDATE exports SET failures = ?, next_at = ? WHERE id = ?",
                            vec![
                                SqlStorageValue::Integer(MAX_FAILURES),
                                SqlStorageValue::Integer(now + 600_000),
                                id.clone(),
                            ],
                        )?;
                    }
                } else {
                    let next_at = now + (1000i64 << failures.min(8));
                    sql.exec(
                        "UPDATE exports SET progress = ?, failures = ?, next_at = ? WHERE id = ?",
                        vec![
                            SqlStorageValue::String(p),
                            SqlStorageValue::Integer(failures),
                            SqlStorageValue::Integer(next_at),
                            id.clone(),
                        ],
                    )?;
                }
            }
        }
        // The next alarm for the export due first (none left: nothing to schedule).
        #[derive(Deserialize)]
        struct Due {
            next_at: i64,
        }
        let due: Vec<Due> = sql
            .exec("SELECT next_at FROM exports ORDER BY next_at LIMIT 1", None)?
            .to_array()?;
        match due.first() {
            Some(d) => self.alarm_within((d.next_at - now).max(0)).await,
            None => Ok(()),
        }
    }
}
