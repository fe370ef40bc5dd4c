//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`; not part of the API).
//!
//! Each function takes any bytes, drives one parser or matcher of Axon the way the engine
//! does, and returns nothing: the fuzzer only looks for panics, aborts (a stack overflow),
//! hangs and runaway memory. None of them panics on its own. Inputs are split into fields
//! at newlines (see each function), so hand-written seeds stay readable; see
//! `docs/reliability.md`, section "Fuzzing".

use std::path::PathBuf;
use std::sync::OnceLock;

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::http::{Method, Uri};
use bytes::Bytes;
use prost::Message as _;

use crate::base::uri_template::{UriTemplate, UrlMapping};
use crate::config::{AddressSpec, Config, EndpointKind, HttpSpec, Target};
use crate::endpoints::address;
use crate::engine::Mediation;
use crate::engine::dispatch::{self, RequestHead, Route, Router};
use crate::expr::Expression;
use crate::message::soap::{self, Envelope, EnvelopeCheck, SoapVersion};
use crate::message::{Body, MessageContext, json_xml, payload};

/// Namespaces in scope of the fuzzed expressions (as a config element would declare them).
const SOAP11_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";

/// The first line of `data` (lossy UTF-8) and the bytes after it.
fn first_line(data: &[u8]) -> (String, &[u8]) {
    let (line, rest) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &data[data.len()..]),
    };
    (String::from_utf8_lossy(line).into_owned(), rest)
}

/// A request message as the HTTP front builds it (headers, a body already read).
fn message(method: Method, uri: Uri, headers: HeaderMap, body: &[u8]) -> MessageContext {
    let body = if body.is_empty() {
        Body::Empty
    } else {
        Body::Full(Bytes::copy_from_slice(body))
    };
    MessageContext::request(method, uri, "http", headers, body)
}

fn content_type(value: &'static str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        actix_web::http::header::CONTENT_TYPE,
        HeaderValue::from_static(value),
    );
    headers
}

// === config ===

/// The folder the config target writes its one file into, one per process.
fn config_dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("axon-fuzz-config-{}", std::process::id()));
        _ = std::fs::create_dir_all(&dir);
        dir
    })
}

/// `data` is the whole content of the one file of a mediation folder: the loader reads
/// it from disk as `axon check` does, and answers with a config or diagnostics. A config
/// that loads is also turned into the HTTP and gRPC routers.
pub fn config(data: &[u8]) {
    let dir = config_dir();
    if std::fs::write(dir.join("fuzz.xml"), data).is_err() {
        return;
    }
    match Mediation::load(dir) {
        Ok(Mediation { config, .. }) => {
            _ = Router::new(&config);
            _ = Router::grpc(&config);
        }
        Err(diags) => _ = diags.to_string(),
    }
}

// === uri templates ===

/// Lines: a template, a request path (with `?query`), then `name=value` message
/// properties. The template is compiled both as a resource `uri-template` (matched
/// against the path) and a `url-mapping`, and expanded as an endpoint's `<http
/// uri-template>` and `<address uri>` with the matched variables and the properties.
pub fn uri_template(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.split('\n');
    let template = lines.next().unwrap_or("");
    let target = lines.next().unwrap_or("");
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target, None),
    };
    let mut msg = message(Method::GET, Uri::from_static("/"), HeaderMap::new(), b"");
    if let Ok(t) = UriTemplate::parse(template) {
        _ = t.as_str();
        for (name, value) in t.matches(path, query).unwrap_or_default() {
            msg.set(format!("uri.var.{name}"), value);
        }
    }
    if let Ok(mapping) = UrlMapping::parse(template) {
        _ = mapping.matches(path);
    }
    for line in lines {
        let (name, value) = line.split_once('=').unwrap_or((line, ""));
        msg.set(name.to_owned(), value.to_owned());
    }
    msg.set_axis2("REST_URL_POSTFIX", target.to_owned());
    let props = Vec::new();
    if let Some(http) = http_target(template) {
        _ = address::resolve(&http, &props, &msg, true);
        if let Target::Http(mut spec) = http {
            spec.method = Some(Method::POST);
            _ = address::resolve(&Target::Http(spec), &props, &msg, true);
        }
    }
    let plain = Target::Address(AddressSpec {
        uri: template.to_owned(),
        member: false,
    });
    _ = address::resolve(&plain, &props, &msg, true);
}

/// An `<http uri-template>` target as the config loader compiles it.
fn http_target(raw: &str) -> Option<Target> {
    let (legacy_encoding, source, template) = crate::config::http_template(raw).ok()?;
    Some(Target::Http(HttpSpec::new(
        source.to_owned(),
        template,
        None,
        legacy_encoding,
    )))
}

// === expressions ===

/// Line one is an XPath (with the prefixes `soapenv` and `m` declared), the rest the XML
/// payload of a `text/xml` request. The expression is evaluated as a value, a string and
/// a condition, and the parsed payload written back to bytes and parsed again.
pub fn xpath(data: &[u8]) {
    let (source, body) = first_line(data);
    let namespaces = [
        ("soapenv".to_owned(), SOAP11_NS.to_owned()),
        ("m".to_owned(), "urn:m".to_owned()),
    ];
    let mut msg = message(
        Method::POST,
        Uri::from_static("/"),
        content_type("text/xml"),
        body,
    );
    msg.set("p", "v");
    if let Ok(expr) = Expression::compile(&source, &namespaces) {
        _ = expr.evaluate(&mut msg);
        _ = expr.string(&mut msg);
        _ = expr.boolean(&mut msg);
    }
    if msg.load_xml().is_ok() {
        msg.commit_xml();
        if let Ok(bytes) = msg.body_bytes() {
            _ = crate::message::xml::XmlDoc::parse(&bytes);
        }
    }
}

/// Line one is a JSONPath, the rest the payload of an `application/json` request. The
/// path is evaluated as `json-eval(...)` (value, string, condition) and its result mapped
/// to XML as the enrich and payload mediators do; then line one is compiled and evaluated
/// as a `${...}` Synapse expression.
pub fn json_eval(data: &[u8]) {
    let (path, body) = first_line(data);
    let mut msg = message(
        Method::POST,
        Uri::from_static("/"),
        content_type("application/json"),
        body,
    );
    let Ok(expr) = Expression::compile(&format!("json-eval({path})"), &[]) else {
        _ = msg.load_json();
        return;
    };
    if let Ok(crate::expr::Evaluated::Json(value)) = expr.evaluate(&mut msg) {
        _ = payload::json_as_xml(&value);
    }
    _ = expr.string(&mut msg);
    _ = expr.boolean(&mut msg);
    // The same line as an MI 4.4 Synapse expression over the same payload.
    if let Ok(expr) = Expression::compile(&format!("${{{path}}}"), &[]) {
        _ = expr.evaluate(&mut msg);
        _ = expr.boolean(&mut msg);
    }
}

// === JSON <-> XML ===

/// The bytes as JSON (mapped to XML, which is parsed and mapped back) and as XML (mapped
/// to JSON and back to XML), whichever they parse as.
pub fn json_xml(data: &[u8]) {
    if let Ok(json) = serde_json::from_slice::<serde_json::Value>(data) {
        let xml = json_xml::json_to_xml(&json);
        if let Ok(root) = soap::parse_xml(xml.as_bytes()) {
            _ = json_xml::xml_to_json(&root);
        }
        _ = payload::json_as_xml(&json);
    }
    if let Ok(root) = soap::parse_xml(data) {
        let json = json_xml::xml_to_json(&root);
        _ = json_xml::json_to_xml(&json);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        _ = payload::xml_as_json(text);
    }
}

// === SOAP ===

/// Byte one picks the expected version (low bit) and the chunk size of the streaming
/// check (the rest, 1 to 128 bytes); the rest is the body. It goes through the streaming
/// check chunk by chunk, and through the tree parser with everything a SOAP proxy reads
/// from an envelope (fault, payload, headers, conversion to the other version).
pub fn soap(data: &[u8]) {
    let Some((&control, body)) = data.split_first() else {
        return;
    };
    let version = if control & 1 == 0 {
        SoapVersion::V11
    } else {
        SoapVersion::V12
    };
    let chunk = usize::from(control >> 1) + 1;
    let mut check = EnvelopeCheck::new(version);
    let mut chunks = body.chunks(chunk).peekable();
    while let Some(piece) = chunks.next() {
        if check.feed(piece, chunks.peek().is_none()).is_err() {
            break;
        }
    }
    if body.is_empty() {
        _ = check.feed(b"", true);
    }
    _ = soap::sniff(body);
    _ = soap::root_name(body);
    if let Ok(envelope) = Envelope::parse(body) {
        _ = envelope.fault();
        _ = envelope.payload();
        _ = envelope.header_blocks();
        for to in [SoapVersion::V11, SoapVersion::V12] {
            _ = envelope.convert(to);
            _ = envelope.converted_headers(to);
        }
    }
}

// === gRPC ===

/// The bytes as a `grpc-timeout` value, a `grpc-message` value, a content type and a
/// length-prefixed body whose first message is decoded as a health-check request and
/// response; then lines of `name: value` metadata converted from and to the wire.
pub fn grpc(data: &[u8]) {
    if let Some(timeout) = crate::base::grpc::parse_timeout(data) {
        _ = crate::base::grpc::encode_timeout(timeout);
    }
    if let Ok(value) = http::HeaderValue::from_bytes(data) {
        _ = crate::base::grpc::decode_message(&value);
    }
    _ = crate::base::grpc::encode_message(&String::from_utf8_lossy(data));
    _ = crate::base::grpc::is_grpc_content_type(data);
    if let Some(first) = crate::base::grpc::first_message(data) {
        _ = crate::base::grpc::HealthCheckRequest::decode(first);
        _ = crate::base::grpc::HealthCheckResponse::decode(first);
    }
    _ = crate::base::grpc::first_message(&crate::base::grpc::frame(data));
    let mut wire = http::HeaderMap::new();
    for line in data.split(|&b| b == b'\n') {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(&line[..colon]),
            http::HeaderValue::from_bytes(line[colon + 1..].trim_ascii()),
        ) else {
            continue;
        };
        wire.append(name, value);
    }
    let headers = crate::message::grpc::headers_from_wire(&wire);
    _ = crate::message::grpc::headers_to_wire(&headers, &["te"]);
}

// === the HTTP request path ===

/// The configuration the request target routes against: APIs with templates, mappings,
/// host and port constraints, filters, and endpoints whose addresses take variables.
const ROUTED_CONFIG: &str = r##"<?xml version="1.0" encoding="UTF-8"?>
<!-- The configuration the `http_request` fuzz target routes requests against. -->
<definitions xmlns="http://ws.apache.org/ns/synapse">
    <endpoint name="Templated">
        <http uri-template="http://127.0.0.1:9/users/{uri.var.id}/{uri.var.rest}{?query.param.q,query.param.fields}"/>
    </endpoint>
    <endpoint name="Whole">
        <http uri-template="{uri.var.url}" method="post"/>
    </endpoint>
    <endpoint name="Legacy">
        <http uri-template="legacy-encoding:http://127.0.0.1:9/l/{uri.var.id}{+uri.var.rest}"/>
    </endpoint>
    <endpoint name="Plain">
        <address uri="http://127.0.0.1:9/base/${tenant}"/>
    </endpoint>
    <sequence name="Forward">
        <send><endpoint key="Templated"/></send>
    </sequence>
    <api name="Users" context="/users">
        <resource methods="GET PUT DELETE" uri-template="/{id}/{rest}" inSequence="Forward"/>
        <resource methods="GET" uri-template="/{id}?q={q}&amp;fields={fields}" inSequence="Forward"/>
        <resource methods="POST" uri-template="/{+url}" content-type="application/json" inSequence="Forward"/>
        <resource methods="PATCH" uri-template="/p{#frag}{.ext}{/seg}" inSequence="Forward"/>
        <resource methods="HEAD" uri-template="/c/{code:3}{+tail}" inSequence="Forward"/>
    </api>
    <api name="UsersV2" context="/{version}/users" version="v2" version-type="context">
        <resource methods="GET POST" url-mapping="/*" user-agent="^curl/.*" inSequence="Forward"/>
    </api>
    <api name="UsersV3" context="/users" version="v3" version-type="url">
        <resource methods="GET" uri-template="/{id}" inSequence="Forward"/>
    </api>
    <api name="Hosted" context="/hosted" hostname="api.example" port="8443">
        <resource methods="GET" url-mapping="/exact" protocol="https" inSequence="Forward"/>
        <resource methods="GET" url-mapping="*.json" inSequence="Forward"/>
        <resource methods="OPTIONS" url-mapping="/opts/*" inSequence="Forward"/>
    </api>
    <api name="Root" context="/">
        <resource url-mapping="/*" inSequence="Forward"/>
    </api>
    <proxy name="Quotes">
        <target endpoint="Plain"/>
    </proxy>
</definitions>"##;

/// The routed configuration, loaded once. It is fixed, not fuzzed: if it stopped loading
/// (a change of the config language), the target would test nothing, so it says so at once.
fn routed() -> &'static (Config, Router) {
    static ROUTED: OnceLock<(Config, Router)> = OnceLock::new();
    ROUTED.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("axon-fuzz-routed-{}", std::process::id()));
        let written = std::fs::create_dir_all(&dir)
            .and_then(|()| std::fs::write(dir.join("routed.xml"), ROUTED_CONFIG));
        if let Err(error) = written {
            panic!("cannot write the routed configuration: {error}");
        }
        let config = match Mediation::load(&dir) {
            Ok(mediation) => mediation.config,
            Err(diags) => panic!("the routed configuration does not load:\n{diags}"),
        };
        let router = Router::new(&config);
        (config, router)
    })
}

/// An HTTP/1 request head (`METHOD target`, then `name: value` lines, an empty line) and
/// its body, as the HTTP front sees them after actix-web parsed the request: the proxy
/// route, the API router, the message context with the dispatch properties, the query
/// parameters, the client's format, every leaf's backend address, and the payload read
/// by an XPath and a json-eval. A full actix-web round trip per input would be a thousand
/// times slower; the HTTP parser itself is actix-web's, not ours.
pub fn http_request(data: &[u8]) {
    let (config, router) = routed();
    let (head, body) = split_head(data);
    let Some((method, uri, headers)) = parse_head(head) else {
        return;
    };
    _ = crate::config::proxy_route(&config.proxies, uri.path());
    let header = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    let request = RequestHead {
        method: &method,
        path: uri.path(),
        query: uri.query(),
        host: header(actix_web::http::header::HOST),
        scheme: "http",
        content_type: header(actix_web::http::header::CONTENT_TYPE),
        has_body: !body.is_empty(),
        user_agent: header(actix_web::http::header::USER_AGENT),
    };
    let route = router.route(config, &request);
    let full_path = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
    let mut msg = message(method.clone(), uri.clone(), headers.clone(), body);
    if let Route::Resource {
        api,
        resource,
        vars,
        params,
        sub_path,
    } = route
    {
        dispatch::set_api_properties(&mut msg, api, &resource.name, &vars, &sub_path, &full_path);
        for (name, value) in params {
            msg.set(format!("query.param.{name}"), value);
        }
        let postfix = uri.path().get(api.context.len()..).unwrap_or("");
        msg.set_axis2("REST_URL_POSTFIX", postfix.to_owned());
    }
    _ = crate::base::query::parse_query(uri.query());
    for (_, endpoint) in config.endpoints() {
        if let EndpointKind::Leaf(leaf) = &endpoint.kind {
            _ = address::resolve(&leaf.target, &endpoint.properties, &msg, true);
        }
    }
    for source in ["//*[local-name()='id']", "json-eval($..id)", "$trp:Host"] {
        if let Ok(expr) = Expression::compile(source, &[]) {
            _ = expr.string(&mut msg);
        }
    }
}

/// The head (up to the first empty line) and the body.
fn split_head(data: &[u8]) -> (&[u8], &[u8]) {
    match data.windows(2).position(|w| w == b"\n\n") {
        Some(i) => (&data[..i], &data[i + 2..]),
        None => (data, &data[data.len()..]),
    }
}

/// Method, target and headers, each refused as actix-web's parser would (invalid tokens
/// skip the request, invalid header lines are dropped).
fn parse_head(head: &[u8]) -> Option<(Method, Uri, HeaderMap)> {
    let mut lines = head.split(|&b| b == b'\n');
    let request_line = lines.next()?.trim_ascii();
    let mut parts = request_line.splitn(2, |&b| b == b' ');
    let method = Method::from_bytes(parts.next()?).ok()?;
    let uri = Uri::try_from(parts.next()?.trim_ascii()).ok()?;
    let mut headers = HeaderMap::new();
    for line in lines {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(&line[..colon]),
            HeaderValue::from_bytes(line[colon + 1..].trim_ascii()),
        ) {
            headers.append(name, value);
        }
    }
    Some((method, uri, headers))
}
