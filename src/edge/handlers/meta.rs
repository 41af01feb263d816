//! Unauthenticated surfaces: health and security.txt.

use crate::domain::security_txt;
use crate::edge::error::ApiResult;
use crate::edge::http::Ctx;
use worker::{Request, Response};

/// GET /healthz
pub fn healthz() -> ApiResult<Response> {
    Ok(Response::from_json(&serde_json::json!({"ok": true}))?)
}

/// GET /.well-known/security.txt
pub fn security_txt(ctx: &Ctx, req: &Request) -> ApiResult<Response> {
    let url = req.url()?;
    let origin = url.origin().ascii_serialization();
    let contact = ctx
        .var("SECURITY_CONTACT")
        .unwrap_or_else(|| "mailto:security@parityrail.dev".to_owned());
    let mut res = Response::ok(security_txt::render(&origin, &contact, ctx.now))?;
    res.headers_mut()
        .set("content-type", "text/plain; charset=utf-8")?;
    Ok(res)
}
