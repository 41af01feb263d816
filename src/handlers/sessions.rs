//! Dashboard sessions (SPEC §11, `auth::session`): sign-in by API key or e-mailed link, the
//! session itself, its step-up and sign-out. The cookie is set and cleared here, nowhere else.

use crate::audit::{retrying_as, Chain};
use crate::auth::principal::Principal;
use crate::auth::session::{self, SessionCaller, SignInGrant};
use crate::http::{json, App, Matched, PathId, RawBody};
use crate::repo;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method};
use axum::response::Response;
use axum::Extension;
use parityrail_core::api::bodies::{SignIn, SignInBody};
use parityrail_core::api::error::{ApiError, ApiResult};
use parityrail_core::domain::access;
use parityrail_core::domain::append::Step;
use parityrail_core::domain::ids::MemberId;
use parityrail_core::domain::input;
use parityrail_core::domain::sessions::{self as rules, Secret};
use parityrail_core::rows::sessions::{SessionOrg, SessionView, ViewOf};
use serde_json::json;

/// The session as `GET /v1/session` shows it.
async fn view(app: &App, c: &SessionCaller) -> ApiResult<SessionView> {
    let t = &c.p.tenant;
    let org = repo::orgs::get(t)
        .await?
        .ok_or_else(ApiError::session_expired)?;
    let member = repo::members::get(t, c.p.member_id.as_str()).await?;
    let member = member.ok_or_else(ApiError::session_expired)?;
    let v = ViewOf {
        session: &c.session,
        org: SessionOrg {
            id: org.id,
            name: org.name,
        },
        member_email: member.email,
        role: c.p.org_role,
        capability: c.p.capability,
        environment: c.p.environment,
        project_id: c.p.only_project.as_ref().map(|p| p.to_string()),
        csrf_token: c.csrf.clone(),
    };
    Ok(SessionView::of(v, app.svc.now))
}

fn with_cookie(mut res: Response, cookie: &str) -> ApiResult<Response> {
    let v = HeaderValue::from_str(cookie).map_err(|_| ApiError::internal("cookie value"))?;
    res.headers_mut().insert(header::SET_COOKIE, v);
    Ok(res)
}

async fn opened(
    app: &App,
    status: u16,
    token: Option<Secret>,
    c: &SessionCaller,
) -> ApiResult<Response> {
    let res = json(status, &json!({"session": view(app, c).await?}))?;
    match token {
        Some(t) => with_cookie(res, &rules::set_cookie(&t)),
        None => Ok(res),
    }
}

/// The three sign-in routes (`SignIn` guard), one handler: the handler machinery the wasm budget
/// counts is instantiated once for them.
/// - `POST /v1/sessions` `{api_key}`: a session acting with exactly that key (`201`);
/// - `POST /v1/sessions/email` `{email, environment?}`: `202` whether or not the address is a
///   member anywhere; the links go out after the answer, for this browser (its nonce cookie);
/// - `POST /v1/sessions/email/confirm` `{token}`: a sign-in link opens a session (`201`); a
///   step-up link lets the session that asked change things for ten minutes (`200`).
#[worker::send]
pub async fn sign_in(
    State(app): State<App>,
    g: SignInGrant,
    Matched(route): Matched,
    headers: HeaderMap,
    body: RawBody,
) -> ApiResult<Response> {
    let body: SignInBody = body.json()?;
    match body.request(route.spec().path)? {
        SignIn::Key { api_key } => {
            let (token, c) = session::sign_in_with_key(&app, &g, &api_key).await?;
            opened(&app, 201, Some(token), &c).await
        }
        SignIn::Email { email, environment } => {
            let email = input::email("email", &email)?;
            let nonce = Secret::generate(&mut app.svc.rng())?;
            session::send_sign_in_links(&app, &g, email, environment, &nonce);
            let res = json(202, &json!({"sent": true}))?;
            with_cookie(res, &rules::set_nonce_cookie(&nonce))
        }
        SignIn::Confirm { token } => {
            let (token, c) = session::confirm(&app, &g, &headers, &token).await?;
            let status = if token.is_some() { 201 } else { 200 };
            opened(&app, status, token, &c).await
        }
    }
}

/// The session's own routes (`Session` guard), one handler:
/// - `GET /v1/session`: the session, `{"session": null}` without a session cookie;
/// - `DELETE /v1/session`: sign-out (`204`, the cookie cleared);
/// - `POST /v1/session/step-up`: mails the member a step-up link (`202`).
#[worker::send]
pub async fn session(
    State(app): State<App>,
    method: Method,
    headers: HeaderMap,
    c: Option<Extension<SessionCaller>>,
) -> ApiResult<Response> {
    let Some(Extension(c)) = c else {
        return json(200, &json!({"session": null}));
    };
    match method {
        Method::GET => opened(&app, 200, None, &c).await,
        Method::DELETE => {
            session::end(&app, &c).await?;
            let res = Response::builder()
                .status(204)
                .body(axum::body::Body::empty())
                .map_err(|_| ApiError::internal("empty response"))?;
            with_cookie(res, &rules::clear_cookie())
        }
        // (A change: the guard checked its CSRF token and that `Origin` is the site's own.)
        Method::POST => {
            let origin = headers.get("origin").and_then(|v| v.to_str().ok());
            session::send_step_up(&app, &c, origin.unwrap_or_default()).await?;
            json(202, &json!({"sent": true}))
        }
        // HEAD (axum hands it to the GET route) and anything else: not a step-up.
        _ => Err(ApiError::method_not_allowed()),
    }
}

/// DELETE /v1/org/members/{mid}/sessions — an admin ends every dashboard session of a member
/// (not one ranked above it), revoking the keys minted for them; each audited as `session.ended`.
#[worker::send]
pub async fn end_member(
    State(app): State<App>,
    p: Principal,
    PathId(mid): PathId<MemberId>,
) -> ApiResult<Response> {
    let at = app.svc.now.to_rfc3339();
    let ended = retrying_as(&p, Chain::Org, app.svc.now, || async {
        let target = repo::members::get(&p.tenant, mid.as_str()).await?;
        let target = target.ok_or_else(|| ApiError::not_found("member"))?;
        access::may_end_sessions(p.caller(), target.role)?;
        let open = repo::sessions::open_for_member(&p.tenant, &target.id).await?;
        let (mut drafts, mut stmts) = (Vec::new(), Vec::new());
        for s in &open {
            drafts.push(s.ended(p.actor()));
            stmts.push(repo::sessions::end(&p.tenant, &s.id, &at)?);
            let keys = s.minted_keys();
            stmts.extend(repo::sessions::revoke_session_keys(&p.tenant, &keys, &at)?);
        }
        Ok(Step::commit(drafts, stmts, open.len()))
    })
    .await?;
    json(200, &json!({"member_id": mid, "ended": ended}))
}
