//! Unauthenticated surfaces: health, security.txt and the policy it points to.

use crate::domain::security_txt;
use crate::edge::error::ApiResult;
use crate::edge::http::Ctx;
use worker::{Request, Response};

/// GET /healthz
pub fn healthz() -> ApiResult<Response> {
    Ok(Response::from_json(&serde_json::json!({"ok": true}))?)
}

fn contact(ctx: &Ctx) -> String {
    ctx.var("SECURITY_CONTACT")
        .unwrap_or_else(|| "mailto:security@parityrail.dev".to_owned())
}

fn text(body: String) -> ApiResult<Response> {
    let mut res = Response::ok(body)?;
    res.headers_mut()
        .set("content-type", "text/plain; charset=utf-8")?;
    Ok(res)
}

/// GET /.well-known/security.txt
pub fn security_txt(ctx: &Ctx, req: &Request) -> ApiResult<Response> {
    let origin = req.url()?.origin().ascii_serialization();
    text(security_txt::render(&origin, &contact(ctx), ctx.now))
}

/// GET /security-policy — where security.txt's `Policy` points.
pub fn security_policy(ctx: &Ctx) -> ApiResult<Response> {
    text(security_txt::policy(&contact(ctx)))
}
