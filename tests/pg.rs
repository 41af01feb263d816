//! The pg module against a real PostgreSQL (started by `scripts/pg.sh`, which `npm test` runs):
//! a SELECT-only role `pr_reader` and a role that can write, `pr_writer`.

use parityrail::domain::integrations::DbUrl;
use parityrail::domain::sqlident::{SqlIdent, TableName};
use parityrail::pg::{self, PgErrorKind};
use serde_json::json;
use tokio::net::TcpStream;
use tokio_postgres::{Client, NoTls};

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
    let rows = pg::rows_by_keys(&r, &table, &ident("stripe_customer_id"), &cols, &keys)
        .await
        .unwrap();
    assert_eq!(rows.len(), 500);
    let row2 = rows.iter().find(|row| row.key == "cus_batch_2").unwrap();
    assert_eq!(
        json!(row2.values),
        json!({"plan": "pro", "is_premium": true, "seats": 2, "feature_sso": false})
    );
    let too_many: Vec<String> = (0..501).map(|i| format!("k{i}")).collect();
    assert!(
        pg::rows_by_keys(&r, &table, &ident("stripe_customer_id"), &cols, &too_many)
            .await
            .is_err()
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
