//! The gRPC half of a message: the streamed request and response bodies of one call, which
//! pass through Axon untouched (HTTP/2 data frames, flow control and trailers included),
//! and the call's deadlines.
//!
//! Mediation sees a gRPC call's metadata as the message's headers and never its body: the
//! body halves live here, outside [`super::Body`].

use std::error::Error as StdError;

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use tokio::time::Instant;

/// The error type of a boxed gRPC body.
pub type BoxError = Box<dyn StdError + Send + Sync>;

/// A request body on its way to a gRPC backend.
pub type GrpcBody = UnsyncBoxBody<Bytes, BoxError>;

/// One gRPC call as it moves through Axon.
#[derive(Debug)]
pub struct GrpcCall {
    /// The client's request stream, until an endpoint sends it (a call is sent once).
    pub request: Option<GrpcBody>,
    /// The backend's response stream, once a gRPC endpoint has answered.
    pub response: Option<hyper::body::Incoming>,
    /// When the client's `grpc-timeout` runs out.
    pub client_deadline: Option<Instant>,
    /// The deadline of the backend call (the earlier of the client's and the endpoint's
    /// `<timeout>`), and whether it is the client's; the response stream ends with
    /// DEADLINE_EXCEEDED when it passes.
    pub call_deadline: Option<(Instant, bool)>,
}

// === impl GrpcCall ===

impl GrpcCall {
    /// A call whose request stream is `request`.
    pub fn new(request: GrpcBody, client_deadline: Option<Instant>) -> Self {
        GrpcCall {
            request: Some(request),
            response: None,
            client_deadline,
            call_deadline: None,
        }
    }
}

/// HTTP/2 forbids connection-specific headers; these never cross Axon in either direction
/// (`te` is set again to `trailers` on the way to the backend).
pub fn is_connection_specific(name: &str) -> bool {
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
pub fn headers_from_wire(from: &http::HeaderMap) -> HeaderMap {
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
pub fn headers_to_wire(from: &HeaderMap, skip: &[&str]) -> http::HeaderMap {
    let mut out = http::HeaderMap::with_capacity(from.len() + 2);
    append_to_wire(&mut out, from, skip);
    out
}

/// Appends `from`'s headers to `out` (an HTTP/2 header block), leaving out those named in
/// `skip` and every connection-specific one, which HTTP/2 forbids.
pub fn append_to_wire<'h>(
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
