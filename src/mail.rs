//! The mailer: `domain::mail::Mail` sent through the Resend API (`RESEND_API_KEY`, at
//! `RESEND_API_BASE`, from `MAIL_FROM`), within 10 s. Without a key nothing is sent; with
//! `MAIL_LOG=1` (local development, the demo) the e-mail goes to the worker's log instead, so a
//! local demo signs in offline. A failure is logged by its HTTP status
//! only: never the key, and never the text (it holds one-time links).

use crate::connectors::{exchange, read_capped};
use crate::services::Services;
use parityrail_core::domain::mail::{resend_url, Mail, DEFAULT_FROM, DEFAULT_RESEND_BASE};
use parityrail_core::stripe::HttpResponse;
use serde_json::json;
use worker::{Headers, Method, Request, RequestInit};

const TIMEOUT_MS: u64 = 10_000;

pub async fn send(svc: &Services, mail: &Mail) {
    let Some(key) = svc.var("RESEND_API_KEY") else {
        // Only where the operator asked for it (`MAIL_LOG=1`, local development and the demo):
        // the text holds one-time links.
        if svc.var("MAIL_LOG").as_deref() == Some("1") {
            let log = json!({"mail": "not sent (no RESEND_API_KEY): logged (MAIL_LOG=1)", "to": mail.to,
                   "subject": mail.subject, "text": mail.text});
            worker::console_log!("{log}");
        } else {
            worker::console_error!(
                "{}",
                json!({"mail": "not sent: no RESEND_API_KEY", "subject": mail.subject})
            );
        }
        return;
    };
    let status = post(svc, &key, mail).await;
    if status.is_none_or(|s| !(200..300).contains(&s)) {
        worker::console_error!(
            "{}",
            json!({"mail": "failed", "subject": mail.subject, "status": status})
        );
    }
}

/// The sender (`MAIL_FROM`).
pub fn from(svc: &Services) -> String {
    svc.var("MAIL_FROM")
        .unwrap_or_else(|| DEFAULT_FROM.to_owned())
}

/// The HTTP status Resend answered, or `None` when it did not within the deadline.
async fn post(svc: &Services, _key: &str, mail: &Mail) -> Option<u16> {
    let body = mail.resend_body(&from(svc)).to_string();
    post_json(svc, body, None).await.map(|r| r.status)
}

/// `POST /emails` with `body` (and an `Idempotency-Key` when given): Resend's answer (status and
/// `Retry-After`), or `None` when none came within the deadline or no key is configured.
pub async fn post_json(
    svc: &Services,
    body: String,
    idempotency: Option<&str>,
) -> Option<HttpResponse> {
    let key = svc.var("RESEND_API_KEY")?;
    let base = svc
        .var("RESEND_API_BASE")
        .unwrap_or_else(|| DEFAULT_RESEND_BASE.to_owned());
    let headers = Headers::new();
    headers
        .set("authorization", &format!("Bearer {key}"))
        .ok()?;
    headers.set("content-type", "application/json").ok()?;
    if let Some(k) = idempotency {
        headers.set("idempotency-key", k).ok()?;
    }
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_body(Some(body.into()));
    let req = Request::new_with_init(&resend_url(&base), &init).ok()?;
    // The same exchange as Stripe's (one instantiation of it in the wasm); Resend's answer is small.
    exchange(req, TIMEOUT_MS, read_capped).await.ok()
}
