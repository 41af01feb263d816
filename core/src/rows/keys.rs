//! API key rows: hash and non-secret fields only. `KeyAuthRow` is what authentication reads of
//! a key across orgs, parsed here into the domain's types (a stored value that does not parse
//! is a corrupt row, and the key does not authenticate); `KeyRow` is a key as listed, audited
//! and shown (`view`, with its `scope`), and `mint` makes a new one with its plaintext.

use crate::domain::apikey::{Capability, Environment, PlainKey};
use crate::domain::audit::{Action, Actor, Draft};
use crate::domain::ids::{KeyId, MemberId, OrgId, ProjectId};
use crate::domain::ports::{RandomError, Rng};
use crate::domain::roles::Role;
use crate::domain::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// What authentication needs of a key, parsed: a stored value that does not parse is a
/// corrupt row, and the key does not authenticate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyAuth {
    pub key_id: KeyId,
    pub org: OrgId,
    pub member: MemberId,
    pub role: Role,
    pub environment: Environment,
    pub project: Option<ProjectId>,
    pub capability: Capability,
    pub expires_at: Option<Timestamp>,
    pub revoked: bool,
    pub last_used_at: Option<Timestamp>,
    /// Who minted the key and the most it acts with, when another member minted it.
    pub origin: Option<(MemberId, Role)>,
}

/// A key joined with its member's role, as authentication reads it.
#[derive(Debug, Clone, Deserialize)]
pub struct KeyAuthRow {
    pub id: String,
    pub org_id: String,
    pub member_id: String,
    pub environment: String,
    pub project_id: Option<String>,
    pub capability: String,
    pub expires_at: Option<String>,
    pub revoked_at: Option<String>,
    pub last_used_at: Option<String>,
    pub role: String,
    pub minted_by: Option<String>,
    pub minted_role: Option<String>,
}

impl KeyAuthRow {
    /// The key parsed; `None` when any stored value does not parse (a corrupt row), or when
    /// only one of `minted_by` and `minted_role` is set. An unparsable `last_used_at` is
    /// ignored (it is advisory).
    pub fn parse(self) -> Option<KeyAuth> {
        let ts = |s: Option<String>| {
            s.map(|s| Timestamp::parse(&s).ok())
                .map_or(Some(None), |t| t.map(Some))
        };
        Some(KeyAuth {
            key_id: KeyId::parse(&self.id).ok()?,
            org: OrgId::parse(&self.org_id).ok()?,
            member: MemberId::parse(&self.member_id).ok()?,
            role: Role::parse(&self.role)?,
            environment: Environment::parse(&self.environment)?,
            project: match self.project_id {
                Some(p) => Some(ProjectId::parse(&p).ok()?),
                None => None,
            },
            capability: Capability::parse(&self.capability)?,
            expires_at: ts(self.expires_at)?,
            revoked: self.revoked_at.is_some(),
            last_used_at: ts(self.last_used_at).unwrap_or(None),
            origin: match (self.minted_by, self.minted_role) {
                (Some(m), Some(r)) => Some((MemberId::parse(&m).ok()?, Role::parse(&r)?)),
                (None, None) => None,
                _ => return None,
            },
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyRow {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub last4: String,
    pub environment: Environment,
    pub project_id: Option<String>,
    pub capability: Capability,
    pub member_id: String,
    /// The member who minted the key, when not `member_id` itself.
    pub minted_by: Option<String>,
    /// The most the key acts with (`access::key_origin`).
    pub minted_role: Option<Role>,
    /// The member the minting request acted as, when the key is for someone else.
    pub minted_via: Option<String>,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub expires_at: Option<String>,
    pub revoked_at: Option<String>,
}

impl KeyRow {
    /// `"org"` or the project id the key is limited to.
    pub fn scope(&self) -> &str {
        self.project_id.as_deref().unwrap_or("org")
    }

    /// A stored key's own origin (who minted it for its member, and its cap).
    pub fn origin(&self) -> Option<(String, Role)> {
        match (&self.minted_by, self.minted_role) {
            (Some(m), Some(r)) => Some((m.clone(), r)),
            _ => None,
        }
    }
}

/// The key's public view: its row with its `scope`; never a secret.
pub fn view(row: &KeyRow) -> Value {
    let mut v = json!(row);
    v["scope"] = json!(row.scope());
    v
}

/// What a new key is minted with.
pub struct NewKeySpec {
    pub name: String,
    pub environment: Environment,
    pub capability: Capability,
    pub project_id: Option<String>,
    pub member_id: String,
    pub expires_at: Option<String>,
    /// Who stands behind it and the most it acts with (`access::key_origin`); `None` for a
    /// member's own key.
    pub origin: Option<(String, Role)>,
    /// The member the minting request acts as (recorded when the key is for someone else).
    pub via: Option<String>,
}

/// A minted key: its plaintext (shown once) and its row.
pub struct NewKey {
    pub plain: PlainKey,
    pub row: KeyRow,
}

impl NewKey {
    /// The key's public view; with `secret`, plus the plaintext under `key` (create responses only).
    pub fn view(&self, secret: bool) -> Value {
        let mut v = view(&self.row);
        if secret {
            v["key"] = json!(self.plain.expose());
        }
        v
    }
}

/// Mints a key of `spec` at `now`: a fresh plaintext and id, its row (`minted_via` only when
/// the request acted as another member than the key's).
pub fn mint(spec: NewKeySpec, rng: &mut impl Rng, now: Timestamp) -> Result<NewKey, RandomError> {
    let minted = spec.origin;
    let plain = PlainKey::generate(spec.environment, rng)?;
    let row = KeyRow {
        id: KeyId::generate(rng)?.to_string(),
        name: spec.name,
        prefix: plain.prefix().to_owned(),
        last4: plain.last4().to_owned(),
        environment: spec.environment,
        project_id: spec.project_id,
        capability: spec.capability,
        minted_by: minted.as_ref().map(|(m, _)| m.clone()),
        minted_role: minted.map(|(_, r)| r),
        minted_via: spec.via.filter(|v| *v != spec.member_id),
        member_id: spec.member_id,
        created_at: now.to_rfc3339(),
        last_used_at: None,
        expires_at: spec.expires_at,
        revoked_at: None,
    };
    Ok(NewKey { plain, row })
}

/// One `key.revoked` entry per key a removal (of a member or a project) revokes at `at`,
/// recorded as `actor`, with the cause under `revoked_because`.
pub fn revoked_by_removal(actor: &Actor, rows: &[KeyRow], at: &str, cause: &str) -> Vec<Draft> {
    rows.iter()
        .map(|row| {
            let mut after = row.clone();
            after.revoked_at = Some(at.to_owned());
            let mut after = view(&after);
            after["revoked_because"] = json!(cause);
            Draft::new(
                actor.clone(),
                Action::KeyRevoked,
                format!("key:{}", row.id),
                view(row),
                after,
            )
        })
        .collect()
}
