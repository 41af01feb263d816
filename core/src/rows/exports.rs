//! Export rows (migration 0017). A row parses into `Export` here, and `view` is what the API
//! and the audit chain show of one (its files with their download URLs).

use crate::domain::exports::{FileDone, Format, Link};
use crate::fault::{Fallible, Fault};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ExportStatus {
    Running,
    Succeeded,
    Failed,
}

impl ExportStatus {
    /// The stored (and shown) name.
    pub fn as_str(self) -> &'static str {
        match self {
            ExportStatus::Running => "running",
            ExportStatus::Succeeded => "succeeded",
            ExportStatus::Failed => "failed",
        }
    }
}

/// An export as recorded.
#[derive(Debug, Clone)]
pub struct Export {
    pub id: String,
    pub project_id: String,
    pub status: ExportStatus,
    pub format: Format,
    pub from_seq: u64,
    pub to_seq: u64,
    pub actions: Option<Vec<String>>,
    pub requested_by: String,
    pub created_at: String,
    pub finished_at: Option<String>,
    pub count: Option<u64>,
    pub first: Option<Link>,
    pub last: Option<Link>,
    pub files: Vec<FileDone>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ExportRow {
    pub id: String,
    pub project_id: String,
    pub status: String,
    pub format: String,
    pub from_seq: i64,
    pub to_seq: i64,
    pub actions: Option<String>,
    pub requested_by: String,
    pub created_at: String,
    pub finished_at: Option<String>,
    pub entry_count: Option<i64>,
    pub first_seq: Option<i64>,
    pub first_hash: Option<String>,
    pub last_seq: Option<i64>,
    pub last_hash: Option<String>,
    pub files: Option<String>,
    pub error: Option<String>,
}

/// A chain position from its two columns: both set and the seq not negative, or none.
fn link(seq: Option<i64>, hash: Option<String>) -> Option<Link> {
    Some(Link {
        seq: u64::try_from(seq?).ok()?,
        hash: hash?,
    })
}

impl ExportRow {
    /// The export; a status, format, range or JSON column that does not parse is a corrupt
    /// row (an internal fault naming the export and the column).
    pub fn parse(self) -> Fallible<Export> {
        let r = self;
        let bad = |what: &str| Fault::internal(format!("export {}: bad {what}", r.id));
        let status = match r.status.as_str() {
            "running" => ExportStatus::Running,
            "succeeded" => ExportStatus::Succeeded,
            "failed" => ExportStatus::Failed,
            _ => return Err(bad("status")),
        };
        let format = Format::parse(&r.format).ok_or_else(|| bad("format"))?;
        let actions = match &r.actions {
            None => None,
            Some(s) => Some(serde_json::from_str(s).map_err(|_| bad("actions"))?),
        };
        let files = match &r.files {
            None => Vec::new(),
            Some(s) => serde_json::from_str(s).map_err(|_| bad("files"))?,
        };
        let seq = |n: i64| u64::try_from(n).map_err(|_| bad("range"));
        Ok(Export {
            from_seq: seq(r.from_seq)?,
            to_seq: seq(r.to_seq)?,
            count: r.entry_count.and_then(|n| u64::try_from(n).ok()),
            first: link(r.first_seq, r.first_hash),
            last: link(r.last_seq, r.last_hash),
            id: r.id,
            project_id: r.project_id,
            status,
            format,
            actions,
            requested_by: r.requested_by,
            created_at: r.created_at,
            finished_at: r.finished_at,
            files,
            error: r.error,
        })
    }
}

/// The API and audit view of an export.
pub fn view(e: &Export) -> Value {
    let files: Vec<Value> = e
        .files
        .iter()
        .map(|f| {
            json!({
                "name": f.name,
                "bytes": f.bytes,
                "sha256": f.sha256,
                "url": format!("/v1/projects/{}/exports/{}/files/{}", e.project_id, e.id, f.name),
            })
        })
        .collect();
    json!({
        "id": e.id,
        "project_id": e.project_id,
        "status": e.status,
        "format": e.format,
        "range": {"from_seq": e.from_seq, "to_seq": e.to_seq, "actions": e.actions},
        "count": e.count,
        "first": e.first,
        "last": e.last,
        "files": files,
        "requested_by": e.requested_by,
        "created_at": e.created_at,
        "finished_at": e.finished_at,
        "error": e.error,
    })
}

impl Export {
    /// What the export engine runs for this export of project `project` of `org`: its objects
    /// under `exports/<org>/<project>/<id>/`, the project's chain, the range and format fixed at
    /// creation (the checkpoint is the caller's to pin).
    pub fn spec(
        &self,
        org: &str,
        project: &str,
        environment: Option<String>,
    ) -> crate::domain::exports::ExportSpec {
        crate::domain::exports::ExportSpec {
            prefix: format!("exports/{org}/{project}/{}/", self.id),
            id: self.id.clone(),
            org: org.to_owned(),
            project: project.to_owned(),
            environment,
            chain: format!("project:{project}"),
            from_seq: self.from_seq,
            to_seq: self.to_seq,
            actions: self.actions.clone(),
            format: self.format,
            created_at: self.created_at.clone(),
            checkpoint: None,
        }
    }
}
