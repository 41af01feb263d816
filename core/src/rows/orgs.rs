//! Org rows, and what the API and the audit chain show of one (`api::views::OrgView`).

use crate::api::views::OrgView;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
pub struct OrgRow {
    pub id: String,
    pub name: String,
    pub created_at: String,
}

impl OrgRow {
    /// What the API and the audit chain show of it.
    pub fn view(&self) -> OrgView {
        OrgView {
            id: self.id.clone(),
            name: self.name.clone(),
            created_at: self.created_at.clone(),
        }
    }
}
