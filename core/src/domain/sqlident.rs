//! SQL identifiers from mappings (SPEC §5): `^[A-Za-z_][A-Za-z0-9_]{0,62}$`, always rendered
//! double-quoted. A table may be `schema.table`. Values never pass through here: they are
//! always query parameters.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SqlIdent(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "not a valid SQL identifier (letters, digits and _, starting with a letter or _, at most 63)"
)]
pub struct IdentError;

impl SqlIdent {
    pub fn parse(s: &str) -> Result<Self, IdentError> {
        let b = s.as_bytes();
        let ok = !b.is_empty()
            && b.len() <= 63
            && (b[0].is_ascii_alphabetic() || b[0] == b'_')
            && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_');
        if ok {
            Ok(SqlIdent(s.to_owned()))
        } else {
            Err(IdentError)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `"name"` — safe because the name can contain neither `"` nor anything but [A-Za-z0-9_].
impl fmt::Display for SqlIdent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{}\"", self.0)
    }
}

/// `table` or `schema.table`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableName {
    pub schema: Option<SqlIdent>,
    pub table: SqlIdent,
}

impl TableName {
    pub fn parse(s: &str) -> Result<Self, IdentError> {
        match s.split_once('.') {
            Some((schema, table)) => Ok(TableName {
                schema: Some(SqlIdent::parse(schema)?),
                table: SqlIdent::parse(table)?,
            }),
            None => Ok(TableName {
                schema: None,
                table: SqlIdent::parse(s)?,
            }),
        }
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.schema {
            Some(schema) => write!(f, "{schema}.{}", self.table),
            None => write!(f, "{}", self.table),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(SqlIdent::parse("plan").unwrap().to_string(), "\"plan\"");
        assert_eq!(
            TableName::parse("billing.accounts").unwrap().to_string(),
            "\"billing\".\"accounts\""
        );
    }

    #[test]
    fn injection_attempts_are_refused() {
        for bad in [
            "",
            "1plan",
            "plan;drop table x",
            "pl\"an",
            "a b",
            "a.b.c",
            "ÿ",
            &"a".repeat(64),
            "plan--",
        ] {
            assert!(TableName::parse(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn whatever_parses_renders_without_quotes_inside(s in ".{0,70}") {
            if let Ok(id) = SqlIdent::parse(&s) {
                let r = id.to_string();
                prop_assert_eq!(r.matches('"').count(), 2);
                prop_assert!(s.len() <= 63);
            }
        }
    }
}
