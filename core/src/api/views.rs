//! What the API shows of a stored org, member or project (SPEC §14), apart from the row it is
//! read from: a column added to a table does not reach a response or an audit payload by
//! accident, and the field names a client reads are fixed here.

use crate::domain::apikey::Environment;
use crate::domain::roles::Role;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrgView {
    pub id: String,
    pub name: String,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemberView {
    pub id: String,
    pub email: String,
    pub role: Role,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProjectView {
    pub id: String,
    pub name: String,
    pub environment: Environment,
    pub reconcile_every_minutes: i64,
    pub auto_approve_grants: bool,
    /// Who gets the project's alert e-mail; empty: the org's owners and admins.
    pub alert_recipients: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn views_have_the_documented_fields() {
        let m = MemberView {
            id: "mem_1".into(),
            email: "a@example.com".into(),
            role: Role::Admin,
            created_at: "2026-01-01T00:00:00.000Z".into(),
        };
        assert_eq!(
            serde_json::to_value(&m).ok(),
            Some(
                json!({"id": "mem_1", "email": "a@example.com", "role": "admin", "created_at": "2026-01-01T00:00:00.000Z"})
            )
        );
        let p = ProjectView {
            id: "prj_1".into(),
            name: "p".into(),
            environment: Environment::Live,
            reconcile_every_minutes: 60,
            auto_approve_grants: false,
            alert_recipients: vec![],
            created_at: "t0".into(),
            updated_at: "t1".into(),
        };
        assert_eq!(
            serde_json::to_value(&p).ok(),
            Some(
                json!({"id": "prj_1", "name": "p", "environment": "live", "reconcile_every_minutes": 60, "auto_approve_grants": false, "alert_recipients": [], "created_at": "t0", "updated_at": "t1"})
            )
        );
        let o = OrgView {
            id: "org_1".into(),
            name: "o".into(),
            created_at: "t".into(),
        };
        assert_eq!(
            serde_json::to_value(&o).ok(),
            Some(json!({"id": "org_1", "name": "o", "created_at": "t"}))
        );
    }
}
