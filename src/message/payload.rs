//! The payload of a message, parsed only when a mediator needs it, and only once.
//!
//! The body stays bytes (or a stream) until an expression or a mediator asks for its XML
//! or JSON form. The parsed form is cached next to the bytes it came from; the cache is
//! valid while the body still holds those very bytes (same allocation), so any code that
//! replaces the body invalidates it without having to know about it. A mediator that
//! edits the parsed form writes the bytes back at once (`commit_xml`), and the cache
//! moves to the new bytes, so the next reader does not parse again.
//!
//! A pass-through message (no mediator reads its payload) is never parsed, nor even read
//! into memory.

use bytes::Bytes;

use super::xml::{XmlDoc, XmlLimits};
use super::{Body, ContentKind, MessageContext};

/// The cached parsed form of the body.
#[derive(Default)]
pub(crate) struct PayloadCache {
    /// The bytes the parsed form was made from.
    source: Option<Bytes>,
    parsed: Parsed,
    /// What a parsed XML form may cost (the runtime's limits, set when the exchange runs).
    limits: XmlLimits,
}

impl PayloadCache {
    /// An empty cache with these limits.
    pub(crate) fn with_limits(limits: XmlLimits) -> Self {
        PayloadCache {
            limits,
            ..PayloadCache::default()
        }
    }

    /// Forgets the parsed form (a new body arrived); the limits stay.
    pub(crate) fn clear(&mut self) {
        self.source = None;
        self.parsed = Parsed::Nothing;
    }
}

#[derive(Default)]
enum Parsed {
    #[default]
    Nothing,
    Xml(Box<XmlDoc>),
    Json(serde_json::Value),
}

/// Why the payload cannot be had in the form asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PayloadError {
    /// The body is still a stream: read it (`Step::NeedBody`) and ask again.
    #[error("the message body has not been read")]
    NeedBody,
    /// The payload is not well-formed in the form it claims (client or backend error).
    #[error("{0}")]
    Malformed(String),
    /// The payload is of another kind and Axon cannot convert it.
    #[error("{0}")]
    Unsupported(String),
}

/// What the bytes of a body are, judged from the bytes first, then the `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PayloadKind {
    /// No payload.
    Empty,
    /// XML (SOAP or POX).
    Xml,
    /// JSON.
    Json,
    /// Anything else, handled as text.
    Text,
}

impl std::fmt::Debug for PayloadCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parsed = match &self.parsed {
            Parsed::Nothing => "nothing",
            Parsed::Xml(_) => "xml",
            Parsed::Json(_) => "json",
        };
        f.debug_struct("PayloadCache")
            .field("parsed", &parsed)
            .finish()
    }
}

/// The kind of a payload: a leading `<` is XML and a leading `{` or `[` is JSON whatever
/// the headers say (mediators may have changed `Content-Type` before the body); otherwise
/// a JSON `Content-Type` is JSON and anything else is text.
pub(crate) fn kind_of(bytes: &[u8], content_type: Option<&str>) -> PayloadKind {
    let first = bytes
        .iter()
        .copied()
        .find(|b| !b.is_ascii_whitespace() && *b != 0xef && *b != 0xbb && *b != 0xbf);
    match first {
        None => PayloadKind::Empty,
        Some(b'<') => PayloadKind::Xml,
        Some(b'{' | b'[') => PayloadKind::Json,
        Some(_) if content_type.is_some_and(|c| c.to_ascii_lowercase().contains("json")) => {
            PayloadKind::Json
        }
        Some(_) => PayloadKind::Text,
    }
}

/// A json-eval object or array as XML elements (Synapse's mapping, without the
/// `<jsonObject>`/`<jsonArray>` wrapper).
pub(crate) fn json_as_xml(json: &serde_json::Value) -> String {
    let xml = super::json_xml::json_to_xml(json);
    for wrapper in ["jsonObject", "jsonArray"] {
        if xml == format!("<{wrapper}/>") {
            return String::new();
        }
        if let Some(inner) = xml
            .strip_prefix(&format!("<{wrapper}>"))
            .and_then(|rest| rest.strip_suffix(&format!("</{wrapper}>")))
        {
            return inner.to_owned();
        }
    }
    xml
}

/// Selected XML elements as a JSON object (Synapse's mapping: they are the members of a
/// `<jsonObject>`).
pub(crate) fn xml_as_json(xml: &str) -> Result<String, super::soap::Malformed> {
    let wrapped = format!("<jsonObject>{xml}</jsonObject>");
    let root = super::soap::parse_xml(wrapped.as_bytes())?;
    Ok(super::json_xml::xml_to_json(&root).to_string())
}

/// Whether a `Content-Type` names an XML media type (`text/xml`, `application/soap+xml`).
fn declared_xml(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|ct| {
        let media = super::soap::media_type(ct);
        media.ends_with("/xml") || media.ends_with("+xml")
    })
}

fn same_bytes(a: &Bytes, b: &Bytes) -> bool {
    a.len() == b.len() && (a.is_empty() || a.as_ptr() == b.as_ptr())
}

// === impl MessageContext (payload) ===

impl MessageContext {
    /// Sets what a parsed XML form of this message may cost.
    pub(crate) fn set_xml_limits(&mut self, limits: XmlLimits) {
        self.payload.limits = limits;
    }

    /// What a parsed XML form of this message may cost.
    pub(crate) fn xml_limits(&self) -> XmlLimits {
        self.payload.limits
    }

    /// The body's bytes, if it is in memory.
    ///
    /// # Errors
    /// [`PayloadError::NeedBody`] while it is still a stream.
    pub(crate) fn body_bytes(&self) -> Result<Bytes, PayloadError> {
        match &self.body {
            Body::Empty => Ok(Bytes::new()),
            Body::Full(b) => Ok(b.clone()),
            Body::Stream { .. } => Err(PayloadError::NeedBody),
        }
    }

    /// The kind of the current payload.
    ///
    /// # Errors
    /// [`PayloadError::NeedBody`] while the body is a stream.
    pub(crate) fn payload_kind(&self) -> Result<PayloadKind, PayloadError> {
        let bytes = self.body_bytes()?;
        Ok(kind_of(&bytes, self.content_type()))
    }

    fn cache_valid(&self, bytes: &Bytes) -> bool {
        self.payload
            .source
            .as_ref()
            .is_some_and(|s| same_bytes(s, bytes))
    }

    /// Parses the payload as XML if it has not been parsed yet (text payloads are
    /// wrapped, an empty body is an empty envelope).
    ///
    /// # Errors
    /// The body is a stream, is malformed, or is JSON (XPath over JSON needs a JSON-to-XML
    /// conversion that Axon does not do yet).
    pub(crate) fn load_xml(&mut self) -> Result<(), PayloadError> {
        let bytes = self.body_bytes()?;
        if self.cache_valid(&bytes) && matches!(self.payload.parsed, Parsed::Xml(_)) {
            return Ok(());
        }
        let doc = match kind_of(&bytes, self.content_type()) {
            PayloadKind::Empty | PayloadKind::Xml => {
                XmlDoc::parse_with(&bytes, self.payload.limits).map_err(|error| {
                    PayloadError::Malformed(format!("invalid XML payload: {error}"))
                })?
            }
            // A body that says it is XML and is not is malformed, not text to wrap.
            PayloadKind::Text if declared_xml(self.content_type()) => {
                return Err(PayloadError::Malformed(format!(
                    "invalid XML payload: the body is declared as `{}` but is not XML",
                    self.content_type().unwrap_or_default()
                )));
            }
            PayloadKind::Text => XmlDoc::text(&String::from_utf8_lossy(&bytes)),
            // JSON is seen through Synapse's JSON-to-XML mapping (`message/json_xml.rs`).
            PayloadKind::Json => {
                let json: serde_json::Value = serde_json::from_slice(&bytes).map_err(|error| {
                    PayloadError::Malformed(format!("invalid JSON payload: {error}"))
                })?;
                super::json_xml::check_bounds(&json, self.payload.limits)
                    .map_err(|m| PayloadError::Malformed(format!("invalid JSON payload: {m}")))?;
                let xml = super::json_xml::json_to_xml(&json);
                let mut doc =
                    XmlDoc::parse_with(xml.as_bytes(), self.payload.limits).map_err(|error| {
                        PayloadError::Unsupported(format!(
                            "this JSON payload has no XML form: {error}"
                        ))
                    })?;
                doc.from_json = true;
                doc
            }
        };
        self.payload.source = Some(bytes);
        self.payload.parsed = Parsed::Xml(Box::new(doc));
        Ok(())
    }

    /// The parsed XML payload, once [`MessageContext::load_xml`] succeeded for the current
    /// body.
    pub(crate) fn xml_doc(&self) -> Option<&XmlDoc> {
        let bytes = self.body_bytes().ok()?;
        match &self.payload.parsed {
            Parsed::Xml(doc) if self.cache_valid(&bytes) => Some(doc),
            _ => None,
        }
    }

    /// Writes the (edited) cached XML document back as the body (as JSON again when it was
    /// JSON); the cache stays valid.
    pub(crate) fn commit_xml(&mut self) {
        let Parsed::Xml(doc) = &self.payload.parsed else {
            return;
        };
        let bytes = if doc.from_json {
            let json = doc
                .first_body_element()
                .map(super::xml::element_to_string)
                .and_then(|xml| super::soap::parse_xml(xml.as_bytes()).ok())
                .map(|root| super::json_xml::xml_to_json(&root))
                .unwrap_or_else(|| serde_json::Value::Object(serde_json::Map::new()));
            Bytes::from(json.to_string())
        } else {
            Bytes::from(doc.to_bytes())
        };
        self.payload.source = Some(bytes.clone());
        self.body = Body::Full(bytes);
    }

    /// Parses the payload as JSON if it has not been parsed yet.
    ///
    /// # Errors
    /// The body is a stream, is not valid JSON, or is XML (JSONPath over XML needs an
    /// XML-to-JSON conversion that Axon does not do yet).
    pub(crate) fn load_json(&mut self) -> Result<(), PayloadError> {
        let bytes = self.body_bytes()?;
        if self.cache_valid(&bytes) && matches!(self.payload.parsed, Parsed::Json(_)) {
            return Ok(());
        }
        let value = match kind_of(&bytes, self.content_type()) {
            PayloadKind::Empty => serde_json::Value::Null,
            PayloadKind::Json | PayloadKind::Text => {
                serde_json::from_slice(&bytes).map_err(|error| {
                    PayloadError::Malformed(format!("invalid JSON payload: {error}"))
                })?
            }
            // XML is seen through Synapse's XML-to-JSON mapping: a SOAP message's payload
            // element, or the whole POX document.
            PayloadKind::Xml => {
                let kind = super::soap::sniff(&bytes).map_or(ContentKind::Xml, ContentKind::Soap);
                let converted = super::convert::convert_for_client(
                    kind,
                    &bytes,
                    ContentKind::Json,
                    self.payload.limits,
                )
                .map_err(|error| {
                    PayloadError::Malformed(format!("invalid XML payload: {}", error.0))
                })?;
                let text = converted.map(|(body, _)| body).unwrap_or_default();
                serde_json::from_str(&text).map_err(|error| {
                    PayloadError::Unsupported(format!("this XML payload has no JSON form: {error}"))
                })?
            }
        };
        self.payload.source = Some(bytes);
        self.payload.parsed = Parsed::Json(value);
        Ok(())
    }

    /// The parsed JSON payload, once [`MessageContext::load_json`] succeeded for the
    /// current body.
    pub(crate) fn json_value(&self) -> Option<&serde_json::Value> {
        let bytes = self.body_bytes().ok()?;
        match &self.payload.parsed {
            Parsed::Json(v) if self.cache_valid(&bytes) => Some(v),
            _ => None,
        }
    }

    /// Replaces the payload with `value`, written as JSON (with a JSON `Content-Type` if
    /// it had another); the parsed form is kept.
    pub(crate) fn set_json_payload(&mut self, value: serde_json::Value) {
        if !self
            .content_type()
            .is_some_and(|ct| ct.to_ascii_lowercase().contains("json"))
        {
            self.set_header(
                actix_web::http::header::CONTENT_TYPE,
                actix_web::http::header::HeaderValue::from_static("application/json"),
            );
        }
        let bytes = Bytes::from(value.to_string());
        self.payload.source = Some(bytes.clone());
        self.payload.parsed = Parsed::Json(value);
        self.body = Body::Full(bytes);
    }
}

#[cfg(test)]
mod tests;
