//! Heavy work from a big input runs on tokio's blocking pool, never on the I/O worker.
//!
//! An I/O worker serves many connections; a message whose body is large enough to take
//! tens of milliseconds or more to parse, convert or evaluate would make all of them wait.
//! From [`THRESHOLD`] bytes up, that work moves to the blocking pool: format conversions
//! (`endpoints/format.rs`) and every mediator step that reads the payload (the engine's
//! interpreter). Smaller bodies are handled inline, with no thread hop.
//!
//! A mediator step runs on a [`MessageContext`] whose body stream and parsed payload are
//! not `Send` (the XPath DOM of `sxd_document` cannot leave its thread). So the message is
//! taken apart: what can cross threads ([`Detached`]) travels to the blocking thread, is
//! made a message again there (its payload parsed there, and dropped there), and comes
//! back; what cannot ([`Kept`]) waits on the worker.

use std::sync::{Arc, LazyLock};

use bytes::Bytes;
use tokio::sync::Semaphore;

use super::{Body, MessageContext, payload};

/// Bodies from this size up are worked on off the I/O worker. A 256 KiB document of tiny
/// elements parses into an XPath DOM in about 25 ms; a 10 MiB one takes up to a second.
pub(crate) const THRESHOLD: usize = 256 * 1024;

/// The parts of a message that stay on its worker while [`Detached`] is away: a body
/// stream (never present when a step is sent off, kept for totality), the gRPC call and the
/// parsed payload.
pub(crate) struct Kept {
    stream: Option<Body>,
    grpc: Option<Box<super::grpc::GrpcCall>>,
    payload: payload::PayloadCache,
}

/// Whether `bytes` long input is worked on off the I/O worker.
pub(crate) fn is_heavy(bytes: usize) -> bool {
    bytes >= THRESHOLD
}

/// Whether a step that reads this body runs off the I/O worker: a body in memory of
/// [`THRESHOLD`] bytes or more.
pub(crate) fn heavy_body(body: &Body) -> bool {
    matches!(body, Body::Full(bytes) if is_heavy(bytes.len()))
}

/// How many pieces of heavy work run at once, over all workers: one per CPU. The others
/// wait their turn without holding a thread, so the memory that heavy work takes (up to
/// `--max-xml-memory` each) stays bounded as it was when each worker did its own in turn.
static PERMITS: LazyLock<Arc<Semaphore>> = LazyLock::new(|| {
    let cpus = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    Arc::new(Semaphore::new(cpus))
});

/// Runs `work` on tokio's blocking pool, in the caller's tracing span, once one of the
/// [`PERMITS`] is free. `None` when the runtime shut down before it ran; a panic in `work`
/// is resumed in the caller.
pub(crate) async fn run<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let permit = Arc::clone(&PERMITS).acquire_owned().await.ok()?;
    let span = tracing::Span::current();
    let task = tokio::task::spawn_blocking(move || {
        let done = span.in_scope(work);
        drop(permit);
        done
    });
    match task.await {
        Ok(done) => Some(done),
        Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
        Err(_) => None,
    }
}

// === impl MessageContext (off the worker) ===

/// Declares [`Detached`] and the moves between it and a message from one list: the fields
/// of [`MessageContext`] that travel as they are. Taking a message apart names every field,
/// so a new one cannot be forgotten.
macro_rules! travelling {
    ($($field:ident: $ty:ty,)*) => {
        /// The parts of a message that can cross threads: all of it but [`Kept`].
        pub(crate) struct Detached {
            $($field: $ty,)*
            /// The body, when in memory (`None`: empty, or a stream that stayed).
            body: Option<Bytes>,
            xml_limits: super::XmlLimits,
        }

        impl MessageContext {
            /// Takes the message apart, leaving in its place an empty shell with the same
            /// id, direction and client (enough for a fault answer).
            pub(crate) fn detach(&mut self) -> (Detached, Kept) {
                let xml_limits = self.xml_limits();
                let shell = self.shell();
                let MessageContext { $($field,)* body, grpc, payload } =
                    std::mem::replace(self, shell);
                let (body, stream) = match body {
                    Body::Full(bytes) => (Some(bytes), None),
                    Body::Empty => (None, None),
                    stream @ Body::Stream { .. } => (None, Some(stream)),
                };
                let kept = Kept { stream, grpc, payload };
                (Detached { $($field,)* body, xml_limits }, kept)
            }

            /// Puts a message taken apart by [`MessageContext::detach`] back together (a
            /// payload parsed on this thread serves again if the body is still the bytes
            /// it came from).
            pub(crate) fn attach(detached: Detached, kept: Kept) -> MessageContext {
                let Detached { $($field,)* body, xml_limits: _ } = detached;
                let body = match (kept.stream, body) {
                    (Some(stream), _) => stream,
                    (None, Some(bytes)) => Body::Full(bytes),
                    (None, None) => Body::Empty,
                };
                MessageContext { $($field,)* body, grpc: kept.grpc, payload: kept.payload }
            }
        }
    };
}

travelling! {
    id: super::MessageId,
    direction: super::Direction,
    method: actix_web::http::Method,
    uri: actix_web::http::Uri,
    scheme: &'static str,
    status: Option<actix_web::http::StatusCode>,
    headers: actix_web::http::header::HeaderMap,
    to: Option<String>,
    wsa: super::addressing::Addressing,
    engaged_addressing: Option<crate::config::AddressingVersion>,
    attempts: Vec<super::Attempt>,
    fault_status: Option<actix_web::http::StatusCode>,
    api: Option<Arc<crate::base::lifecycle::ApiLife>>,
    client: super::ClientFormat,
    convert_reply: bool,
    slots: Vec<tokio::sync::OwnedSemaphorePermit>,
    headers_set: Vec<actix_web::http::header::HeaderName>,
    props: super::Properties,
    axis2: super::Properties,
    vars: super::Properties,
    call_kept: Option<Box<super::CallKept>>,
    func_scopes: Vec<Vec<(String, super::FuncParam)>>,
}

impl MessageContext {
    /// An empty message with this one's id, direction and client.
    fn shell(&self) -> MessageContext {
        let mut shell = MessageContext::request(
            self.method.clone(),
            self.uri.clone(),
            self.scheme,
            Default::default(),
            Body::Empty,
        );
        shell.id = self.id.clone();
        shell.direction = self.direction;
        shell.client = self.client;
        shell
    }
}

// === impl Detached ===

impl Detached {
    /// The message, on the thread it travelled to, with nothing parsed yet.
    pub(crate) fn into_message(self) -> MessageContext {
        let limits = self.xml_limits;
        let kept = Kept {
            stream: None,
            grpc: None,
            payload: payload::PayloadCache::default(),
        };
        let mut msg = MessageContext::attach(self, kept);
        msg.set_xml_limits(limits);
        msg
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
    use actix_web::http::{Method, Uri};

    #[test]
    fn only_bodies_in_memory_from_the_threshold_up_are_heavy() {
        assert!(!heavy_body(&Body::Empty));
        assert!(!heavy_body(&Body::Full(Bytes::from(vec![
            b' ';
            THRESHOLD - 1
        ]))));
        assert!(heavy_body(&Body::Full(Bytes::from(vec![b' '; THRESHOLD]))));
    }

    #[test]
    fn a_message_taken_apart_and_made_again_elsewhere_is_the_same_message() {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/xml"));
        let body = Body::Full(Bytes::from_static(b"<r><a>1</a></r>"));
        let mut msg =
            MessageContext::request(Method::POST, Uri::from_static("/x"), "http", headers, body);
        msg.set("p", "v");
        let limits = super::super::XmlLimits {
            max_nodes: 7,
            ..Default::default()
        };
        msg.set_xml_limits(limits);
        msg.load_xml().expect("parsed");
        let id = msg.id.clone();
        let (detached, kept) = msg.detach();
        assert_eq!(msg.id, id, "the shell keeps the id");
        assert!(msg.get("p").is_none());
        // Elsewhere: nothing parsed, the same limits, properties and body.
        let there = std::thread::spawn(move || {
            let mut there = detached.into_message();
            assert!(there.xml_doc().is_none());
            assert_eq!(there.xml_limits().max_nodes, 7);
            there.set("q", "w");
            there.detach().0
        })
        .join()
        .expect("thread");
        let back = MessageContext::attach(there, kept);
        assert_eq!(back.id, id);
        assert_eq!(back.get("p").map(ToString::to_string).as_deref(), Some("v"));
        assert_eq!(back.get("q").map(ToString::to_string).as_deref(), Some("w"));
        assert_eq!(back.content_type(), Some("application/xml"));
        assert!(back.xml_doc().is_some(), "the DOM kept here serves again");
    }
}
