//! Every action ParityRail records on an audit chain (SPEC §9), as one enum. An entry stores
//! and hashes the action's name (`as_str`), so the names are part of every sealed entry's hash
//! and of the stored rows: they never change. Entries read back keep `action: String`, so an
//! old row with a name this build no longer writes still reads and verifies.

use std::fmt;

/// One audited action. The comment of each variant is its stored name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    /// `org.created`
    OrgCreated,
    /// `member.added`
    MemberAdded,
    /// `member.updated`
    MemberUpdated,
    /// `member.removed`
    MemberRemoved,
    /// `key.created`
    KeyCreated,
    /// `key.revoked`
    KeyRevoked,
    /// `key.rotated`
    KeyRotated,
    /// `key.capped`
    KeyCapped,
    /// `project.created`
    ProjectCreated,
    /// `project.updated`
    ProjectUpdated,
    /// `project.deleted`
    ProjectDeleted,
    /// `project.member_role_set`
    ProjectMemberRoleSet,
    /// `integration.stripe.updated`
    IntegrationStripeUpdated,
    /// `integration.database.updated`
    IntegrationDatabaseUpdated,
    /// `mapping.updated`
    MappingUpdated,
    /// `credential.deleted`
    CredentialDeleted,
    /// `credential.rewrapped`
    CredentialRewrapped,
    /// `signing_key.created`
    SigningKeyCreated,
    /// `signing_key.rewrapped`
    SigningKeyRewrapped,
    /// `incident.opened`
    IncidentOpened,
    /// `incident.updated`
    IncidentUpdated,
    /// `incident.resolved`
    IncidentResolved,
    /// `incident.ignored`
    IncidentIgnored,
    /// `repair.created`
    RepairCreated,
    /// `repair.rejected`
    RepairRejected,
    /// `repair.approved`
    RepairApproved,
    /// `repair.executed`
    RepairExecuted,
    /// `repair.stale`
    RepairStale,
    /// `repair.failed`
    RepairFailed,
    /// `repair.verified`
    RepairVerified,
    /// `repair.unverified`
    RepairUnverified,
    /// `run.started`
    RunStarted,
    /// `run.finished`
    RunFinished,
    /// `export.created`
    ExportCreated,
    /// `export.completed`
    ExportCompleted,
    /// `export.failed`
    ExportFailed,
    /// `export.downloaded`
    ExportDownloaded,
    /// `session.created`
    SessionCreated,
    /// `session.stepped_up`
    SessionSteppedUp,
    /// `session.ended`
    SessionEnded,
    AlertSent,
    AlertFailed,
    /// `webhook_endpoint.created`
    HookEndpointCreated,
    /// `webhook_endpoint.updated`
    HookEndpointUpdated,
    /// `webhook_endpoint.deleted`
    HookEndpointDeleted,
    /// `webhook_endpoint.secret_rotated`
    HookSecretRotated,
    /// `webhook_endpoint.disabled`
    HookEndpointDisabled,
    /// `webhook_event.replayed`
    HookEventReplayed,
}

impl Action {
    /// Every action, in declaration order.
    pub const ALL: [Action; 48] = [
        Action::OrgCreated,
        Action::MemberAdded,
        Action::MemberUpdated,
        Action::MemberRemoved,
        Action::KeyCreated,
        Action::KeyRevoked,
        Action::KeyRotated,
        Action::KeyCapped,
        Action::ProjectCreated,
        Action::ProjectUpdated,
        Action::ProjectDeleted,
        Action::ProjectMemberRoleSet,
        Action::IntegrationStripeUpdated,
        Action::IntegrationDatabaseUpdated,
        Action::MappingUpdated,
        Action::CredentialDeleted,
        Action::CredentialRewrapped,
        Action::SigningKeyCreated,
        Action::SigningKeyRewrapped,
        Action::IncidentOpened,
        Action::IncidentUpdated,
        Action::IncidentResolved,
        Action::IncidentIgnored,
        Action::RepairCreated,
        Action::RepairRejected,
        Action::RepairApproved,
        Action::RepairExecuted,
        Action::RepairStale,
        Action::RepairFailed,
        Action::RepairVerified,
        Action::RepairUnverified,
        Action::RunStarted,
        Action::RunFinished,
        Action::ExportCreated,
        Action::ExportCompleted,
        Action::ExportFailed,
        Action::ExportDownloaded,
        Action::SessionCreated,
        Action::SessionSteppedUp,
        Action::SessionEnded,
        Action::AlertSent,
        Action::AlertFailed,
        Action::HookEndpointCreated,
        Action::HookEndpointUpdated,
        Action::HookEndpointDeleted,
        Action::HookSecretRotated,
        Action::HookEndpointDisabled,
        Action::HookEventReplayed,
    ];

    /// The name an entry stores and hashes.
    pub const fn as_str(self) -> &'static str {
        match self {
            Action::OrgCreated => "org.created",
            Action::MemberAdded => "member.added",
            Action::MemberUpdated => "member.updated",
            Action::MemberRemoved => "member.removed",
            Action::KeyCreated => "key.created",
            Action::KeyRevoked => "key.revoked",
            Action::KeyRotated => "key.rotated",
            Action::KeyCapped => "key.capped",
            Action::ProjectCreated => "project.created",
            Action::ProjectUpdated => "project.updated",
            Action::ProjectDeleted => "project.deleted",
            Action::ProjectMemberRoleSet => "project.member_role_set",
            Action::IntegrationStripeUpdated => "integration.stripe.updated",
            Action::IntegrationDatabaseUpdated => "integration.database.updated",
            Action::MappingUpdated => "mapping.updated",
            Action::CredentialDeleted => "credential.deleted",
            Action::CredentialRewrapped => "credential.rewrapped",
            Action::SigningKeyCreated => "signing_key.created",
            Action::SigningKeyRewrapped => "signing_key.rewrapped",
            Action::IncidentOpened => "incident.opened",
            Action::IncidentUpdated => "incident.updated",
            Action::IncidentResolved => "incident.resolved",
            Action::IncidentIgnored => "incident.ignored",
            Action::RepairCreated => "repair.created",
            Action::RepairRejected => "repair.rejected",
            Action::RepairApproved => "repair.approved",
            Action::RepairExecuted => "repair.executed",
            Action::RepairStale => "repair.stale",
            Action::RepairFailed => "repair.failed",
            Action::RepairVerified => "repair.verified",
            Action::RepairUnverified => "repair.unverified",
            Action::RunStarted => "run.started",
            Action::RunFinished => "run.finished",
            Action::ExportCreated => "export.created",
            Action::ExportCompleted => "export.completed",
            Action::ExportFailed => "export.failed",
            Action::ExportDownloaded => "export.downloaded",
            Action::SessionCreated => "session.created",
            Action::SessionSteppedUp => "session.stepped_up",
            Action::SessionEnded => "session.ended",
            Action::AlertSent => "alert.sent",
            Action::AlertFailed => "alert.failed",
            Action::HookEndpointCreated => "webhook_endpoint.created",
            Action::HookEndpointUpdated => "webhook_endpoint.updated",
            Action::HookEndpointDeleted => "webhook_endpoint.deleted",
            Action::HookSecretRotated => "webhook_endpoint.secret_rotated",
            Action::HookEndpointDisabled => "webhook_endpoint.disabled",
            Action::HookEventReplayed => "webhook_event.replayed",
        }
    }

    /// The action a stored name names, if this build records it.
    pub fn parse(name: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.as_str() == name)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<str> for Action {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<Action> for str {
    fn eq(&self, other: &Action) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<Action> for String {
    fn eq(&self, other: &Action) -> bool {
        self.as_str() == other.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::Action;
    use std::collections::HashSet;

    /// The documented names, one per variant, in declaration order: an entry sealed before this
    /// enum existed hashes these bytes.
    const DOCUMENTED: [&str; 48] = [
        "org.created",
        "member.added",
        "member.updated",
        "member.removed",
        "key.created",
        "key.revoked",
        "key.rotated",
        "key.capped",
        "project.created",
        "project.updated",
        "project.deleted",
        "project.member_role_set",
        "integration.stripe.updated",
        "integration.database.updated",
        "mapping.updated",
        "credential.deleted",
        "credential.rewrapped",
        "signing_key.created",
        "signing_key.rewrapped",
        "incident.opened",
        "incident.updated",
        "incident.resolved",
        "incident.ignored",
        "repair.created",
        "repair.rejected",
        "repair.approved",
        "repair.executed",
        "repair.stale",
        "repair.failed",
        "repair.verified",
        "repair.unverified",
        "run.started",
        "run.finished",
        "export.created",
        "export.completed",
        "export.failed",
        "export.downloaded",
        "session.created",
        "session.stepped_up",
        "session.ended",
        "alert.sent",
        "alert.failed",
        "webhook_endpoint.created",
        "webhook_endpoint.updated",
        "webhook_endpoint.deleted",
        "webhook_endpoint.secret_rotated",
        "webhook_endpoint.disabled",
        "webhook_event.replayed",
    ];

    #[test]
    fn every_action_renders_its_documented_name() {
        for (a, name) in Action::ALL.iter().zip(DOCUMENTED) {
            assert_eq!(a.as_str(), name, "{a:?}");
            assert_eq!(a.to_string(), name);
            assert_eq!(Action::parse(name), Some(*a));
            assert!(*a == *name && name == a);
        }
    }

    #[test]
    fn the_names_are_distinct_and_all_is_every_variant() {
        let names: HashSet<&str> = Action::ALL.iter().map(|a| a.as_str()).collect();
        assert_eq!(names.len(), Action::ALL.len());
        assert_eq!(Action::parse("key.Created"), None);
        assert_eq!(Action::parse(""), None);
    }

    #[test]
    fn the_migrations_name_only_recorded_actions() {
        // SQL that names actions (the key-origin backfill) must name ones this build records.
        let sql = include_str!("../../../../migrations/0005_backfill_key_origin.sql");
        for quoted in sql.split("a.action = '").skip(1) {
            let name = quoted.split('\'').next().unwrap();
            assert!(Action::parse(name).is_some(), "{name}");
        }
        assert!(sql.contains("'key.created'") && sql.contains("'key.rotated'"));
    }
}
