//! Roles and what they allow (SPEC §1, §2). The rule in one place: reading needs any role and any
//! capability; a state change needs a `repair` key; a sensitive action additionally needs the
//! member to be `admin` or `owner` in that project after per-project overrides; owner-only
//! actions need the org owner.

use super::apikey::Capability;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Member,
    Admin,
    Owner,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Member => "member",
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "member" => Some(Role::Member),
            "admin" => Some(Role::Admin),
            "owner" => Some(Role::Owner),
            _ => None,
        }
    }
}

/// The role a member holds in one project: the org owner is always owner; otherwise a
/// per-project override (admin or member) replaces the org role.
pub fn effective_role(org_role: Role, project_override: Option<Role>) -> Role {
    match (org_role, project_override) {
        (Role::Owner, _) => Role::Owner,
        (_, Some(r)) if r != Role::Owner => r,
        (r, _) => r,
    }
}

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Need {
    /// Any key, any role.
    Read,
    /// A `repair` key; any role (e.g. starting a reconcile run).
    Write,
    /// A `repair` key of an admin or owner.
    Admin,
    /// A `repair` key of the org owner.
    Owner,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    #[error("this key has read capability only; a repair key is required")]
    Capability,
    #[error("this action needs the admin or owner role")]
    NeedsAdmin,
    #[error("this action needs the org owner")]
    NeedsOwner,
}

pub fn check(need: Need, capability: Capability, role: Role) -> Result<(), Denied> {
    if need == Need::Read {
        return Ok(());
    }
    if capability != Capability::Repair {
        return Err(Denied::Capability);
    }
    match need {
        Need::Read | Need::Write => Ok(()),
        Need::Admin if role >= Role::Admin => Ok(()),
        Need::Admin => Err(Denied::NeedsAdmin),
        Need::Owner if role == Role::Owner => Ok(()),
        Need::Owner => Err(Denied::NeedsOwner),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Capability::*;
    use Role::*;

    #[test]
    fn reading_needs_nothing_more_than_a_key() {
        for role in [Member, Admin, Owner] {
            for cap in [Read, Repair] {
                assert_eq!(check(Need::Read, cap, role), Ok(()));
            }
        }
    }

    #[test]
    fn a_read_key_cannot_change_anything_whatever_the_role() {
        for need in [Need::Write, Need::Admin, Need::Owner] {
            assert_eq!(check(need, Read, Owner), Err(Denied::Capability));
        }
    }

    #[test]
    fn a_member_with_a_repair_key_is_refused_admin_actions() {
        assert_eq!(check(Need::Write, Repair, Member), Ok(()));
        assert_eq!(check(Need::Admin, Repair, Member), Err(Denied::NeedsAdmin));
        assert_eq!(check(Need::Admin, Repair, Admin), Ok(()));
        assert_eq!(check(Need::Owner, Repair, Admin), Err(Denied::NeedsOwner));
        assert_eq!(check(Need::Owner, Repair, Owner), Ok(()));
    }

    #[test]
    fn overrides_replace_the_org_role_except_for_the_owner() {
        assert_eq!(effective_role(Member, Some(Admin)), Admin);
        assert_eq!(effective_role(Admin, Some(Member)), Member);
        assert_eq!(effective_role(Admin, None), Admin);
        assert_eq!(effective_role(Owner, Some(Member)), Owner);
        assert_eq!(effective_role(Member, Some(Owner)), Member);
    }
}
