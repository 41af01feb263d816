//! Stripe webhooks (SPEC §7), pure: the `Stripe-Signature` header, the signature check, and what
//! ParityRail takes from a verified event (its id, type, time and customer — a hint of whom to
//! re-read, never a fact to decide on).
//!
//! The signature is HMAC-SHA256 of `{t}.{raw body}` keyed with the whole `whsec_…` secret, hex in
//! `v1=`; a header may carry several `v1` values (Stripe sends one per active secret), and a
//! project may have two secrets while it rotates: any pair matching is enough. Every comparison
//! is constant-time; the timestamp must be within `TOLERANCE_SECS` of now either way.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// How far the signed timestamp may be from now, either way.
pub const TOLERANCE_SECS: i64 = 300;
/// The largest body accepted (refused before it is read whole).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// The longest `Stripe-Signature` header parsed, and the most `v1` values taken from it.
const MAX_HEADER_BYTES: usize = 4096;
const MAX_SIGNATURES: usize = 8;

/// A parsed `Stripe-Signature` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureHeader {
    pub timestamp: i64,
    pub v1: Vec<[u8; 32]>,
}

/// Why a delivery is refused. The endpoint answers every one of them the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejected {
    Malformed,
    Stale,
    NoSecret,
    Mismatch,
}

/// Parses `t=<unix seconds>,v1=<64 hex>[,v1=…][,v0=…]`. Unknown schemes are ignored; a missing
/// or repeated `t`, no `v1`, or a malformed `v1` is `None`.
pub fn parse_header(h: &str) -> Option<SignatureHeader> {
    if h.len() > MAX_HEADER_BYTES {
        return None;
    }
    let mut timestamp = None;
    let mut v1 = Vec::new();
    for part in h.split(',') {
        let (k, v) = part.trim().split_once('=')?;
        match k {
            "t" => {
                if timestamp.is_some() || v.is_empty() || v.len() > 12 {
                    return None;
                }
                if !v.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                timestamp = Some(v.parse::<i64>().ok()?);
            }
            "v1" => {
                if v1.len() == MAX_SIGNATURES {
                    continue;
                }
                v1.push(unhex32(v)?);
            }
            _ => {}
        }
    }
    let timestamp = timestamp?;
    (!v1.is_empty()).then_some(SignatureHeader { timestamp, v1 })
}

fn unhex32(s: &str) -> Option<[u8; 32]> {
    let b = s.as_bytes();
    if b.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in b.chunks(2).enumerate() {
        let hi = (pair[0] as char).to_digit(16)?;
        let lo = (pair[1] as char).to_digit(16)?;
        out[i] = (hi * 16 + lo) as u8;
    }
    Some(out)
}

/// HMAC-SHA256 of `{timestamp}.{body}` under `secret`.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> [u8; 32] {
    // HMAC takes a key of any length.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => return [0; 32],
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().into()
}

/// The secret slots every verification signs the body under, real or not: a project's one or
/// two secrets (two only while rotating) and, where it has fewer (or no project answers the
/// id), stand-ins that never match. So a refused delivery costs the same HMAC work whatever
/// the project: timing does not tell whether an id is known, or how many secrets it has.
pub const SECRET_SLOTS: usize = 2;

/// The key of a stand-in slot. Public, and harmless: a stand-in's result is masked out.
const STAND_IN: &[u8] = b"parityrail: a webhook secret slot with no secret";

/// The keys the body is signed under, each with whether it is a real secret: the secrets, then
/// stand-ins up to `SECRET_SLOTS`.
fn slots<'a>(secrets: &'a [&'a [u8]]) -> impl Iterator<Item = (&'a [u8], bool)> + 'a {
    let stand_ins = SECRET_SLOTS.saturating_sub(secrets.len());
    secrets
        .iter()
        .map(|s| (*s, true))
        .chain(std::iter::repeat_n((STAND_IN, false), stand_ins))
}

/// Checks a delivery: the header parses, its timestamp is within `TOLERANCE_SECS` of `now_secs`,
/// and some `v1` value is the signature of the body under some secret. Returns the signed
/// timestamp. The body is signed under `SECRET_SLOTS` slots at least (stand-ins where there are
/// fewer secrets), and every slot and every signature is compared (no early exit on a match).
pub fn verify(
    header: &str,
    body: &[u8],
    secrets: &[&[u8]],
    now_secs: i64,
) -> Result<i64, Rejected> {
    let h = parse_header(header).ok_or(Rejected::Malformed)?;
    if (now_secs - h.timestamp).abs() > TOLERANCE_SECS {
        return Err(Rejected::Stale);
    }
    let mut ok = subtle::Choice::from(0);
    for (secret, real) in slots(secrets) {
        let expected = sign(secret, h.timestamp, body);
        let mut matched = subtle::Choice::from(0);
        for given in &h.v1 {
            matched |= expected.ct_eq(given);
        }
        ok |= matched & subtle::Choice::from(u8::from(real));
    }
    if secrets.is_empty() {
        Err(Rejected::NoSecret)
    } else if bool::from(ok) {
        Ok(h.timestamp)
    } else {
        Err(Rejected::Mismatch)
    }
}

/// What ParityRail keeps of a verified event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventFacts {
    pub id: String,
    pub kind: String,
    pub created: i64,
    /// The customer to re-read, when the event names one.
    pub customer: Option<String>,
    /// Stripe's `livemode`, when the event says.
    pub livemode: Option<bool>,
}

/// Whether an event of this type can change a customer's access (and so asks for a check).
pub fn triggers_check(kind: &str) -> bool {
    kind.starts_with("customer.subscription.")
        || matches!(
            kind,
            "customer.created"
                | "customer.updated"
                | "customer.deleted"
                | "invoice.paid"
                | "invoice.payment_succeeded"
                | "invoice.payment_failed"
                | "invoice.payment_action_required"
                | "invoice.marked_uncollectible"
                | "entitlements.active_entitlement_summary.updated"
        )
}

/// Reads the event's id, type, creation time and customer from a verified body. `None` when the
/// body is not a Stripe event (an id `evt_…`, a type, a creation time). The customer is
/// `data.object.id` for `customer.*` events and `data.object.customer` otherwise, taken only
/// when it looks like a customer id.
pub fn event_facts(body: &[u8]) -> Option<EventFacts> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    facts_of(&v)
}

/// `event_facts` of an event already parsed (one listed by the Events API).
pub fn facts_of(v: &serde_json::Value) -> Option<EventFacts> {
    let id = v.get("id")?.as_str()?;
    let kind = v.get("type")?.as_str()?;
    let created = v.get("created")?.as_i64()?;
    let safe = |s: &str, prefix: &str| {
        s.starts_with(prefix)
            && s.len() <= 255
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    };
    if !safe(id, "evt_") || kind.is_empty() || kind.len() > 100 || !kind.is_ascii() {
        return None;
    }
    let object = v.get("data").and_then(|d| d.get("object"));
    let customer = if kind.starts_with("customer.") && !kind.starts_with("customer.subscription.") {
        object.and_then(|o| o.get("id"))
    } else {
        object.and_then(|o| o.get("customer"))
    };
    // An event of a Connect account (it names the `account`) is about a customer of that
    // account, which the project's own key cannot read: recorded, never checked.
    let connected = v.get("account").is_some_and(|a| !a.is_null());
    let customer = customer
        .and_then(|c| c.as_str().or_else(|| c.get("id").and_then(|i| i.as_str())))
        .filter(|c| safe(c, "cus_") && !connected)
        .map(str::to_owned);
    Some(EventFacts {
        id: id.to_owned(),
        kind: kind.to_owned(),
        created,
        customer,
        livemode: v.get("livemode").and_then(serde_json::Value::as_bool),
    })
}

/// How long the outbox rows of a customer whose check failed wait before attempt `attempts + 1`:
/// 10 s doubling, at most an hour; a day when only a person can end the failure (the project is
/// not configured for checks, or its app table is ambiguous for the customer).
pub fn retry_after_secs(needs_a_person: bool, attempts: i64) -> i64 {
    if needs_a_person {
        86_400
    } else {
        (10i64 << attempts.clamp(0, 9)).min(3600)
    }
}

#[cfg(test)]
mod tests;
