//! `<call [blocking]>`: send to an endpoint and continue the same flow with its response.
//!
//! `<source type="body|property|variable|inline|custom">` chooses what is sent (the body;
//! a property's or variable's value; inline XML or JSON; an expression's value), `contentType` its type.
//! `<target type="body|property|variable">` chooses where the response goes: it replaces
//! the message (`body`), or is stored in a property or variable while the message stays
//! as it was before the call. Such a call runs as three steps: prepare, send, store.

use actix_web::http::header::{CONTENT_TYPE, HeaderValue};
use bytes::Bytes;

use super::{Env, Mediator, Reference, Step, Target, endpoint_child};
use crate::base::mediation::MediationError;
use crate::config::{Ctx, Element, values};
use crate::expr::{Evaluated, Expression};
use crate::message::{Body, MessageContext, Value};

#[derive(Debug)]
struct Call {
    endpoint: Option<Target>,
}

/// A `call` with a `<source>` or `<target>`: [`Prepare`], the plain [`Call`], [`Store`].
#[derive(Debug)]
struct Shaped {
    steps: Vec<Box<dyn Mediator>>,
}

#[derive(Debug)]
enum Source {
    Body,
    Property(String),
    Variable(String),
    Inline(String),
    Custom(Expression),
}

#[derive(Debug, Clone, PartialEq)]
enum Destination {
    Body,
    Property(String),
    Variable(String),
}

/// Sets what is sent; keeps the message when the response goes elsewhere.
#[derive(Debug)]
struct Prepare {
    source: Source,
    content_type: Option<HeaderValue>,
    keep: bool,
}

/// Stores the response in a property or variable and puts the message back.
#[derive(Debug)]
struct Store(Destination);

/// Parses `<call>`. Both blocking and non-blocking calls continue at the next mediator
/// with the response; Axon never blocks a thread, so the two differ only in name.
pub(super) fn parse(el: &Element, ctx: &mut Ctx<'_>) -> Option<Box<dyn Mediator>> {
    ctx.check_attrs(
        el,
        &[
            "blocking",
            "initAxis2ClientOptions",
            "axis2xml",
            "repository",
        ],
    );
    for attr in ["initAxis2ClientOptions", "axis2xml", "repository"] {
        if let Some(a) = el.attr(attr) {
            ctx.unsupported(&a.loc, format!("attribute `{attr}` of <call>"));
        }
    }
    if let Some(a) = el.attr("blocking") {
        values::boolean(&a.value, &a.loc, "blocking", ctx.diags)?;
    }
    let endpoint = endpoint_child(el, ctx).ok()?;
    let source = el
        .elements()
        .find(|c| c.is_synapse() && c.local_name() == "source");
    let target = el
        .elements()
        .find(|c| c.is_synapse() && c.local_name() == "target");
    let call = Box::new(Call { endpoint });
    if source.is_none() && target.is_none() {
        return Some(call);
    }
    let (content_type, source) = match source {
        Some(s) => parse_source(s, ctx)?,
        None => (None, Source::Body),
    };
    let destination = match target {
        Some(t) => parse_target(t, ctx)?,
        None => Destination::Body,
    };
    let keep = destination != Destination::Body;
    let mut steps: Vec<Box<dyn Mediator>> = vec![
        Box::new(Prepare {
            source,
            content_type,
            keep,
        }),
        call,
    ];
    if keep {
        steps.push(Box::new(Store(destination)));
    }
    Some(Box::new(Shaped { steps }))
}

fn kind(el: &Element, ctx: &mut Ctx<'_>, kinds: &[&str]) -> Option<String> {
    let kind = el.attr("type").map_or_else(
        || "body".to_owned(),
        |a| a.value.trim().to_ascii_lowercase(),
    );
    if kinds.contains(&kind.as_str()) {
        return Some(kind);
    }
    ctx.error(
        &el.loc,
        format!(
            "<{}> type `{kind}` (expected {})",
            el.local_name(),
            kinds.join(", ")
        ),
    );
    None
}

/// The text of `el`, which must not be empty (a property, variable or expression).
fn named(el: &Element, what: &str, ctx: &mut Ctx<'_>) -> Option<String> {
    let text = el.text().trim().to_owned();
    if text.is_empty() {
        ctx.error(&el.loc, format!("<{}> needs {what}", el.local_name()));
        return None;
    }
    Some(text)
}

fn parse_source(el: &Element, ctx: &mut Ctx<'_>) -> Option<(Option<HeaderValue>, Source)> {
    ctx.check_attrs(el, &["type", "contentType"]);
    let content_type = match el.attr("contentType") {
        Some(a) => Some(HeaderValue::from_str(a.value.trim()).ok().or_else(|| {
            ctx.error(&a.loc, "`contentType` is not a valid header value");
            None
        })?),
        None => None,
    };
    let source = match kind(
        el,
        ctx,
        &[
            "envelope", "body", "property", "variable", "inline", "custom",
        ],
    )?
    .as_str()
    {
        "property" => Source::Property(named(el, "a property name", ctx)?),
        "variable" => Source::Variable(named(el, "a variable name", ctx)?),
        "inline" => match el.elements().next() {
            Some(xml) => Source::Inline(xml.to_content_xml()),
            None => Source::Inline(named(el, "inline XML or JSON content", ctx)?),
        },
        "custom" => {
            let text = named(el, "an expression", ctx)?;
            match Expression::compile(&text, &el.namespaces) {
                Ok(it) => Source::Custom(it),
                Err(error) => {
                    ctx.error(&el.loc, format!("<source>: {error}"));
                    return None;
                }
            }
        }
        _ => Source::Body,
    };
    Some((content_type, source))
}

fn parse_target(el: &Element, ctx: &mut Ctx<'_>) -> Option<Destination> {
    ctx.check_attrs(el, &["type"]);
    Some(
        match kind(el, ctx, &["body", "property", "variable"])?.as_str() {
            "property" => Destination::Property(named(el, "a property name", ctx)?),
            "variable" => Destination::Variable(named(el, "a variable name", ctx)?),
            _ => Destination::Body,
        },
    )
}

impl Mediator for Call {
    fn body_use(&self) -> Option<&'static str> {
        let expr = self.endpoint.as_ref()?.expression()?;
        super::reads_payload(expr, "call endpoint key-expression")
    }

    fn mediate<'c>(
        &'c self,
        msg: &mut MessageContext,
        env: &Env<'c>,
    ) -> Result<Step<'c>, MediationError> {
        let endpoint = eval!(
            self.endpoint
                .as_ref()
                .map(|t| t.endpoint(msg, env))
                .transpose()
        );
        Ok(Step::Call(endpoint))
    }

    fn references(&self, visit: &mut dyn FnMut(Reference)) {
        if let Some(Target::Fixed(id)) = self.endpoint {
            visit(Reference::Endpoint(id));
        }
    }
}

impl Mediator for Shaped {
    fn mediate<'c>(
        &'c self,
        _msg: &mut MessageContext,
        _env: &Env<'c>,
    ) -> Result<Step<'c>, MediationError> {
        Ok(Step::Mediators(&self.steps))
    }

    fn body_use(&self) -> Option<&'static str> {
        self.steps.iter().find_map(|s| s.body_use())
    }

    fn reads_payload(&self) -> bool {
        false
    }

    fn branch(&self, n: usize) -> Option<&[Box<dyn Mediator>]> {
        (n == 0).then_some(self.steps.as_slice())
    }

    fn references(&self, visit: &mut dyn FnMut(Reference)) {
        for step in &self.steps {
            step.references(visit);
        }
    }
}

impl Mediator for Prepare {
    fn body_use(&self) -> Option<&'static str> {
        match &self.source {
            Source::Custom(expr) => super::reads_payload(expr, "call source expression"),
            _ if self.keep => Some("call target"),
            _ => None,
        }
    }

    /// Keeping the message needs its bytes, not a parse: only a payload-reading source
    /// expression is worth the hop off the worker for a large body.
    fn reads_payload(&self) -> bool {
        matches!(&self.source, Source::Custom(expr) if expr.needs_payload())
    }

    fn mediate<'c>(
        &'c self,
        msg: &mut MessageContext,
        _env: &Env<'c>,
    ) -> Result<Step<'c>, MediationError> {
        if self.keep && matches!(msg.body, Body::Stream { .. }) {
            return Ok(Step::NeedBody);
        }
        let sent = match &self.source {
            Source::Body => None,
            Source::Property(name) => Some(typed_text(msg.get(name).cloned())),
            Source::Variable(name) => Some(typed_text(msg.variable(name).cloned())),
            Source::Inline(text) => Some((text.clone(), Some(guess(text)))),
            Source::Custom(expr) => Some(evaluated_text(eval!(expr.evaluate(msg)))),
        };
        if self.keep {
            msg.keep_for_call();
        }
        if let Some((text, kind)) = sent {
            msg.body = Body::Full(Bytes::from(text));
            if let Some(kind) = kind {
                msg.set_header(CONTENT_TYPE, HeaderValue::from_static(kind));
            }
        }
        if let Some(ct) = &self.content_type {
            msg.set_header(CONTENT_TYPE, ct.clone());
        }
        Ok(Step::Continue)
    }
}

/// A value to send, and the `Content-Type` its kind implies (`None`: keep the message's).
fn typed_text(value: Option<Value>) -> (String, Option<&'static str>) {
    match value {
        None => (String::new(), None),
        Some(Value::Json(j)) => (j.to_string(), Some("application/json")),
        Some(Value::Xml(x)) => (x, Some("application/xml")),
        Some(other) => (other.to_string(), None),
    }
}

fn evaluated_text(value: Evaluated) -> (String, Option<&'static str>) {
    match value {
        Evaluated::Json(j) => typed_text(Some(Value::Json(j))),
        Evaluated::Xml(x) => typed_text(Some(Value::Xml(x))),
        other => (other.into_string().unwrap_or_default(), None),
    }
}

/// Inline content is JSON when it starts as JSON does, else XML.
fn guess(text: &str) -> &'static str {
    match text.trim_start().chars().next() {
        Some('{' | '[') => "application/json",
        _ => "application/xml",
    }
}

impl Mediator for Store {
    fn mediate<'c>(
        &'c self,
        msg: &mut MessageContext,
        _env: &Env<'c>,
    ) -> Result<Step<'c>, MediationError> {
        if matches!(msg.body, Body::Stream { .. }) {
            return Ok(Step::NeedBody);
        }
        let (body, content_type) = msg.restore_after_call();
        let bytes = match body {
            Body::Full(bytes) => bytes,
            _ => Bytes::new(),
        };
        let value = response_value(&bytes, content_type.as_deref());
        match &self.0 {
            Destination::Variable(name) => msg.set_variable(name, value),
            Destination::Property(name) => msg.set(name.clone(), value),
            Destination::Body => {}
        }
        Ok(Step::Continue)
    }

    fn body_use(&self) -> Option<&'static str> {
        Some("call target")
    }
}

/// A response as a property value: JSON or XML by its `Content-Type`, else text.
fn response_value(bytes: &[u8], content_type: Option<&str>) -> Value {
    let text = String::from_utf8_lossy(bytes).into_owned();
    let ct = content_type.unwrap_or_default().to_ascii_lowercase();
    if ct.contains("json") {
        if let Ok(json) = serde_json::from_slice(bytes) {
            return Value::Json(json);
        }
    } else if ct.contains("xml") {
        return Value::Xml(text.trim().to_owned());
    }
    Value::Str(text)
}
