//! Export bundles (SPEC §10, §14): start one, read its status and file listing, download a file
//! (streamed from R2, audited first); the org's public signing key.

use super::PageQuery;
use crate::audit::By;
use crate::auth::extract::InProject;
use crate::auth::principal::Principal;
use crate::error::OrInternal;
use crate::exports::{download, start, view};
use crate::http::{json, page, App, PathId, Query, RawBody};
use crate::repo;
use crate::repo::exports::Export;
use crate::signing;
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use parityrail_core::api::error::{ApiError, ApiResult};
use parityrail_core::api::path::FileName;
use parityrail_core::domain::exports::ExportRequest;
use parityrail_core::domain::ids::ExportId;
use parityrail_core::domain::signing::{fingerprint, public_pem};

async fn export_of(ip: &InProject, id: &ExportId) -> ApiResult<Export> {
    repo::exports::get(ip.project.handle(), id.as_str())
        .await?
        .ok_or_else(|| ApiError::not_found("export"))
}

/// POST /v1/projects/{pid}/exports — `{from?, to?, actions?, format?}`; `202` with the export
/// (`running`).
#[worker::send]
pub async fn create(State(app): State<App>, ip: InProject, body: RawBody) -> ApiResult<Response> {
    let req = ExportRequest::parse(&body.0)?;
    let by = By::Caller(&ip.p, &ip.project);
    let e = start(&app.svc, by, req).await?;
    json(202, &view(&e))
}

/// GET /v1/projects/{pid}/exports — newest first; `limit`, `cursor`.
#[worker::send]
pub async fn list(ip: InProject, q: Query) -> ApiResult<Response> {
    let pq = PageQuery::of(q.raw())?;
    let pr = ip.project.handle();
    let before = match pq.cursor.as_deref() {
        None => None,
        Some(c) => {
            let e = repo::exports::get(pr, c)
                .await?
                .ok_or_else(|| ApiError::bad_field("cursor", "not a cursor this API returned"))?;
            Some((e.created_at, e.id))
        }
    };
    let before = before.as_ref().map(|(at, id)| (at.as_str(), id.as_str()));
    let rows = repo::exports::list(pr, before, pq.fetch_limit()).await?;
    let (rows, next) = pq.finish(rows, |e| e.id.clone());
    page(rows.iter().map(view).collect(), next)
}

/// GET /v1/projects/{pid}/exports/{eid}
#[worker::send]
pub async fn get(ip: InProject, PathId(id): PathId<ExportId>) -> ApiResult<Response> {
    let e = export_of(&ip, &id).await?;
    json(200, &view(&e))
}

/// GET /v1/projects/{pid}/exports/{eid}/files/{name} — the file, streamed; `409
/// export_running` before it is written.
#[worker::send]
pub async fn file(
    State(app): State<App>,
    ip: InProject,
    PathId(id): PathId<ExportId>,
    PathId(FileName(name)): PathId<FileName>,
) -> ApiResult<Response> {
    let e = export_of(&ip, &id).await?;
    let name = name.as_str();
    let by = By::Caller(&ip.p, &ip.project);
    let (key, content_type) = download(&app.svc, by, &e, name).await?;
    let objects = app.svc.objects()?;
    let obj = objects
        .object(&key)
        .await
        .map_err(|x| ApiError::internal(x.to_string()))?
        .ok_or_else(|| ApiError::internal(format!("export {} lost {name} in R2", e.id)))?;
    let size = obj.size();
    let body = match obj
        .body()
        .map(|b| b.response_body())
        .transpose()
        .or_internal()?
    {
        Some(worker::ResponseBody::Stream(s)) => Body::new(worker::Body::new(s)),
        Some(worker::ResponseBody::Body(b)) => Body::from(b),
        _ => Body::empty(),
    };
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CONTENT_LENGTH, size)
        .header(
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{}-{name}\"", e.id),
        )
        .body(body)
        .map_err(|x| ApiError::internal(x.to_string()))
}

/// GET /v1/org/signing-key — the org's Ed25519 public key as PEM (`SubjectPublicKeyInfo`),
/// made on first need; `Accept: application/json` gives `{id, algorithm, pem, sha256,
/// created_at}`.
#[worker::send]
pub async fn signing_key(
    State(app): State<App>,
    p: Principal,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let (id, public, created_at) = signing::public_key(&app.svc, &p.tenant).await?;
    let pem = public_pem(&public);
    let wants_json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    if wants_json {
        return json(
            200,
            &serde_json::json!({
                "id": id,
                "algorithm": "Ed25519",
                "pem": pem,
                "sha256": fingerprint(&public),
                "created_at": created_at,
            }),
        );
    }
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/x-pem-file")
        .body(Body::from(pem))
        .map_err(|x| ApiError::internal(x.to_string()))
}
