//! Minimal HTTP/1.1 reverse proxies, one worker thread each, with mimalloc like Axon:
//!
//! - `floor actix-awc LISTEN ORIGIN`: actix-web front, awc client (Axon's stack, no mediation);
//! - `floor actix-hyper LISTEN ORIGIN`: actix-web front, hyper client on the same thread;
//! - `floor hyper LISTEN ORIGIN`: hyper server and hyper client on one current-thread runtime.
//!
//! Each forwards method, path, query, headers and a streamed body to ORIGIN (`host:port`)
//! over kept-alive connections and streams the response back.
//!
//! `floor grpc-origin LISTEN` is the harness's gRPC backend instead: an h2c server on one
//! thread answering every call with one fixed `EchoReply` and `grpc-status: 0` trailers.

use std::cell::RefCell;
use std::convert::Infallible;

use actix_web::body::SizedStream;
use actix_web::{App, HttpMessage as _, HttpRequest, HttpResponse, HttpServer, web};
use bytes::Bytes;
use futures_util::StreamExt as _;
use http_body_util::BodyExt as _;
use hyper_util::rt::TokioIo;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

type HyperBody = http_body_util::combinators::UnsyncBoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (mode, listen, origin) = match args.as_slice() {
        [_, mode, listen, origin] => (mode.clone(), listen.clone(), origin.clone()),
        [_, mode, listen] if mode == "grpc-origin" => (mode.clone(), listen.clone(), String::new()),
        _ => {
            eprintln!("usage: floor actix-awc|actix-hyper|hyper LISTEN ORIGIN");
            std::process::exit(64);
        }
    };
    if mode == "grpc-origin" {
        return grpc_origin(&listen);
    }
    let origin: &'static str = Box::leak(origin.into_boxed_str());
    match mode.as_str() {
        "actix-awc" | "actix-hyper" => actix(mode == "actix-hyper", &listen, origin),
        "hyper" => hyper_only(&listen, origin),
        _ => {
            eprintln!("unknown mode {mode}");
            std::process::exit(64);
        }
    }
}

// ---------------------------------------------------------------- actix-web front

fn actix(hyper_client: bool, listen: &str, origin: &'static str) -> std::io::Result<()> {
    actix_rt::System::new().block_on(async move {
        HttpServer::new(move || {
            App::new().default_service(web::to(move |req: HttpRequest, body: web::Payload| async move {
                if hyper_client { via_hyper(req, body, origin).await } else { via_awc(req, body, origin).await }
            }))
        })
        .workers(1)
        .bind(listen)?
        .run()
        .await
    })
}

thread_local! {
    static AWC: awc::Client = awc::Client::builder()
        .connector(awc::Connector::new().limit(0))
        .disable_timeout()
        .no_default_headers()
        .finish();
}

fn hop(name: &str) -> bool {
    matches!(name, "connection" | "keep-alive" | "transfer-encoding" | "content-length" | "host" | "te" | "upgrade")
}

async fn via_awc(req: HttpRequest, body: web::Payload, origin: &str) -> HttpResponse {
    let url = format!("http://{origin}{}", req.uri().path_and_query().map_or("/", |p| p.as_str()));
    let mut out = AWC.with(|c| c.request(req.method().clone(), url)).no_decompress();
    for (name, value) in req.headers() {
        if !hop(name.as_str()) {
            out.headers_mut().append(name.clone(), value.clone());
        }
    }
    let length = req.headers().get("content-length").and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    let sent = match length {
        Some(0) | None => out.send().await,
        Some(len) => out.send_body(SizedStream::new(len, body.into_inner())).await,
    };
    match sent {
        Ok(mut resp) => {
            let len = resp.headers().get("content-length").and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
            let mut builder = HttpResponse::build(resp.status());
            for (name, value) in resp.headers() {
                if !hop(name.as_str()) {
                    builder.append_header((name.clone(), value.clone()));
                }
            }
            match len {
                Some(len) => builder.body(SizedStream::new(len, resp.take_payload())),
                None => builder.streaming(resp.take_payload()),
            }
        }
        Err(_) => HttpResponse::BadGateway().finish(),
    }
}

// A per-thread pool of hyper HTTP/1 connections: a sender is taken out while a request
// uses it and put back once its response body has been read to the end.
thread_local! {
    static POOL: Pool = RefCell::default();
}

async fn hyper_sender(origin: &str) -> std::io::Result<hyper::client::conn::http1::SendRequest<HyperBody>> {
    loop {
        let idle = POOL.with(|p| p.borrow_mut().pop());
        match idle {
            Some(sender) if !sender.is_closed() => return Ok(sender),
            Some(_) => continue,
            None => break,
        }
    }
    let tcp = tokio::net::TcpStream::connect(origin).await?;
    tcp.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .map_err(std::io::Error::other)?;
    actix_rt::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

async fn via_hyper(req: HttpRequest, mut body: web::Payload, origin: &'static str) -> HttpResponse {
    let mut builder = http::Request::builder()
        .method(req.method().as_str())
        .uri(req.uri().path_and_query().map_or("/", |p| p.as_str()));
    for (name, value) in req.headers() {
        if !hop(name.as_str()) {
            builder = builder.header(name.as_str(), value.as_bytes());
        }
    }
    builder = builder.header("host", origin);
    // The floor is measured with GETs; a body is read whole and sent on (enough for a floor).
    let mut bytes = bytes::BytesMut::new();
    while let Some(Ok(chunk)) = body.next().await {
        bytes.extend_from_slice(&chunk);
    }
    let request_body: HyperBody = http_body_util::Full::new(bytes.freeze())
        .map_err(|never| match never {})
        .boxed_unsync();
    let Ok(request) = builder.body(request_body) else { return HttpResponse::BadRequest().finish() };
    let Ok(mut sender) = hyper_sender(origin).await else { return HttpResponse::BadGateway().finish() };
    let Ok(response) = sender.send_request(request).await else { return HttpResponse::BadGateway().finish() };
    let (parts, incoming) = response.into_parts();
    let mut out = HttpResponse::build(actix_web::http::StatusCode::from_u16(parts.status.as_u16()).unwrap_or(actix_web::http::StatusCode::BAD_GATEWAY));
    for (name, value) in &parts.headers {
        if !hop(name.as_str()) {
            out.append_header((name.as_str(), value.as_bytes()));
        }
    }
    let len = parts.headers.get("content-length").and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    // The sender goes back to the pool when the body has been read.
    let body = Returning { inner: incoming, sender: Some(sender), pool: &POOL };
    let stream = http_body_util::BodyStream::new(body).filter_map(move |frame| {
        let item = match frame {
            Ok(frame) => frame.into_data().ok().map(Ok),
            Err(e) => Some(Err(actix_web::error::ErrorBadGateway(e))),
        };
        std::future::ready(item)
    });
    match len {
        Some(len) => out.body(SizedStream::new(len, Box::pin(stream))),
        None => out.streaming(stream),
    }
}

// ---------------------------------------------------------------- hyper only

fn hyper_only(listen: &str, origin: &'static str) -> std::io::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let listener = tokio::net::TcpListener::bind(listen).await?;
        loop {
            let (tcp, _) = listener.accept().await?;
            tcp.set_nodelay(true)?;
            tokio::task::spawn_local(async move {
                let service = hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| async move {
                    let (mut parts, body) = req.into_parts();
                    for name in ["connection", "keep-alive", "transfer-encoding", "te", "upgrade"] {
                        parts.headers.remove(name);
                    }
                    parts.headers.insert("host", http::HeaderValue::from_static(origin));
                    let request = http::Request::from_parts(parts, body.map_err(|e| Box::new(e) as _).boxed_unsync());
                    let response = match hyper_sender_local(origin).await {
                        Ok(mut sender) => match sender.send_request(request).await {
                            Ok(response) => {
                                let (parts, incoming) = response.into_parts();
                                let body = Returning { inner: incoming, sender: Some(sender), pool: &LOCAL_POOL };
                                http::Response::from_parts(parts, body.map_err(|e| Box::new(e) as _).boxed_unsync())
                            }
                            Err(_) => bad_gateway(),
                        },
                        Err(_) => bad_gateway(),
                    };
                    Ok::<_, Infallible>(response)
                });
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(tcp), service).await;
            });
        }
    })
}

thread_local! {
    static LOCAL_POOL: Pool = RefCell::default();
}

async fn hyper_sender_local(origin: &str) -> std::io::Result<hyper::client::conn::http1::SendRequest<HyperBody>> {
    while let Some(sender) = LOCAL_POOL.with(|p| p.borrow_mut().pop()) {
        if !sender.is_closed() {
            return Ok(sender);
        }
    }
    let tcp = tokio::net::TcpStream::connect(origin).await?;
    tcp.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .map_err(std::io::Error::other)?;
    tokio::task::spawn_local(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

type Pool = RefCell<Vec<hyper::client::conn::http1::SendRequest<HyperBody>>>;

/// A response body that puts its connection back into the pool once the last frame has
/// been read (hyper's server stops polling at the declared length, so "end of stream"
/// must be noticed on the last frame, not only on `None`).
struct Returning {
    inner: hyper::body::Incoming,
    sender: Option<hyper::client::conn::http1::SendRequest<HyperBody>>,
    pool: &'static std::thread::LocalKey<Pool>,
}

impl Returning {
    fn give_back(&mut self) {
        if let Some(sender) = self.sender.take() {
            self.pool.with(|p| p.borrow_mut().push(sender));
        }
    }
}

impl http_body::Body for Returning {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, hyper::Error>>> {
        let polled = std::pin::Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(polled, std::task::Poll::Ready(None)) || self.inner.is_end_stream() {
            self.give_back();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

fn bad_gateway() -> http::Response<HyperBody> {
    let mut response = http::Response::new(http_body_util::Empty::new().map_err(|never| match never {}).boxed_unsync());
    *response.status_mut() = http::StatusCode::BAD_GATEWAY;
    response
}

// ---------------------------------------------------------------- gRPC origin

/// `EchoReply { message: "hello axon", server: "grpc-origin" }` (tests/proto/echo.proto),
/// framed as one gRPC message.
fn echo_reply() -> Bytes {
    let mut message = Vec::new();
    for (field, value) in [(1u8, &b"hello axon"[..]), (2, b"grpc-origin")] {
        message.push(field << 3 | 2);
        message.push(value.len() as u8);
        message.extend_from_slice(value);
    }
    let mut framed = vec![0u8];
    framed.extend_from_slice(&(message.len() as u32).to_be_bytes());
    framed.extend_from_slice(&message);
    Bytes::from(framed)
}

fn grpc_origin(listen: &str) -> std::io::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen).await?;
        let reply = echo_reply();
        loop {
            let (tcp, _) = listener.accept().await?;
            tcp.set_nodelay(true)?;
            let reply = reply.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    let reply = reply.clone();
                    async move {
                        // A unary call: read the request message, then answer.
                        let _ = req.into_body().collect().await;
                        let mut trailers = http::HeaderMap::new();
                        trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
                        let frames = futures_util::stream::iter([
                            Ok::<_, Infallible>(http_body::Frame::data(reply)),
                            Ok(http_body::Frame::trailers(trailers)),
                        ]);
                        let mut response = http::Response::new(http_body_util::StreamBody::new(frames));
                        response
                            .headers_mut()
                            .insert("content-type", http::HeaderValue::from_static("application/grpc"));
                        Ok::<_, Infallible>(response)
                    }
                });
                let _ = hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
                    .serve_connection(TokioIo::new(tcp), service)
                    .await;
            });
        }
    })
}
