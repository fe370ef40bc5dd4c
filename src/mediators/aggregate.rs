//! `<aggregate>`: collects the messages a `clone` or `iterate` made (reference §7.3).
//!
//! The mediator itself only tells the engine that a branch has arrived
//! ([`Step::Aggregate`]); a message that came from no fan-out (no correlation property
//! for this aggregate's `id`), or whose `correlateOn` is `false`, passes through. The
//! engine (`engine/fan_out.rs`) keeps, per fan-out, the first arrived message and what
//! the aggregation expression takes of each later one (never whole copies), completes on
//! the count or the timeout, builds the merged payload here ([`Aggregate::merge`]) and runs
//! `onComplete` once.

use std::time::Duration;

use actix_web::http::header::{CONTENT_TYPE, HeaderValue};
use bytes::Bytes;

use super::expressions;
use super::filter::Branch;
use super::{Env, Mediator, Reference, Step};
use crate::base::mediation::MediationError;
use crate::config::{Ctx, Element, values};
use sxd_xpath::Value as XValue;
use sxd_xpath::nodeset::Node;

use crate::expr::{Evaluated, ExprError, Expression};
use crate::message::payload::PayloadKind;
use crate::message::xml::element_to_string;
use crate::message::{Body, MessageContext, Value, soap};

/// The `aggregate` mediator.
#[derive(Debug)]
pub struct Aggregate {
    /// The correlation property it reads (`aggregateCorelation[.id]`).
    correlation: String,
    correlate_on: Option<Expression>,
    /// `completeCondition timeout`.
    pub(crate) timeout: Option<Duration>,
    /// `messageCount min`: complete as soon as this many arrived.
    pub(crate) min: Option<usize>,
    /// `messageCount max`: complete at this many; later ones are dropped.
    pub(crate) max: Option<usize>,
    /// `onComplete expression`; `None`: the first element of the body (or the whole JSON).
    expression: Option<Expression>,
    enclosing_property: Option<String>,
    /// `None`: an `onComplete` with no mediators drops the merged message.
    on_complete: Option<Branch>,
}

/// What one collected message contributes to the merged payload.
#[derive(Debug)]
pub enum Part {
    /// Serialised XML (one or more elements).
    Xml(String),
    /// A JSON value.
    Json(serde_json::Value),
}

/// Parses `<aggregate>`.
pub(super) fn parse(el: &Element, ctx: &mut Ctx<'_>) -> Option<Box<dyn Mediator>> {
    ctx.check_attrs(el, &["id"]);
    ctx.no_text(el);
    let id = el.attr("id").map(|a| a.value.trim().to_owned());
    let correlation = match &id {
        Some(id) if !id.is_empty() => format!("aggregateCorelation.{id}"),
        _ => "aggregateCorelation".to_owned(),
    };
    let before = ctx.diags.error_count();
    let mut agg = Aggregate {
        correlation,
        correlate_on: None,
        timeout: None,
        min: None,
        max: None,
        expression: None,
        enclosing_property: None,
        on_complete: None,
    };
    let mut saw_complete = false;
    for child in el.elements() {
        match child.local_name() {
            "correlateOn" if child.is_synapse() => {
                ctx.check_attrs(child, &["expression"]);
                ctx.no_children(child);
                let expr = ctx.required_attr(child, "expression");
                agg.correlate_on = expr.and_then(|a| expressions::expression(a, child, ctx.diags));
            }
            "completeCondition" if child.is_synapse() => complete_condition(child, ctx, &mut agg),
            "onComplete" if child.is_synapse() => {
                saw_complete = true;
                on_complete(child, ctx, &mut agg);
            }
            _ => ctx.unknown_child(el, child),
        }
    }
    if !saw_complete {
        ctx.error(&el.loc, "<aggregate> needs an <onComplete>");
    }
    (ctx.diags.error_count() == before).then(|| Box::new(agg) as Box<dyn Mediator>)
}

fn complete_condition(el: &Element, ctx: &mut Ctx<'_>, agg: &mut Aggregate) {
    ctx.check_attrs(el, &["timeout"]);
    ctx.no_text(el);
    // Synapse's timeout is in seconds; 0 means none.
    if let Some(a) = el.attr("timeout").filter(|a| a.value.trim() != "0") {
        agg.timeout = values::positive_float(&a.value, &a.loc, "timeout", ctx.diags)
            .map(|s| Duration::from_secs_f64(s.min(1e9)));
    }
    for child in el.elements() {
        if child.local_name() != "messageCount" || !child.is_synapse() {
            ctx.unknown_child(el, child);
            continue;
        }
        ctx.check_attrs(child, &["min", "max"]);
        ctx.no_children(child);
        agg.min = child.attr("min").and_then(|a| count(a, ctx));
        agg.max = child.attr("max").and_then(|a| count(a, ctx));
    }
}

/// A message count: a whole number; `-1` (or any negative) means none.
fn count(attr: &crate::config::Attr, ctx: &mut Ctx<'_>) -> Option<usize> {
    let text = attr.value.trim();
    if text.starts_with('{') {
        ctx.unsupported(&attr.loc, "a computed message count (`{...}`)");
        return None;
    }
    match text.parse::<i64>() {
        Ok(n) => usize::try_from(n).ok().filter(|n| *n > 0),
        Err(_) => {
            ctx.error(
                &attr.loc,
                format!("`{}`: expected a whole number, got {text:?}", attr.name),
            );
            None
        }
    }
}

fn on_complete(el: &Element, ctx: &mut Ctx<'_>, agg: &mut Aggregate) {
    ctx.check_attrs(
        el,
        &[
            "expression",
            "sequence",
            "enclosingElementProperty",
            "aggregateElementType",
        ],
    );
    if let Some(a) = el.attr("expression") {
        agg.expression = expressions::expression(a, el, ctx.diags);
    }
    if let Some(a) = el.attr("aggregateElementType")
        && a.value.trim() != "root"
    {
        ctx.unsupported(&a.loc, format!("aggregateElementType={:?}", a.value));
    }
    agg.enclosing_property = el
        .attr("enclosingElementProperty")
        .map(|a| a.value.trim().to_owned());
    let empty = el.attr("sequence").is_none() && el.elements().next().is_none();
    // Synapse: an onComplete with neither a sequence nor mediators drops the result.
    let branch = filter_branch(el, ctx);
    agg.on_complete = if empty { None } else { branch };
}

/// `sequence="key"` or inline mediators, as a `filter` branch (the other attributes of
/// `onComplete` were checked by the caller).
fn filter_branch(el: &Element, ctx: &mut Ctx<'_>) -> Option<Branch> {
    match el.attr("sequence") {
        Some(a) => {
            if el.elements().next().is_some() {
                ctx.error(
                    &el.loc,
                    "<onComplete> takes `sequence` or inline mediators, not both",
                );
                return None;
            }
            ctx.sequence_ref(a.value.trim(), &a.loc)
                .map(Branch::Sequence)
        }
        None => Some(Branch::Inline(super::parse_list(el, ctx))),
    }
}

// === impl Aggregate ===

impl Aggregate {
    /// What `onComplete` runs: mediators, a sequence, or nothing (the result is dropped).
    pub(crate) fn on_complete(&self) -> Option<&Branch> {
        self.on_complete.as_ref()
    }

    /// What `msg` (a collected message whose body is in memory) contributes.
    ///
    /// # Errors
    /// The expression fails or matches nothing (Synapse: "could not find matching
    /// elements").
    pub fn part(&self, msg: &mut MessageContext) -> Result<Part, MediationError> {
        let Some(expr) = &self.expression else {
            return default_part(msg);
        };
        take(expr, msg)?.ok_or_else(|| {
            MediationError::Failed(format!(
                "the aggregate expression `{expr}` matched nothing in a collected message"
            ))
        })
    }

    /// Makes `first` (the first collected message) the merged message: its payload
    /// becomes `parts`, in arrival order, as a JSON array or as body elements, inside the
    /// element held by `enclosingElementProperty` when given.
    ///
    /// # Errors
    /// Parts of both kinds, or an enclosing property that holds no element.
    pub fn merge(
        &self,
        first: &mut MessageContext,
        parts: Vec<Part>,
    ) -> Result<(), MediationError> {
        let enclosing = match &self.enclosing_property {
            Some(name) => Some(enclosing_element(first, name)?),
            None => None,
        };
        if parts.iter().all(|p| matches!(p, Part::Json(_))) && !parts.is_empty() {
            let items: Vec<serde_json::Value> = parts
                .into_iter()
                .filter_map(|p| match p {
                    Part::Json(v) => Some(v),
                    Part::Xml(_) => None,
                })
                .collect();
            let array = serde_json::Value::Array(items);
            let value = match enclosing {
                Some(el) => serde_json::json!({ local_name(&el): array }),
                None => array,
            };
            first.set_json_payload(value);
            return Ok(());
        }
        let mut content = String::new();
        for part in parts {
            match part {
                Part::Xml(xml) => content.push_str(&xml),
                Part::Json(_) => {
                    return Err(MediationError::Failed(
                        "the aggregate collected both JSON and XML results".into(),
                    ));
                }
            }
        }
        if let Some(el) = enclosing {
            content = enclose(&el, &content);
        }
        set_xml_body(first, content);
        Ok(())
    }
}

/// What `expr` takes of `msg` (whose body is in memory): a json-eval's JSON value as it
/// is (a number stays a number); an XPath's matched elements themselves, serialised (not
/// their text); `None` when nothing matched.
///
/// # Errors
/// The expression fails.
pub(crate) fn take(
    expr: &Expression,
    msg: &mut MessageContext,
) -> Result<Option<Part>, MediationError> {
    expr.prepare(msg).map_err(MediationError::from)?;
    if let Some(synapse) = expr.as_synapse() {
        let value = synapse.value(msg).map_err(MediationError::from)?;
        return Ok((!value.is_null()).then_some(Part::Json(value)));
    }
    if let Some(path) = expr.as_json() {
        let doc = msg.json_value().ok_or_else(unread)?;
        return Ok(path.evaluate(doc).map(Part::Json));
    }
    let (Some(xpath), Some(doc)) = (expr.as_xpath(), msg.xml_doc()) else {
        return Err(unread());
    };
    let selected = xpath
        .select(doc, msg)
        .map_err(|error| MediationError::from(ExprError::XPath(error)))?;
    Ok(match selected {
        XValue::Nodeset(set) => {
            let nodes = set.document_order();
            let mut out = String::new();
            for node in &nodes {
                match node {
                    Node::Element(el) => out.push_str(&element_to_string(*el)),
                    other => out.push_str(&escape(&other.string_value())),
                }
            }
            (!nodes.is_empty()).then_some(Part::Xml(out))
        }
        other => Some(Part::Xml(escape(&other.string()))),
    })
}

/// The first element of the body, or the whole JSON payload.
pub(crate) fn default_part(msg: &mut MessageContext) -> Result<Part, MediationError> {
    let none = || MediationError::Failed("a collected message has no payload element".into());
    if msg.payload_kind().map_err(|_| unread())? == PayloadKind::Json {
        msg.load_json().map_err(payload)?;
        return msg.json_value().cloned().map(Part::Json).ok_or_else(none);
    }
    msg.load_xml().map_err(payload)?;
    let doc = msg.xml_doc().ok_or_else(none)?;
    let el = doc.first_body_element().ok_or_else(none)?;
    Ok(Part::Xml(element_to_string(el)))
}

fn payload(error: crate::message::payload::PayloadError) -> MediationError {
    ExprError::from(error).into()
}

fn unread() -> MediationError {
    MediationError::Failed("internal error: a collected message's body was not read".into())
}

/// The element `name` holds (an `OM` property, or text that is XML).
fn enclosing_element(msg: &MessageContext, name: &str) -> Result<String, MediationError> {
    let text = match msg.get(name) {
        Some(Value::Xml(xml) | Value::Str(xml)) => xml.trim(),
        _ => "",
    };
    if !text.starts_with('<') || local_name(text).is_empty() {
        return Err(MediationError::Failed(format!(
            "enclosingElementProperty `{name}` holds no XML element"
        )));
    }
    Ok(text.to_owned())
}

/// The qualified name of the root element of `xml` (`ns:Name`).
fn qname(xml: &str) -> &str {
    let rest = xml.trim_start().trim_start_matches('<');
    let end = rest
        .find(|c: char| c.is_whitespace() || c == '/' || c == '>')
        .unwrap_or(rest.len());
    &rest[..end]
}

/// The local name of the root element of `xml`.
fn local_name(xml: &str) -> &str {
    let q = qname(xml);
    q.rsplit(':').next().unwrap_or(q)
}

/// `content` inside a copy of the element `xml`.
fn enclose(xml: &str, content: &str) -> String {
    let xml = xml.trim();
    if let Some(open) = xml.strip_suffix("/>") {
        return format!("{}>{content}</{}>", open.trim_end(), qname(xml));
    }
    match xml.rfind("</") {
        Some(at) => format!("{}{content}{}", &xml[..at], &xml[at..]),
        None => format!("{xml}{content}"),
    }
}

/// Replaces the payload of `msg` with the elements `content`: inside its SOAP envelope
/// when it is SOAP; as plain XML otherwise (several elements without an enclosing one
/// are put inside `<aggregated>`, so that the document stays well-formed).
fn set_xml_body(msg: &mut MessageContext, content: String) {
    let soap = msg.body_bytes().ok().and_then(|b| soap::sniff(&b));
    let text = match soap {
        Some(version) => soap::wrap(version, &content, &[]),
        None if single_element(&content) => content,
        None => format!("<aggregated>{content}</aggregated>"),
    };
    if soap.is_none()
        && !msg
            .content_type()
            .is_some_and(|ct| ct.to_ascii_lowercase().contains("xml"))
    {
        msg.set_header(CONTENT_TYPE, HeaderValue::from_static("application/xml"));
    }
    msg.body = Body::Full(Bytes::from(text));
}

/// True when `xml` is one element (its root closes at its very end).
fn single_element(xml: &str) -> bool {
    crate::message::soap::parse_xml(xml.as_bytes()).is_ok()
}

fn escape(text: &str) -> String {
    crate::base::xml::escape_text(text)
}

impl Mediator for Aggregate {
    fn mediate<'c>(
        &'c self,
        msg: &mut MessageContext,
        _env: &Env<'c>,
    ) -> Result<Step<'c>, MediationError> {
        if msg.get(&self.correlation).is_none() {
            return Ok(Step::Continue);
        }
        if let Some(expr) = &self.correlate_on {
            match eval!(expr.evaluate(msg)) {
                Evaluated::Bool(false) => return Ok(Step::Continue),
                Evaluated::Null => {
                    return Err(MediationError::Failed(format!(
                        "correlateOn `{expr}` matched nothing"
                    )));
                }
                _ => {}
            }
        }
        Ok(Step::Aggregate(self))
    }

    fn body_use(&self) -> Option<&'static str> {
        let inline = match &self.on_complete {
            Some(Branch::Inline(list)) => super::body_use_of(list),
            _ => None,
        };
        inline.or(Some("aggregate"))
    }

    fn reads_payload(&self) -> bool {
        false
    }

    fn branch(&self, n: usize) -> Option<&[Box<dyn Mediator>]> {
        match (n, &self.on_complete) {
            (0, Some(Branch::Inline(list))) => Some(list),
            (0, _) => Some(&[]),
            _ => None,
        }
    }

    fn references(&self, visit: &mut dyn FnMut(Reference)) {
        if let Some(b) = &self.on_complete {
            b.references(visit);
        }
    }
}
