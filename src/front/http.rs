//! The HTTP front: one actix-web handler that dispatches every request into the engine.
//!
//! The handler runs on the actix-web worker that accepted the connection, and so does the
//! whole exchange: dispatch, mediation, the backend call (awc, same worker), and the
//! response. This is the only place where engine outcomes become HTTP responses.

mod flushed;

use std::fmt::Write as _;
use std::future::Future;
use std::net::TcpListener;
use std::pin::Pin;
use std::sync::Arc;

use actix_web::body::SizedStream;
use actix_web::dev::Server;
use actix_web::http::ConnectionType;
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{
    App, HttpMessage as _, HttpRequest, HttpResponse, HttpResponseBuilder, HttpServer, web,
};
use tokio::time::Instant;

use super::access::REQUEST_ID;
use super::limits::within_descriptors;
use crate::base::lifecycle::Gate;
use crate::config::SeqId;
use crate::engine::dispatch::{RequestHead, Route};
use crate::engine::live::Shared;
use crate::engine::{BuiltinFault, Reply, Runtime};
use crate::message::body::ClientSide;
use crate::message::{AttemptOutcome, Body, MessageContext, MessageId, Scope, Value};
use flushed::FlushedBeforeError;

pub(crate) use crate::base::headers::{
    DEPRECATION_HEADER, ERROR_CODE_HEADER, MESSAGE_ID_HEADER, TRACE_HEADER,
};

/// How much longer than the drain actix-web waits before it closes connections whose
/// answer is still being written (exchanges themselves are answered when the drain ends).
const DRAIN_MARGIN_SECS: u64 = 5;

/// The names of the headers set on every answer, checked once at compile time.
const MESSAGE_ID: header::HeaderName = header::HeaderName::from_static(MESSAGE_ID_HEADER);
const TRACE: header::HeaderName = header::HeaderName::from_static(TRACE_HEADER);
const ERROR_CODE: header::HeaderName = header::HeaderName::from_static(ERROR_CODE_HEADER);

/// The exchange's id, for answers made before (or without) a message context, and the id
/// as it is shown in headers (made once per exchange: it goes on every answer, and to the
/// backends when the client named no request).
#[derive(Debug, Clone)]
struct ExchangeId {
    id: MessageId,
    shown: Option<HeaderValue>,
}

impl ExchangeId {
    fn new(id: MessageId) -> ExchangeId {
        let shown = match id.is_given() {
            true => HeaderValue::from_str(&id.to_string()).ok(),
            false => HeaderValue::from_bytes(&id.urn()).ok(),
        };
        ExchangeId { id, shown }
    }
}

/// Marks a request for a DEPRECATED API (a request extension read by `finish`).
#[derive(Debug, Clone, Copy)]
struct Deprecated(u64);

/// Starts the HTTP front on `listener`.
///
/// # Errors
/// When the listener cannot be used.
pub(crate) fn serve(
    shared: Arc<Shared>,
    listener: TcpListener,
    https: Option<(TcpListener, rustls::ServerConfig)>,
    workers: usize,
    descriptor_cap: usize,
) -> std::io::Result<Server> {
    let limits = shared.runtime().limits.clone();
    let cap = match limits.max_connections {
        Some(configured) => within_descriptors(configured, descriptor_cap, "--max-connections"),
        None => descriptor_cap.min(DEFAULT_MAX_CONNECTIONS),
    };
    let data = web::Data::from(shared);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .default_service(web::to(handle))
    })
    // Without TCP_NODELAY, a response streamed in several writes (a backend's body arrives
    // in chunks) waits on Nagle's algorithm for the client's delayed ACK: 40 ms per
    // response on Linux, which capped 64 KiB pass-through at 50 connections to ~1,100 req/s.
    .tcp_nodelay(true)
    .workers(workers)
    // A worker holding its share of the cap stops accepting: new connections wait in the
    // listen backlog until a slot frees (see docs/reliability.md, "HTTP front").
    .max_connections(cap.div_ceil(workers.max(1)).max(1))
    .client_request_timeout(limits.header_read_timeout)
    .keep_alive(limits.keep_alive)
    .disable_signals()
    .shutdown_timeout(limits.drain_timeout.as_secs() + DRAIN_MARGIN_SECS)
    .tls_handshake_timeout(limits.header_read_timeout)
    .on_connect(on_connect)
    .listen(listener)?;
    let server = match https {
        Some((listener, config)) => server.listen_rustls_0_23(listener, config)?,
        None => server,
    };
    Ok(server.run())
}

/// The subject of the certificate a client presented on the HTTPS listener (a connection
/// extension, set once per connection).
#[derive(Debug, Clone)]
struct ClientSubject(Arc<str>);

/// The property that holds the subject of the client's certificate (mTLS).
pub(crate) const CLIENT_SUBJECT_PROPERTY: &str = "SSL_CLIENT_SUBJECT";

/// Counts the connection open (until actix-web drops its extensions, at its close) and
/// keeps the subject of a TLS client's certificate with it.
fn on_connect(conn: &dyn std::any::Any, ext: &mut actix_web::dev::Extensions) {
    type Tls = actix_tls::accept::rustls_0_23::TlsStream<actix_web::rt::net::TcpStream>;
    let tls = conn.downcast_ref::<Tls>();
    let front = if tls.is_some() { "https" } else { "http" };
    ext.insert(crate::base::metrics::global().connection(front));
    let Some(tls) = tls else {
        return;
    };
    let subject = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .and_then(|cert| crate::base::tls::subject(cert));
    if let Some(subject) = subject {
        ext.insert(ClientSubject(subject.into()));
    }
}

/// Puts what the connection knows of its client on the message: its address, and the
/// subject of its certificate when it presented one.
pub(crate) fn note_client(msg: &mut MessageContext, req: &HttpRequest) {
    crate::endpoints::http::note_client_address(msg, req.peer_addr());
    if let Some(subject) = req.conn_data::<ClientSubject>() {
        msg.set(CLIENT_SUBJECT_PROPERTY, Value::Str(subject.0.to_string()));
    }
}

/// The HTTP front's connection cap when none is configured (or the port's share of the
/// open-file limit, when lower).
const DEFAULT_MAX_CONNECTIONS: usize = 10_000;

/// Handles one request, whatever its path: one answer, even when the drain of a graceful
/// stop ends first (503 with `Connection: close`).
async fn handle(
    req: HttpRequest,
    payload: web::Payload,
    shared: web::Data<Shared>,
) -> HttpResponse {
    let started = Instant::now();
    let id = super::access::message_id(req.headers());
    req.extensions_mut().insert(ExchangeId::new(id));
    let exchange = exchange(req.clone(), payload, &shared, started);
    // Boxed: the exchange's future is large, and the handler's future is moved twice by
    // actix-web before it is polled. Only a request with a body has a client side to watch
    // (a read timeout, a stall to blame on the client): a GET runs without the task-local.
    let exchange: Pin<Box<dyn Future<Output = HttpResponse> + '_>> = if declares_body(req.headers())
    {
        let side = ClientSide::new(shared.runtime().limits.body_read_timeout);
        Box::pin(ClientSide::scope(side, exchange))
    } else {
        Box::pin(exchange)
    };
    tokio::select! {
        biased;
        response = exchange => response,
        () = shared.drain_end() => {
            let mut response = builtin_response(
                &req,
                false,
                StatusCode::SERVICE_UNAVAILABLE,
                crate::base::error::codes::SHUTTING_DOWN,
                "Axon is shutting down".into(),
                String::new(),
            );
            response.head_mut().set_connection_type(ConnectionType::Close);
            finish(&req, started, "", "", response, None)
        }
    }
}

/// The refusals made before routing: a request head over the limit (431), TRACE (405).
fn refused_early(req: &HttpRequest, limits: &crate::base::limits::Limits) -> Option<HttpResponse> {
    if head_size(req) > limits.max_header_bytes {
        let mut response = plain(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
        response
            .head_mut()
            .set_connection_type(ConnectionType::Close);
        return Some(response);
    }
    // TRACE echoes the request, cookies and credentials included, to whoever can make a
    // browser send it (cross-site tracing): refused unless allowed.
    if req.method() == Method::TRACE && !limits.allow_trace {
        let mut response = plain(StatusCode::METHOD_NOT_ALLOWED);
        response.headers_mut().insert(
            header::ALLOW,
            HeaderValue::from_static("GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"),
        );
        return Some(response);
    }
    None
}

/// The size of the request head as the client sent it (request line and header lines).
fn head_size(req: &HttpRequest) -> usize {
    let uri = req.uri();
    let target = uri.authority().map_or(0, |a| a.as_str().len() + 8)
        + uri.path_and_query().map_or(1, |p| p.as_str().len());
    let line = req.method().as_str().len() + target + 12;
    req.headers().iter().fold(line, |n, (name, value)| {
        n + name.as_str().len() + value.len() + 4
    })
}

/// One exchange, from dispatch to the answer.
async fn exchange(
    req: HttpRequest,
    payload: web::Payload,
    shared: &Shared,
    started: Instant,
) -> HttpResponse {
    let rt = shared.runtime();
    if let Some(response) = refused_early(&req, &rt.limits) {
        return finish(&req, started, "", "", response, None);
    }
    let scheme = client_scheme(&req);
    if let Some((proxy, tail)) = crate::config::proxy_route(&rt.config.proxies, req.uri().path())
        && proxy.transports.serves(req.app_config().secure())
    {
        return super::soap::handle_proxy(&req, payload, &rt, proxy, &tail, scheme, started).await;
    }
    let (body, has_body) = request_body(req.headers(), payload);
    let route = rt
        .router
        .route_where(&rt.config, &request_head(&req, scheme, has_body), |api| {
            rt.apis.get(api.id).is_deployed()
        });
    let api_life = route.api().map(|api| rt.apis.get(api.id).clone());
    if let Some(life) = &api_life
        && let Some(response) = gate(&req, life, has_body)
    {
        return finish(&req, started, life.name(), "", response, None);
    }
    let mut msg = MessageContext::request(
        req.method().clone(),
        req.uri().clone(),
        scheme,
        req.headers().clone(),
        body,
    );
    correlate(&req, &mut msg);
    note_client(&mut msg, &req);
    msg.api = api_life;
    let (api_name, resource_name, sequences) = match plan(&rt, &req, route, &mut msg, has_body) {
        Plan::Run {
            api,
            resource,
            sequences,
        } => (api, resource, sequences),
        Plan::Answer { api, response } => return finish(&req, started, api, "", response, None),
    };
    let [in_seq, out_seq, fault_seq] = sequences;
    let reply = rt.run_exchange(msg, in_seq, out_seq, fault_seq).await;
    let reply = super::soap::for_client(reply, &rt.limits).await;
    let (response, attempts) = into_response(reply);
    finish(
        &req,
        started,
        api_name,
        resource_name,
        response,
        Some(&attempts),
    )
}

/// What dispatch reads of the request.
fn request_head<'r>(req: &'r HttpRequest, scheme: &'static str, has_body: bool) -> RequestHead<'r> {
    let headers = req.headers();
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    RequestHead {
        method: req.method(),
        path: req.uri().path(),
        query: req.uri().query(),
        host: text(header::HOST).or_else(|| req.uri().authority().map(|a| a.as_str())),
        scheme,
        content_type: text(header::CONTENT_TYPE),
        has_body,
        user_agent: text(header::USER_AGENT),
    }
}

/// The API's lifecycle gate: a deprecated API's request is marked (for `finish`), a refused
/// one gets its answer.
fn gate(
    req: &HttpRequest,
    life: &crate::base::lifecycle::ApiLife,
    has_body: bool,
) -> Option<HttpResponse> {
    match life.gate() {
        Gate::Serve => None,
        Gate::Deprecated(since) => {
            req.extensions_mut().insert(Deprecated(since));
            None
        }
        Gate::Refuse(refusal) => Some(builtin_response(
            req,
            has_body,
            refusal.status,
            refusal.code,
            refusal.message.to_owned(),
            refusal.detail,
        )),
    }
}

/// Where a route leads: the sequences of an exchange (in, out, fault) with the API and
/// resource names of its log line, or an answer made without one.
enum Plan<'a> {
    Run {
        api: &'a str,
        resource: &'a str,
        sequences: [Option<SeqId>; 3],
    },
    Answer {
        api: &'a str,
        response: HttpResponse,
    },
}

/// The plan for `route`; a matched resource's dispatch properties are set on `msg`. An
/// unmatched request goes to the sequence configured for its case (`main`,
/// `_resource_mismatch_handler_`, `_method_not_allowed_handler_`) when there is one.
fn plan<'a>(
    rt: &'a Runtime,
    req: &HttpRequest,
    route: Route<'a>,
    msg: &mut MessageContext,
    has_body: bool,
) -> Plan<'a> {
    let answer = |api, response| Plan::Answer { api, response };
    match route {
        Route::Resource {
            api,
            resource,
            vars,
            params,
            sub_path,
        } => {
            set_dispatch_properties(msg, req, api, &resource.name, &vars, &params, &sub_path);
            let sequences = [
                resource.in_sequence,
                resource.out_sequence,
                resource.fault_sequence,
            ];
            Plan::Run {
                api: &api.name,
                resource: &resource.name,
                sequences,
            }
        }
        // A `main` with an <out> handles the responses to its sends (Synapse's shape); one
        // without answers with them directly, never sending a response on to its endpoint
        // again.
        Route::NoApi => match rt.config.sequence_named("main") {
            Some(main) => Plan::Run {
                api: "",
                resource: "main",
                sequences: [Some(main), main_out(rt, main), None],
            },
            None => answer("", not_found(req, has_body)),
        },
        Route::NotFound(api) => handler_or(rt, &api.name, "_resource_mismatch_handler_", || {
            not_found(req, has_body)
        }),
        Route::MethodNotAllowed { api, allow } => {
            handler_or(rt, &api.name, "_method_not_allowed_handler_", || {
                with_allow(StatusCode::METHOD_NOT_ALLOWED, allow_list(&allow))
            })
        }
        Route::Options { api, allow } => answer(&api.name, options_response(&allow)),
        Route::BadRequest { api, reason } => answer(
            &api.name,
            builtin_response(
                req,
                has_body,
                StatusCode::BAD_REQUEST,
                crate::base::error::codes::MALFORMED_MESSAGE,
                "Bad request".into(),
                reason,
            ),
        ),
    }
}

/// Axon's answer to a request no API or resource matches: an error body like every other
/// (JSON, or the client's own kind), with APIM's code for it, and 404 also for a SOAP
/// client (whose faults are otherwise 500).
fn not_found(req: &HttpRequest, has_body: bool) -> HttpResponse {
    let mut response = builtin_response(
        req,
        has_body,
        StatusCode::NOT_FOUND,
        crate::endpoints::prototype::NO_MATCHING_RESOURCE,
        "No API or resource matches the request".into(),
        String::new(),
    );
    *response.status_mut() = StatusCode::NOT_FOUND;
    response
}

/// The sequence `name` when it is configured (run with no out or fault sequence), else
/// Axon's own answer.
fn handler_or<'a>(
    rt: &'a Runtime,
    api: &'a str,
    name: &str,
    otherwise: impl FnOnce() -> HttpResponse,
) -> Plan<'a> {
    match rt.config.sequence_named(name) {
        Some(handler) => Plan::Run {
            api,
            resource: "",
            sequences: [Some(handler), None, None],
        },
        None => Plan::Answer {
            api,
            response: otherwise(),
        },
    }
}

/// Axon's answer to OPTIONS on a path whose resources do not list it.
fn options_response(allow: &[Method]) -> HttpResponse {
    let allow = if allow.is_empty() {
        "GET, POST, PUT, DELETE".to_owned()
    } else {
        allow_list(allow)
    };
    with_allow(StatusCode::OK, allow)
}

/// A bodiless answer with an `Allow` header.
fn with_allow(status: StatusCode, allow: String) -> HttpResponse {
    let mut response = plain(status);
    if let Ok(v) = HeaderValue::from_str(&allow) {
        response.headers_mut().insert(header::ALLOW, v);
    }
    response
}

/// `http` or `https`, as the client connected: a `Forwarded` or `X-Forwarded-Proto` header
/// when there is one (actix-web's `ConnectionInfo` reads them), else the listener's.
fn client_scheme(req: &HttpRequest) -> &'static str {
    let headers = req.headers();
    // ConnectionInfo parses every forwarding header and allocates four strings: only worth
    // it when a proxy in front of Axon sent one.
    let https = if headers.contains_key(header::FORWARDED)
        || headers.contains_key(header::X_FORWARDED_PROTO)
    {
        req.connection_info().scheme() == "https"
    } else {
        match req.uri().scheme_str() {
            Some(scheme) => scheme == "https",
            None => req.app_config().secure(),
        }
    };
    if https { "https" } else { "http" }
}

/// The request's body as a stream (with its declared length), and whether it has one.
/// Inside an exchange the stream is bounded by the body read timeout (see
/// [`crate::message::body::ClientSide`]).
pub(crate) fn request_body(headers: &header::HeaderMap, payload: web::Payload) -> (Body, bool) {
    let content_length = declared_length(headers);
    let chunked = headers.contains_key(header::TRANSFER_ENCODING);
    let has_body = chunked || content_length.is_some_and(|l| l > 0);
    let body = if has_body {
        Body::stream(
            crate::message::body::client_stream(Box::pin(payload.into_inner())),
            if chunked { None } else { content_length },
        )
    } else {
        Body::Empty
    };
    (body, has_body)
}

fn declared_length(headers: &header::HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
}

/// Whether the request has a body, as [`request_body`] decides it.
fn declares_body(headers: &header::HeaderMap) -> bool {
    headers.contains_key(header::TRANSFER_ENCODING)
        || declared_length(headers).is_some_and(|l| l > 0)
}

/// Dispatch properties: the shared ones, then what only HTTP has (the URL prefix and
/// postfix, query parameters).
fn set_dispatch_properties(
    msg: &mut MessageContext,
    req: &HttpRequest,
    api: &crate::config::ApiConfig,
    resource: &str,
    vars: &[(String, String)],
    params: &[(String, String)],
    sub_path: &str,
) {
    let path = req.uri().path();
    let full_path = req.uri().path_and_query().map_or(path, |p| p.as_str());
    crate::engine::dispatch::set_api_properties(msg, api, resource, vars, sub_path, full_path);
    let after_context = path.get(api.context.len()..).unwrap_or("");
    let postfix = match req.uri().query() {
        Some(q) => format!("{after_context}?{q}"),
        None => after_context.to_owned(),
    };
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    msg.set("REST_URL_PREFIX", format!("{}://{host}", msg.scheme));
    for (name, value) in params {
        let key = format!("query.param.{name}");
        if msg.get(&key).is_none() {
            msg.set(key, value.as_str());
        }
    }
    msg.set_axis2("REST_URL_POSTFIX", Value::Str(postfix));
}

fn main_out(rt: &Runtime, main: crate::config::SeqId) -> Option<crate::config::SeqId> {
    let handles = rt
        .config
        .sequence(main)
        .mediators
        .iter()
        .any(|m| m.handles_responses());
    handles.then_some(main)
}

fn allow_list(methods: &[Method]) -> String {
    methods
        .iter()
        .map(Method::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

fn plain(status: StatusCode) -> HttpResponse {
    HttpResponse::new(status)
}

/// Turns the engine's reply into a response, and returns the endpoints tried.
/// The message id goes on in [`finish`] (the message's id is the exchange's).
pub(crate) fn into_response(reply: Reply) -> (HttpResponse, String) {
    // The rest of a stalled body will not be read: the connection cannot be reused (a SOAP
    // client's fault has another status, so the failure's status is looked at here).
    let stalled = matches!(&reply, Reply::Fault(f, _) if f.status == StatusCode::REQUEST_TIMEOUT);
    let (mut response, attempts) = reply_response(reply);
    if stalled {
        response
            .head_mut()
            .set_connection_type(ConnectionType::Close);
    }
    (response, attempts)
}

/// The id of the exchange `req` belongs to (a fresh one outside [`handle`]).
fn exchange_id(req: &HttpRequest) -> MessageId {
    ids_of(req).id
}

/// The exchange `req` belongs to (a fresh id outside [`handle`]).
fn ids_of(req: &HttpRequest) -> ExchangeId {
    req.extensions()
        .get::<ExchangeId>()
        .cloned()
        .unwrap_or_else(|| ExchangeId::new(MessageId::next()))
}

/// The message id on an answer: `X-Axon-Message-Id`, and `X-Request-ID` echoed to a
/// client that named its request (one header less on every other answer).
fn set_message_id(response: &mut HttpResponse, exchange: ExchangeId) {
    let Some(v) = exchange.shown else {
        return;
    };
    if exchange.id.is_given() {
        response.headers_mut().insert(REQUEST_ID, v.clone());
    }
    response.headers_mut().insert(MESSAGE_ID, v);
}

/// Gives `msg` the exchange's id, and names the request with it for the backends when the
/// client did not (or named it with an id Axon did not take).
pub(crate) fn correlate(req: &HttpRequest, msg: &mut MessageContext) {
    let ExchangeId { id, shown } = ids_of(req);
    if !id.is_given()
        && let Some(v) = shown
    {
        msg.headers.insert(REQUEST_ID, v);
    }
    msg.id = id;
}

fn reply_response(reply: Reply) -> (HttpResponse, String) {
    match reply {
        Reply::Fault(fault, msg) => match msg.client.soap() {
            Some(version) => (super::soap::fault_response(version, &fault), trace(&msg)),
            None => (fault_response(&fault), trace(&msg)),
        },
        Reply::Accepted(msg) => (HttpResponse::new(StatusCode::ACCEPTED), trace(&msg)),
        Reply::Message(mut msg) => {
            let attempts = trace(&msg);
            let status = msg.status.unwrap_or(StatusCode::OK);
            let mut builder = HttpResponseBuilder::new(status);
            // A response's headers move into the HTTP response as they are, minus any
            // hop-by-hop header mediation may have added.
            let mut moved = None;
            if msg.is_response() {
                let mut headers = std::mem::take(&mut msg.headers);
                crate::endpoints::http::strip_hop_by_hop(&mut headers);
                moved = Some(headers);
            } else {
                let mut has_type = false;
                for (name, value) in msg.headers_set_by_mediation() {
                    has_type |= name == header::CONTENT_TYPE;
                    builder.append_header((name.clone(), value.clone()));
                }
                if !has_type
                    && !msg.body.is_empty()
                    && let Some(ct) = msg.headers.get(header::CONTENT_TYPE)
                {
                    builder.insert_header((header::CONTENT_TYPE, ct.clone()));
                }
            }
            let no_body = msg
                .property(Scope::Axis2, "NO_ENTITY_BODY")
                .is_some_and(|v| v == Value::Bool(true) || v.to_string() == "true");
            let mut response = match msg.body.take() {
                _ if no_body => builder.finish(),
                Body::Empty => builder.finish(),
                Body::Full(bytes) => builder.body(bytes),
                Body::Stream {
                    stream,
                    length: Some(len),
                } => builder.body(SizedStream::new(len, FlushedBeforeError::new(stream))),
                Body::Stream {
                    stream,
                    length: None,
                } => builder.streaming(FlushedBeforeError::new(stream)),
            };
            if let Some(headers) = moved {
                *response.headers_mut() = headers;
            }
            (response, attempts)
        }
    }
}

/// True when the client of `req` gets `X-Axon-Trace` (`Limits::trace`).
pub(crate) fn trace_allowed(req: &HttpRequest) -> bool {
    req.app_data::<web::Data<Shared>>().is_none_or(|shared| {
        let peer = req.peer_addr().map(|a| a.ip());
        shared
            .limits()
            .trace
            .allows(peer, |name| req.headers().contains_key(name))
    })
}

/// The endpoints tried for `msg`, as the trace header shows them.
pub(crate) fn trace(msg: &MessageContext) -> String {
    let mut out = String::new();
    for (i, a) in msg.attempts.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        if let Some(via) = &a.via {
            out.push_str(via);
            out.push('/');
        }
        out.push_str(&a.endpoint);
        out.push('=');
        match &a.outcome {
            AttemptOutcome::Response(status) => {
                write!(out, "{status}").unwrap_or_default();
            }
            AttemptOutcome::Failed(code) => {
                write!(out, "failed:{code}").unwrap_or_default();
            }
            AttemptOutcome::Skipped(state) => {
                out.push_str("skipped:");
                out.push_str(state);
            }
            AttemptOutcome::NotRetried(why) => {
                out.push_str("not-retried:");
                out.push_str(why);
            }
        }
    }
    out
}

/// A built-in error response to `req`, in the format its client speaks (a SOAP fault for
/// SOAP clients).
fn builtin_response(
    req: &HttpRequest,
    has_body: bool,
    status: StatusCode,
    code: u32,
    message: String,
    detail: String,
) -> HttpResponse {
    let client = crate::message::ClientFormat::of_request(req.headers(), has_body, false);
    let id = exchange_id(req);
    let fault = BuiltinFault {
        status,
        code,
        message,
        detail,
        client,
        message_id: id.to_string(),
    };
    match client.soap() {
        Some(version) => super::soap::fault_response(version, &fault),
        None => fault_response(&fault),
    }
}

/// The response of Axon's built-in fault handling: a JSON error by default, XML for clients
/// that sent XML (or sent no body and accept XML).
pub(crate) fn fault_response(fault: &BuiltinFault) -> HttpResponse {
    use crate::message::ContentKind;
    let wants_xml = match fault.client.kind {
        ContentKind::Xml | ContentKind::Soap(_) => true,
        ContentKind::Json | ContentKind::Text => false,
        _ => fault.client.accept == Some(ContentKind::Xml),
    };
    let mut builder = HttpResponseBuilder::new(fault.status);
    builder.insert_header((ERROR_CODE_HEADER, fault.code.to_string()));
    let escape = crate::base::xml::escape_text;
    if wants_xml {
        let body = format!(
            "<error><status>{}</status><code>{}</code><message>{}</message><detail>{}</detail><messageId>{}</messageId></error>",
            fault.status.as_u16(),
            fault.code,
            escape(&fault.message),
            escape(&fault.detail),
            escape(&fault.message_id)
        );
        builder.content_type("application/xml").body(body)
    } else {
        let body = serde_json::json!({
            "error": {
                "status": fault.status.as_u16(),
                "code": fault.code,
                "message": fault.message,
                "detail": fault.detail,
                "message_id": fault.message_id,
            }
        })
        .to_string();
        builder.content_type("application/json").body(body)
    }
}

pub(crate) fn finish(
    req: &HttpRequest,
    started: Instant,
    api: &str,
    resource: &str,
    mut response: HttpResponse,
    attempts: Option<&str>,
) -> HttpResponse {
    if let Some(Deprecated(since)) = req.extensions().get::<Deprecated>().copied()
        && let Ok(v) = HeaderValue::from_str(&format!("@{since}"))
    {
        response
            .headers_mut()
            .insert(header::HeaderName::from_static(DEPRECATION_HEADER), v);
    }
    if !response.headers().contains_key(&MESSAGE_ID) {
        set_message_id(&mut response, ids_of(req));
    }
    // Shutting down: a keep-alive client moves to a new connection (which the load balancer
    // sends elsewhere) before the listener closes, instead of racing its close.
    if req
        .app_data::<web::Data<Shared>>()
        .is_some_and(|shared| shared.readiness().is_draining())
    {
        response
            .head_mut()
            .set_connection_type(ConnectionType::Close);
    }
    let endpoints = attempts.unwrap_or("");
    if !endpoints.is_empty()
        && trace_allowed(req)
        && let Ok(v) = HeaderValue::from_str(endpoints)
    {
        response.headers_mut().insert(TRACE, v);
    }
    let exchange = measured(req, api, resource, &response, started);
    crate::base::metrics::record_exchange(&exchange);
    // The line's fields are gathered only when it will be written.
    if !tracing::enabled!(tracing::Level::INFO) {
        return response;
    }
    let fields = req
        .app_data::<web::Data<Shared>>()
        .map_or(crate::base::limits::AccessLog::ALL, |s| {
            s.limits().access_log
        });
    if fields.is_off() {
        return response;
    }
    // Borrowed from the header: the id is formatted once per answer.
    let message_id = response
        .headers()
        .get(&MESSAGE_ID)
        .and_then(|id| id.to_str().ok())
        .unwrap_or_default();
    super::access::log(
        fields,
        &super::access::AccessLine {
            client: req.peer_addr(),
            method: req.method().as_str(),
            path: req.uri().path(),
            api,
            resource,
            status: exchange.status,
            bytes_in: exchange.request_bytes,
            bytes_out: exchange.response_bytes,
            latency_ms: exchange.elapsed.as_micros() as f64 / 1000.0,
            endpoint: endpoints,
            error_code: response
                .headers()
                .get(&ERROR_CODE)
                .and_then(|v| v.to_str().ok()),
            message_id,
        },
    );
    response
}

/// Marks a request answered by a proxy service (a request extension read by `finish`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ProxyExchange;

/// What the metrics and the access log count of an answered exchange.
fn measured<'a>(
    req: &HttpRequest,
    api: &'a str,
    resource: &'a str,
    response: &HttpResponse,
    started: Instant,
) -> crate::base::metrics::Exchange<'a> {
    use crate::base::metrics::{Exchange, RouteKind};
    use actix_web::body::{BodySize, MessageBody as _};
    let kind = if api.is_empty() {
        RouteKind::None
    } else if req.extensions().contains::<ProxyExchange>() {
        RouteKind::Proxy
    } else {
        RouteKind::Api
    };
    let request_bytes = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse().ok());
    let response_bytes = match response.body().size() {
        BodySize::Sized(n) => Some(n),
        BodySize::None | BodySize::Stream => None,
    };
    Exchange {
        kind,
        api,
        resource,
        status: response.status().as_u16(),
        elapsed: started.elapsed(),
        request_bytes,
        response_bytes,
    }
}
