//! `<payloadFactory media-type>`: replace the body with a template filled from `<args>`.

use actix_web::http::header::{CONTENT_TYPE, HeaderValue};
use bytes::Bytes;

use super::{Env, Mediator, Step};
use crate::config::{Ctx, Element};
use crate::engine::MediationError;
use crate::message::{Body, MessageContext, Scope, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MediaType {
    Xml,
    Json,
    Text,
}

#[derive(Debug)]
struct PayloadFactory {
    media: MediaType,
    /// With literal arguments only, the payload is built once, at load.
    payload: Bytes,
}

/// Parses `<payloadFactory>` with literal `<arg value>` arguments.
pub(super) fn parse(el: &Element, ctx: &mut Ctx<'_>) -> Option<Box<dyn Mediator>> {
    ctx.check_attrs(el, &["media-type", "template-type", "description"]);
    ctx.no_text(el);
    let media = match el.attr("media-type") {
        None => MediaType::Xml,
        Some(a) => match a.value.trim() {
            "xml" => MediaType::Xml,
            "json" => MediaType::Json,
            "text" => MediaType::Text,
            other => {
                ctx.error(
                    &a.loc,
                    format!("unknown media-type `{other}` (expected xml, json or text)"),
                );
                return None;
            }
        },
    };
    if let Some(a) = el.attr("template-type")
        && a.value.trim() != "default"
    {
        ctx.unsupported(&a.loc, format!("template-type `{}`", a.value.trim()));
        return None;
    }
    let mut format: Option<String> = None;
    let mut args: Vec<String> = Vec::new();
    let mut ok = true;
    for child in el.elements() {
        match child.local_name() {
            "format" if child.is_synapse() => {
                ctx.check_attrs(child, &["key"]);
                if let Some(a) = child.attr("key") {
                    ctx.unsupported(&a.loc, "payload templates loaded by `key`");
                    ok = false;
                    continue;
                }
                format = match media {
                    MediaType::Xml => {
                        let mut elements = child.elements();
                        match (elements.next(), elements.next()) {
                            (Some(root), None) if !child.has_text() => Some(root.to_xml()),
                            _ => {
                                ctx.error(&child.loc, "an xml <format> holds exactly one element");
                                ok = false;
                                None
                            }
                        }
                    }
                    MediaType::Json | MediaType::Text => {
                        if let Some(inner) = child.elements().next() {
                            ctx.error(
                                &inner.loc,
                                "a json or text <format> holds text, not elements",
                            );
                            ok = false;
                        }
                        Some(child.text())
                    }
                };
            }
            "args" if child.is_synapse() => {
                ctx.check_attrs(child, &[]);
                ctx.no_text(child);
                for arg in child.elements() {
                    if arg.local_name() != "arg" || !arg.is_synapse() {
                        ctx.unknown_child(child, arg);
                        ok = false;
                        continue;
                    }
                    ctx.check_attrs(arg, &["value", "expression", "evaluator", "literal"]);
                    ctx.no_children(arg);
                    if let Some(a) = arg.attr("expression") {
                        ctx.unsupported(
                            &a.loc,
                            "payloadFactory argument expressions (`expression`)",
                        );
                        ok = false;
                        continue;
                    }
                    match arg.attr_value("value") {
                        Some(v) => args.push(v.to_owned()),
                        None => {
                            ctx.error(&arg.loc, "<arg> needs a `value`");
                            ok = false;
                        }
                    }
                }
            }
            _ => {
                ctx.unknown_child(el, child);
                ok = false;
            }
        }
    }
    let Some(format) = format else {
        if ok {
            ctx.error(&el.loc, "<payloadFactory> needs a <format>");
        }
        return None;
    };
    if !ok {
        return None;
    }
    let escaped: Vec<String> = args.iter().map(|a| escape(media, a)).collect();
    let payload = match fill(&format, &escaped) {
        Ok(p) => p,
        Err(index) => {
            ctx.error(
                &el.loc,
                format!("`${index}` in <format> has no matching <arg>"),
            );
            return None;
        }
    };
    Some(Box::new(PayloadFactory {
        media,
        payload: Bytes::from(payload),
    }))
}

fn escape(media: MediaType, value: &str) -> String {
    match media {
        MediaType::Xml => crate::config::xml::escape_text(value),
        MediaType::Json => {
            let quoted = serde_json::Value::String(value.to_owned()).to_string();
            quoted[1..quoted.len() - 1].to_owned()
        }
        MediaType::Text => value.to_owned(),
    }
}

/// Replaces `$1`..`$n` in `template`. Returns the index of an argument that is missing.
fn fill(template: &str, args: &[String]) -> Result<String, usize> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let digits: String = rest[i + 1..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        if digits.is_empty() {
            out.push('$');
            rest = &rest[i + 1..];
            continue;
        }
        let index: usize = digits.parse().map_err(|_| 0usize)?;
        match index.checked_sub(1).and_then(|k| args.get(k)) {
            Some(value) => out.push_str(value),
            None => return Err(index),
        }
        rest = &rest[i + 1 + digits.len()..];
    }
    out.push_str(rest);
    Ok(out)
}

impl Mediator for PayloadFactory {
    fn body_use(&self) -> Option<&'static str> {
        Some("payloadFactory")
    }

    fn mediate<'c>(
        &'c self,
        msg: &mut MessageContext,
        _env: &Env<'c>,
    ) -> Result<Step<'c>, MediationError> {
        msg.body = Body::Full(self.payload.clone());
        let current = msg.content_type().unwrap_or_default().to_ascii_lowercase();
        let content_type = match self.media {
            MediaType::Json => "application/json",
            MediaType::Text => "text/plain",
            MediaType::Xml if current.contains("xml") => {
                // Keep text/xml or application/soap+xml (reference §5).
                return Ok(Step::Continue);
            }
            MediaType::Xml => "application/xml",
        };
        msg.set_header(CONTENT_TYPE, HeaderValue::from_static(content_type));
        msg.set_property(Scope::Axis2, "messageType", Value::from(content_type))
            .map_err(MediationError::Failed)?;
        Ok(Step::Continue)
    }
}

#[cfg(test)]
mod tests {
    use super::fill;

    #[test]
    fn fills_numbered_arguments_and_keeps_lone_dollars() {
        let args = vec!["a".to_owned(), "b".to_owned()];
        assert_eq!(fill("x=$1,y=$2,z=$", &args).unwrap(), "x=a,y=b,z=$");
        assert_eq!(fill("$12", &args), Err(12));
        assert_eq!(fill("{\"k\":\"$1\"}", &args).unwrap(), "{\"k\":\"a\"}");
    }
}
