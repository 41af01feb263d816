//! What can go wrong with the customer's Postgres, and `classify`: the one place a driver error
//! becomes a `PgErrorKind`, TLS failures included.

use std::error::Error as _;
use tokio_postgres::error::SqlState;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PgErrorKind {
    /// Nothing answered, or the connection broke.
    Unreachable,
    /// `sslmode=require`, and the server answered the SSLRequest with "no": TLS is off there.
    TlsUnsupported,
    /// The server agreed to TLS but the handshake failed: its certificate was not accepted (not
    /// issued by a trusted CA, expired, or not naming the host in the URL), or no common TLS
    /// version or cipher. On Workers the runtime does not say which (see `tls`).
    TlsUntrusted,
    /// The server refused the user or password.
    AuthFailed,
    /// The database named in the URL does not exist.
    NoDatabase,
    /// The handshake, a statement or the session ran past its limit (the server's
    /// `statement_timeout`, sqlstate 57014, or the client's own, no sqlstate).
    Timeout,
    /// The read-only guard could not be set up.
    NotReadOnly,
    /// The mapped table or a column does not exist, or the role may not read it.
    Schema,
    /// A column has a type the mapping cannot use.
    UnsupportedType,
    /// The row a repair must lock is locked by another session past the lock timeout.
    Locked,
    /// The repair role may not lock or update the mapped table or a column (its grants).
    NotPermitted,
    /// Anything else the server said.
    Query,
}

/// A database failure, described without any secret or customer value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind:?} (sqlstate {sqlstate:?})")]
pub struct PgError {
    pub kind: PgErrorKind,
    /// The SQLSTATE, when the server sent one: safe to show, it is a code.
    pub sqlstate: Option<String>,
}

impl PgError {
    pub fn new(kind: PgErrorKind) -> Self {
        PgError {
            kind,
            sqlstate: None,
        }
    }
}

impl From<tokio_postgres::Error> for PgError {
    fn from(e: tokio_postgres::Error) -> Self {
        classify(&e)
    }
}

/// The Display tokio-postgres gives every failure of its TLS step (its private `Kind::Tls`).
const TLS_STEP: &str = "error performing TLS handshake";
/// Its cause when the server answers the SSLRequest with 'N' under `sslmode=require`.
const SERVER_REFUSED_TLS: &str = "server does not support TLS";

/// The one classification of driver errors: the SQLSTATE when the server sent one; otherwise a
/// `TlsHandshakeFailed` marker (`TlsWatch`) or tokio-postgres' TLS step means a TLS failure,
/// and anything else (I/O, closed connection, protocol trouble) is `Unreachable`. Tokio-postgres
/// keeps its error kinds private, so its TLS step is recognised by its two fixed strings.
pub fn classify(e: &tokio_postgres::Error) -> PgError {
    if let Some(code) = e.code() {
        let kind = if *code == SqlState::INVALID_PASSWORD
            || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
        {
            PgErrorKind::AuthFailed
        } else if *code == SqlState::INVALID_CATALOG_NAME {
            PgErrorKind::NoDatabase
        } else if *code == SqlState::QUERY_CANCELED {
            PgErrorKind::Timeout
        } else if *code == SqlState::UNDEFINED_TABLE
            || *code == SqlState::UNDEFINED_COLUMN
            || *code == SqlState::INSUFFICIENT_PRIVILEGE
            || *code == SqlState::INVALID_SCHEMA_NAME
        {
            PgErrorKind::Schema
        } else {
            PgErrorKind::Query
        };
        // The code comes from the server: passed on only in SQLSTATE's own shape.
        let sqlstate = Some(code.code())
            .filter(|c| {
                c.len() == 5
                    && c.bytes()
                        .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
            })
            .map(str::to_owned);
        return PgError { kind, sqlstate };
    }
    let kind = if super::tls::handshake_failed(e) {
        PgErrorKind::TlsUntrusted
    } else if e.to_string().starts_with(TLS_STEP) {
        match e.source().map(|c| c.to_string()) {
            Some(cause) if cause == SERVER_REFUSED_TLS => PgErrorKind::TlsUnsupported,
            _ => PgErrorKind::TlsUntrusted,
        }
    } else {
        PgErrorKind::Unreachable
    };
    PgError::new(kind)
}

impl PgErrorKind {
    /// The stable code and the message a person is shown for a database failure (inside a
    /// `200` by the connection test, and as the error of the work that read the app database).
    pub fn describe(self) -> (&'static str, &'static str) {
        match self {
            PgErrorKind::Unreachable => (
                "database_unreachable",
                "the database could not be reached or dropped the connection",
            ),
            PgErrorKind::AuthFailed => (
                "database_auth_failed",
                "the database refused the user or password",
            ),
            PgErrorKind::NoDatabase => (
                "database_not_found",
                "the database named in the URL does not exist",
            ),
            PgErrorKind::TlsUnsupported => (
                "database_tls_unsupported",
                "the database refused TLS: sslmode=require (the default) needs a server with ssl = on",
            ),
            PgErrorKind::TlsUntrusted => (
                "database_tls_untrusted",
                "the TLS handshake failed: the database's certificate was not accepted (it must chain to \
                 a publicly trusted CA, be within its validity period and name the host in the URL)",
            ),
            PgErrorKind::Timeout => ("database_timeout", "the database did not answer in time"),
            PgErrorKind::NotReadOnly => (
                "database_not_read_only",
                "the session could not be made read-only",
            ),
            PgErrorKind::Schema => (
                "database_schema",
                "a mapped table or column is missing or not readable",
            ),
            PgErrorKind::UnsupportedType => (
                "database_unsupported_type",
                "a mapped column has an unsupported type",
            ),
            PgErrorKind::Locked => (
                "database_row_locked",
                "another session held the row's lock past the lock timeout; nothing was written",
            ),
            PgErrorKind::NotPermitted => (
                "database_not_permitted",
                "the repair role may not update the mapped table or column: grant it UPDATE on the mapped columns",
            ),
            PgErrorKind::Query => ("database_error", "the database returned an error"),
        }
    }
}
