//! Org signing key rows (migration 0017): one per org, the private half sealed.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
pub struct SigningKeyRow {
    pub id: String,
    pub public_key: String,
    pub sealed: String,
    pub key_id: String,
    pub format: i64,
    pub created_at: String,
}
