//! The router: every route the core declares (`parityrail_core::api::routes::Route`) bound to
//! its handler by an exhaustive match, so a declared route without a handler does not compile,
//! behind the route layer that enforces each route's guard before its handler runs.

use crate::auth::guard::route_guard;
use crate::handlers::*;
use crate::http::App;
use axum::routing::{on, MethodFilter, MethodRouter};
use parityrail_core::api::routes::{Method, Route};

/// The router for exactly the declared routes; unmatched paths and methods go to the fallbacks
/// (404 `no_route`, 405 `method_not_allowed`).
pub(crate) fn router(app: App) -> axum::Router {
    let routes = Route::ALL.iter().fold(axum::Router::new(), |r, route| {
        r.route(route.spec().path, bind(*route))
    });
    routes
        .route_layer(axum::middleware::from_fn_with_state(
            app.clone(),
            route_guard,
        ))
        .fallback(meta::no_route)
        .method_not_allowed_fallback(meta::method_not_allowed)
        .with_state(app)
}

/// The handler of one route, under its declared method.
fn bind(route: Route) -> MethodRouter<App> {
    let filter = match route.spec().method {
        Method::GET => MethodFilter::GET,
        Method::POST => MethodFilter::POST,
        Method::PUT => MethodFilter::PUT,
        Method::PATCH => MethodFilter::PATCH,
        Method::DELETE => MethodFilter::DELETE,
    };
    match route {
        Route::MetaHealthz => on(filter, meta::healthz),
        Route::MetaSecurityTxt => on(filter, meta::security_txt),
        Route::MetaSecurityPolicy => on(filter, meta::security_policy),
        Route::WebhooksReceive => on(filter, webhooks::receive),
        Route::OperatorCreateOrg => on(filter, operator::create_org),
        Route::OperatorOwnerKey => on(filter, operator::owner_key),
        Route::SessionsCreate | Route::SessionsEmail | Route::SessionsConfirm => {
            on(filter, sessions::sign_in)
        }
        Route::SessionGet | Route::SessionEnd | Route::SessionStepUp => {
            on(filter, sessions::session)
        }
        Route::OrgGet => on(filter, org::get),
        Route::MembersList => on(filter, members::list),
        Route::MembersAdd => on(filter, members::add),
        Route::MembersUpdate => on(filter, members::update),
        Route::MembersRemove => on(filter, members::remove),
        Route::MembersEndSessions => on(filter, sessions::end_member),
        Route::AuditListOrg => on(filter, audit::list_org),
        Route::AuditVerifyOrg => on(filter, audit::verify_org),
        Route::ExportsSigningKey => on(filter, exports::signing_key),
        Route::KeysList => on(filter, keys::list),
        Route::KeysCreate => on(filter, keys::create),
        Route::KeysRevoke => on(filter, keys::revoke),
        Route::KeysRotate => on(filter, keys::rotate),
        Route::ProjectsList => on(filter, projects::list),
        Route::ProjectsCreate => on(filter, projects::create),
        Route::ProjectsGet => on(filter, projects::get),
        Route::ProjectsPatch => on(filter, projects::patch),
        Route::ProjectsDelete => on(filter, projects::delete),
        Route::ProjectsSetMemberRole => on(filter, projects::set_member_role),
        Route::IntegrationsGet => on(filter, integrations::get),
        Route::IntegrationsStripePut => on(filter, integrations::stripe::put),
        Route::IntegrationsStripeTest => on(filter, integrations::stripe::test),
        Route::IntegrationsDatabasePut => on(filter, integrations::database::put),
        Route::IntegrationsDatabaseTest => on(filter, integrations::database::test),
        Route::MappingPut => on(filter, mapping::put),
        Route::MappingGet => on(filter, mapping::get),
        Route::CustomersCheck => on(filter, customers::check),
        Route::CustomersLedger => on(filter, customers::ledger),
        Route::IncidentsList => on(filter, incidents::list),
        Route::IncidentsGet => on(filter, incidents::get),
        Route::IncidentsIgnore => on(filter, incidents::ignore),
        Route::RepairsList => on(filter, repairs::list),
        Route::RepairsGet => on(filter, repairs::get),
        Route::RepairsApprove => on(filter, repairs::approve),
        Route::RepairsReject => on(filter, repairs::reject),
        Route::RunsCreate => on(filter, runs::create),
        Route::RunsList => on(filter, runs::list),
        Route::RunsGet => on(filter, runs::get),
        Route::WebhooksHealth => on(filter, webhooks::health),
        Route::AuditListProject => on(filter, audit::list_project),
        Route::AuditVerifyProject => on(filter, audit::verify_project),
        Route::ExportsCreate => on(filter, exports::create),
        Route::ExportsList => on(filter, exports::list),
        Route::ExportsGet => on(filter, exports::get),
        Route::ExportsFile => on(filter, exports::file),
    }
}
