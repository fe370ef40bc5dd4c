//! HTTP/2 connections to gRPC backends: a bounded set of multiplexed connections per
//! backend per thread.
//!
//! Like the awc client of HTTP leaves, connections are thread-local: the calls of a worker
//! share that worker's connections to a backend, and the connections' tasks run on the same
//! thread, so no request crosses threads and no lock is taken.
//!
//! A connection carries at most as many calls as the backend's `MAX_CONCURRENT_STREAMS`
//! allows and Axon's own per-connection cap; a call that finds every connection full
//! opens another (up to the per-backend cap), else waits for a stream to end, within its
//! deadline. One connection attempt runs at a time per backend; concurrent calls share it.
//!
//! Flow control: every stream has a fixed receive window (`--grpc-backend-stream-window`)
//! and the
//! connection's window is the sum of the windows of all the streams it may carry. A call
//! whose client does not read holds at most its own stream's window, never a share of the
//! window the other calls need: a slow reader only slows itself.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures_util::FutureExt as _;
use futures_util::future::{LocalBoxFuture, Shared};
use hyper::client::conn::http2::{Builder, SendRequest};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::preface::{Preface, Watched};
use crate::base::grpc::LocalExec;
use crate::base::tls::BackendTls;
use crate::config::GrpcSpec;
use crate::message::grpc::GrpcBody;

/// Longest time to establish a TCP (and TLS) connection, within the call's deadline.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// HTTP/2 PING interval and timeout: a backend that stops answering is noticed even when
/// calls are long-lived streams.
const KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(30);
const KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(20);
/// The smallest and largest receive window of one backend stream (HTTP/2 allows 2^31 - 1).
const MIN_WINDOW: u32 = 16 * 1024;
const MAX_WINDOW: u32 = 0x7fff_ffff;
/// The stream limit h2 assumes until the backend's first SETTINGS arrive; a backend cannot
/// announce it (the setting is 32 bits), so it means "not known yet".
const LIMIT_UNKNOWN: usize = usize::MAX - 1;

/// How many connections and streams a worker may use towards one backend.
#[derive(Debug, Clone)]
pub(crate) struct PoolLimits {
    /// Connections per worker thread per backend.
    pub(crate) connections: usize,
    /// Concurrent calls per connection (the backend's own limit applies when lower).
    pub(crate) streams: usize,
    /// The receive window of one backend stream: the most a backend can send ahead of what
    /// the call's client has read, and so the most one call buffers in Axon.
    pub(crate) window: u32,
    /// How the backend's TLS is trusted and what client certificate it is shown.
    pub(crate) tls: Arc<crate::base::tls::BackendTls>,
}

impl From<&crate::base::limits::Limits> for PoolLimits {
    fn from(limits: &crate::base::limits::Limits) -> Self {
        PoolLimits {
            connections: limits.grpc_backend_connections.max(1),
            streams: limits.grpc_backend_streams.max(1),
            window: limits
                .grpc_backend_stream_window
                .clamp(MIN_WINDOW, MAX_WINDOW),
            tls: limits.backend_tls.clone(),
        }
    }
}

/// Why no connection could be had. Nothing of the call was sent.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectError {
    /// TCP connect failed (refused, unreachable, unknown host).
    #[error("connect to {0} failed: {1}")]
    Refused(String, #[source] std::io::Error),
    /// TCP or TLS connect took longer than the connect timeout.
    #[error("connect to {0} timed out")]
    Timeout(String),
    /// The TLS handshake failed.
    #[error("TLS handshake with {0} failed: {1}")]
    Tls(String, #[source] std::io::Error),
    /// The HTTP/2 handshake failed.
    #[error("HTTP/2 handshake with {0} failed: {1}")]
    Handshake(String, #[source] hyper::Error),
    /// The backend closed the connection before sending its HTTP/2 settings.
    #[error("{0} closed the connection before its HTTP/2 settings")]
    NoSettings(String),
}

/// Why no stream could be had. Nothing of the call was sent.
#[derive(Debug)]
pub(crate) enum NoStream {
    /// No connection could be made.
    Connect(Arc<ConnectError>),
    /// The deadline passed while connecting.
    ConnectDeadline,
    /// The deadline passed while every allowed connection was full.
    Busy,
}

type Connecting = Shared<LocalBoxFuture<'static, Result<(), Arc<ConnectError>>>>;

/// What the calls on one connection share.
#[derive(Debug)]
struct ConnState {
    /// Calls on it now.
    active: Cell<usize>,
    /// The backend's `MAX_CONCURRENT_STREAMS`, as last seen by the connection's task.
    max_send: Cell<usize>,
    /// The backend refused a stream: no new call until one of its calls ends.
    refused: Cell<bool>,
    /// The connection is closing or closed.
    closed: Cell<bool>,
    /// The backend's waiters, woken when a stream ends or a connection comes or goes.
    freed: Rc<Notify>,
}

struct Conn {
    sender: SendRequest<GrpcBody>,
    state: Rc<ConnState>,
}

#[derive(Default)]
struct Backend {
    conns: Vec<Conn>,
    connecting: Option<Connecting>,
    freed: Rc<Notify>,
}

/// A call's place on a connection, freed when dropped.
#[derive(Debug)]
pub(crate) struct Lease {
    conn: Rc<ConnState>,
    /// This call was refused: its end does not make room on the connection.
    refused: bool,
}

/// A sender on a connection with room for one more call, and that call's place.
pub(crate) struct Stream {
    pub(crate) sender: SendRequest<GrpcBody>,
    pub(crate) lease: Lease,
}

enum Pick {
    Ready(Stream),
    Connect(Connecting),
    Wait(Rc<Notify>),
}

thread_local! {
    static POOL: RefCell<HashMap<String, Backend>> = RefCell::new(HashMap::new());
}

/// A stream on one of this thread's connections to `spec`'s backend, before `deadline`:
/// on a connection with room, else on a new one (within `limits`), else the first that
/// frees up.
///
/// # Errors
/// Why no stream could be had; nothing of the call was sent.
pub(crate) async fn stream(
    spec: &GrpcSpec,
    limits: &PoolLimits,
    deadline: Instant,
) -> Result<Stream, NoStream> {
    loop {
        match pick(spec, limits) {
            Pick::Ready(stream) => return Ok(stream),
            Pick::Connect(attempt) => match tokio::time::timeout_at(deadline, attempt).await {
                Err(_) => return Err(NoStream::ConnectDeadline),
                Ok(Err(error)) => return Err(NoStream::Connect(error)),
                Ok(Ok(())) => {}
            },
            Pick::Wait(freed) => {
                let notified = freed.notified();
                if tokio::time::timeout_at(deadline, notified).await.is_err() {
                    return Err(NoStream::Busy);
                }
            }
        }
    }
}

fn pick(spec: &GrpcSpec, limits: &PoolLimits) -> Pick {
    POOL.with(|pool| {
        let mut pool = pool.borrow_mut();
        let backend = pool.entry(pool_key(spec)).or_default();
        backend
            .conns
            .retain(|c| !c.state.closed.get() && !c.sender.is_closed());
        if let Some(conn) = backend.conns.iter().find(|c| c.state.has_room(limits)) {
            conn.state.active.set(conn.state.active.get() + 1);
            return Pick::Ready(Stream {
                sender: conn.sender.clone(),
                lease: Lease {
                    conn: conn.state.clone(),
                    refused: false,
                },
            });
        }
        if let Some(attempt) = &backend.connecting {
            return Pick::Connect(attempt.clone());
        }
        if backend.conns.len() < limits.connections {
            let attempt = add_connection(spec.clone(), limits.clone(), backend.freed.clone())
                .boxed_local()
                .shared();
            backend.connecting = Some(attempt.clone());
            return Pick::Connect(attempt);
        }
        Pick::Wait(backend.freed.clone())
    })
}

/// Connects to `spec`'s backend and adds the connection to this thread's pool.
async fn add_connection(
    spec: GrpcSpec,
    limits: PoolLimits,
    freed: Rc<Notify>,
) -> Result<(), Arc<ConnectError>> {
    let connected = connect(spec.clone(), limits, freed.clone()).await;
    let result = connected.as_ref().map(|_| ()).map_err(Arc::clone);
    POOL.with(|pool| {
        let mut pool = pool.borrow_mut();
        let backend = pool.entry(pool_key(&spec)).or_default();
        backend.connecting = None;
        if let Ok(conn) = connected {
            backend.conns.push(conn);
        }
    });
    freed.notify_waiters();
    result
}

impl ConnState {
    fn has_room(&self, limits: &PoolLimits) -> bool {
        !self.refused.get()
            && !self.closed.get()
            && self.active.get() < limits.streams.min(self.max_send.get())
    }
}

impl Lease {
    /// The backend refused this call (REFUSED_STREAM). When other calls are open on the
    /// connection, it is at a limit the backend did not announce: it takes no new call
    /// until one of them ends.
    pub(crate) fn refused(&mut self) {
        if self.conn.active.get() > 1 {
            self.refused = true;
            self.conn.refused.set(true);
        }
    }

    /// The connection is closing: no new call goes to it.
    pub(crate) fn retire(&self) {
        self.conn.closed.set(true);
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let conn = &self.conn;
        conn.active.set(conn.active.get().saturating_sub(1));
        if !self.refused {
            conn.refused.set(false);
        }
        conn.freed.notify_waiters();
    }
}

async fn connect(
    spec: GrpcSpec,
    limits: PoolLimits,
    freed: Rc<Notify>,
) -> Result<Conn, Arc<ConnectError>> {
    let authority = spec.authority.clone();
    let tcp = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&authority)).await {
        Err(_) => return Err(Arc::new(ConnectError::Timeout(authority))),
        Ok(Err(error)) => return Err(Arc::new(ConnectError::Refused(authority, error))),
        Ok(Ok(tcp)) => tcp,
    };
    if let Err(error) = tcp.set_nodelay(true) {
        tracing::debug!(%error, "TCP_NODELAY not set");
    }
    if !spec.tls {
        return handshake(tcp, &authority, limits, freed).await;
    }
    let name = rustls::pki_types::ServerName::try_from(spec.host.clone()).map_err(|error| {
        Arc::new(ConnectError::Tls(
            authority.clone(),
            std::io::Error::new(std::io::ErrorKind::InvalidInput, error),
        ))
    })?;
    let connector = tokio_rustls::TlsConnector::from(tls_config(&spec, &limits.tls));
    let tls = match tokio::time::timeout(CONNECT_TIMEOUT, connector.connect(name, tcp)).await {
        Err(_) => return Err(Arc::new(ConnectError::Timeout(authority))),
        Ok(Err(error)) => return Err(Arc::new(ConnectError::Tls(authority, error))),
        Ok(Ok(tls)) => tls,
    };
    handshake(tls, &authority, limits, freed).await
}

/// The connection's receive window: every stream it may carry can hold its whole window
/// at once without taking any from the others.
fn connection_window(limits: &PoolLimits) -> u32 {
    u32::try_from(limits.streams)
        .unwrap_or(u32::MAX)
        .saturating_mul(limits.window)
        .clamp(limits.window, MAX_WINDOW)
}

async fn handshake<I>(
    io: I,
    authority: &str,
    limits: PoolLimits,
    freed: Rc<Notify>,
) -> Result<Conn, Arc<ConnectError>>
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + 'static,
{
    let state = Rc::new(ConnState {
        active: Cell::new(0),
        max_send: Cell::new(LIMIT_UNKNOWN),
        refused: Cell::new(false),
        closed: Cell::new(false),
        freed,
    });
    let told = state.clone();
    let io = Watched::new(io, move |preface| {
        match preface {
            Preface::Limit(limit) => told.max_send.set(limit),
            Preface::Unusable => told.closed.set(true),
        }
        told.freed.notify_waiters();
    });
    let (sender, connection) = Builder::new(LocalExec)
        .timer(TokioTimer::new())
        .keep_alive_interval(KEEP_ALIVE_INTERVAL)
        .keep_alive_timeout(KEEP_ALIVE_TIMEOUT)
        .initial_max_send_streams(limits.streams)
        .initial_stream_window_size(limits.window)
        .initial_connection_window_size(connection_window(&limits))
        .handshake(TokioIo::new(io))
        .await
        .map_err(|error| Arc::new(ConnectError::Handshake(authority.to_owned(), error)))?;
    spawn_connection(connection, state.clone(), authority.to_owned());
    // Calls go to the connection once the backend's limit is known: before, h2 would
    // queue the calls past that limit behind ones that may never end.
    let settled = async {
        loop {
            let changed = state.freed.notified();
            if state.max_send.get() != LIMIT_UNKNOWN || state.closed.get() {
                return;
            }
            changed.await;
        }
    };
    let authority = authority.to_owned();
    let timed_out = tokio::time::timeout(CONNECT_TIMEOUT, settled)
        .await
        .is_err();
    match (timed_out, state.closed.get()) {
        (true, _) => Err(Arc::new(ConnectError::Timeout(authority))),
        (false, true) => Err(Arc::new(ConnectError::NoSettings(authority))),
        (false, false) => Ok(Conn { sender, state }),
    }
}

/// Runs the connection on this thread; marks it closed when it ends.
fn spawn_connection<C>(connection: C, state: Rc<ConnState>, backend: String)
where
    C: std::future::Future<Output = hyper::Result<()>> + 'static,
{
    tokio::task::spawn_local(async move {
        let ended = connection.await;
        state.closed.set(true);
        state.freed.notify_waiters();
        if let Err(error) = ended {
            tracing::debug!(%backend, %error, "gRPC backend connection ended");
        }
    });
}

/// The pool of a backend: its URI, and for a leaf with its own TLS settings those too, so
/// that a connection made under one leaf's trust never serves a leaf with a stricter one.
fn pool_key(spec: &GrpcSpec) -> String {
    if spec.trusted.is_empty() && !spec.any_host {
        return spec.uri.clone();
    }
    use std::hash::{Hash as _, Hasher as _};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    spec.trusted.hash(&mut hasher);
    format!(
        "{} any_host={} ca={:x}",
        spec.uri,
        spec.any_host,
        hasher.finish()
    )
}

/// TLS to a gRPC backend, ALPN `h2`: the endpoint's own `caCertificate`, else `tls`'s
/// trust (`--backend-ca`, else the web PKI roots, built once), with `tls`'s client
/// certificate.
fn tls_config(spec: &GrpcSpec, tls: &BackendTls) -> Arc<rustls::ClientConfig> {
    static WEB_PKI: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    if spec.trusted.is_empty() && tls.is_public() && !spec.any_host {
        return WEB_PKI
            .get_or_init(|| tls.client_config(None, false, &[b"h2"]))
            .clone();
    }
    let own = (!spec.trusted.is_empty()).then_some(spec.trusted.as_slice());
    tls.client_config(own, spec.any_host, &[b"h2"])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stream_a_connection_may_carry_has_its_whole_window() {
        let limits = |streams, window| PoolLimits {
            tls: Arc::default(),
            connections: 1,
            streams,
            window,
        };
        assert_eq!(
            connection_window(&limits(100, 256 * 1024)),
            25 * 1024 * 1024
        );
        assert_eq!(connection_window(&limits(1, MIN_WINDOW)), MIN_WINDOW);
        assert_eq!(
            connection_window(&limits(0, MIN_WINDOW)),
            MIN_WINDOW,
            "never below one stream's"
        );
        // HTTP/2 windows are at most 2^31 - 1.
        assert_eq!(
            connection_window(&limits(usize::MAX, MIN_WINDOW)),
            MAX_WINDOW
        );
        let default = PoolLimits::from(&crate::base::limits::Limits::default());
        assert_eq!(
            (default.connections, default.streams, default.window),
            (8, 100, 256 * 1024)
        );
    }
}
