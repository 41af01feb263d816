//! What can go wrong in ParityRail's engines (a run step, an outbox drain, an approval, an
//! export, the cron's jobs) and in the storage and connectors under them, as one typed enum.
//! There is no HTTP here: an engine decides what to do next (retry, back off, give up, wait for
//! a person) from the variant; each variant's stable code, the message a person is shown and the
//! detail kept for the log are here too (`code`, `message`, `detail`), so a run's stored error
//! reads like the answer a client gets, and `api::error` adds only the HTTP status.

use crate::domain::input::InputError;
use crate::domain::ports::RandomError;
use crate::domain::runs::Stalled;
use crate::domain::store::{Guarded, StoreError};
use crate::pg::PgError;
use crate::stripe::StripeError;
use std::borrow::Cow;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// The project has no mapping yet.
    MappingMissing,
    /// The project has no credential of this integration (`"Stripe"`, `"database"`).
    IntegrationMissing(&'static str),
    /// The project was deleted while the work was pending.
    ProjectGone,
    /// The app table has more than one row for the customer: nothing can be decided.
    DuplicateAppRows,
    /// What was named does not exist (in this tenant).
    NotFound(&'static str),
    /// A full run of the project is already going (its id, when known).
    RunInProgress(Option<String>),
    /// The project already has this many exports being written.
    ExportsInProgress(u64),
    /// The export's files are not written yet.
    ExportRunning,
    /// The audit chain read does not verify (where, in words that hold no secret): trying again
    /// cannot help.
    ChainNotIntact(String),
    /// A repair cannot take this step now.
    Repair(RepairRefusal),
    /// The repair's incident is no longer open.
    IncidentNotOpen,
    /// The audit chain stayed contended through every attempt.
    AuditContention,
    /// The calling key was revoked or expired, or its member removed, while the change was
    /// decided.
    CallerRevoked,
    /// The calling key, its member or its project role changed while the change was decided.
    CallerChanged,
    /// A member with this e-mail already exists.
    MemberExists,
    /// Stripe failed or refused.
    Stripe(StripeError),
    /// Stripe's list did not end (a cursor came back, or the page cap was reached).
    StripePagination,
    /// The customer's database failed.
    Database(PgError),
    /// The project's coordinator did not take the work (the reason is for the log).
    CoordinatorUnavailable(String),
    /// The rate limiter could not be asked: limits fail closed (the reason is for the log).
    LimiterUnavailable(String),
    /// A request's input was refused (field by field).
    Input(InputError),
    /// Ours or the platform's: the text is for the log only, never shown.
    Internal(String),
}

pub use crate::domain::approval::RepairRefusal;
use crate::domain::approval::Stop;

pub type Fallible<T> = Result<T, Fault>;

/// What a caller whose key is unknown, revoked or expired is told.
pub const BAD_KEY: &str = "the API key is not valid (unknown, revoked or expired)";

impl Fault {
    pub fn internal(detail: impl Into<String>) -> Self {
        Fault::Internal(detail.into())
    }

    /// Only a person can end it (configure the project, fix the app table): retrying soon will
    /// not help.
    pub fn needs_a_person(&self) -> bool {
        matches!(
            self,
            Fault::MappingMissing
                | Fault::IntegrationMissing(_)
                | Fault::DuplicateAppRows
                | Fault::ProjectGone
        )
    }

    /// The same work may succeed if tried again now (a contended chain, a store, Stripe or the
    /// database failing on the way), as opposed to a refusal that stands (a Stripe key refused
    /// is the project's to fix).
    pub fn is_transient(&self) -> bool {
        match self {
            Fault::Stripe(e) => !matches!(e, StripeError::Unauthorized | StripeError::Forbidden),
            Fault::AuditContention
            | Fault::Internal(_)
            | Fault::StripePagination
            | Fault::Database(_)
            | Fault::CoordinatorUnavailable(_)
            | Fault::LimiterUnavailable(_) => true,
            _ => false,
        }
    }

    /// What the storage under an audit append reports, typed: a unique constraint that is not
    /// the chain's own names what already exists.
    pub fn duplicate(constraint: &str) -> Self {
        match constraint {
            "members.org_id, members.email" => Fault::MemberExists,
            "runs.project_id" => Fault::RunInProgress(None),
            other => Fault::Internal(format!("unique constraint failed: {other}")),
        }
    }
}

/// How a fault reads wherever it is shown or stored (an HTTP answer, a run's recorded errors, a
/// log line): a stable snake_case code, the message a person is shown (never a secret), and
/// the detail a log line carries beside them. `api::error` adds only the HTTP status.
impl Fault {
    pub fn code(&self) -> Cow<'static, str> {
        Cow::Borrowed(match self {
            Fault::MappingMissing => "mapping_missing",
            Fault::IntegrationMissing(_) => "integration_missing",
            Fault::ProjectGone => "project_gone",
            Fault::DuplicateAppRows => "duplicate_app_rows",
            Fault::NotFound(_) => "not_found",
            Fault::RunInProgress(_) => "run_in_progress",
            Fault::ExportsInProgress(_) => "exports_in_progress",
            Fault::ExportRunning => "export_running",
            Fault::ChainNotIntact(_) => "chain_not_intact",
            Fault::Repair(r) => match r {
                RepairRefusal::NotPending(_)
                | RepairRefusal::ApprovalRunning
                | RepairRefusal::TakenOver
                | RepairRefusal::Changed => "repair_not_pending",
                RepairRefusal::NotExecutable(_) => "repair_not_executable",
                RepairRefusal::NeedsAPerson | RepairRefusal::AutomaticOff => {
                    "repair_needs_a_person"
                }
            },
            Fault::IncidentNotOpen => "incident_not_open",
            Fault::AuditContention => "audit_contention",
            Fault::CallerRevoked => "invalid_api_key",
            Fault::CallerChanged => "caller_changed",
            Fault::MemberExists => "member_exists",
            Fault::Stripe(e) => e.code(),
            Fault::StripePagination => "stripe_pagination",
            Fault::Database(e) => e.kind.describe().0,
            Fault::CoordinatorUnavailable(_) => "coordinator_unavailable",
            Fault::LimiterUnavailable(_) => "rate_limiter_unavailable",
            Fault::Input(e) => e.code(),
            Fault::Internal(_) => "internal_error",
        })
    }

    pub fn message(&self) -> String {
        match self {
            Fault::MappingMissing => "configure the mapping first".into(),
            Fault::IntegrationMissing(what) => format!("configure the {what} integration first"),
            Fault::ProjectGone => "the project was deleted".into(),
            Fault::DuplicateAppRows => {
                "the app table has more than one row for this customer; nothing was decided".into()
            }
            Fault::NotFound(what) => format!("{what} not found"),
            Fault::RunInProgress(None) => {
                "a full run of this project is already going; watch it or wait for it to finish"
                    .into()
            }
            Fault::RunInProgress(Some(going)) => format!("run {going} of this project is going"),
            Fault::ExportsInProgress(n) => {
                format!("{n} exports of this project are being written; wait for one to finish")
            }
            Fault::ExportRunning => {
                "the export is still being written; read its status again shortly".into()
            }
            Fault::ChainNotIntact(why) => why.clone(),
            Fault::Repair(r) => match r {
                RepairRefusal::NotPending(status) => format!(
                    "the repair is {status}; only a pending repair can be approved or rejected"
                ),
                RepairRefusal::ApprovalRunning => {
                    "another approval of this repair is running".into()
                }
                RepairRefusal::TakenOver => {
                    "this approval was taken over; read the repair again".into()
                }
                RepairRefusal::Changed => {
                    "the repair changed while this request ran; read it again".into()
                }
                RepairRefusal::NotExecutable(why) => why.clone(),
                RepairRefusal::NeedsAPerson => "only grants are approved automatically".into(),
                RepairRefusal::AutomaticOff => {
                    "the project no longer approves grants automatically".into()
                }
            },
            Fault::IncidentNotOpen => {
                "the repair's incident is no longer open; check the customer again".into()
            }
            Fault::AuditContention => "too many concurrent changes; retry".into(),
            Fault::CallerRevoked => BAD_KEY.into(),
            Fault::CallerChanged => "the calling key, its member's role or its project role changed while this request ran; retry".into(),
            Fault::MemberExists => "a member with this e-mail already exists".into(),
            Fault::Stripe(e) => e.to_string(),
            Fault::StripePagination => {
                "Stripe's list did not end (a page cursor came back, or the page cap was reached)"
                    .into()
            }
            Fault::Database(e) => e.kind.describe().1.into(),
            Fault::CoordinatorUnavailable(_) => {
                "the project's coordinator did not take it; retry shortly".into()
            }
            Fault::LimiterUnavailable(_) => {
                "the rate limiter is unavailable; the request was refused, retry shortly".into()
            }
            Fault::Input(e) => e.message(),
            Fault::Internal(_) => "internal error; quote the request id".into(),
        }
    }

    /// The detail a log line carries beside the code (never shown).
    pub fn detail(&self) -> Option<String> {
        match self {
            Fault::ChainNotIntact(why) => Some(why.clone()),
            Fault::Database(e) => Some(format!("{:?} {:?}", e.kind, e.sqlstate)),
            Fault::CoordinatorUnavailable(detail)
            | Fault::LimiterUnavailable(detail)
            | Fault::Internal(detail) => Some(detail.clone()),
            _ => None,
        }
    }
}

impl crate::domain::outbox::CheckFailure for Fault {
    fn needs_a_person(&self) -> bool {
        Fault::needs_a_person(self)
    }

    fn code(&self) -> String {
        Fault::code(self).into_owned()
    }
}

impl crate::domain::approval::Failure for Fault {
    fn is_transient(&self) -> bool {
        Fault::is_transient(self)
    }

    fn refusal(&self) -> Option<&RepairRefusal> {
        match self {
            Fault::Repair(r) => Some(r),
            _ => None,
        }
    }

    fn code(&self) -> String {
        Fault::code(self).into_owned()
    }

    fn message(&self) -> String {
        Fault::message(self)
    }
}

impl crate::domain::records::RunFailure for Fault {
    fn in_progress(&self) -> bool {
        matches!(self, Fault::RunInProgress(_))
    }

    fn is_ours(&self) -> bool {
        matches!(self, Fault::Internal(_))
    }

    fn code(&self) -> String {
        Fault::code(self).into_owned()
    }

    fn message(&self) -> String {
        Fault::message(self)
    }
}

impl From<crate::domain::records::InProgress> for Fault {
    fn from(p: crate::domain::records::InProgress) -> Self {
        Fault::RunInProgress(p.0)
    }
}

impl From<crate::domain::checks::Unsettled> for Fault {
    fn from(_: crate::domain::checks::Unsettled) -> Self {
        Fault::internal("applying a range did not settle")
    }
}

impl From<crate::domain::credentials::CredentialError<Fault>> for Fault {
    fn from(e: crate::domain::credentials::CredentialError<Fault>) -> Self {
        use crate::domain::credentials::CredentialError as E;
        match e {
            E::Missing(what) => Fault::IntegrationMissing(what),
            E::DoesNotOpen { id, why } => {
                Fault::internal(format!("credential {id} does not open: {why}"))
            }
            E::Unparsable { id } => {
                Fault::internal(format!("stored database URL {id} does not parse"))
            }
            E::Refused(e) => Fault::Input(e),
            E::Store(f) => f,
        }
    }
}

impl From<RepairRefusal> for Fault {
    fn from(r: RepairRefusal) -> Self {
        Fault::Repair(r)
    }
}

impl From<Stop> for Fault {
    fn from(s: Stop) -> Self {
        match s {
            Stop::NotFound => Fault::NotFound("repair"),
            Stop::IncidentNotOpen => Fault::IncidentNotOpen,
            Stop::Unrecorded => Fault::internal("recording a repair failed"),
        }
    }
}

impl From<StripeError> for Fault {
    fn from(e: StripeError) -> Self {
        Fault::Stripe(e)
    }
}

impl From<PgError> for Fault {
    fn from(e: PgError) -> Self {
        Fault::Database(e)
    }
}

impl From<InputError> for Fault {
    fn from(e: InputError) -> Self {
        Fault::Input(e)
    }
}

impl From<RandomError> for Fault {
    fn from(e: RandomError) -> Self {
        Fault::Internal(e.to_string())
    }
}

impl From<serde_json::Error> for Fault {
    fn from(e: serde_json::Error) -> Self {
        Fault::Internal(format!("JSON: {e}"))
    }
}

impl From<StoreError> for Fault {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Duplicate(c) => Fault::duplicate(&c),
            StoreError::Precondition(Guarded::Caller) => Fault::CallerChanged,
            StoreError::Precondition(Guarded::Repair) => Fault::Repair(RepairRefusal::Changed),
            StoreError::Precondition(Guarded::AutoApproval) => {
                Fault::Repair(RepairRefusal::AutomaticOff)
            }
            e => Fault::Internal(e.to_string()),
        }
    }
}

/// A Stripe list that stopped advancing (the same cursor handed back) is a pagination fault.
impl From<Stalled> for Fault {
    fn from(_: Stalled) -> Self {
        Fault::StripePagination
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_configuration_and_ambiguous_rows_wait_for_a_person() {
        assert!(Fault::MappingMissing.needs_a_person());
        assert!(Fault::IntegrationMissing("Stripe").needs_a_person());
        assert!(Fault::DuplicateAppRows.needs_a_person());
        assert!(Fault::ProjectGone.needs_a_person());
        assert!(!Fault::Stripe(StripeError::Unreachable).needs_a_person());
        assert!(!Fault::internal("D1").needs_a_person());
        assert!(!Fault::AuditContention.needs_a_person());
    }

    #[test]
    fn refusals_that_stand_are_not_transient() {
        assert!(Fault::AuditContention.is_transient());
        assert!(Fault::internal("x").is_transient());
        assert!(Fault::Stripe(StripeError::Timeout).is_transient());
        assert!(!Fault::Stripe(StripeError::Unauthorized).is_transient());
        assert!(!Fault::Repair(RepairRefusal::Changed).is_transient());
        assert!(!Fault::IncidentNotOpen.is_transient());
        assert!(!Fault::ChainNotIntact("seq 3".into()).is_transient());
        assert!(!Fault::MappingMissing.is_transient());
    }

    #[test]
    fn storage_failures_are_classified_into_what_they_mean() {
        assert_eq!(
            Fault::duplicate("runs.project_id"),
            Fault::RunInProgress(None)
        );
        assert_eq!(
            Fault::from(StoreError::Duplicate(
                "members.org_id, members.email".into()
            )),
            Fault::MemberExists
        );
        assert_eq!(
            Fault::from(StoreError::Precondition(Guarded::Repair)),
            Fault::Repair(RepairRefusal::Changed)
        );
        assert_eq!(
            Fault::from(StoreError::Precondition(Guarded::AutoApproval)),
            Fault::Repair(RepairRefusal::AutomaticOff)
        );
        // Where a chain that does not verify is shown (an export) it is mapped there; anywhere
        // else its wording stays in the log.
        assert!(matches!(
            Fault::from(StoreError::NotIntact("entry 7".into())),
            Fault::Internal(_)
        ));
        assert!(matches!(
            Fault::from(StoreError::Failed("D1 busy".into())),
            Fault::Internal(ref s) if s.contains("busy")
        ));
    }
}
