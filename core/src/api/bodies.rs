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
    /// Who gets the project's alert e-mail (at most 50 addresses); `[]`: the org's owners and
    /// admins.
    pub alert_recipients: Option<Vec<String>>,
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

/// The body of the dashboard's three sign-in routes, read once (one parser for the three):
/// `POST /v1/sessions` `{api_key}`, `POST /v1/sessions/email` `{email, environment?}`,
/// `POST /v1/sessions/email/confirm` `{token}`. `request` holds each route to its own fields.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignInBody {
    pub api_key: Option<String>,
    pub email: Option<String>,
    pub environment: Option<Environment>,
    pub token: Option<String>,
}

/// What a sign-in route was asked.
#[derive(Debug, PartialEq, Eq)]
pub enum SignIn {
    Key {
        api_key: String,
    },
    Email {
        email: String,
        environment: Environment,
    },
    Confirm {
        token: String,
    },
}

impl SignInBody {
    /// The request of the route at `path`: its required fields present, no other route's field.
    pub fn request(self, path: &str) -> Result<SignIn, crate::domain::input::InputError> {
        use crate::domain::input::InputError;
        let missing = |f: &str| InputError::field(f, "is required");
        let foreign = |f: &str| InputError::field(f, "is not a field of this route");
        let SignInBody {
            api_key,
            email,
            environment,
            token,
        } = self;
        let (allowed, req): (&[&str], _) = match path {
            "/v1/sessions" => (
                &["api_key"],
                api_key
                    .clone()
                    .map(|api_key| SignIn::Key { api_key })
                    .ok_or_else(|| missing("api_key")),
            ),
            "/v1/sessions/email" => (
                &["email", "environment"],
                email
                    .clone()
                    .map(|email| SignIn::Email {
                        email,
                        environment: environment.unwrap_or(Environment::Live),
                    })
                    .ok_or_else(|| missing("email")),
            ),
            "/v1/sessions/email/confirm" => (
                &["token"],
                token
                    .clone()
                    .map(|token| SignIn::Confirm { token })
                    .ok_or_else(|| missing("token")),
            ),
            // Only the three sign-in routes are bound to this body; anything else is refused.
            _ => (&[], Err(InputError::field("body", "not a sign-in route"))),
        };
        let present = [
            ("api_key", api_key.is_some()),
            ("email", email.is_some()),
            ("environment", environment.is_some()),
            ("token", token.is_some()),
        ];
        if let Some((f, _)) = present.iter().find(|(f, p)| *p && !allowed.contains(f)) {
            return Err(foreign(f));
        }
        req
    }
}

#[cfg(test)]
mod sign_in_tests {
    use super::*;

    fn body(json: &str) -> SignInBody {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn each_sign_in_route_takes_its_own_fields_only() {
        assert_eq!(
            body(r#"{"api_key":"k"}"#).request("/v1/sessions").unwrap(),
            SignIn::Key {
                api_key: "k".into()
            }
        );
        assert_eq!(
            body(r#"{"email":"a@b.c"}"#)
                .request("/v1/sessions/email")
                .unwrap(),
            SignIn::Email {
                email: "a@b.c".into(),
                environment: Environment::Live
            }
        );
        assert_eq!(
            body(r#"{"token":"t"}"#)
                .request("/v1/sessions/email/confirm")
                .unwrap(),
            SignIn::Confirm { token: "t".into() }
        );
        assert!(body(r#"{}"#).request("/v1/sessions").is_err());
        assert!(body(r#"{"api_key":"k","token":"t"}"#)
            .request("/v1/sessions")
            .is_err());
        assert!(body(r#"{"email":"a@b.c","api_key":"k"}"#)
            .request("/v1/sessions/email")
            .is_err());
        assert!(body(r#"{"token":"t","environment":"test"}"#)
            .request("/v1/sessions/email/confirm")
            .is_err());
        assert!(serde_json::from_str::<SignInBody>(r#"{"role":"owner"}"#).is_err());
        assert!(body(r#"{"token":"t"}"#)
            .request("/v1/sessions/other")
            .is_err());
    }
}
