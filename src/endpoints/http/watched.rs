//! A backend's response body, watched while it streams to the client.
//!
//! By the time the body streams, the leaf's send has already counted a success and the
//! client has the status line. A body that then stalls, breaks its framing or ends short of
//! its `Content-Length` is the backend's failure all the same: [`Watched`] reports it to the
//! leaf after the fact (log, counters, health actor) and ends the stream with an error, so
//! the front aborts the client's response (the connection is closed before the declared
//! length or the last chunk) instead of ending it cleanly short.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Duration;

use actix::Addr;
use actix_web::error::PayloadError;
use bytes::Bytes;
use futures_util::Stream;
use tokio::time::{Instant, Sleep};

use crate::base::error::{EndpointError, ErrorKind, ProtocolState};
use crate::endpoints::Leaf;
use crate::endpoints::actor::{EndpointActor, ErrorRecord, Report};
use crate::endpoints::health::Health;
use crate::message::{BodyStream, MessageId};

/// Who to tell when the body fails.
struct Reporter {
    endpoint: Arc<str>,
    health: Arc<Health>,
    addr: Addr<EndpointActor>,
    address: String,
    message: MessageId,
}

/// A response body that fails visibly: see the module documentation.
pub(crate) struct Watched {
    inner: BodyStream,
    declared: Option<u64>,
    received: u64,
    idle: Duration,
    last_progress: Instant,
    timer: Pin<Box<Sleep>>,
    /// Taken when the body has ended, well or not: nothing is reported twice.
    reporter: Option<Reporter>,
}

impl Watched {
    /// Watches `inner`, the body of `leaf`'s response to message `message` from `address`,
    /// which declared `declared` bytes; `idle` is the longest wait for the next bytes.
    pub(crate) fn new(
        inner: BodyStream,
        declared: Option<u64>,
        idle: Duration,
        leaf: &Leaf,
        address: String,
        message: MessageId,
    ) -> Watched {
        let now = Instant::now();
        Watched {
            inner,
            declared,
            received: 0,
            idle,
            last_progress: now,
            timer: Box::pin(tokio::time::sleep_until(now + idle)),
            reporter: Some(Reporter {
                endpoint: leaf.name.clone(),
                health: leaf.health.clone(),
                addr: leaf.addr.clone(),
                address,
                message,
            }),
        }
    }

    /// Reports `kind` (with `detail`) against the endpoint and ends the stream with an error.
    fn fail(
        &mut self,
        kind: ErrorKind,
        detail: String,
    ) -> Poll<Option<Result<Bytes, PayloadError>>> {
        let Some(r) = self.reporter.take() else {
            return Poll::Ready(None);
        };
        let error =
            EndpointError::new(kind, ProtocolState::ResponseBody, r.endpoint, detail).at(r.address);
        tracing::warn!(
            endpoint = %error.endpoint,
            message = %r.message,
            code = error.code(),
            address = error.address.as_deref().unwrap_or(""),
            error = %error.cause,
            received = self.received,
            "Endpoint response body failed; the client's response is aborted"
        );
        // The head was counted a success when it arrived; it was not one.
        r.health.failed.fetch_add(1, Ordering::Relaxed);
        // Never 0 here (this response's head was counted); `checked_sub` keeps it from
        // wrapping if it ever were.
        r.health
            .succeeded
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .ok();
        r.addr.do_send(Report::Failure {
            trial: false,
            error: ErrorRecord::from(&error),
        });
        let kind = match kind {
            ErrorKind::Timeout => io::ErrorKind::TimedOut,
            _ => io::ErrorKind::UnexpectedEof,
        };
        Poll::Ready(Some(Err(PayloadError::Io(io::Error::new(
            kind,
            error.to_string(),
        )))))
    }

    /// True when the idle timer has really run out (it is moved on lazily, not per chunk).
    fn stalled(&mut self, cx: &mut Context<'_>) -> bool {
        loop {
            if self.timer.as_mut().poll(cx).is_pending() {
                return false;
            }
            let due = self.last_progress + self.idle;
            if Instant::now() >= due {
                return true;
            }
            self.timer.as_mut().reset(due);
        }
    }
}

impl Stream for Watched {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.reporter.is_none() {
            return Poll::Ready(None);
        }
        match self.inner.as_mut().poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                self.received += chunk.len() as u64;
                self.last_progress = Instant::now();
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(Some(Err(error))) => {
                let (kind, detail) = classify(&error);
                self.fail(kind, detail)
            }
            Poll::Ready(None) => match self.declared {
                Some(declared) if self.received < declared => {
                    let detail = format!(
                        "the backend closed the connection after {} of the {declared} bytes of its response body",
                        self.received
                    );
                    self.fail(ErrorKind::Closed, detail)
                }
                _ => {
                    self.reporter = None;
                    Poll::Ready(None)
                }
            },
            Poll::Pending if self.stalled(cx) => {
                let detail = format!(
                    "the response body stalled: no bytes for {} ms after {} bytes",
                    self.idle.as_millis(),
                    self.received
                );
                self.fail(ErrorKind::Timeout, detail)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// What a failed read of a response body says about the backend.
fn classify(error: &PayloadError) -> (ErrorKind, String) {
    let io_kind = |cause: &io::Error| match cause.kind() {
        // The chunked decoder's complaints: the backend broke the framing.
        io::ErrorKind::InvalidInput | io::ErrorKind::InvalidData => ErrorKind::Protocol,
        io::ErrorKind::UnexpectedEof => ErrorKind::Closed,
        _ => ErrorKind::ReceiveIo,
    };
    let kind = match error {
        PayloadError::Incomplete(Some(cause)) | PayloadError::Io(cause) => io_kind(cause),
        PayloadError::Incomplete(None) => ErrorKind::Closed,
        _ => ErrorKind::Protocol,
    };
    (kind, format!("reading the response body failed: {error}"))
}
