//! Limits that apply to every message, set from the command line and read by every layer.

use std::time::Duration;

use super::budget::XmlLimits;

/// Limits that apply to every message.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest body a mediator may read into memory.
    pub max_body: usize,
    /// Deadline of an endpoint attempt without `<timeout><duration>`.
    pub global_timeout: Duration,
    /// gRPC front: connections open at once on the gRPC port; over it a new connection is
    /// accepted and closed at once (`None`: derived from the descriptor limit, see
    /// `front::limits::connection_cap`).
    pub grpc_max_connections: Option<usize>,
    /// gRPC front: how long a TLS handshake may take.
    pub grpc_handshake_timeout: Duration,
    /// gRPC front: how long a new connection (after its TLS handshake) may take to send the
    /// HTTP/2 preface and its first frame.
    pub grpc_preface_timeout: Duration,
    /// gRPC front: a connection with no open call for this long gets GOAWAY and is closed.
    pub grpc_idle_timeout: Duration,
    /// gRPC front: concurrent calls per connection (`SETTINGS_MAX_CONCURRENT_STREAMS`).
    pub grpc_max_streams_per_connection: u32,
    /// gRPC front: concurrent calls on the whole gRPC port; over it RESOURCE_EXHAUSTED.
    pub grpc_max_streams: usize,
    /// gRPC front: SETTINGS, PING, PRIORITY, empty DATA and unknown frames one connection
    /// may send per second; over it GOAWAY ENHANCE_YOUR_CALM and the connection is closed.
    pub grpc_max_control_frames_per_sec: u32,
    /// Longest wait for the next bytes of a client's request body (408 when it passes).
    pub body_read_timeout: Duration,
    /// Longest wait for a client's complete request head on a new connection (408).
    pub header_read_timeout: Duration,
    /// How long an idle keep-alive client connection is kept open.
    pub keep_alive: Duration,
    /// Largest request head (request line and headers), in bytes (431 past it).
    pub max_header_bytes: usize,
    /// Most client connections the HTTP front holds open, over all workers.
    /// (`None`: 10,000, or the port's share of the open-file limit when that is lower; see
    /// `front::limits`).
    pub max_connections: Option<usize>,
    /// Longest drain of in-flight exchanges on a graceful stop; those still running
    /// then are answered 503 with `Connection: close`.
    pub drain_timeout: Duration,
    /// Whether TRACE requests are served (refused with 405 by default).
    pub allow_trace: bool,
    /// The fields of the HTTP front's access-log line (`--access-log`).
    pub access_log: AccessLog,
    /// Longest wait for the next bytes of a backend's response body, for an endpoint without
    /// `<timeout><duration>` (which is used instead when set).
    pub backend_read_timeout: Duration,
    /// HTTP/2 connections each worker may open to one gRPC backend.
    pub grpc_backend_connections: usize,
    /// Concurrent calls on one connection to a gRPC backend (the backend's own
    /// `MAX_CONCURRENT_STREAMS` applies when lower).
    pub grpc_backend_streams: usize,
    /// Receive window, in bytes, of one call to a gRPC backend: the most Axon buffers for
    /// a call whose client does not read.
    pub grpc_backend_stream_window: u32,
    /// What one XML document built from a message may cost (nodes, attributes, memory).
    pub xml: XmlLimits,
    /// The `To` addresses a bare `<send/>` may go to (`--allow-to`; default: none), shared
    /// by every generation of one server.
    pub allow_to: std::sync::Arc<super::allow_to::AllowTo>,
    /// How TLS backends are trusted and what client certificate they are shown
    /// (`--backend-ca`, `--backend-cert`; default: the public roots), shared by every
    /// generation of one server.
    pub backend_tls: std::sync::Arc<super::tls::BackendTls>,
    /// Who gets the `X-Axon-Trace` header (`--trace-header`, `--trace-debug-header`).
    pub trace: TracePolicy,
    /// Branches of one fan-out (`clone`, `iterate`) that run at once, per message.
    pub max_branches: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body: 10 * 1024 * 1024,
            global_timeout: Duration::from_secs(60),
            grpc_max_connections: None,
            grpc_handshake_timeout: Duration::from_secs(10),
            grpc_preface_timeout: Duration::from_secs(10),
            grpc_idle_timeout: Duration::from_secs(300),
            grpc_max_streams_per_connection: 100,
            grpc_max_streams: 10_000,
            grpc_max_control_frames_per_sec: 100,
            body_read_timeout: Duration::from_secs(30),
            header_read_timeout: Duration::from_secs(5),
            keep_alive: Duration::from_secs(5),
            max_header_bytes: 32 * 1024,
            max_connections: None,
            drain_timeout: Duration::from_secs(30),
            allow_trace: false,
            access_log: AccessLog::ALL,
            backend_read_timeout: Duration::from_secs(60),
            grpc_backend_connections: 8,
            grpc_backend_streams: 100,
            grpc_backend_stream_window: 256 * 1024,
            xml: XmlLimits::default(),
            allow_to: std::sync::Arc::default(),
            backend_tls: std::sync::Arc::default(),
            trace: TracePolicy::default(),
            max_branches: 64,
        }
    }
}

/// Who gets the `X-Axon-Trace` header: it names internal endpoints, so by default only clients on a
/// loopback address, and requests carrying the configured debug header.
#[derive(Debug, Clone)]
pub struct TracePolicy {
    /// Every client gets it.
    pub all: bool,
    /// Clients on a loopback address get it.
    pub loopback: bool,
    /// A request header whose presence turns it on for that request.
    pub debug_header: Option<std::sync::Arc<str>>,
}

impl Default for TracePolicy {
    fn default() -> Self {
        TracePolicy {
            all: false,
            loopback: true,
            debug_header: None,
        }
    }
}

impl TracePolicy {
    /// True when a client at `peer` whose request has the headers `has_header` tells
    /// present gets the trace header.
    pub(crate) fn allows(
        &self,
        peer: Option<std::net::IpAddr>,
        has_header: impl Fn(&str) -> bool,
    ) -> bool {
        self.all
            || (self.loopback && peer.is_some_and(|ip| ip.to_canonical().is_loopback()))
            || self.debug_header.as_deref().is_some_and(has_header)
    }
}

/// The fields of the access-log line (`--access-log`): a set of flags, or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessLog(u16);

impl AccessLog {
    pub(crate) const CLIENT: u16 = 1;
    pub(crate) const METHOD: u16 = 1 << 1;
    pub(crate) const PATH: u16 = 1 << 2;
    pub(crate) const API: u16 = 1 << 3;
    pub(crate) const STATUS: u16 = 1 << 4;
    pub(crate) const BYTES: u16 = 1 << 5;
    pub(crate) const LATENCY: u16 = 1 << 6;
    pub(crate) const ENDPOINT: u16 = 1 << 7;
    pub(crate) const ERROR_CODE: u16 = 1 << 8;
    pub(crate) const MESSAGE_ID: u16 = 1 << 9;

    /// The field names `--access-log` takes, with their flags.
    const NAMES: [(&'static str, u16); 10] = [
        ("client", Self::CLIENT),
        ("method", Self::METHOD),
        ("path", Self::PATH),
        ("api", Self::API),
        ("status", Self::STATUS),
        ("bytes", Self::BYTES),
        ("latency", Self::LATENCY),
        ("endpoint", Self::ENDPOINT),
        ("error_code", Self::ERROR_CODE),
        ("message_id", Self::MESSAGE_ID),
    ];

    /// Every field (the default).
    pub const ALL: AccessLog = AccessLog((1 << 10) - 1);
    /// No access-log line at all.
    pub const OFF: AccessLog = AccessLog(0);

    /// True when no line is written.
    pub(crate) fn is_off(self) -> bool {
        self.0 == 0
    }

    /// True when `field` (one of the flags) is in the line.
    pub(crate) fn has(self, field: u16) -> bool {
        self.0 & field != 0
    }
}

impl std::str::FromStr for AccessLog {
    type Err = String;

    /// `off`, `all`, or a comma-separated list of field names.
    fn from_str(text: &str) -> Result<Self, String> {
        match text.trim() {
            "off" => return Ok(AccessLog::OFF),
            "all" => return Ok(AccessLog::ALL),
            _ => {}
        }
        let mut set = 0;
        for name in text.split(',').map(str::trim) {
            let Some((_, flag)) = Self::NAMES.iter().find(|(n, _)| *n == name) else {
                let known: Vec<&str> = Self::NAMES.iter().map(|(n, _)| *n).collect();
                return Err(format!(
                    "unknown access-log field `{name}`: use `off`, `all` or some of {}",
                    known.join(",")
                ));
            };
            set |= flag;
        }
        Ok(AccessLog(set))
    }
}

#[cfg(test)]
mod tests {
    use super::TracePolicy;

    #[test]
    fn the_trace_goes_to_loopback_and_to_requests_with_the_debug_header() {
        let local = Some("127.0.0.1".parse().unwrap());
        let mapped = Some("::ffff:127.0.0.1".parse().unwrap());
        let remote = Some("10.0.0.7".parse().unwrap());
        let none = |_: &str| false;
        let policy = TracePolicy {
            debug_header: Some("x-debug".into()),
            ..TracePolicy::default()
        };
        assert!(policy.allows(local, none));
        assert!(policy.allows(mapped, none));
        assert!(!policy.allows(remote, none));
        assert!(!policy.allows(None, none));
        assert!(policy.allows(remote, |name| name == "x-debug"));
        let off = TracePolicy {
            loopback: false,
            ..policy
        };
        assert!(!off.allows(local, none));
        let all = TracePolicy { all: true, ..off };
        assert!(all.allows(remote, none));
    }
}
