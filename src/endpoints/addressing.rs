//! `<enableAddressing>` on a leaf: the WS-Addressing headers a SOAP request gets on its
//! way to the backend (reference: MI's addressing out-handler).
//!
//! The incoming addressing headers of both versions are dropped first, then the request
//! gets `wsa:To` (the address sent to), `wsa:MessageID` (the one the `header` mediator
//! set, else the message's own `urn:uuid:` id), `wsa:Action` (the WS-Addressing action,
//! else the SOAP action), `wsa:ReplyTo` (the one set, else the anonymous address), and
//! `wsa:From`, `wsa:FaultTo`, `wsa:RelatesTo` when set. A request that is not SOAP is sent
//! as it is (WS-Addressing lives in the SOAP header). `separateListener` is accepted; the
//! reply still comes back on the same connection, and its `wsa:RelatesTo` becomes the
//! message's `RelatesTo`.

use sxd_document::dom::{ChildOfElement, Element};

use super::Leaf;
use crate::base::error::EndpointError;
use crate::base::limits::Limits;
use crate::config::AddressingVersion;
use crate::message::addressing::Field;
use crate::message::convert::current_kind;
use crate::message::payload::PayloadError;
use crate::message::soap::{self, Malformed};
use crate::message::xml::own_text;
use crate::message::{Body, ContentKind, MessageContext};

/// The final (2005/08) namespace.
const FINAL: &str = "http://www.w3.org/2005/08/addressing";
/// The submission (2004/08) namespace.
const SUBMISSION: &str = "http://schemas.xmlsoap.org/ws/2004/08/addressing";

/// The namespace and the anonymous address of a version.
fn names(version: AddressingVersion) -> (&'static str, &'static str) {
    match version {
        AddressingVersion::Final => (FINAL, "http://www.w3.org/2005/08/addressing/anonymous"),
        AddressingVersion::Submission => (
            SUBMISSION,
            "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous",
        ),
    }
}

/// Adds the WS-Addressing headers to a SOAP request sent to `url`, when the leaf asks
/// (or the proxy whose flow sends engaged addressing).
///
/// # Errors
/// The body cannot be read or is not a well-formed envelope.
pub(crate) async fn apply(
    leaf: &Leaf,
    msg: &mut MessageContext,
    url: &str,
    limits: &Limits,
) -> Result<(), EndpointError> {
    let Some(version) = leaf.spec.addressing.or(msg.engaged_addressing) else {
        return Ok(());
    };
    if !matches!(current_kind(msg), ContentKind::Soap(_)) {
        return Ok(());
    }
    let bytes = super::format::read(leaf, msg, limits).await?;
    msg.body = Body::Full(bytes);
    match msg.load_xml() {
        Ok(()) => {}
        Err(PayloadError::Malformed(m) | PayloadError::Unsupported(m)) => {
            return Err(super::format::malformed(leaf, Malformed(m)));
        }
        Err(PayloadError::NeedBody) => return Ok(()),
    }
    let headers = Headers::of(msg, url, version);
    let Some(doc) = msg.xml_doc() else {
        return Ok(());
    };
    let Some(header) = doc.header_or_create() else {
        return Ok(());
    };
    for child in header.children() {
        if let ChildOfElement::Element(it) = child
            && matches!(it.name().namespace_uri(), Some(FINAL | SUBMISSION))
        {
            it.remove_from_parent();
        }
    }
    headers.write(header);
    msg.commit_xml();
    Ok(())
}

/// What the request's addressing headers say.
struct Headers {
    ns: &'static str,
    to: String,
    message_id: String,
    action: Option<String>,
    reply_to: String,
    optional: Vec<(&'static str, String)>,
}

impl Headers {
    fn of(msg: &MessageContext, url: &str, version: AddressingVersion) -> Headers {
        let (ns, anonymous) = names(version);
        let get = |f: Field| msg.wsa.get(f).map(str::to_owned);
        let optional = [
            ("From", Field::From),
            ("FaultTo", Field::FaultTo),
            ("RelatesTo", Field::RelatesTo),
        ]
        .into_iter()
        .filter_map(|(name, f)| get(f).map(|v| (name, v)))
        .collect();
        Headers {
            ns,
            to: url.to_owned(),
            message_id: get(Field::MessageId).unwrap_or_else(|| msg.id.to_string()),
            action: soap::action(&msg.headers),
            reply_to: get(Field::ReplyTo).unwrap_or_else(|| anonymous.to_owned()),
            optional,
        }
    }

    fn write(&self, header: Element<'_>) {
        let text = |local: &str, value: &str| {
            let el = self.element(header, local);
            el.append_child(header.document().create_text(value));
            el
        };
        let address = |local: &str, value: &str| {
            let el = self.element(header, local);
            el.append_child(text("Address", value));
            el
        };
        header.append_child(text("To", &self.to));
        header.append_child(text("MessageID", &self.message_id));
        if let Some(action) = &self.action {
            header.append_child(text("Action", action));
        }
        header.append_child(address("ReplyTo", &self.reply_to));
        for (name, value) in &self.optional {
            let el = if *name == "RelatesTo" {
                text(name, value)
            } else {
                address(name, value)
            };
            header.append_child(el);
        }
    }

    fn element<'d>(&self, header: Element<'d>, local: &str) -> Element<'d> {
        let el = header.document().create_element((self.ns, local));
        el.set_preferred_prefix(Some("wsa"));
        el.register_prefix("wsa", self.ns);
        el
    }
}

/// Reads `wsa:RelatesTo` from the SOAP response of a leaf with `<enableAddressing>` into
/// the message's field, for `get-property('RelatesTo')`. A response too large to buffer,
/// or not well-formed, is left as it is (the usual checks report it).
pub(crate) async fn read_reply(leaf: &Leaf, msg: &mut MessageContext, limits: &Limits) {
    // A streamed response's kind is only known as XML until its bytes are seen.
    let engaged = leaf.spec.addressing.or(msg.engaged_addressing);
    if engaged.is_none() || msg.body.is_empty() || !current_kind(msg).is_xml() {
        return;
    }
    if msg.body.buffer(limits.max_body).await.is_err()
        || !matches!(current_kind(msg), ContentKind::Soap(_))
        || msg.load_xml().is_err()
    {
        return;
    }
    let relates = msg
        .xml_doc()
        .and_then(|doc| doc.header())
        .and_then(|header| {
            header
                .children()
                .into_iter()
                .filter_map(ChildOfElement::element)
                .find(|it| {
                    it.name().local_part() == "RelatesTo"
                        && matches!(it.name().namespace_uri(), Some(FINAL | SUBMISSION))
                })
                .map(|it| own_text(it).trim().to_owned())
        });
    if let Some(value) = relates
        && let Err(error) = msg.wsa.set(Field::RelatesTo, Some(value))
    {
        tracing::debug!(message_id = %msg.id, %error, "wsa:RelatesTo of the response not kept");
    }
}
