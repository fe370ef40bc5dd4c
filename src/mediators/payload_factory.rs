//! `<payloadFactory media-type>`: replace the payload with a template filled from `<args>`
//! (reference §5).
//!
//! `$1`..`$n` in `<format>` are replaced by the arguments in order. An argument is a
//! literal `value` or an `expression` (XPath, or json-eval; `evaluator="json"` reads a bare
//! JSONPath). Values are escaped for the media type: XML text is escaped unless it is
//! itself XML (elements an XPath selected, or a value that parses as XML), JSON strings are
//! escaped (objects and arrays from json-eval go in as JSON), `literal="true"` always
//! inserts text. The template is split once at load; a payload with literal arguments only
//! is built once, at load.
//!
//! An XML payload replaces the body's content; on a SOAP message the envelope and its
//! headers stay (a format that is itself an `Envelope` replaces the whole envelope).

use actix_web::http::header::{CONTENT_TYPE, HeaderValue};
use bytes::Bytes;

use super::expressions;
use super::{Env, Mediator, Step};
use crate::base::mediation::MediationError;
use crate::config::values;
use crate::config::{Ctx, Element};
use crate::expr::{Evaluated, Expression};
use crate::message::payload::{json_as_xml, xml_as_json};
use crate::message::soap::Malformed;
use crate::message::xml::{Envelope, XmlDoc, XmlError};
use crate::message::{Body, MessageContext, Scope, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MediaType {
    Xml,
    Json,
    Text,
}

#[derive(Debug)]
enum Segment {
    Text(String),
    /// Index into the arguments.
    Arg(usize),
}

#[derive(Debug)]
enum Arg {
    /// A literal, already escaped for the media type.
    Ready(String),
    Expr {
        expr: Expression,
        /// `literal="true"`: insert as text whatever it looks like.
        literal: bool,
    },
}

#[derive(Debug)]
enum Payload {
    /// Literal arguments only: the payload, built at load.
    Fixed(Bytes),
    Template {
        segments: Vec<Segment>,
        args: Vec<Arg>,
        /// `escapeXmlChars="true"`: escape `<`, `>`, `&` in JSON values (JSON media type).
        escape_xml_chars: bool,
    },
}

#[derive(Debug)]
struct PayloadFactory {
    media: MediaType,
    payload: Payload,
}

/// Parses `<payloadFactory>`.
pub(super) fn parse(el: &Element, ctx: &mut Ctx<'_>) -> Option<Box<dyn Mediator>> {
    ctx.check_attrs(
        el,
        &[
            "media-type",
            "template-type",
            "escapeXmlChars",
            "description",
        ],
    );
    ctx.no_text(el);
    let media = parse_media(el, ctx)?;
    if let Some(a) = el.attr("template-type")
        && a.value.trim() != "default"
    {
        ctx.unsupported(&a.loc, format!("template-type `{}`", a.value.trim()));
        return None;
    }
    let escape_xml_chars = match el.attr("escapeXmlChars") {
        Some(a) => values::boolean(&a.value, &a.loc, "escapeXmlChars", ctx.diags)?,
        None => false,
    };
    let mut format: Option<String> = None;
    let mut args: Vec<Arg> = Vec::new();
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
                format = parse_format(child, media, &mut ok, ctx);
            }
            "args" if child.is_synapse() => parse_args(child, media, &mut args, &mut ok, ctx),
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
    let payload = build_payload(el, media, &format, args, escape_xml_chars, ctx)?;
    Some(Box::new(PayloadFactory { media, payload }))
}

/// `media-type`: xml (the default), json or text.
fn parse_media(el: &Element, ctx: &mut Ctx<'_>) -> Option<MediaType> {
    values::keyword(
        el,
        "media-type",
        MediaType::Xml,
        &[
            ("xml", MediaType::Xml),
            ("json", MediaType::Json),
            ("text", MediaType::Text),
        ],
        ("media-type", "xml, json or text"),
        ctx.diags,
    )
}

/// The template of a `<format>`: its one element (xml), or its text (json, text).
fn parse_format(
    child: &Element,
    media: MediaType,
    ok: &mut bool,
    ctx: &mut Ctx<'_>,
) -> Option<String> {
    match media {
        MediaType::Xml => {
            let mut elements = child.elements();
            match (elements.next(), elements.next()) {
                (Some(root), None) if !child.has_text() => Some(root.to_content_xml()),
                _ => {
                    ctx.error(&child.loc, "an xml <format> holds exactly one element");
                    *ok = false;
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
                *ok = false;
            }
            Some(child.text())
        }
    }
}

/// The `<arg>`s of an `<args>`, added to `args`.
fn parse_args(
    child: &Element,
    media: MediaType,
    args: &mut Vec<Arg>,
    ok: &mut bool,
    ctx: &mut Ctx<'_>,
) {
    ctx.check_attrs(child, &[]);
    ctx.no_text(child);
    for arg in child.elements() {
        if arg.local_name() != "arg" || !arg.is_synapse() {
            ctx.unknown_child(child, arg);
            *ok = false;
            continue;
        }
        match parse_arg(arg, media, ctx) {
            Some(a) => args.push(a),
            None => *ok = false,
        }
    }
}

/// The payload: filled once at load when every argument is a literal, else a template.
fn build_payload(
    el: &Element,
    media: MediaType,
    format: &str,
    args: Vec<Arg>,
    escape_xml_chars: bool,
    ctx: &mut Ctx<'_>,
) -> Option<Payload> {
    let mut args = args;
    let segments = match split_inline(format, &mut args, &el.namespaces) {
        Ok(s) => s,
        Err(message) => {
            ctx.error(&el.loc, message);
            return None;
        }
    };
    if !args.iter().all(|a| matches!(a, Arg::Ready(_))) {
        return Some(Payload::Template {
            segments,
            args,
            escape_xml_chars,
        });
    }
    let values: Vec<&str> = args
        .iter()
        .map(|a| match a {
            Arg::Ready(s) => s.as_str(),
            Arg::Expr { .. } => "",
        })
        .collect();
    let text = fill(&segments, &values);
    if let Err(problem) = check_output(media, &text) {
        ctx.error(&el.loc, problem.to_string());
        return None;
    }
    Some(Payload::Fixed(Bytes::from(text)))
}

fn parse_arg(arg: &Element, media: MediaType, ctx: &mut Ctx<'_>) -> Option<Arg> {
    ctx.check_attrs(
        arg,
        &["value", "expression", "evaluator", "literal", "description"],
    );
    ctx.no_children(arg);
    let literal = match arg.attr("literal") {
        Some(a) => values::boolean(&a.value, &a.loc, "literal", ctx.diags)?,
        None => false,
    };
    match (arg.attr("value"), arg.attr("expression")) {
        (Some(v), None) => Some(Arg::Ready(
            replacement(media, &Evaluated::Text(v.value.clone()), literal, false).ok()?,
        )),
        (None, Some(it)) => {
            let expr = match arg.attr("evaluator").map(|a| (a, a.value.trim())) {
                Some((_, "json")) => match Expression::compile_json(&it.value) {
                    Ok(x) => x,
                    Err(message) => {
                        ctx.error(&it.loc, format!("`expression`: {message}"));
                        return None;
                    }
                },
                None | Some((_, "xml")) => expressions::expression(it, arg, ctx.diags)?,
                Some((a, other)) => {
                    ctx.error(
                        &a.loc,
                        format!("unknown evaluator `{other}` (expected xml or json)"),
                    );
                    return None;
                }
            };
            Some(Arg::Expr { expr, literal })
        }
        _ => {
            ctx.error(
                &arg.loc,
                "<arg> needs exactly one of `value` and `expression`",
            );
            None
        }
    }
}

/// Splits the template at MI 4.4's inline `${...}` (also written `{${...}}`), each
/// compiled and added to `args`, and at `$1`..`$n` between them.
fn split_inline(
    template: &str,
    args: &mut Vec<Arg>,
    namespaces: &[(String, String)],
) -> Result<Vec<Segment>, String> {
    let numbered = args.len();
    let missing = |index: usize| {
        format!("`${index}` in <format> has no matching <arg> (there are {numbered})")
    };
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        let end = closing_brace(&rest[start..])
            .ok_or_else(|| format!("`{}` in <format> has no closing `}}`", &rest[start..]))?
            + start;
        let braced = rest[..start].ends_with('{') && rest[end + 1..].starts_with('}');
        let (before, after) = match braced {
            true => (&rest[..start - 1], &rest[end + 2..]),
            false => (&rest[..start], &rest[end + 1..]),
        };
        out.extend(split(before, numbered).map_err(missing)?);
        let expr = Expression::compile(&rest[start..=end], namespaces)
            .map_err(|error| format!("<format>: `{}`: {error}", &rest[start..=end]))?;
        args.push(Arg::Expr {
            expr,
            literal: false,
        });
        out.push(Segment::Arg(args.len() - 1));
        rest = after;
    }
    out.extend(split(rest, numbered).map_err(missing)?);
    Ok(out)
}

/// The byte offset of the `}` that closes the `${` at the start of `text` (quoted
/// strings inside are skipped).
fn closing_brace(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut quote = None;
    for (i, c) in text.char_indices().skip(1) {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '{') => depth += 1,
            (None, '}') => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// Splits the template at `$1`..`$n`. Returns the number of an argument that is missing.
fn split(template: &str, arg_count: usize) -> Result<Vec<Segment>, usize> {
    let mut out = Vec::new();
    let mut text = String::new();
    let mut rest = template;
    while let Some(i) = rest.find('$') {
        text.push_str(&rest[..i]);
        let digits: String = rest[i + 1..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        if digits.is_empty() {
            text.push('$');
            rest = &rest[i + 1..];
            continue;
        }
        let index: usize = digits.parse().map_err(|_| usize::MAX)?;
        if index == 0 || index > arg_count {
            return Err(index);
        }
        if !text.is_empty() {
            out.push(Segment::Text(std::mem::take(&mut text)));
        }
        out.push(Segment::Arg(index - 1));
        rest = &rest[i + 1 + digits.len()..];
    }
    text.push_str(rest);
    if !text.is_empty() {
        out.push(Segment::Text(text));
    }
    Ok(out)
}

fn fill(segments: &[Segment], values: &[&str]) -> String {
    let mut out = String::new();
    for s in segments {
        match s {
            Segment::Text(t) => out.push_str(t),
            Segment::Arg(i) => out.push_str(values.get(*i).copied().unwrap_or("")),
        }
    }
    out
}

/// True when `text` is one or more XML elements (what Synapse inserts without escaping).
fn is_xml(text: &str) -> bool {
    let t = text.trim();
    t.starts_with('<')
        && t.ends_with('>')
        && XmlDoc::parse(format!("<r>{t}</r>").as_bytes()).is_ok()
}

/// The text that replaces an argument, escaped for the media type.
fn replacement(
    media: MediaType,
    value: &Evaluated,
    literal: bool,
    escape_xml_chars: bool,
) -> Result<String, Malformed> {
    Ok(match (media, value) {
        (_, Evaluated::Null) => String::new(),
        (MediaType::Text, v) => v.clone().into_string().unwrap_or_default(),
        (MediaType::Xml, Evaluated::Xml(x)) if !literal => x.clone(),
        (MediaType::Xml, Evaluated::Json(j)) if !literal => json_as_xml(j),
        (MediaType::Xml, v) => {
            let text = v.clone().into_string().unwrap_or_default();
            if !literal && is_xml(&text) {
                text
            } else {
                crate::base::xml::escape_text(&text)
            }
        }
        (MediaType::Json, Evaluated::Json(j)) if !literal => {
            let text = j.to_string();
            if escape_xml_chars {
                crate::base::xml::escape_text(&text)
            } else {
                text
            }
        }
        (MediaType::Json, Evaluated::Xml(x)) if !literal => xml_as_json(x)?,
        (MediaType::Json, v) => json_escape(&v.clone().into_string().unwrap_or_default()),
    })
}

fn json_escape(text: &str) -> String {
    let quoted = serde_json::Value::String(text.to_owned()).to_string();
    quoted[1..quoted.len() - 1].to_owned()
}

/// The filled template must be what its media type says.
fn check_output(media: MediaType, text: &str) -> Result<(), OutputError> {
    match media {
        MediaType::Json => serde_json::from_str::<serde::de::IgnoredAny>(text)
            .map(|_| ())
            .map_err(|source| OutputError::Json {
                source,
                text: text.to_owned(),
            }),
        MediaType::Xml => XmlDoc::parse(text.as_bytes())
            .map(|_| ())
            .map_err(|source| OutputError::Xml {
                source,
                text: text.to_owned(),
            }),
        MediaType::Text => Ok(()),
    }
}

/// A filled template that is not what its media type says.
#[derive(Debug, thiserror::Error)]
enum OutputError {
    /// Not JSON.
    #[error("the payload is not valid JSON ({source}): {text}")]
    Json {
        /// The parser's error.
        source: serde_json::Error,
        /// The filled template.
        text: String,
    },
    /// Not XML.
    #[error("the payload is not well-formed XML ({source}): {text}")]
    Xml {
        /// The parser's error.
        source: XmlError,
        /// The filled template.
        text: String,
    },
}

fn is_soap_content_type(msg: &MessageContext) -> bool {
    msg.content_type().is_some_and(|ct| {
        let ct = ct.to_ascii_lowercase();
        ct.contains("text/xml") || ct.contains("application/soap+xml")
    })
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
        // A SOAP message keeps its envelope: read it before anything else.
        let soap =
            self.media == MediaType::Xml && is_soap_content_type(msg) && !msg.body.is_empty();
        if soap {
            match msg.load_xml() {
                Ok(()) => {}
                Err(crate::message::payload::PayloadError::NeedBody) => return Ok(Step::NeedBody),
                // Not an envelope after all: the body is simply replaced.
                Err(_) => {}
            }
        }
        let text: Bytes = match &self.payload {
            Payload::Fixed(bytes) => bytes.clone(),
            Payload::Template {
                segments,
                args,
                escape_xml_chars,
            } => {
                let mut values: Vec<String> = Vec::with_capacity(args.len());
                for arg in args {
                    values.push(match arg {
                        Arg::Ready(s) => s.clone(),
                        Arg::Expr { expr, literal } => {
                            let value = eval!(expr.evaluate(msg));
                            replacement(self.media, &value, *literal, *escape_xml_chars).map_err(
                                |m| {
                                    MediationError::Failed(format!(
                                        "payloadFactory argument `{expr}`: {m}"
                                    ))
                                },
                            )?
                        }
                    });
                }
                let refs: Vec<&str> = values.iter().map(String::as_str).collect();
                let text = fill(segments, &refs);
                check_output(self.media, &text)
                    .map_err(|m| MediationError::Failed(format!("payloadFactory: {m}")))?;
                Bytes::from(text)
            }
        };
        if soap && self.splice_into_envelope(msg, &text)? {
            return Ok(Step::Continue);
        }
        msg.body = Body::Full(text);
        self.set_content_type(msg)?;
        Ok(Step::Continue)
    }
}

impl PayloadFactory {
    /// On a SOAP message, puts the new payload inside the existing Body. Returns false
    /// when the message is not a SOAP envelope or the payload is one itself.
    fn splice_into_envelope(
        &self,
        msg: &mut MessageContext,
        payload: &[u8],
    ) -> Result<bool, MediationError> {
        let Some(doc) = msg.xml_doc() else {
            return Ok(false);
        };
        if !matches!(doc.envelope, Envelope::Soap11 | Envelope::Soap12) {
            return Ok(false);
        }
        let text = String::from_utf8_lossy(payload);
        let nodes = doc
            .import_fragment(&text)
            .map_err(|m| MediationError::Failed(format!("payloadFactory: {m}")))?;
        let replaces_envelope = nodes.iter().filter_map(|n| n.element()).any(|it| {
            it.name().local_part() == "Envelope"
                && matches!(
                    it.name().namespace_uri(),
                    Some(crate::message::xml::SOAP11_NS | crate::message::xml::SOAP12_NS)
                )
        });
        if replaces_envelope {
            return Ok(false);
        }
        let Some(body) = doc.body() else {
            return Ok(false);
        };
        body.clear_children();
        body.append_children(nodes);
        msg.commit_xml();
        Ok(true)
    }

    fn set_content_type(&self, msg: &mut MessageContext) -> Result<(), MediationError> {
        let current = msg.content_type().unwrap_or_default().to_ascii_lowercase();
        let content_type = match self.media {
            MediaType::Json => "application/json",
            MediaType::Text => "text/plain",
            // Keep text/xml or application/soap+xml (reference §5).
            MediaType::Xml if current.contains("xml") => return Ok(()),
            MediaType::Xml => "application/xml",
        };
        msg.set_header(CONTENT_TYPE, HeaderValue::from_static(content_type));
        msg.set_property(Scope::Axis2, "messageType", Value::from(content_type))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled(template: &str, values: &[&str]) -> Result<String, usize> {
        split(template, values.len()).map(|s| fill(&s, values))
    }

    #[test]
    fn fills_numbered_arguments_and_keeps_lone_dollars() {
        assert_eq!(filled("x=$1,y=$2,z=$", &["a", "b"]).unwrap(), "x=a,y=b,z=$");
        assert_eq!(filled("$12", &["a", "b"]), Err(12));
        assert_eq!(filled("$0", &["a"]), Err(0));
        assert_eq!(filled("{\"k\":\"$1\"}", &["a"]).unwrap(), "{\"k\":\"a\"}");
        assert_eq!(filled("$1$1", &["ab"]).unwrap(), "abab");
    }

    #[test]
    fn values_are_escaped_for_the_media_type() {
        let t = |s: &str| Evaluated::Text(s.to_owned());
        assert_eq!(
            replacement(MediaType::Xml, &t("a < b & c"), false, false).unwrap(),
            "a &lt; b &amp; c"
        );
        assert_eq!(
            replacement(MediaType::Xml, &t("<b>bold</b>"), false, false).unwrap(),
            "<b>bold</b>"
        );
        assert_eq!(
            replacement(MediaType::Xml, &t("<b>bold</b>"), true, false).unwrap(),
            "&lt;b&gt;bold&lt;/b&gt;"
        );
        assert_eq!(
            replacement(
                MediaType::Xml,
                &Evaluated::Xml("<i>1</i>".into()),
                false,
                false
            )
            .unwrap(),
            "<i>1</i>"
        );
        assert_eq!(
            replacement(MediaType::Json, &t("say \"hi\"\n"), false, false).unwrap(),
            "say \\\"hi\\\"\\n"
        );
        let obj = Evaluated::Json(serde_json::json!({"a": "<x>"}));
        assert_eq!(
            replacement(MediaType::Json, &obj, false, false).unwrap(),
            "{\"a\":\"<x>\"}"
        );
        assert_eq!(
            replacement(MediaType::Json, &obj, false, true).unwrap(),
            "{\"a\":\"&lt;x&gt;\"}"
        );
        assert_eq!(
            replacement(MediaType::Json, &obj, true, false).unwrap(),
            "{\\\"a\\\":\\\"<x>\\\"}"
        );
        assert_eq!(
            replacement(MediaType::Xml, &obj, false, false).unwrap(),
            "<a>&lt;x&gt;</a>"
        );
        let pair = Evaluated::Json(serde_json::json!({"id": 1, "tags": ["x", "y"]}));
        assert_eq!(
            replacement(MediaType::Xml, &pair, false, false).unwrap(),
            "<id>1</id><tags>x</tags><tags>y</tags>"
        );
        let elements = Evaluated::Xml("<a>1</a><b>x</b>".into());
        assert_eq!(
            replacement(MediaType::Json, &elements, false, false).unwrap(),
            "{\"a\":1,\"b\":\"x\"}"
        );
        assert_eq!(
            replacement(MediaType::Text, &t("<raw>"), false, false).unwrap(),
            "<raw>"
        );
        assert_eq!(
            replacement(MediaType::Json, &Evaluated::Null, false, false).unwrap(),
            ""
        );
    }

    #[test]
    fn output_is_checked_against_the_media_type() {
        assert!(check_output(MediaType::Json, "{\"a\": 1}").is_ok());
        assert!(check_output(MediaType::Json, "{\"a\": x}").is_err());
        assert!(check_output(MediaType::Xml, "<a><b/></a>").is_ok());
        assert!(check_output(MediaType::Xml, "<a>").is_err());
    }
}
