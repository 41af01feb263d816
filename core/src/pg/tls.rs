//! TLS that the runtime performs (workerd's StartTLS), seen from tokio-postgres.
//!
//! On Workers the Postgres `SSLRequest` is answered in plain text, then `Socket::start_tls()`
//! hands back a stream at once: the TLS handshake, certificate checks included, happens inside
//! the runtime on the first read or write. A certificate the runtime refuses therefore reaches
//! us as an ordinary I/O error whose message is opaque (workerd: `Error: internal error;
//! reference = …`; the reason is only in the runtime's own log). `TlsWatch` makes that failure
//! recognisable by type instead of by message: every I/O error (and an end of stream) before
//! the first byte of application data arrives through the upgraded stream carries a
//! `TlsHandshakeFailed`, which `classify` turns into `PgErrorKind::TlsUntrusted`.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, TlsConnect, TlsStream};

/// The TLS handshake on an upgraded stream failed before any application data came back. At
/// the edge this means the runtime refused the server's certificate (not issued by a CA it
/// trusts, expired, or not naming the host in the URL), or the two sides found no common TLS
/// version or cipher. `detail` is the runtime's message, for the log only.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the TLS handshake failed: {detail}")]
pub struct TlsHandshakeFailed {
    pub detail: String,
}

/// A `TlsConnect` for runtimes that upgrade a socket in place: `upgrade` turns the plain stream
/// into the TLS one (at the edge, `worker::Socket::start_tls`), and the result is watched so a
/// failed handshake is recognisable (`TlsWatch`).
#[derive(Debug, Clone, Copy)]
pub struct RuntimeTls<F>(pub F);

impl<S, U, F> TlsConnect<S> for RuntimeTls<F>
where
    F: FnOnce(S) -> U,
    U: AsyncRead + AsyncWrite + Unpin,
{
    type Stream = TlsWatch<U>;
    type Error = std::convert::Infallible;
    type Future = std::future::Ready<Result<TlsWatch<U>, std::convert::Infallible>>;

    fn connect(self, stream: S) -> Self::Future {
        std::future::ready(Ok(TlsWatch::new((self.0)(stream))))
    }
}

/// A stream just upgraded to TLS. Until the first byte of application data has been read, any
/// I/O error, and an end of stream, is reported as a `TlsHandshakeFailed` (inside an
/// `io::Error`); afterwards errors pass through untouched.
#[derive(Debug)]
pub struct TlsWatch<S> {
    inner: S,
    established: bool,
}

impl<S> TlsWatch<S> {
    pub fn new(inner: S) -> Self {
        TlsWatch {
            inner,
            established: false,
        }
    }

    fn mark(&self, e: io::Error) -> io::Error {
        if self.established {
            e
        } else {
            let detail = e.to_string();
            io::Error::new(e.kind(), TlsHandshakeFailed { detail })
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for TlsWatch<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) if buf.filled().len() > before => {
                self.established = true;
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Ok(())) if !self.established && buf.remaining() > 0 => {
                Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    TlsHandshakeFailed {
                        detail: "the server closed the connection during the TLS handshake".into(),
                    },
                )))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(self.mark(e))),
            other => other,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for TlsWatch<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write(cx, buf) {
            Poll::Ready(Err(e)) => Poll::Ready(Err(self.mark(e))),
            other => other,
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.inner).poll_flush(cx) {
            Poll::Ready(Err(e)) => Poll::Ready(Err(self.mark(e))),
            other => other,
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.inner).poll_shutdown(cx) {
            Poll::Ready(Err(e)) => Poll::Ready(Err(self.mark(e))),
            other => other,
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> TlsStream for TlsWatch<S> {
    fn channel_binding(&self) -> ChannelBinding {
        // The runtime does not expose the server certificate: SCRAM runs without -PLUS.
        ChannelBinding::none()
    }
}

/// Whether `e` or anything in its source chain is a `TlsHandshakeFailed` (directly, or inside
/// an `io::Error`, whose `source()` skips the error it wraps).
pub(super) fn handshake_failed(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(e);
    while let Some(err) = next {
        if err.is::<TlsHandshakeFailed>() {
            return true;
        }
        if let Some(inner) = err.downcast_ref::<io::Error>().and_then(|io| io.get_ref()) {
            if inner.is::<TlsHandshakeFailed>() {
                return true;
            }
        }
        next = err.source();
    }
    false
}

/// A stand-in for workerd's upgraded socket after it refused the server's certificate (as seen
/// in Miniflare): every read and write fails with an opaque message. For tests that simulate the
/// runtime natively (unit and integration tests share it).
#[doc(hidden)]
pub struct RefusedByRuntime;

fn opaque() -> io::Error {
    io::Error::other("Error: internal error; reference = up34ajlfer5k76i8ncfd5m1f")
}

impl AsyncRead for RefusedByRuntime {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        _: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Poll::Ready(Err(opaque()))
    }
}

impl AsyncWrite for RefusedByRuntime {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, _: &[u8]) -> Poll<io::Result<usize>> {
        Poll::Ready(Err(opaque()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Err(opaque()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Err(opaque()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// What workerd hands back when it refuses the certificate: every operation fails.
    struct Refused;

    fn refused() -> io::Error {
        io::Error::other("Error: internal error; reference = 6fcrcvf44or1vsqtbo2fsbeu")
    }

    impl AsyncRead for Refused {
        fn poll_read(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            _: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            Poll::Ready(Err(refused()))
        }
    }

    impl AsyncWrite for Refused {
        fn poll_write(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            _: &[u8],
        ) -> Poll<io::Result<usize>> {
            Poll::Ready(Err(refused()))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Err(refused()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Err(refused()))
        }
    }

    #[tokio::test]
    async fn an_error_before_any_data_is_a_failed_handshake_and_keeps_the_runtime_message() {
        let mut w = TlsWatch::new(Refused);
        let e = w.write_all(b"startup").await.unwrap_err();
        assert!(handshake_failed(&e));
        assert!(e.to_string().contains("internal error; reference ="));
        let e = w.read_u8().await.unwrap_err();
        assert!(handshake_failed(&e));
    }

    #[tokio::test]
    async fn an_end_of_stream_before_any_data_is_a_failed_handshake() {
        let (a, b) = tokio::io::duplex(64);
        drop(b);
        let mut w = TlsWatch::new(a);
        let mut buf = [0u8; 8];
        let e = w.read(&mut buf).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
        assert!(handshake_failed(&e));
    }

    #[tokio::test]
    async fn once_data_has_arrived_errors_and_eof_pass_through_unmarked() {
        let (a, mut b) = tokio::io::duplex(64);
        let mut w = TlsWatch::new(a);
        b.write_all(b"R").await.unwrap();
        assert_eq!(w.read_u8().await.unwrap(), b'R');
        drop(b);
        let mut buf = [0u8; 8];
        assert_eq!(w.read(&mut buf).await.unwrap(), 0);
        let e = w.write_all(b"more").await.unwrap_err();
        assert!(!handshake_failed(&e));
    }
}
