//! The gRPC half of a message: the streamed request and response bodies of one call, which
//! pass through Axon untouched (HTTP/2 data frames, flow control and trailers included),
//! and the call's deadlines.
//!
//! Mediation sees a gRPC call's metadata as the message's headers and never its body: the
//! body halves live here, outside [`super::Body`].

use std::any::Any;
use std::collections::VecDeque;
use std::error::Error as StdError;
use std::fmt;
use std::future::Future as _;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use bytes::Bytes;
use http_body::{Body, Frame};
use http_body_util::BodyExt as _;
use http_body_util::combinators::UnsyncBoxBody;
use hyper::body::Incoming;
use tokio::time::{Instant, Sleep};

/// The error type of a boxed gRPC body.
pub(crate) type BoxError = Box<dyn StdError + Send + Sync>;

/// A request body on its way to a gRPC backend.
pub(crate) type GrpcBody = UnsyncBoxBody<Bytes, BoxError>;

/// One gRPC call as it moves through Axon.
#[derive(Debug)]
pub(crate) struct GrpcCall {
    /// The client's request stream, until an endpoint sends it (a call is sent once).
    pub(crate) request: Option<GrpcBody>,
    /// The backend's response stream, once a gRPC endpoint has answered.
    pub(crate) response: Option<BackendResponse>,
    /// When the client's `grpc-timeout` runs out.
    pub(crate) client_deadline: Option<Instant>,
    /// The deadline of the backend call (the earlier of the client's and the endpoint's
    /// `<timeout>`), and whether it is the client's; the response stream ends with
    /// DEADLINE_EXCEEDED when it passes.
    pub(crate) call_deadline: Option<(Instant, bool)>,
}

// === impl GrpcCall ===

impl GrpcCall {
    /// A call whose request stream is `request`.
    pub(crate) fn new(request: GrpcBody, client_deadline: Option<Instant>) -> Self {
        GrpcCall {
            request: Some(request),
            response: None,
            client_deadline,
            call_deadline: None,
        }
    }
}

/// Request bytes kept, until the backend's response headers, to send a call again that the
/// backend refused unprocessed (REFUSED_STREAM); a call that sent more is not sent again.
pub(crate) const REPLAY_LIMIT: usize = 64 * 1024;

/// A backend's response stream, and the backend call it belongs to.
///
/// Dropping it ends the call: whatever the reason Axon stops (the response was relayed,
/// a deadline passed, the client reset the call or went away, mediation answered by
/// itself), the backend stream is reset with CANCEL at once, even while the client's
/// request stream is still open, and the call's place on its connection is freed.
pub(crate) struct BackendResponse {
    /// The response stream.
    pub(crate) body: Incoming,
    request: RequestHandle,
    _hold: Box<dyn Any>,
}

impl BackendResponse {
    /// `body` of the call whose request stream is `request`; `hold` (the call's place on
    /// its connection) is released when the call ends.
    pub(crate) fn new(body: Incoming, request: RequestHandle, hold: Box<dyn Any>) -> Self {
        BackendResponse {
            body,
            request,
            _hold: hold,
        }
    }

    /// Resets the backend stream now (the body may still be dropped later).
    pub(crate) fn cancel(&self) {
        self.request.cancel();
    }
}

impl Drop for BackendResponse {
    fn drop(&mut self) {
        self.request.cancel();
    }
}

impl fmt::Debug for BackendResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackendResponse")
            .field("body", &self.body)
            .finish_non_exhaustive()
    }
}

/// The client's request stream on its way to one backend stream.
///
/// It passes frames on as they come and, until the response headers, keeps up to
/// [`REPLAY_LIMIT`] bytes of them so a refused stream can be sent again. Once cancelled
/// through its [`RequestHandle`], or when the call's deadline passes, it fails with
/// CANCEL, which makes hyper reset the backend stream with RST_STREAM(CANCEL): even when
/// the response side is not being read (its client does not read), the backend call ends
/// at the deadline.
#[derive(Debug)]
pub(crate) struct RequestTap {
    state: Arc<Mutex<TapState>>,
    replay: VecDeque<Bytes>,
    deadline: Option<Pin<Box<Sleep>>>,
}

/// Control over a [`RequestTap`] that hyper owns: cancel it, or take its stream back.
#[derive(Debug, Clone)]
pub(crate) struct RequestHandle(Arc<Mutex<TapState>>);

struct TapState {
    source: Option<GrpcBody>,
    deadline: Option<Instant>,
    kept: Vec<Bytes>,
    kept_len: usize,
    keeping: bool,
    replayable: bool,
    cancelled: bool,
    waker: Option<Waker>,
}

impl fmt::Debug for TapState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TapState")
            .field("kept_len", &self.kept_len)
            .field("keeping", &self.keeping)
            .field("cancelled", &self.cancelled)
            .finish_non_exhaustive()
    }
}

impl RequestTap {
    /// A tap over `source` that ends the backend call at `deadline`, and its handle.
    pub(crate) fn wrap(source: GrpcBody, deadline: Option<Instant>) -> (GrpcBody, RequestHandle) {
        Self::with_replay(source, deadline, Vec::new(), 0)
    }

    fn with_replay(
        source: GrpcBody,
        deadline: Option<Instant>,
        kept: Vec<Bytes>,
        kept_len: usize,
    ) -> (GrpcBody, RequestHandle) {
        let replay = kept.iter().cloned().collect();
        let state = Arc::new(Mutex::new(TapState {
            source: Some(source),
            deadline,
            kept,
            kept_len,
            keeping: true,
            replayable: true,
            cancelled: false,
            waker: None,
        }));
        let tap = RequestTap {
            state: state.clone(),
            replay,
            deadline: deadline.map(|at| Box::pin(tokio::time::sleep_until(at))),
        };
        (tap.boxed_unsync(), RequestHandle(state))
    }
}

fn lock(state: &Mutex<TapState>) -> MutexGuard<'_, TapState> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The error that makes hyper reset a backend stream with CANCEL.
fn cancelled() -> BoxError {
    Box::new(h2::Error::from(h2::Reason::CANCEL))
}

impl Body for RequestTap {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        let mut guard = lock(&this.state);
        let state = &mut *guard;
        if let Some(deadline) = this.deadline.as_mut()
            && deadline.as_mut().poll(cx).is_ready()
        {
            state.cancelled = true;
        }
        if state.cancelled {
            return Poll::Ready(Some(Err(cancelled())));
        }
        if let Some(data) = this.replay.pop_front() {
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
        if !state
            .waker
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()))
        {
            state.waker = Some(cx.waker().clone());
        }
        let Some(source) = state.source.as_mut() else {
            // The stream was taken back to be sent again on another stream.
            return Poll::Ready(Some(Err(cancelled())));
        };
        let polled = Pin::new(source).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && state.keeping
        {
            match frame.data_ref() {
                Some(data) if state.kept_len + data.len() <= REPLAY_LIMIT => {
                    state.kept_len += data.len();
                    state.kept.push(data.clone());
                }
                _ => state.stop_keeping(false),
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.replay.is_empty()
            && lock(&self.state)
                .source
                .as_ref()
                .is_some_and(Body::is_end_stream)
    }
}

impl TapState {
    fn stop_keeping(&mut self, replayable: bool) {
        self.keeping = false;
        self.replayable &= replayable;
        self.kept = Vec::new();
        self.kept_len = 0;
    }
}

impl RequestHandle {
    /// The backend answered: nothing more needs keeping for a second attempt.
    pub(crate) fn answered(&self) {
        lock(&self.0).stop_keeping(false);
    }

    /// Fails the request stream with CANCEL, so hyper resets the backend stream.
    pub(crate) fn cancel(&self) {
        let mut state = lock(&self.0);
        state.cancelled = true;
        if let Some(waker) = state.waker.take() {
            waker.wake();
        }
    }

    /// The whole request stream again (what was sent, then the rest), for a stream the
    /// backend refused unprocessed; `None` when more than [`REPLAY_LIMIT`] bytes went.
    pub(crate) fn resend(&self) -> Option<(GrpcBody, RequestHandle)> {
        let mut state = lock(&self.0);
        if !state.replayable || state.cancelled {
            return None;
        }
        let source = state.source.take()?;
        let kept = std::mem::take(&mut state.kept);
        let kept_len = std::mem::replace(&mut state.kept_len, 0);
        Some(RequestTap::with_replay(
            source,
            state.deadline,
            kept,
            kept_len,
        ))
    }
}

/// HTTP/2 forbids connection-specific headers; these never cross Axon in either direction
/// (`te` is set again to `trailers` on the way to the backend).
pub(crate) fn is_connection_specific(name: &str) -> bool {
    matches!(
        name,
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "transfer-encoding"
            | "upgrade"
            | "host"
            | "te"
            | "content-length"
    )
}

/// Copies HTTP/2 metadata (hyper's `http` 1 types) into a message's header map (actix's
/// types), without connection-specific headers. Binary (`-bin`) values are copied as the
/// base64 text they are on the wire, so they stay byte-exact.
pub(crate) fn headers_from_wire(from: &http::HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::with_capacity(from.len());
    for (name, value) in from {
        if is_connection_specific(name.as_str()) {
            continue;
        }
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_str().as_bytes()),
            HeaderValue::from_bytes(value.as_bytes()),
        ) {
            out.append(n, v);
        }
    }
    out
}

/// Copies a message's headers to HTTP/2 metadata, leaving out connection-specific headers
/// and those `skip` names.
pub(crate) fn headers_to_wire(from: &HeaderMap, skip: &[&str]) -> http::HeaderMap {
    let mut out = http::HeaderMap::with_capacity(from.len() + 2);
    append_to_wire(&mut out, from, skip);
    out
}

/// Appends `from`'s headers to `out` (an HTTP/2 header block), leaving out those named in
/// `skip` and every connection-specific one, which HTTP/2 forbids.
pub(crate) fn append_to_wire<'h>(
    out: &mut http::HeaderMap,
    from: impl IntoIterator<Item = (&'h HeaderName, &'h HeaderValue)>,
    skip: &[&str],
) {
    for (name, value) in from {
        let n = name.as_str();
        if is_connection_specific(n) || skip.contains(&n) {
            continue;
        }
        if let (Ok(n), Ok(v)) = (
            http::HeaderName::from_bytes(n.as_bytes()),
            http::HeaderValue::from_bytes(value.as_bytes()),
        ) {
            out.append(n, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_crosses_both_header_types_byte_exact_without_connection_headers() {
        let mut wire = http::HeaderMap::new();
        wire.append("x-token", http::HeaderValue::from_static("abc"));
        wire.append("x-multi", http::HeaderValue::from_static("1"));
        wire.append("x-multi", http::HeaderValue::from_static("2"));
        wire.append("trace-bin", http::HeaderValue::from_static("AAEC/w"));
        wire.append("te", http::HeaderValue::from_static("trailers"));
        wire.append("connection", http::HeaderValue::from_static("close"));
        let msg = headers_from_wire(&wire);
        assert_eq!(
            msg.get("trace-bin").map(|v| v.as_bytes()),
            Some(&b"AAEC/w"[..])
        );
        assert_eq!(msg.get_all("x-multi").count(), 2);
        assert!(msg.get("te").is_none() && msg.get("connection").is_none());
        let back = headers_to_wire(&msg, &["x-token"]);
        assert!(back.get("x-token").is_none());
        assert_eq!(back.get_all("x-multi").iter().count(), 2);
        assert_eq!(
            back.get("trace-bin").map(|v| v.as_bytes()),
            Some(&b"AAEC/w"[..])
        );
    }
}
