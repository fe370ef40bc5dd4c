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
            backend_read_timeout: Duration::from_secs(60),
            grpc_backend_connections: 8,
            grpc_backend_streams: 100,
            grpc_backend_stream_window: 256 * 1024,
            xml: XmlLimits::default(),
            allow_to: std::sync::Arc::default(),
        }
    }
}
