//! Dashboard session rows (`sessions`, `login_links`, migration 0020), parsed into the domain's
//! types at the boundary (a stored value that does not parse is a corrupt row: the session or
//! link does not open), and the session as the API shows it (`SessionView`).

use crate::domain::apikey::{Capability, Environment};
use crate::domain::ids::{KeyId, MemberId, OrgId};
use crate::domain::roles::Role;
use crate::domain::sessions::{Lifetime, LinkPurpose, Via};
use crate::domain::time::Timestamp;
use serde::{Deserialize, Serialize};

/// A session as authentication reads it, across orgs, by its token's hash.
#[derive(Debug, Clone, Deserialize)]
pub struct SessionRow {
    pub id: String,
    pub org_id: String,
    pub via: String,
    pub member_id: String,
    pub key_id: String,
    pub signed_in_role: String,
    pub step_up_key_id: Option<String>,
    pub step_up_until: Option<String>,
    pub created_at: String,
    pub last_seen_at: String,
}

/// A live session, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionAuth {
    pub id: String,
    pub org: OrgId,
    pub via: Via,
    pub member: MemberId,
    pub key_id: KeyId,
    pub signed_in_role: Role,
    /// The step-up's `repair` key and its end, while one was confirmed.
    pub step_up: Option<(KeyId, Timestamp)>,
    pub life: Lifetime,
}

impl SessionRow {
    pub fn parse(self) -> Option<SessionAuth> {
        let step_up = match (self.step_up_key_id, self.step_up_until) {
            (Some(k), Some(t)) => Some((KeyId::parse(&k).ok()?, Timestamp::parse(&t).ok()?)),
            (None, None) => None,
            _ => return None,
        };
        Some(SessionAuth {
            id: self.id,
            org: OrgId::parse(&self.org_id).ok()?,
            via: Via::parse(&self.via)?,
            member: MemberId::parse(&self.member_id).ok()?,
            key_id: KeyId::parse(&self.key_id).ok()?,
            signed_in_role: Role::parse(&self.signed_in_role)?,
            step_up,
            life: Lifetime {
                created_at: Timestamp::parse(&self.created_at).ok()?,
                last_seen_at: Timestamp::parse(&self.last_seen_at).ok()?,
            },
        })
    }
}

impl SessionAuth {
    /// The key the session acts with at `now`: the step-up's while it lasts, else its own.
    pub fn acting_key(&self, now: Timestamp) -> &KeyId {
        match &self.step_up {
            Some((k, until)) if now < *until => k,
            _ => &self.key_id,
        }
    }

    /// The end of a step-up still running at `now`.
    pub fn stepped_up_until(&self, now: Timestamp) -> Option<Timestamp> {
        self.step_up.as_ref().map(|(_, t)| *t).filter(|t| now < *t)
    }
}

/// A link consumed (its `used_at` set by the one conditional update that may set it).
#[derive(Debug, Clone, Deserialize)]
pub struct LinkRow {
    pub org_id: String,
    pub member_id: String,
    pub environment: String,
    pub purpose: String,
    pub session_id: Option<String>,
}

/// A consumed link, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub org: OrgId,
    pub member: MemberId,
    pub environment: Environment,
    pub purpose: LinkPurpose,
    pub session_id: Option<String>,
}

impl LinkRow {
    pub fn parse(self) -> Option<Link> {
        let purpose = LinkPurpose::parse(&self.purpose)?;
        if (purpose == LinkPurpose::StepUp) != self.session_id.is_some() {
            return None;
        }
        Some(Link {
            org: OrgId::parse(&self.org_id).ok()?,
            member: MemberId::parse(&self.member_id).ok()?,
            environment: Environment::parse(&self.environment)?,
            purpose,
            session_id: self.session_id,
        })
    }
}

/// One org an e-mail address is a member of (the e-mail sign-in's lookup, across orgs).
#[derive(Debug, Clone, Deserialize)]
pub struct MembershipRow {
    pub org_id: String,
    pub org_name: String,
    pub member_id: String,
}

/// The org a session is in, as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionOrg {
    pub id: String,
    pub name: String,
}

/// `GET /v1/session`. The CSRF token is here (and in the sign-in answer) for the page's script
/// to send back; it is useless without the `HttpOnly` cookie it is derived from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionView {
    pub id: String,
    pub via: Via,
    pub org: SessionOrg,
    pub member_id: String,
    pub email: String,
    pub role: Role,
    pub capability: Capability,
    pub environment: Environment,
    pub project_id: Option<String>,
    pub created_at: String,
    pub expires_at: String,
    pub idle_expires_at: String,
    pub step_up_until: Option<String>,
    pub csrf_token: String,
}

/// The key a session acts with that nobody ever holds: a `read` key for an e-mail session (for
/// its whole life), or a `repair` key for a confirmed step-up (for its ten minutes). Minted for
/// the member itself, org-wide, in the link's environment; stored as `purpose = 'session'`.
pub fn session_key(
    member_id: &str,
    environment: Environment,
    capability: Capability,
    expires_at: Timestamp,
) -> crate::rows::keys::NewKeySpec {
    crate::rows::keys::NewKeySpec {
        name: match capability {
            Capability::Read => "dashboard session".to_owned(),
            Capability::Repair => "dashboard step-up".to_owned(),
        },
        environment,
        capability,
        project_id: None,
        member_id: member_id.to_owned(),
        expires_at: Some(expires_at.to_rfc3339()),
        origin: None,
        via: None,
    }
}

/// The audit entry of a session opened, stepped up or ended: who, how, with which key, until
/// when. Never a secret (the token and link are only ever hashes, and not even those here).
pub fn entry(
    actor: crate::domain::audit::Actor,
    action: crate::domain::audit::Action,
    session_id: &str,
    via: Via,
    key_id: &str,
    until: Option<Timestamp>,
) -> crate::domain::audit::Draft {
    crate::domain::audit::Draft::new(
        actor,
        action,
        format!("session:{session_id}"),
        serde_json::Value::Null,
        serde_json::json!({
            "id": session_id,
            "via": via,
            "key_id": key_id,
            "until": until.map(Timestamp::to_rfc3339),
        }),
    )
}

/// A key just minted, as authentication would read it once stored (its member's org role read
/// now): what a session opened or stepped up acts with from its first answer.
pub fn minted_auth(
    row: &crate::rows::keys::KeyRow,
    org: &OrgId,
    role: Role,
) -> Option<crate::rows::keys::KeyAuth> {
    Some(crate::rows::keys::KeyAuth {
        key_id: KeyId::parse(&row.id).ok()?,
        org: org.clone(),
        member: MemberId::parse(&row.member_id).ok()?,
        role,
        environment: row.environment,
        project: None,
        capability: row.capability,
        expires_at: match &row.expires_at {
            Some(t) => Some(Timestamp::parse(t).ok()?),
            None => None,
        },
        revoked: false,
        last_used_at: None,
        origin: None,
    })
}

impl SessionAuth {
    /// What a request of this session acts with at `now`, given the step-up's key and the
    /// session's own key as read now: the step-up's while it lasts and works, else its own.
    /// `None` — the session is over (idle, past 12 h, its key revoked or expired, its member
    /// gone or demoted below its sign-in role) and is to be ended.
    pub fn acting(
        &self,
        step_up: Option<crate::rows::keys::KeyAuth>,
        own: Option<crate::rows::keys::KeyAuth>,
        now: Timestamp,
    ) -> Option<crate::rows::keys::KeyAuth> {
        let usable = |k: &crate::rows::keys::KeyAuth| {
            crate::domain::access::key_is_active(k.revoked, k.expires_at, now)
                && k.member == self.member
        };
        let step_up = step_up.filter(|_| self.stepped_up_until(now).is_some());
        let key = step_up.filter(usable).or(own.filter(usable))?;
        let alive = self.life.check(now).is_ok();
        (alive && !crate::domain::sessions::demoted(self.signed_in_role, key.role)).then_some(key)
    }
}

/// A session about to be stored: its row, and the token only its cookie will hold.
pub struct NewSession {
    pub token: crate::domain::sessions::Secret,
    pub auth: SessionAuth,
}

impl NewSession {
    /// A session for the member of `key`, acting with it, opened at `now`.
    pub fn open(
        key: &crate::rows::keys::KeyAuth,
        via: Via,
        now: Timestamp,
        rng: &mut impl crate::domain::ports::Rng,
    ) -> Result<Self, crate::domain::ports::RandomError> {
        Ok(NewSession {
            token: crate::domain::sessions::Secret::generate(rng)?,
            auth: SessionAuth {
                id: crate::domain::ids::SessionId::generate(rng)?.to_string(),
                org: key.org.clone(),
                via,
                member: key.member.clone(),
                key_id: key.key_id.clone(),
                signed_in_role: key.role,
                step_up: None,
                life: Lifetime {
                    created_at: now,
                    last_seen_at: now,
                },
            },
        })
    }
}

/// A one-time link about to be stored: its row's values, and the token only the e-mail holds.
pub struct NewLink {
    pub token: crate::domain::sessions::Secret,
    pub member_id: String,
    pub environment: Environment,
    pub purpose: LinkPurpose,
    pub session_id: Option<String>,
    /// A sign-in link's: the hash of the nonce cookie of the browser that asked.
    pub nonce_hash: Option<String>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// Whom a new link is for: a sign-in link, for the browser holding the nonce (its hash), or a
/// step-up link of one session.
pub enum LinkFor<'a> {
    SignIn { nonce_hash: &'a str },
    StepUp { session_id: &'a str },
}

impl NewLink {
    /// A sign-in or step-up link, valid for 10 minutes.
    pub fn new(
        member_id: &str,
        environment: Environment,
        to: LinkFor<'_>,
        now: Timestamp,
        rng: &mut impl crate::domain::ports::Rng,
    ) -> Result<Self, crate::domain::ports::RandomError> {
        Ok(NewLink {
            token: crate::domain::sessions::Secret::generate(rng)?,
            member_id: member_id.to_owned(),
            environment,
            purpose: match to {
                LinkFor::StepUp { .. } => LinkPurpose::StepUp,
                LinkFor::SignIn { .. } => LinkPurpose::SignIn,
            },
            session_id: match to {
                LinkFor::StepUp { session_id } => Some(session_id.to_owned()),
                LinkFor::SignIn { .. } => None,
            },
            nonce_hash: match to {
                LinkFor::SignIn { nonce_hash } => Some(nonce_hash.to_owned()),
                LinkFor::StepUp { .. } => None,
            },
            created_at: now,
            expires_at: now.plus_seconds(crate::domain::sessions::LINK_MS / 1000),
        })
    }
}

/// What `GET /v1/session` shows of a session, as the caller acts now.
pub struct ViewOf<'a> {
    pub session: &'a SessionAuth,
    pub org: SessionOrg,
    pub member_email: String,
    pub role: Role,
    pub capability: Capability,
    pub environment: Environment,
    pub project_id: Option<String>,
    pub csrf_token: String,
}

impl SessionView {
    pub fn of(v: ViewOf<'_>, now: Timestamp) -> SessionView {
        let s = v.session;
        // This request moved `last_seen_at` when it was due.
        let seen = if s.life.needs_touch(now) {
            now
        } else {
            s.life.last_seen_at
        };
        let life = Lifetime {
            created_at: s.life.created_at,
            last_seen_at: seen,
        };
        SessionView {
            id: s.id.clone(),
            via: s.via,
            org: v.org,
            member_id: s.member.to_string(),
            email: v.member_email,
            role: v.role,
            capability: v.capability,
            environment: v.environment,
            project_id: v.project_id,
            created_at: life.created_at.to_rfc3339(),
            expires_at: life.expires_at().to_rfc3339(),
            idle_expires_at: life.idle_expires_at().to_rfc3339(),
            step_up_until: s.stepped_up_until(now).map(|t| t.to_rfc3339()),
            csrf_token: v.csrf_token,
        }
    }
}

/// An open session of a member and the keys minted for it (what ending it revokes).
#[derive(Debug, Clone, Deserialize)]
pub struct OpenSessionRow {
    pub id: String,
    pub via: String,
    pub key_id: String,
    pub step_up_key_id: Option<String>,
}

/// The keys minted for a session, which ending it revokes: an e-mail session's own key, and a
/// step-up's (never the API key a session signed in with).
pub fn minted_keys<'a>(email: bool, own: &'a str, step_up: Option<&'a str>) -> Vec<&'a str> {
    let own = email.then_some(own);
    own.into_iter().chain(step_up).collect()
}

impl OpenSessionRow {
    /// The keys minted for it: an e-mail session's own, and a step-up's (never the API key a
    /// session signed in with).
    pub fn minted_keys(&self) -> Vec<&str> {
        let email = self.via == Via::Email.as_str();
        minted_keys(email, &self.key_id, self.step_up_key_id.as_deref())
    }

    /// Its `session.ended` entry, ended by `actor` (an admin, `because` the member's sessions
    /// were ended).
    pub fn ended(&self, actor: crate::domain::audit::Actor) -> crate::domain::audit::Draft {
        let via = Via::parse(&self.via).unwrap_or(Via::Key);
        entry(
            actor,
            crate::domain::audit::Action::SessionEnded,
            &self.id,
            via,
            &self.key_id,
            None,
        )
    }
}
