//! The bodies the gRPC front answers with: a backend's response stream relayed frame by
//! frame, a single message with its trailers, or nothing (a trailers-only answer).

use std::convert::Infallible;
use std::future::Future as _;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use crate::base::grpc::{self as wire, code};
use crate::message::grpc::BackendResponse;

/// A gRPC response body.
#[derive(Debug)]
pub(crate) enum ResponseBody {
    /// No body: the status is in the response headers (trailers-only).
    Empty,
    /// One message, then trailers (Axon's own health service).
    Unary {
        /// The framed message, until sent.
        message: Option<Bytes>,
        /// The trailers, until sent.
        trailers: Option<HeaderMap>,
    },
    /// A backend's response stream.
    Relay(Box<Relay>),
}

/// A backend's response stream on its way to the client.
///
/// Frames are passed on as they come and only when the client's HTTP/2 connection asks
/// for more, so flow control holds end to end (each backend stream has a window of its
/// own, so a client that does not read stalls only its own call). When the call's deadline
/// passes, the stream ends with DEADLINE_EXCEEDED trailers and the backend stream is reset
/// at once; it is also reset whenever this body is dropped (the call ended for any reason).
/// When the backend stream breaks, it ends with UNAVAILABLE trailers: the client always
/// gets a status.
#[derive(Debug)]
pub(crate) struct Relay {
    inner: BackendResponse,
    deadline: Option<(Pin<Box<Sleep>>, bool)>,
    done: bool,
}

// === impl ResponseBody ===

impl ResponseBody {
    /// Relays `inner`, cut at `deadline` (`true` when the deadline is the client's).
    pub(crate) fn relay(inner: BackendResponse, deadline: Option<(Instant, bool)>) -> Self {
        ResponseBody::Relay(Box::new(Relay {
            inner,
            deadline: deadline.map(|(at, client)| (Box::pin(tokio::time::sleep_until(at)), client)),
            done: false,
        }))
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            ResponseBody::Empty => Poll::Ready(None),
            ResponseBody::Unary { message, trailers } => {
                if let Some(m) = message.take() {
                    return Poll::Ready(Some(Ok(Frame::data(m))));
                }
                Poll::Ready(trailers.take().map(|t| Ok(Frame::trailers(t))))
            }
            ResponseBody::Relay(relay) => relay.poll(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ResponseBody::Empty => true,
            ResponseBody::Unary { message, trailers } => message.is_none() && trailers.is_none(),
            ResponseBody::Relay(relay) => relay.done || relay.inner.body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ResponseBody::Empty => SizeHint::with_exact(0),
            ResponseBody::Unary { message, .. } => {
                SizeHint::with_exact(message.as_ref().map_or(0, |m| m.len() as u64))
            }
            ResponseBody::Relay(relay) => relay.inner.body.size_hint(),
        }
    }
}

// === impl Relay ===

impl Relay {
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.done {
            return Poll::Ready(None);
        }
        if let Some((sleep, client)) = &mut self.deadline
            && sleep.as_mut().poll(cx).is_ready()
        {
            self.done = true;
            self.inner.cancel();
            return Poll::Ready(Some(Ok(deadline_passed(*client))));
        }
        match Pin::new(&mut self.inner.body).poll_frame(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(None) => {
                self.done = true;
                // The request side ended the backend call at the deadline (h2 reports that
                // reset as a clean end): the client still gets its status.
                if let Some((sleep, client)) = &self.deadline
                    && sleep.deadline() <= Instant::now()
                {
                    return Poll::Ready(Some(Ok(deadline_passed(*client))));
                }
                Poll::Ready(None)
            }
            Poll::Ready(Some(Ok(frame))) => {
                if frame.is_trailers() {
                    self.done = true;
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(error))) => {
                self.done = true;
                tracing::warn!(%error, "A gRPC backend stream broke mid-call");
                Poll::Ready(Some(Ok(Frame::trailers(status_trailers(
                    code::UNAVAILABLE,
                    &format!("the backend stream failed: {error}"),
                )))))
            }
        }
    }
}

/// The trailers of a call cut by its deadline (`client`: the client's, else the endpoint's).
fn deadline_passed(client: bool) -> Frame<Bytes> {
    let whose = if client {
        "the call's deadline passed"
    } else {
        "the endpoint timeout passed"
    };
    Frame::trailers(status_trailers(
        code::DEADLINE_EXCEEDED,
        &format!("{whose} while the backend was still answering"),
    ))
}

/// `grpc-status` (and `grpc-message` when there is one) as a header map.
pub(crate) fn status_trailers(status: u32, message: &str) -> HeaderMap {
    let mut map = HeaderMap::with_capacity(2);
    map.insert("grpc-status", http::HeaderValue::from(status));
    if !message.is_empty() {
        map.insert("grpc-message", wire::encode_message(message));
    }
    map
}
