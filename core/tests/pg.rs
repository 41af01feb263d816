//! The pg module against a real PostgreSQL (started by `scripts/pg.sh`, which `npm test` runs):
//! a SELECT-only role `pr_reader` and a role that can write, `pr_writer`, on a server with TLS on
//! (plain connections accepted too), beside one with TLS off and one with a self-signed
//! certificate. Client-side limits are tested through a proxy that can stop forwarding.

use parityrail_core::domain::integrations::DbUrl;
use parityrail_core::domain::sqlident::{SqlIdent, TableName};
use parityrail_core::pg::{
    self, Limits, PgError, PgErrorKind, ReadSession, RefusedByRuntime, RuntimeTls,
};
use serde_json::json;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio_postgres::{Client, NoTls};

#[path = "pg/repair.rs"]
mod repair;

fn url(var: &str) -> DbUrl {
    let raw = std::env::var(var).unwrap_or_else(|_| {
        panic!("{var} is not set: run the tests with `npm test` (it starts PostgreSQL)")
    });
    DbUrl::parse(&raw).expect("test database URL")
}

async fn connect(u: &DbUrl) -> Result<Client, pg::PgError> {
    let stream = TcpStream::connect((u.host.as_str(), u.port))
        .await
        .map_err(|_| pg::PgError::new(PgErrorKind::Unreachable))?;
    let (client, conn) = pg::handshake(stream, NoTls, u).await?;
    tokio::spawn(conn);
    Ok(client)
}

fn ident(s: &str) -> SqlIdent {
    SqlIdent::parse(s).unwrap()
}

#[tokio::test]
async fn a_read_session_refuses_writes_even_when_the_role_could_write() {
    let c = connect(&url("PR_PG_WRITER_URL")).await.unwrap();
    pg::begin_read_session(&c, pg::STATEMENT_TIMEOUT_MS)
        .await
        .unwrap();
    let err = c
        .execute(
            "INSERT INTO accounts (stripe_customer_id) VALUES ('cus_should_not_exist')",
            &[],
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.code().map(|c| c.code()),
        Some("25006"),
        "read_only_sql_transaction"
    );
    let n: i64 = c
        .query_one(
            "SELECT count(*) FROM accounts WHERE stripe_customer_id = 'cus_should_not_exist'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0);
}

#[tokio::test]
async fn the_probe_reports_read_only_and_flags_a_role_that_can_write() {
    for (var, can_write) in [("PR_PG_READER_URL", false), ("PR_PG_WRITER_URL", true)] {
        let c = connect(&url(var)).await.unwrap();
        pg::begin_read_session(&c, pg::STATEMENT_TIMEOUT_MS)
            .await
            .unwrap();
        let p = pg::probe(&c).await.unwrap();
        assert_eq!(
            p,
            pg::Probe {
                read_only_enforced: true,
                role_can_write: can_write
            },
            "{var}"
        );
    }
}

#[tokio::test]
async fn rows_are_read_by_key_in_batches_with_their_types() {
    let w = connect(&url("PR_PG_WRITER_URL")).await.unwrap();
    w.batch_execute(
        "INSERT INTO accounts (stripe_customer_id, plan, is_premium, seats) \
         SELECT 'cus_batch_' || i, CASE WHEN i % 2 = 0 THEN 'pro' ELSE 'free' END, i % 2 = 0, i \
         FROM generate_series(1, 600) AS i ON CONFLICT (stripe_customer_id) DO NOTHING",
    )
    .await
    .unwrap();
    let r = connect(&url("PR_PG_READER_URL")).await.unwrap();
    pg::begin_read_session(&r, pg::STATEMENT_TIMEOUT_MS)
        .await
        .unwrap();
    let keys: Vec<String> = (1..=500)
        .map(|i| format!("cus_batch_{i}"))
        .chain(["cus_missing".to_owned()])
        .take(500)
        .collect();
    let table = TableName::parse("public.accounts").unwrap();
    let cols = [
        ident("plan"),
        ident("is_premium"),
        ident("seats"),
        ident("feature_sso"),
    ];
    let rows = pg::rows_by_keys(&r, &table, &ident("stripe_customer_id"), &cols, &[], &keys)
        .await
        .unwrap();
    assert_eq!(rows.len(), 500);
    let row2 = rows.iter().find(|row| row.key == "cus_batch_2").unwrap();
    assert_eq!(
        json!(row2.values),
        json!({"plan": "pro", "is_premium": true, "seats": 2, "feature_sso": false})
    );
    let too_many: Vec<String> = (0..501).map(|i| format!("k{i}")).collect();
    assert!(pg::rows_by_keys(
        &r,
        &table,
        &ident("stripe_customer_id"),
        &cols,
        &[],
        &too_many
    )
    .await
    .is_err());
}

#[tokio::test]
async fn a_keyset_scan_walks_the_table_in_byte_order_without_gaps_or_repeats() {
    let w = connect(&url("PR_PG_WRITER_URL")).await.unwrap();
    w.batch_execute(
        "CREATE TABLE IF NOT EXISTS scratch.keyset_probe (k text, plan text); \
         TRUNCATE scratch.keyset_probe; \
         INSERT INTO scratch.keyset_probe SELECT 'cus_' || i, 'pro' FROM generate_series(1, 1234) AS i; \
         INSERT INTO scratch.keyset_probe VALUES ('CUS_upper', 'pro'), ('cus_\u{e9}', 'pro'), (NULL, 'pro')",
    )
    .await
    .unwrap();
    let r = connect(&url("PR_PG_READER_URL")).await.unwrap();
    pg::begin_read_session(&r, pg::STATEMENT_TIMEOUT_MS)
        .await
        .unwrap();
    let table = TableName::parse("scratch.keyset_probe").unwrap();
    let (mut after, mut seen, mut trips) = (String::new(), Vec::new(), 0);
    loop {
        let rows = pg::rows_after(
            &r,
            &table,
            &ident("k"),
            &[ident("plan")],
            &[ident("plan")],
            &after,
            500,
        )
        .await
        .unwrap();
        trips += 1;
        let full = rows.len() == 500;
        if let Some(last) = rows.last() {
            after = last.key.clone();
        }
        seen.extend(rows.into_iter().map(|row| row.key));
        if !full {
            break;
        }
    }
    // 1,236 non-NULL keys: three round trips of up to 500, in Rust's (byte) order.
    assert_eq!(trips, 3);
    assert_eq!(seen.len(), 1236);
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(seen, sorted);
    assert_eq!(seen.first().map(String::as_str), Some("CUS_upper"));
    assert_eq!(seen.last().map(String::as_str), Some("cus_\u{e9}"));
    // A capped text column is read cut to MAX_TEXT_CHARS characters.
    w.batch_execute("UPDATE scratch.keyset_probe SET plan = repeat('p', 100000) WHERE k = 'cus_1'")
        .await
        .unwrap();
    let rows = pg::rows_after(
        &r,
        &table,
        &ident("k"),
        &[ident("plan")],
        &[ident("plan")],
        "cus_0",
        1,
    )
    .await
    .unwrap();
    assert_eq!(rows[0].key, "cus_1");
    assert_eq!(
        rows[0].values["plan"].as_str().map(|s| s.chars().count()),
        Some(pg::MAX_TEXT_CHARS as usize)
    );
}

#[tokio::test]
async fn a_missing_table_or_column_is_a_schema_error() {
    let r = connect(&url("PR_PG_READER_URL")).await.unwrap();
    pg::begin_read_session(&r, pg::STATEMENT_TIMEOUT_MS)
        .await
        .unwrap();
    let keys = vec!["cus_1".to_owned()];
    let e = pg::rows_by_keys(
        &r,
        &TableName::parse("nope").unwrap(),
        &ident("stripe_customer_id"),
        &[],
        &[],
        &keys,
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind, PgErrorKind::Schema);
    let t = TableName::parse("accounts").unwrap();
    let e = pg::rows_by_keys(
        &r,
        &t,
        &ident("stripe_customer_id"),
        &[ident("nope")],
        &[],
        &keys,
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind, PgErrorKind::Schema);
}

#[tokio::test]
async fn a_wrong_password_is_auth_failed_and_says_nothing_secret() {
    let mut u = url("PR_PG_READER_URL");
    u.password = "definitely-wrong-password".into();
    let e = connect(&u).await.unwrap_err();
    assert_eq!(e.kind, PgErrorKind::AuthFailed);
    assert!(!format!("{e} {e:?}").contains("definitely-wrong-password"));
    let mut u = url("PR_PG_READER_URL");
    u.database = "no_such_db".into();
    assert_eq!(connect(&u).await.unwrap_err().kind, PgErrorKind::NoDatabase);
}

#[tokio::test]
async fn a_slow_statement_times_out() {
    let r = connect(&url("PR_PG_READER_URL")).await.unwrap();
    pg::begin_read_session(&r, 300).await.unwrap();
    let started = std::time::Instant::now();
    let e: pg::PgError = r
        .query_one("SELECT pg_sleep(5)", &[])
        .await
        .unwrap_err()
        .into();
    assert_eq!(e.kind, PgErrorKind::Timeout);
    assert!(started.elapsed().as_secs() < 4);
}

/// tokio's clock and sleep for the client-side limits.
struct TokioTimer(Instant);

impl pg::Timer for TokioTimer {
    fn now_ms(&self) -> u64 {
        self.0.elapsed().as_millis() as u64
    }
    async fn sleep(&self, ms: u32) {
        tokio::time::sleep(Duration::from_millis(u64::from(ms))).await;
    }
}

/// A read session over plain TCP to `addr` (the URL's own host and port unless a proxy's).
async fn open_at(
    addr: SocketAddr,
    u: &DbUrl,
    limits: Limits,
) -> Result<ReadSession<TokioTimer>, PgError> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|_| PgError::new(PgErrorKind::Unreachable))?;
    let timer = TokioTimer(Instant::now());
    ReadSession::open(stream, NoTls, u, timer, limits, |c| {
        tokio::spawn(c);
    })
    .await
}

fn addr_of(u: &DbUrl) -> SocketAddr {
    format!("{}:{}", u.host, u.port).parse().unwrap()
}

const QUICK: Limits = Limits {
    connect_ms: 2_000,
    statement_ms: 300,
    session_ms: 5_000,
};

/// Forwards to `to` both ways until `stall` is set; from then on it keeps the connections open
/// and forwards nothing (a server that accepted the query and never answers).
async fn proxy(to: SocketAddr) -> (SocketAddr, Arc<AtomicBool>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stall = Arc::new(AtomicBool::new(false));
    let flag = stall.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let server = TcpStream::connect(to).await.unwrap();
            let (cr, cw) = client.into_split();
            let (sr, sw) = server.into_split();
            tokio::spawn(pump(cr, sw, flag.clone()));
            tokio::spawn(pump(sr, cw, flag.clone()));
        }
    });
    (addr, stall)
}

async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, stall: Arc<AtomicBool>) {
    let mut buf = [0u8; 8192];
    while let Ok(n) = from.read(&mut buf).await {
        if n == 0 {
            break;
        }
        if stall.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
}

#[tokio::test]
async fn the_connection_test_runs_in_a_bounded_read_only_session() {
    let u = url("PR_PG_WRITER_URL");
    let s = open_at(addr_of(&u), &u, Limits::default()).await.unwrap();
    let p = s.probe().await.unwrap();
    assert!(p.read_only_enforced && p.role_can_write);
    let e = s
        .run(|c| {
            c.execute(
                "INSERT INTO accounts (stripe_customer_id) VALUES ('cus_no')",
                &[],
            )
        })
        .await
        .unwrap_err();
    assert_eq!(
        e.sqlstate.as_deref(),
        Some("25006"),
        "read_only_sql_transaction"
    );
}

#[tokio::test]
async fn a_server_that_stops_answering_after_the_handshake_times_out_within_the_statement_limit() {
    let u = url("PR_PG_READER_URL");
    let (via, stall) = proxy(addr_of(&u)).await;
    let s = open_at(via, &u, QUICK).await.unwrap();
    assert!(s.probe().await.is_ok());
    stall.store(true, Ordering::SeqCst);
    let started = Instant::now();
    let e = s.probe().await.unwrap_err();
    let waited = started.elapsed();
    assert_eq!(
        e,
        PgError::new(PgErrorKind::Timeout),
        "the client's own limit"
    );
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_millis(1_500),
        "{waited:?}"
    );
    // The connection is in an unknown state now: nothing more is sent, nothing waits.
    let started = Instant::now();
    assert_eq!(s.probe().await.unwrap_err().kind, PgErrorKind::Timeout);
    assert!(started.elapsed() < Duration::from_millis(50));
}

#[tokio::test]
async fn no_statement_runs_past_the_session_limit() {
    let u = url("PR_PG_READER_URL");
    let limits = Limits {
        connect_ms: 2_000,
        statement_ms: 1_000,
        session_ms: 900,
    };
    let started = Instant::now();
    let s = open_at(addr_of(&u), &u, limits).await.unwrap();
    let mut done = 0;
    let e = loop {
        // Each one alone is well inside the statement limit.
        match s.run(|c| c.batch_execute("SELECT pg_sleep(0.25)")).await {
            Ok(()) => done += 1,
            Err(e) => break e,
        }
    };
    let waited = started.elapsed();
    assert_eq!(e, PgError::new(PgErrorKind::Timeout));
    assert!(done >= 2, "{done} statements before the limit");
    assert!(waited < Duration::from_millis(1_300), "{waited:?}");
}

#[tokio::test]
async fn a_handshake_that_never_completes_times_out_within_the_connect_limit() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let held = tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        tokio::time::sleep(Duration::from_secs(10)).await;
        drop(socket);
    });
    let u = url("PR_PG_READER_URL");
    let started = Instant::now();
    let limits = Limits {
        connect_ms: 300,
        ..QUICK
    };
    let e = open_at(addr, &u, limits).await.err().expect("no handshake");
    assert_eq!(e.kind, PgErrorKind::Timeout);
    assert!(started.elapsed() < Duration::from_millis(1_500));
    held.abort();
}

#[tokio::test]
async fn pg_sh_serves_tls_on_the_main_server_and_on_the_self_signed_one_but_not_on_the_other() {
    for (var, answer) in [
        ("PR_PG_READER_URL", b'S'),
        ("PR_PG_SELFSIGNED_URL", b'S'),
        ("PR_PG_NOTLS_URL", b'N'),
    ] {
        let mut s = TcpStream::connect(addr_of(&url(var))).await.unwrap();
        s.write_all(&[0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f])
            .await
            .unwrap();
        assert_eq!(s.read_u8().await.unwrap(), answer, "{var}");
    }
}

#[tokio::test]
async fn a_server_with_tls_off_is_tls_unsupported_under_sslmode_require() {
    let u = url("PR_PG_NOTLS_URL");
    let e = open_at(addr_of(&u), &u, QUICK)
        .await
        .err()
        .expect("no session");
    assert_eq!(e, PgError::new(PgErrorKind::TlsUnsupported));
}

#[tokio::test]
async fn a_certificate_the_runtime_refuses_is_tls_untrusted() {
    let u = url("PR_PG_SELFSIGNED_URL");
    let stream = TcpStream::connect(addr_of(&u)).await.unwrap();
    let tls = RuntimeTls(|_plain: TcpStream| RefusedByRuntime);
    let timer = TokioTimer(Instant::now());
    let e = ReadSession::open(stream, tls, &u, timer, QUICK, |c| {
        tokio::spawn(c);
    })
    .await
    .err()
    .expect("no session");
    assert_eq!(e, PgError::new(PgErrorKind::TlsUntrusted));
}
