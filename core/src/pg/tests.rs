//! `classify` against real driver errors: tokio-postgres talks to scripted servers over an
//! in-memory pipe, so each error value is exactly what the driver produces.

use super::*;
use crate::domain::integrations::DbUrl;
use std::io;
use tokio::io::{duplex, AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio_postgres::tls::TlsConnect;
use tokio_postgres::NoTls;

fn url(sslmode: &str) -> DbUrl {
    DbUrl::parse(&format!("postgres://u:p@127.0.0.1/app?sslmode={sslmode}")).unwrap()
}

/// Runs the handshake against `server`, which gets the other end of the pipe.
async fn against<T, Fut>(sslmode: &str, tls: T, server: impl FnOnce(DuplexStream) -> Fut) -> PgError
where
    T: TlsConnect<DuplexStream>,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (client, srv) = duplex(4096);
    let task = tokio::spawn(server(srv));
    let e = match handshake(client, tls, &url(sslmode)).await {
        Ok(_) => panic!("the handshake succeeded"),
        Err(e) => e,
    };
    let _ = task.await;
    e
}

/// Reads the 8-byte SSLRequest and answers it with `answer`.
async fn ssl_answer(mut s: DuplexStream, answer: u8) -> DuplexStream {
    let mut req = [0u8; 8];
    s.read_exact(&mut req).await.unwrap();
    assert_eq!(req, [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f], "SSLRequest");
    s.write_all(&[answer]).await.unwrap();
    s
}

/// A TLS library whose handshake itself fails (how a native connector reports a bad certificate).
struct FailingTls;

impl TlsConnect<DuplexStream> for FailingTls {
    type Stream = TlsWatch<DuplexStream>;
    type Error = io::Error;
    type Future = std::future::Ready<Result<Self::Stream, io::Error>>;
    fn connect(self, _: DuplexStream) -> Self::Future {
        std::future::ready(Err(io::Error::other("certificate verify failed")))
    }
}

#[tokio::test]
async fn a_server_that_answers_no_to_tls_under_require_is_tls_unsupported() {
    let e = against("require", NoTls, |s| async move {
        ssl_answer(s, b'N').await;
    })
    .await;
    assert_eq!(e, PgError::new(PgErrorKind::TlsUnsupported));
}

#[tokio::test]
async fn a_handshake_the_runtime_refuses_is_tls_untrusted() {
    let tls = RuntimeTls(|_plain: DuplexStream| RefusedByRuntime);
    let e = against("require", tls, |s| async move {
        let _s = ssl_answer(s, b'S').await;
    })
    .await;
    assert_eq!(e, PgError::new(PgErrorKind::TlsUntrusted));
}

#[tokio::test]
async fn a_server_that_hangs_up_right_after_agreeing_to_tls_is_tls_untrusted() {
    let tls = RuntimeTls(|plain: DuplexStream| plain);
    let e = against("require", tls, |s| async move {
        drop(ssl_answer(s, b'S').await);
    })
    .await;
    assert_eq!(e.kind, PgErrorKind::TlsUntrusted);
}

#[tokio::test]
async fn a_tls_library_that_rejects_the_certificate_is_tls_untrusted() {
    let e = against("require", FailingTls, |s| async move {
        let _s = ssl_answer(s, b'S').await;
    })
    .await;
    assert_eq!(e.kind, PgErrorKind::TlsUntrusted);
}

#[tokio::test]
async fn a_connection_dropped_before_any_answer_is_unreachable() {
    for sslmode in ["disable", "require"] {
        let e = against(sslmode, NoTls, |s| async move { drop(s) }).await;
        assert_eq!(e, PgError::new(PgErrorKind::Unreachable), "{sslmode}");
    }
}

/// An ErrorResponse with `code`, sent after reading the startup message.
async fn refuse_startup(mut s: DuplexStream, code: &'static str) {
    let len = s.read_u32().await.unwrap() as usize;
    let mut rest = vec![0u8; len - 4];
    s.read_exact(&mut rest).await.unwrap();
    let mut body = Vec::new();
    for (field, value) in [
        (b'S', "FATAL"),
        (b'V', "FATAL"),
        (b'C', code),
        (b'M', "refused"),
    ] {
        body.push(field);
        body.extend_from_slice(value.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut msg = vec![b'E'];
    msg.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
    msg.extend_from_slice(&body);
    s.write_all(&msg).await.unwrap();
}

#[tokio::test]
async fn server_errors_are_classified_by_sqlstate() {
    for (code, kind) in [
        ("28P01", PgErrorKind::AuthFailed),
        ("28000", PgErrorKind::AuthFailed),
        ("3D000", PgErrorKind::NoDatabase),
        ("57014", PgErrorKind::Timeout),
        ("42501", PgErrorKind::Schema),
        ("53300", PgErrorKind::Query),
    ] {
        let e = against("disable", NoTls, move |s| refuse_startup(s, code)).await;
        assert_eq!(e.kind, kind, "{code}");
        assert_eq!(e.sqlstate.as_deref(), Some(code));
    }
}
