//! What the worker and a project's `ProjectCoordinator` say to each other: the operations
//! (`Op`, each a `POST` to its path) and the bodies they carry, among them the approving caller
//! as authentication read it (`CallerSeal`). Only ParityRail's own worker sends them (Durable
//! Objects have no public address); the coordinator takes a body only for the project it is
//! named for.

use crate::domain::apikey::Environment;
use crate::domain::approval::Approver;
use crate::domain::ids::{IdError, KeyId, MemberId};
use crate::fault::{Fallible, Fault};
use serde::{Deserialize, Serialize};

/// An operation a coordinator takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Drive a run (`Assignment`).
    StartRun,
    /// Drain the outbox soon (`Assignment`, no run).
    WakeOutbox,
    /// Look for grants to approve automatically (`Assignment`, no run).
    WakeRepairs,
    /// Write an export (`ExportAssignment`).
    StartExport,
    /// Approve a repair and answer with it (`Approval`).
    Approve,
}

impl Op {
    const ALL: [Op; 5] = [
        Op::StartRun,
        Op::WakeOutbox,
        Op::WakeRepairs,
        Op::StartExport,
        Op::Approve,
    ];

    pub fn path(self) -> &'static str {
        match self {
            Op::StartRun => "/runs/start",
            Op::WakeOutbox => "/outbox/wake",
            Op::WakeRepairs => "/repairs/wake",
            Op::StartExport => "/exports/start",
            Op::Approve => "/repairs/approve",
        }
    }

    pub fn of_path(path: &str) -> Option<Op> {
        Op::ALL.into_iter().find(|op| op.path() == path)
    }
}

/// A body about one project.
pub trait ForProject {
    fn project(&self) -> &str;
}

/// A run to drive (`Op::StartRun`), or a wake (`run` empty).
#[derive(Serialize, Deserialize)]
pub struct Assignment {
    pub org: String,
    pub project: String,
    pub run: String,
}

/// An export to write.
#[derive(Serialize, Deserialize)]
pub struct ExportAssignment {
    pub org: String,
    pub project: String,
    pub export: String,
}

/// A repair to approve.
#[derive(Serialize, Deserialize)]
pub struct Approval {
    pub org: String,
    pub project: String,
    pub repair: String,
    pub environment: Environment,
    /// The approving caller; `None` for the project's automatic approval of grants
    /// (`auto_approve_grants`), recorded as `system:auto_approve`.
    pub caller: Option<CallerSeal>,
}

impl ForProject for Assignment {
    fn project(&self) -> &str {
        &self.project
    }
}

impl ForProject for ExportAssignment {
    fn project(&self) -> &str {
        &self.project
    }
}

impl ForProject for Approval {
    fn project(&self) -> &str {
        &self.project
    }
}

/// A caller as authentication read it, carried to where its change commits (the adapter's `Principal::seal`).
/// Only ParityRail's own worker sends one to a Durable Object; it is never read from a client.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct CallerSeal {
    pub member: String,
    pub key: String,
    /// The key's cap as authentication read it (`None`: uncapped).
    pub minted_role: Option<String>,
    pub role: String,
    pub override_role: Option<String>,
}

impl CallerSeal {
    /// The sealed caller as the approver of a repair; an id that does not parse is an internal
    /// fault (only ParityRail's own worker seals a caller).
    pub fn approver(&self) -> Fallible<Approver> {
        let bad = |e: IdError| Fault::internal(e.to_string());
        Ok(Approver::Person {
            member: MemberId::parse(&self.member).map_err(bad)?,
            key: KeyId::parse(&self.key).map_err(bad)?,
        })
    }
}

#[cfg(test)]
mod tests;
