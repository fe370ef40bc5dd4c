//! `<header>`: set or remove an HTTP header (`scope="transport"`) or a SOAP header block
//! (the default scope) (reference §5).
//!
//! A SOAP header is named by a prefixed QName (the prefix declared on the element or an
//! ancestor), or given as an inline XML element. Setting replaces the blocks with that
//! name (or adds one, creating `<Header>` if needed); removing deletes them. `To` sets the
//! message's destination, `Action` its SOAP action, and `From`, `ReplyTo`, `FaultTo`,
//! `MessageID`, `RelatesTo` the message's WS-Addressing fields (unqualified names, as in
//! Synapse; a prefixed `wsa:To` is a literal SOAP header block). On a message that is not a SOAP
//! envelope there are no SOAP headers to change, as in Synapse, and nothing happens.

use actix_web::http::header::{HeaderName, HeaderValue};
use sxd_document::dom::ChildOfElement;

use super::expressions;
use super::{Env, Mediator, Step};
use crate::base::mediation::MediationError;
use crate::config::values;
use crate::config::{Attr, Ctx, Element};
use crate::expr::Expression;
use crate::message::addressing::{Field, MAX_VALUE};
use crate::message::payload::PayloadError;
use crate::message::xml::Envelope;
use crate::message::{MessageContext, Scope, Value};

#[derive(Debug)]
enum Content {
    Literal(String),
    Expr(Expression),
    /// An inline XML element (serialised, namespaces declared).
    Xml(String),
    /// `action="remove"`.
    Remove,
}

#[derive(Debug)]
enum Target {
    /// An HTTP header.
    Transport(HeaderName),
    /// A SOAP header block: (namespace, local name, prefix).
    Soap {
        ns: String,
        local: String,
        prefix: String,
    },
    /// WS-Addressing `To`: the message's destination.
    To,
    /// WS-Addressing `Action`, which is also the SOAP action.
    Action,
    /// Another WS-Addressing field of the message (`From`, `ReplyTo`, ...).
    Wsa(Field),
}

#[derive(Debug)]
struct Header {
    target: Target,
    content: Content,
}

/// Parses `<header>`.
pub(super) fn parse(el: &Element, ctx: &mut Ctx<'_>) -> Option<Box<dyn Mediator>> {
    ctx.check_attrs(
        el,
        &[
            "name",
            "value",
            "expression",
            "action",
            "scope",
            "description",
        ],
    );
    let remove = values::remove_action(el, ctx.diags)?;
    let transport = parse_scope(el, ctx)?;
    let inline = el.elements().next();
    if el.elements().nth(1).is_some() {
        ctx.error(&el.loc, "<header> holds at most one inline XML element");
        return None;
    }
    let target = parse_target(el, inline, transport, ctx)?;
    let content = if remove {
        no_content_to_remove(el, ctx);
        Content::Remove
    } else {
        parse_content(el, inline, &target, ctx)?
    };
    Some(Box::new(Header { target, content }))
}

/// `scope`: true for `transport` (an HTTP header), false for a SOAP header.
fn parse_scope(el: &Element, ctx: &mut Ctx<'_>) -> Option<bool> {
    values::keyword(
        el,
        "scope",
        false,
        &[("default", false), ("soap", false), ("transport", true)],
        ("header scope", "default or transport"),
        ctx.diags,
    )
}

/// The header to set or remove: by `name`, or the inline SOAP header element.
fn parse_target(
    el: &Element,
    inline: Option<&Element>,
    transport: bool,
    ctx: &mut Ctx<'_>,
) -> Option<Target> {
    match (el.attr("name"), inline) {
        (Some(n), None) if transport => {
            let name = n.value.trim();
            match HeaderName::from_bytes(name.as_bytes()) {
                Ok(h) => Some(Target::Transport(h)),
                Err(_) => {
                    ctx.error(&n.loc, format!("`{name}` is not a valid HTTP header name"));
                    None
                }
            }
        }
        (Some(n), None) => named_soap_target(el, n, ctx),
        (None, Some(xml)) if !transport => {
            let Some(ns) = xml.ns.clone() else {
                ctx.error(&xml.loc, "an inline SOAP header element needs a namespace");
                return None;
            };
            let prefix = xml
                .name
                .split_once(':')
                .map(|(p, _)| p)
                .unwrap_or("")
                .to_owned();
            Some(Target::Soap {
                ns,
                local: xml.local_name().to_owned(),
                prefix,
            })
        }
        (None, None) => {
            ctx.error(
                &el.loc,
                "<header> needs a `name` (or an inline XML element)",
            );
            None
        }
        _ => {
            ctx.error(
                &el.loc,
                "<header> takes a `name` or an inline XML element (not both; inline XML is for SOAP headers)",
            );
            None
        }
    }
}

/// A SOAP-scope `name`: `To`, `Action`, or a prefixed header name.
fn named_soap_target(el: &Element, n: &Attr, ctx: &mut Ctx<'_>) -> Option<Target> {
    let name = n.value.trim();
    match name {
        "To" => Some(Target::To),
        "Action" => Some(Target::Action),
        _ if Field::named(name).is_some() => Field::named(name).map(Target::Wsa),
        _ => {
            let Some((prefix, local)) = name.split_once(':') else {
                ctx.error(
                    &n.loc,
                    format!("SOAP header name `{name}` needs a namespace prefix (or use scope=\"transport\" for an HTTP header)"),
                );
                return None;
            };
            let Some((_, ns)) = el.namespaces.iter().find(|(p, _)| p == prefix) else {
                ctx.error(
                    &n.loc,
                    format!("namespace prefix `{prefix}` is not declared"),
                );
                return None;
            };
            Some(Target::Soap {
                ns: ns.clone(),
                local: local.to_owned(),
                prefix: prefix.to_owned(),
            })
        }
    }
}

/// With action="remove", a `value` or `expression` is an error.
fn no_content_to_remove(el: &Element, ctx: &mut Ctx<'_>) {
    for attr in ["value", "expression"] {
        if let Some(a) = el.attr(attr) {
            ctx.error(
                &a.loc,
                format!("`{attr}` has no meaning with action=\"remove\""),
            );
        }
    }
}

/// What to set: a literal `value`, an `expression`, or the inline element.
fn parse_content(
    el: &Element,
    inline: Option<&Element>,
    target: &Target,
    ctx: &mut Ctx<'_>,
) -> Option<Content> {
    match (el.attr("value"), el.attr("expression"), inline) {
        (Some(v), None, None) => {
            if let Target::Transport(_) = target
                && HeaderValue::from_str(&v.value).is_err()
            {
                ctx.error(
                    &v.loc,
                    format!("`{}` is not a valid HTTP header value", v.value),
                );
                return None;
            }
            Some(Content::Literal(v.value.clone()))
        }
        (None, Some(it), None) => Some(Content::Expr(expressions::expression(it, el, ctx.diags)?)),
        (None, None, Some(xml)) => Some(Content::Xml(xml.to_content_xml())),
        _ => {
            ctx.error(
                &el.loc,
                "<header> needs exactly one of `value`, `expression` and an inline element (or action=\"remove\")",
            );
            None
        }
    }
}

impl Mediator for Header {
    fn body_use(&self) -> Option<&'static str> {
        if matches!(self.target, Target::Soap { .. }) {
            return Some("header (SOAP header)");
        }
        match &self.content {
            Content::Expr(expr) => super::reads_payload(expr, "header expression"),
            _ => None,
        }
    }

    fn mediate<'c>(
        &'c self,
        msg: &mut MessageContext,
        _env: &Env<'c>,
    ) -> Result<Step<'c>, MediationError> {
        let value = match &self.content {
            Content::Literal(v) => Some(v.clone()),
            Content::Expr(it) => Some(eval!(it.string(msg)).unwrap_or_default()),
            Content::Xml(x) => Some(x.clone()),
            Content::Remove => None,
        };
        match (&self.target, value) {
            (Target::Transport(name), Some(v)) => {
                let hv = HeaderValue::from_str(&v).map_err(|_| {
                    MediationError::Failed(format!(
                        "the value for header `{name}` is not a valid header value"
                    ))
                })?;
                msg.set_header(name.clone(), hv);
            }
            (Target::Transport(name), None) => msg.remove_property(Scope::Transport, name.as_str()),
            (Target::To, Some(v)) if v.len() > MAX_VALUE => {
                return Err(MediationError::Failed(format!(
                    "the WS-Addressing `To` value is {} bytes, more than {MAX_VALUE}",
                    v.len()
                )));
            }
            (Target::To, v) => msg.to = v,
            (Target::Action, Some(v)) => {
                msg.set_property(
                    Scope::Transport,
                    "SOAPAction",
                    Value::Str(format!("\"{v}\"")),
                )?;
            }
            (Target::Action, None) => msg.remove_property(Scope::Transport, "SOAPAction"),
            (Target::Wsa(field), v) => msg
                .wsa
                .set(*field, v)
                .map_err(|it| MediationError::Failed(it.to_string()))?,
            (Target::Soap { ns, local, prefix }, value) => {
                match msg.load_xml() {
                    Ok(()) => {}
                    Err(PayloadError::NeedBody) => return Ok(Step::NeedBody),
                    Err(PayloadError::Malformed(m)) => return Err(MediationError::Payload(m)),
                    // A JSON payload has no SOAP headers.
                    Err(PayloadError::Unsupported(_)) => return Ok(Step::Continue),
                }
                let inline = matches!(self.content, Content::Xml(_));
                if set_soap_header(msg, ns, local, prefix, value.as_deref(), inline)? {
                    msg.commit_xml();
                }
            }
        }
        Ok(Step::Continue)
    }
}

/// Replaces (or, with `value` `None`, removes) the header blocks named `{ns}local`.
/// Returns whether the document changed.
fn set_soap_header(
    msg: &MessageContext,
    ns: &str,
    local: &str,
    prefix: &str,
    value: Option<&str>,
    inline: bool,
) -> Result<bool, MediationError> {
    let Some(doc) = msg.xml_doc() else {
        return Ok(false);
    };
    if !matches!(doc.envelope, Envelope::Soap11 | Envelope::Soap12) {
        tracing::debug!(message_id = %msg.id, header = local, "Not a SOAP message: no SOAP header to change");
        return Ok(false);
    }
    let existing: Vec<_> = doc
        .header()
        .map(|h| {
            h.children()
                .into_iter()
                .filter_map(ChildOfElement::element)
                .filter(|it| {
                    it.name().namespace_uri() == Some(ns) && it.name().local_part() == local
                })
                .collect()
        })
        .unwrap_or_default();
    let Some(value) = value else {
        let changed = !existing.is_empty();
        for it in existing {
            it.remove_from_parent();
        }
        return Ok(changed);
    };
    let Some(header) = doc.header_or_create() else {
        return Ok(false);
    };
    let new_nodes = if inline {
        doc.import_fragment(value)
            .map_err(|m| MediationError::Failed(format!("header: {m}")))?
    } else {
        let el = doc.document().create_element((ns, local));
        if !prefix.is_empty() {
            el.set_preferred_prefix(Some(prefix));
            el.register_prefix(prefix, ns);
        }
        el.append_child(doc.document().create_text(value));
        vec![ChildOfElement::Element(el)]
    };
    for it in existing {
        it.remove_from_parent();
    }
    header.append_children(new_nodes);
    Ok(true)
}
