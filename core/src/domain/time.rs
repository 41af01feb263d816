//! Timestamps: milliseconds since the Unix epoch inside, RFC 3339 UTC strings with millisecond
//! precision (`2026-11-23T21:07:16.123Z`) outside. The fixed width makes lexical order equal
//! time order, which D1 queries rely on.

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("not an RFC 3339 timestamp")]
pub struct TimestampError;

impl Timestamp {
    pub fn from_millis(ms: i64) -> Self {
        Timestamp(ms)
    }

    pub fn millis(self) -> i64 {
        self.0
    }

    pub fn plus_seconds(self, s: i64) -> Self {
        Timestamp(self.0.saturating_add(s.saturating_mul(1000)))
    }

    /// Parses any RFC 3339 timestamp (any offset) and normalises it to UTC.
    pub fn parse(s: &str) -> Result<Self, TimestampError> {
        DateTime::parse_from_rfc3339(s)
            .map(|d| Timestamp(d.timestamp_millis()))
            .map_err(|_| TimestampError)
    }

    pub fn to_rfc3339(self) -> String {
        match Utc.timestamp_millis_opt(self.0).single() {
            Some(d) => d.to_rfc3339_opts(SecondsFormat::Millis, true),
            None => "1970-01-01T00:00:00.000Z".to_owned(),
        }
    }
}

impl Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Timestamp::parse(&s).map_err(|_| serde::de::Error::custom("expected an RFC 3339 timestamp"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_render_as_fixed_width_utc() {
        let t = Timestamp::from_millis(1_795_468_036_123);
        assert_eq!(t.to_rfc3339(), "2026-11-23T21:07:16.123Z");
        assert_eq!(
            Timestamp::from_millis(0).to_rfc3339(),
            "1970-01-01T00:00:00.000Z"
        );
    }

    #[test]
    fn offsets_are_normalised_to_utc() {
        let t = Timestamp::parse("2026-11-23T22:07:16.123+01:00").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-23T21:07:16.123Z");
    }

    #[test]
    fn garbage_is_not_a_timestamp() {
        assert_eq!(Timestamp::parse("yesterday"), Err(TimestampError));
        assert_eq!(
            Timestamp::parse("2026-13-01T00:00:00Z"),
            Err(TimestampError)
        );
    }
}
