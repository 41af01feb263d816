//! Dashboard sessions (SPEC §11) as pure rules: the secrets (a session token in a `__Host-`
//! cookie, a one-time e-mail link), stored only as SHA-256 hashes; the CSRF token bound to the
//! session; idle (30 min) and absolute (12 h) expiry; the step-up window (10 min); the cookie
//! and `Origin` checks; and the e-mails the links go out in. Nothing here does I/O.
//!
//! A session acts through a key row: a session signed in with an API key acts with exactly that
//! key; an e-mail session acts with a `read` key minted for it (never shown to anyone), and a
//! confirmed step-up with a `repair` key that expires with the step-up. So revocation, the
//! caller checks of every change and the audit actor are those of keys, unchanged.

use super::base62;
use super::mail::Mail;
use super::ports::{RandomError, Rng};
use super::roles::Role;
use super::time::Timestamp;
use base64::Engine;
use serde::Serialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The session cookie. `__Host-`: only ever set with `Secure`, `Path=/` and no `Domain`, so
/// neither a sibling subdomain nor plain http can plant or overwrite it.
pub const COOKIE: &str = "__Host-pr_session";
/// The cookie that binds an e-mailed sign-in link to the browser that asked for it.
pub const NONCE_COOKIE: &str = "__Host-pr_signin";
/// The header a cookie-authenticated change carries its CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// A session unused this long is over.
pub const IDLE_MS: i64 = 30 * 60 * 1000;
/// A session is over this long after sign-in, however busy.
pub const ABSOLUTE_MS: i64 = 12 * 60 * 60 * 1000;
/// An e-mailed link works this long, once.
pub const LINK_MS: i64 = 10 * 60 * 1000;
/// A confirmed step-up lets an e-mail session change things this long.
pub const STEP_UP_MS: i64 = 10 * 60 * 1000;
/// `last_seen_at` is written at most this often (so reads do not each cost a write).
pub const TOUCH_MS: i64 = 60 * 1000;
/// The most memberships one e-mail sign-in request sends links for.
pub const MAX_LINKS: u32 = 10;

const SECRET_BYTES: usize = 32;
const SECRET_DIGITS: usize = 43;

/// A session token or a link token: 32 CSPRNG bytes as 43 base62 digits. Only its hash is stored.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

impl Secret {
    pub fn generate(rng: &mut impl Rng) -> Result<Self, RandomError> {
        let mut bytes = [0u8; SECRET_BYTES];
        rng.fill(&mut bytes)?;
        base62::encode_fixed(&bytes, SECRET_DIGITS)
            .map(Secret)
            .ok_or(RandomError)
    }

    /// A presented secret of the right shape; anything else is refused before any lookup.
    pub fn parse(s: &str) -> Option<Self> {
        (s.len() == SECRET_DIGITS && s.bytes().all(|b| b.is_ascii_alphanumeric()))
            .then(|| Secret(s.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What is stored: the hex SHA-256.
    pub fn hash(&self) -> String {
        Secret::digest(&self.0)
    }

    /// The hex SHA-256 of any string (a secret's, or an address a limit is kept by without
    /// naming it).
    pub fn digest(s: &str) -> String {
        hex(&Sha256::digest(s.as_bytes()))
    }

    /// The CSRF token of the session this secret opens: derived from it (domain-separated), so
    /// it is bound to the session, needs no storage, and cannot be computed without the cookie.
    pub fn csrf(&self) -> String {
        let mut h = Sha256::new();
        h.update(b"parityrail-csrf\0");
        h.update(self.0.as_bytes());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(h.finalize())
    }

    /// Whether `presented` is this session's CSRF token (constant time).
    pub fn csrf_matches(&self, presented: Option<&str>) -> bool {
        presented.is_some_and(|p| bool::from(self.csrf().as_bytes().ct_eq(p.as_bytes())))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// How a session was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    Key,
    Email,
}

impl Via {
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Key => "key",
            Via::Email => "email",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "key" => Some(Via::Key),
            "email" => Some(Via::Email),
            _ => None,
        }
    }
}

/// What an e-mailed link does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkPurpose {
    SignIn,
    StepUp,
}

impl LinkPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkPurpose::SignIn => "sign_in",
            LinkPurpose::StepUp => "step_up",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "sign_in" => Some(LinkPurpose::SignIn),
            "step_up" => Some(LinkPurpose::StepUp),
            _ => None,
        }
    }
}

/// Why a session is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    Idle,
    Absolute,
    /// The member's org role is below the one it signed in with.
    Demoted,
}

/// The times a session lives by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetime {
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
}

impl Lifetime {
    pub fn expires_at(&self) -> Timestamp {
        self.created_at.plus_seconds(ABSOLUTE_MS / 1000)
    }

    pub fn idle_expires_at(&self) -> Timestamp {
        let idle = self.last_seen_at.plus_seconds(IDLE_MS / 1000);
        idle.min(self.expires_at())
    }

    /// Whether the session is still alive at `now`.
    pub fn check(&self, now: Timestamp) -> Result<(), Ended> {
        if now >= self.expires_at() {
            Err(Ended::Absolute)
        } else if now.millis() - self.last_seen_at.millis() >= IDLE_MS {
            Err(Ended::Idle)
        } else {
            Ok(())
        }
    }

    /// Whether this request should move `last_seen_at`.
    pub fn needs_touch(&self, now: Timestamp) -> bool {
        now.millis() - self.last_seen_at.millis() >= TOUCH_MS
    }
}

/// A session is over once its member's org role drops below the one it signed in with.
pub fn demoted(signed_in_as: Role, now: Role) -> bool {
    now < signed_in_as
}

/// The session token in a `Cookie` header. Several cookies of that name (which `__Host-` should
/// make impossible) are refused rather than guessed between.
pub fn from_cookie_header(header: &str) -> Option<Secret> {
    named_cookie(header, COOKIE)
}

/// The secret in cookie `name` of a `Cookie` header (one of that name, or none).
pub fn named_cookie(header: &str, name: &str) -> Option<Secret> {
    let mut found = header
        .split(';')
        .filter_map(|c| c.trim().split_once('='))
        .filter(|(n, _)| *n == name)
        .map(|(_, v)| v.trim());
    let first = found.next()?;
    if found.next().is_some() {
        return None;
    }
    Secret::parse(first)
}

/// The `Set-Cookie` value that opens a session.
pub fn set_cookie(token: &Secret) -> String {
    format!(
        "{COOKIE}={}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age={}",
        token.expose(),
        ABSOLUTE_MS / 1000
    )
}

/// The `Set-Cookie` value that binds the links of one sign-in request to this browser (for as
/// long as a link works).
pub fn set_nonce_cookie(nonce: &Secret) -> String {
    format!(
        "{NONCE_COOKIE}={}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age={}",
        nonce.expose(),
        LINK_MS / 1000
    )
}

/// The `Set-Cookie` value that ends it in the browser.
pub fn clear_cookie() -> String {
    format!("{COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// The origin (`scheme://host[:port]`) of an absolute `http(s)` URL, as a browser sends it in
/// `Origin` (lower case, no user info). Hand-parsed: the request URLs the runtime hands over are
/// absolute, and a full URL parser (with IDNA tables) would cost the worker ~40 KB of wasm.
pub fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b));
    ok.then(|| format!("{scheme}://{}", host.to_ascii_lowercase()))
}

/// Whether a browser request's `Origin` is the site's own (`request_url`'s). A missing or
/// `null` origin is not.
pub fn same_origin(origin: Option<&str>, request_url: &str) -> bool {
    match (origin, origin_of(request_url)) {
        (Some(o), Some(own)) => o == own,
        _ => false,
    }
}

/// Whether `method` changes state (and so needs the CSRF token and a same-site `Origin`).
pub fn is_unsafe(method: &str) -> bool {
    !matches!(method, "GET" | "HEAD" | "OPTIONS")
}

/// Where an e-mailed link points: the dashboard's landing page, the token in the fragment (so it
/// reaches neither a server log nor a `Referer`).
pub fn link_url(origin: &str, token: &Secret) -> String {
    format!("{origin}/signin/email#token={}", token.expose())
}

/// The sign-in e-mail: one link per org the address is a member of.
pub fn sign_in_mail(to: &str, links: &[(String, String)]) -> Mail {
    let mut text = String::from(
        "Someone asked to sign in to ParityRail with this address. Each link below works once, \
         for 10 minutes, and only in the browser that asked for it. If it was not you, ignore \
         this e-mail.\n\n",
    );
    for (org, url) in links {
        text.push_str(&format!("{org}:\n{url}\n\n"));
    }
    Mail {
        to: to.to_owned(),
        subject: "Your ParityRail sign-in link".to_owned(),
        text,
    }
}

/// The step-up e-mail.
pub fn step_up_mail(to: &str, org: &str, url: &str) -> Mail {
    Mail {
        to: to.to_owned(),
        subject: "Confirm a change in ParityRail".to_owned(),
        text: format!(
            "Your dashboard session in {org} asked to approve, reject or change something. \
             Open this link in the same browser to allow changes for 10 minutes (it works once, \
             for 10 minutes):\n{url}\n\nIf it was not you, tell your admin now: removing or \
             demoting you ends all your sessions.\n"
        ),
    }
}

#[cfg(test)]
mod tests;
