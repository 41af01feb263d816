//! Outbound webhook rows (`domain::hooks`, migration 0023): endpoints (their sealed secrets
//! never in a view), events, deliveries and attempts; the bodies their routes take; and the pure
//! steps of the drain — which deliveries a page of audit entries makes, the headers of a send,
//! and what a send's answer leaves behind.

use crate::domain::audit::{Action, Actor, AuditEntry, Draft};
use crate::domain::hooks::{
    disable_due, endpoint_url, is_event, outcome, parse_description, parse_events, payload,
    signature_header, subscribed,
};
use crate::domain::hooks::{Outcome, MAX_GRACE_SECS};
use crate::domain::input::{parse_json, InputError};
use crate::domain::time::Timestamp;
use crate::domain::vault::{Binding, Keyring};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// The vault binding of an endpoint's secrets: its org, project and id, kind `hook_secret`.
pub fn secret_binding<'a>(org: &'a str, project: &'a str, endpoint: &'a str) -> Binding<'a> {
    Binding {
        org_id: org,
        project_id: project,
        kind: "hook_secret",
        credential_id: endpoint,
    }
}

/// A stored endpoint (`secret_sealed` and `old_secret_sealed` are vault blobs; no view shows
/// them).
#[derive(Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct EndpointRow {
    pub id: String,
    pub url: String,
    pub description: String,
    pub events: String,
    pub status: String,
    pub disabled_reason: Option<String>,
    pub secret_sealed: String,
    pub old_secret_sealed: Option<String>,
    pub old_secret_until: Option<String>,
    pub from_seq: i64,
    pub failing_since: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl EndpointRow {
    /// A new enabled endpoint (`from_seq` is set when it is committed).
    pub fn new(
        id: String,
        url: String,
        description: String,
        events: &[String],
        sealed: String,
        now: Timestamp,
    ) -> Self {
        let now = now.to_rfc3339();
        EndpointRow {
            id,
            url,
            description,
            events: json!(events).to_string(),
            status: "enabled".into(),
            disabled_reason: None,
            secret_sealed: sealed,
            old_secret_sealed: None,
            old_secret_until: None,
            from_seq: 0,
            failing_since: None,
            created_at: now.clone(),
            updated_at: now,
        }
    }

    pub fn enabled(&self) -> bool {
        self.status == "enabled"
    }

    /// Its subscription (`["*"]` for a row that does not parse: it was written by us).
    pub fn filters(&self) -> Vec<String> {
        serde_json::from_str(&self.events).unwrap_or_else(|_| vec!["*".to_owned()])
    }

    /// What the API and the audit log show of it: never a secret.
    pub fn view(&self, project_id: &str) -> Value {
        json!({
            "id": self.id,
            "project_id": project_id,
            "url": self.url,
            "description": self.description,
            "events": self.filters(),
            "status": self.status,
            "disabled_reason": self.disabled_reason,
            "previous_secret_valid_until": self.old_secret_until,
            "failing_since": self.failing_since,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        })
    }

    /// The secrets to sign with at `now` (sealed): the current one, and the rotated-out one
    /// while its grace lasts.
    pub fn sealed_secrets(&self, now: Timestamp) -> Vec<&str> {
        let mut out = vec![self.secret_sealed.as_str()];
        if let (Some(old), Some(until)) = (&self.old_secret_sealed, &self.old_secret_until) {
            if Timestamp::parse(until).is_ok_and(|u| u > now) {
                out.push(old);
            }
        }
        out
    }

    /// After `PATCH`: the settings `p` changes; enabling clears the failures (`from_seq` is the
    /// caller's to set), disabling records why. Whether it was enabled or disabled by it.
    pub fn patched(&self, p: &Patch, now: Timestamp) -> (EndpointRow, Toggle) {
        let mut after = self.clone();
        if let Some(u) = &p.url {
            after.url = u.clone();
        }
        if let Some(e) = &p.events {
            after.events = json!(e).to_string();
        }
        if let Some(d) = &p.description {
            after.description = d.clone();
        }
        let toggle = match p.enabled {
            Some(true) if !self.enabled() => {
                after.status = "enabled".into();
                after.disabled_reason = None;
                after.failing_since = None;
                Toggle::Enabled
            }
            Some(false) if self.enabled() => {
                after.status = "disabled".into();
                after.disabled_reason = Some("disabled through the API".into());
                Toggle::Disabled
            }
            _ => Toggle::None,
        };
        after.updated_at = now.to_rfc3339();
        (after, toggle)
    }

    /// After a rotation to `fresh` (sealed): the old secret valid `grace` seconds more (none
    /// for 0).
    pub fn rotated(&self, fresh: String, grace: u64, now: Timestamp) -> EndpointRow {
        let mut after = self.clone();
        after.secret_sealed = fresh;
        (after.old_secret_sealed, after.old_secret_until) = if grace == 0 {
            (None, None)
        } else {
            let until = now.plus_seconds(i64::try_from(grace).unwrap_or(0));
            (Some(self.secret_sealed.clone()), Some(until.to_rfc3339()))
        };
        after.updated_at = now.to_rfc3339();
        after
    }

    /// Disabled by the system for `why`.
    pub fn disabled(&self, why: &str, now: Timestamp) -> EndpointRow {
        let mut after = self.clone();
        after.status = "disabled".into();
        after.disabled_reason = Some(why.to_owned());
        after.updated_at = now.to_rfc3339();
        after
    }
}

/// The audit draft of a change to an endpoint (`None`: it did not exist before, or does not
/// after), both sides as `EndpointRow::view` shows them.
pub fn endpoint_draft(
    actor: Actor,
    action: Action,
    project_id: &str,
    before: Option<&EndpointRow>,
    after: Option<&EndpointRow>,
) -> Draft {
    let view = |e: Option<&EndpointRow>| e.map_or(Value::Null, |e| e.view(project_id));
    let id = before.or(after).map_or("", |e| e.id.as_str());
    Draft::new(
        actor,
        action,
        format!("webhook_endpoint:{id}"),
        view(before),
        view(after),
    )
}

/// What a `PATCH` did to an endpoint's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Toggle {
    None,
    Enabled,
    Disabled,
}

/// The fields a `PATCH` may change, validated.
#[derive(Debug, Default)]
pub struct Patch {
    pub url: Option<String>,
    pub description: Option<String>,
    pub events: Option<Vec<String>>,
    pub enabled: Option<bool>,
}

/// Every body the webhook-endpoint routes take, as one type (one decoder in the wasm); each
/// route refuses the fields it does not take (`Body::parse`).
#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
pub struct Body {
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub events: Option<Vec<String>>,
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default)]
    pub grace_seconds: Option<u64>,
    #[serde(default)]
    pub endpoint_id: Option<String>,
}

impl Body {
    /// The body (`{}` when empty), refusing any field but `allowed`.
    pub fn parse(raw: &[u8], allowed: &[&str]) -> Result<Body, InputError> {
        let b: Body = if raw.iter().all(u8::is_ascii_whitespace) {
            Body::default()
        } else {
            parse_json(raw)?
        };
        let given = [
            ("url", b.url.is_some()),
            ("description", b.description.is_some()),
            ("events", b.events.is_some()),
            ("enabled", b.enabled.is_some()),
            ("grace_seconds", b.grace_seconds.is_some()),
            ("endpoint_id", b.endpoint_id.is_some()),
        ];
        match given.iter().find(|(n, set)| *set && !allowed.contains(n)) {
            Some(_) => Err(InputError::field(
                "body",
                format!("unknown field; expected {}", allowed.join(", ")),
            )),
            None => Ok(b),
        }
    }

    /// A new endpoint's `(url, description, events)`, validated (`live`: the project's
    /// environment).
    pub fn endpoint(&self, live: bool) -> Result<(String, String, Vec<String>), InputError> {
        let url = self
            .url
            .as_deref()
            .ok_or_else(|| InputError::field("url", "is required"))?;
        Ok((
            endpoint_url(url, live)?,
            parse_description(self.description.as_deref().unwrap_or(""))?,
            parse_events(self.events.as_deref())?,
        ))
    }

    /// A `PATCH`, validated.
    pub fn patch(&self, live: bool) -> Result<Patch, InputError> {
        Ok(Patch {
            url: self
                .url
                .as_deref()
                .map(|u| endpoint_url(u, live))
                .transpose()?,
            description: self
                .description
                .as_deref()
                .map(parse_description)
                .transpose()?,
            events: match &self.events {
                Some(e) => Some(parse_events(Some(e))?),
                None => None,
            },
            enabled: self.enabled,
        })
    }

    /// A rotation's grace (default a day, at most 7 days).
    pub fn grace(&self) -> Result<u64, InputError> {
        let g = self
            .grace_seconds
            .unwrap_or(crate::domain::hooks::DEFAULT_GRACE_SECS);
        if g > MAX_GRACE_SECS {
            return Err(InputError::field(
                "grace_seconds",
                "expected at most 604800 (7 days)",
            ));
        }
        Ok(g)
    }
}

/// Where a replay of an event of type `ty` goes: to endpoint `want` (`Err(true)`: none such;
/// `Err(false)`: it is disabled), or to every enabled endpoint subscribed to the type.
pub fn replay_targets<'a>(
    all: &'a [EndpointRow],
    want: Option<&str>,
    ty: &str,
) -> Result<Vec<&'a EndpointRow>, bool> {
    match want {
        Some(want) => match all.iter().find(|e| e.id == want) {
            None => Err(true),
            Some(e) if !e.enabled() => Err(false),
            Some(e) => Ok(vec![e]),
        },
        None => Ok(all
            .iter()
            .filter(|e| e.enabled() && subscribed(&e.filters(), ty))
            .collect()),
    }
}

/// A stored event: its body is what is signed and sent, every time.
#[derive(Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct EventRow {
    pub id: String,
    pub seq: i64,
    #[serde(rename = "type")]
    pub ty: String,
    pub payload: String,
}

/// A stored delivery.
#[derive(Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct DeliveryRow {
    pub id: String,
    pub endpoint_id: String,
    pub event_id: String,
    pub event_type: String,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: String,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl DeliveryRow {
    /// As the API lists it, with its attempts.
    pub fn view(&self, attempts: Vec<&AttemptRow>) -> Value {
        json!({
            "id": self.id,
            "endpoint_id": self.endpoint_id,
            "event_id": self.event_id,
            "event_type": self.event_type,
            "status": self.status,
            "attempt_count": self.attempts,
            "next_attempt_at": (self.status == "pending").then_some(&self.next_attempt_at),
            "last_status": self.last_status,
            "last_error": self.last_error,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "attempts": attempts,
        })
    }

    /// A new delivery of `event` to `endpoint`, due at `now`.
    pub fn new(id: String, endpoint: &str, event: &EventRow, now: Timestamp) -> Self {
        let now = now.to_rfc3339();
        DeliveryRow {
            id,
            endpoint_id: endpoint.to_owned(),
            event_id: event.id.clone(),
            event_type: event.ty.clone(),
            status: "pending".into(),
            attempts: 0,
            next_attempt_at: now.clone(),
            last_status: None,
            last_error: None,
            created_at: now.clone(),
            updated_at: now,
        }
    }
}

/// One send of a delivery.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct AttemptRow {
    #[serde(skip_serializing)]
    pub delivery_id: String,
    pub n: i64,
    pub at: String,
    pub status: Option<i64>,
    pub error: Option<String>,
    pub duration_ms: i64,
}

/// The events a page of a project's audit entries makes, each with the endpoints (of
/// `endpoints`, enabled) it goes to: an entry whose action is an event type, to each endpoint
/// registered before it and subscribed to its type (an event no endpoint takes is not stored).
/// At most `budget` rows (an event and its deliveries) are made: the second value is the last
/// entry the events cover, where the walk's cursor moves. `ids` names each new event.
pub fn fan_out(
    project_id: &str,
    entries: &[AuditEntry],
    endpoints: &[EndpointRow],
    budget: usize,
    mut ids: impl FnMut(&str) -> String,
) -> (Vec<(EventRow, Vec<String>)>, Option<u64>) {
    let (mut out, mut rows, mut covered) = (Vec::new(), 0, None);
    for e in entries {
        let seq = i64::try_from(e.seq).unwrap_or(i64::MAX);
        let to: Vec<String> = endpoints
            .iter()
            .filter(|ep| {
                is_event(&e.action)
                    && ep.enabled()
                    && ep.from_seq < seq
                    && subscribed(&ep.filters(), &e.action)
            })
            .map(|ep| ep.id.clone())
            .collect();
        if !to.is_empty() {
            if rows > 0 && rows + 1 + to.len() > budget {
                break;
            }
            rows += 1 + to.len();
            let event = EventRow {
                id: ids("evt"),
                seq,
                ty: e.action.clone(),
                payload: payload(
                    &e.action, &e.at, project_id, e.seq, &e.target, &e.before, &e.after,
                ),
            };
            out.push((event, to));
        }
        covered = Some(e.seq);
    }
    (out, covered)
}

/// The headers of one send of `event` at Unix time `ts`, signed with `secrets` (plaintext).
pub fn headers(event: &EventRow, ts: i64, secrets: &[&str]) -> [(&'static str, String); 5] {
    [
        ("content-type", "application/json".to_owned()),
        ("user-agent", "ParityRail-Webhooks/1".to_owned()),
        ("webhook-id", event.id.clone()),
        ("webhook-timestamp", ts.to_string()),
        (
            "webhook-signature",
            signature_header(secrets, &event.id, ts, &event.payload),
        ),
    ]
}

/// The headers of one send of `event` to `ep` at `at`, signed with its secrets opened from
/// `ring` (a rotated-out one that no longer opens, its master key retired, is left out; the
/// current one must open).
pub fn signed_headers(
    ring: &Keyring,
    org: &str,
    project: &str,
    ep: &EndpointRow,
    event: &EventRow,
    at: Timestamp,
) -> Result<[(&'static str, String); 5], String> {
    let b = secret_binding(org, project, &ep.id);
    let sealed = ep.sealed_secrets(at);
    let current = ring
        .open(&b, sealed[0])
        .map_err(|_| "the endpoint's secret could not be opened".to_owned())?;
    let old: Vec<_> = sealed[1..]
        .iter()
        .filter_map(|s| ring.open(&b, s).ok())
        .collect();
    let mut plain = vec![current.expose()];
    plain.extend(old.iter().map(|s| s.expose()));
    Ok(headers(event, at.millis() / 1000, &plain))
}

/// What one send leaves behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub delivery: DeliveryRow,
    pub attempt: AttemptRow,
    /// Whether the endpoint's run of failures goes on (or begins) with this send.
    pub failed: bool,
    /// Why the endpoint is disabled by it, if it is.
    pub disable: Option<String>,
}

/// Send number `d.attempts + 1` of `d` to `ep` answered `status` (`None`: `error` kept it from
/// answering) after `took_ms`, at `now`; `jitter` and `unit_us` as `domain::hooks::outcome`.
#[allow(clippy::too_many_arguments)]
pub fn sent(
    d: &DeliveryRow,
    ep: &EndpointRow,
    status: Option<u16>,
    error: Option<String>,
    took_ms: u64,
    now: Timestamp,
    jitter: u8,
    unit_us: u64,
) -> Sent {
    let at = now.to_rfc3339();
    let n = d.attempts + 1;
    let attempt = AttemptRow {
        delivery_id: d.id.clone(),
        n,
        at,
        status: status.map(i64::from),
        error,
        duration_ms: i64::try_from(took_ms).unwrap_or(i64::MAX),
    };
    let mut delivery = d.clone();
    delivery.attempts = n;
    delivery.last_status = attempt.status;
    delivery.last_error = attempt.error.clone();
    let result = outcome(
        status,
        u32::try_from(n).unwrap_or(u32::MAX),
        jitter,
        unit_us,
    );
    let mut disable = None;
    match &result {
        Outcome::Delivered => delivery.status = "delivered".into(),
        Outcome::Retry(us) => {
            let ms = i64::try_from(us / 1000).unwrap_or(i64::MAX);
            delivery.next_attempt_at =
                Timestamp::from_millis(now.millis().saturating_add(ms)).to_rfc3339();
        }
        Outcome::Failed => delivery.status = "failed".into(),
        Outcome::Gone => {
            delivery.status = "failed".into();
            disable = Some("the endpoint answered 410 Gone".to_owned());
        }
    }
    let failed = result != Outcome::Delivered;
    let since = ep
        .failing_since
        .as_deref()
        .and_then(|s| Timestamp::parse(s).ok())
        .unwrap_or(now);
    if failed && disable.is_none() && disable_due(since.millis(), now.millis(), unit_us) {
        disable = Some("every send failed for 24 hours".to_owned());
    }
    Sent {
        delivery,
        attempt,
        failed,
        disable,
    }
}

pub mod sql;

#[cfg(test)]
mod tests;
