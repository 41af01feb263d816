//! The D1 rows of the adapter's repositories (`src/repo/*`), apart from the SQL that reads and
//! writes them: each row as D1 returns it, and its pure methods — parsing a row into the
//! domain's types at the boundary (a stored value that does not parse is a corrupt row, an
//! internal `Fault`), the non-secret JSON or `api::views` view a response or an audit payload
//! shows, and the rows a request mints. No I/O; tested natively.

pub mod credentials;
pub mod exports;
pub mod hooks;
pub mod incidents;
pub mod keys;
pub mod members;
pub mod orgs;
pub mod projects;
pub mod repairs;
pub mod runs;
pub mod sessions;
pub mod signing;
pub mod webhooks;

#[cfg(test)]
mod tests;

/// A bound parameter of a D1 statement (after the org's `?1`, which the adapter's tenant binds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arg {
    Text(String),
    Int(i64),
    Null,
}

impl Arg {
    pub fn text(s: impl Into<String>) -> Arg {
        Arg::Text(s.into())
    }

    pub fn opt(s: Option<impl Into<String>>) -> Arg {
        s.map_or(Arg::Null, |s| Arg::Text(s.into()))
    }
}

/// A D1 statement as data: its SQL and its parameters from `?2` on.
pub type Query = (String, Vec<Arg>);
