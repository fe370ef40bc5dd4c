//! HTTP/2 connections to gRPC backends: one multiplexed connection per backend per thread.
//!
//! Like the awc client of HTTP leaves, connections are thread-local: the calls of a worker
//! share that worker's connection to a backend, and the connection's task runs on the same
//! thread, so no request crosses threads and no lock is taken. Concurrent first calls share
//! one connection attempt. A closed connection is replaced on the next call.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures_util::FutureExt as _;
use futures_util::future::{LocalBoxFuture, Shared};
use hyper::client::conn::http2::{Builder, SendRequest};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpStream;

use crate::config::GrpcSpec;
use crate::grpc::LocalExec;
use crate::message::grpc::GrpcBody;

/// Longest time to establish a TCP (and TLS) connection, within the call's deadline.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// HTTP/2 PING interval and timeout: a backend that stops answering is noticed even when
/// calls are long-lived streams.
const KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(30);
const KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(20);

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
}

type Connecting = Shared<LocalBoxFuture<'static, Result<SendRequest<GrpcBody>, Arc<ConnectError>>>>;

enum Slot {
    Ready(SendRequest<GrpcBody>),
    Connecting(Connecting),
}

thread_local! {
    static POOL: RefCell<HashMap<String, Slot>> = RefCell::new(HashMap::new());
}

/// A sender on this thread's connection to `spec`'s backend, connecting when there is none.
///
/// # Errors
/// Why the connection could not be made.
pub(crate) async fn sender(spec: &GrpcSpec) -> Result<SendRequest<GrpcBody>, Arc<ConnectError>> {
    let pending = POOL.with(|pool| {
        let mut pool = pool.borrow_mut();
        match pool.get(spec.uri.as_str()) {
            Some(Slot::Ready(s)) if !s.is_closed() => return Ok(s.clone()),
            Some(Slot::Connecting(f)) => match f.peek() {
                None => return Err(f.clone()),
                Some(Ok(s)) if !s.is_closed() => {
                    let s = s.clone();
                    pool.insert(spec.uri.clone(), Slot::Ready(s.clone()));
                    return Ok(s);
                }
                // A finished attempt that failed, or whose connection has closed: retry.
                Some(_) => {}
            },
            _ => {}
        }
        let attempt = connect(spec.clone()).boxed_local().shared();
        pool.insert(spec.uri.clone(), Slot::Connecting(attempt.clone()));
        Err(attempt)
    });
    match pending {
        Ok(sender) => Ok(sender),
        Err(attempt) => attempt.await,
    }
}

/// Drops this thread's connection to `spec`'s backend (it refused a call as not ready).
pub(crate) fn forget(spec: &GrpcSpec) {
    POOL.with(|pool| {
        let mut pool = pool.borrow_mut();
        if matches!(pool.get(spec.uri.as_str()), Some(Slot::Ready(_))) {
            pool.remove(spec.uri.as_str());
        }
    });
}

async fn connect(spec: GrpcSpec) -> Result<SendRequest<GrpcBody>, Arc<ConnectError>> {
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
        return handshake(TokioIo::new(tcp), &authority).await;
    }
    let name = rustls::pki_types::ServerName::try_from(spec.host.clone()).map_err(|error| {
        Arc::new(ConnectError::Tls(
            authority.clone(),
            std::io::Error::new(std::io::ErrorKind::InvalidInput, error),
        ))
    })?;
    let connector = tokio_rustls::TlsConnector::from(tls_config(&spec));
    let tls = match tokio::time::timeout(CONNECT_TIMEOUT, connector.connect(name, tcp)).await {
        Err(_) => return Err(Arc::new(ConnectError::Timeout(authority))),
        Ok(Err(error)) => return Err(Arc::new(ConnectError::Tls(authority, error))),
        Ok(Ok(tls)) => tls,
    };
    handshake(TokioIo::new(tls), &authority).await
}

async fn handshake<I>(io: I, authority: &str) -> Result<SendRequest<GrpcBody>, Arc<ConnectError>>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + 'static,
{
    let (sender, connection) = Builder::new(LocalExec)
        .timer(TokioTimer::new())
        .keep_alive_interval(KEEP_ALIVE_INTERVAL)
        .keep_alive_timeout(KEEP_ALIVE_TIMEOUT)
        .handshake(io)
        .await
        .map_err(|error| Arc::new(ConnectError::Handshake(authority.to_owned(), error)))?;
    let authority = authority.to_owned();
    tokio::task::spawn_local(async move {
        if let Err(error) = connection.await {
            tracing::debug!(backend = %authority, %error, "gRPC backend connection ended");
        }
    });
    Ok(sender)
}

/// TLS to a gRPC backend, ALPN `h2`: the endpoint's own `caCertificate`, else the web PKI
/// roots (built once).
fn tls_config(spec: &GrpcSpec) -> Arc<rustls::ClientConfig> {
    static WEB_PKI: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    if spec.trusted.is_empty() {
        return WEB_PKI
            .get_or_init(|| {
                client_config(rustls::RootCertStore {
                    roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
                })
            })
            .clone();
    }
    let mut roots = rustls::RootCertStore::empty();
    let (added, ignored) = roots.add_parsable_certificates(spec.trusted.iter().cloned());
    if ignored > 0 {
        tracing::warn!(backend = %spec.uri, added, ignored, "Some caCertificate entries are not usable trust anchors");
    }
    client_config(roots)
}

fn client_config(roots: rustls::RootCertStore) -> Arc<rustls::ClientConfig> {
    crate::tls::install_crypto_provider();
    let mut config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    Arc::new(config)
}
