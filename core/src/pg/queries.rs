//! The statements ParityRail runs on the customer's Postgres: the handshake, the read-only
//! session start, the connection test, the repair credential's grants, batched reads by key
//! and the keyset scan.

use super::error::{PgError, PgErrorKind};
use crate::domain::integrations::{DbUrl, SslMode};
use crate::domain::sqlident::{SqlIdent, TableName};
use serde_json::Value;
use std::collections::BTreeMap;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_postgres::tls::TlsConnect;
use tokio_postgres::types::Type;
use tokio_postgres::{Client, Config, Connection};

/// Default server-side limit on every statement of a ParityRail session.
pub const STATEMENT_TIMEOUT_MS: u32 = 5_000;
/// Largest key batch one query reads (SPEC §6 cost target: ⌈customers/500⌉ round trips).
pub const MAX_KEYS_PER_QUERY: usize = 500;

pub fn config(url: &DbUrl) -> Config {
    let mut c = Config::new();
    c.user(&url.user)
        .password(url.password.as_bytes())
        .dbname(&url.database)
        .host(&url.host)
        .port(url.port)
        .application_name("parityrail")
        .ssl_mode(match url.sslmode {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Require => tokio_postgres::config::SslMode::Require,
        });
    c
}

/// Runs the Postgres handshake over `stream`, without a time limit (`ReadSession::open` adds
/// one). The caller spawns the returned connection.
pub async fn handshake<S, T>(
    stream: S,
    tls: T,
    url: &DbUrl,
) -> Result<(Client, Connection<S, T::Stream>), PgError>
where
    S: AsyncRead + AsyncWrite + Unpin,
    T: TlsConnect<S>,
{
    Ok(config(url).connect_raw(stream, tls).await?)
}

/// Makes the session read-only before anything else runs on it, sets the server's
/// `statement_timeout`, and checks the server took it. Client-side limits: `ReadSession`.
pub async fn begin_read_session(client: &Client, statement_timeout_ms: u32) -> Result<(), PgError> {
    client
        .batch_execute(&format!(
            "SET default_transaction_read_only = on; SET statement_timeout = {statement_timeout_ms}"
        ))
        .await?;
    let row = client
        .query_typed("SELECT current_setting('transaction_read_only') AS ro", &[])
        .await?
        .into_iter()
        .next()
        .ok_or(PgError::new(PgErrorKind::NotReadOnly))?;
    let ro: String = row.try_get("ro")?;
    if ro == "on" {
        Ok(())
    } else {
        Err(PgError::new(PgErrorKind::NotReadOnly))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    /// This session refuses writes (SPEC §4).
    pub read_only_enforced: bool,
    /// The role itself could write somewhere (superuser, or INSERT/UPDATE/DELETE/TRUNCATE on any
    /// user table): a warning, since the read credential should be read-only on its own.
    pub role_can_write: bool,
}

const ROLE_CAN_WRITE: &str = "SELECT current_setting('transaction_read_only') AS ro, \
    COALESCE((SELECT rolsuper FROM pg_roles WHERE rolname = current_user), false) \
    OR EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
       WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
       AND n.nspname NOT LIKE 'pg_toast%' \
       AND has_table_privilege(c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE')) AS can_write";

/// The connection test: run on a session that `begin_read_session` prepared.
pub async fn probe(client: &Client) -> Result<Probe, PgError> {
    let row = client.query_one(ROLE_CAN_WRITE, &[]).await?;
    let ro: String = row.try_get("ro")?;
    Ok(Probe {
        read_only_enforced: ro == "on",
        role_can_write: row.try_get("can_write")?,
    })
}

/// What the repair credential may write, from the database's own privileges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepairGrants {
    /// The allowlisted columns the role may update.
    pub can_update: Vec<String>,
    /// The allowlisted columns it may not (a repair writing them fails).
    pub cannot_update: Vec<String>,
    /// What it may write beyond the allowlist (other columns of the table, rows of other
    /// tables, insert/delete on the table, superuser): should be empty.
    pub beyond: Vec<String>,
}

const COLUMN_GRANTS: &str = "SELECT a.attname::text AS col, \
    has_column_privilege(a.attrelid, a.attnum, 'UPDATE') AS can_update \
    FROM pg_attribute a WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 \
    AND NOT a.attisdropped ORDER BY a.attnum";

const WIDER_GRANTS: &str = "SELECT \
    COALESCE((SELECT rolsuper FROM pg_roles WHERE rolname = current_user), false) AS superuser, \
    COALESCE((SELECT rolbypassrls FROM pg_roles WHERE rolname = current_user), false) AS bypassrls, \
    COALESCE(has_table_privilege(to_regclass($1), 'INSERT, DELETE, TRUNCATE'), false) AS table_rows, \
    COALESCE(has_table_privilege(to_regclass($1), 'TRIGGER'), false) AS table_trigger, \
    (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
       WHERE c.relkind IN ('r', 'p', 'v', 'f') AND c.oid IS DISTINCT FROM to_regclass($1) \
       AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' \
       AND (has_table_privilege(c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE, TRIGGER') \
            OR has_any_column_privilege(c.oid, 'UPDATE'))) AS other_tables";

/// The repair credential's grants on `table` against the repair allowlist (SPEC §5): read on
/// any session of that role (a read-only one suffices: this only reads the catalogs).
pub async fn repair_grants(
    client: &Client,
    table: &TableName,
    allowlist: &[SqlIdent],
) -> Result<RepairGrants, PgError> {
    let name = table.to_string();
    let rows = client
        .query_typed(COLUMN_GRANTS, &[(&name, Type::TEXT)])
        .await?;
    let mut g = RepairGrants {
        can_update: Vec::new(),
        cannot_update: Vec::new(),
        beyond: Vec::new(),
    };
    let mut found = Vec::new();
    for r in &rows {
        let col: String = r.try_get("col")?;
        let can: bool = r.try_get("can_update")?;
        if allowlist.iter().any(|a| a.as_str() == col) {
            found.push(col.clone());
            if can {
                g.can_update.push(col);
            } else {
                g.cannot_update.push(col);
            }
        } else if can {
            g.beyond.push(format!("column {col}"));
        }
    }
    for a in allowlist {
        if !found.iter().any(|f| f == a.as_str()) {
            g.cannot_update.push(a.as_str().to_owned());
        }
    }
    let w = client
        .query_typed(WIDER_GRANTS, &[(&name, Type::TEXT)])
        .await?
        .into_iter()
        .next()
        .ok_or(PgError::new(PgErrorKind::Query))?;
    if w.try_get::<_, bool>("superuser")? {
        g.beyond.push("everything (superuser)".to_owned());
    }
    if w.try_get::<_, bool>("bypassrls")? {
        g.beyond
            .push("rows hidden by row-level security (BYPASSRLS)".to_owned());
    }
    if w.try_get::<_, bool>("table_rows")? {
        g.beyond
            .push("insert, delete or truncate rows of the table".to_owned());
    }
    if w.try_get::<_, bool>("table_trigger")? {
        g.beyond
            .push("create triggers on the table (TRIGGER)".to_owned());
    }
    let others: i64 = w.try_get("other_tables")?;
    if others > 0 {
        g.beyond.push(format!("{others} other table(s)"));
    }
    Ok(g)
}

/// One app row: its key and the requested columns as JSON values.
#[derive(Debug, Clone, PartialEq)]
pub struct AppRow {
    pub key: String,
    pub values: BTreeMap<String, Value>,
}

/// Reads the rows whose `key_col` is one of `keys` (at most `MAX_KEYS_PER_QUERY`) in one
/// round trip: `WHERE key = ANY($1)`. Identifiers are validated types, quoted; keys are a
/// parameter. Supported column types: bool, text-like, integers.
pub async fn rows_by_keys(
    client: &Client,
    table: &TableName,
    key_col: &SqlIdent,
    columns: &[SqlIdent],
    capped: &[SqlIdent],
    keys: &[String],
) -> Result<Vec<AppRow>, PgError> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    if keys.len() > MAX_KEYS_PER_QUERY {
        return Err(PgError::new(PgErrorKind::Query));
    }
    let select = select_list(key_col, columns, capped);
    let sql = format!("{select} FROM {table} WHERE {key_col} = ANY($1)");
    // Typed parameters: one round trip (no separate prepare).
    let rows = client
        .query_typed(&sql, &[(&keys, Type::TEXT_ARRAY)])
        .await?;
    decode(rows, columns)
}

/// Up to `limit` rows whose `key_col` comes after `after` in byte order (`COLLATE "C"`), in that
/// order: one round trip of a keyset scan. Rows whose key is NULL are never returned.
pub async fn rows_after(
    client: &Client,
    table: &TableName,
    key_col: &SqlIdent,
    columns: &[SqlIdent],
    capped: &[SqlIdent],
    after: &str,
    limit: u32,
) -> Result<Vec<AppRow>, PgError> {
    let select = select_list(key_col, columns, capped);
    // No cast on the key: an index on `(key COLLATE "C")` (or a key column whose collation is
    // "C") serves both the filter and the order.
    let sql = format!(
        "{select} FROM {table} WHERE {key_col} COLLATE \"C\" > $1 \
         ORDER BY {key_col} COLLATE \"C\" LIMIT $2"
    );
    let rows = client
        .query_typed(
            &sql,
            &[(&after, Type::TEXT), (&i64::from(limit), Type::INT8)],
        )
        .await?;
    decode(rows, columns)
}

pub use crate::domain::reconcile::MAX_TEXT_CHARS;

fn select_list(key_col: &SqlIdent, columns: &[SqlIdent], capped: &[SqlIdent]) -> String {
    let mut select = format!("SELECT {key_col}::text AS \"__key\"");
    for c in columns {
        if capped.contains(c) {
            select.push_str(&format!(", left({c}, {MAX_TEXT_CHARS}) AS {c}"));
        } else {
            select.push_str(&format!(", {c}"));
        }
    }
    select
}

fn decode(rows: Vec<tokio_postgres::Row>, columns: &[SqlIdent]) -> Result<Vec<AppRow>, PgError> {
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let key: Option<String> = row.try_get(0)?;
        let values = values_from(&row, 1, columns)?;
        if let Some(key) = key {
            out.push(AppRow { key, values });
        }
    }
    Ok(out)
}

/// The mapped `columns` of `row`, starting at index `first`, as JSON values.
pub(super) fn values_from(
    row: &tokio_postgres::Row,
    first: usize,
    columns: &[SqlIdent],
) -> Result<BTreeMap<String, Value>, PgError> {
    let mut values = BTreeMap::new();
    for (i, c) in columns.iter().enumerate() {
        let idx = i + first;
        let ty = row.columns()[idx].type_().clone();
        let v = if ty == Type::BOOL {
            row.try_get::<_, Option<bool>>(idx)?
                .map_or(Value::Null, Value::Bool)
        } else if ty == Type::TEXT || ty == Type::VARCHAR || ty == Type::BPCHAR || ty == Type::NAME
        {
            row.try_get::<_, Option<String>>(idx)?
                .map_or(Value::Null, Value::String)
        } else if ty == Type::INT2 {
            row.try_get::<_, Option<i16>>(idx)?
                .map_or(Value::Null, |n| n.into())
        } else if ty == Type::INT4 {
            row.try_get::<_, Option<i32>>(idx)?
                .map_or(Value::Null, |n| n.into())
        } else if ty == Type::INT8 {
            row.try_get::<_, Option<i64>>(idx)?
                .map_or(Value::Null, |n| n.into())
        } else {
            return Err(PgError {
                kind: PgErrorKind::UnsupportedType,
                sqlstate: None,
            });
        };
        values.insert(c.as_str().to_owned(), v);
    }
    Ok(values)
}

/// The columns of `table` the session's role can see, as `(name, data_type)` in column order
/// (`information_schema`, so a table the role may not read looks like no table: empty).
pub async fn table_columns(
    client: &Client,
    table: &TableName,
) -> Result<Vec<(String, String)>, PgError> {
    let schema = table.schema.as_ref().map(|s| s.as_str().to_owned());
    let rows = client
        .query(
            "SELECT column_name::text, data_type::text FROM information_schema.columns \
             WHERE table_schema = COALESCE($1::text, current_schema()) AND table_name = $2::text \
             ORDER BY ordinal_position",
            &[&schema, &table.table.as_str()],
        )
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect()
}
