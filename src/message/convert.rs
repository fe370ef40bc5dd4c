//! Converting a message body between kinds (SOAP 1.1, SOAP 1.2, JSON, POX, text, form):
//! what endpoint formats send, what mediators ask for (`messageType`, XPath over JSON,
//! json-eval over XML), and what a client gets back.

use super::json_xml::{json_to_xml, xml_to_json, xml_to_json_in_scope};
use super::soap::{self, Envelope, Malformed, SoapVersion};
use super::xml::{TEXT_NS, XmlLimits};
use super::{Body, ContentKind, MessageContext};
use crate::base::query::parse_query;

/// The kind of the message as it is now: a body in memory is looked at, a streamed one is
/// judged by its headers.
pub(crate) fn current_kind(msg: &MessageContext) -> ContentKind {
    let ct = msg.content_type();
    match &msg.body {
        Body::Empty => ContentKind::Empty,
        Body::Full(b) if b.is_empty() => ContentKind::Empty,
        Body::Full(b) => match ContentKind::from_content_type(ct, true) {
            k if k.is_xml() => soap::sniff(b).map_or(ContentKind::Xml, ContentKind::Soap),
            k => k,
        },
        Body::Stream { .. } => {
            let soap_action = msg.headers.contains_key(soap::SOAP_ACTION)
                || (!msg.is_response() && msg.client.kind == ContentKind::Soap(SoapVersion::V11));
            ContentKind::from_content_type(ct, soap_action)
        }
    }
}

fn xml_payload(bytes: &[u8], limits: XmlLimits) -> Result<String, Malformed> {
    let root = soap::parse_xml_with(bytes, limits)?;
    Ok(soap::standalone(&root, &[], None))
}

fn json_payload(bytes: &[u8], limits: XmlLimits) -> Result<String, Malformed> {
    let json: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|error| Malformed(format!("the JSON body is malformed: {error}")))?;
    super::json_xml::check_bounds(&json, limits)?;
    Ok(json_to_xml(&json))
}

fn form_payload(bytes: &[u8]) -> Result<String, Malformed> {
    let text = std::str::from_utf8(bytes).map_err(|_| Malformed("the form is not UTF-8".into()))?;
    let pairs = parse_query(Some(text))?;
    let mut fields = serde_json::Map::new();
    for (k, v) in pairs {
        fields.insert(k, serde_json::Value::String(v));
    }
    let mut doc = serde_json::Map::new();
    doc.insert("xformValues".into(), serde_json::Value::Object(fields));
    Ok(json_to_xml(&serde_json::Value::Object(doc)))
}

fn text_payload(bytes: &[u8]) -> String {
    format!(
        "<text xmlns=\"{TEXT_NS}\">{}</text>",
        crate::base::xml::escape_text(&String::from_utf8_lossy(bytes))
    )
}

/// The payload of a message of `kind` as standalone XML (empty for no payload).
pub(crate) fn payload_xml(
    kind: ContentKind,
    bytes: &[u8],
    content_type: Option<&str>,
    limits: XmlLimits,
) -> Result<String, Malformed> {
    match kind {
        ContentKind::Soap(_) => Ok(Envelope::parse_with(bytes, limits)?
            .payload()
            .unwrap_or_default()),
        ContentKind::Xml => xml_payload(bytes, limits),
        ContentKind::Json => json_payload(bytes, limits),
        ContentKind::Text => Ok(text_payload(bytes)),
        ContentKind::Form => form_payload(bytes),
        ContentKind::Empty => Ok(String::new()),
        ContentKind::Other => Err(Malformed(format!(
            "a body of Content-Type `{}` cannot be converted to XML",
            content_type.unwrap_or("none")
        ))),
    }
}

/// The message of `kind` as a SOAP envelope of `version`.
pub(crate) fn to_envelope(
    kind: ContentKind,
    bytes: &[u8],
    version: SoapVersion,
    content_type: Option<&str>,
    limits: XmlLimits,
) -> Result<String, Malformed> {
    match kind {
        ContentKind::Soap(_) => Ok(Envelope::parse_with(bytes, limits)?.convert(version)),
        other => Ok(soap::wrap(
            version,
            &payload_xml(other, bytes, content_type, limits)?,
            &[],
        )),
    }
}

/// The body of a message of `kind` rewritten as `target` (SOAP, JSON or POX), with its
/// `Content-Type`; `None` when `target` is not one of those. Also used by mediation
/// (`messageType`, XPath over JSON, json-eval over XML).
///
/// # Errors
/// The body is not what `kind` says.
pub(crate) fn convert_for_client(
    kind: ContentKind,
    bytes: &[u8],
    target: ContentKind,
    limits: XmlLimits,
) -> Result<Option<(String, String)>, Malformed> {
    Ok(Some(match target {
        ContentKind::Soap(v) => (
            to_envelope(kind, bytes, v, None, limits)?,
            v.content_type(None),
        ),
        ContentKind::Json => {
            let json = match kind {
                ContentKind::Soap(_) => {
                    let env = Envelope::parse_with(bytes, limits)?;
                    match env.payload_element() {
                        Some((el, scope)) => xml_to_json_in_scope(el, &scope),
                        None => serde_json::Value::Object(serde_json::Map::new()),
                    }
                }
                _ => xml_to_json(&soap::parse_xml_with(bytes, limits)?),
            };
            (json.to_string(), "application/json".to_owned())
        }
        ContentKind::Xml => (
            payload_xml(kind, bytes, None, limits)?,
            "application/xml; charset=UTF-8".to_owned(),
        ),
        _ => return Ok(None),
    }))
}
