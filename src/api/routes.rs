//! The one declaration of every HTTP route: method, path, who may call it, and (on wasm32) the
//! handler. From it come the axum router (so 404 and 405 follow from it), the guard the route
//! layer enforces on every declared route before its handler runs (looked up by the matched
//! path), and the list the shared security suite walks (`cargo run --example routes` prints it
//! as JSON), so a new route can escape neither the guard nor the suite.

use crate::domain::roles::Need;
use serde::Serialize;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "need", rename_all = "snake_case")]
pub enum Guard {
    /// Anyone (health, security.txt).
    Public,
    /// The operator token only.
    Operator,
    /// A Stripe webhook delivery: the `Stripe-Signature` over the raw body checked against the
    /// project's webhook secrets (the body is read, at most 1 MiB, by the guard).
    StripeWebhook,
    /// An API key with at least this need; for project routes (`{pid}` in the path), in that
    /// project after overrides and only once the project resolved (tenancy first).
    Key(Need),
    /// An org route that changes or reveals the whole org (members, keys, new projects): a key
    /// with at least this need that is not limited to one project.
    OrgKey(Need),
    /// `OrgKey` that also changes live access or shows org-wide history (members, the org
    /// chain): a live key (SPEC §2: a test key never changes live access).
    LiveOrgKey(Need),
}

impl Guard {
    /// The need of a key-guarded route.
    pub fn need(&self) -> Option<Need> {
        match self {
            Guard::Key(n) | Guard::OrgKey(n) | Guard::LiveOrgKey(n) => Some(*n),
            Guard::Public | Guard::Operator | Guard::StripeWebhook => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RouteSpec {
    pub method: &'static str,
    pub path: &'static str,
    pub guard: Guard,
}

impl RouteSpec {
    /// A route under one project: its guard applies to the caller's role in that project.
    pub fn project_scoped(&self) -> bool {
        self.path.contains("{pid}")
    }
}

/// The route a method and a matched path template name, if declared.
pub fn lookup(method: &str, path: &str) -> Option<&'static RouteSpec> {
    // HEAD is served by the GET route.
    let method = if method == "HEAD" { "GET" } else { method };
    ROUTES.iter().find(|r| r.method == method && r.path == path)
}

macro_rules! declare_routes {
    ($( $method:ident $path:literal => $guard:expr, $handler:path; )*) => {
        /// Every route, in declaration order.
        pub const ROUTES: &[RouteSpec] = &[
            $( RouteSpec { method: stringify!($method), path: $path, guard: $guard }, )*
        ];

        /// The router for exactly the routes above; unmatched paths and methods go to the
        /// fallbacks (404 `no_route`, 405 `method_not_allowed`).
        #[cfg(target_arch = "wasm32")]
        pub(crate) fn router(app: crate::edge::App) -> axum::Router {
            use axum::routing::{on, MethodFilter};
            use crate::edge::handlers::*;
            axum::Router::new()
                $( .route($path, on(MethodFilter::$method, $handler)) )*
                .route_layer(axum::middleware::from_fn_with_state(
                    app.clone(),
                    crate::edge::auth::guard::guard,
                ))
                .fallback(meta::no_route)
                .method_not_allowed_fallback(meta::method_not_allowed)
                .with_state(app)
        }
    };
}

use Guard::{Key, LiveOrgKey, Operator, OrgKey, Public, StripeWebhook};
use Need::{Admin, Owner, Read, Write};

declare_routes! {
    GET "/healthz" => Public, meta::healthz;
    GET "/.well-known/security.txt" => Public, meta::security_txt;
    GET "/security-policy" => Public, meta::security_policy;
    POST "/webhooks/stripe/{pid}" => StripeWebhook, webhooks::receive;
    POST "/v1/operator/orgs" => Operator, operator::create_org;
    POST "/v1/operator/orgs/{oid}/owner-key" => Operator, operator::owner_key;
    GET "/v1/org" => Key(Read), org::get;
    GET "/v1/org/members" => OrgKey(Read), members::list;
    POST "/v1/org/members" => LiveOrgKey(Admin), members::add;
    PATCH "/v1/org/members/{mid}" => LiveOrgKey(Admin), members::update;
    DELETE "/v1/org/members/{mid}" => LiveOrgKey(Admin), members::remove;
    GET "/v1/org/audit" => LiveOrgKey(Read), audit::list_org;
    GET "/v1/org/audit/verify" => LiveOrgKey(Read), audit::verify_org;
    GET "/v1/org/signing-key" => Key(Read), exports::signing_key;
    GET "/v1/keys" => Key(Read), keys::list;
    POST "/v1/keys" => OrgKey(Admin), keys::create;
    DELETE "/v1/keys/{kid}" => OrgKey(Admin), keys::revoke;
    POST "/v1/keys/{kid}/rotate" => OrgKey(Admin), keys::rotate;
    GET "/v1/projects" => Key(Read), projects::list;
    POST "/v1/projects" => OrgKey(Admin), projects::create;
    GET "/v1/projects/{pid}" => Key(Read), projects::get;
    PATCH "/v1/projects/{pid}" => Key(Admin), projects::patch;
    DELETE "/v1/projects/{pid}" => Key(Owner), projects::delete;
    PUT "/v1/projects/{pid}/members/{mid}" => Key(Admin), projects::set_member_role;
    GET "/v1/projects/{pid}/integrations" => Key(Read), integrations::get;
    PUT "/v1/projects/{pid}/integrations/stripe" => Key(Admin), integrations::stripe::put;
    POST "/v1/projects/{pid}/integrations/stripe/test" => Key(Admin), integrations::stripe::test;
    PUT "/v1/projects/{pid}/integrations/database" => Key(Admin), integrations::database::put;
    POST "/v1/projects/{pid}/integrations/database/test" => Key(Admin), integrations::database::test;
    PUT "/v1/projects/{pid}/mapping" => Key(Admin), mapping::put;
    GET "/v1/projects/{pid}/mapping" => Key(Read), mapping::get;
    POST "/v1/projects/{pid}/customers/{cus}/check" => Key(Write), customers::check;
    GET "/v1/projects/{pid}/customers/{cus}/ledger" => Key(Read), customers::ledger;
    GET "/v1/projects/{pid}/incidents" => Key(Read), incidents::list;
    GET "/v1/projects/{pid}/incidents/{iid}" => Key(Read), incidents::get;
    POST "/v1/projects/{pid}/incidents/{iid}/ignore" => Key(Admin), incidents::ignore;
    GET "/v1/projects/{pid}/repairs" => Key(Read), repairs::list;
    GET "/v1/projects/{pid}/repairs/{rid}" => Key(Read), repairs::get;
    POST "/v1/projects/{pid}/repairs/{rid}/approve" => Key(Admin), repairs::approve;
    POST "/v1/projects/{pid}/repairs/{rid}/reject" => Key(Admin), repairs::reject;
    POST "/v1/projects/{pid}/runs" => Key(Write), runs::create;
    GET "/v1/projects/{pid}/runs" => Key(Read), runs::list;
    GET "/v1/projects/{pid}/runs/{rid}" => Key(Read), runs::get;
    GET "/v1/projects/{pid}/webhooks/health" => Key(Read), webhooks::health;
    GET "/v1/projects/{pid}/audit" => Key(Read), audit::list_project;
    GET "/v1/projects/{pid}/audit/verify" => Key(Read), audit::verify_project;
    POST "/v1/projects/{pid}/exports" => Key(Admin), exports::create;
    GET "/v1/projects/{pid}/exports" => Key(Read), exports::list;
    GET "/v1/projects/{pid}/exports/{eid}" => Key(Read), exports::get;
    GET "/v1/projects/{pid}/exports/{eid}/files/{name}" => Key(Read), exports::file;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_route_is_declared_once() {
        let mut seen = HashSet::new();
        for r in ROUTES {
            assert!(seen.insert((r.method, r.path)), "{} {}", r.method, r.path);
        }
    }

    #[test]
    fn every_v1_route_but_operator_bootstrap_needs_a_key() {
        for r in ROUTES.iter().filter(|r| r.path.starts_with("/v1/")) {
            match r.guard {
                Guard::Key(_) | Guard::OrgKey(_) | Guard::LiveOrgKey(_) => {}
                Guard::Operator => assert!(r.path.starts_with("/v1/operator/orgs")),
                Guard::Public | Guard::StripeWebhook => {
                    panic!("{} {} is public", r.method, r.path)
                }
            }
        }
    }

    #[test]
    fn writes_are_never_guarded_as_reads() {
        for r in ROUTES.iter().filter(|r| r.method != "GET") {
            assert_ne!(r.guard.need(), Some(Need::Read), "{} {}", r.method, r.path);
        }
    }

    #[test]
    fn org_scope_is_declared_for_org_routes_only_and_member_changes_need_live() {
        for r in ROUTES {
            let org_only = matches!(r.guard, Guard::OrgKey(_) | Guard::LiveOrgKey(_));
            assert!(!(org_only && r.project_scoped()), "{} {}", r.method, r.path);
            let changes_members = r.path.starts_with("/v1/org/members") && r.method != "GET";
            if changes_members || r.path.starts_with("/v1/org/audit") {
                assert!(
                    matches!(r.guard, Guard::LiveOrgKey(_)),
                    "{} {}",
                    r.method,
                    r.path
                );
            }
            // Every org-wide change (members, keys) and the member list are org-scoped.
            if r.path.starts_with("/v1/org/members")
                || (r.path.starts_with("/v1/keys") && r.method != "GET")
            {
                assert!(org_only, "{} {}", r.method, r.path);
            }
        }
    }

    #[test]
    fn a_matched_path_finds_its_route_and_head_finds_get() {
        assert_eq!(
            lookup("DELETE", "/v1/projects/{pid}").map(|r| r.guard),
            Some(Guard::Key(Need::Owner))
        );
        assert!(lookup("HEAD", "/v1/org").is_some());
        assert!(lookup("POST", "/v1/org/audit").is_none());
        assert!(
            lookup("GET", "/v1/projects/{pid}/integrations").is_some_and(RouteSpec::project_scoped)
        );
    }
}
