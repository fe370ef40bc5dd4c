//! Prototype endpoints: leaves that answer by themselves, from inline responses or an
//! OpenAPI document's examples, with programmable faults (reference §6; the user guide is
//! `docs/prototyping.md`).
//!
//! A prototype is an ordinary leaf: it has an actor and a health word, it can be switched
//! OFF, and it is admitted like any other leaf. What differs is the sending: instead of a
//! backend call, [`answer`] plans the reply from the request ([`plan`], a plain function of
//! the request and the call number), waits for the planned delay under the same deadline a
//! backend call has, and turns the message into the response. Its own outcomes (programmed
//! faults, a delay past the deadline) never change its health: it stays ACTIVE unless an
//! operator switches it OFF.
//!
//! It serves only messages that came through an API whose live lifecycle state is
//! PROTOTYPED ([`in_service`]); for any other the endpoint is not ready (503, 303001), so
//! moving an API away from PROTOTYPED at run time takes its mock out of service.

pub(crate) mod negotiate;

use std::time::Duration;

use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use bytes::Bytes;

use self::negotiate::{MockError, parse_prefer};
use super::Leaf;
use crate::base::error::{EndpointError, ErrorKind, ProtocolState};
use crate::base::lifecycle::Lifecycle;
use crate::base::limits::Limits;
use crate::base::mediation::error_json;
use crate::config::{
    Escape, FaultAction, FaultRule, FaultWhen, MockBody, OpenApiMock, Part, PrototypeSpec, Template,
};
use crate::message::{Body, MessageContext, Value, body};

/// The response header naming the programmed fault that produced a response.
pub(crate) const FAULT_HEADER: &str = "x-axon-prototype-fault";
/// Error code of a request no mock resource matches (WSO2's "no matching resource").
pub(crate) const NO_MATCHING_RESOURCE: u32 = 900_906;

/// What a prototype will do for one call.
#[derive(Debug, Clone)]
pub struct Plan {
    /// How long to wait before the outcome.
    pub(crate) delay: Duration,
    /// The outcome.
    pub(crate) outcome: Outcome,
}

/// How a call ends.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Answer with this response.
    Respond {
        /// Status.
        status: StatusCode,
        /// Headers.
        headers: HeaderMap,
        /// Body.
        body: Bytes,
    },
    /// Close the client's connection without an answer (a programmed fault).
    Drop {
        /// The rule, for the log.
        rule: String,
    },
}

/// The facts of a request that a prototype looks at.
#[derive(Debug)]
pub struct Request<'m> {
    msg: &'m MessageContext,
    method: Method,
    path: String,
}

// === impl Request ===

impl<'m> Request<'m> {
    /// The request view of `msg`: its method (`HTTP_METHOD` wins), and its path after the
    /// API context (`REST_SUB_REQUEST_PATH`, else the whole path).
    pub fn of(msg: &'m MessageContext) -> Self {
        let method = msg
            .get_axis2("HTTP_METHOD")
            .and_then(|v| Method::from_bytes(v.to_string().as_bytes()).ok())
            .unwrap_or_else(|| msg.method.clone());
        let path = match msg.get("REST_SUB_REQUEST_PATH") {
            Some(Value::Str(p)) => p.clone(),
            _ => msg.uri.path().to_owned(),
        };
        Request { msg, method, path }
    }

    fn header(&self, name: &HeaderName) -> Option<&str> {
        self.msg.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn property(&self, prefix: &str, name: &str) -> Option<String> {
        self.msg
            .get(&format!("{prefix}{name}"))
            .map(Value::to_string)
    }
}

/// Refuses the message unless it came through an API that is PROTOTYPED now.
///
/// # Errors
/// A not-ready failure (503, 303001) that says why the mock is out of service.
pub(crate) fn in_service(leaf: &Leaf, msg: &MessageContext) -> Result<(), EndpointError> {
    let why = match &msg.api {
        Some(api) if api.state() == Lifecycle::Prototyped => return Ok(()),
        Some(api) => format!("the API `{}` is {}", api.name(), api.state()),
        None => "the message came through no API".to_owned(),
    };
    Err(super::not_ready_because(
        leaf,
        format!(
            "prototype endpoint `{}` is out of service: {why}, and a prototype endpoint serves only PROTOTYPED APIs",
            leaf.name
        ),
    ))
}

/// Answers `msg` as the prototype `spec` (call number `call` of this endpoint), within the
/// deadline a backend call would have. The endpoint's `<property>` children are applied
/// first, as before any send, so they can feed the placeholders.
///
/// # Errors
/// A timeout (101504) when the planned delay passes the deadline.
pub(crate) async fn answer(
    spec: &PrototypeSpec,
    leaf: &Leaf,
    msg: &mut MessageContext,
    limits: &Limits,
    call: u64,
) -> Result<(), EndpointError> {
    super::http::apply_properties(leaf, msg);
    let plan = plan(spec, &leaf.name, &Request::of(msg), call);
    let deadline = leaf.spec.timeout.duration.unwrap_or(limits.global_timeout);
    if plan.delay > deadline {
        tokio::time::sleep(deadline).await;
        return Err(EndpointError::new(
            ErrorKind::Timeout,
            ProtocolState::RequestDone,
            leaf.name.clone(),
            format!(
                "the prototype's programmed delay of {} ms is longer than the deadline of {} ms",
                plan.delay.as_millis(),
                deadline.as_millis()
            ),
        ));
    }
    if !plan.delay.is_zero() {
        tokio::time::sleep(plan.delay).await;
    }
    match plan.outcome {
        Outcome::Respond {
            status,
            headers,
            body,
        } => {
            let body = if body.is_empty() || msg.method == Method::HEAD {
                Body::Empty
            } else {
                Body::Full(body)
            };
            msg.become_response(status, headers, body);
        }
        Outcome::Drop { rule } => {
            tracing::info!(endpoint = %leaf.name, %rule, "Prototype endpoint drops the connection, as programmed");
            // A body that fails before its first byte, on purpose: the front closes the
            // connection without writing the response head.
            let failing =
                body::dropped_connection("connection dropped by a programmed prototype fault");
            msg.become_response(
                StatusCode::BAD_GATEWAY,
                HeaderMap::new(),
                Body::Stream {
                    stream: failing,
                    length: None,
                },
            );
        }
    }
    Ok(())
}

/// Plans the answer to call number `call` of prototype `endpoint`: the first programmed
/// fault that hits it, else the first inline response that matches, else the OpenAPI
/// document, else 404/405.
pub fn plan(spec: &PrototypeSpec, endpoint: &str, req: &Request<'_>, call: u64) -> Plan {
    let (delay, fault) = programmed_fault(spec, endpoint, req, call);
    if let Some(outcome) = fault {
        return Plan { delay, outcome };
    }
    let mut allow: Vec<Method> = Vec::new();
    if let Some((more, outcome)) = inline_response(spec, req, &mut allow) {
        return Plan {
            delay: delay + more,
            outcome,
        };
    }
    let outcome = match &spec.openapi {
        Some(doc) => from_openapi(doc, req, &mut allow),
        None => None,
    };
    let outcome = outcome.unwrap_or_else(|| no_response(endpoint, req, allow));
    Plan { delay, outcome }
}

/// The first programmed fault that hits call number `call`: its delay, and its answer
/// unless it only delays.
fn programmed_fault(
    spec: &PrototypeSpec,
    endpoint: &str,
    req: &Request<'_>,
    call: u64,
) -> (Duration, Option<Outcome>) {
    let Some(fault) = spec.faults.iter().find(|f| hits(f, req, call)) else {
        return (Duration::ZERO, None);
    };
    let rule = fault.when.to_string();
    let outcome = match &fault.action {
        FaultAction::Delay => None,
        FaultAction::Drop => Some(Outcome::Drop { rule }),
        FaultAction::Status {
            status,
            headers,
            body,
        } => Some(fault_response(
            *status,
            headers,
            body.as_ref(),
            &rule,
            endpoint,
            req,
        )),
    };
    (fault.delay, outcome)
}

/// The answer of a fault programmed with a status: its headers and body, or a JSON error.
fn fault_response(
    status: StatusCode,
    headers: &[(HeaderName, Template)],
    body: Option<&MockBody>,
    rule: &str,
    endpoint: &str,
    req: &Request<'_>,
) -> Outcome {
    let mut map = render_headers(headers, &[], req);
    if let Ok(v) = HeaderValue::from_str(rule) {
        map.insert(HeaderName::from_static(FAULT_HEADER), v);
    }
    let body = match body {
        Some(b) => render_body(b, &[], req, &mut map),
        None => {
            map.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            let detail = format!("programmed fault of prototype endpoint `{endpoint}`: {rule}");
            let message = status.canonical_reason().unwrap_or("Programmed fault");
            Bytes::from(error_json(status, 0, message, &detail))
        }
    };
    Outcome::Respond {
        status,
        headers: map,
        body,
    }
}

/// The first inline response matching the request, with its delay; the methods of those
/// whose path matched but not their method are added to `allow`.
fn inline_response(
    spec: &PrototypeSpec,
    req: &Request<'_>,
    allow: &mut Vec<Method>,
) -> Option<(Duration, Outcome)> {
    for response in &spec.responses {
        let vars = match &response.path {
            None => Vec::new(),
            Some(pattern) => match pattern.0.matches(&req.path, None) {
                Some(vars) => vars,
                None => continue,
            },
        };
        if !method_matches(&response.methods, &req.method) {
            allow.extend(response.methods.iter().cloned());
            continue;
        }
        let mut headers = render_headers(&response.headers, &vars, req);
        let body = match &response.body {
            Some(b) => render_body(b, &vars, req, &mut headers),
            None => Bytes::new(),
        };
        let outcome = Outcome::Respond {
            status: response.status,
            headers,
            body,
        };
        return Some((response.delay, outcome));
    }
    None
}

/// Nothing answers the request: 404, or 405 with `Allow` when only the method differed.
fn no_response(endpoint: &str, req: &Request<'_>, mut allow: Vec<Method>) -> Outcome {
    if allow.is_empty() {
        let detail = format!(
            "prototype endpoint `{endpoint}` has no response for {} {}",
            req.method, req.path
        );
        return error_outcome(
            StatusCode::NOT_FOUND,
            NO_MATCHING_RESOURCE,
            "No matching resource",
            &detail,
        );
    }
    allow.dedup();
    let detail = format!(
        "prototype endpoint `{endpoint}` has no {} response for {}",
        req.method, req.path
    );
    let mut outcome = error_outcome(
        StatusCode::METHOD_NOT_ALLOWED,
        NO_MATCHING_RESOURCE,
        "Method not allowed",
        &detail,
    );
    if let Outcome::Respond { headers, .. } = &mut outcome {
        let list: Vec<&str> = allow.iter().map(Method::as_str).collect();
        if let Ok(v) = HeaderValue::from_str(&list.join(", ")) {
            headers.insert(header::ALLOW, v);
        }
    }
    outcome
}

fn hits(fault: &FaultRule, req: &Request<'_>, call: u64) -> bool {
    match &fault.when {
        FaultWhen::Every(n) => call > 0 && call.is_multiple_of(u64::from(*n)),
        FaultWhen::Header { name, equals } => match (req.header(name), equals) {
            (Some(_), None) => true,
            (Some(v), Some(want)) => v == want,
            (None, _) => false,
        },
        FaultWhen::Query { name, equals } => match (req.property("query.param.", name), equals) {
            (Some(_), None) => true,
            (Some(v), Some(want)) => v == *want,
            (None, _) => false,
        },
    }
}

/// An empty list accepts every method; HEAD is answered by a GET response.
fn method_matches(methods: &[Method], method: &Method) -> bool {
    methods.is_empty()
        || methods.contains(method)
        || (*method == Method::HEAD && methods.contains(&Method::GET))
}

fn from_openapi(doc: &OpenApiMock, req: &Request<'_>, allow: &mut Vec<Method>) -> Option<Outcome> {
    let path = doc
        .paths
        .iter()
        .find(|p| p.pattern.0.matches(&req.path, None).is_some())?;
    let op = path
        .operations
        .iter()
        .find(|o| o.method == req.method)
        .or_else(|| {
            (req.method == Method::HEAD)
                .then(|| path.operations.iter().find(|o| o.method == Method::GET))
                .flatten()
        });
    let Some(op) = op else {
        allow.extend(path.operations.iter().map(|o| o.method.clone()));
        return None;
    };
    let prefer = parse_prefer(
        req.msg
            .headers
            .get_all(HeaderName::from_static("prefer"))
            .filter_map(|v| v.to_str().ok()),
    );
    let accept = req.header(&header::ACCEPT);
    Some(
        match negotiate::choose(op, &path.template, &prefer, accept) {
            Ok(choice) => {
                let mut headers = HeaderMap::new();
                for (name, value) in choice.headers {
                    headers.append(name.clone(), value.clone());
                }
                if let Some(media) = choice.media_type.as_deref()
                    && let Ok(v) = HeaderValue::from_str(media)
                {
                    headers.insert(header::CONTENT_TYPE, v);
                }
                if !choice.applied.is_empty()
                    && let Ok(v) = HeaderValue::from_str(&choice.applied.join(", "))
                {
                    headers.insert(HeaderName::from_static("preference-applied"), v);
                }
                Outcome::Respond {
                    status: choice.status,
                    headers,
                    body: choice.body.cloned().unwrap_or_default(),
                }
            }
            Err(error) => mock_error(&error),
        },
    )
}

fn mock_error(error: &MockError) -> Outcome {
    let (status, code, message, detail) = error.status_code_message();
    error_outcome(status, code, message, detail)
}

fn error_outcome(status: StatusCode, code: u32, message: &str, detail: &str) -> Outcome {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(
        HeaderName::from_static(crate::base::headers::ERROR_CODE_HEADER),
        HeaderValue::from(code),
    );
    Outcome::Respond {
        status,
        headers,
        body: Bytes::from(error_json(status, code, message, detail)),
    }
}

fn render_headers(
    templates: &[(HeaderName, Template)],
    vars: &[(String, String)],
    req: &Request<'_>,
) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, template) in templates {
        // A value from the request that is not a valid header value drops the header.
        if let Ok(v) = HeaderValue::from_str(&render(template, vars, req)) {
            map.append(name.clone(), v);
        }
    }
    map
}

fn render_body(
    body: &MockBody,
    vars: &[(String, String)],
    req: &Request<'_>,
    headers: &mut HeaderMap,
) -> Bytes {
    if !headers.contains_key(header::CONTENT_TYPE) {
        headers.insert(header::CONTENT_TYPE, body.media_type.clone());
    }
    match body.template.as_literal() {
        Some(text) => Bytes::copy_from_slice(text.as_bytes()),
        None => Bytes::from(render(&body.template, vars, req)),
    }
}

/// Fills a template: path variables of the matched response first, then the message's
/// `uri.var.*`; `query.param.*` properties; request headers. A missing value is empty.
pub(crate) fn render(template: &Template, vars: &[(String, String)], req: &Request<'_>) -> String {
    let mut out = String::new();
    for part in &template.parts {
        let value = match part {
            Part::Literal(text) => {
                out.push_str(text);
                continue;
            }
            Part::UriVar(name) => vars
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
                .or_else(|| req.property("uri.var.", name)),
            Part::QueryParam(name) => req.property("query.param.", name),
            Part::Header(name) => req.header(name).map(str::to_owned),
        };
        let value = value.unwrap_or_default();
        match template.escape {
            Escape::None => out.push_str(&value),
            Escape::Json => {
                let quoted = serde_json::to_string(&value).unwrap_or_default();
                out.push_str(quoted.get(1..quoted.len().saturating_sub(1)).unwrap_or(""));
            }
            Escape::Xml => crate::base::xml::escape_attr_into(&value, &mut out),
        }
    }
    out
}

#[cfg(test)]
mod tests;
