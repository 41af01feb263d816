//! Repairs against the real PostgreSQL: each test has a scratch table of its own, owned by
//! `pr_writer`, readable by `pr_reader` and updatable by `pr_repairer` on the mapped columns
//! only (as the README advises), and runs `RepairSession::execute` on it.

use super::{addr_of, url, TokioTimer};
use parityrail_core::domain::mapping::{Mapping, MappingInput};
use parityrail_core::domain::repair_plan::ExecPlan;
use parityrail_core::domain::repairs::{ColumnChange, Effect, Repair, RepairStatus};
use parityrail_core::domain::time::Timestamp;
use parityrail_core::pg::{self, Limits, Outcome, PgError, PgErrorKind, RepairSession};
use serde_json::json;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio_postgres::{Client, NoTls};

async fn writer() -> Client {
    super::connect(&url("PR_PG_WRITER_URL")).await.unwrap()
}

/// A fresh table `scratch.<name>` with one row per `(key, plan, premium)`; unique keys unless
/// `unique` is false.
async fn table(name: &str, rows: &[(&str, &str, bool)], unique: bool) -> Client {
    let w = writer().await;
    let key = if unique { "text UNIQUE" } else { "text" };
    w.batch_execute(&format!(
        "DROP TABLE IF EXISTS scratch.{name}; \
         CREATE TABLE scratch.{name} (id serial PRIMARY KEY, cus {key}, plan text, \
           premium boolean NOT NULL DEFAULT false, seats integer NOT NULL DEFAULT 1); \
         GRANT SELECT, UPDATE (plan, premium) ON scratch.{name} TO pr_repairer"
    ))
    .await
    .unwrap();
    for (k, plan, premium) in rows {
        w.execute(
            &format!("INSERT INTO scratch.{name} (cus, plan, premium) VALUES ($1, $2, $3)"),
            &[k, plan, premium],
        )
        .await
        .unwrap();
    }
    w
}

fn mapping(name: &str) -> Mapping {
    let input: MappingInput = serde_json::from_value(json!({
        "table": format!("scratch.{name}"),
        "customer_column": "cus",
        "plan_column": "plan",
        "premium_column": "premium",
        "plans": {"price_pro": {"plan": "pro", "rank": 1}},
        "free_plan": "free",
    }))
    .unwrap();
    input.validate().unwrap()
}

/// The grant that fixes a locked-out payer: `free`/false → `pro`/true.
fn grant(name: &str, key: &str) -> Repair {
    let at = Timestamp::from_millis(0);
    Repair {
        id: "rep_test".into(),
        incident_id: "inc_test".into(),
        incident_ids: vec!["inc_test".into()],
        customer: key.into(),
        status: RepairStatus::Executing,
        effect: Effect::Grant,
        table: format!("scratch.{name}"),
        key_column: "cus".into(),
        changes: vec![
            ColumnChange {
                column: "plan".into(),
                before: json!("free"),
                after: json!("pro"),
            },
            ColumnChange {
                column: "premium".into(),
                before: json!(false),
                after: json!(true),
            },
        ],
        row_before: None,
        row_after: None,
        approved_by: None,
        created_at: at,
        updated_at: at,
        executed_at: None,
        verified_at: None,
        error: None,
        reason: None,
    }
}

fn plan_of(name: &str, key: &str) -> ExecPlan {
    ExecPlan::new(&grant(name, key), &mapping(name)).unwrap()
}

const LIMITS: Limits = Limits {
    connect_ms: 2_000,
    statement_ms: 5_000,
    session_ms: 20_000,
};

async fn session(var: &str, lock_ms: u32) -> Result<RepairSession<TokioTimer>, PgError> {
    let u = url(var);
    let stream = TcpStream::connect(addr_of(&u))
        .await
        .map_err(|_| PgError::new(PgErrorKind::Unreachable))?;
    RepairSession::open(
        stream,
        NoTls,
        &u,
        TokioTimer(Instant::now()),
        LIMITS,
        lock_ms,
        |c| {
            tokio::spawn(c);
        },
    )
    .await
}

trait Ours {
    async fn execute_ours(&self, plan: &ExecPlan) -> Result<Outcome, PgError>;
}

impl Ours for RepairSession<TokioTimer> {
    async fn execute_ours(&self, plan: &ExecPlan) -> Result<Outcome, PgError> {
        self.execute(plan, &|| true).await
    }
}

async fn repairer() -> RepairSession<TokioTimer> {
    session("PR_PG_REPAIRER_URL", pg::LOCK_TIMEOUT_MS)
        .await
        .unwrap()
}

/// Every row of the table as `(key, plan, premium, seats)`, in id order.
async fn rows(w: &Client, name: &str) -> Vec<(String, Option<String>, bool, i32)> {
    w.query(
        &format!("SELECT cus, plan, premium, seats FROM scratch.{name} ORDER BY id"),
        &[],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
    .collect()
}

fn row(k: &str, plan: &str, premium: bool) -> (String, Option<String>, bool, i32) {
    (k.into(), Some(plan.into()), premium, 1)
}

#[tokio::test]
async fn a_repair_writes_exactly_its_row_and_columns_and_reports_both_states() {
    let w = table(
        "rep_ok",
        &[("cus_a", "free", false), ("cus_b", "free", false)],
        true,
    )
    .await;
    let out = repairer()
        .await
        .execute_ours(&plan_of("rep_ok", "cus_a"))
        .await
        .unwrap();
    let Outcome::Executed { before, after } = out else {
        panic!("{out:?}")
    };
    assert_eq!(before["plan"], json!("free"));
    assert_eq!(before["premium"], json!(false));
    assert_eq!(after["plan"], json!("pro"));
    assert_eq!(after["premium"], json!(true));
    assert_eq!(
        rows(&w, "rep_ok").await,
        vec![row("cus_a", "pro", true), row("cus_b", "free", false)]
    );
}

#[tokio::test]
async fn a_row_that_moved_since_the_suggestion_is_stale_and_nothing_is_written() {
    let w = table("rep_stale", &[("cus_a", "basic", false)], true).await;
    let out = repairer()
        .await
        .execute_ours(&plan_of("rep_stale", "cus_a"))
        .await
        .unwrap();
    assert!(
        matches!(&out, Outcome::Stale { columns, live } if columns == &["plan".to_owned()]
            && live["plan"] == json!("basic")),
        "{out:?}"
    );
    assert_eq!(
        rows(&w, "rep_stale").await,
        vec![row("cus_a", "basic", false)]
    );
}

#[tokio::test]
async fn a_missing_row_and_a_duplicated_key_write_nothing() {
    let w = table(
        "rep_dup",
        &[("cus_a", "free", false), ("cus_a", "free", false)],
        false,
    )
    .await;
    let s = repairer().await;
    assert_eq!(
        s.execute_ours(&plan_of("rep_dup", "cus_zzz"))
            .await
            .unwrap(),
        Outcome::Missing
    );
    assert_eq!(
        s.execute_ours(&plan_of("rep_dup", "cus_a")).await.unwrap(),
        Outcome::Duplicate
    );
    assert_eq!(
        rows(&w, "rep_dup").await,
        vec![row("cus_a", "free", false), row("cus_a", "free", false)]
    );
}

#[tokio::test]
async fn a_row_locked_by_another_session_times_out_and_nothing_is_written() {
    let w = table("rep_locked", &[("cus_a", "free", false)], true).await;
    let holder = writer().await;
    holder
        .batch_execute("BEGIN; SELECT * FROM scratch.rep_locked WHERE cus = 'cus_a' FOR UPDATE")
        .await
        .unwrap();
    let started = Instant::now();
    let err = session("PR_PG_REPAIRER_URL", 300)
        .await
        .unwrap()
        .execute_ours(&plan_of("rep_locked", "cus_a"))
        .await
        .unwrap_err();
    assert_eq!(err.kind, PgErrorKind::Locked, "{err:?}");
    assert_eq!(err.sqlstate.as_deref(), Some("55P03"));
    assert!(started.elapsed() < Duration::from_secs(4));
    holder.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(
        rows(&w, "rep_locked").await,
        vec![row("cus_a", "free", false)]
    );
}

#[tokio::test]
async fn a_repair_session_terminated_mid_transaction_leaves_nothing_partial() {
    let w = table("rep_killed", &[("cus_a", "free", false)], true).await;
    // Hold the row so the repair waits inside its transaction, then end its backend.
    let holder = writer().await;
    holder
        .batch_execute("BEGIN; SELECT * FROM scratch.rep_killed WHERE cus = 'cus_a' FOR UPDATE")
        .await
        .unwrap();
    let s = session("PR_PG_REPAIRER_URL", 15_000).await.unwrap();
    let plan = plan_of("rep_killed", "cus_a");
    let run = s.execute(&plan, &|| true);
    let kill = async {
        for _ in 0..100 {
            let n: i64 = w
                .query_one(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                     WHERE application_name = 'parityrail-repair' \
                     AND pid IN (SELECT pid FROM pg_locks WHERE NOT granted)",
                    &[],
                )
                .await
                .unwrap()
                .get(0);
            if n > 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the repair session never waited for the lock");
    };
    let (out, ()) = tokio::join!(run, kill);
    let err = out.unwrap_err();
    assert!(
        matches!(err.kind, PgErrorKind::Unreachable | PgErrorKind::Query),
        "{err:?}"
    );
    holder.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(
        rows(&w, "rep_killed").await,
        vec![row("cus_a", "free", false)]
    );
}

#[tokio::test]
async fn a_refused_login_and_a_role_without_the_update_grant_give_clear_errors() {
    let w = table("rep_grants", &[("cus_a", "free", false)], true).await;
    // The reader may not lock rows for update at all.
    let err = session("PR_PG_READER_URL", 1_000)
        .await
        .unwrap()
        .execute_ours(&plan_of("rep_grants", "cus_a"))
        .await
        .unwrap_err();
    assert_eq!(err.kind, PgErrorKind::NotPermitted, "{err:?}");
    // The repairer may update plan and premium, not seats: a (tampered) plan writing a column
    // it lacks the grant for fails the same way, and nothing is written.
    w.batch_execute("REVOKE UPDATE (premium) ON scratch.rep_grants FROM pr_repairer")
        .await
        .unwrap();
    let err = repairer()
        .await
        .execute_ours(&plan_of("rep_grants", "cus_a"))
        .await
        .unwrap_err();
    assert_eq!(err.kind, PgErrorKind::NotPermitted, "{err:?}");
    assert_eq!(
        rows(&w, "rep_grants").await,
        vec![row("cus_a", "free", false)]
    );
    // A wrong password.
    let mut u = url("PR_PG_REPAIRER_URL");
    u.password = "not-the-password".into();
    let stream = TcpStream::connect(addr_of(&u)).await.unwrap();
    let err = RepairSession::open(
        stream,
        NoTls,
        &u,
        TokioTimer(Instant::now()),
        LIMITS,
        1_000,
        |c| {
            tokio::spawn(c);
        },
    )
    .await
    .err()
    .unwrap();
    assert_eq!(err.kind, PgErrorKind::AuthFailed);
}

#[tokio::test]
async fn values_never_reach_the_sql_text() {
    // A key that would break out of a quoted literal is only ever a parameter.
    let hostile = "cus_a' OR '1'='1";
    let w = table(
        "rep_inject",
        &[(hostile, "free", false), ("cus_b", "free", false)],
        true,
    )
    .await;
    let out = repairer()
        .await
        .execute_ours(&plan_of("rep_inject", hostile))
        .await
        .unwrap();
    assert!(matches!(out, Outcome::Executed { .. }), "{out:?}");
    assert_eq!(
        rows(&w, "rep_inject").await,
        vec![row(hostile, "pro", true), row("cus_b", "free", false)]
    );
}

async fn read_session(var: &str) -> parityrail_core::pg::ReadSession<TokioTimer> {
    let u = url(var);
    let stream = TcpStream::connect(addr_of(&u)).await.unwrap();
    parityrail_core::pg::ReadSession::open(
        stream,
        NoTls,
        &u,
        TokioTimer(Instant::now()),
        LIMITS,
        |c| {
            tokio::spawn(c);
        },
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn the_repair_role_check_reads_the_column_grants_and_flags_anything_wider() {
    let m: Mapping = serde_json::from_value::<MappingInput>(json!({
        "table": "accounts",
        "customer_column": "stripe_customer_id",
        "plan_column": "plan",
        "premium_column": "is_premium",
        "trial_column": "on_trial",
        "entitlements": {"sso": "feature_sso"},
        "plans": {"price_pro": {"plan": "pro", "rank": 1}},
        "free_plan": "free",
    }))
    .unwrap()
    .validate()
    .unwrap();
    let allow: Vec<_> = m.repair_columns().into_iter().cloned().collect();
    let all = ["plan", "is_premium", "on_trial", "feature_sso"]
        .map(String::from)
        .to_vec();
    // The role the README advises: exactly the mapped columns.
    let g = read_session("PR_PG_REPAIRER_URL")
        .await
        .repair_grants(&m.table, &allow)
        .await
        .unwrap();
    assert_eq!(g.can_update, all);
    assert!(g.cannot_update.is_empty());
    assert!(
        !g.beyond
            .iter()
            .any(|b| b.starts_with("column") || b.contains("insert")),
        "{g:?}"
    );
    // A role that may write the whole table and more.
    let g = read_session("PR_PG_WRITER_URL")
        .await
        .repair_grants(&m.table, &allow)
        .await
        .unwrap();
    assert_eq!(g.can_update, all);
    assert!(g.beyond.contains(&"column seats".to_owned()), "{g:?}");
    assert!(g
        .beyond
        .contains(&"insert, delete or truncate rows of the table".to_owned()));
    // A role that may write nothing.
    let g = read_session("PR_PG_READER_URL")
        .await
        .repair_grants(&m.table, &allow)
        .await
        .unwrap();
    assert!(g.can_update.is_empty());
    assert_eq!(g.cannot_update, all);
    assert!(g.beyond.is_empty(), "{g:?}");
}

#[tokio::test]
async fn a_repair_taken_over_before_its_commit_writes_nothing() {
    let w = table("rep_fenced", &[("cus_a", "free", false)], true).await;
    let out = repairer()
        .await
        .execute(&plan_of("rep_fenced", "cus_a"), &|| false)
        .await
        .unwrap();
    assert_eq!(out, Outcome::Fenced);
    assert_eq!(
        rows(&w, "rep_fenced").await,
        vec![row("cus_a", "free", false)]
    );
}
