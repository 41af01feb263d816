//! D1 failures, classified once. D1 reports constraint violations and trigger aborts only as
//! message text (`D1_ERROR: UNIQUE constraint failed: audit_log.chain, audit_log.seq:
//! SQLITE_CONSTRAINT`); this is the one place that reads that text, so callers match on a type.

/// What a failed D1 statement or batch means to the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum D1Failure {
    /// A UNIQUE or PRIMARY KEY constraint, with the columns it names (`table.col, table.col`).
    Unique { constraint: String },
    /// The append-only triggers of `audit_log` refused an UPDATE or DELETE.
    AuditTrigger,
    /// The caller check (migrations 0009, 0019) found the calling key, its cap, member or
    /// override changed.
    CallerChanged,
    /// The guard of an automatic approval (migration 0019) found `auto_approve_grants` off or
    /// the project gone.
    AutoApproveOff,
    /// A repair was no longer in the status its change was decided on, or a change of its
    /// status is not one SPEC §8 allows (migration 0014).
    RepairChanged,
    /// The database was busy or overloaded and did not run the batch; the same work may
    /// succeed later.
    Busy,
    /// The connection to the database was lost: whether the batch ran is not known.
    Lost,
    /// Anything else (the message is kept for the log only).
    Other(String),
}

impl D1Failure {
    /// Classifies a D1 error message.
    pub fn classify(message: &str) -> Self {
        if let Some(rest) = message
            .split("UNIQUE constraint failed: ")
            .nth(1)
            .or_else(|| message.split("PRIMARY KEY constraint failed: ").nth(1))
        {
            let constraint = rest
                .split([':', '\n'])
                .next()
                .unwrap_or("")
                .trim()
                .to_owned();
            return D1Failure::Unique { constraint };
        }
        if message.contains("caller_changed") {
            return D1Failure::CallerChanged;
        }
        if message.contains("auto_approve_off") {
            return D1Failure::AutoApproveOff;
        }
        if message.contains("repair_changed") || message.contains("repair_transition") {
            return D1Failure::RepairChanged;
        }
        if message.contains("audit_log is append-only")
            || message.contains("SQLITE_CONSTRAINT_TRIGGER")
        {
            return D1Failure::AuditTrigger;
        }
        if message.contains("SQLITE_BUSY")
            || message.contains("database is locked")
            || message.contains("D1 DB is overloaded")
        {
            return D1Failure::Busy;
        }
        if message.contains("Network connection lost") {
            return D1Failure::Lost;
        }
        D1Failure::Other(message.to_owned())
    }

    /// A unique violation on exactly these columns (in the constraint's order).
    pub fn is_unique_on(&self, columns: &str) -> bool {
        matches!(self, D1Failure::Unique { constraint } if constraint == columns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chain_collision_is_a_unique_violation_on_chain_and_seq() {
        let f = D1Failure::classify(
            "D1_ERROR: UNIQUE constraint failed: audit_log.chain, audit_log.seq: SQLITE_CONSTRAINT",
        );
        assert!(f.is_unique_on("audit_log.chain, audit_log.seq"));
        assert!(!f.is_unique_on("members.org_id, members.email"));
    }

    #[test]
    fn a_duplicate_member_names_its_columns() {
        let f =
            D1Failure::classify("Error: UNIQUE constraint failed: members.org_id, members.email");
        assert_eq!(
            f,
            D1Failure::Unique {
                constraint: "members.org_id, members.email".into()
            }
        );
    }

    #[test]
    fn the_audit_trigger_and_busy_are_told_apart_from_the_rest() {
        assert_eq!(
            D1Failure::classify("D1_ERROR: audit_log is append-only: SQLITE_CONSTRAINT_TRIGGER"),
            D1Failure::AuditTrigger
        );
        assert_eq!(
            D1Failure::classify("D1_ERROR: caller_changed: SQLITE_CONSTRAINT_TRIGGER"),
            D1Failure::CallerChanged
        );
        assert_eq!(
            D1Failure::classify("D1_ERROR: auto_approve_off: SQLITE_CONSTRAINT_TRIGGER"),
            D1Failure::AutoApproveOff
        );
        assert_eq!(
            D1Failure::classify("D1_ERROR: database is locked: SQLITE_BUSY"),
            D1Failure::Busy
        );
        assert_eq!(
            D1Failure::classify("D1_ERROR: Network connection lost."),
            D1Failure::Lost
        );
        assert!(matches!(
            D1Failure::classify("no such table: x"),
            D1Failure::Other(_)
        ));
    }
}
