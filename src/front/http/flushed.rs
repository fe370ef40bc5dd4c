//! A response body whose failure reaches the client only after what came before it.
//!
//! actix-http's HTTP/1 dispatcher fills its write buffer from the body and writes it out
//! only when the body has nothing more for now. When the body fails in the same turn as
//! its first bytes (a backend that resets or breaks its chunking right after the head),
//! the dispatcher closes the connection with the head and those bytes still buffered: the
//! client gets an empty reply and cannot tell a gateway fault from a network one. This
//! wrapper holds a failure back for one turn (waking itself at once), so the dispatcher
//! writes the buffered head and bytes first; the failure then aborts the response, which
//! the client sees as a body cut short of its framing. A body dropped on purpose (a
//! prototype's programmed dropped connection) fails at once, with no head, as it says.

use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::error::PayloadError;
use bytes::Bytes;
use futures_util::Stream;

use crate::message::body::{self, BodyStream};

/// `inner`, with its first failure delivered one turn late (module documentation).
pub(crate) struct FlushedBeforeError {
    inner: BodyStream,
    held: Option<PayloadError>,
}

impl FlushedBeforeError {
    pub(crate) fn new(inner: BodyStream) -> Self {
        FlushedBeforeError { inner, held: None }
    }
}

impl Stream for FlushedBeforeError {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(error) = self.held.take() {
            return Poll::Ready(Some(Err(error)));
        }
        match self.inner.as_mut().poll_next(cx) {
            Poll::Ready(Some(Err(error))) if !body::is_dropped_on_purpose(&error) => {
                self.held = Some(error);
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt as _;

    use super::*;

    #[actix_rt::test]
    async fn a_failure_comes_one_turn_after_the_bytes_before_it() {
        let chunks = futures_util::stream::iter([
            Ok(Bytes::from_static(b"head of the body")),
            Err(PayloadError::Incomplete(None)),
        ]);
        let mut body = FlushedBeforeError::new(Box::pin(chunks));
        let waker = futures_util::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        assert!(matches!(
            body.poll_next_unpin(&mut cx),
            Poll::Ready(Some(Ok(_)))
        ));
        assert!(body.poll_next_unpin(&mut cx).is_pending(), "held back once");
        assert!(matches!(
            body.poll_next_unpin(&mut cx),
            Poll::Ready(Some(Err(PayloadError::Incomplete(None))))
        ));
    }

    #[actix_rt::test]
    async fn a_connection_dropped_on_purpose_fails_at_once() {
        let mut body = FlushedBeforeError::new(body::dropped_connection("programmed"));
        let waker = futures_util::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        assert!(matches!(
            body.poll_next_unpin(&mut cx),
            Poll::Ready(Some(Err(ref e))) if body::is_dropped_on_purpose(e)
        ));
    }
}
