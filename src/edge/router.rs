//! The one route table. Everything under `/v1` except operator bootstrap authenticates first,
//! so an unknown `/v1` path without a key is a 401, never a hint about what exists.

use super::auth::{self, authenticate};
use super::error::{ApiError, ApiResult};
use super::handlers::{audit, integrations, keys, members, meta, operator, org, projects};
use super::http::Ctx;
use worker::{Method, Request, Response};

pub async fn route(ctx: &Ctx, req: Request) -> ApiResult<Response> {
    let path = req.path();
    let segs: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    let method = req.method();
    use Method::*;

    match (method.clone(), segs.as_slice()) {
        (Get, ["healthz"]) => return meta::healthz(),
        (Get, [".well-known", "security.txt"]) => return meta::security_txt(ctx, &req),
        (Get, ["security-policy"]) => return meta::security_policy(ctx),
        (Post, ["v1", "operator", "orgs"]) => {
            let grant = auth::operator(ctx, &req).await?;
            return operator::create_org(ctx, req, grant).await;
        }
        (_, ["v1", "operator", ..]) => return Err(not_allowed_or_missing(&segs)),
        (_, ["v1", ..]) => {}
        _ => return Err(ApiError::new(404, "no_route", "no such route")),
    }

    let p = authenticate(ctx, &req).await?;
    match (method, segs.as_slice()) {
        (Get, ["v1", "org"]) => org::get(p).await,
        (Get, ["v1", "org", "members"]) => members::list(req, p).await,
        (Post, ["v1", "org", "members"]) => members::add(ctx, req, p).await,
        (Patch, ["v1", "org", "members", mid]) => members::update(ctx, req, p, mid).await,
        (Delete, ["v1", "org", "members", mid]) => members::remove(ctx, p, mid).await,
        (Get, ["v1", "org", "audit"]) => audit::list(req, p, None).await,
        (Get, ["v1", "org", "audit", "verify"]) => audit::verify(p, None).await,
        (Get, ["v1", "keys"]) => keys::list(req, p).await,
        (Post, ["v1", "keys"]) => keys::create(ctx, req, p).await,
        (Delete, ["v1", "keys", kid]) => keys::revoke(ctx, p, kid).await,
        (Post, ["v1", "keys", kid, "rotate"]) => keys::rotate(ctx, req, p, kid).await,
        (Get, ["v1", "projects"]) => projects::list(req, p).await,
        (Post, ["v1", "projects"]) => projects::create(ctx, req, p).await,
        (Get, ["v1", "projects", pid]) => projects::get(p, pid).await,
        (Patch, ["v1", "projects", pid]) => projects::patch(ctx, req, p, pid).await,
        (Delete, ["v1", "projects", pid]) => projects::delete(ctx, p, pid).await,
        (Put, ["v1", "projects", pid, "members", mid]) => {
            projects::set_member_role(ctx, req, p, pid, mid).await
        }
        (Get, ["v1", "projects", pid, "integrations"]) => integrations::get(p, pid).await,
        (Put, ["v1", "projects", pid, "integrations", "stripe"]) => {
            integrations::stripe::put(ctx, req, p, pid).await
        }
        (Post, ["v1", "projects", pid, "integrations", "stripe", "test"]) => {
            integrations::stripe::test(ctx, p, pid).await
        }
        (Put, ["v1", "projects", pid, "integrations", "database"]) => {
            integrations::database::put(ctx, req, p, pid).await
        }
        (Post, ["v1", "projects", pid, "integrations", "database", "test"]) => {
            integrations::database::test(ctx, p, pid).await
        }
        (Get, ["v1", "projects", pid, "audit"]) => audit::list(req, p, Some(pid)).await,
        (Get, ["v1", "projects", pid, "audit", "verify"]) => audit::verify(p, Some(pid)).await,
        (_, ["v1", "projects", pid, ..]) => {
            // Tenancy first even for unknown sub-routes: an unreachable project is a 404 either way.
            p.project(pid).await?;
            Err(not_allowed_or_missing(&segs))
        }
        _ => Err(not_allowed_or_missing(&segs)),
    }
}

fn not_allowed_or_missing(segs: &[&str]) -> ApiError {
    let known_collection = matches!(
        segs,
        ["v1", "org"]
            | ["v1", "org", "members", ..]
            | ["v1", "keys", ..]
            | ["v1", "projects"]
            | ["v1", "projects", _]
            | ["v1", "operator", "orgs"]
    );
    if known_collection {
        ApiError::new(
            405,
            "method_not_allowed",
            "method not allowed on this route",
        )
    } else {
        ApiError::new(404, "no_route", "no such route")
    }
}
