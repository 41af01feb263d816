//! The one declaration of every HTTP route, as data: a `Route` per endpoint with its method, path
//! and who may call it. The adapter binds each `Route` to its handler with an exhaustive match
//! (a route declared without a handler does not compile) and builds the router from `Route::ALL`
//! (so 404 and 405 follow from it); its route layer enforces the guard looked up here by the
//! matched path before any handler runs; the shared security suite walks the same list
//! (`cargo run -p parityrail-core --example routes` prints it as JSON), so a new route can escape
//! neither the guard nor the suite.

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
    /// A dashboard sign-in (`/v1/sessions…`): the request's `Origin` must be the site's own
    /// (`403 bad_origin`), and it counts against the client's failure budget before anything
    /// else; the handler refunds it once the credential or link was good.
    SignIn,
    /// A dashboard session's own routes: a session cookie only (`401 missing_session` without
    /// one; an API key is no session), with the CSRF token and `Origin` on a change.
    Session,
    /// The MCP server (`POST /mcp`): an API key only (`Authorization: Bearer` or `api_key`; a
    /// session cookie is no credential here), with the rate limit and failure lockout of any key;
    /// an `Origin`, when sent, must be one `MCP_ALLOWED_ORIGINS` lists (by default a loopback
    /// origin: the DNS-rebinding rule) or `403 bad_origin`. Each tool is a `Key(Read)` route,
    /// checked as that route is.
    Mcp,
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
            Guard::Public
            | Guard::Operator
            | Guard::StripeWebhook
            | Guard::SignIn
            | Guard::Session
            | Guard::Mcp => None,
        }
    }
}

/// The HTTP methods the API uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[allow(clippy::upper_case_acronyms)]
pub enum Method {
    GET,
    POST,
    PUT,
    PATCH,
    DELETE,
}

impl Method {
    pub const fn as_str(self) -> &'static str {
        match self {
            Method::GET => "GET",
            Method::POST => "POST",
            Method::PUT => "PUT",
            Method::PATCH => "PATCH",
            Method::DELETE => "DELETE",
        }
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RouteSpec {
    pub method: Method,
    pub path: &'static str,
    pub guard: Guard,
}

impl RouteSpec {
    /// A route under one project: its guard applies to the caller's role in that project.
    pub fn project_scoped(&self) -> bool {
        self.path.contains("{pid}")
    }
}

/// What a request's method and path name among the declared routes.
#[derive(Debug, PartialEq, Eq)]
pub enum Found {
    /// The route, and its path parameters by name, percent-decoded (`None`: not UTF-8 once
    /// decoded, which names nothing).
    Route(Route, Vec<(&'static str, Option<String>)>),
    /// The path is declared, not under this method: the methods it is declared under.
    MethodNotAllowed(Vec<Method>),
    NotFound,
}

/// Matches a request against the declared routes: a segment of a template either equals the
/// path's or is a `{param}` that takes one non-empty segment; where two templates match, the one
/// with more literal segments wins. `HEAD` is served by the `GET` route.
pub fn find(method: &str, path: &str) -> Found {
    let method = if method == "HEAD" { "GET" } else { method };
    let segments: Vec<&str> = path.split('/').collect();
    let mut best: Option<(usize, Route)> = None;
    let mut methods = Vec::new();
    for &route in Route::ALL {
        let spec = route.spec();
        let template: Vec<&str> = spec.path.split('/').collect();
        if template.len() != segments.len() {
            continue;
        }
        let mut literal = 0;
        let fits = template.iter().zip(&segments).all(|(t, s)| {
            if t.starts_with('{') {
                !s.is_empty()
            } else {
                literal += 1;
                t == s
            }
        });
        if !fits {
            continue;
        }
        if spec.method.as_str() != method {
            methods.push(spec.method);
            continue;
        }
        if best.is_none_or(|(l, _)| literal > l) {
            best = Some((literal, route));
        }
    }
    match best {
        Some((_, route)) => {
            let params = route
                .spec()
                .path
                .split('/')
                .zip(&segments)
                .filter_map(|(t, s)| {
                    let name = t.strip_prefix('{')?.strip_suffix('}')?;
                    let value = percent_encoding::percent_decode_str(s)
                        .decode_utf8()
                        .ok()
                        .map(|v| v.into_owned());
                    Some((name, value))
                })
                .collect();
            Found::Route(route, params)
        }
        None if !methods.is_empty() => Found::MethodNotAllowed(methods),
        None => Found::NotFound,
    }
}

macro_rules! declare_routes {
    ($( $(#[$doc:meta])* $name:ident: $method:ident $path:literal => $guard:expr; )*) => {
        /// A declared route. The adapter binds each to its handler with an exhaustive match, so
        /// a route declared here without a handler does not compile.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Route {
            $( $(#[$doc])* $name, )*
        }

        impl Route {
            /// Every route, in declaration order.
            pub const ALL: &'static [Route] = &[ $( Route::$name, )* ];

            /// The method, path template and guard of this route.
            pub fn spec(self) -> &'static RouteSpec {
                &ROUTES[self as usize]
            }
        }

        /// Every route's spec, in declaration order.
        pub static ROUTES: &[RouteSpec] = &[
            $( RouteSpec { method: Method::$method, path: $path, guard: $guard }, )*
        ];
    };
}

use Guard::{Key, LiveOrgKey, Mcp, Operator, OrgKey, Public, Session, SignIn, StripeWebhook};
use Need::{Admin, Owner, Read, Write};

declare_routes! {
    MetaHealthz: GET "/healthz" => Public;
    MetaSecurityTxt: GET "/.well-known/security.txt" => Public;
    MetaSecurityPolicy: GET "/security-policy" => Public;
    WebhooksReceive: POST "/webhooks/stripe/{pid}" => StripeWebhook;
    McpPost: POST "/mcp" => Mcp;
    OperatorCreateOrg: POST "/v1/operator/orgs" => Operator;
    OperatorOwnerKey: POST "/v1/operator/orgs/{oid}/owner-key" => Operator;
    SessionsCreate: POST "/v1/sessions" => SignIn;
    SessionsEmail: POST "/v1/sessions/email" => SignIn;
    SessionsConfirm: POST "/v1/sessions/email/confirm" => SignIn;
    SessionGet: GET "/v1/session" => Session;
    SessionEnd: DELETE "/v1/session" => Session;
    SessionStepUp: POST "/v1/session/step-up" => Session;
    OrgGet: GET "/v1/org" => Key(Read);
    MembersList: GET "/v1/org/members" => OrgKey(Read);
    MembersAdd: POST "/v1/org/members" => LiveOrgKey(Admin);
    MembersUpdate: PATCH "/v1/org/members/{mid}" => LiveOrgKey(Admin);
    MembersRemove: DELETE "/v1/org/members/{mid}" => LiveOrgKey(Admin);
    MembersEndSessions: DELETE "/v1/org/members/{mid}/sessions" => LiveOrgKey(Admin);
    AuditListOrg: GET "/v1/org/audit" => LiveOrgKey(Read);
    AuditVerifyOrg: GET "/v1/org/audit/verify" => LiveOrgKey(Read);
    ExportsSigningKey: GET "/v1/org/signing-key" => Key(Read);
    KeysList: GET "/v1/keys" => Key(Read);
    KeysCreate: POST "/v1/keys" => OrgKey(Admin);
    KeysRevoke: DELETE "/v1/keys/{kid}" => OrgKey(Admin);
    KeysRotate: POST "/v1/keys/{kid}/rotate" => OrgKey(Admin);
    ProjectsList: GET "/v1/projects" => Key(Read);
    ProjectsCreate: POST "/v1/projects" => OrgKey(Admin);
    ProjectsGet: GET "/v1/projects/{pid}" => Key(Read);
    ProjectsPatch: PATCH "/v1/projects/{pid}" => Key(Admin);
    ProjectsDelete: DELETE "/v1/projects/{pid}" => Key(Owner);
    ProjectsSetMemberRole: PUT "/v1/projects/{pid}/members/{mid}" => Key(Admin);
    IntegrationsGet: GET "/v1/projects/{pid}/integrations" => Key(Read);
    IntegrationsStripePut: PUT "/v1/projects/{pid}/integrations/stripe" => Key(Admin);
    IntegrationsStripeTest: POST "/v1/projects/{pid}/integrations/stripe/test" => Key(Admin);
    IntegrationsDatabasePut: PUT "/v1/projects/{pid}/integrations/database" => Key(Admin);
    IntegrationsDatabaseTest: POST "/v1/projects/{pid}/integrations/database/test" => Key(Admin);
    MappingPut: PUT "/v1/projects/{pid}/mapping" => Key(Admin);
    MappingGet: GET "/v1/projects/{pid}/mapping" => Key(Read);
    CustomersCheck: POST "/v1/projects/{pid}/customers/{cus}/check" => Key(Write);
    CustomersLedger: GET "/v1/projects/{pid}/customers/{cus}/ledger" => Key(Read);
    IncidentsList: GET "/v1/projects/{pid}/incidents" => Key(Read);
    IncidentsGet: GET "/v1/projects/{pid}/incidents/{iid}" => Key(Read);
    IncidentsIgnore: POST "/v1/projects/{pid}/incidents/{iid}/ignore" => Key(Admin);
    RepairsList: GET "/v1/projects/{pid}/repairs" => Key(Read);
    RepairsGet: GET "/v1/projects/{pid}/repairs/{rid}" => Key(Read);
    RepairsApprove: POST "/v1/projects/{pid}/repairs/{rid}/approve" => Key(Admin);
    RepairsReject: POST "/v1/projects/{pid}/repairs/{rid}/reject" => Key(Admin);
    RunsCreate: POST "/v1/projects/{pid}/runs" => Key(Write);
    RunsList: GET "/v1/projects/{pid}/runs" => Key(Read);
    RunsGet: GET "/v1/projects/{pid}/runs/{rid}" => Key(Read);
    WebhooksHealth: GET "/v1/projects/{pid}/webhooks/health" => Key(Read);
    AuditListProject: GET "/v1/projects/{pid}/audit" => Key(Read);
    AuditVerifyProject: GET "/v1/projects/{pid}/audit/verify" => Key(Read);
    ExportsCreate: POST "/v1/projects/{pid}/exports" => Key(Admin);
    ExportsList: GET "/v1/projects/{pid}/exports" => Key(Read);
    ExportsGet: GET "/v1/projects/{pid}/exports/{eid}" => Key(Read);
    ExportsFile: GET "/v1/projects/{pid}/exports/{eid}/files/{name}" => Key(Read);
    HooksCreate: POST "/v1/projects/{pid}/webhook-endpoints" => Key(Admin);
    HooksList: GET "/v1/projects/{pid}/webhook-endpoints" => Key(Read);
    HooksGet: GET "/v1/projects/{pid}/webhook-endpoints/{hid}" => Key(Read);
    HooksUpdate: PATCH "/v1/projects/{pid}/webhook-endpoints/{hid}" => Key(Admin);
    HooksDelete: DELETE "/v1/projects/{pid}/webhook-endpoints/{hid}" => Key(Admin);
    HooksRotate: POST "/v1/projects/{pid}/webhook-endpoints/{hid}/rotate" => Key(Admin);
    HooksDeliveries: GET "/v1/projects/{pid}/webhook-endpoints/{hid}/deliveries" => Key(Read);
    HooksReplay: POST "/v1/projects/{pid}/webhook-events/{evid}/replay" => Key(Admin);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The spec of the route `find` matches, if any (a template matches itself).
    fn lookup(method: &str, path: &str) -> Option<&'static RouteSpec> {
        match find(method, path) {
            Found::Route(r, _) => Some(r.spec()),
            _ => None,
        }
    }

    #[test]
    fn find_matches_templates_decodes_params_and_tells_405_from_404() {
        let Found::Route(r, params) = find("GET", "/v1/projects/prj_1/incidents/inc_%41x") else {
            panic!()
        };
        assert_eq!(r, Route::IncidentsGet);
        assert_eq!(
            params,
            vec![
                ("pid", Some("prj_1".to_owned())),
                ("iid", Some("inc_Ax".to_owned()))
            ]
        );
        assert!(matches!(
            find("HEAD", "/v1/org"),
            Found::Route(Route::OrgGet, _)
        ));
        assert!(matches!(
            find("DELETE", "/v1/org/members/m1/sessions"),
            Found::Route(Route::MembersEndSessions, _)
        ));
        assert!(matches!(
            find("DELETE", "/v1/org/members/m1"),
            Found::Route(Route::MembersRemove, _)
        ));
        assert!(matches!(
            find("POST", "/v1/sessions/email"),
            Found::Route(Route::SessionsEmail, _)
        ));
        assert_eq!(
            find("PUT", "/v1/org"),
            Found::MethodNotAllowed(vec![Method::GET])
        );
        assert_eq!(
            find("GET", "/mcp"),
            Found::MethodNotAllowed(vec![Method::POST])
        );
        for nothing in [
            "/v1/nothing",
            "/v1/projects//incidents",
            "/v1/org/x/y",
            "/",
            "",
        ] {
            assert_eq!(find("GET", nothing), Found::NotFound, "{nothing}");
        }
        // A segment that is not UTF-8 once decoded names nothing.
        let Found::Route(_, params) = find("GET", "/v1/projects/%FF") else {
            panic!()
        };
        assert_eq!(params, vec![("pid", None)]);
    }

    #[test]
    fn no_two_routes_of_a_method_match_the_same_paths_with_equal_literals() {
        // Every declared path, with each parameter filled, finds its own route.
        for &r in Route::ALL {
            let path = r
                .spec()
                .path
                .split('/')
                .map(|s| if s.starts_with('{') { "x1" } else { s })
                .collect::<Vec<_>>()
                .join("/");
            match find(r.spec().method.as_str(), &path) {
                Found::Route(found, _) => assert_eq!(found, r, "{path}"),
                other => panic!("{path}: {other:?}"),
            }
        }
    }
    use std::collections::HashSet;

    #[test]
    fn every_route_is_declared_once() {
        let mut seen = HashSet::new();
        for r in ROUTES {
            assert!(seen.insert((r.method, r.path)), "{} {}", r.method, r.path);
        }
    }

    #[test]
    fn every_route_names_its_own_spec() {
        assert_eq!(Route::ALL.len(), ROUTES.len());
        for (i, r) in Route::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i);
            assert_eq!(r.spec(), &ROUTES[i]);
            assert_eq!(
                lookup(r.spec().method.as_str(), r.spec().path),
                Some(r.spec())
            );
        }
    }

    #[test]
    fn every_v1_route_but_operator_bootstrap_and_sign_in_needs_a_key_or_a_session() {
        for r in ROUTES.iter().filter(|r| r.path.starts_with("/v1/")) {
            match r.guard {
                Guard::Key(_) | Guard::OrgKey(_) | Guard::LiveOrgKey(_) => {}
                Guard::Operator => assert!(r.path.starts_with("/v1/operator/orgs")),
                Guard::SignIn => {
                    assert!(r.path.starts_with("/v1/sessions") && r.method == Method::POST)
                }
                Guard::Session => assert!(r.path.starts_with("/v1/session")),
                Guard::Public | Guard::StripeWebhook | Guard::Mcp => {
                    panic!("{} {} is not an API route", r.method, r.path)
                }
            }
        }
    }

    #[test]
    fn writes_are_never_guarded_as_reads() {
        for r in ROUTES.iter().filter(|r| r.method != Method::GET) {
            assert_ne!(r.guard.need(), Some(Need::Read), "{} {}", r.method, r.path);
        }
    }

    #[test]
    fn org_scope_is_declared_for_org_routes_only_and_member_changes_need_live() {
        for r in ROUTES {
            let org_only = matches!(r.guard, Guard::OrgKey(_) | Guard::LiveOrgKey(_));
            assert!(!(org_only && r.project_scoped()), "{} {}", r.method, r.path);
            let changes_members = r.path.starts_with("/v1/org/members") && r.method != Method::GET;
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
                || (r.path.starts_with("/v1/keys") && r.method != Method::GET)
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
