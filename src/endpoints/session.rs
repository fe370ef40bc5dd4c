//! Session affinity of a load-balance group (reference §1.12): which child a session is
//! bound to, and how a message's session is recognised.
//!
//! - `http`: the backend starts a session with `Set-Cookie`; its first `name=value` pair
//!   is the session key, and a request carrying that pair in its `Cookie` header belongs
//!   to the session (any of the request's cookies may be the one).
//! - `simpleClientSession`: the client names its session in a `ClientID` SOAP header in
//!   the Synapse namespace, or (for REST clients) in a `ClientID` HTTP header.
//!
//! A session is bound to one child of the group. When that child is not ready, or fails,
//! the message goes to another child and the session is bound to the child that answers
//! (Synapse fails the message instead, with 309003).
//!
//! The table is the group's: a short lock per lookup and per binding, and expired sessions
//! are purged by the group actor. It holds at most [`MAX_SESSIONS`] sessions; past that,
//! new sessions are load-balanced without affinity (and a warning is logged once).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use actix_web::http::header;
use quick_xml::NsReader;
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use tokio::time::Instant;

use crate::config::{SessionKind, SessionSpec};
use crate::message::{Body, MessageContext};

/// The most sessions one group remembers.
pub(crate) const MAX_SESSIONS: usize = 100_000;

const SYNAPSE_NS: &str = "http://ws.apache.org/ns/synapse";
const SOAP11_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
const SOAP12_NS: &str = "http://www.w3.org/2003/05/soap-envelope";

/// The sessions of one load-balance group.
#[derive(Debug)]
pub(crate) struct SessionTable {
    kind: SessionKind,
    timeout: Duration,
    bindings: Mutex<HashMap<String, Binding>>,
    warned_full: AtomicBool,
}

#[derive(Debug, Clone, Copy)]
struct Binding {
    child: usize,
    expires: Instant,
}

/// What a request says about its session.
#[derive(Debug, Default)]
pub(crate) struct RequestSession {
    /// The session key the request carries (for `http`, only once it is known).
    pub(crate) key: Option<String>,
    /// The child the session is bound to, if it is.
    pub(crate) child: Option<usize>,
}

// === impl SessionTable ===

impl SessionTable {
    /// An empty table for `spec`.
    pub(crate) fn new(spec: &SessionSpec) -> Self {
        SessionTable {
            kind: spec.kind,
            timeout: spec.timeout,
            bindings: Mutex::new(HashMap::new()),
            warned_full: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Binding>> {
        // A poisoned lock only means a panic elsewhere; the map is still consistent.
        self.bindings.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The session of a request, and the child it is bound to (refreshing its lifetime).
    pub(crate) fn lookup(&self, msg: &MessageContext, now: Instant) -> RequestSession {
        let mut map = self.lock();
        let mut hit = |key: &str| -> Option<usize> {
            let binding = map.get_mut(key)?;
            if binding.expires <= now {
                map.remove(key);
                return None;
            }
            binding.expires = now + self.timeout;
            Some(binding.child)
        };
        match self.kind {
            SessionKind::Http => {
                for pair in cookie_pairs(msg) {
                    if let Some(child) = hit(pair) {
                        return RequestSession {
                            key: Some(pair.to_owned()),
                            child: Some(child),
                        };
                    }
                }
                RequestSession::default()
            }
            SessionKind::ClientId => {
                let Some(key) = client_id(msg) else {
                    return RequestSession::default();
                };
                let child = hit(&key);
                RequestSession {
                    key: Some(key),
                    child,
                }
            }
        }
    }

    /// `child` answered the request whose session was `request`: binds the request's
    /// session (re-pinning it when it was bound elsewhere) and, for `http`, the session
    /// the response starts with `Set-Cookie`.
    pub(crate) fn bind(
        &self,
        request: RequestSession,
        response: &MessageContext,
        child: usize,
        now: Instant,
    ) {
        let started = match self.kind {
            SessionKind::Http => set_cookie_key(response),
            SessionKind::ClientId => None,
        };
        // A session already bound to this child was renewed by `lookup`: nothing to write.
        let renewed = request.child == Some(child);
        let mut keys = request
            .key
            .filter(|_| !renewed)
            .into_iter()
            .chain(started)
            .peekable();
        if keys.peek().is_none() {
            return;
        }
        let mut map = self.lock();
        for key in keys {
            if map.len() >= MAX_SESSIONS && !map.contains_key(&key) {
                map.retain(|_, b| b.expires > now);
                if map.len() >= MAX_SESSIONS {
                    if !self.warned_full.swap(true, Ordering::Relaxed) {
                        tracing::warn!(
                            limit = MAX_SESSIONS,
                            "Session table full; new sessions are load-balanced without affinity"
                        );
                    }
                    continue;
                }
            }
            map.insert(
                key,
                Binding {
                    child,
                    expires: now + self.timeout,
                },
            );
        }
    }

    /// Forgets expired sessions; returns how many remain.
    pub(crate) fn purge(&self, now: Instant) -> usize {
        let mut map = self.lock();
        map.retain(|_, b| b.expires > now);
        map.len()
    }

    /// Sessions currently remembered (expired ones included until purged).
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    /// The session type, as configured.
    pub(crate) fn kind(&self) -> SessionKind {
        self.kind
    }

    /// The session lifetime after its last message.
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }
}

/// Every `name=value` pair of the request's `Cookie` headers.
fn cookie_pairs(msg: &MessageContext) -> impl Iterator<Item = &str> {
    msg.headers
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(str::trim)
        .filter(|p| p.contains('='))
}

/// The first `name=value` pair of the response's first `Set-Cookie` header.
fn set_cookie_key(msg: &MessageContext) -> Option<String> {
    msg.headers
        .get_all(header::SET_COOKIE)
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .map(str::trim)
        .find(|p| p.contains('=') && !p.starts_with('='))
        .map(str::to_owned)
}

/// The `ClientID` SOAP header (Synapse namespace) of a buffered SOAP request, else the
/// `ClientID` HTTP header.
fn client_id(msg: &MessageContext) -> Option<String> {
    if let Body::Full(bytes) = &msg.body
        && let Ok(text) = std::str::from_utf8(bytes)
        && let Some(id) = soap_client_id(text)
    {
        return Some(id);
    }
    msg.headers
        .get("clientid")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// Reads `Envelope/Header/syn:ClientID` (SOAP 1.1 or 1.2); stops at the body.
fn soap_client_id(text: &str) -> Option<String> {
    let mut reader = NsReader::from_str(text);
    // Depth-indexed: 1 = Envelope, 2 = Header, 3 = ClientID.
    let mut depth = 0usize;
    let mut in_header = false;
    let mut in_client_id = false;
    let mut id = String::new();
    loop {
        let (ns, event) = reader.read_resolved_event().ok()?;
        let soap = matches!(ns, ResolveResult::Bound(n) if n.as_ref() == SOAP11_NS || n.as_ref() == SOAP12_NS);
        let synapse = matches!(ns, ResolveResult::Bound(n) if n.as_ref() == SYNAPSE_NS);
        match event {
            Event::Start(start) => {
                depth += 1;
                let local = start.local_name();
                match (depth, local.as_ref()) {
                    (1, "Envelope") if soap => {}
                    (1, _) => return None,
                    (2, "Header") if soap => in_header = true,
                    (2, _) => return None,
                    (3, "ClientID") if in_header && synapse => in_client_id = true,
                    _ => {}
                }
            }
            Event::Text(t) if in_client_id => id.push_str(&t.xml10_content()),
            Event::CData(t) if in_client_id => id.push_str(&t.xml10_content()),
            Event::End(_) => {
                if in_client_id && depth == 3 {
                    let id = id.trim();
                    return (!id.is_empty()).then(|| id.to_owned());
                }
                if depth == 2 {
                    return None;
                }
                depth = depth.saturating_sub(1);
            }
            Event::Eof => return None,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderMap, HeaderValue};
    use actix_web::http::{Method, Uri};
    use bytes::Bytes;

    fn request(headers: &[(&str, &str)], body: &str) -> MessageContext {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.append(
                header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        let body = if body.is_empty() {
            Body::Empty
        } else {
            Body::Full(Bytes::from(body.to_owned()))
        };
        MessageContext::request(Method::POST, Uri::from_static("/x"), "http", map, body)
    }

    fn spec(kind: SessionKind) -> SessionSpec {
        SessionSpec {
            kind,
            timeout: Duration::from_millis(1000),
        }
    }

    #[test]
    fn http_sessions_start_with_set_cookie_and_follow_the_cookie() {
        let table = SessionTable::new(&spec(SessionKind::Http));
        let t0 = Instant::now();
        let first = request(&[], "");
        let session = table.lookup(&first, t0);
        assert!(session.key.is_none() && session.child.is_none());
        let response = request(&[("set-cookie", "JSESSIONID=abc; Path=/; HttpOnly")], "");
        table.bind(session, &response, 2, t0);
        let again = request(&[("cookie", "theme=dark; JSESSIONID=abc")], "");
        let session = table.lookup(&again, t0);
        assert_eq!(session.key.as_deref(), Some("JSESSIONID=abc"));
        assert_eq!(session.child, Some(2));
        // Answered by another child (the pinned one was down): re-pinned.
        table.bind(session, &request(&[], ""), 0, t0);
        assert_eq!(table.lookup(&again, t0).child, Some(0));
        // Expired after the timeout without messages.
        assert_eq!(
            table.lookup(&again, t0 + Duration::from_millis(2001)).child,
            None
        );
        assert_eq!(table.purge(t0 + Duration::from_millis(5000)), 0);
    }

    #[test]
    fn client_sessions_come_from_the_soap_header_or_an_http_header() {
        let soap = r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">
            <soapenv:Header><syn:ClientID xmlns:syn="http://ws.apache.org/ns/synapse"> c-42 </syn:ClientID></soapenv:Header>
            <soapenv:Body><m:getQuote xmlns:m="urn:q"/></soapenv:Body></soapenv:Envelope>"#;
        assert_eq!(soap_client_id(soap).as_deref(), Some("c-42"));
        let other_ns = soap.replace("http://ws.apache.org/ns/synapse", "urn:other");
        assert_eq!(soap_client_id(&other_ns), None);
        assert_eq!(soap_client_id("<a><b/></a>"), None);
        assert_eq!(soap_client_id("not xml <"), None);

        let table = SessionTable::new(&spec(SessionKind::ClientId));
        let t0 = Instant::now();
        let msg = request(&[], soap);
        let session = table.lookup(&msg, t0);
        assert_eq!(session.key.as_deref(), Some("c-42"));
        table.bind(session, &request(&[], ""), 1, t0);
        assert_eq!(table.lookup(&msg, t0).child, Some(1));
        let rest = request(&[("ClientID", "c-42")], "");
        assert_eq!(table.lookup(&rest, t0).child, Some(1));
        assert_eq!(table.len(), 1);
    }
}
