//! The two file formats of a bundle (JSONL and CSV), unit by unit.

use crate::domain::audit::AuditEntry;
use crate::domain::canonical::to_canonical;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Jsonl,
    Csv,
    Both,
}

impl Format {
    pub fn files(self) -> Vec<FileKind> {
        match self {
            Format::Jsonl => vec![FileKind::Jsonl],
            Format::Csv => vec![FileKind::Csv],
            Format::Both => vec![FileKind::Jsonl, FileKind::Csv],
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Jsonl => "jsonl",
            Format::Csv => "csv",
            Format::Both => "both",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "jsonl" => Some(Format::Jsonl),
            "csv" => Some(Format::Csv),
            "both" => Some(Format::Both),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Jsonl,
    Csv,
}

pub const CSV_HEADER: &str = "seq,at,actor,action,target,before,after,prev_hash,hash\r\n";

impl FileKind {
    pub fn name(self) -> &'static str {
        match self {
            FileKind::Jsonl => "entries.jsonl",
            FileKind::Csv => "entries.csv",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            FileKind::Jsonl => "application/x-ndjson",
            FileKind::Csv => "text/csv; charset=utf-8",
        }
    }

    pub(super) fn header(self) -> &'static [u8] {
        match self {
            FileKind::Jsonl => b"",
            FileKind::Csv => CSV_HEADER.as_bytes(),
        }
    }

    /// An entry's line: canonical JSON and `\n`, or an RFC 4180 record ending `\r\n` whose
    /// `before` and `after` are canonical JSON.
    pub fn line(self, e: &AuditEntry) -> Vec<u8> {
        match self {
            FileKind::Jsonl => {
                let mut s = to_canonical(&entry_value(e));
                s.push('\n');
                s.into_bytes()
            }
            FileKind::Csv => {
                let fields = [
                    e.seq.to_string(),
                    e.at.clone(),
                    e.actor.clone(),
                    e.action.clone(),
                    e.target.clone(),
                    to_canonical(&e.before),
                    to_canonical(&e.after),
                    e.prev_hash.clone(),
                    e.hash.clone(),
                ];
                let mut s = String::new();
                for (i, f) in fields.iter().enumerate() {
                    if i > 0 {
                        s.push(',');
                    }
                    csv_field(f, &mut s);
                }
                s.push_str("\r\n");
                s.into_bytes()
            }
        }
    }

    /// Which file a bundle file name is, if any.
    pub fn of_name(name: &str) -> Option<Self> {
        [FileKind::Jsonl, FileKind::Csv]
            .into_iter()
            .find(|k| k.name() == name)
    }
}

/// The entry as the JSON object the API returns (its nine fields).
pub fn entry_value(e: &AuditEntry) -> Value {
    serde_json::to_value(e).unwrap_or(Value::Null)
}

fn csv_field(f: &str, out: &mut String) {
    if f.contains([',', '"', '\r', '\n']) {
        out.push('"');
        out.push_str(&f.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(f);
    }
}
