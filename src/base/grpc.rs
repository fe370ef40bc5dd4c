//! The gRPC wire facts shared by the gRPC front and gRPC leaves: status codes, the
//! `grpc-timeout` header, message framing, `grpc-message` encoding, and the two messages of
//! the standard health-check protocol (`grpc.health.v1`).
//!
//! Axon never decodes an application's protobuf: calls pass through as bytes. Only the
//! health-check messages, whose schema is fixed by the gRPC project, are encoded here.

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use http::HeaderValue;
use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};

/// HTTP/2 frame facts (RFC 9113 §4 and §6) read by the byte-level watchers under hyper:
/// the gRPC front's control-frame budget and the gRPC leaves' preface reader.
pub(crate) mod h2 {
    /// The length of a frame header: length (3), type, flags, stream id (4).
    pub(crate) const HEADER_LEN: usize = 9;
    pub(crate) const DATA: u8 = 0x0;
    pub(crate) const HEADERS: u8 = 0x1;
    pub(crate) const PRIORITY: u8 = 0x2;
    pub(crate) const SETTINGS: u8 = 0x4;
    pub(crate) const PING: u8 = 0x6;
    pub(crate) const GOAWAY: u8 = 0x7;
    /// The last frame type RFC 9113 defines (CONTINUATION).
    pub(crate) const LAST_KNOWN_TYPE: u8 = 0x9;
    /// The ACK flag of SETTINGS and PING.
    pub(crate) const FLAG_ACK: u8 = 0x1;
    /// The END_STREAM flag of DATA and HEADERS.
    pub(crate) const FLAG_END_STREAM: u8 = 0x1;
    /// The PADDED flag of DATA and HEADERS: the payload starts with the pad length.
    pub(crate) const FLAG_PADDED: u8 = 0x8;
    /// The PRIORITY flag of HEADERS: 5 bytes of priority fields precede the header block.
    pub(crate) const FLAG_PRIORITY: u8 = 0x20;
    /// The HPACK dynamic table size the server allows (`SETTINGS_HEADER_TABLE_SIZE`): the
    /// h2 crate's default, which the gRPC front leaves as it is.
    pub(crate) const HEADER_TABLE_SIZE: u64 = 4096;
    /// The identifier of `SETTINGS_MAX_CONCURRENT_STREAMS`.
    pub(crate) const MAX_CONCURRENT_STREAMS: u16 = 0x3;
    /// The error code ENHANCE_YOUR_CALM (§7).
    pub(crate) const ENHANCE_YOUR_CALM: u32 = 0xb;
    /// The error code COMPRESSION_ERROR (§7).
    pub(crate) const COMPRESSION_ERROR: u32 = 0x9;
}

/// gRPC status codes used by Axon (the numbers of `google.rpc.Code`).
pub(crate) mod code {
    /// Success.
    pub(crate) const OK: u32 = 0;
    /// Unknown error.
    pub(crate) const UNKNOWN: u32 = 2;
    /// The client sent an invalid argument.
    pub(crate) const INVALID_ARGUMENT: u32 = 3;
    /// The deadline passed before the call completed.
    pub(crate) const DEADLINE_EXCEEDED: u32 = 4;
    /// Not found (the health service's answer for an unknown service).
    pub(crate) const NOT_FOUND: u32 = 5;
    /// The caller may not do this.
    pub(crate) const PERMISSION_DENIED: u32 = 7;
    /// A limit was hit.
    pub(crate) const RESOURCE_EXHAUSTED: u32 = 8;
    /// No such service or method.
    pub(crate) const UNIMPLEMENTED: u32 = 12;
    /// An internal error.
    pub(crate) const INTERNAL: u32 = 13;
    /// The service is unavailable; the call may be retried.
    pub(crate) const UNAVAILABLE: u32 = 14;
    /// The caller is not authenticated.
    pub(crate) const UNAUTHENTICATED: u32 = 16;
}

/// The path of the standard health check (`grpc.health.v1.Health/Check`).
pub(crate) const HEALTH_CHECK_PATH: &str = "/grpc.health.v1.Health/Check";
/// The service name of the standard health protocol.
pub(crate) const HEALTH_SERVICE: &str = "grpc.health.v1.Health";

/// Runs hyper's HTTP/2 tasks on the current thread's `LocalSet` (an actix arbiter or
/// worker), so a gRPC connection and every call on it stay on the thread that owns them.
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalExec;

/// `grpc.health.v1.HealthCheckRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct HealthCheckRequest {
    /// The service asked about; empty for the server as a whole.
    #[prost(string, tag = "1")]
    pub(crate) service: String,
}

/// `grpc.health.v1.HealthCheckResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct HealthCheckResponse {
    /// A [`ServingStatus`] number.
    #[prost(int32, tag = "1")]
    pub(crate) status: i32,
}

/// `grpc.health.v1.HealthCheckResponse.ServingStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ServingStatus {
    /// 0.
    Unknown,
    /// 1.
    Serving,
    /// 2.
    NotServing,
    /// 3 (only for `Watch`).
    ServiceUnknown,
}

/// Characters of `grpc-message` that must be percent-encoded: everything outside printable
/// ASCII, and `%` itself (gRPC over HTTP/2, "Responses").
const MESSAGE_ESCAPES: &AsciiSet = &CONTROLS.add(b'%');

// === impl ServingStatus ===

impl ServingStatus {
    /// The wire number.
    pub(crate) fn number(self) -> i32 {
        match self {
            ServingStatus::Unknown => 0,
            ServingStatus::Serving => 1,
            ServingStatus::NotServing => 2,
            ServingStatus::ServiceUnknown => 3,
        }
    }

    /// From the wire number (unknown numbers are `Unknown`).
    pub(crate) fn from_number(n: i32) -> Self {
        match n {
            1 => ServingStatus::Serving,
            2 => ServingStatus::NotServing,
            3 => ServingStatus::ServiceUnknown,
            _ => ServingStatus::Unknown,
        }
    }

    /// The proto enum name, for logs and health reports.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ServingStatus::Unknown => "UNKNOWN",
            ServingStatus::Serving => "SERVING",
            ServingStatus::NotServing => "NOT_SERVING",
            ServingStatus::ServiceUnknown => "SERVICE_UNKNOWN",
        }
    }
}

/// The gRPC status for an HTTP status, as the gRPC specification maps them
/// ("HTTP to gRPC Status Code Mapping"), extended for the statuses Axon's own fault
/// handling produces (500 mediation failure, 413 body too large, 504 timeout).
pub(crate) fn code_for_http(status: u16) -> u32 {
    match status {
        200..=299 => code::OK,
        400 => code::INTERNAL,
        401 => code::UNAUTHENTICATED,
        403 => code::PERMISSION_DENIED,
        404 | 405 | 410 | 501 => code::UNIMPLEMENTED,
        408 | 504 => code::DEADLINE_EXCEEDED,
        413 | 429 => code::RESOURCE_EXHAUSTED,
        500 => code::INTERNAL,
        502 | 503 => code::UNAVAILABLE,
        _ => code::UNKNOWN,
    }
}

/// The name of a status code, for messages.
pub(crate) fn code_name(code: u32) -> &'static str {
    match code {
        0 => "OK",
        1 => "CANCELLED",
        2 => "UNKNOWN",
        3 => "INVALID_ARGUMENT",
        4 => "DEADLINE_EXCEEDED",
        5 => "NOT_FOUND",
        6 => "ALREADY_EXISTS",
        7 => "PERMISSION_DENIED",
        8 => "RESOURCE_EXHAUSTED",
        9 => "FAILED_PRECONDITION",
        10 => "ABORTED",
        11 => "OUT_OF_RANGE",
        12 => "UNIMPLEMENTED",
        13 => "INTERNAL",
        14 => "UNAVAILABLE",
        15 => "DATA_LOSS",
        16 => "UNAUTHENTICATED",
        _ => "UNKNOWN_CODE",
    }
}

/// Parses a `grpc-timeout` value: 1 to 8 ASCII digits and a unit (`H`, `M`, `S`, `m`,
/// `u`, `n`). `None` when malformed.
pub fn parse_timeout(value: &[u8]) -> Option<Duration> {
    let (&unit, digits) = value.split_last()?;
    if digits.is_empty() || digits.len() > 8 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n: u64 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some(match unit {
        b'H' => Duration::from_secs(n * 3600),
        b'M' => Duration::from_secs(n * 60),
        b'S' => Duration::from_secs(n),
        b'm' => Duration::from_millis(n),
        b'u' => Duration::from_micros(n),
        b'n' => Duration::from_nanos(n),
        _ => return None,
    })
}

/// Encodes `d` as a `grpc-timeout` value, in the finest unit whose count fits in 8 digits.
/// The count is rounded up, so a positive remainder is never sent as zero.
pub(crate) fn encode_timeout(d: Duration) -> HeaderValue {
    const MAX: u128 = 99_999_999;
    let nanos = d.as_nanos().max(1);
    let units: [(u128, char); 6] = [
        (1, 'n'),
        (1_000, 'u'),
        (1_000_000, 'm'),
        (1_000_000_000, 'S'),
        (60_000_000_000, 'M'),
        (3_600_000_000_000, 'H'),
    ];
    for (per, unit) in units {
        let count = nanos.div_ceil(per);
        if count <= MAX {
            return HeaderValue::from_str(&format!("{count}{unit}"))
                .unwrap_or(HeaderValue::from_static("99999999H"));
        }
    }
    HeaderValue::from_static("99999999H")
}

/// Frames one message: the 5-byte prefix (not compressed, big-endian length) and the bytes.
pub fn frame(message: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(5 + message.len());
    out.put_u8(0);
    out.put_u32(u32::try_from(message.len()).unwrap_or(u32::MAX));
    out.put_slice(message);
    out.freeze()
}

/// The first complete, uncompressed message of a gRPC body. `None` when the body holds no
/// complete message or it is compressed.
pub fn first_message(body: &[u8]) -> Option<&[u8]> {
    let (&flag, rest) = body.split_first()?;
    if flag != 0 || rest.len() < 4 {
        return None;
    }
    let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
    rest.get(4..4 + len)
}

/// Percent-encodes a `grpc-message` value.
pub(crate) fn encode_message(text: &str) -> HeaderValue {
    let encoded = utf8_percent_encode(text, MESSAGE_ESCAPES).to_string();
    HeaderValue::from_str(&encoded).unwrap_or(HeaderValue::from_static("error"))
}

/// Decodes a `grpc-message` value (lossy for invalid UTF-8).
pub fn decode_message(value: &HeaderValue) -> String {
    let raw = String::from_utf8_lossy(value.as_bytes());
    percent_decode_str(&raw).decode_utf8_lossy().into_owned()
}

/// True for `application/grpc` and its `+proto`/`+json`/`;...` variants.
pub(crate) fn is_grpc_content_type(value: &[u8]) -> bool {
    value
        .strip_prefix(b"application/grpc")
        .is_some_and(|rest| rest.is_empty() || rest[0] == b'+' || rest[0] == b';')
}

impl<F> hyper::rt::Executor<F> for LocalExec
where
    F: std::future::Future + 'static,
{
    fn execute(&self, fut: F) {
        tokio::task::spawn_local(fut);
    }
}

#[cfg(test)]
mod tests;
