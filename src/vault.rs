//! The vault at the edge (the keyring comes from `Services::keyring`): sealing and opening
//! credential rows, always bound to their org, project, kind and id.

use super::auth::scope::{ProjectHandle, Tenant};
use super::repo::credentials::CredentialRow;
use super::services::Services;
use parityrail_core::domain::ids::CredentialId;
use parityrail_core::domain::ports::OsRng;
use parityrail_core::domain::vault::{Binding, Keyring, Secret, SEALED_FORMAT};
use parityrail_core::fault::{Fallible, Fault};
use serde_json::Value;

fn binding<'a>(t: &'a Tenant, row: &'a CredentialRow) -> Binding<'a> {
    Binding {
        org_id: t.org_id().as_str(),
        project_id: &row.project_id,
        kind: &row.kind,
        credential_id: &row.id,
    }
}

/// Seals new credentials of one project under the current key.
pub struct Sealer<'a> {
    ring: Keyring,
    project: &'a ProjectHandle,
    now: String,
}

impl<'a> Sealer<'a> {
    pub fn new(svc: &Services, project: &'a ProjectHandle) -> Fallible<Self> {
        Ok(Sealer {
            ring: svc.keyring()?,
            project,
            now: svc.now.to_rfc3339(),
        })
    }

    /// A new credential row holding `secret` sealed, with `public` as its non-secret view.
    pub fn seal(
        &self,
        kind: &str,
        slot: i64,
        secret: &str,
        public: &Value,
    ) -> Fallible<CredentialRow> {
        let mut row = CredentialRow {
            id: CredentialId::generate(&mut OsRng)?.to_string(),
            project_id: self.project.as_str().to_owned(),
            kind: kind.to_owned(),
            slot,
            sealed: String::new(),
            key_id: self.ring.current_kid().to_owned(),
            public: public.to_string(),
            created_at: self.now.clone(),
            format: i64::from(SEALED_FORMAT),
        };
        row.sealed = self
            .ring
            .seal(&binding(self.project.tenant(), &row), secret, &mut OsRng)
            .map_err(|e| Fault::internal(e.to_string()))?;
        Ok(row)
    }
}

pub fn open(ring: &Keyring, t: &Tenant, row: &CredentialRow) -> Fallible<Secret> {
    ring.open(&binding(t, row), &row.sealed)
        .map_err(|e| Fault::internal(format!("credential {} does not open: {e}", row.id)))
}

/// The row's blob re-sealed under the current key, or `None` when it already is.
pub fn rewrap(ring: &Keyring, t: &Tenant, row: &CredentialRow) -> Fallible<Option<String>> {
    ring.rewrap(&binding(t, row), &row.sealed, &mut OsRng)
        .map_err(|e| Fault::internal(format!("credential {} does not re-wrap: {e}", row.id)))
}
