//! The message context: one request (and later its response) as it moves through mediation.
//!
//! A [`MessageContext`] carries the transport facts (method, URI, headers, status), the body
//! (streamed until a mediator needs it), the properties of each Synapse scope, and the
//! record of every endpoint tried. It lives on the worker thread that accepted the request;
//! its body stream is not `Send`, by design.

pub(crate) mod addressing;
pub(crate) mod body;
pub(crate) mod content;
pub(crate) mod convert;
mod flow;
pub(crate) mod grpc;
pub(crate) mod json_xml;
pub(crate) mod off_worker;
pub(crate) mod payload;
pub mod soap;
mod template;
pub(crate) mod xml;

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode, Uri};

pub use body::Body;
pub(crate) use body::{BodyError, BodyStream, Buffered};
pub(crate) use content::{ClientFormat, ContentKind};
pub(crate) use template::Deferred;
pub use template::{DeferredParam, FuncParam};
pub use xml::XmlLimits;

/// Which way a message travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From the client towards a backend.
    Request,
    /// From a backend back towards the client.
    Response,
}

/// A property value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Text.
    Str(String),
    /// `INTEGER`, `LONG`, `SHORT`.
    Int(i64),
    /// `FLOAT`, `DOUBLE`.
    Float(f64),
    /// `BOOLEAN`.
    Bool(bool),
    /// `OM`: an XML fragment, kept as its text.
    Xml(String),
    /// `JSON`.
    Json(serde_json::Value),
}

/// The scopes of Synapse properties that Axon keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The message context (`default`, also `operation` for a single exchange).
    Default,
    /// Engine properties such as `HTTP_SC` and `REST_URL_POSTFIX` (`axis2`).
    Axis2,
    /// Transport headers (`transport`).
    Transport,
}

/// One try of one endpoint for this message, for logs and the trace header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The leaf tried.
    pub(crate) endpoint: Arc<str>,
    /// What happened.
    pub(crate) outcome: AttemptOutcome,
    /// The groups the try went through, outermost first (`LB/FO1`), if any.
    pub(crate) via: Option<Arc<str>>,
}

/// How a try ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// A response arrived with this status.
    Response(u16),
    /// The try failed with this Synapse error code.
    Failed(u32),
    /// The endpoint was not ready and was not tried.
    Skipped(&'static str),
    /// A group did not send the message to another child, for this reason.
    NotRetried(&'static str),
}

/// A unique id per message, shown in logs: the client's `X-Request-ID` when the front
/// took it, else a generated `urn:uuid:`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MessageId {
    n: u64,
    given: Option<Arc<str>>,
}

/// The message: transport facts, body, properties, and the endpoints tried.
pub struct MessageContext {
    /// Unique id, for logs and `MessageID`.
    pub(crate) id: MessageId,
    /// Request or response.
    pub(crate) direction: Direction,
    /// The client's request method.
    pub(crate) method: Method,
    /// The client's request URI (path and query as received).
    pub(crate) uri: Uri,
    /// `http` or `https`, as the client connected.
    pub(crate) scheme: &'static str,
    /// The response status, once the message is a response.
    pub(crate) status: Option<StatusCode>,
    /// The transport headers of the current message.
    pub(crate) headers: HeaderMap,
    /// The body.
    pub(crate) body: Body,
    /// The WS-Addressing `To` (the implicit destination of a bare `send`).
    pub(crate) to: Option<String>,
    /// The other WS-Addressing fields set by the `header` mediator.
    pub(crate) wsa: addressing::Addressing,
    /// The WS-Addressing version a proxy's `<enableAddressing>` engages for every send of
    /// its flows (an endpoint's own `<enableAddressing>` wins).
    pub(crate) engaged_addressing: Option<crate::config::AddressingVersion>,
    /// Every endpoint tried, in order.
    pub(crate) attempts: Vec<Attempt>,
    /// True while a fault handler runs; it is the status default for `respond`.
    pub(crate) fault_status: Option<StatusCode>,
    /// The live lifecycle of the API the request came through (`None` outside any API).
    pub(crate) api: Option<Arc<crate::base::lifecycle::ApiLife>>,
    /// What the client speaks (its SOAP version, JSON, XML), for answering in kind.
    pub(crate) client: ClientFormat,
    /// Set when an endpoint `format` changed the message's kind: the response is turned
    /// back into the client's kind before it leaves Axon.
    pub(crate) convert_reply: bool,
    /// The streamed halves of a gRPC call (`None` for HTTP messages).
    pub(crate) grpc: Option<Box<grpc::GrpcCall>>,
    /// Concurrency slots the message holds (`throttle`), given back when it ends.
    pub(crate) slots: Vec<tokio::sync::OwnedSemaphorePermit>,
    headers_set: Vec<HeaderName>,
    props: Properties,
    axis2: Properties,
    /// MI 4.4 variables (`variable` mediator, `${vars.x}`), apart from properties.
    vars: Properties,
    /// The message a `call` with a property or variable `<target>` puts back afterwards.
    call_kept: Option<Box<CallKept>>,
    /// The parsed form of the body, made on first use (see `message/payload.rs`).
    payload: payload::PayloadCache,
    /// Parameters of the sequence templates being run, innermost last (`$func:`).
    func_scopes: Vec<Vec<(String, FuncParam)>>,
}

/// The message as it was before a `call` whose response is stored, not kept as the body.
#[derive(Debug)]
pub(crate) struct CallKept {
    direction: Direction,
    status: Option<StatusCode>,
    headers: HeaderMap,
    headers_set: Vec<HeaderName>,
    body: bytes::Bytes,
}

/// One scope's properties. Most names are the engine's own (`SYNAPSE_REST_API`,
/// `REST_URL_POSTFIX`, ...) and are borrowed, not allocated, per message; foldhash is
/// several times cheaper than SipHash for these short keys and is randomly seeded per
/// map, so client-chosen names (`query.param.*`) cannot be aimed at one bucket.
type Properties = HashMap<Cow<'static, str>, Value, foldhash::fast::RandomState>;

/// A property name: a `&'static str` is kept as is, anything else is owned.
pub(crate) type PropertyName = Cow<'static, str>;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

// === impl Value ===

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Str(s) => f.write_str(s),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Xml(x) => f.write_str(x),
            Value::Json(j) => write!(f, "{j}"),
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Str(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Str(s)
    }
}

// === impl MessageId ===

impl MessageId {
    /// A fresh id.
    pub(crate) fn next() -> Self {
        MessageId {
            n: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            given: None,
        }
    }

    /// The id a client gave its request (checked by the front: short, plain characters).
    pub(crate) fn given(id: &str) -> Self {
        MessageId {
            given: Some(Arc::from(id)),
            ..MessageId::next()
        }
    }

    /// True when the id is the client's own.
    pub(crate) fn is_given(&self) -> bool {
        self.given.is_some()
    }
}

/// Shown as a random-looking UUID (`urn:uuid:…`, version 4 layout, as Synapse's
/// `MessageID`): the high half is random per process, the low 62 bits a keyed bijection of
/// the counter, so ids never repeat within a process and tell a client nothing about how
/// many messages Axon has handled.
impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(given) = &self.given {
            return f.write_str(given);
        }
        f.write_str(std::str::from_utf8(&self.urn()).map_err(|_| fmt::Error)?)
    }
}

impl MessageId {
    /// The generated id (`urn:uuid:` and the UUID's 36 characters, also for a message
    /// whose shown id is the client's), written without the formatting machinery: it goes
    /// on every answer of the HTTP front.
    pub(crate) fn urn(&self) -> [u8; 45] {
        static KEY: std::sync::LazyLock<(u64, u64)> = std::sync::LazyLock::new(|| {
            use std::hash::{BuildHasher, RandomState};
            let seed = RandomState::new();
            (seed.hash_one(1u8), seed.hash_one(2u8))
        });
        const LOW: u64 = (1 << 62) - 1;
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let (process, key) = *KEY;
        // Multiplying by an odd number and xor-shifting right are bijections modulo 2^62.
        let mut x = (self.n ^ key) & LOW;
        x = x.wrapping_mul(0x9E37_79B9_7F4A_7C15) & LOW;
        x ^= x >> 31;
        x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9) & LOW;
        x ^= x >> 29;
        let high = (process & !0xF000) | 0x4000;
        let low = x | (1 << 63);
        // Where the 16 hex digits of `high`, then those of `low`, go (around the dashes).
        const HIGH: [usize; 16] = [
            9, 10, 11, 12, 13, 14, 15, 16, 18, 19, 20, 21, 23, 24, 25, 26,
        ];
        const LOW_AT: [usize; 16] = [
            28, 29, 30, 31, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44,
        ];
        let mut urn = *b"urn:uuid:00000000-0000-0000-0000-000000000000";
        for (half, places) in [(high, &HIGH), (low, &LOW_AT)] {
            for (i, &at) in places.iter().enumerate() {
                urn[at] = HEX[((half >> (60 - 4 * i)) & 0xF) as usize];
            }
        }
        urn
    }
}

// === impl AttemptOutcome ===

impl fmt::Display for AttemptOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttemptOutcome::Response(status) => write!(f, "{status}"),
            AttemptOutcome::Failed(code) => write!(f, "failed {code}"),
            AttemptOutcome::Skipped(state) => write!(f, "skipped {state}"),
            AttemptOutcome::NotRetried(why) => write!(f, "not retried: {why}"),
        }
    }
}

/// Why a property could not be set: a transport property is an HTTP header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PropertyError {
    /// The name is not a valid header name.
    #[error("`{0}` is not a valid HTTP header name")]
    HeaderName(String),
    /// The value is not a valid header value (for the header named).
    #[error("the value for header `{0}` is not a valid header value")]
    HeaderValue(String),
}

/// A property that cannot be set fails the mediation; the property's error stays its source.
impl From<PropertyError> for crate::base::mediation::MediationError {
    fn from(error: PropertyError) -> Self {
        crate::base::mediation::MediationError::Property(Box::new(error))
    }
}

// === impl MessageContext ===

impl fmt::Debug for MessageContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MessageContext")
            .field("id", &self.id)
            .field("direction", &self.direction)
            .field("method", &self.method)
            .field("uri", &self.uri)
            .field("status", &self.status)
            .field("body", &self.body)
            .finish_non_exhaustive()
    }
}

impl MessageContext {
    /// A request message as received from a client.
    pub fn request(
        method: Method,
        uri: Uri,
        scheme: &'static str,
        headers: HeaderMap,
        body: Body,
    ) -> Self {
        let client = ClientFormat::of_request(&headers, !body.is_empty(), false);
        MessageContext {
            id: MessageId::next(),
            direction: Direction::Request,
            method,
            uri,
            scheme,
            status: None,
            headers,
            body,
            to: None,
            wsa: addressing::Addressing::default(),
            engaged_addressing: None,
            attempts: Vec::new(),
            fault_status: None,
            api: None,
            client,
            convert_reply: false,
            grpc: None,
            slots: Vec::new(),
            headers_set: Vec::new(),
            // Dispatch alone sets about ten default-scope properties: room for them
            // up front saves the map from growing three times per message.
            props: Properties::with_capacity_and_hasher(16, Default::default()),
            axis2: Properties::with_capacity_and_hasher(4, Default::default()),
            vars: Properties::default(),
            call_kept: None,
            payload: payload::PayloadCache::default(),
            func_scopes: Vec::new(),
        }
    }

    /// Turns this message into the response that arrived from a backend, keeping the
    /// properties (they span the whole exchange, as in Synapse).
    pub(crate) fn become_response(&mut self, status: StatusCode, headers: HeaderMap, body: Body) {
        self.direction = Direction::Response;
        self.status = Some(status);
        self.headers = headers;
        self.headers_set.clear();
        self.body = body;
        self.payload.clear();
        self.axis2.insert(
            Cow::Borrowed("HTTP_SC"),
            Value::Int(i64::from(status.as_u16())),
        );
    }

    /// True once the message is a backend's response.
    pub(crate) fn is_response(&self) -> bool {
        self.direction == Direction::Response
    }

    /// Reads a property of `scope`. Transport properties are header values.
    pub(crate) fn property(&self, scope: Scope, name: &str) -> Option<Value> {
        match scope {
            Scope::Default => self.props.get(name).cloned(),
            Scope::Axis2 => self.axis2.get(name).cloned(),
            Scope::Transport => self
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(|s| Value::Str(s.to_owned())),
        }
    }

    /// Reads a default-scope property as text, without cloning.
    pub(crate) fn get(&self, name: &str) -> Option<&Value> {
        self.props.get(name)
    }

    /// Reads an axis2-scope property.
    pub(crate) fn get_axis2(&self, name: &str) -> Option<&Value> {
        self.axis2.get(name)
    }

    /// Sets a property of `scope`. A transport property becomes an HTTP header; an
    /// invalid header name or value is reported as an error.
    pub(crate) fn set_property(
        &mut self,
        scope: Scope,
        name: &str,
        value: Value,
    ) -> Result<(), PropertyError> {
        match scope {
            Scope::Default => {
                self.props.insert(Cow::Owned(name.to_owned()), value);
            }
            Scope::Axis2 => {
                self.axis2.insert(Cow::Owned(name.to_owned()), value);
            }
            Scope::Transport => {
                let header = HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| PropertyError::HeaderName(name.to_owned()))?;
                let text = value.to_string();
                let hv = HeaderValue::from_str(&text)
                    .map_err(|_| PropertyError::HeaderValue(name.to_owned()))?;
                self.set_header(header, hv);
            }
        }
        Ok(())
    }

    /// Removes a property of `scope`.
    pub(crate) fn remove_property(&mut self, scope: Scope, name: &str) {
        match scope {
            Scope::Default => {
                self.props.remove(name);
            }
            Scope::Axis2 => {
                self.axis2.remove(name);
            }
            Scope::Transport => {
                if let Ok(header) = HeaderName::from_bytes(name.as_bytes()) {
                    self.headers.remove(&header);
                    self.headers_set.retain(|h| *h != header);
                }
            }
        }
    }

    /// Sets a default-scope property.
    pub fn set(&mut self, name: impl Into<PropertyName>, value: impl Into<Value>) {
        self.props.insert(name.into(), value.into());
    }

    /// Reads a variable (MI 4.4 `variable` mediator).
    pub(crate) fn variable(&self, name: &str) -> Option<&Value> {
        self.vars.get(name)
    }

    /// Sets a variable.
    pub(crate) fn set_variable(&mut self, name: &str, value: Value) {
        self.vars.insert(Cow::Owned(name.to_owned()), value);
    }

    /// Removes a variable.
    pub(crate) fn remove_variable(&mut self, name: &str) {
        self.vars.remove(name);
    }

    /// Keeps the message as it is (its body must be in memory) for
    /// [`MessageContext::restore_after_call`].
    pub(crate) fn keep_for_call(&mut self) {
        let body = match &self.body {
            Body::Full(bytes) => bytes.clone(),
            _ => bytes::Bytes::new(),
        };
        self.call_kept = Some(Box::new(CallKept {
            direction: self.direction,
            status: self.status,
            headers: self.headers.clone(),
            headers_set: self.headers_set.clone(),
            body,
        }));
    }

    /// Puts back the message [`MessageContext::keep_for_call`] kept; returns the current
    /// (response) body and its `Content-Type`.
    pub(crate) fn restore_after_call(&mut self) -> (Body, Option<String>) {
        let content_type = self.content_type().map(str::to_owned);
        let Some(kept) = self.call_kept.take() else {
            return (self.body.take(), content_type);
        };
        self.direction = kept.direction;
        self.status = kept.status;
        self.headers = kept.headers;
        self.headers_set = kept.headers_set;
        let kept_body = match kept.body.is_empty() {
            true => Body::Empty,
            false => Body::Full(kept.body),
        };
        (std::mem::replace(&mut self.body, kept_body), content_type)
    }

    /// Sets an axis2-scope property.
    pub(crate) fn set_axis2(&mut self, name: impl Into<PropertyName>, value: impl Into<Value>) {
        self.axis2.insert(name.into(), value.into());
    }

    /// Sets a header, remembering that mediation set it (so `respond` on a request sends it).
    pub(crate) fn set_header(&mut self, name: HeaderName, value: HeaderValue) {
        if !self.headers_set.contains(&name) {
            self.headers_set.push(name.clone());
        }
        self.headers.insert(name, value);
    }

    /// Headers set by mediation (not received from the client) on the current message.
    pub(crate) fn headers_set_by_mediation(
        &self,
    ) -> impl Iterator<Item = (&HeaderName, &HeaderValue)> {
        self.headers_set
            .iter()
            .filter_map(|n| self.headers.get(n).map(|v| (n, v)))
    }

    /// The `Content-Type` of the current message, if any.
    pub(crate) fn content_type(&self) -> Option<&str> {
        self.headers
            .get(actix_web::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
    }

    /// The leaf endpoint tried last (Synapse's `LAST_ENDPOINT`).
    pub(crate) fn last_endpoint(&self) -> Option<&str> {
        self.attempts
            .iter()
            .rev()
            .find(|a| !matches!(a.outcome, AttemptOutcome::NotRetried(_)))
            .map(|a| &*a.endpoint)
    }

    /// Records an endpoint try made through the groups `via` (`LB/FO1`).
    pub(crate) fn record_attempt_via(
        &mut self,
        via: Option<Arc<str>>,
        endpoint: Arc<str>,
        outcome: AttemptOutcome,
    ) {
        self.attempts.push(Attempt {
            endpoint,
            outcome,
            via,
        });
    }

    /// A copy of this message for one branch of a fan-out (`clone`, `iterate`): the same
    /// transport facts, headers, properties and template parameters, with `body` as its
    /// body and no endpoint tries yet (the branch's tries are added back under the
    /// mediator's id when it ends). The parsed payload is not copied.
    pub(crate) fn branch(&self, body: Body) -> MessageContext {
        MessageContext {
            id: MessageId::next(),
            direction: self.direction,
            method: self.method.clone(),
            uri: self.uri.clone(),
            scheme: self.scheme,
            status: self.status,
            headers: self.headers.clone(),
            body,
            to: self.to.clone(),
            wsa: self.wsa.clone(),
            engaged_addressing: self.engaged_addressing,
            attempts: Vec::new(),
            // The parent keeps its throttle slots until it ends; a branch holds none.
            slots: Vec::new(),
            fault_status: self.fault_status,
            api: self.api.clone(),
            client: self.client,
            convert_reply: self.convert_reply,
            grpc: None,
            headers_set: self.headers_set.clone(),
            props: self.props.clone(),
            axis2: self.axis2.clone(),
            vars: self.vars.clone(),
            call_kept: None,
            payload: payload::PayloadCache::with_limits(self.xml_limits()),
            func_scopes: self.func_scopes.clone(),
        }
    }

    /// Keeps what sending may change (headers, properties, direction), so that a group
    /// can send exactly the same request to another child ([`MessageContext::restore`]).
    /// The body is kept separately, by the group's replay buffer.
    pub(crate) fn snapshot(&self) -> RequestSnapshot {
        RequestSnapshot {
            direction: self.direction,
            status: self.status,
            headers: self.headers.clone(),
            headers_set: self.headers_set.clone(),
            to: self.to.clone(),
            convert_reply: self.convert_reply,
            props: self.props.clone(),
            axis2: self.axis2.clone(),
        }
    }

    /// Puts back what [`MessageContext::snapshot`] kept.
    pub(crate) fn restore(&mut self, snapshot: &RequestSnapshot) {
        self.direction = snapshot.direction;
        self.status = snapshot.status;
        self.headers.clone_from(&snapshot.headers);
        self.headers_set.clone_from(&snapshot.headers_set);
        self.to.clone_from(&snapshot.to);
        self.convert_reply = snapshot.convert_reply;
        self.props.clone_from(&snapshot.props);
        self.axis2.clone_from(&snapshot.axis2);
    }
}

/// A request as it was before a try, minus its body (see [`MessageContext::snapshot`]).
#[derive(Debug, Clone)]
pub struct RequestSnapshot {
    direction: Direction,
    status: Option<StatusCode>,
    headers: HeaderMap,
    headers_set: Vec<HeaderName>,
    to: Option<String>,
    convert_reply: bool,
    props: Properties,
    axis2: Properties,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_are_distinct_uuids_that_do_not_count_messages() {
        let ids: Vec<String> = (0..1000).map(|_| MessageId::next().to_string()).collect();
        let distinct: std::collections::HashSet<&String> = ids.iter().collect();
        assert_eq!(distinct.len(), ids.len());
        for id in &ids {
            let uuid = id.strip_prefix("urn:uuid:").expect("a urn:uuid");
            let groups: Vec<usize> = uuid.split('-').map(str::len).collect();
            assert_eq!(groups, [8, 4, 4, 4, 12], "{id}");
            assert!(uuid[14..].starts_with('4'), "version 4 layout: {id}");
            assert!(
                matches!(uuid.as_bytes()[19], b'8'..=b'b'),
                "RFC 4122 variant: {id}"
            );
            assert!(
                uuid.bytes()
                    .all(|c| c == b'-' || c.is_ascii_digit() || (b'a'..=b'f').contains(&c)),
                "lowercase hex: {id}"
            );
        }
        // Consecutive messages do not get consecutive ids.
        let last = |id: &String| u64::from_str_radix(&id[id.len() - 12..], 16).unwrap_or(0);
        assert!(
            ids.windows(2)
                .any(|w| last(&w[1]).abs_diff(last(&w[0])) > 1)
        );
    }
    #[test]
    fn a_branch_copies_properties_and_variables_but_no_slots_tries_or_id() {
        let uri = Uri::from_static("/a");
        let mut parent =
            MessageContext::request(Method::POST, uri, "http", HeaderMap::new(), Body::Empty);
        parent.set("p", "1".to_owned());
        parent.set_variable("v", Value::Str("2".into()));
        let permits = Arc::new(tokio::sync::Semaphore::new(1));
        let permit = permits.clone().try_acquire_owned().expect("a free permit");
        parent.slots.push(permit);
        let branch = parent.branch(Body::Full(bytes::Bytes::from_static(b"x")));
        assert!(matches!(branch.get("p"), Some(Value::Str(v)) if v == "1"));
        assert!(matches!(branch.variable("v"), Some(Value::Str(v)) if v == "2"));
        assert!(
            branch.slots.is_empty(),
            "the parent keeps its throttle slots"
        );
        assert!(branch.attempts.is_empty());
        assert_ne!(branch.id, parent.id);
        assert_eq!(permits.available_permits(), 0);
    }
}
