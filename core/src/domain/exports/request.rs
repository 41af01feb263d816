//! An export request as a caller sends it, checked: the range, the format, the actions.

use super::format::*;
use crate::domain::input::InputError;
use crate::domain::time::Timestamp;
use serde::Deserialize;
use serde_json::Value;

/// The largest sequence number a request may name (2^53 − 1: exact in a JavaScript number and
/// in D1's integers).
pub const MAX_SEQ: u64 = (1 << 53) - 1;
/// The most action names one export may select.
pub const MAX_ACTIONS: usize = 50;

/// One end of a requested range: a sequence number, or a time (entries' `at` never goes
/// backwards along a chain, so a time range is a sequence range).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bound {
    Seq(u64),
    Time(Timestamp),
}

/// `POST …/exports`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportRequest {
    pub from: Option<Bound>,
    pub to: Option<Bound>,
    pub actions: Option<Vec<String>>,
    pub format: Format,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    #[serde(default)]
    from: Value,
    #[serde(default)]
    to: Value,
    #[serde(default)]
    actions: Option<Vec<String>>,
    #[serde(default)]
    format: Option<String>,
}

fn bound(field: &str, v: &Value) -> Result<Option<Bound>, InputError> {
    const WHAT: &str = "must be a sequence number (1 or more) or an RFC 3339 time";
    match v {
        Value::Null => Ok(None),
        Value::Number(n) => match n.as_u64() {
            Some(s) if (1..=MAX_SEQ).contains(&s) => Ok(Some(Bound::Seq(s))),
            _ => Err(InputError::field(field, WHAT)),
        },
        Value::String(s)
            if !s.is_empty() && s.len() <= 40 && s.bytes().all(|b| b.is_ascii_digit()) =>
        {
            match s.parse::<u64>() {
                Ok(n) if (1..=MAX_SEQ).contains(&n) => Ok(Some(Bound::Seq(n))),
                _ => Err(InputError::field(field, WHAT)),
            }
        }
        Value::String(s) if s.len() <= 64 => Timestamp::parse(s)
            .map(|t| Some(Bound::Time(t)))
            .map_err(|_| InputError::field(field, WHAT)),
        _ => Err(InputError::field(field, WHAT)),
    }
}

/// An audit action name: dotted lowercase words (`repair.executed`).
pub fn is_action(s: &str) -> bool {
    s.len() <= 64
        && s.split('.').count() >= 2
        && s.split('.').all(|w| {
            w.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
                && w.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        })
}

impl ExportRequest {
    pub fn parse(body: &[u8]) -> Result<Self, InputError> {
        let b: Body = crate::domain::input::parse_json(body)?;
        let from = bound("from", &b.from)?;
        let to = bound("to", &b.to)?;
        match (&from, &to) {
            (Some(Bound::Seq(a)), Some(Bound::Seq(z))) if a > z => {
                return Err(InputError::field("to", "must not be before from"))
            }
            (Some(Bound::Time(a)), Some(Bound::Time(z))) if a > z => {
                return Err(InputError::field("to", "must not be before from"))
            }
            _ => {}
        }
        let actions = match b.actions {
            None => None,
            Some(list) => {
                if list.is_empty() || list.len() > MAX_ACTIONS {
                    return Err(InputError::field(
                        "actions",
                        format!("must list 1 to {MAX_ACTIONS} action names"),
                    ));
                }
                if !list.iter().all(|a| is_action(a)) {
                    return Err(InputError::field(
                        "actions",
                        "each must be an action name such as repair.executed",
                    ));
                }
                let mut list = list;
                list.sort();
                list.dedup();
                Some(list)
            }
        };
        let format = match b.format.as_deref() {
            None => Format::Jsonl,
            Some(s) => Format::parse(s)
                .ok_or_else(|| InputError::field("format", "must be jsonl, csv or both"))?,
        };
        Ok(ExportRequest {
            from,
            to,
            actions,
            format,
        })
    }
}
