//! Worker-side adapters for the two connectors: `WorkerHttp` implements the Stripe client's
//! GET-only port over `fetch`, and `pg_connect` opens the customer's Postgres over a
//! `worker::Socket` (StartTLS when `sslmode=require`). Both bound every wait with a timeout.

use crate::domain::integrations::{DbUrl, SslMode};
use crate::pg::{self, PgError, PgErrorKind};
use crate::stripe::{HttpGet, HttpResponse, TransportError};
use futures_util::future::{select, Either};
use std::time::Duration;
use tokio_postgres::Client;
use worker::postgres_tls::PassthroughTls;
use worker::{
    AbortController, Delay, Fetch, Headers, Method, Request, RequestInit, SecureTransport, Socket,
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
        let controller = AbortController::default();
        let signal = controller.signal();
        let fetch = Fetch::Request(req);
        let send = Box::pin(fetch.send_with_signal(&signal));
        let timer = Box::pin(Delay::from(Duration::from_millis(u64::from(timeout_ms))));
        let mut res = match select(send, timer).await {
            Either::Left((Ok(r), _)) => r,
            Either::Left((Err(_), _)) => return Err(TransportError::Unreachable),
            Either::Right(_) => {
                controller.abort();
                return Err(TransportError::Timeout);
            }
        };
        let status = res.status_code();
        let retry_after_secs = res
            .headers()
            .get("retry-after")
            .ok()
            .flatten()
            .and_then(|v| v.trim().parse().ok());
        let body = res.bytes().await.map_err(|_| TransportError::Unreachable)?;
        Ok(HttpResponse {
            status,
            body,
            retry_after_secs,
        })
    }

    async fn sleep(&self, ms: u32) {
        Delay::from(Duration::from_millis(u64::from(ms))).await;
    }
}

/// Opens a connection and runs the handshake, within `timeout_ms`.
pub async fn pg_connect(url: &DbUrl, timeout_ms: u32) -> Result<Client, PgError> {
    let unreachable = || PgError::new(PgErrorKind::Unreachable);
    let transport = match url.sslmode {
        SslMode::Disable => SecureTransport::Off,
        SslMode::Require => SecureTransport::StartTls,
    };
    let socket = Socket::builder()
        .secure_transport(transport)
        .connect(url.host.clone(), url.port)
        .map_err(|_| unreachable())?;
    let handshake = Box::pin(async move {
        match url.sslmode {
            SslMode::Disable => {
                let (client, conn) = pg::handshake(socket, tokio_postgres::NoTls, url).await?;
                wasm_bindgen_futures::spawn_local(async move {
                    let _ = conn.await;
                });
                Ok(client)
            }
            SslMode::Require => {
                let (client, conn) = pg::handshake(socket, PassthroughTls, url).await?;
                wasm_bindgen_futures::spawn_local(async move {
                    let _ = conn.await;
                });
                Ok(client)
            }
        }
    });
    let timer = Box::pin(Delay::from(Duration::from_millis(u64::from(timeout_ms))));
    match select(handshake, timer).await {
        Either::Left((r, _)) => r,
        Either::Right(_) => Err(PgError::new(PgErrorKind::Timeout)),
    }
}
