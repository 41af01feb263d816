//! Project rows (D1 stores `auto_approve_grants` as an integer), a project read with the
//! member's role override in it, and what the API and the audit chain show of one
//! (`api::views::ProjectView`).

use crate::api::views::ProjectView;
use crate::domain::apikey::Environment;
use crate::domain::roles::Role;
use serde::{Deserialize, Deserializer};

#[derive(Debug, Clone, Deserialize)]
pub struct ProjectRow {
    pub id: String,
    pub name: String,
    pub environment: Environment,
    pub reconcile_every_minutes: i64,
    #[serde(deserialize_with = "bool_from_int")]
    pub auto_approve_grants: bool,
    /// A JSON array of addresses, or NULL (the org's owners and admins).
    #[serde(default)]
    pub alert_recipients: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl ProjectRow {
    /// The project's own alert recipients (empty: none set).
    pub fn alert_recipients(&self) -> Vec<String> {
        self.alert_recipients
            .as_deref()
            .and_then(|j| serde_json::from_str(j).ok())
            .unwrap_or_default()
    }

    /// What the API and the audit chain show of it.
    pub fn view(&self) -> ProjectView {
        ProjectView {
            id: self.id.clone(),
            name: self.name.clone(),
            environment: self.environment,
            reconcile_every_minutes: self.reconcile_every_minutes,
            auto_approve_grants: self.auto_approve_grants,
            alert_recipients: self.alert_recipients(),
            created_at: self.created_at.clone(),
            updated_at: self.updated_at.clone(),
        }
    }
}

/// A boolean D1 returns as `0`/`1` (or as a JSON boolean).
fn bool_from_int<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum B {
        I(i64),
        B(bool),
    }
    Ok(match B::deserialize(d)? {
        B::I(i) => i != 0,
        B::B(b) => b,
    })
}

/// A project and the member's role override in it, in one round trip.
#[derive(Debug, Deserialize)]
pub struct ProjectForMember {
    #[serde(flatten)]
    pub project: ProjectRow,
    pub override_role: Option<Role>,
}
