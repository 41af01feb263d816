//! A project's credentials as its connectors need them: found in a store of sealed rows (the
//! `CredentialStore` port, D1 at the edge), opened with the keyring under the binding of the
//! project asking (org, project, kind, credential id, so a row sealed for anything else does
//! not open), and for database URLs parsed and checked against the project's environment. Tested
//! here with an in-memory store; no error carries any part of a secret.

use super::apikey::Environment;
use super::input::InputError;
use super::integrations::{check_db_url, DbUrl};
use super::vault::{Binding, Keyring, Secret, VaultError};

/// What a project keeps sealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    StripeApiKey,
    DbReadUrl,
    DbRepairUrl,
}

impl Kind {
    /// The stored kind, part of the binding.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::StripeApiKey => "stripe_api_key",
            Kind::DbReadUrl => "db_read_url",
            Kind::DbRepairUrl => "db_repair_url",
        }
    }

    /// The integration a missing one names.
    pub fn what(self) -> &'static str {
        match self {
            Kind::StripeApiKey => "Stripe",
            Kind::DbReadUrl => "database",
            Kind::DbRepairUrl => "database repair_url",
        }
    }

    /// The input field a stored URL that no longer passes is reported under (`None`: not a
    /// URL).
    fn field(self) -> Option<&'static str> {
        match self {
            Kind::DbReadUrl => Some("read_url"),
            Kind::DbRepairUrl => Some("repair_url"),
            Kind::StripeApiKey => None,
        }
    }
}

/// A stored credential: its id (part of the binding) and its sealed value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub id: String,
    pub sealed: String,
}

/// The sealed credentials of one project.
#[allow(async_fn_in_trait)]
pub trait CredentialStore {
    type Error;
    /// The project's credential of `kind`, if it has one.
    async fn sealed(&self, kind: Kind) -> Result<Option<Sealed>, Self::Error>;
}

/// Why a credential could not be had. None carries any part of the secret.
#[derive(Debug, Clone, PartialEq)]
pub enum CredentialError<E> {
    /// The project has none (names the integration).
    Missing(&'static str),
    /// The stored value does not open under the keyring and this project's binding (why: no
    /// secret in it).
    DoesNotOpen {
        id: String,
        why: VaultError,
    },
    /// A stored database URL that does not parse.
    Unparsable {
        id: String,
    },
    /// A stored database URL the project's environment now refuses (a live project without TLS).
    Refused(InputError),
    Store(E),
}

/// The credentials of project `project` of org `org`; `ring` loads the keyring, asked only once
/// a credential was found (a project without one is told so whatever the keyring's state).
pub struct Credentials<'a, S: CredentialStore> {
    pub store: S,
    pub ring: &'a dyn Fn() -> Result<Keyring, S::Error>,
    pub org: &'a str,
    pub project: &'a str,
}

impl<S: CredentialStore> Credentials<'_, S> {
    /// Opens the credential of `kind`.
    pub async fn open(&self, kind: Kind) -> Result<Secret, CredentialError<S::Error>> {
        Ok(self.open_row(kind).await?.0)
    }

    /// The database URL of `kind`, checked against the project's environment as when it was
    /// stored (a URL stored before live projects required TLS is refused here too).
    pub async fn db_url(
        &self,
        kind: Kind,
        env: Environment,
    ) -> Result<DbUrl, CredentialError<S::Error>> {
        let (secret, id) = self.open_row(kind).await?;
        let url = DbUrl::parse(secret.expose()).map_err(|_| CredentialError::Unparsable { id })?;
        let field = kind.field().unwrap_or("url");
        check_db_url(&url, env).map_err(|e| CredentialError::Refused(e.input_error(field)))?;
        Ok(url)
    }

    async fn open_row(&self, kind: Kind) -> Result<(Secret, String), CredentialError<S::Error>> {
        let row = self
            .store
            .sealed(kind)
            .await
            .map_err(CredentialError::Store)?
            .ok_or(CredentialError::Missing(kind.what()))?;
        let binding = Binding {
            org_id: self.org,
            project_id: self.project,
            kind: kind.as_str(),
            credential_id: &row.id,
        };
        let ring = (self.ring)().map_err(CredentialError::Store)?;
        match ring.open(&binding, &row.sealed) {
            Ok(secret) => Ok((secret, row.id)),
            Err(why) => Err(CredentialError::DoesNotOpen { id: row.id, why }),
        }
    }
}

#[cfg(test)]
mod tests;
