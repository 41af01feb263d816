//! Outbound incident webhooks (SPEC §11): a project's HTTPS endpoints receive its `incident.*`
//! and `repair.*` events, signed per the Standard Webhooks specification.
//!
//! The events are the project's own audit entries: the adapter's drain walks the project chain
//! from a cursor and turns each entry whose action is an event type into one event and a
//! delivery per subscribed endpoint, in the batch that moves the cursor (so nothing is lost and
//! nothing sent twice as new); each delivery is then sent with its attempts' backoff. This
//! module holds the rules: which actions are events, the payload, the secret and signature
//! format, which URLs a project may register, and what an answer means for a delivery and its
//! endpoint.

use crate::domain::input::InputError;
use crate::domain::ports::{RandomError, Rng};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The event types an endpoint can receive: the audit actions of the same name.
pub static EVENT_TYPES: [&str; 11] = [
    "incident.opened",
    "incident.resolved",
    "incident.ignored",
    "repair.created",
    "repair.approved",
    "repair.rejected",
    "repair.executed",
    "repair.verified",
    "repair.unverified",
    "repair.failed",
    "repair.stale",
];

/// Filters an endpoint may subscribe with beyond the types: everything, or a family.
static WILDCARDS: [&str; 3] = ["*", "incident.*", "repair.*"];

/// Endpoints one project may register.
pub const MAX_ENDPOINTS: usize = 10;
/// Longest endpoint URL.
pub const MAX_URL_LEN: usize = 2048;
/// Sends of one delivery at most: the first and one per `RETRY_SECS` entry.
pub const MAX_ATTEMPTS: u32 = 8;
/// The nominal wait before each retry, in seconds (with ±10% jitter): about 27.6 hours in all,
/// at least 24.8 hours with the shortest jitter.
pub static RETRY_SECS: [u64; 7] = [5, 300, 1_800, 7_200, 18_000, 36_000, 36_000];
/// An endpoint that has failed every send for this long is disabled.
pub const DISABLE_AFTER_SECS: u64 = 86_400;
/// The longest a rotated-out secret stays valid beside the new one.
pub const MAX_GRACE_SECS: u64 = 7 * 86_400;
/// A rotated-out secret stays valid this long unless asked otherwise.
pub const DEFAULT_GRACE_SECS: u64 = 86_400;

/// Whether an audit action is an event type.
pub fn is_event(action: &str) -> bool {
    EVENT_TYPES.contains(&action)
}

/// Whether an endpoint subscribed with `filters` receives events of type `ty`.
pub fn subscribed(filters: &[String], ty: &str) -> bool {
    filters.iter().any(|f| {
        f == "*"
            || f == ty
            || f.strip_suffix('*')
                .is_some_and(|family| ty.starts_with(family))
    })
}

/// An endpoint's subscription from a request: each a known type or wildcard, each once, sorted;
/// none given is everything (`["*"]`).
pub fn parse_events(given: Option<&[String]>) -> Result<Vec<String>, InputError> {
    let Some(given) = given else {
        return Ok(vec!["*".to_owned()]);
    };
    if given.is_empty() || given.len() > 20 {
        return Err(InputError::field(
            "events",
            "expected 1 to 20 event types (omit it for every event)",
        ));
    }
    let mut out = Vec::with_capacity(given.len());
    for e in given {
        if !EVENT_TYPES.contains(&e.as_str()) && !WILDCARDS.contains(&e.as_str()) {
            return Err(InputError::field(
                "events",
                format!(
                    "expected event types among {}, {}",
                    EVENT_TYPES.join(", "),
                    WILDCARDS.join(", ")
                ),
            ));
        }
        out.push(e.clone());
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// A description as stored: printable, at most 200 characters.
pub fn parse_description(d: &str) -> Result<String, InputError> {
    if d.chars().count() > 200 || d.chars().any(char::is_control) {
        return Err(InputError::field(
            "description",
            "expected at most 200 printable characters",
        ));
    }
    Ok(d.to_owned())
}

/// An endpoint URL a project may register: no user name or password, no fragment, at most
/// `MAX_URL_LEN`; when `strict` (a live project, or a test project where the deployment does
/// not allow private addresses), `https` only and never a private, loopback, link-local or
/// otherwise non-public address (`localhost` included); else `http` too, and any address.
pub fn endpoint_url(raw: &str, strict: bool) -> Result<String, InputError> {
    let live = strict;
    let bad = |m: &str| InputError::field("url", m.to_owned());
    if raw.len() > MAX_URL_LEN {
        return Err(bad("expected a URL of at most 2048 characters"));
    }
    let url = url::Url::parse(raw).map_err(|_| bad("expected an absolute https URL"))?;
    match url.scheme() {
        "https" => {}
        "http" if !live => {}
        _ => return Err(bad("expected an https URL")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("expected a URL without a user name or password"));
    }
    if url.fragment().is_some() {
        return Err(bad("expected a URL without a fragment"));
    }
    let refused = match url.host() {
        None => return Err(bad("expected a URL with a host")),
        Some(_) if !live => false,
        Some(url::Host::Ipv4(a)) => !public_v4(a),
        Some(url::Host::Ipv6(a)) => !public_v6(a),
        Some(url::Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost"
                || d.ends_with(".localhost")
                || d.ends_with(".local")
                || d.ends_with(".internal")
                || !d.contains('.')
        }
    };
    if refused {
        return Err(bad(
            "a live project's endpoint must be a public address (not private, loopback or link-local)",
        ));
    }
    Ok(url.to_string())
}

/// Whether an IPv4 address is publicly routable.
pub fn public_v4(a: Ipv4Addr) -> bool {
    let [o0, o1, o2, _] = a.octets();
    !(a.is_private()
        || a.is_loopback()
        || a.is_link_local()
        || a.is_unspecified()
        || a.is_broadcast()
        || a.is_multicast()
        || a.is_documentation()
        || o0 == 0
        || o0 >= 240
        || (o0 == 100 && (64..128).contains(&o1))
        || (o0 == 198 && (o1 == 18 || o1 == 19))
        || (o0 == 192 && o1 == 0 && o2 == 0))
}

/// Whether an IPv6 address is publicly routable (an address embedding IPv4 is judged by it).
pub fn public_v6(a: Ipv6Addr) -> bool {
    if let Some(v4) = a.to_ipv4_mapped() {
        return public_v4(v4);
    }
    let s = a.segments();
    let v4 = |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    // NAT64 (64:ff9b::/96) and SIIT (::ffff:0:0/96) carry an IPv4 address in their last 32
    // bits, 6to4 (2002::/16) in the 32 after its prefix.
    if (s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0])
        || (s[..4] == [0, 0, 0, 0] && s[4] == 0xffff && s[5] == 0)
    {
        return public_v4(v4(s[6], s[7]));
    }
    if s[0] == 0x2002 {
        return public_v4(v4(s[1], s[2]));
    }
    !(a.is_loopback()
        || a.is_unspecified()
        || a.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // unique local
        || (s[0] & 0xffc0) == 0xfe80 // link-local
        || (s[0] & 0xffc0) == 0xfec0 // site-local
        || s[0] == 0x2001 && s[1] == 0x0db8 // documentation
        || s[0] == 0x2001 && s[1] == 0 // Teredo (an address it cannot judge)
        || s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1 // local-use NAT64
        || s[..4] == [0x100, 0, 0, 0] // discard-only
        || s[..6] == [0, 0, 0, 0, 0, 0]) // IPv4-compatible and the rest of ::/96
}

/// Whether an address is public (for callers holding an `IpAddr`).
pub fn public_ip(a: IpAddr) -> bool {
    match a {
        IpAddr::V4(a) => public_v4(a),
        IpAddr::V6(a) => public_v6(a),
    }
}

/// A new endpoint secret: `whsec_` and 32 random bytes in base64.
pub fn new_secret(rng: &mut impl Rng) -> Result<String, RandomError> {
    let mut key = [0u8; 32];
    rng.fill(&mut key)?;
    Ok(format!("whsec_{}", B64.encode(key)))
}

/// `v1,<base64 HMAC-SHA256>` of `id.timestamp.body` under `secret` (`whsec_…`); `None` for a
/// secret that is not one of ours.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &str) -> Option<String> {
    let key = B64.decode(secret.strip_prefix("whsec_")?).ok()?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).ok()?;
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    Some(format!("v1,{}", B64.encode(mac.finalize().into_bytes())))
}

/// The `webhook-signature` header: one signature per valid secret, space-separated (a receiver
/// accepts the message when any verifies: both during a rotation).
pub fn signature_header(secrets: &[&str], id: &str, timestamp: i64, body: &str) -> String {
    secrets
        .iter()
        .filter_map(|s| sign(s, id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The body of an event: its type, when the change was recorded, and the project, the audit
/// entry it is and the object as the change left it (`incident` or `repair`, as the API shows
/// it; as it was before, for a change that leaves none).
pub fn payload(
    ty: &str,
    at: &str,
    project_id: &str,
    seq: u64,
    target: &str,
    before: &Value,
    after: &Value,
) -> String {
    let object = target.split(':').next().unwrap_or("object");
    let state = if after.is_null() { before } else { after };
    let mut data = json!({"project_id": project_id, "audit_seq": seq});
    data[object] = state.clone();
    json!({"type": ty, "timestamp": at, "data": data}).to_string()
}

/// What an attempt's answer means for its delivery and endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// Send again after this many microseconds.
    Retry(u64),
    /// No more sends of this delivery.
    Failed,
    /// `410 Gone`: the endpoint is disabled, the delivery failed.
    Gone,
}

/// The answer to send number `attempts` (1 for the first) of a delivery — its HTTP status, or
/// `None` when none came in time — with `jitter` (a random byte: ±10% of the wait) and
/// `unit_us` microseconds to a second of the schedule (tests shorten it).
pub fn outcome(status: Option<u16>, attempts: u32, jitter: u8, unit_us: u64) -> Outcome {
    match status {
        Some(s) if (200..300).contains(&s) => Outcome::Delivered,
        Some(410) => Outcome::Gone,
        _ => match RETRY_SECS.get(attempts.saturating_sub(1) as usize) {
            Some(secs) if attempts < MAX_ATTEMPTS => {
                let nominal = secs.saturating_mul(unit_us);
                Outcome::Retry(nominal.saturating_mul(900 + u64::from(jitter) * 200 / 255) / 1000)
            }
            _ => Outcome::Failed,
        },
    }
}

/// Whether an endpoint failing since `failing_since_ms` (its first failed send in a row) is to
/// be disabled at `now_ms`.
pub fn disable_due(failing_since_ms: i64, now_ms: i64, unit_us: u64) -> bool {
    let window_ms = DISABLE_AFTER_SECS.saturating_mul(unit_us) / 1000;
    now_ms.saturating_sub(failing_since_ms) >= i64::try_from(window_ms).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests;
