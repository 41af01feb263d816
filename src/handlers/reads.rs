//! The read routes MCP's tools are bound to (`api::mcp::tools::BINDINGS`), behind one handler
//! that both the router and the MCP server call: each read's code exists once in the wasm, and a
//! tool reads exactly what its route answers.

use crate::auth::extract::InProject;
use crate::auth::principal::Principal;
use crate::http::{matched, path_param, App, PathId, Query};
use axum::extract::{Request, State};
use axum::response::Response;
use parityrail_core::api::error::{ApiError, ApiResult};
use parityrail_core::api::path::{CustomerId, PathParam};
use parityrail_core::api::routes::Route;
use parityrail_core::domain::ids::{IncidentId, RunId};

use super::{audit, customers, incidents, integrations, projects, runs, webhooks};

/// Who reads: an org route's caller, or a project route's (tenancy and role already checked).
pub enum Reader {
    Org(Principal),
    Project(InProject),
}

/// The route's other path parameter (`{iid}`, `{cus}`, `{rid}`), by name.
const IDS: [&str; 3] = [IncidentId::NAME, CustomerId::NAME, "rid"];

/// GET of every route `dispatch` serves, as the router binds them.
#[worker::send]
pub async fn get(State(app): State<App>, req: Request) -> ApiResult<Response> {
    let (mut parts, _) = req.into_parts();
    let route = matched(&parts)?;
    let reader = match parts.extensions.remove::<InProject>() {
        Some(ip) => Reader::Project(ip),
        None => Reader::Org(
            parts
                .extensions
                .remove::<Principal>()
                .ok_or_else(|| ApiError::internal("the route guard established no principal"))?,
        ),
    };
    let name = IDS
        .iter()
        .find(|n| route.spec().path.contains(&format!("{{{n}}}")));
    let id = match name {
        Some(n) => path_param(&mut parts, &app, n).await?,
        None => String::new(),
    };
    dispatch(
        &app,
        reader,
        route,
        &id,
        Query(parts.uri.query().map(str::to_owned)),
    )
    .await
}

/// Reads `route` for `reader`; `id` is the route's other path parameter, parsed here as the
/// route's own extractor would (the same `404` for one that does not parse).
pub async fn dispatch(
    app: &App,
    reader: Reader,
    route: Route,
    id: &str,
    q: Query,
) -> ApiResult<Response> {
    match (reader, route) {
        (Reader::Org(p), Route::ProjectsList) => projects::list(p, q).await,
        (Reader::Project(ip), Route::IncidentsList) => incidents::list(ip, q).await,
        (Reader::Project(ip), Route::IncidentsGet) => incidents::get(ip, path_id(id)?).await,
        (Reader::Project(ip), Route::CustomersLedger) => {
            customers::ledger(ip, path_id(id)?, q).await
        }
        (Reader::Project(ip), Route::RunsList) => runs::list(ip, q).await,
        (Reader::Project(ip), Route::RunsGet) => runs::get(ip, path_id::<RunId>(id)?).await,
        (Reader::Project(ip), Route::AuditVerifyProject) => {
            audit::verify_project(State(app.clone()), ip).await
        }
        (Reader::Project(ip), Route::WebhooksHealth) => webhooks::health(ip).await,
        (Reader::Project(ip), Route::IntegrationsGet) => integrations::get(ip).await,
        (_, r) => Err(ApiError::internal(format!(
            "no read is bound to {}",
            r.spec().path
        ))),
    }
}

fn path_id<T: PathParam>(raw: &str) -> ApiResult<PathId<T>> {
    T::parse(raw)
        .map(PathId)
        .ok_or_else(|| ApiError::not_found(T::WHAT))
}
