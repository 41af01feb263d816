//! Dashboard sessions (SPEC §11; the rules are `domain::sessions` and `rows::sessions`): the
//! cookie that opens one, the CSRF token and `Origin` every change from one carries, sign-in by
//! API key or by a one-time e-mailed link, the step-up an e-mail session needs before a change,
//! and sign-out. A session acts through a key row, so once opened it is a `Principal` like any
//! other: the route guard, tenancy, capability and caller checks are the API's own. Nothing is
//! cached: a session whose key was revoked or expired, or whose member was removed or demoted,
//! ends on its next request.

use super::grants::RAW;
use super::limits::{check_limit, client_attempt, Attempt};
use super::principal::{admitted, key_principal, principal_of, Authn, Principal};
use super::scope::{Scoped, Tenant};
use crate::audit::Chain;
use crate::http::{App, RequestMeta};
use crate::repo::{self, keys::KeyAuth};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use parityrail_core::api::error::{ApiError, ApiResult};
use parityrail_core::domain::apikey::{Capability, Environment};
use parityrail_core::domain::audit::{Action, Actor, Draft};
use parityrail_core::domain::ids::{MemberId, OrgId};
use parityrail_core::domain::roles::Role;
use parityrail_core::domain::sessions::{self as rules, LinkPurpose, Secret, Via};
use parityrail_core::domain::time::Timestamp;
use parityrail_core::rows::keys::{mint, NewKey};
use parityrail_core::rows::sessions::{entry, minted_auth, minted_keys, session_key};
use parityrail_core::rows::sessions::{LinkFor, NewLink, NewSession, SessionAuth};

/// What a `Session` route's handler gets: the caller, its session, and the session's CSRF token.
#[derive(Clone)]
pub struct SessionCaller {
    pub p: Principal,
    pub session: SessionAuth,
    pub csrf: String,
}

/// What a `SignIn` route's handler gets: the counted attempt (refunded once the credential or
/// link is good) and the site's origin (for the links it mails).
#[derive(Clone)]
pub struct SignInGrant {
    attempt: Attempt,
    meta: RequestMeta,
    pub origin: String,
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Whether the request carries a session cookie at all (a malformed one included: it is then
/// refused as an ended session, not as a missing key).
pub fn has_session_cookie(headers: &HeaderMap) -> bool {
    header(headers, "cookie").is_some_and(|c| c.contains(rules::COOKIE))
}

/// Whether the request's `Origin` is the site's own (the origin of its URL).
fn own_origin(parts: &Parts) -> Option<String> {
    rules::origin_of(&parts.uri.to_string())
        .filter(|own| rules::same_origin(header(&parts.headers, "origin"), own))
}

/// The session the request's cookie opens and the key it acts with now; a session that is over
/// (`SessionAuth::acting`) is ended here, and refused.
async fn open(app: &App, headers: &HeaderMap) -> ApiResult<(Secret, SessionAuth, KeyAuth, Tenant)> {
    let (svc, now) = (&app.svc, app.svc.now);
    let token = header(headers, "cookie").and_then(rules::from_cookie_header);
    let token = token.ok_or_else(ApiError::session_expired)?;
    let db = svc.db(&RAW)?;
    let s = repo::sessions::by_token_hash(&db, &token.hash()).await?;
    let s = s.ok_or_else(ApiError::session_expired)?;
    let org = s.org.as_str();
    // The step-up's key while one runs; the session's own key only when that one does not act.
    let mut acting = None;
    if s.stepped_up_until(now).is_some() {
        let k = s.acting_key(now).as_str();
        acting = s.acting(repo::keys::auth_by_id(&db, org, k).await?, None, now);
    }
    if acting.is_none() {
        let own = repo::keys::auth_by_id(&db, org, s.key_id.as_str()).await?;
        acting = s.acting(None, own, now);
    }
    let tenant = Tenant::new(db, s.org.clone());
    match acting {
        Some(k) => Ok((token, s, k, tenant)),
        None => {
            // Ended for good (best effort: it is refused either way).
            if let Ok(stmt) = repo::sessions::end(&tenant, &s.id, &now.to_rfc3339()) {
                let _ = tenant.batch(vec![stmt]).await;
            }
            Err(ApiError::session_expired())
        }
    }
}

/// The principal of a session cookie (the caller counted the attempt). A change needs the
/// session's CSRF token and the site's own `Origin`.
pub async fn session_principal(app: &App, parts: &Parts) -> ApiResult<Principal> {
    Ok(opened(app, parts).await?.p)
}

async fn opened(app: &App, parts: &Parts) -> ApiResult<SessionCaller> {
    let now = app.svc.now;
    let (token, session, key, tenant) = open(app, &parts.headers).await?;
    let csrf = header(&parts.headers, rules::CSRF_HEADER);
    if rules::is_unsafe(parts.method.as_str())
        && (!token.csrf_matches(csrf) || own_origin(parts).is_none())
    {
        return Err(ApiError::csrf_failed());
    }
    if session.life.needs_touch(now) {
        let (t, id, at) = (tenant.clone(), session.id.clone(), now.to_rfc3339());
        app.wctx.wait_until(async move {
            let _ = repo::sessions::touch(&t, &id, &at).await;
        });
    }
    Ok(caller(app, &token, tenant, key, session))
}

fn caller(
    app: &App,
    token: &Secret,
    t: Tenant,
    key: KeyAuth,
    session: SessionAuth,
) -> SessionCaller {
    let authn = Authn::Session {
        session_id: session.id.clone(),
        key_id: key.key_id.clone(),
        via: session.via,
    };
    SessionCaller {
        p: principal_of(app, t, key, authn),
        csrf: token.csrf(),
        session,
    }
}

/// The `Session` guard: a session cookie, nothing else. Without one, a read learns that there
/// is no session (`None`: the dashboard asks before it knows), a change is refused.
pub async fn session_caller(
    app: &App,
    meta: &RequestMeta,
    parts: &Parts,
) -> ApiResult<Option<SessionCaller>> {
    if !has_session_cookie(&parts.headers) {
        // No credential at all: nothing to count against the client.
        let read = !rules::is_unsafe(parts.method.as_str());
        return read.then_some(None).ok_or_else(ApiError::missing_session);
    }
    let attempt = client_attempt(&app.svc, meta).await?;
    let mut c = opened(app, parts).await?;
    c.p = admitted(app, meta, &attempt, c.p).await?;
    Ok(Some(c))
}

/// The `SignIn` guard: the attempt counted first, then the site's own `Origin` required.
pub async fn sign_in_grant(app: &App, meta: &RequestMeta, parts: &Parts) -> ApiResult<SignInGrant> {
    let attempt = client_attempt(&app.svc, meta).await?;
    let origin = own_origin(parts).ok_or_else(ApiError::bad_origin)?;
    let meta = meta.clone();
    Ok(SignInGrant {
        attempt,
        meta,
        origin,
    })
}

/// Commits `draft` and `stmts` on the org chain (they are prepared again on contention).
async fn commit(
    t: &Tenant,
    now: Timestamp,
    make: &dyn Fn() -> ApiResult<(Draft, Vec<Scoped>)>,
) -> ApiResult<()> {
    crate::audit::commit_made(t, Chain::Org, now, make).await
}

fn actor(key: &KeyAuth) -> Actor {
    Actor::Member {
        member: key.member.clone(),
        key: key.key_id.clone(),
    }
}

/// Opens a session for the member of `key`, storing `minted` (the key minted for it, if any) in
/// the batch of the session and its `session.created` entry; the attempt refunded.
async fn create(
    app: &App,
    g: &SignInGrant,
    t: &Tenant,
    key: KeyAuth,
    via: Via,
    minted: Option<&NewKey>,
) -> ApiResult<(Secret, SessionCaller)> {
    let now = app.svc.now;
    let new = NewSession::open(&key, via, now, &mut app.svc.rng())?;
    let id = new.auth.id.as_str();
    commit(t, now, &|| {
        let draft = entry(
            actor(&key),
            Action::SessionCreated,
            id,
            via,
            key.key_id.as_str(),
            None,
        );
        let mut stmts = minted
            .map(|k| store(t, k))
            .into_iter()
            .collect::<ApiResult<Vec<_>>>()?;
        stmts.push(repo::sessions::insert(t, &new)?);
        Ok((draft, stmts))
    })
    .await?;
    let mut c = caller(app, &new.token, t.clone(), key, new.auth);
    c.p = admitted(app, &g.meta, &g.attempt, c.p).await?;
    Ok((new.token, c))
}

/// Sign-in with an API key: the session acts with exactly that key.
pub async fn sign_in_with_key(
    app: &App,
    g: &SignInGrant,
    raw: &str,
) -> ApiResult<(Secret, SessionCaller)> {
    let p = key_principal(app, raw).await?;
    let (db, org) = (app.svc.db(&RAW)?, p.tenant.org_id().as_str());
    let key = repo::keys::auth_by_id(&db, org, p.authn.key_id().as_str()).await?;
    let key = key.ok_or_else(ApiError::session_expired)?;
    create(app, g, &p.tenant, key, Via::Key, None).await
}

/// Mints a key nobody holds (`session_key`), and how authentication will read it.
fn mint_for(
    app: &App,
    t: &Tenant,
    member: (&MemberId, Role),
    env: Environment,
    cap: Capability,
    until: Timestamp,
) -> ApiResult<(NewKey, KeyAuth)> {
    let spec = session_key(member.0.as_str(), env, cap, until);
    let k = mint(spec, &mut app.svc.rng(), app.svc.now)?;
    let auth = minted_auth(&k.row, t.org_id(), member.1);
    Ok((
        k,
        auth.ok_or_else(|| ApiError::internal("a minted session key"))?,
    ))
}

fn store(tenant: &Tenant, k: &NewKey) -> ApiResult<Scoped> {
    Ok(repo::keys::insert_as(
        tenant,
        &k.row,
        k.plain.hash().as_str(),
        "session",
    )?)
}

/// Stores a new link's hash and returns its URL.
async fn link(
    app: &App,
    t: &Tenant,
    member: &str,
    env: Environment,
    origin: &str,
    to: LinkFor<'_>,
) -> ApiResult<String> {
    let l = NewLink::new(member, env, to, app.svc.now, &mut app.svc.rng())?;
    repo::sessions::insert_link(t, &l).await?;
    Ok(rules::link_url(origin, &l.token))
}

/// `POST /v1/sessions/email`: a one-time link for each org the address is a member of, for the
/// browser holding `nonce`, mailed after the answer, which is the same whether or not the address
/// is known (and takes as long). An address gets at most `MAIL_PER_ADDRESS_PER_MINUTE` (2) such
/// e-mails a minute and the deployment `MAIL_PER_MINUTE` (120); past either, nothing is sent.
pub fn send_sign_in_links(
    app: &App,
    g: &SignInGrant,
    email: String,
    env: Environment,
    nonce: &Secret,
) {
    let (app2, origin, nonce) = (app.clone(), g.origin.clone(), nonce.hash());
    let client = g.meta.client_bucket.clone();
    app.wctx.wait_until(async move {
        if let Err(e) = sign_in_links(&app2, &origin, &email, env, &nonce, &client).await {
            let log = serde_json::json!({"mail": "sign-in links failed", "error": e.code});
            worker::console_error!("{log}");
        }
    });
}

async fn sign_in_links(
    app: &App,
    origin: &str,
    email: &str,
    env: Environment,
    nonce_hash: &str,
    client: &str,
) -> ApiResult<()> {
    let svc = &app.svc;
    // Per address and client (2 a minute), so another client cannot use up an address's mail;
    // per address alone a looser 10; the deployment's budget only for mail actually sent.
    let address = Secret::digest(email);
    let per_address = svc.var_u32("MAIL_PER_ADDRESS_PER_MINUTE", 2);
    check_limit(svc, &format!("mail-to:{address}:{client}"), per_address).await?;
    check_limit(svc, &format!("mail-to:{address}"), per_address * 5).await?;
    let found = repo::sessions::memberships(&svc.db(&RAW)?, email, rules::MAX_LINKS).await?;
    let mut links = Vec::new();
    for m in found {
        if let Ok(org) = OrgId::parse(&m.org_id) {
            let t = Tenant::new(svc.db(&RAW)?, org);
            links.push((
                m.org_name,
                link(
                    app,
                    &t,
                    &m.member_id,
                    env,
                    origin,
                    LinkFor::SignIn { nonce_hash },
                )
                .await?,
            ));
        }
    }
    if !links.is_empty() {
        check_limit(svc, "mail", svc.var_u32("MAIL_PER_MINUTE", 120)).await?;
        crate::mail::send(svc, &rules::sign_in_mail(email, &links)).await;
    }
    Ok(())
}

/// `POST /v1/sessions/email/confirm`: uses a link once. A sign-in link opens a session (`Some`
/// token for the cookie); a step-up link lets the same browser's session change things for ten
/// minutes (`None`: the cookie stays).
pub async fn confirm(
    app: &App,
    g: &SignInGrant,
    headers: &HeaderMap,
    raw: &str,
) -> ApiResult<(Option<Secret>, SessionCaller)> {
    let now = app.svc.now;
    let token = Secret::parse(raw).ok_or_else(ApiError::invalid_link)?;
    let db = app.svc.db(&RAW)?;
    let nonce = header(headers, "cookie").and_then(|c| rules::named_cookie(c, rules::NONCE_COOKIE));
    let nonce = nonce.map(|n| n.hash()).unwrap_or_default();
    // The browser's session, if any: a step-up link is spent only by the session it was sent for.
    let current = open(app, headers).await.ok();
    let sid = current.as_ref().map_or("", |(_, s, _, _)| s.id.as_str());
    let (hash, at) = (token.hash(), now.to_rfc3339());
    let link = repo::sessions::consume_link(&db, &hash, &nonce, sid, &at).await?;
    let link = link.ok_or_else(ApiError::invalid_link)?;
    let t = Tenant::new(db, link.org.clone());
    if link.purpose == LinkPurpose::SignIn {
        // The member as it is now: removed since the link was sent, it signs in nowhere.
        let m = repo::members::get(&t, link.member.as_str()).await?;
        let m = m.ok_or_else(ApiError::invalid_link)?;
        let until = now.plus_seconds(rules::ABSOLUTE_MS / 1000);
        let member = (&link.member, m.role);
        let (k, key) = mint_for(app, &t, member, link.environment, Capability::Read, until)?;
        let (token, c) = create(app, g, &t, key, Via::Email, Some(&k)).await?;
        return Ok((Some(token), c));
    }
    // A step-up: only the session that asked, in the browser that holds it.
    let (stoken, mut s, key, _) = current.ok_or_else(ApiError::invalid_link)?;
    let same = link.session_id.as_deref() == Some(s.id.as_str()) && s.org == link.org;
    if !same || s.member != link.member || s.via != Via::Email {
        return Err(ApiError::invalid_link());
    }
    let until = now.plus_seconds(rules::STEP_UP_MS / 1000);
    let (k, auth) = mint_for(
        app,
        &t,
        (&s.member, key.role),
        key.environment,
        Capability::Repair,
        until,
    )?;
    let (kid, until_s) = (k.row.id.as_str(), until.to_rfc3339());
    commit(&t, now, &|| {
        let d = entry(
            actor(&key),
            Action::SessionSteppedUp,
            &s.id,
            s.via,
            kid,
            Some(until),
        );
        let set = repo::sessions::step_up(&t, &s.id, s.member.as_str(), kid, &until_s)?;
        Ok((d, vec![store(&t, &k)?, set]))
    })
    .await?;
    s.step_up = Some((auth.key_id.clone(), until));
    let mut c = caller(app, &stoken, t, auth, s);
    c.p = admitted(app, &g.meta, &g.attempt, c.p).await?;
    Ok((None, c))
}

/// `POST /v1/session/step-up`: mails the member a link that lets this session change things.
pub async fn send_step_up(app: &App, c: &SessionCaller, origin: &str) -> ApiResult<()> {
    if c.session.via != Via::Email {
        let why = "a session signed in with an API key acts with that key's capability; it has no step-up";
        return Err(ApiError::new(400, "not_email_session", why));
    }
    let (t, member) = (&c.p.tenant, c.p.member_id.as_str());
    let m = repo::members::get(t, member)
        .await?
        .ok_or_else(ApiError::session_expired)?;
    let org = repo::orgs::get(t)
        .await?
        .ok_or_else(ApiError::session_expired)?;
    // One step-up e-mail a minute per session (`STEP_UP_PER_MINUTE`).
    let per_session = app.svc.var_u32("STEP_UP_PER_MINUTE", 1);
    check_limit(&app.svc, &format!("step-up:{}", c.session.id), per_session).await?;
    check_limit(&app.svc, "mail", app.svc.var_u32("MAIL_PER_MINUTE", 120)).await?;
    let to = LinkFor::StepUp {
        session_id: &c.session.id,
    };
    let url = link(app, t, member, c.p.environment, origin, to).await?;
    let mail = rules::step_up_mail(&m.email, &org.name, &url);
    let svc = app.svc.clone();
    app.wctx
        .wait_until(async move { crate::mail::send(&svc, &mail).await });
    Ok(())
}

/// `DELETE /v1/session`: the session ends, and the keys minted for it are revoked (never the API
/// key a session signed in with).
pub async fn end(app: &App, c: &SessionCaller) -> ApiResult<()> {
    let (now, s) = (app.svc.now, &c.session);
    let at = now.to_rfc3339();
    let step_up = s.step_up.as_ref().map(|(k, _)| k.as_str());
    let minted = minted_keys(s.via == Via::Email, s.key_id.as_str(), step_up);
    commit(&c.p.tenant, now, &|| {
        let key = c.p.authn.key_id().as_str();
        let draft = entry(c.p.actor(), Action::SessionEnded, &s.id, s.via, key, None);
        let mut stmts = vec![repo::sessions::end(&c.p.tenant, &s.id, &at)?];
        stmts.extend(repo::sessions::revoke_session_keys(
            &c.p.tenant,
            &minted,
            &at,
        )?);
        Ok((draft, stmts))
    })
    .await
}
