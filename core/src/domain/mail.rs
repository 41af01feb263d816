//! Outgoing e-mail (sign-in links, step-up confirmations, alerts) and the request the Resend API
//! takes for it (`POST {RESEND_API_BASE}/emails`). The adapter sends it, or — with no
//! `RESEND_API_KEY` set — writes it to the worker's log, so a local demo works offline.

use serde::Serialize;
use serde_json::{json, Value};

/// The sender when `MAIL_FROM` is not set.
pub const DEFAULT_FROM: &str = "ParityRail <no-reply@parityrail.dev>";
/// The Resend API when `RESEND_API_BASE` is not set.
pub const DEFAULT_RESEND_BASE: &str = "https://api.resend.com";

/// An e-mail to send: plain text only (nothing in it is markup).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub text: String,
}

impl Mail {
    /// The Resend `POST /emails` body.
    pub fn resend_body(&self, from: &str) -> Value {
        json!({"from": from, "to": [self.to], "subject": self.subject, "text": self.text})
    }
}

/// The Resend endpoint under `base` (a trailing `/` is dropped).
pub fn resend_url(base: &str) -> String {
    format!("{}/emails", base.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_resend_request_is_plain_text_to_one_address() {
        let m = Mail {
            to: "a@b.test".into(),
            subject: "S".into(),
            text: "<b>not markup</b>".into(),
        };
        let b = m.resend_body(DEFAULT_FROM);
        assert_eq!(b["to"], json!(["a@b.test"]));
        assert_eq!(b["text"], "<b>not markup</b>");
        assert!(b.get("html").is_none());
        assert_eq!(
            resend_url("http://127.0.0.1:9/"),
            "http://127.0.0.1:9/emails"
        );
        assert_eq!(
            resend_url(DEFAULT_RESEND_BASE),
            "https://api.resend.com/emails"
        );
    }
}
