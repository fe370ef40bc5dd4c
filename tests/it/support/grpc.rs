//! A real gRPC backend (tonic) for the gRPC tests: the `axon.test.Echo` service of
//! `tests/proto/echo.proto` with all four call kinds, plus the standard health service.

use std::net::TcpListener;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_stream::{Stream, StreamExt as _};
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::{Request, Response, Status, Streaming};

pub mod pb {
    #![allow(clippy::all, unreachable_pub, missing_debug_implementations)]
    tonic::include_proto!("axon.test");
}

use pb::echo_server::{Echo, EchoServer};
use pb::{EchoReply, EchoRequest};

/// Details bytes the backend puts in failed calls (`grpc-status-details-bin`).
pub const DETAILS: &[u8] = b"\x08\x05\x12\x0bdetail\x00\xffbytes";

/// One call as the backend saw it.
#[derive(Debug, Clone)]
pub struct SeenCall {
    pub method: &'static str,
    pub metadata: http::HeaderMap,
}

#[derive(Clone)]
struct Service {
    name: String,
    seen: Arc<Mutex<Vec<SeenCall>>>,
    produced: Arc<AtomicUsize>,
    cancelled: Arc<AtomicUsize>,
}

/// A running Echo backend.
pub struct GrpcBackend {
    pub port: u16,
    pub seen: Arc<Mutex<Vec<SeenCall>>>,
    /// Replies a server stream has handed to tonic so far.
    pub produced: Arc<AtomicUsize>,
    /// Bidi calls whose request stream was cancelled (reset) instead of ending.
    pub cancelled: Arc<AtomicUsize>,
    pub health: tonic_health::server::HealthReporter,
    task: actix_rt::task::JoinHandle<()>,
}

impl GrpcBackend {
    pub async fn start(name: &str) -> GrpcBackend {
        Self::start_on(TcpListener::bind("127.0.0.1:0").expect("bind"), name, None).await
    }

    /// A backend that allows at most `streams` concurrent calls per connection (HTTP/2
    /// `MAX_CONCURRENT_STREAMS`).
    pub async fn start_limited(name: &str, streams: u32) -> GrpcBackend {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        Self::start_with(listener, name, None, Some(streams)).await
    }

    pub async fn start_on_port(port: u16, name: &str) -> GrpcBackend {
        let listener = crate::support::rebind(port);
        Self::start_on(listener, name, None).await
    }

    /// A backend serving h2 over TLS with this PEM certificate and key.
    pub async fn start_tls(name: &str, cert_pem: &str, key_pem: &str) -> GrpcBackend {
        let identity = tonic::transport::Identity::from_pem(cert_pem, key_pem);
        let tls = tonic::transport::ServerTlsConfig::new().identity(identity);
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        Self::start_on(listener, name, Some(tls)).await
    }

    async fn start_on(
        listener: TcpListener,
        name: &str,
        tls: Option<tonic::transport::ServerTlsConfig>,
    ) -> GrpcBackend {
        Self::start_with(listener, name, tls, None).await
    }

    async fn start_with(
        listener: TcpListener,
        name: &str,
        tls: Option<tonic::transport::ServerTlsConfig>,
        max_streams: Option<u32>,
    ) -> GrpcBackend {
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("addr").port();
        let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
        let service = Service {
            name: name.to_owned(),
            seen: Arc::default(),
            produced: Arc::default(),
            cancelled: Arc::default(),
        };
        let (seen, produced) = (service.seen.clone(), service.produced.clone());
        let cancelled = service.cancelled.clone();
        let (health, health_service) = tonic_health::server::health_reporter();
        health
            .set_service_status("axon.test.Echo", tonic_health::ServingStatus::Serving)
            .await;
        let task = actix_rt::spawn(async move {
            let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
            let mut builder =
                tonic::transport::Server::builder().max_concurrent_streams(max_streams);
            if let Some(tls) = tls {
                builder = builder.tls_config(tls).expect("backend TLS");
            }
            let served = builder
                .add_service(EchoServer::new(service))
                .add_service(health_service)
                .serve_with_incoming(incoming)
                .await;
            if let Err(error) = served {
                eprintln!("test gRPC backend stopped: {error}");
            }
        });
        GrpcBackend {
            port,
            seen,
            produced,
            cancelled,
            health,
            task,
        }
    }

    pub fn uri(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn calls(&self) -> usize {
        self.seen.lock().expect("lock").len()
    }

    pub fn last(&self) -> SeenCall {
        self.seen
            .lock()
            .expect("lock")
            .last()
            .cloned()
            .expect("the gRPC backend saw no call")
    }
}

impl Drop for GrpcBackend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Service {
    fn record<T>(&self, method: &'static str, req: &Request<T>) {
        self.seen.lock().expect("lock").push(SeenCall {
            method,
            metadata: req.metadata().clone().into_headers(),
        });
    }

    fn reply(&self, message: String, index: u32) -> EchoReply {
        EchoReply {
            message,
            server: self.name.clone(),
            index,
            padding: Vec::new(),
        }
    }
}

/// The response metadata every successful call carries, and the echo of `x-echo`.
fn reply_metadata(request: &MetadataMap, into: &mut MetadataMap) {
    into.insert("x-reply", MetadataValue::from_static("from-backend"));
    into.insert_bin(
        "x-reply-bin",
        MetadataValue::from_bytes(&[0u8, 1, 2, 0xfe, 0xff]),
    );
    if let Some(v) = request.get("x-echo") {
        into.insert("x-echo", v.clone());
    }
}

fn failure(code: i32) -> Status {
    let mut trailers = MetadataMap::new();
    trailers.insert("x-trailer", MetadataValue::from_static("kept"));
    trailers.insert_bin("x-trailer-bin", MetadataValue::from_bytes(&[9u8, 0, 9]));
    Status::with_details_and_metadata(
        tonic::Code::from(code),
        "failed as asked: 100% ünïcode",
        DETAILS.to_vec().into(),
        trailers,
    )
}

type ReplyStream = Pin<Box<dyn Stream<Item = Result<EchoReply, Status>> + Send>>;

#[tonic::async_trait]
impl Echo for Service {
    async fn unary(&self, req: Request<EchoRequest>) -> Result<Response<EchoReply>, Status> {
        self.record("Unary", &req);
        let metadata = req.metadata().clone();
        let r = req.into_inner();
        if r.delay_ms > 0 {
            tokio::time::sleep(Duration::from_millis(u64::from(r.delay_ms))).await;
        }
        if r.fail_code != 0 {
            return Err(failure(r.fail_code));
        }
        let mut reply = self.reply(r.message, 0);
        reply.padding = r.padding;
        let mut response = Response::new(reply);
        reply_metadata(&metadata, response.metadata_mut());
        Ok(response)
    }

    type ServerStreamStream = ReplyStream;

    async fn server_stream(
        &self,
        req: Request<EchoRequest>,
    ) -> Result<Response<Self::ServerStreamStream>, Status> {
        self.record("ServerStream", &req);
        let metadata = req.metadata().clone();
        let r = req.into_inner();
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        let this = self.clone();
        tokio::spawn(async move {
            for i in 0..r.count {
                if r.delay_ms > 0 {
                    tokio::time::sleep(Duration::from_millis(u64::from(r.delay_ms))).await;
                }
                let mut reply = this.reply(format!("{} #{i}", r.message), i);
                reply.padding = r.padding.clone();
                if tx.send(Ok(reply)).await.is_err() {
                    return;
                }
                this.produced.fetch_add(1, Ordering::SeqCst);
            }
            if r.fail_code != 0 {
                // The client may be gone; then nobody needs the status.
                tx.send(Err(failure(r.fail_code))).await.ok();
            }
        });
        let mut response =
            Response::new(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx)) as ReplyStream);
        reply_metadata(&metadata, response.metadata_mut());
        Ok(response)
    }

    async fn client_stream(
        &self,
        req: Request<Streaming<EchoRequest>>,
    ) -> Result<Response<EchoReply>, Status> {
        self.record("ClientStream", &req);
        let mut stream = req.into_inner();
        let mut parts = Vec::new();
        while let Some(item) = stream.next().await {
            parts.push(item?.message);
        }
        Ok(Response::new(
            self.reply(parts.join("+"), parts.len() as u32),
        ))
    }

    type BidiStream = ReplyStream;

    async fn bidi(
        &self,
        req: Request<Streaming<EchoRequest>>,
    ) -> Result<Response<Self::BidiStream>, Status> {
        self.record("Bidi", &req);
        // With `x-watch-cancel`, the call stays open after the request stream ends, until
        // the caller resets it (hyper reports a CANCEL as a clean end of the request).
        let watch = req.metadata().contains_key("x-watch-cancel");
        let mut stream = req.into_inner();
        let this = self.clone();
        let replies = async_stream_replies(move |tx| async move {
            let mut i = 0;
            loop {
                let item = tokio::select! {
                    item = stream.next() => item,
                    // The response was dropped while the call was open: reset by the caller.
                    () = tx.closed() => None,
                };
                let Some(item) = item else {
                    if watch || tx.is_closed() {
                        tx.closed().await;
                        this.cancelled.fetch_add(1, Ordering::SeqCst);
                    }
                    return;
                };
                let reply = item.map(|r| this.reply(format!("echo {}", r.message), i));
                i += 1;
                if tx.send(reply).await.is_err() {
                    this.cancelled.fetch_add(1, Ordering::SeqCst);
                    return;
                }
            }
        });
        Ok(Response::new(replies))
    }
}

/// A reply stream fed by a task.
fn async_stream_replies<F, Fut>(body: F) -> ReplyStream
where
    F: FnOnce(tokio::sync::mpsc::Sender<Result<EchoReply, Status>>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::spawn(body(tx));
    Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))
}

/// A request with just a message.
pub fn request(message: &str) -> EchoRequest {
    EchoRequest {
        message: message.to_owned(),
        ..EchoRequest::default()
    }
}

/// What a raw HTTP/2 call got back.
#[derive(Debug)]
pub struct RawReply {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: bytes::Bytes,
    pub trailers: Option<http::HeaderMap>,
}

impl RawReply {
    /// `grpc-status`, from the trailers or, for a trailers-only answer, the headers.
    pub fn grpc_status(&self) -> Option<u32> {
        self.trailers
            .as_ref()
            .unwrap_or(&self.headers)
            .get("grpc-status")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
    }

    pub fn grpc_message(&self) -> String {
        self.trailers
            .as_ref()
            .unwrap_or(&self.headers)
            .get("grpc-message")
            .map(axon::base::grpc::decode_message)
            .unwrap_or_default()
    }
}

/// One gRPC call on a fresh HTTP/2 connection with hyper, headers exactly as given (no
/// client library adds, strips or enforces anything, such as a local deadline timer).
pub async fn raw_call(
    addr: std::net::SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    message: &[u8],
) -> RawReply {
    use http_body_util::BodyExt as _;
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut send, conn) = hyper::client::conn::http2::handshake(
        axon::base::grpc::LocalExec,
        hyper_util::rt::TokioIo::new(tcp),
    )
    .await
    .expect("HTTP/2 handshake");
    actix_rt::spawn(async move {
        if let Err(error) = conn.await {
            eprintln!("raw test connection ended: {error}");
        }
    });
    let mut req = http::Request::post(format!("http://{addr}{path}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req
        .body(http_body_util::Full::new(axon::base::grpc::frame(message)))
        .expect("request");
    let resp = send.send_request(req).await.expect("response");
    let (parts, body) = resp.into_parts();
    let collected = body.collect().await.expect("body");
    RawReply {
        status: parts.status.as_u16(),
        headers: parts.headers,
        trailers: collected.trailers().cloned(),
        body: collected.to_bytes(),
    }
}

/// The headers of a well-formed gRPC call.
pub const GRPC_HEADERS: [(&str, &str); 2] =
    [("content-type", "application/grpc"), ("te", "trailers")];

/// A self-signed certificate for `localhost`, and Axon's gRPC TLS configuration with it.
pub struct LocalhostTls {
    pub cert_pem: String,
    pub cert_der: rustls::pki_types::CertificateDer<'static>,
    pub server: std::sync::Arc<rustls::ServerConfig>,
}

impl LocalhostTls {
    pub fn new() -> LocalhostTls {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("cert");
        let dir = tempfile::tempdir().expect("dir");
        let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        std::fs::write(&cert_path, cert.cert.pem()).expect("write cert");
        std::fs::write(&key_path, cert.signing_key.serialize_pem()).expect("write key");
        let server = axon::base::tls::server_config(&cert_path, &key_path, &[b"h2"]).expect("tls");
        LocalhostTls {
            cert_pem: cert.cert.pem(),
            cert_der: cert.cert.der().clone(),
            server,
        }
    }

    /// A tonic channel to `https://localhost:port` that trusts this certificate.
    pub async fn channel(&self, port: u16) -> tonic::transport::Channel {
        let tls = tonic::transport::ClientTlsConfig::new()
            .ca_certificate(tonic::transport::Certificate::from_pem(&self.cert_pem))
            .domain_name("localhost");
        tonic::transport::Channel::from_shared(format!("https://localhost:{port}"))
            .expect("uri")
            .tls_config(tls)
            .expect("tls")
            .connect()
            .await
            .expect("TLS connect")
    }
}
