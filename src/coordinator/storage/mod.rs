//! The `ProjectCoordinator`'s own storage, all of it: its SQLite schema (`SCHEMA`), what it is
//! driving (the run, the wake of the outbox drain and its generation, the automatic approval,
//! the approvals in flight, the exports in progress), what a run learned (`Facts`), and its
//! alarm. It is the store of the coordinator engines (`domain::coordinator`,
//! `domain::auto_approve`); their failures are `Fault`s (internal: the alarm is tried again).

mod facts;

pub use facts::Facts;

use parityrail_core::api::coordinator::{Approval, Assignment, ExportAssignment};
use parityrail_core::domain::auto_approve::AutoSlot;
use parityrail_core::domain::coordinator::drain::DrainSlot;
use parityrail_core::domain::coordinator::exports::{ExportQueue, Queued};
use parityrail_core::domain::coordinator::inflight::{Inflight, InflightStore};
use parityrail_core::domain::coordinator::runs::RunSlot;
use parityrail_core::domain::coordinator::Alarm;
use parityrail_core::domain::exports::Progress;
use parityrail_core::fault::{Fallible, Fault};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use worker::{SqlStorage, SqlStorageValue, State};

/// Every table, created when the storage is opened (but `once`, which only the e2e build's
/// fault hooks make: `Facts::first_time`).
const SCHEMA: [&str; 10] = [
    // The run this object drives, and its failures in a row.
    "CREATE TABLE IF NOT EXISTS current (one INTEGER PRIMARY KEY CHECK (one = 1), \
     org TEXT NOT NULL, project TEXT NOT NULL, run TEXT NOT NULL, failures INTEGER NOT NULL)",
    // The outbox wake and its generation. `drain_gen`, not the older `drain` (no `gen` column;
    // `CREATE … IF NOT EXISTS` would keep it): a wake left in the old table is re-sent by the cron.
    "CREATE TABLE IF NOT EXISTS drain_gen (one INTEGER PRIMARY KEY CHECK (one = 1), \
     org TEXT NOT NULL, project TEXT NOT NULL, gen INTEGER NOT NULL DEFAULT 0)",
    // Whether to look for grants to approve automatically.
    "CREATE TABLE IF NOT EXISTS auto (one INTEGER PRIMARY KEY CHECK (one = 1), \
     org TEXT NOT NULL, project TEXT NOT NULL)",
    // Approvals started and not seen to a recorded end, with their token.
    "CREATE TABLE IF NOT EXISTS inflight (repair TEXT PRIMARY KEY, org TEXT NOT NULL, \
     project TEXT NOT NULL, environment TEXT NOT NULL, started INTEGER NOT NULL, \
     token TEXT NOT NULL)",
    // Exports in the order they were started, each with the engine's saved progress
    // (`domain::exports::Progress`).
    "CREATE TABLE IF NOT EXISTS exports (id TEXT PRIMARY KEY, org TEXT NOT NULL, \
     project TEXT NOT NULL, progress TEXT NOT NULL, failures INTEGER NOT NULL, \
     next_at INTEGER NOT NULL DEFAULT 0)",
    // What a run learned (`Facts`).
    "CREATE TABLE IF NOT EXISTS subs (run TEXT NOT NULL, id TEXT NOT NULL, customer TEXT NOT NULL, \
     facts TEXT NOT NULL, PRIMARY KEY (run, id))",
    "CREATE INDEX IF NOT EXISTS subs_by_customer ON subs (run, customer)",
    "CREATE TABLE IF NOT EXISTS customers (run TEXT NOT NULL, id TEXT NOT NULL, PRIMARY KEY (run, id))",
    "CREATE TABLE IF NOT EXISTS products (run TEXT NOT NULL, id TEXT NOT NULL, features TEXT, \
     PRIMARY KEY (run, id))",
    "CREATE TABLE IF NOT EXISTS cursors (run TEXT NOT NULL, phase TEXT NOT NULL, cursor TEXT NOT NULL, \
     PRIMARY KEY (run, phase, cursor))",
];

/// Whose work a row is.
#[derive(Debug, Clone, Deserialize)]
pub struct Target {
    pub org: String,
    pub project: String,
}

impl Target {
    pub fn of(a: &Assignment) -> Target {
        Target {
            org: a.org.clone(),
            project: a.project.clone(),
        }
    }
}

/// The run this object drives.
#[derive(Deserialize)]
pub struct Current {
    pub org: String,
    pub project: String,
    pub run: String,
    pub failures: i64,
}

/// Whose approval is in flight.
#[derive(Debug, Clone, Deserialize)]
pub struct InflightOf {
    pub org: String,
    pub project: String,
    pub environment: String,
}

fn text(v: &str) -> SqlStorageValue {
    SqlStorageValue::String(v.to_owned())
}

fn failed(e: impl std::fmt::Display) -> Fault {
    Fault::internal(format!("coordinator storage: {e}"))
}

/// A random token (hex) for an approval in flight. Without randomness there is no token: two
/// approvals holding the same (all-zero) token would each believe the approval theirs, so the
/// approval or the take-over fails instead (and is tried again).
fn fresh_token() -> Fallible<String> {
    let mut b = [0u8; 16];
    getrandom::getrandom(&mut b).map_err(|e| failed(format!("no randomness for a token: {e}")))?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// The coordinator's storage and alarm.
pub struct Storage {
    storage: worker::Storage,
    sql: SqlStorage,
}

impl Storage {
    /// The object's storage, its tables made.
    pub fn open(state: &State) -> Fallible<Storage> {
        let storage = state.storage();
        let sql = storage.sql();
        for stmt in SCHEMA {
            sql.exec(stmt, None).map_err(failed)?;
        }
        Ok(Storage { storage, sql })
    }

    fn exec(&self, q: &str, args: Vec<SqlStorageValue>) -> Fallible<()> {
        let args = (!args.is_empty()).then_some(args);
        self.sql.exec(q, args).map_err(failed)?;
        Ok(())
    }

    fn rows<T: DeserializeOwned>(&self, q: &str, args: Vec<SqlStorageValue>) -> Fallible<Vec<T>> {
        let args = (!args.is_empty()).then_some(args);
        self.sql
            .exec(q, args)
            .and_then(|c| c.to_array())
            .map_err(failed)
    }

    /// What run `run` learned, and the notes of its step.
    pub fn facts(&self) -> Facts {
        Facts::new(self.sql.clone())
    }

    pub fn current(&self) -> Fallible<Option<Current>> {
        let rows = self.rows("SELECT org, project, run, failures FROM current", vec![])?;
        Ok(rows.into_iter().next())
    }

    /// Drives run `a.run` from now on (replacing any other), forgetting what others learned.
    pub fn start_run(&self, a: &Assignment) -> Fallible<()> {
        self.exec(
            "INSERT OR REPLACE INTO current (one, org, project, run, failures) VALUES (1, ?, ?, ?, 0)",
            vec![text(&a.org), text(&a.project), text(&a.run)],
        )?;
        self.facts().forget_except(&a.run).map_err(failed)
    }

    /// The org and project stored in `table` (`drain_gen` or `auto`), if any.
    fn target(&self, table: &str) -> Fallible<Option<Target>> {
        let rows = self.rows(&format!("SELECT org, project FROM {table}"), vec![])?;
        Ok(rows.into_iter().next())
    }

    /// The project whose outbox this object drains, once woken.
    pub fn drain_target(&self) -> Fallible<Option<Target>> {
        self.target("drain_gen")
    }

    /// The project whose grants this object approves automatically, once woken.
    pub fn auto_target(&self) -> Fallible<Option<Target>> {
        self.target("auto")
    }

    /// Look for pending grants to approve automatically at the next alarms.
    pub fn mark_auto(&self, t: &Target) -> Fallible<()> {
        self.exec(
            "INSERT OR REPLACE INTO auto (one, org, project) VALUES (1, ?, ?)",
            vec![text(&t.org), text(&t.project)],
        )
    }

    /// Queues export `a.export` (after any queued before it).
    pub fn add_export(&self, a: &ExportAssignment) -> Fallible<()> {
        let fresh = serde_json::to_string(&Progress::default()).map_err(failed)?;
        self.exec(
            "INSERT OR IGNORE INTO exports (id, org, project, progress, failures) VALUES (?, ?, ?, ?, 0)",
            vec![text(&a.export), text(&a.org), text(&a.project), text(&fresh)],
        )
    }
}

impl Alarm for Storage {
    type Error = Fault;

    async fn set(&self, ms: i64) -> Fallible<()> {
        self.storage.set_alarm(ms).await.map_err(failed)
    }

    async fn within(&self, ms: i64) -> Fallible<()> {
        let now = worker::Date::now().as_millis() as i64;
        let at = now + ms.max(0);
        match self.storage.get_alarm().await.map_err(failed)? {
            Some(existing) if existing <= at => Ok(()),
            _ => self.set(ms.max(0)).await,
        }
    }
}

impl RunSlot for Storage {
    fn set_failures(&self, n: i64) -> Fallible<()> {
        self.exec(
            "UPDATE current SET failures = ?",
            vec![SqlStorageValue::Integer(n)],
        )
    }

    /// Only if it is still the current run (a new one may have arrived while its last step
    /// waited on D1), and only its own facts.
    fn forget(&self, run: &str) -> Fallible<()> {
        self.exec("DELETE FROM current WHERE run = ?", vec![text(run)])?;
        self.facts().forget_run(run).map_err(failed)
    }
}

impl DrainSlot for Storage {
    type Target = Target;

    fn generation(&self) -> Fallible<Option<i64>> {
        #[derive(Deserialize)]
        struct Gen {
            gen: i64,
        }
        let rows: Vec<Gen> = self.rows("SELECT gen FROM drain_gen", vec![])?;
        Ok(rows.first().map(|g| g.gen))
    }

    fn bump(&self, t: &Target) -> Fallible<()> {
        self.exec(
            "INSERT INTO drain_gen (one, org, project, gen) VALUES (1, ?, ?, 0) ON CONFLICT (one) \
             DO UPDATE SET org = excluded.org, project = excluded.project, gen = drain_gen.gen + 1",
            vec![text(&t.org), text(&t.project)],
        )
    }

    fn forget(&self, gen: i64) -> Fallible<()> {
        self.exec(
            "DELETE FROM drain_gen WHERE gen = ?",
            vec![SqlStorageValue::Integer(gen)],
        )
    }
}

impl AutoSlot for Storage {
    fn busy(&self) -> Fallible<bool> {
        Ok(self.current()?.is_some() || self.drain_target()?.is_some())
    }

    fn clear(&self) -> Fallible<()> {
        self.exec("DELETE FROM auto", vec![])
    }
}

impl InflightStore for Storage {
    type Of = InflightOf;

    fn track(&self, repair: &str, of: &InflightOf, now: i64) -> Fallible<String> {
        self.exec(
            "INSERT OR IGNORE INTO inflight (repair, org, project, environment, started, token) \
             VALUES (?, ?, ?, ?, ?, ?)",
            vec![
                text(repair),
                text(&of.org),
                text(&of.project),
                text(&of.environment),
                SqlStorageValue::Integer(now),
                text(&fresh_token()?),
            ],
        )?;
        self.token(repair)?
            .ok_or_else(|| failed("inflight row vanished"))
    }

    fn token(&self, repair: &str) -> Fallible<Option<String>> {
        #[derive(Deserialize)]
        struct T {
            token: String,
        }
        let rows: Vec<T> = self.rows(
            "SELECT token FROM inflight WHERE repair = ?",
            vec![text(repair)],
        )?;
        Ok(rows.into_iter().next().map(|t| t.token))
    }

    fn take_over(&self, repair: &str) -> Fallible<()> {
        self.exec(
            "UPDATE inflight SET token = ? WHERE repair = ?",
            vec![text(&fresh_token()?), text(repair)],
        )
    }

    fn untrack(&self, repair: &str) -> Fallible<()> {
        self.exec("DELETE FROM inflight WHERE repair = ?", vec![text(repair)])
    }

    fn all(&self) -> Fallible<Vec<Inflight<InflightOf>>> {
        #[derive(Deserialize)]
        struct Row {
            repair: String,
            org: String,
            project: String,
            environment: String,
            started: i64,
        }
        let rows: Vec<Row> = self.rows(
            "SELECT repair, org, project, environment, started FROM inflight",
            vec![],
        )?;
        Ok(rows
            .into_iter()
            .map(|r| Inflight {
                repair: r.repair,
                started: r.started,
                of: InflightOf {
                    org: r.org,
                    project: r.project,
                    environment: r.environment,
                },
            })
            .collect())
    }
}

impl InflightOf {
    pub fn of(a: &Approval) -> Self {
        InflightOf {
            org: a.org.clone(),
            project: a.project.clone(),
            environment: a.environment.as_str().to_owned(),
        }
    }
}

impl ExportQueue for Storage {
    type Progress = Progress;
    type Of = Target;

    fn first(&self) -> Fallible<Option<Queued<Progress, Target>>> {
        #[derive(Deserialize)]
        struct Row {
            id: String,
            org: String,
            project: String,
            progress: String,
            failures: i64,
            next_at: i64,
        }
        let rows: Vec<Row> = self.rows(
            "SELECT id, org, project, progress, failures, next_at FROM exports \
             ORDER BY next_at, rowid LIMIT 1",
            vec![],
        )?;
        Ok(rows.into_iter().next().map(|r| Queued {
            id: r.id,
            of: Target {
                org: r.org,
                project: r.project,
            },
            // A progress that does not parse starts the export again from its first byte.
            progress: serde_json::from_str(&r.progress).unwrap_or_default(),
            failures: r.failures,
            next_at: r.next_at,
        }))
    }

    fn save(
        &self,
        id: &str,
        progress: Option<&Progress>,
        failures: i64,
        next_at: i64,
    ) -> Fallible<()> {
        let (failures, next_at) = (
            SqlStorageValue::Integer(failures),
            SqlStorageValue::Integer(next_at),
        );
        match progress {
            Some(p) => {
                let p = serde_json::to_string(p).map_err(failed)?;
                self.exec(
                    "UPDATE exports SET progress = ?, failures = ?, next_at = ? WHERE id = ?",
                    vec![text(&p), failures, next_at, text(id)],
                )
            }
            None => self.exec(
                "UPDATE exports SET failures = ?, next_at = ? WHERE id = ?",
                vec![failures, next_at, text(id)],
            ),
        }
    }

    fn forget(&self, id: &str) -> Fallible<()> {
        self.exec("DELETE FROM exports WHERE id = ?", vec![text(id)])
    }

    fn next_due(&self) -> Fallible<Option<i64>> {
        #[derive(Deserialize)]
        struct Due {
            next_at: i64,
        }
        let due: Vec<Due> = self.rows(
            "SELECT next_at FROM exports ORDER BY next_at LIMIT 1",
            vec![],
        )?;
        Ok(due.first().map(|d| d.next_at))
    }
}
