//! The router: a request matched against the routes the core declares (`api::routes::find`),
//! the matched route's guard enforced (`auth::guard`), then its handler, bound by an exhaustive
//! match (a declared route without a handler does not compile). Unmatched paths go to the
//! fallbacks (404 `no_route`, 405 `method_not_allowed`), which authenticate first under `/v1`.

use crate::auth::guard::establish;
use crate::handlers::*;
use crate::http::{App, Params};
use axum::extract::{Request, State};
use axum::handler::Handler;
use axum::http::{header, HeaderValue, Method as HttpMethod};
use axum::response::{IntoResponse, Response};
use parityrail_core::api::routes::{find, Found, Route};

/// Answers one request.
pub(crate) async fn dispatch(app: App, mut req: Request) -> Response {
    let head = req.method() == HttpMethod::HEAD;
    let mut res = match find(req.method().as_str(), req.uri().path()) {
        Found::Route(route, params) => {
            req.extensions_mut().insert(Params { route, params });
            match establish(&app, route, req).await {
                Ok(req) => call(route, req, app).await,
                Err(e) => e.into_response(),
            }
        }
        Found::MethodNotAllowed(methods) => {
            let allow = methods
                .iter()
                .map(|m| m.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            let mut res = meta::method_not_allowed(State(app), req)
                .await
                .into_response();
            if let Ok(v) = HeaderValue::from_str(&allow) {
                res.headers_mut().insert(header::ALLOW, v);
            }
            res
        }
        Found::NotFound => meta::no_route(State(app), req).await.into_response(),
    };
    // HEAD is answered by the GET route, without its body.
    if head {
        *res.body_mut() = axum::body::Body::empty();
    }
    res
}

/// The handler of one route.
async fn call(route: Route, req: Request, app: App) -> Response {
    match route {
        Route::MetaHealthz => Handler::call(meta::healthz, req, app).await,
        Route::MetaSecurityTxt => Handler::call(meta::security_txt, req, app).await,
        Route::MetaSecurityPolicy => Handler::call(meta::security_policy, req, app).await,
        Route::WebhooksReceive => Handler::call(webhooks::receive, req, app).await,
        Route::McpPost => Handler::call(mcp::post, req, app).await,
        // The reads MCP's tools are bound to: one handler (`reads::dispatch`) for both.
        Route::ProjectsList
        | Route::IncidentsList
        | Route::IncidentsGet
        | Route::CustomersLedger
        | Route::RunsList
        | Route::RunsGet
        | Route::AuditVerifyProject
        | Route::WebhooksHealth
        | Route::IntegrationsGet => Handler::call(reads::get, req, app).await,
        Route::OperatorCreateOrg => Handler::call(operator::create_org, req, app).await,
        Route::OperatorOwnerKey => Handler::call(operator::owner_key, req, app).await,
        Route::SessionsCreate | Route::SessionsEmail | Route::SessionsConfirm => {
            Handler::call(sessions::sign_in, req, app).await
        }
        Route::SessionGet | Route::SessionEnd | Route::SessionStepUp => {
            Handler::call(sessions::session, req, app).await
        }
        Route::OrgGet => Handler::call(org::get, req, app).await,
        Route::MembersList => Handler::call(members::list, req, app).await,
        Route::MembersAdd => Handler::call(members::add, req, app).await,
        Route::MembersUpdate => Handler::call(members::update, req, app).await,
        Route::MembersRemove => Handler::call(members::remove, req, app).await,
        Route::MembersEndSessions => Handler::call(sessions::end_member, req, app).await,
        Route::AuditListOrg => Handler::call(audit::list_org, req, app).await,
        Route::AuditVerifyOrg => Handler::call(audit::verify_org, req, app).await,
        Route::ExportsSigningKey => Handler::call(exports::signing_key, req, app).await,
        Route::KeysList => Handler::call(keys::list, req, app).await,
        Route::KeysCreate => Handler::call(keys::create, req, app).await,
        Route::KeysRevoke => Handler::call(keys::revoke, req, app).await,
        Route::KeysRotate => Handler::call(keys::rotate, req, app).await,
        Route::ProjectsCreate => Handler::call(projects::create, req, app).await,
        Route::ProjectsGet => Handler::call(projects::get, req, app).await,
        Route::ProjectsPatch => Handler::call(projects::patch, req, app).await,
        Route::ProjectsDelete => Handler::call(projects::delete, req, app).await,
        Route::ProjectsSetMemberRole => Handler::call(projects::set_member_role, req, app).await,
        Route::IntegrationsStripePut => Handler::call(integrations::stripe::put, req, app).await,
        Route::IntegrationsStripeTest => Handler::call(integrations::stripe::test, req, app).await,
        Route::IntegrationsDatabasePut => {
            Handler::call(integrations::database::put, req, app).await
        }
        Route::IntegrationsDatabaseTest => {
            Handler::call(integrations::database::test, req, app).await
        }
        Route::MappingPut => Handler::call(mapping::put, req, app).await,
        Route::MappingGet => Handler::call(mapping::get, req, app).await,
        Route::CustomersCheck => Handler::call(customers::check, req, app).await,
        Route::IncidentsIgnore => Handler::call(incidents::ignore, req, app).await,
        Route::RepairsList => Handler::call(repairs::list, req, app).await,
        Route::RepairsGet => Handler::call(repairs::get, req, app).await,
        Route::RepairsApprove => Handler::call(repairs::approve, req, app).await,
        Route::RepairsReject => Handler::call(repairs::reject, req, app).await,
        Route::RunsCreate => Handler::call(runs::create, req, app).await,
        Route::AuditListProject => Handler::call(audit::list_project, req, app).await,
        Route::ExportsCreate => Handler::call(exports::create, req, app).await,
        Route::ExportsList => Handler::call(exports::list, req, app).await,
        Route::ExportsGet => Handler::call(exports::get, req, app).await,
        Route::ExportsFile => Handler::call(exports::file, req, app).await,
        Route::HooksCreate
        | Route::HooksList
        | Route::HooksGet
        | Route::HooksUpdate
        | Route::HooksDelete
        | Route::HooksRotate
        | Route::HooksDeliveries
        | Route::HooksReplay => Handler::call(hooks::handle, req, app).await,
    }
}
