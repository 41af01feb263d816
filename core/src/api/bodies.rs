//! The request bodies of the HTTP API (SPEC §14), as handlers read them: each refuses a field it
//! does not know (`deny_unknown_fields`), and the domain's enums (environments, capabilities,
//! roles) and times parse here, so a handler sees typed values. Field-level checks beyond the
//! type (names, reasons, URLs) are the handlers' through `domain::input` and the engines.

use crate::domain::apikey::{Capability, Environment};
use crate::domain::roles::Role;
use crate::domain::time::Timestamp;
use serde::Deserialize;

/// `POST /v1/keys`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    pub name: String,
    pub environment: Environment,
    pub capability: Capability,
    pub project_id: Option<String>,
    pub member_id: Option<String>,
    pub expires_at: Option<Timestamp>,
}

/// `POST /v1/keys/{kid}/rotate`: how long the old key keeps working.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rotate {
    pub grace_seconds: u32,
}

/// `POST /v1/org/members`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddMember {
    pub email: String,
    pub role: Role,
}

/// `PATCH /v1/org/members/{mid}` (`owner` transfers ownership).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeRole {
    pub role: Role,
}

/// `POST /v1/operator/orgs`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateOrg {
    pub name: String,
    pub owner_email: String,
}

/// `POST /v1/operator/orgs/{oid}/owner-key`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OwnerKey {
    pub name: Option<String>,
}

/// `POST /v1/projects` (`environment` defaults to the key's).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateProject {
    pub name: String,
    pub environment: Option<Environment>,
}

/// `PATCH /v1/projects/{pid}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchProject {
    pub name: Option<String>,
    pub reconcile_every_minutes: Option<i64>,
    pub auto_approve_grants: Option<bool>,
}

/// `PUT /v1/projects/{pid}/members/{mid}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetRole {
    #[serde(default)]
    pub role: RoleChange,
}

/// `role` absent, `null` (clear the override) or a role: absent is not the same as `null`.
#[derive(Debug, Default, PartialEq, Eq)]
pub enum RoleChange {
    #[default]
    Missing,
    Clear,
    Set(Role),
}

impl<'de> Deserialize<'de> for RoleChange {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match Option::<Role>::deserialize(d)? {
            None => RoleChange::Clear,
            Some(r) => RoleChange::Set(r),
        })
    }
}

/// `POST /v1/projects/{pid}/incidents/{iid}/ignore`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ignore {
    pub reason: String,
}

/// `POST /v1/projects/{pid}/repairs/{rid}/reject`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reject {
    pub reason: String,
}

/// `PUT /v1/projects/{pid}/integrations/database`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutDatabase {
    pub read_url: String,
    pub repair_url: Option<String>,
}

/// `PUT /v1/projects/{pid}/integrations/stripe`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutStripe {
    pub api_key: String,
    /// Omitted: the stored secrets stay (replacing the key does not silently stop webhooks);
    /// `[]` removes them.
    #[serde(default)]
    pub webhook_secrets: Option<Vec<String>>,
}

#[cfg(test)]
mod tests;

/// `POST /v1/sessions`: sign in to the dashboard with an API key.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignInKey {
    pub api_key: String,
}

/// `POST /v1/sessions/email`: mail a one-time sign-in link.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignInEmail {
    pub email: String,
    pub environment: Option<Environment>,
}

/// `POST /v1/sessions/email/confirm`: use a link's token.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfirmLink {
    pub token: String,
}
