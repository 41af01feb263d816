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

fn public(row: &CredentialRow) -> serde_json::Value {
    serde_json::from_str(&row.public).unwrap_or(serde_json::Value::Null)
}

/// The non-secret view of a project's Stripe integration (`null` when not configured).
pub fn stripe_view(rows: &[CredentialRow]) -> serde_json::Value {
    rows.iter()
        .find(|r| r.kind == "stripe_api_key")
        .map_or(serde_json::Value::Null, |r| {
            let mut v = public(r);
            v["webhook_secrets"] = serde_json::json!(rows
                .iter()
                .filter(|r| r.kind == "stripe_webhook_secret")
                .count());
            v["updated_at"] = serde_json::json!(r.created_at);
            v
        })
}

/// The non-secret view of a project's database integration (`null` when not configured).
pub fn database_view(rows: &[CredentialRow]) -> serde_json::Value {
    let find = |kind: &str| rows.iter().find(|r| r.kind == kind);
    find("db_read_url").map_or(serde_json::Value::Null, |r| {
        serde_json::json!({"read": public(r), "repair": find("db_repair_url").map(public), "updated_at": r.created_at})
    })
}
