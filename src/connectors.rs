//! Worker-side adapters for the two connectors: `WorkerHttp` implements the Stripe client's
//! GET-only port over `fetch`; `pg_read` (read-only) and `pg_repair` (the repair credential) open
//! sessions on the customer's Postgres over a `worker::Socket` (StartTLS when
//! `sslmode=require`). All bound every wait with a timeout.

use futures_util::future::{select, Either};
use futures_util::StreamExt;
use parityrail_core::domain::integrations::{DbUrl, SslMode};
use parityrail_core::pg::{self, PgError, PgErrorKind, ReadSession, RepairSession, RuntimeTls};
use parityrail_core::stripe::{HttpGet, HttpResponse, TransportError, MAX_BODY_BYTES};
use std::time::Duration;
use tokio_postgres::NoTls;
use worker::{
    AbortController, Delay, Fetch, Headers, Method, Request, RequestInit, Response,
    SecureTransport, Socket,
};

pub struct WorkerHttp;

impl HttpGet for WorkerHttp {
    async fn get(
        &self,
        url: &str,
        bearer: &str,
        timeout_ms: u32,
    ) -> Result<HttpResponse, TransportError> {
        let headers = Headers::new();
        headers
            .set("authorization", &format!("Bearer {bearer}"))
            .map_err(|_| TransportError::Unreachable)?;
        let mut init = RequestInit::new();
        init.with_method(Method::Get).with_headers(headers);
        let req = Request::new_with_init(url, &init).map_err(|_| TransportError::Unreachable)?;
        exchange(req, u64::from(timeout_ms), read_capped).await
    }

    async fn sleep(&self, ms: u32) {
        Delay::from(Duration::from_millis(u64::from(ms))).await;
    }

    fn now_ms(&self) -> u64 {
        worker::Date::now().as_millis()
    }
}

/// Sends `req` and reads its answer with `read`, all within one deadline (headers and body
/// alike); a late or failed exchange is aborted, so nothing of it keeps arriving.
pub async fn exchange<T, F, Fut>(
    req: Request,
    timeout_ms: u64,
    read: F,
) -> Result<T, TransportError>
where
    F: FnOnce(Response) -> Fut,
    Fut: std::future::Future<Output = Result<T, TransportError>>,
{
    let controller = AbortController::default();
    let signal = controller.signal();
    let fetch = Fetch::Request(req);
    let exchange = Box::pin(async {
        let res = fetch
            .send_with_signal(&signal)
            .await
            .map_err(|_| TransportError::Unreachable)?;
        read(res).await
    });
    let timer = Box::pin(Delay::from(Duration::from_millis(timeout_ms)));
    let outcome = match select(exchange, timer).await {
        Either::Left((r, _)) => r,
        Either::Right(_) => Err(TransportError::Timeout),
    };
    if outcome.is_err() {
        controller.abort();
    }
    outcome
}

/// Status, `Retry-After` and a body of at most `MAX_BODY_BYTES`: refused early on a larger
/// `Content-Length`, and streaming stops as soon as the body grows past the cap.
pub async fn read_capped(mut res: Response) -> Result<HttpResponse, TransportError> {
    let status = res.status_code();
    let header = |name: &str| res.headers().get(name).ok().flatten();
    let retry_after_secs = header("retry-after").and_then(|v| v.trim().parse().ok());
    let declared = header("content-length").and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(TransportError::TooLarge);
    }
    let mut body = Vec::new();
    match res.stream() {
        Ok(mut stream) => {
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|_| TransportError::Unreachable)?;
                if body.len() + chunk.len() > MAX_BODY_BYTES {
                    return Err(TransportError::TooLarge);
                }
                body.extend_from_slice(&chunk);
            }
        }
        // Not a stream: an empty body, or one already in memory.
        Err(_) => body = res.bytes().await.map_err(|_| TransportError::Unreachable)?,
    }
    if body.len() > MAX_BODY_BYTES {
        return Err(TransportError::TooLarge);
    }
    Ok(HttpResponse {
        status,
        body,
        retry_after_secs,
    })
}

/// `pg::Timer` on the Workers clock and timers.
pub struct WorkerTimer;

impl pg::Timer for WorkerTimer {
    fn now_ms(&self) -> u64 {
        worker::Date::now().as_millis()
    }

    async fn sleep(&self, ms: u32) {
        Delay::from(Duration::from_millis(u64::from(ms))).await;
    }
}

/// Drives a Postgres connection future in the background of the current request.
fn spawn_connection<C: std::future::Future + 'static>(connection: C) {
    wasm_bindgen_futures::spawn_local(async move {
        let _ = connection.await;
    });
}

/// Opens a read-only session on the customer's database over a `worker::Socket`, every wait
/// bounded by `limits`. `sslmode=require` upgrades with StartTLS: the runtime verifies the
/// certificate (chain to a trusted CA, validity, the URL's host) on the first read or write, and
/// `RuntimeTls` turns its refusal into `TlsUntrusted` instead of an opaque I/O error.
pub async fn pg_read(url: &DbUrl, limits: pg::Limits) -> Result<ReadSession<WorkerTimer>, PgError> {
    let socket = socket(url)?;
    match url.sslmode {
        SslMode::Disable => {
            ReadSession::open(socket, NoTls, url, WorkerTimer, limits, spawn_connection).await
        }
        SslMode::Require => {
            let tls = RuntimeTls(Socket::start_tls);
            ReadSession::open(socket, tls, url, WorkerTimer, limits, spawn_connection).await
        }
    }
}

/// `pg_read` for the repair credential: a session that may write, only through
/// `RepairSession::execute`; `lock_ms` bounds waiting for another session's row lock.
pub async fn pg_repair(
    url: &DbUrl,
    limits: pg::Limits,
    lock_ms: u32,
) -> Result<RepairSession<WorkerTimer>, PgError> {
    let socket = socket(url)?;
    match url.sslmode {
        SslMode::Disable => {
            let spawn = spawn_connection;
            RepairSession::open(socket, NoTls, url, WorkerTimer, limits, lock_ms, spawn).await
        }
        SslMode::Require => {
            let tls = RuntimeTls(Socket::start_tls);
            let spawn = spawn_connection;
            RepairSession::open(socket, tls, url, WorkerTimer, limits, lock_ms, spawn).await
        }
    }
}

fn socket(url: &DbUrl) -> Result<Socket, PgError> {
    let transport = match url.sslmode {
        SslMode::Disable => SecureTransport::Off,
        SslMode::Require => SecureTransport::StartTls,
    };
    Socket::builder()
        .secure_transport(transport)
        .connect(url.host.clone(), url.port)
        .map_err(|_| PgError::new(PgErrorKind::Unreachable))
}
