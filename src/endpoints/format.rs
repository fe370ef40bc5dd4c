//! Endpoint `format` (reference §4.2): turning the outgoing message into what the backend
//! speaks (SOAP 1.1, SOAP 1.2, POX, GET), checking streamed SOAP requests as they pass,
//! spotting SOAP faults when `FORCE_ERROR_ON_SOAP_FAULT` is set, and turning the response
//! back into what the client speaks.
//!
//! A message whose kind does not change streams through untouched (a SOAP request is
//! checked chunk by chunk on its way, see [`soap::EnvelopeCheck`]). A conversion reads the
//! body into memory once, up to `--max-body-bytes`.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::error::PayloadError;
use actix_web::http::Method;
use actix_web::http::header::{self, HeaderValue};
use bytes::Bytes;
use futures_util::Stream;

use super::Leaf;
use crate::base::error::{EndpointError, ErrorKind, ProtocolState};
use crate::base::limits::Limits;
use crate::base::query::parse_query;
use crate::config::EndpointFormat;
use crate::message::convert::{convert_for_client, current_kind, payload_xml, to_envelope};
use crate::message::soap::{self, Envelope, Malformed, SoapVersion};
use crate::message::xml::XmlLimits;
use crate::message::{Body, BodyStream, Buffered, ContentKind, MessageContext, Value};

/// What preparing the request decided, for the sender.
#[derive(Debug, Default)]
pub(crate) struct Prepared {
    /// Whether `REST_URL_POSTFIX` joins the address (REST messages only).
    pub(crate) rest: bool,
    /// The method the format forces.
    pub(crate) method: Option<Method>,
    /// Query parameters to add (`format="get"`).
    pub(crate) query: Option<String>,
}

/// Converts the outgoing message for the leaf's `format`.
///
/// # Errors
/// The body cannot be read, or is not what its `Content-Type` says
/// ([`ErrorKind::MalformedRequest`]).
pub(crate) async fn prepare(
    leaf: &Leaf,
    msg: &mut MessageContext,
    limits: &Limits,
) -> Result<Prepared, EndpointError> {
    let kind = current_kind(msg);
    let format = leaf.spec.format;
    if format.is_some_and(|f| f != EndpointFormat::Rest) || force_error_on_fault(msg) {
        // A body that will be read must not come compressed.
        msg.headers.remove(header::ACCEPT_ENCODING);
    }
    let to = Conversion { leaf, limits, kind };
    match format {
        None | Some(EndpointFormat::Rest) => {
            if let ContentKind::Soap(v) = kind {
                check_request(msg, v, limits.xml).map_err(|m| malformed(leaf, m))?;
            }
            Ok(Prepared {
                rest: format.is_some() || kind.soap().is_none(),
                ..Prepared::default()
            })
        }
        Some(EndpointFormat::Soap11) => to.soap(msg, SoapVersion::V11).await,
        Some(EndpointFormat::Soap12) => to.soap(msg, SoapVersion::V12).await,
        Some(EndpointFormat::Pox) => to.pox(msg).await,
        Some(EndpointFormat::Get) => to.get(msg).await,
    }
}

/// A conversion of an outgoing message of `kind` for `leaf`'s format.
#[derive(Clone, Copy)]
struct Conversion<'a> {
    leaf: &'a Leaf,
    limits: &'a Limits,
    kind: ContentKind,
}

// === impl Conversion ===

impl Conversion<'_> {
    /// `format="soap11"` or `"soap12"`: the message as a SOAP `version` envelope, posted with
    /// the SOAP transport headers.
    async fn soap(
        &self,
        msg: &mut MessageContext,
        version: SoapVersion,
    ) -> Result<Prepared, EndpointError> {
        let Conversion { leaf, limits, kind } = *self;
        let xml = limits.xml;
        let action =
            soap::action(&msg.headers).or_else(|| msg.get("SOAPAction").map(|v| v.to_string()));
        if kind == ContentKind::Soap(version) {
            check_request(msg, version, xml).map_err(|m| malformed(leaf, m))?;
        } else {
            let bytes = read(leaf, msg, limits).await?;
            let ct = msg.content_type().map(str::to_owned);
            let envelope = off_worker(bytes, move |b| {
                to_envelope(kind, b, version, ct.as_deref(), xml)
            })
            .await
            .map_err(|m| malformed(leaf, m))?;
            msg.body = Body::Full(Bytes::from(envelope));
        }
        soap::set_transport_headers(&mut msg.headers, version, action.as_deref());
        msg.convert_reply |= msg.client.reply_kind() != ContentKind::Soap(version);
        Ok(Prepared {
            rest: false,
            method: Some(Method::POST),
            query: None,
        })
    }

    /// `format="pox"`: the message as plain XML.
    async fn pox(&self, msg: &mut MessageContext) -> Result<Prepared, EndpointError> {
        let Conversion { leaf, limits, kind } = *self;
        let xml = limits.xml;
        if kind != ContentKind::Xml {
            let bytes = read(leaf, msg, limits).await?;
            let ct = msg.content_type().map(str::to_owned);
            let pox = off_worker(bytes, move |b| payload_xml(kind, b, ct.as_deref(), xml))
                .await
                .map_err(|m| malformed(leaf, m))?;
            msg.body = if pox.is_empty() {
                Body::Empty
            } else {
                Body::Full(Bytes::from(pox))
            };
        }
        msg.headers.remove(soap::SOAP_ACTION);
        msg.headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/xml; charset=UTF-8"),
        );
        msg.convert_reply |= msg.client.reply_kind() != ContentKind::Xml;
        Ok(Prepared {
            rest: true,
            ..Prepared::default()
        })
    }

    /// `format="get"`: the message as query parameters of a GET without a body.
    async fn get(&self, msg: &mut MessageContext) -> Result<Prepared, EndpointError> {
        let Conversion { leaf, limits, kind } = *self;
        let xml = limits.xml;
        let bytes = read(leaf, msg, limits).await?;
        let params = off_worker(bytes, move |b| query_params(kind, b, xml))
            .await
            .map_err(|m| malformed(leaf, m))?;
        msg.body = Body::Empty;
        msg.headers.remove(header::CONTENT_TYPE);
        msg.headers.remove(soap::SOAP_ACTION);
        msg.convert_reply = true;
        Ok(Prepared {
            rest: true,
            method: Some(Method::GET),
            query: (!params.is_empty()).then_some(params),
        })
    }
}

/// Runs a conversion of `bytes`: inline when they are small, else on tokio's blocking pool
/// (`message/off_worker.rs`; the conversion tree is `Send`, unlike the XPath DOM).
async fn off_worker<T: Send + 'static>(
    bytes: Bytes,
    convert: impl FnOnce(&[u8]) -> Result<T, Malformed> + Send + 'static,
) -> Result<T, Malformed> {
    if !crate::message::off_worker::is_heavy(bytes.len()) {
        return convert(&bytes);
    }
    crate::message::off_worker::run(move || convert(&bytes))
        .await
        .unwrap_or_else(|| {
            Err(Malformed(
                "the conversion was cancelled: Axon is shutting down".into(),
            ))
        })
}

pub(super) fn malformed(leaf: &Leaf, m: Malformed) -> EndpointError {
    EndpointError::new(
        ErrorKind::MalformedRequest,
        ProtocolState::RequestReady,
        leaf.name.clone(),
        m.0,
    )
}

pub(super) async fn read(
    leaf: &Leaf,
    msg: &mut MessageContext,
    limits: &Limits,
) -> Result<Bytes, EndpointError> {
    msg.body.buffer(limits.max_body).await.map_err(|error| {
        let kind = match error {
            crate::message::BodyError::TooLarge { .. } => ErrorKind::RequestTooLarge,
            crate::message::BodyError::Read(_) => ErrorKind::of_client_body(&error),
        };
        EndpointError::new(
            kind,
            ProtocolState::RequestReady,
            leaf.name.clone(),
            error.to_string(),
        )
    })
}

/// Checks a SOAP request: in memory at once, streamed chunk by chunk as it is sent.
fn check_request(
    msg: &mut MessageContext,
    version: SoapVersion,
    limits: XmlLimits,
) -> Result<(), Malformed> {
    match msg.body.take() {
        Body::Full(bytes) => {
            let result = soap::EnvelopeCheck::with_limits(version, limits).feed(&bytes, true);
            msg.body = Body::Full(bytes);
            result
        }
        Body::Stream { stream, length } => {
            msg.body = Body::Stream {
                stream: Box::pin(Checked {
                    inner: stream,
                    check: soap::EnvelopeCheck::with_limits(version, limits),
                    remaining: length,
                    failed: false,
                }),
                length,
            };
            Ok(())
        }
        Body::Empty => {
            msg.body = Body::Empty;
            Err(Malformed("the SOAP request has no body".into()))
        }
    }
}

/// `format="get"`: the payload's simple children become query parameters.
fn query_params(kind: ContentKind, bytes: &[u8], limits: XmlLimits) -> Result<String, Malformed> {
    let pairs: Vec<(String, String)> = match kind {
        ContentKind::Empty => Vec::new(),
        ContentKind::Form => {
            let text = std::str::from_utf8(bytes)
                .map_err(|_| Malformed("the form is not UTF-8".into()))?;
            parse_query(Some(text))?
        }
        ContentKind::Json => {
            let json: serde_json::Value = serde_json::from_slice(bytes)
                .map_err(|error| Malformed(format!("the JSON body is malformed: {error}")))?;
            let object = match &json {
                serde_json::Value::Object(m) if m.len() == 1 => match m.values().next() {
                    Some(serde_json::Value::Object(inner)) => inner.clone(),
                    _ => m.clone(),
                },
                serde_json::Value::Object(m) => m.clone(),
                _ => serde_json::Map::new(),
            };
            object
                .into_iter()
                .filter(|(k, v)| !k.starts_with('@') && !v.is_object() && !v.is_array())
                .map(|(k, v)| {
                    let text = match v {
                        serde_json::Value::String(s) => s,
                        other => other.to_string(),
                    };
                    (k, text)
                })
                .collect()
        }
        ContentKind::Soap(_) | ContentKind::Xml => {
            let xml = payload_xml(kind, bytes, None, limits)?;
            if xml.is_empty() {
                Vec::new()
            } else {
                let root = soap::parse_xml_with(xml.as_bytes(), limits)?;
                root.elements()
                    .filter(|c| c.elements().next().is_none())
                    .map(|c| (c.local_name().to_owned(), c.text()))
                    .collect()
            }
        }
        ContentKind::Text | ContentKind::Other => {
            return Err(Malformed(
                "only XML, JSON or form bodies become GET parameters".into(),
            ));
        }
    };
    let enc = |s: &str| {
        percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    Ok(pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&"))
}

// === responses ===

fn force_error_on_fault(msg: &MessageContext) -> bool {
    msg.get("FORCE_ERROR_ON_SOAP_FAULT")
        .or_else(|| msg.get_axis2("FORCE_ERROR_ON_SOAP_FAULT"))
        .is_some_and(|v| {
            matches!(v, Value::Bool(true)) || v.to_string().eq_ignore_ascii_case("true")
        })
}

/// How much of a response is read to see whether it is a SOAP fault.
const FAULT_PEEK: usize = 64 * 1024;

/// Checks the backend's response: one that will be converted for the client must be XML
/// within the limits (a tree too deep or too large is the backend's fault, 502, and
/// counts against it); with `FORCE_ERROR_ON_SOAP_FAULT`, a SOAP fault response is a
/// failure (500000).
///
/// # Errors
/// [`ErrorKind::Protocol`] for a response over the XML limits; [`ErrorKind::SoapFault`]
/// with the fault's code and reason.
pub(crate) async fn check_response(
    leaf: &Leaf,
    msg: &mut MessageContext,
    limits: &Limits,
) -> Result<(), EndpointError> {
    check_convertible(leaf, msg, limits).await?;
    check_fault(leaf, msg, limits).await
}

/// A response that will be converted for the client is read now (the conversion would
/// read it anyway) and checked against the XML limits without building a tree.
async fn check_convertible(
    leaf: &Leaf,
    msg: &mut MessageContext,
    limits: &Limits,
) -> Result<(), EndpointError> {
    if !msg.convert_reply || msg.body.is_empty() || !current_kind(msg).is_xml() {
        return Ok(());
    }
    // A response too large to convert is passed on unconverted by `to_client`.
    let Ok(bytes) = msg.body.buffer(limits.max_body).await else {
        return Ok(());
    };
    crate::message::xml::check_bounds(&bytes, limits.xml).map_err(|error| {
        EndpointError::new(
            ErrorKind::Protocol,
            ProtocolState::ResponseBody,
            leaf.name.clone(),
            format!("the backend's response cannot be converted for the client: {error}"),
        )
    })
}

/// With `FORCE_ERROR_ON_SOAP_FAULT`, a SOAP fault response is a failure (500000). Only
/// the start of the response is read to decide; the rest still streams.
async fn check_fault(
    leaf: &Leaf,
    msg: &mut MessageContext,
    limits: &Limits,
) -> Result<(), EndpointError> {
    if !force_error_on_fault(msg)
        || !current_kind(msg).is_xml() && !msg.content_type().is_some_and(|c| c.contains("xml"))
    {
        return Ok(());
    }
    let prefix = match msg.body.buffer_within(FAULT_PEEK).await {
        Ok(Buffered::Whole(bytes) | Buffered::Larger(bytes)) => bytes,
        Err(error) => {
            return Err(EndpointError::new(
                ErrorKind::ReceiveIo,
                ProtocolState::ResponseBody,
                leaf.name.clone(),
                format!("reading the response to look for a SOAP fault failed: {error}"),
            ));
        }
    };
    if !body_starts_with_fault(&prefix) {
        return Ok(());
    }
    let bytes = msg.body.buffer(limits.max_body).await.unwrap_or(prefix);
    let detail = match Envelope::parse(&bytes).ok().and_then(|env| env.fault()) {
        Some(f) => format!("{}: {}", f.code, f.reason),
        None => "a SOAP fault".to_owned(),
    };
    msg.body = Body::Full(bytes);
    let status = msg.status.map_or(0, |s| s.as_u16());
    Err(EndpointError::new(
        ErrorKind::SoapFault,
        ProtocolState::ResponseBody,
        leaf.name.clone(),
        format!("the backend answered {status} with SOAP fault {detail}"),
    ))
}

/// Whether the first child of the envelope's Body is a `Fault` (from the start of a
/// document; a cut-off document is read as far as it goes).
fn body_starts_with_fault(prefix: &[u8]) -> bool {
    use quick_xml::events::Event;
    let mut reader = quick_xml::NsReader::from_reader(prefix);
    let mut depth = 0usize;
    let mut in_body = false;
    loop {
        let event = match reader.read_resolved_event() {
            Ok(ev) => ev,
            Err(_) => return false,
        };
        match event {
            (ns, ev @ (Event::Start(_) | Event::Empty(_))) => {
                let (Event::Start(start) | Event::Empty(start)) = &ev else {
                    continue;
                };
                let opens = matches!(ev, Event::Start(_));
                let ns = match ns {
                    quick_xml::name::ResolveResult::Bound(n) => n.into_inner().to_owned(),
                    _ => String::new(),
                };
                let local = start.local_name().into_inner().to_owned();
                let is_soap = SoapVersion::from_namespace(&ns).is_some();
                match depth {
                    0 if !(is_soap && local == "Envelope") => return false,
                    1 if is_soap && local == "Body" => in_body = true,
                    2 if in_body => return is_soap && local == "Fault",
                    _ => {}
                }
                if opens {
                    depth += 1;
                } else if depth == 1 && in_body {
                    return false; // an empty Body
                }
            }
            (_, Event::End(_)) => {
                if depth == 2 && in_body {
                    return false;
                }
                depth = depth.saturating_sub(1);
            }
            (_, Event::Eof) => return false,
            _ => {}
        }
    }
}

/// Turns a backend's response back into the client's kind, when an endpoint `format`
/// changed the kind on the way out (a JSON client gets JSON from a SOAP backend). A
/// response that cannot be converted is passed on unchanged, with a warning.
pub(crate) async fn to_client(msg: &mut MessageContext, limits: &Limits) {
    if !msg.is_response() || !msg.convert_reply || msg.body.is_empty() {
        return;
    }
    let target = msg.client.reply_kind();
    let bytes = match msg.body.buffer(limits.max_body).await {
        Ok(b) => b,
        Err(error) => {
            tracing::warn!(message_id = %msg.id, %error, "The response could not be read to convert it for the client");
            return;
        }
    };
    let kind = current_kind(msg);
    if kind == target || !(kind.is_xml() || kind == ContentKind::Json) {
        return;
    }
    let xml = limits.xml;
    let converted = off_worker(bytes, move |b| convert_for_client(kind, b, target, xml)).await;
    match converted {
        Ok(Some((body, content_type))) => {
            msg.body = Body::Full(Bytes::from(body));
            msg.headers.remove(header::CONTENT_LENGTH);
            msg.headers.remove(header::CONTENT_ENCODING);
            msg.headers.remove(soap::SOAP_ACTION);
            if let Ok(v) = HeaderValue::from_str(&content_type) {
                msg.headers.insert(header::CONTENT_TYPE, v);
            }
        }
        Ok(None) => {}
        Err(error) => {
            tracing::warn!(message_id = %msg.id, %error, "The response could not be converted for the client; it is passed on as it is");
        }
    }
}

// === streaming check ===

/// A request body checked as a SOAP envelope while it streams. A problem ends the stream
/// with an error that [`malformed_cause`] recognises, before the offending chunk is sent.
struct Checked {
    inner: BodyStream,
    check: soap::EnvelopeCheck,
    remaining: Option<u64>,
    failed: bool,
}

impl Stream for Checked {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.failed {
            return Poll::Ready(None);
        }
        match self.inner.as_mut().poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                let at_eof = match self.remaining.as_mut() {
                    Some(r) => {
                        *r = r.saturating_sub(chunk.len() as u64);
                        *r == 0
                    }
                    None => false,
                };
                match self.check.feed(&chunk, at_eof) {
                    Ok(()) => Poll::Ready(Some(Ok(chunk))),
                    Err(m) => {
                        self.failed = true;
                        Poll::Ready(Some(Err(malformed_payload(m))))
                    }
                }
            }
            Poll::Ready(None) => {
                if self.remaining.is_none()
                    && let Err(m) = self.check.feed(&[], true)
                {
                    self.failed = true;
                    return Poll::Ready(Some(Err(malformed_payload(m))));
                }
                Poll::Ready(None)
            }
            other => other,
        }
    }
}

fn malformed_payload(m: Malformed) -> PayloadError {
    PayloadError::Io(io::Error::new(io::ErrorKind::InvalidData, m))
}

#[cfg(test)]
mod tests;
