//! Sealed credential rows. Plaintext never reaches a row: it holds the vault blob, the id of
//! the master key that sealed it and a non-secret JSON view.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
pub struct CredentialRow {
    pub id: String,
    pub project_id: String,
    pub kind: String,
    pub slot: i64,
    pub sealed: String,
    pub key_id: String,
    pub public: String,
    pub created_at: String,
    /// The vault's sealed format version of `sealed`.
    pub format: i64,
}
