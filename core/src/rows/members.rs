//! Member rows, and what the API and the audit chain show of one (`api::views::MemberView`).

use crate::api::views::MemberView;
use crate::domain::roles::Role;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
pub struct MemberRow {
    pub id: String,
    pub email: String,
    pub role: Role,
    pub created_at: String,
}

impl MemberRow {
    /// What the API and the audit chain show of it.
    pub fn view(&self) -> MemberView {
        MemberView {
            id: self.id.clone(),
            email: self.email.clone(),
            role: self.role,
            created_at: self.created_at.clone(),
        }
    }
}
