//! Sending one message to an HTTP backend with awc, on the worker that accepted it.
//!
//! Each worker thread has its own awc client (awc is not `Send`), with its own pool of
//! keep-alive connections. Bodies are streamed in both directions unless a mediator has
//! already read them.

use std::sync::Arc;
use std::time::Duration;

use actix_web::HttpMessage as _;
use actix_web::body::SizedStream;
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::http::{Method, Uri};

use super::{Leaf, address};
use crate::base::error::{Cause, EndpointError, ErrorKind, ProtocolState, classify_send_error};
use crate::base::limits::Limits;
use crate::base::path::has_dot_segment;
use crate::base::tls::BackendTls;
use crate::config::LeafTls;
use crate::config::{
    EndpointFormat, EndpointProperty, PropertyScope, ResponseAction, Target, WEIGHT_PROPERTY,
};
use crate::message::{Body, MessageContext, Scope, Value};

mod framing;
mod watched;

/// Longest time to establish a TCP (and TLS) connection, within the message's deadline.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

thread_local! {
    static CLIENT: awc::Client =
        build_client(&BackendTls::default(), &LeafTls::default());
    /// Clients for other TLS settings: the server's (by identity: the entry keeps the set
    /// alive, so its address is not reused) with a leaf's own; one per distinct pair.
    static TRUSTING: std::cell::RefCell<Vec<(Arc<BackendTls>, LeafTls, awc::Client)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs `f` with this thread's client for backends trusted as the server's `tls` and the
/// leaf's own `leaf` settings say.
fn with_client<R>(tls: &Arc<BackendTls>, leaf: &LeafTls, f: impl FnOnce(&awc::Client) -> R) -> R {
    if tls.is_public() && leaf.is_default() {
        return CLIENT.with(f);
    }
    TRUSTING.with(|clients| {
        let mut clients = clients.borrow_mut();
        let found = clients
            .iter()
            .position(|(t, l, _)| Arc::ptr_eq(t, tls) && l == leaf);
        let at = found.unwrap_or_else(|| {
            clients.push((tls.clone(), leaf.clone(), build_client(tls, leaf)));
            clients.len() - 1
        });
        f(&clients[at].2)
    })
}

/// How long one backend connection is reused before it is closed (at its next use).
///
/// awc hands out pooled connections oldest first, so after a burst every connection the
/// burst opened stays in rotation and none ever idles out: after 500 concurrent clients,
/// 50 clients cost Axon 70% more CPU per request (0.535 against 0.308 CPU s per 10k in the
/// e2e harness), cycling through cold connections. A bounded lifetime lets the pool shrink
/// back to what the load needs within this time (0.378 in the same sequence), for one
/// reconnect per connection per lifetime.
const CONN_LIFETIME: Duration = Duration::from_secs(10);

/// A client for backends trusted as `tls` says: bounded connect time, keep-alive pool, no redirects, no
/// default headers, no overall timeout (callers set their own deadlines).
pub(crate) fn build_client(tls: &BackendTls, leaf: &LeafTls) -> awc::Client {
    crate::base::tls::install_crypto_provider();
    let mut connector = awc::Connector::new();
    if !tls.is_public() || !leaf.is_default() {
        let own = (!leaf.trusted.is_empty()).then_some(leaf.trusted.as_slice());
        let config = tls.client_config(own, leaf.any_host, &[b"h2", b"http/1.1"]);
        connector = connector.rustls_0_23(config);
    }
    let connector = connector
        .connector(framing::Connector::default())
        .timeout(CONNECT_TIMEOUT)
        .limit(0)
        .conn_keep_alive(Duration::from_secs(30))
        .conn_lifetime(CONN_LIFETIME);
    awc::Client::builder()
        .connector(connector)
        .disable_redirects()
        .no_default_headers()
        .disable_timeout()
        .finish()
}

/// Headers that describe one hop and are never forwarded (RFC 9110 §7.6.1), plus those
/// the client library sets itself.
static HOP_BY_HOP: [HeaderName; 12] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::HOST,
    header::CONTENT_LENGTH,
    header::EXPECT,
];

/// True for a header that describes one hop (see [`HOP_BY_HOP`]).
pub(crate) fn is_hop_by_hop(name: &HeaderName) -> bool {
    HOP_BY_HOP.iter().any(|h| h == name)
}

/// Removes hop-by-hop headers (and those named by `Connection`) in place, so a backend's
/// headers become the message's without being copied.
pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // One pass finds what goes (usually Connection and Content-Length); removing those
    // few by name is far cheaper than rebuilding the map with `retain`.
    let mut doomed: Vec<HeaderName> = headers
        .keys()
        .filter(|n| is_hop_by_hop(n))
        .cloned()
        .collect();
    doomed.extend(connection_named(headers));
    for name in &doomed {
        headers.remove(name);
    }
}

/// The headers the `Connection` header names (RFC 9110 §7.6.1): they describe this hop
/// only and are removed before a message is forwarded, in either direction.
fn connection_named(headers: &HeaderMap) -> Vec<HeaderName> {
    headers
        .get_all(header::CONNECTION)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        // The usual tokens name nothing to remove (keep-alive is removed anyway).
        .filter(|t| !t.eq_ignore_ascii_case("keep-alive") && !t.eq_ignore_ascii_case("close"))
        .filter_map(|t| HeaderName::from_bytes(t.as_bytes()).ok())
        .collect()
}

/// Applies the leaf's `<property>` children to the message (before every send).
pub(crate) fn apply_properties(leaf: &Leaf, msg: &mut MessageContext) {
    apply_endpoint_properties(&leaf.name, &leaf.config.properties, msg);
}

/// Applies an endpoint's `<property>` children to the message, as every send does
/// (except `loadbalance.weight`, which configures the group above and means nothing to
/// the message).
pub(crate) fn apply_endpoint_properties(
    endpoint: &str,
    properties: &[EndpointProperty],
    msg: &mut MessageContext,
) {
    for p in properties.iter().filter(|p| p.name != WEIGHT_PROPERTY) {
        let scope = match p.scope {
            PropertyScope::Default => Scope::Default,
            PropertyScope::Transport => Scope::Transport,
            PropertyScope::Axis2 => Scope::Axis2,
        };
        // Header names and values were validated at load, so this does not fail.
        if let Err(error) = msg.set_property(scope, &p.name, Value::from(p.value.as_str())) {
            tracing::warn!(endpoint, %error, "Endpoint property not applied");
        }
    }
}

/// The method of the request as mediation left it: `HTTP_METHOD` (axis2) or the client's.
pub(crate) fn request_method(msg: &MessageContext) -> Method {
    msg.get_axis2("HTTP_METHOD")
        .and_then(|v| Method::from_bytes(v.to_string().as_bytes()).ok())
        .unwrap_or_else(|| msg.method.clone())
}

/// The method `leaf` sends `msg` with: the one its `format` forces (POST for SOAP, GET for
/// `get`), else its `<http method>`, else the request's.
pub(crate) fn method_for(leaf: &Leaf, msg: &MessageContext) -> Method {
    match (leaf.spec.format, &leaf.spec.target) {
        (Some(EndpointFormat::Soap11 | EndpointFormat::Soap12), _) => Method::POST,
        (Some(EndpointFormat::Get), _) => Method::GET,
        (_, Target::Http(spec)) => spec.method.clone().unwrap_or_else(|| request_method(msg)),
        _ => request_method(msg),
    }
}

/// One active health check of an HTTP leaf: `GET url` within `timeout`, on this thread's
/// client. A 2xx or 3xx answer passes.
///
/// # Errors
/// The classified failure; another status fails with [`ErrorKind::Unhealthy`].
pub(crate) async fn probe(
    url: &str,
    timeout: Duration,
    endpoint: &std::sync::Arc<str>,
    tls: &Arc<BackendTls>,
    leaf: &LeafTls,
) -> Result<(), EndpointError> {
    let request = with_client(tls, leaf, |c| c.get(url))
        .insert_header((header::USER_AGENT, "axon-health-check"));
    let exchange = async {
        let mut response = request
            .send()
            .await
            .map_err(|error| classify_send_error(error, endpoint))?;
        // Read (a bounded part of) the body so the connection can be reused; the verdict
        // is the status alone.
        let status = response.status();
        if let Err(error) = response.body().limit(64 * 1024).await {
            tracing::debug!(%error, "Health check body not read");
        }
        Ok(status)
    };
    let status = match tokio::time::timeout(timeout, exchange).await {
        Err(_) => {
            return Err(EndpointError::health_check_timeout(endpoint.clone(), timeout).at(url));
        }
        Ok(Err(error)) => return Err(EndpointError::at(error, url)),
        Ok(Ok(status)) => status,
    };
    if status.is_success() || status.is_redirection() {
        return Ok(());
    }
    Err(EndpointError::new(
        ErrorKind::Unhealthy,
        ProtocolState::ResponseHead,
        endpoint.clone(),
        format!("the health check was answered with HTTP {status}"),
    )
    .at(url))
}

/// Sends `msg` to the leaf's backend and turns `msg` into the response.
///
/// # Errors
/// A classified [`EndpointError`]; the deadline (endpoint `<timeout>` or the global
/// timeout) gives [`ErrorKind::Timeout`].
pub(crate) async fn send(
    leaf: &Leaf,
    msg: &mut MessageContext,
    limits: &Limits,
) -> Result<(), EndpointError> {
    send_via(leaf, None, msg, limits).await
}

/// As [`send`], to the address `to` instead of the leaf's own (the implicit `To` leaf,
/// shared by every bare `<send/>`, with the address of each message).
///
/// # Errors
/// As [`send`].
pub(crate) async fn send_via(
    leaf: &Leaf,
    to: Option<&str>,
    msg: &mut MessageContext,
    limits: &Limits,
) -> Result<(), EndpointError> {
    apply_properties(leaf, msg);
    let prepared = super::format::prepare(leaf, msg, limits).await?;
    let (url, uri) = target(leaf, to, msg, &prepared)?;
    super::addressing::apply(leaf, msg, &url, limits).await?;
    let method = prepared
        .method
        .clone()
        .unwrap_or_else(|| method_for(leaf, msg));

    let mut req = with_client(&limits.backend_tls, &leaf.spec.tls, |c| {
        c.request(method.clone(), uri)
    })
    .no_decompress();
    forwarded_headers(msg, req.headers_mut());
    let body = request_body(leaf, msg, &method);
    // Built and awaited here, so the request's future is never moved between steps.
    let sending = match body {
        Body::Empty => req.send(),
        Body::Full(bytes) => req.send_body(bytes),
        Body::Stream {
            stream,
            length: Some(len),
        } => req.send_body(SizedStream::new(len, stream)),
        Body::Stream {
            stream,
            length: None,
        } => req.send_stream(stream),
    };
    let deadline = leaf.spec.timeout.duration.unwrap_or(limits.global_timeout);
    let response = match tokio::time::timeout(deadline, sending).await {
        Err(_) => return Err(no_response(leaf, deadline).at(url)),
        Ok(Err(error)) => return Err(classify_send_error(error, &leaf.name).at(url)),
        Ok(Ok(response)) => response,
    };
    let status = response.status();
    let length =
        response_length(leaf, &response, &method).map_err(|error| error.at(url.clone()))?;
    // The response's headers move into the message (no copy); its body stays a stream.
    let mut headers = HeaderMap::new();
    let mut response = response.map_body(|head, payload| {
        headers = std::mem::take(&mut head.headers);
        payload
    });
    strip_hop_by_hop(&mut headers);
    let payload = response.take_payload();
    let body = if method == Method::HEAD || length == Some(0) {
        Body::Empty
    } else {
        let idle = read_idle(leaf, limits);
        let watched = watched::Watched::new(
            Box::pin(payload),
            length,
            idle,
            leaf,
            url.clone(),
            msg.id.clone(),
        );
        Body::stream(Box::pin(watched), length)
    };
    msg.become_response(status, headers, body);
    super::format::check_response(leaf, msg, limits)
        .await
        .map_err(|error| error.at(url))?;
    super::addressing::read_reply(leaf, msg, limits).await;
    Ok(())
}

/// The body to send: none when the message says so (`NO_ENTITY_BODY`), or when a REST
/// endpoint sends a GET or DELETE; else the message's.
fn request_body(leaf: &Leaf, msg: &mut MessageContext, method: &Method) -> Body {
    let no_body = msg
        .get_axis2("NO_ENTITY_BODY")
        .is_some_and(|v| *v == Value::Bool(true) || v.to_string() == "true")
        || (leaf.spec.format == Some(EndpointFormat::Rest)
            && (*method == Method::GET || *method == Method::DELETE));
    if no_body {
        Body::Empty
    } else {
        msg.body.take()
    }
}

/// The longest wait for the next bytes of a response body.
fn read_idle(leaf: &Leaf, limits: &Limits) -> Duration {
    leaf.spec
        .timeout
        .duration
        .unwrap_or(limits.backend_read_timeout)
}

/// The failure of a request that had no response within `deadline`.
fn no_response(leaf: &Leaf, deadline: Duration) -> EndpointError {
    // The backend cannot answer a request it has not received: the client's stall.
    if crate::message::body::ClientSide::waiting_on_client() {
        return EndpointError::client_stalled(leaf.name.clone(), deadline);
    }
    EndpointError::timeout(
        ProtocolState::RequestDone,
        leaf.name.clone(),
        format!("no response within {} ms", deadline.as_millis()),
        leaf.spec.timeout.action == ResponseAction::Discard,
    )
}

/// The declared length of a response's body.
///
/// # Errors
/// A length that cannot be trusted, or a body delimited by the close of the connection
/// ([`ErrorKind::Protocol`]).
fn response_length<S>(
    leaf: &Leaf,
    response: &awc::ClientResponse<S>,
    method: &Method,
) -> Result<Option<u64>, EndpointError> {
    let length = declared_length(response.headers(), &leaf.name)?;
    if framing::unframed(
        response.version(),
        response.status(),
        response.headers(),
        *method == Method::HEAD,
    ) {
        return Err(EndpointError::new(
            ErrorKind::Protocol,
            ProtocolState::ResponseBody,
            leaf.name.clone(),
            "the response body is delimited by the close of the connection, which Axon cannot read over TLS: the backend should send Content-Length or use chunked encoding",
        ));
    }
    Ok(length)
}

/// The backend URL for `msg`: the leaf's address with the postfix and the query its format
/// adds.
///
/// # Errors
/// No valid URL can be made ([`ErrorKind::InvalidAddress`]), or its path has a dot segment
/// ([`ErrorKind::MalformedRequest`], see [`has_dot_segment`](crate::base::path::has_dot_segment)).
fn target(
    leaf: &Leaf,
    to: Option<&str>,
    msg: &MessageContext,
    prepared: &super::format::Prepared,
) -> Result<(String, Uri), EndpointError> {
    let invalid = |cause: Cause| {
        EndpointError::new(
            ErrorKind::InvalidAddress,
            ProtocolState::RequestReady,
            leaf.name.clone(),
            cause,
        )
    };
    let own;
    let address = match to {
        Some(to) => {
            own = Target::Address(crate::config::AddressSpec {
                uri: to.to_owned(),
                member: false,
            });
            &own
        }
        None => &leaf.spec.target,
    };
    let mut url = address::resolve(address, &leaf.config.properties, msg, prepared.rest)
        .map_err(|error| invalid(Cause::error(error.to_string(), error)))?;
    if let Some(query) = &prepared.query {
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(query);
    }
    let uri: Uri = match url.parse() {
        Ok(uri) => uri,
        Err(error) => {
            let text = format!("`{url}` is not a valid URL: {error}");
            return Err(invalid(Cause::error(text, error)).at(url));
        }
    };
    if has_dot_segment(uri.path()) {
        return Err(EndpointError::new(
            ErrorKind::MalformedRequest,
            ProtocolState::RequestReady,
            leaf.name.clone(),
            "the request path has a `.` or `..` segment, which could reach outside the endpoint's base path",
        )
        .at(url));
    }
    Ok((url, uri))
}

/// Copies `msg`'s end-to-end headers into `out`, the request to the backend, and adds the
/// forwarding headers a reverse proxy adds (as nginx and Envoy do):
///
/// - `X-Forwarded-For`: the client's address appended to the list the client sent;
/// - `Forwarded` (RFC 7239): an element `for=…;proto=…;host=…` appended likewise;
/// - `X-Forwarded-Proto`: the scheme the client used (replacing any);
/// - `X-Forwarded-Host`: the client's `Host`, unless a proxy in front already set it.
///
/// The client's address is the `REMOTE_ADDR` axis2 property the fronts set (as in Synapse);
/// without it (a message made by mediation alone) no address is added.
fn forwarded_headers(msg: &MessageContext, out: &mut HeaderMap) {
    let named = connection_named(&msg.headers);
    for (name, value) in &msg.headers {
        if is_hop_by_hop(name) || named.contains(name) {
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    let host = msg.headers.get(header::HOST).and_then(|v| v.to_str().ok());
    if let Some(Value::Str(client)) = msg.get_axis2(REMOTE_ADDR) {
        append_to_list(out, X_FORWARDED_FOR, client);
        let mut element = String::with_capacity(64);
        if client.contains(':') {
            element.extend(["for=\"[", client, "]\""]);
        } else {
            element.extend(["for=", client]);
        }
        element.extend([";proto=", msg.scheme]);
        if let Some(host) = host.filter(|h| !h.contains(['"', '\\'])) {
            element.push_str(";host=\"");
            element.push_str(host);
            element.push('"');
        }
        append_to_list(out, header::FORWARDED, &element);
    }
    out.insert(X_FORWARDED_PROTO, HeaderValue::from_static(msg.scheme));
    let forwarded_host = X_FORWARDED_HOST;
    if let Some(host) = host.and_then(|h| HeaderValue::from_str(h).ok())
        && !out.contains_key(&forwarded_host)
    {
        out.insert(forwarded_host, host);
    }
}

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// Appends `item` to the comma-separated list in header `name` (all its lines joined).
fn append_to_list(headers: &mut HeaderMap, name: HeaderName, item: &str) {
    if !headers.contains_key(&name) {
        if let Ok(value) = HeaderValue::from_str(item) {
            headers.insert(name, value);
        }
        return;
    }
    let mut list: Vec<&str> = headers
        .get_all(&name)
        .filter_map(|v| v.to_str().ok())
        .collect();
    list.push(item);
    if let Ok(value) = HeaderValue::from_str(&list.join(", ")) {
        headers.insert(name, value);
    }
}

/// The axis2 property holding the client's IP address (Synapse's name).
pub(crate) const REMOTE_ADDR: &str = "REMOTE_ADDR";

/// Records the client's address on `msg` for [`forwarded_headers`] (and mediation, as
/// `get-property('axis2', 'REMOTE_ADDR')`). Every front calls this on the requests it makes.
pub(crate) fn note_client_address(msg: &mut MessageContext, peer: Option<std::net::SocketAddr>) {
    if let Some(peer) = peer {
        msg.set_axis2(REMOTE_ADDR, Value::Str(ip_text(peer.ip())));
    }
}

/// The address as `Display` writes it, an IPv4 one without the formatter (every request
/// has one).
fn ip_text(ip: std::net::IpAddr) -> String {
    let std::net::IpAddr::V4(v4) = ip else {
        return ip.to_string();
    };
    let mut text = String::with_capacity(15);
    for (i, octet) in v4.octets().into_iter().enumerate() {
        if i > 0 {
            text.push('.');
        }
        if octet >= 100 {
            text.push(char::from(b'0' + octet / 100));
        }
        if octet >= 10 {
            text.push(char::from(b'0' + octet / 10 % 10));
        }
        text.push(char::from(b'0' + octet % 10));
    }
    text
}

/// The body length a response declares with `Content-Length`.
///
/// # Errors
/// A response with both `Content-Length` and `Transfer-Encoding` (RFC 9112 §6.3: a sign of
/// response splitting or smuggling, "ought to be handled as an error") is a protocol
/// violation of the backend (101510): it is not forwarded, and its connection is not reused.
fn declared_length(
    headers: &HeaderMap,
    endpoint: &std::sync::Arc<str>,
) -> Result<Option<u64>, EndpointError> {
    let length = headers.get(header::CONTENT_LENGTH);
    if length.is_some() && headers.contains_key(header::TRANSFER_ENCODING) {
        return Err(EndpointError::new(
            ErrorKind::Protocol,
            ProtocolState::ResponseHead,
            endpoint.clone(),
            "the response has both Content-Length and Transfer-Encoding",
        ));
    }
    Ok(length
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderValue;

    #[test]
    fn hop_by_hop_headers_and_those_connection_names_are_removed_in_place() {
        let mut headers = HeaderMap::new();
        let add = |h: &mut HeaderMap, name: &'static str, value: &'static str| {
            h.append(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        };
        add(&mut headers, "connection", "keep-alive, X-Hop");
        add(&mut headers, "keep-alive", "timeout=5");
        add(&mut headers, "x-hop", "1");
        add(&mut headers, "content-length", "1024");
        add(&mut headers, "transfer-encoding", "chunked");
        add(&mut headers, "content-type", "text/plain");
        add(&mut headers, "set-cookie", "a=1");
        add(&mut headers, "set-cookie", "b=2");
        add(&mut headers, "x-end-to-end", "kept");
        strip_hop_by_hop(&mut headers);
        let mut names: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
        names.sort_unstable();
        assert_eq!(names, ["content-type", "set-cookie", "x-end-to-end"]);
        let cookies: Vec<_> = headers.get_all(header::SET_COOKIE).collect();
        assert_eq!(cookies, ["a=1", "b=2"]);
    }

    #[test]
    fn client_addresses_read_as_display_writes_them() {
        for ip in [
            "0.0.0.0",
            "127.0.0.1",
            "10.20.30.40",
            "255.255.255.255",
            "::1",
            "fe80::1",
        ] {
            let addr: std::net::IpAddr = ip.parse().expect("an address");
            assert_eq!(ip_text(addr), addr.to_string());
        }
    }

    #[test]
    fn a_map_without_hop_by_hop_headers_is_left_alone() {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("a/b"));
        strip_hop_by_hop(&mut headers);
        assert_eq!(headers.len(), 1);
    }
}
