//! Request bodies the worker leaves unread. A request refused before its body was read (a
//! webhook delivery over 1 MiB, a malformed path id, an oversized API body) left the runtime
//! waiting on that body: in `wrangler dev` the next cron tick then hung until some other request
//! arrived (issue 24). The entry point hands the router a body that reads through a shared
//! slot, and once the answer is ready reads to its end whatever the router left, so a request
//! ends with its body. The drain is bounded: at most `DRAIN_MAX_BYTES` (twice the largest body
//! anything accepts) within `DRAIN_MAX_MS`; a larger or slower rest is cancelled instead, so a
//! refused request never costs more than reading one large body would.

use axum::body::Bytes;
use futures_util::{Stream, StreamExt};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

/// The most of an unread body the entry point reads before it cancels the rest.
pub const DRAIN_MAX_BYTES: usize = 2 * 1024 * 1024;
/// How long the entry point reads an unread body before it cancels the rest.
pub const DRAIN_MAX_MS: u64 = 2_000;

/// The request's body, shared by the router's reads and the entry point's drain.
#[derive(Clone, Default)]
pub struct Unread(Arc<Mutex<Option<worker::Body>>>);

impl Unread {
    /// Keeps `body` here and returns the body the router reads it through.
    pub fn hold(&self, body: worker::Body) -> axum::body::Body {
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(body);
        }
        axum::body::Body::from_stream(Through(self.clone()))
    }

    /// Reads what the router left of the body to its end (or `DRAIN_MAX_BYTES` or
    /// `DRAIN_MAX_MS`, then drops it, which cancels the rest).
    pub async fn drain(&self) {
        let Some(mut body) = self.0.lock().ok().and_then(|mut slot| slot.take()) else {
            return;
        };
        let read = async move {
            let mut read = 0;
            while let Some(Ok(chunk)) = body.next().await {
                read += chunk.len();
                if read > DRAIN_MAX_BYTES {
                    break;
                }
            }
        };
        let _ = crate::clock::within(DRAIN_MAX_MS, read).await;
    }
}

/// The router's view of the shared body.
struct Through(Unread);

impl Stream for Through {
    type Item = Result<Bytes, worker::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let Ok(mut slot) = self.0 .0.lock() else {
            return Poll::Ready(None);
        };
        match slot.as_mut() {
            Some(body) => Pin::new(body).poll_next(cx),
            None => Poll::Ready(None),
        }
    }
}
