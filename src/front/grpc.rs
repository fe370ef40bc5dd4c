//! The gRPC front: an HTTP/2 listener (h2c, or h2 over TLS when a certificate is
//! configured) on hyper, in the same process as the HTTP front.
//!
//! actix-web cannot send trailers, so gRPC gets its own listener. Each worker thread (an
//! actix arbiter) accepts connections from the shared socket and serves every call of its
//! connections itself: dispatch to a gRPC API (`<api transports="grpc">`, the context is
//! the service name), the API's sequences on the call's metadata, and the `<grpc>` leaf that
//! relays the call's streams. This is the only place where engine outcomes become gRPC
//! responses: a backend's response passes through untouched; everything Axon answers
//! itself is a trailers-only response with a `grpc-status` (UNIMPLEMENTED for an unknown
//! service or method, UNAVAILABLE when no endpoint is ready or it cannot be reached,
//! DEADLINE_EXCEEDED when a deadline passes), never a bare HTTP error.
//!
//! Axon answers `grpc.health.v1.Health/Check` itself (SERVING once it is ready), unless a
//! gRPC API claims that service.
//!
//! Every connection is bounded (`engine::Limits`, docs/reliability.md): the port holds at
//! most `grpc_max_connections` (a connection over it is accepted and closed at once, so a
//! client learns it at once instead of waiting in the listen queue); a TLS handshake, the
//! HTTP/2 preface and an idle connection each have a timeout; calls are capped per
//! connection (advertised as `SETTINGS_MAX_CONCURRENT_STREAMS`) and on the whole port
//! (RESOURCE_EXHAUSTED over it); control frames are metered per connection (`conn`).
//!
//! Connections are not spread over the workers: each worker's accept loop takes what the
//! kernel gives it. Spreading would not help a client whose one connection is busy, so the
//! work one connection may cause is bounded instead.

mod body;
mod conn;

use std::convert::Infallible;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use actix::Arbiter;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http2;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use prost::Message as _;
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

use self::body::{ResponseBody, status_trailers};
use self::conn::{ConnState, Metered, OpenCall};
use super::http::trace;
use crate::base::grpc::{
    self as wire, HealthCheckRequest, HealthCheckResponse, LocalExec, ServingStatus, code,
};
use crate::base::lifecycle::Gate;
use crate::base::limits::Limits;
use crate::engine::Reply;
use crate::engine::dispatch::{RequestHead, Route};
use crate::engine::live::Shared;
use crate::message::grpc::{GrpcCall, append_to_wire, headers_from_wire, headers_to_wire};
use crate::message::{Body, MessageContext, Scope, Value};

/// Largest health-check request Axon reads.
const HEALTH_REQUEST_LIMIT: usize = 16 * 1024;

/// The running gRPC front.
#[derive(Debug)]
pub(crate) struct GrpcFront {
    addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    port: Arc<Port>,
    workers: Vec<Arbiter>,
}

/// What every connection of the port shares: its limits and counts.
#[derive(Debug)]
struct Port {
    limits: Limits,
    max_connections: usize,
    tls: Option<Arc<rustls::ServerConfig>>,
    live: Arc<Live>,
    /// Calls open on the port.
    streams: AtomicUsize,
    /// Connections closed at once because the port was full.
    shed: AtomicU64,
}

/// One call's place in the port's count of open calls.
struct PortCall(Arc<Port>);

/// A response body that holds its call's places in the counts until the stream ends.
struct Counted {
    body: ResponseBody,
    _calls: (OpenCall, Option<PortCall>),
}

/// Live connections, to drain them on shutdown.
#[derive(Debug, Default)]
struct Live {
    count: AtomicUsize,
    idle: Notify,
}

struct LiveGuard(Arc<Live>);

/// What one connection's calls share.
#[derive(Clone)]
struct ConnCtx {
    shared: Arc<Shared>,
    scheme: &'static str,
    port: Arc<Port>,
    conn: Rc<ConnState>,
    /// The client's address (who gets `X-Axon-Trace`).
    peer: SocketAddr,
}

// === impl GrpcFront ===

/// Starts the gRPC front on `listener` with `workers` threads; TLS (ALPN `h2`) when `tls`
/// is given, h2c otherwise; at most `max_connections` open at once. Must be called inside
/// an actix `System`.
///
/// # Errors
/// When the listener cannot be used.
pub(crate) fn serve(
    shared: Arc<Shared>,
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    workers: usize,
    limits: Limits,
    max_connections: usize,
) -> io::Result<GrpcFront> {
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let (shutdown, stop) = watch::channel(false);
    let port = Arc::new(Port {
        limits,
        max_connections: max_connections.max(1),
        tls,
        live: Arc::new(Live::default()),
        streams: AtomicUsize::new(0),
        shed: AtomicU64::new(0),
    });
    let mut arbiters = Vec::with_capacity(workers.max(1));
    for _ in 0..workers.max(1) {
        let listener = listener.try_clone()?;
        let (shared, stop, port) = (shared.clone(), stop.clone(), port.clone());
        let arbiter = Arbiter::new();
        arbiter.spawn_fn(move || {
            actix_rt::spawn(accept_loop(listener, shared, stop, port));
        });
        arbiters.push(arbiter);
    }
    tracing::info!(%addr, max_connections, "gRPC front connection cap");
    Ok(GrpcFront {
        addr,
        shutdown,
        port,
        workers: arbiters,
    })
}

impl GrpcFront {
    /// The listener's address.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting; when `graceful`, lets every open call finish (up to the drain
    /// timeout, `--shutdown-grace`) before
    /// the worker threads stop.
    pub(crate) async fn stop(self, graceful: bool) {
        // Every worker may already be gone; there is nothing to tell then.
        self.shutdown.send_replace(true);
        if graceful {
            let drained = async {
                loop {
                    let idle = self.port.live.idle.notified();
                    if self.port.live.count.load(Ordering::Acquire) == 0 {
                        return;
                    }
                    idle.await;
                }
            };
            // The drain's end answers the calls still running (UNAVAILABLE): a moment more
            // lets those answers go out before the workers stop.
            let grace = self.port.limits.drain_timeout + Duration::from_secs(2);
            if tokio::time::timeout(grace, drained).await.is_err() {
                tracing::warn!("gRPC connections still open when the drain ended; closing them");
            }
        }
        for worker in self.workers {
            worker.stop();
        }
    }
}

impl Live {
    /// Counts a connection in, unless `max` are open already.
    fn enter(self: &Arc<Self>, max: usize) -> Option<LiveGuard> {
        self.count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| LiveGuard(self.clone()))
    }
}

impl Port {
    /// Counts a call in, unless the port's cap is reached.
    fn enter_call(self: &Arc<Self>) -> Option<PortCall> {
        let max = self.limits.grpc_max_streams;
        self.streams
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| PortCall(self.clone()))
    }

    /// Notes a connection closed because the port is full; warns at the 1st, 2nd, 4th, 8th...
    fn note_shed(&self, peer: SocketAddr) {
        let shed = self.shed.fetch_add(1, Ordering::Relaxed) + 1;
        if shed.is_power_of_two() {
            tracing::warn!(
                %peer,
                shed,
                max_connections = self.max_connections,
                "The gRPC port is full; new connections are closed at once"
            );
        }
    }
}

impl Drop for PortCall {
    fn drop(&mut self) {
        self.0.streams.fetch_sub(1, Ordering::AcqRel);
    }
}

impl http_body::Body for Counted {
    type Data = bytes::Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        std::pin::Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
    port: Arc<Port>,
) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(error) => {
            tracing::error!(%error, "The gRPC listener cannot be used");
            return;
        }
    };
    loop {
        let accepted = tokio::select! {
            _ = stop.changed() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                // Over the cap: closed at once (dropped), so the client knows now.
                let Some(guard) = port.live.enter(port.max_connections) else {
                    port.note_shed(peer);
                    continue;
                };
                let (shared, port, stop) = (shared.clone(), port.clone(), stop.clone());
                let open = crate::base::metrics::global().connection("grpc");
                actix_rt::spawn(async move {
                    connection(stream, peer, shared, port, stop).await;
                    drop((guard, open));
                });
            }
            Err(error) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(%error, "Accepting a gRPC connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    port: Arc<Port>,
    stop: watch::Receiver<bool>,
) {
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(%error, "TCP_NODELAY not set");
    }
    let mut ctx = ConnCtx {
        shared,
        scheme: "http",
        port,
        conn: ConnState::new(),
        peer,
    };
    let Some(tls) = ctx.port.tls.clone() else {
        return serve_io(stream, ctx, stop, peer).await;
    };
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let timeout = ctx.port.limits.grpc_handshake_timeout;
    match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => {
            ctx.scheme = "https";
            serve_io(tls, ctx, stop, peer).await;
        }
        Ok(Err(error)) => tracing::debug!(%peer, %error, "gRPC TLS handshake failed"),
        Err(_) => tracing::debug!(%peer, "gRPC TLS handshake timed out"),
    }
}

async fn serve_io<I>(io: I, ctx: ConnCtx, mut stop: watch::Receiver<bool>, peer: SocketAddr)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + 'static,
{
    let limits = ctx.port.limits.clone();
    let state = ctx.conn.clone();
    let io = Metered::new(io, state.clone(), limits.grpc_max_control_frames_per_sec);
    let service = service_fn(move |req: Request<Incoming>| {
        let ctx = ctx.clone();
        async move { Ok::<_, Infallible>(counted_call(&ctx, req).await) }
    });
    let mut builder = http2::Builder::new(LocalExec);
    builder
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.grpc_max_streams_per_connection)
        .keep_alive_interval(Some(Duration::from_secs(30)))
        .keep_alive_timeout(Duration::from_secs(20));
    let conn = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    let preface_by = Instant::now() + limits.grpc_preface_timeout;
    let mut check = preface_by.min(Instant::now() + limits.grpc_idle_timeout);
    let (mut stopping, mut idled) = (false, false);
    let result = loop {
        tokio::select! {
            result = conn.as_mut() => break result,
            _ = stop.changed(), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
            () = tokio::time::sleep_until(check), if !stopping => {
                match tick(&state, &limits, preface_by, idled) {
                    Tick::Close => {
                        tracing::debug!(%peer, "gRPC connection closed: no preface, or idle");
                        return;
                    }
                    Tick::GoAway(at) => {
                        tracing::debug!(%peer, "Idle gRPC connection: GOAWAY");
                        idled = true;
                        check = at;
                        conn.as_mut().graceful_shutdown();
                    }
                    Tick::Until(at) => check = at,
                }
            }
        }
    };
    if let Err(error) = result {
        tracing::debug!(%peer, %error, "gRPC connection ended with an error");
    }
}

/// What a connection's timer found.
enum Tick {
    /// No preface in time, or idle still after its GOAWAY: close without a word.
    Close,
    /// Idle for too long: GOAWAY, and look again then.
    GoAway(Instant),
    /// Look again then.
    Until(Instant),
}

/// The connection's next step. An idle connection gets GOAWAY; as hyper waits for the
/// client to acknowledge it (a PING) before it closes, a client that does not answer is
/// closed after a grace of the idle timeout (at most 10 s) if no call opened meanwhile.
fn tick(state: &ConnState, limits: &Limits, preface_by: Instant, idled: bool) -> Tick {
    let now = Instant::now();
    // A zero timeout must not spin the timer.
    let idle = limits.grpc_idle_timeout.max(Duration::from_millis(10));
    if !state.has_preface() {
        return match now >= preface_by {
            true => Tick::Close,
            false => Tick::Until(preface_by.min(now + idle)),
        };
    }
    let grace = idle.min(Duration::from_secs(10));
    match state.idle_deadline(idle) {
        Some(_) if idled => Tick::Close,
        Some(at) if at <= now => Tick::GoAway(now + grace),
        Some(at) => Tick::Until(at),
        None if idled => Tick::Until(now + grace),
        None => Tick::Until(now + idle),
    }
}

/// Handles one call, counted against the connection (idle timeout) and the port's cap on
/// open calls; over the cap, RESOURCE_EXHAUSTED.
async fn counted_call(ctx: &ConnCtx, req: Request<Incoming>) -> Response<Counted> {
    let open = ctx.conn.open_call();
    let Some(call) = ctx.port.enter_call() else {
        let message = format!(
            "Axon is serving its limit of {} gRPC calls; retry later",
            ctx.port.limits.grpc_max_streams
        );
        let response = trailers_only(code::RESOURCE_EXHAUSTED, &message);
        let response = finish(response, req.uri().path(), "", "", Instant::now());
        return response.map(|body| Counted {
            body,
            _calls: (open, None),
        });
    };
    let path = req.uri().path().to_owned();
    let started = Instant::now();
    // A call still running when the drain of a graceful stop ends is answered, never cut.
    let response = tokio::select! {
        biased;
        response = handle(ctx, req) => response,
        () = ctx.shared.drain_end() => {
            let response = trailers_only(code::UNAVAILABLE, "Axon is shutting down");
            finish(response, &path, "", "", started)
        }
    };
    response.map(|body| Counted {
        body,
        _calls: (open, Some(call)),
    })
}

/// Handles one call.
async fn handle(ctx: &ConnCtx, req: Request<Incoming>) -> Response<ResponseBody> {
    let started = Instant::now();
    let rt = ctx.shared.runtime();
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_owned();
    let traced = rt
        .limits
        .trace
        .allows(Some(ctx.peer.ip()), |name| parts.headers.contains_key(name));
    let log = |response: Response<ResponseBody>, api: &str, trace: &str| {
        let mut response = finish(response, &path, api, trace, started);
        if !traced {
            response.headers_mut().remove(super::http::TRACE_HEADER);
        }
        response
    };
    let client_deadline = match call_deadline(&parts, started) {
        Ok(deadline) => deadline,
        Err(response) => return log(*response, "", ""),
    };
    let post = actix_web::http::Method::POST;
    let route = rt.grpc_router.route_where(
        &rt.config,
        &call_head(&parts, &post, &path, ctx.scheme),
        |api| rt.apis.get(api.id).is_deployed(),
    );
    let (api, resource, vars) = match route {
        Route::Resource {
            api,
            resource,
            vars,
            ..
        } => (api, resource, vars),
        Route::NoApi if path == wire::HEALTH_CHECK_PATH => {
            return log(health_check(&ctx.shared, body).await, "", "");
        }
        missed => {
            let (message, api) = unrouted(&missed, &path);
            return log(trailers_only(code::UNIMPLEMENTED, &message), api, "");
        }
    };
    // The API's lifecycle: BLOCKED and RETIRED APIs refuse the call, DEPRECATED ones say so.
    let life = rt.apis.get(api.id).clone();
    let deprecated = match call_gate(&life) {
        Ok(deprecated) => deprecated,
        Err(response) => return log(*response, &api.name, ""),
    };
    let mut msg = call_message(ctx.scheme, &parts, body, client_deadline, &path);
    msg.api = Some(life);
    set_call_properties(&mut msg, api, &resource.name, &vars, &path);
    let reply = rt
        .run_exchange(
            msg,
            resource.in_sequence,
            resource.out_sequence,
            resource.fault_sequence,
        )
        .await;
    let (mut response, trace) = into_response(reply);
    if let Some(since) = deprecated {
        response
            .headers_mut()
            .insert(super::http::DEPRECATION_HEADER, since);
    }
    log(response, &api.name, &trace)
}

/// Why no resource takes a call to `path`, and the API that was found, if any.
fn unrouted<'c>(route: &Route<'c>, path: &str) -> (String, &'c str) {
    let (service, method) = split_path(path);
    match route {
        Route::NoApi => (format!("unknown service {service}"), ""),
        Route::BadRequest { api, reason } => (
            format!("the call is not accepted here: {reason}"),
            &api.name,
        ),
        // (A matched resource is not passed here.)
        Route::NotFound(api)
        | Route::MethodNotAllowed { api, .. }
        | Route::Options { api, .. }
        | Route::Resource { api, .. } => (
            format!("unknown method {method} for service {service}"),
            &api.name,
        ),
    }
}

/// The message of a call to `path` whose request stream is `body`.
fn call_message(
    scheme: &'static str,
    parts: &http::request::Parts,
    body: Incoming,
    client_deadline: Option<Instant>,
    path: &str,
) -> MessageContext {
    let uri = path.parse().unwrap_or_default();
    let mut msg = MessageContext::request(
        actix_web::http::Method::POST,
        uri,
        scheme,
        headers_from_wire(&parts.headers),
        Body::Empty,
    );
    let request = body.map_err(Into::into).boxed_unsync();
    msg.grpc = Some(Box::new(GrpcCall::new(request, client_deadline)));
    msg
}

/// The properties of a call to `path` routed to `resource` of `api`: the API's, and the
/// gRPC service and method.
fn set_call_properties(
    msg: &mut MessageContext,
    api: &crate::config::ApiConfig,
    resource: &str,
    vars: &[(String, String)],
    path: &str,
) {
    let (service, method) = split_path(path);
    crate::engine::dispatch::set_api_properties(msg, api, resource, vars, method, path);
    msg.set("GRPC_SERVICE", service);
    msg.set("GRPC_METHOD", method.trim_start_matches('/'));
}

/// The checks of a call before routing: an HTTP/2 POST with a gRPC content type and a
/// well-formed `grpc-timeout`; returns the client's deadline, or the answer of a call that
/// fails them.
fn call_deadline(
    parts: &http::request::Parts,
    started: Instant,
) -> Result<Option<Instant>, Box<Response<ResponseBody>>> {
    if parts.method != http::Method::POST {
        return Err(Box::new(trailers_only(
            code::UNIMPLEMENTED,
            "gRPC calls are HTTP/2 POST requests",
        )));
    }
    let is_grpc = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| wire::is_grpc_content_type(v.as_bytes()));
    if !is_grpc {
        // The gRPC specification: a non-gRPC content type gets HTTP 415.
        let mut response =
            trailers_only(code::INTERNAL, "the content type must be application/grpc");
        *response.status_mut() = StatusCode::UNSUPPORTED_MEDIA_TYPE;
        return Err(Box::new(response));
    }
    match parts.headers.get("grpc-timeout") {
        None => Ok(None),
        Some(value) => match wire::parse_timeout(value.as_bytes()) {
            Some(d) => Ok(Some(started + d)),
            None => {
                let text = String::from_utf8_lossy(value.as_bytes()).into_owned();
                let message = format!("malformed grpc-timeout `{text}`");
                Err(Box::new(trailers_only(code::INTERNAL, &message)))
            }
        },
    }
}

/// What dispatch reads of a call.
fn call_head<'r>(
    parts: &'r http::request::Parts,
    post: &'r actix_web::http::Method,
    path: &'r str,
    scheme: &'static str,
) -> RequestHead<'r> {
    let header = |name| {
        parts
            .headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    RequestHead {
        method: post,
        path,
        query: parts.uri.query(),
        host: parts
            .uri
            .authority()
            .map(|a| a.as_str())
            .or_else(|| header(http::header::HOST)),
        scheme,
        content_type: None,
        has_body: true,
        user_agent: header(http::header::USER_AGENT),
    }
}

/// The API's lifecycle gate for a call: BLOCKED and RETIRED APIs refuse it (the answer is
/// the error), DEPRECATED ones say so (the `Deprecation` header's value).
fn call_gate(
    life: &crate::base::lifecycle::ApiLife,
) -> Result<Option<HeaderValue>, Box<Response<ResponseBody>>> {
    match life.gate() {
        Gate::Serve => Ok(None),
        Gate::Deprecated(since) => Ok(HeaderValue::from_str(&format!("@{since}")).ok()),
        Gate::Refuse(refusal) => {
            let text = format!("{}: {}", refusal.message, refusal.detail);
            let mut response = trailers_only(wire::code_for_http(refusal.status.as_u16()), &text);
            if let Ok(v) = HeaderValue::from_str(&refusal.code.to_string()) {
                response
                    .headers_mut()
                    .insert(super::http::ERROR_CODE_HEADER, v);
            }
            Err(Box::new(response))
        }
    }
}

/// `/pkg.Service/Method` into (`pkg.Service`, `/Method`).
fn split_path(path: &str) -> (&str, &str) {
    let rest = path.strip_prefix('/').unwrap_or(path);
    match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    }
}

/// Turns the engine's reply into a gRPC response; returns it with the endpoints tried.
fn into_response(reply: Reply) -> (Response<ResponseBody>, String) {
    match reply {
        Reply::Fault(fault, msg) => {
            let (message, code, id) = (&fault.message, fault.code, &fault.message_id);
            let text = match fault.detail.as_str() {
                "" => format!("{message} (code {code}, message id {id})"),
                detail => format!("{message}: {detail} (code {code}, message id {id})"),
            };
            let mut response = trailers_only(wire::code_for_http(fault.status.as_u16()), &text);
            if let Ok(v) = HeaderValue::from_str(&fault.code.to_string()) {
                response
                    .headers_mut()
                    .insert(super::http::ERROR_CODE_HEADER, v);
            }
            (response, trace(&msg))
        }
        Reply::Accepted(msg) => (trailers_only(code::OK, ""), trace(&msg)),
        Reply::Message(mut msg) => {
            let attempts = trace(&msg);
            let relayed = msg
                .grpc
                .as_deref_mut()
                .and_then(|call| call.response.take().map(|r| (r, call.call_deadline)));
            match relayed {
                Some((stream, deadline)) if msg.is_response() => {
                    let status = msg
                        .status
                        .and_then(|s| StatusCode::from_u16(s.as_u16()).ok())
                        .unwrap_or(StatusCode::OK);
                    let mut response = Response::new(ResponseBody::relay(stream, deadline));
                    *response.status_mut() = status;
                    *response.headers_mut() = headers_to_wire(&msg.headers, &[]);
                    (response, attempts)
                }
                // Mediation answered by itself (`respond` with no backend response).
                _ => (mediation_answer(&msg), attempts),
            }
        }
    }
}

/// The trailers-only answer of a `respond` without a backend response: `GRPC_STATUS` and
/// `GRPC_MESSAGE` when set, else the status mediation chose (`HTTP_SC`, or the failure's
/// inside a fault handler) mapped to gRPC; headers set by mediation become metadata.
fn mediation_answer(msg: &MessageContext) -> Response<ResponseBody> {
    let property = |name: &str| {
        msg.get(name)
            .cloned()
            .or_else(|| msg.property(Scope::Axis2, name))
            .map(|v| v.to_string())
    };
    let status = property("GRPC_STATUS")
        .and_then(|v| v.trim().parse::<u32>().ok())
        .unwrap_or_else(|| wire::code_for_http(msg.status.map_or(200, |s| s.as_u16())));
    let message = property("GRPC_MESSAGE")
        .or_else(|| {
            msg.fault_status
                .and_then(|_| msg.get("ERROR_MESSAGE").map(Value::to_string))
        })
        .unwrap_or_default();
    let mut response = trailers_only(status, &message);
    append_to_wire(
        response.headers_mut(),
        msg.headers_set_by_mediation(),
        &["grpc-status", "grpc-message", "content-type"],
    );
    response
}

/// A response whose status is all there is: HEADERS with END_STREAM.
fn trailers_only(status: u32, message: &str) -> Response<ResponseBody> {
    let mut headers = status_trailers(status, message);
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    let mut response = Response::new(ResponseBody::Empty);
    *response.headers_mut() = headers;
    response
}

/// Axon's own `grpc.health.v1.Health/Check`: SERVING once Axon is ready (listeners up and
/// every endpoint actor started), for the empty service name or any gRPC API's service.
async fn health_check(shared: &Shared, body: Incoming) -> Response<ResponseBody> {
    let collected = tokio::time::timeout(
        Duration::from_secs(10),
        Limited::new(body, HEALTH_REQUEST_LIMIT).collect(),
    )
    .await;
    let bytes = match collected {
        Ok(Ok(c)) => c.to_bytes(),
        _ => return trailers_only(code::INVALID_ARGUMENT, "unreadable health check request"),
    };
    let Some(request) =
        wire::first_message(&bytes).and_then(|m| HealthCheckRequest::decode(m).ok())
    else {
        return trailers_only(code::INVALID_ARGUMENT, "malformed HealthCheckRequest");
    };
    let rt = shared.runtime();
    let known = request.service.is_empty()
        || request.service == wire::HEALTH_SERVICE
        || rt
            .config
            .apis
            .iter()
            .any(|a| a.grpc && a.context.strip_prefix('/') == Some(request.service.as_str()));
    if !known {
        return trailers_only(
            code::NOT_FOUND,
            &format!("unknown service {}", request.service),
        );
    }
    let status = if shared.readiness().is_ready() {
        ServingStatus::Serving
    } else {
        ServingStatus::NotServing
    };
    let message = HealthCheckResponse {
        status: status.number(),
    }
    .encode_to_vec();
    let mut response = Response::new(ResponseBody::Unary {
        message: Some(wire::frame(&message)),
        trailers: Some(status_trailers(code::OK, "")),
    });
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    response
}

fn finish(
    mut response: Response<ResponseBody>,
    path: &str,
    api: &str,
    trace: &str,
    started: Instant,
) -> Response<ResponseBody> {
    if !trace.is_empty()
        && let Ok(v) = HeaderValue::from_str(trace)
    {
        response.headers_mut().insert(super::http::TRACE_HEADER, v);
    }
    let status = grpc_status(response.headers());
    use crate::base::metrics::{Exchange, RouteKind, record_exchange};
    record_exchange(&Exchange {
        kind: if api.is_empty() {
            RouteKind::None
        } else {
            RouteKind::Grpc
        },
        api,
        resource: "",
        status: response.status().as_u16(),
        elapsed: started.elapsed(),
        request_bytes: None,
        response_bytes: None,
    });
    tracing::info!(
        path,
        api,
        endpoint = trace,
        http_status = response.status().as_u16(),
        grpc_status = status.as_deref().unwrap_or("streamed"),
        latency_ms = started.elapsed().as_micros() as f64 / 1000.0,
        "gRPC call answered"
    );
    response
}

fn grpc_status(headers: &HeaderMap) -> Option<String> {
    headers
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}
