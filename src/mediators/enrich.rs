//! `<enrich>`: copy (or move) part of the message, a property or an inline value into
//! another place (reference §5).
//!
//! ```xml
//! <enrich>
//!   <source [type="custom|envelope|body|property|inline"] [clone="true|false"]
//!           [xpath="..."] [property="name"]>inline XML or text?</source>
//!   <target [type="custom|envelope|body|property"] [action="replace|child|sibling|remove"]
//!           [xpath="..."] [property="name"]/>
//! </enrich>
//! ```
//!
//! With XPaths (or no expression and an XML payload) it works on the XML payload; with
//! `json-eval()` paths (or no expression and a JSON payload) on the JSON payload. The
//! `body` of an XML message is its payload element (the first child of the SOAP Body);
//! of a JSON message, the whole JSON value.

use sxd_document::dom::{ChildOfElement, Element};
use sxd_xpath::Value as XValue;
use sxd_xpath::nodeset::Node;

use super::expressions;
use super::{Env, Mediator, Step};
use crate::base::mediation::MediationError;
use crate::config::values;
use crate::config::{Ctx, Element as ConfigElement};
use crate::expr::{ExprError, Expression};
use crate::message::payload::{PayloadError, PayloadKind};
use crate::message::xml::{XmlDoc, element_to_string, node_to_string};
use crate::message::{MessageContext, Scope, Value};

#[derive(Debug)]
enum Source {
    Custom(Expression),
    Envelope,
    Body,
    Property(String),
    /// Inline content: XML (serialised) or text.
    Inline {
        xml: bool,
        text: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Replace,
    Child,
    Sibling,
    Remove,
}

#[derive(Debug)]
enum Target {
    Custom(Expression),
    Envelope,
    Body,
    Property(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Xml,
    Json,
    /// Decided per message by the payload's kind.
    Payload,
}

#[derive(Debug)]
struct Enrich {
    source: Source,
    clone: bool,
    target: Target,
    action: Action,
    mode: Mode,
}

/// What the source yielded, detached from the document.
enum Data {
    /// Serialised XML nodes.
    Xml(String),
    Text(String),
    Json(serde_json::Value),
    Nothing,
}

/// Parses `<enrich>`.
pub(super) fn parse(el: &ConfigElement, ctx: &mut Ctx<'_>) -> Option<Box<dyn Mediator>> {
    ctx.check_attrs(el, &["description"]);
    ctx.no_text(el);
    let mut source = None;
    let mut target = None;
    let mut ok = true;
    for child in el.elements() {
        match child.local_name() {
            "source" if child.is_synapse() && source.is_none() => match parse_source(child, ctx) {
                Some(s) => source = Some(s),
                None => ok = false,
            },
            "target" if child.is_synapse() && target.is_none() => match parse_target(child, ctx) {
                Some(t) => target = Some(t),
                None => ok = false,
            },
            _ => {
                ctx.unknown_child(el, child);
                ok = false;
            }
        }
    }
    if ok && (source.is_none() || target.is_none()) {
        ctx.error(&el.loc, "<enrich> needs a <source> and a <target>");
        return None;
    }
    let ((source, clone), (target, action)) = (source?, target?);
    if !ok {
        return None;
    }
    let mut kinds = Vec::new();
    if let Source::Custom(it) = &source {
        kinds.push(it.is_json());
    }
    if let Target::Custom(it) = &target {
        kinds.push(it.is_json());
    }
    let mode = match (kinds.contains(&true), kinds.contains(&false)) {
        (true, true) => {
            ctx.error(&el.loc, "<enrich> cannot mix json-eval() and XPath");
            return None;
        }
        (true, false) => Mode::Json,
        (false, true) => Mode::Xml,
        (false, false) => Mode::Payload,
    };
    let invalid = match (&target, action) {
        (Target::Envelope, a) if a != Action::Replace => {
            Some("an envelope target only takes action=\"replace\"")
        }
        (Target::Body, Action::Sibling) => Some("a body target does not take action=\"sibling\""),
        (Target::Property(_), Action::Child | Action::Sibling) => {
            Some("a property target takes action=\"replace\" or \"remove\"")
        }
        (Target::Custom(it), _) if it.as_json().is_some_and(|j| j.is_length()) => {
            Some("a `.length()` path cannot be a target")
        }
        _ => None,
    };
    if let Some(problem) = invalid {
        ctx.error(&el.loc, problem);
        return None;
    }
    if matches!(source, Source::Envelope) && mode == Mode::Json {
        ctx.error(&el.loc, "an envelope source needs an XML payload");
        return None;
    }
    Some(Box::new(Enrich {
        source,
        clone,
        target,
        action,
        mode,
    }))
}

fn parse_source(el: &ConfigElement, ctx: &mut Ctx<'_>) -> Option<(Source, bool)> {
    ctx.check_attrs(el, &["type", "clone", "xpath", "property", "key"]);
    let clone = match el.attr("clone") {
        Some(a) => values::boolean(&a.value, &a.loc, "clone", ctx.diags)?,
        None => true,
    };
    let ty = el.attr_value("type").map(str::trim).unwrap_or("custom");
    let source = match ty {
        "custom" => {
            let x = ctx.required_attr(el, "xpath")?;
            Source::Custom(expressions::expression(x, el, ctx.diags)?)
        }
        "envelope" => Source::Envelope,
        "body" => Source::Body,
        "property" => Source::Property(ctx.required_attr(el, "property")?.value.trim().to_owned()),
        "inline" => {
            let mut elements = el.elements();
            match (elements.next(), elements.next()) {
                (Some(x), None) if !el.has_text() => Source::Inline {
                    xml: true,
                    text: x.to_content_xml(),
                },
                (None, _) => Source::Inline {
                    xml: false,
                    text: el.text(),
                },
                _ => {
                    ctx.error(&el.loc, "an inline <source> holds one element or text");
                    return None;
                }
            }
        }
        "key" => {
            ctx.unsupported(&el.loc, "enrich sources of type `key` (registry resources)");
            return None;
        }
        other => {
            ctx.error(
                &el.loc,
                format!("unknown source type `{other}` (expected custom, envelope, body, property or inline)"),
            );
            return None;
        }
    };
    if ty != "inline" {
        ctx.no_children(el);
    }
    Some((source, clone))
}

fn parse_target(el: &ConfigElement, ctx: &mut Ctx<'_>) -> Option<(Target, Action)> {
    ctx.check_attrs(el, &["type", "action", "xpath", "property"]);
    ctx.no_children(el);
    let action = match el.attr_value("action").map(str::trim) {
        None | Some("replace") => Action::Replace,
        Some("child") => Action::Child,
        Some("sibling") => Action::Sibling,
        Some("remove") => Action::Remove,
        Some(other) => {
            ctx.error(
                &el.loc,
                format!(
                    "unknown target action `{other}` (expected replace, child, sibling or remove)"
                ),
            );
            return None;
        }
    };
    let target = match el.attr_value("type").map(str::trim).unwrap_or("custom") {
        "custom" => {
            let x = ctx.required_attr(el, "xpath")?;
            Target::Custom(expressions::expression(x, el, ctx.diags)?)
        }
        "envelope" => Target::Envelope,
        "body" => Target::Body,
        "property" => Target::Property(ctx.required_attr(el, "property")?.value.trim().to_owned()),
        "key" => {
            ctx.unsupported(&el.loc, "enrich targets of type `key` (registry resources)");
            return None;
        }
        other => {
            ctx.error(
                &el.loc,
                format!(
                    "unknown target type `{other}` (expected custom, envelope, body or property)"
                ),
            );
            return None;
        }
    };
    Some((target, action))
}

fn failed(message: impl std::fmt::Display) -> MediationError {
    MediationError::Failed(format!("enrich: {message}"))
}

fn xml(msg: &MessageContext) -> Result<&XmlDoc, MediationError> {
    msg.xml_doc()
        .ok_or_else(|| failed("the payload is not parsed"))
}

fn json(msg: &MessageContext) -> Result<&serde_json::Value, MediationError> {
    msg.json_value()
        .ok_or_else(|| failed("the payload is not parsed"))
}

fn payload_error(error: PayloadError) -> Result<Step<'static>, MediationError> {
    match ExprError::from(error) {
        ExprError::NeedBody => Ok(Step::NeedBody),
        other => Err(other.into()),
    }
}

impl Mediator for Enrich {
    fn body_use(&self) -> Option<&'static str> {
        let only_properties = matches!(self.source, Source::Property(_) | Source::Inline { .. })
            && matches!(self.target, Target::Property(_));
        (!only_properties).then_some("enrich")
    }

    fn mediate<'c>(
        &'c self,
        msg: &mut MessageContext,
        _env: &Env<'c>,
    ) -> Result<Step<'c>, MediationError> {
        // The payload is read unless both sides are properties or inline values.
        let touches_payload = !matches!(self.source, Source::Property(_) | Source::Inline { .. })
            || !matches!(self.target, Target::Property(_));
        let json = match self.mode {
            Mode::Json => true,
            Mode::Xml => false,
            Mode::Payload if !touches_payload => false,
            Mode::Payload => match msg.payload_kind() {
                Ok(kind) => kind == PayloadKind::Json,
                Err(error) => return payload_error(error),
            },
        };
        if touches_payload {
            let loaded = if json {
                msg.load_json()
            } else {
                msg.load_xml()
            };
            if let Err(error) = loaded {
                return payload_error(error);
            }
        }
        if json {
            self.enrich_json(msg)?;
        } else {
            self.enrich_xml(msg)?;
        }
        Ok(Step::Continue)
    }
}

// --- XML ---

impl Enrich {
    fn enrich_xml(&self, msg: &mut MessageContext) -> Result<(), MediationError> {
        let data = self.xml_source(msg)?;
        let detached = !self.clone && matches!(self.source, Source::Body | Source::Custom(_));
        let changed = detached
            | match &self.target {
                Target::Property(name) => {
                    self.set_property(msg, name, data);
                    false
                }
                Target::Envelope => return replace_envelope(msg, data),
                Target::Body => self.enrich_body(msg, &data)?,
                Target::Custom(expr) => self.enrich_selected(msg, expr, &data)?,
            };
        if changed {
            msg.commit_xml();
        }
        Ok(())
    }

    /// A property target: the source's value, or none.
    fn set_property(&self, msg: &mut MessageContext, name: &str, data: Data) {
        match (self.action, data) {
            (Action::Remove, _) | (_, Data::Nothing) => msg.remove_property(Scope::Default, name),
            (_, Data::Xml(x)) => msg.set(name.to_owned(), Value::Xml(x)),
            (_, Data::Text(t)) => msg.set(name.to_owned(), Value::Str(t)),
            (_, Data::Json(j)) => msg.set(name.to_owned(), Value::Json(j)),
        }
    }

    /// The SOAP Body target; whether the payload changed.
    fn enrich_body(&self, msg: &MessageContext, data: &Data) -> Result<bool, MediationError> {
        let doc = xml(msg)?;
        let body = doc
            .body()
            .ok_or_else(|| failed("the message has no Body"))?;
        let nodes = nodes_of(doc, data)?;
        match self.action {
            Action::Replace => body.replace_children(nodes),
            Action::Child => body.append_children(nodes),
            Action::Remove => body.clear_children(),
            Action::Sibling => {}
        }
        Ok(true)
    }

    /// An XPath target: what `expr` selects; whether the payload changed.
    fn enrich_selected(
        &self,
        msg: &MessageContext,
        expr: &Expression,
        data: &Data,
    ) -> Result<bool, MediationError> {
        let doc = xml(msg)?;
        let xpath = expr
            .as_xpath()
            .ok_or_else(|| failed("the target is not an XPath"))?;
        let selected = xpath.select(doc, msg).map_err(failed)?;
        let XValue::Nodeset(set) = selected else {
            return Err(failed(format!("target `{expr}` does not select nodes")));
        };
        let targets = set.document_order();
        if targets.is_empty() {
            return Err(failed(format!("target `{expr}` matched nothing")));
        }
        if self.action == Action::Remove {
            for node in targets {
                remove(node);
            }
        } else {
            apply(doc, targets[0], self.action, data)?;
        }
        Ok(true)
    }

    /// Evaluates the source (and, without `clone`, detaches what it took from the payload).
    fn xml_source(&self, msg: &mut MessageContext) -> Result<Data, MediationError> {
        Ok(match &self.source {
            Source::Inline { xml: true, text } => Data::Xml(text.clone()),
            Source::Inline { xml: false, text } => Data::Text(text.clone()),
            Source::Property(name) => match msg.property(Scope::Default, name) {
                None => Data::Nothing,
                Some(Value::Xml(x)) => Data::Xml(x),
                Some(Value::Json(j)) => Data::Json(j),
                Some(other) => Data::Text(other.to_string()),
            },
            Source::Envelope => {
                let doc = xml(msg)?;
                match doc.envelope_element() {
                    Some(env) => Data::Xml(element_to_string(env)),
                    None => Data::Nothing,
                }
            }
            Source::Body => {
                let doc = xml(msg)?;
                let first = doc.first_body_element();
                let data = match first {
                    Some(it) => Data::Xml(element_to_string(it)),
                    None => Data::Nothing,
                };
                if !self.clone
                    && let Some(it) = first
                {
                    it.remove_from_parent();
                }
                data
            }
            Source::Custom(expr) => {
                let doc = xml(msg)?;
                let xpath = expr
                    .as_xpath()
                    .ok_or_else(|| failed("the source is not an XPath"))?;
                match xpath.select(doc, msg).map_err(failed)? {
                    XValue::Nodeset(set) => self.take_nodes(set.document_order()),
                    other => Data::Text(other.string()),
                }
            }
        })
    }

    /// The selected `nodes` as the source: their XML when one is an element, else their
    /// text; without `clone` they leave the payload.
    fn take_nodes(&self, nodes: Vec<Node<'_>>) -> Data {
        let mut xml = String::new();
        let mut text = String::new();
        for node in &nodes {
            match node {
                Node::Element(it) => xml.push_str(&element_to_string(*it)),
                Node::Text(t) => {
                    text.push_str(t.text());
                    xml.push_str(&node_to_string(ChildOfElement::Text(*t)));
                }
                Node::Attribute(a) => text.push_str(a.value()),
                other => text.push_str(&other.string_value()),
            }
        }
        let any_element = nodes.iter().any(|n| matches!(n, Node::Element(_)));
        if !self.clone {
            for node in nodes {
                remove(node);
            }
        }
        if nodes_is_empty(&xml, &text) {
            Data::Nothing
        } else if any_element {
            Data::Xml(xml)
        } else {
            Data::Text(text)
        }
    }
}

fn nodes_is_empty(xml: &str, text: &str) -> bool {
    xml.is_empty() && text.is_empty()
}

/// The envelope target: the source, which must be a SOAP envelope, becomes the payload.
fn replace_envelope(msg: &mut MessageContext, data: Data) -> Result<(), MediationError> {
    let Data::Xml(xml) = data else {
        return Err(failed(
            "an envelope target needs an XML element as its source",
        ));
    };
    let doc = XmlDoc::parse(xml.as_bytes()).map_err(failed)?;
    if doc.envelope != crate::message::xml::Envelope::Soap11
        && doc.envelope != crate::message::xml::Envelope::Soap12
    {
        return Err(failed(
            "an envelope target needs a SOAP Envelope as its source",
        ));
    }
    msg.body = crate::message::Body::Full(bytes::Bytes::from(xml));
    Ok(())
}

/// The source as nodes created in `doc`.
fn nodes_of<'d>(doc: &'d XmlDoc, data: &Data) -> Result<Vec<ChildOfElement<'d>>, MediationError> {
    Ok(match data {
        Data::Nothing => Vec::new(),
        Data::Xml(x) => doc.import_fragment(x).map_err(failed)?,
        Data::Text(t) => vec![ChildOfElement::Text(doc.document().create_text(t))],
        Data::Json(json) => doc
            .import_fragment(&crate::message::payload::json_as_xml(json))
            .map_err(failed)?,
    })
}

fn text_of(data: &Data) -> String {
    match data {
        Data::Nothing => String::new(),
        Data::Xml(x) | Data::Text(x) => x.clone(),
        Data::Json(j) => j.to_string(),
    }
}

fn remove(node: Node<'_>) {
    match node {
        Node::Element(it) => it.remove_from_parent(),
        Node::Text(t) => t.remove_from_parent(),
        Node::Attribute(a) => a.remove_from_parent(),
        Node::Comment(c) => c.remove_from_parent(),
        Node::ProcessingInstruction(p) => p.remove_from_parent(),
        Node::Root(_) | Node::Namespace(_) => {}
    }
}

/// Puts `data` at `target` according to `action`.
fn apply(
    doc: &XmlDoc,
    target: Node<'_>,
    action: Action,
    data: &Data,
) -> Result<(), MediationError> {
    match target {
        Node::Element(el) => match action {
            Action::Replace => match data {
                Data::Xml(_) => {
                    let nodes = nodes_of(doc, data)?;
                    let parent = el.parent().and_then(|p| p.element()).ok_or_else(|| {
                        failed("the document element cannot be replaced; target the envelope")
                    })?;
                    splice(parent, el, nodes, true);
                }
                _ => el.replace_children(nodes_of(doc, data)?),
            },
            Action::Child => el.append_children(nodes_of(doc, data)?),
            Action::Sibling => {
                let nodes = nodes_of(doc, data)?;
                let parent = el
                    .parent()
                    .and_then(|p| p.element())
                    .ok_or_else(|| failed("the document element has no siblings"))?;
                splice(parent, el, nodes, false);
            }
            Action::Remove => el.remove_from_parent(),
        },
        Node::Text(t) if action == Action::Replace => t.set_text(&text_of(data)),
        Node::Attribute(a) if action == Action::Replace => {
            if let Some(owner) = a.parent() {
                owner.set_attribute_value(a.name(), &text_of(data));
            }
        }
        _ => return Err(failed("the target node does not take this action")),
    }
    Ok(())
}

/// Inserts `nodes` after `anchor` in `parent`'s children, removing `anchor` if `replace`.
pub(super) fn splice<'d>(
    parent: Element<'d>,
    anchor: Element<'d>,
    nodes: Vec<ChildOfElement<'d>>,
    replace: bool,
) {
    let mut children = Vec::new();
    let mut nodes = Some(nodes);
    for child in parent.children() {
        let is_anchor = child.element() == Some(anchor);
        if !(is_anchor && replace) {
            children.push(child);
        }
        if is_anchor && let Some(new) = nodes.take() {
            children.extend(new);
        }
    }
    parent.replace_children(children);
}

// --- JSON ---

impl Enrich {
    fn enrich_json(&self, msg: &mut MessageContext) -> Result<(), MediationError> {
        let data = self.json_source(msg)?;
        if !self.clone {
            self.cut_json_source(msg);
        }
        match &self.target {
            Target::Property(name) => match (self.action, data) {
                (Action::Remove, _) | (_, None) => msg.remove_property(Scope::Default, name),
                (_, Some(serde_json::Value::String(s))) => msg.set(name.clone(), Value::Str(s)),
                (_, Some(v)) => msg.set(name.clone(), Value::Json(v)),
            },
            Target::Body => self.json_into_body(msg, data)?,
            Target::Envelope => return Err(failed("an envelope target needs an XML payload")),
            Target::Custom(expr) => self.json_into_path(msg, expr, data)?,
        }
        Ok(())
    }

    /// The JSON value the source selects (`None` when it selects nothing).
    fn json_source(
        &self,
        msg: &mut MessageContext,
    ) -> Result<Option<serde_json::Value>, MediationError> {
        Ok(match &self.source {
            Source::Inline { text, .. } => Some(
                serde_json::from_str(text)
                    .unwrap_or_else(|_| serde_json::Value::String(text.clone())),
            ),
            Source::Property(name) => match msg.property(Scope::Default, name) {
                None => None,
                Some(Value::Json(j)) => Some(j),
                Some(Value::Str(s)) => {
                    Some(serde_json::from_str(&s).unwrap_or(serde_json::Value::String(s)))
                }
                Some(other) => Some(serde_json::Value::String(other.to_string())),
            },
            Source::Body => msg.json_value().cloned(),
            Source::Custom(expr) => {
                let doc = json(msg)?;
                let path = expr
                    .as_json()
                    .ok_or_else(|| failed("the source is not a JSONPath"))?;
                path.evaluate(doc)
            }
            Source::Envelope => return Err(failed("an envelope source needs an XML payload")),
        })
    }

    /// With `clone="false"`, a JSONPath source is moved: what it selected leaves the body.
    fn cut_json_source(&self, msg: &mut MessageContext) {
        if let Source::Custom(expr) = &self.source
            && let Some(path) = expr.as_json()
        {
            let mut doc = msg.json_value().cloned().unwrap_or_default();
            for pointer in path.pointers(&doc).into_iter().rev() {
                remove_pointer(&mut doc, &pointer);
            }
            msg.set_json_payload(doc);
        }
    }

    /// The body as the target: replaced, appended to, or emptied.
    fn json_into_body(
        &self,
        msg: &mut MessageContext,
        data: Option<serde_json::Value>,
    ) -> Result<(), MediationError> {
        let value = data.unwrap_or(serde_json::Value::Null);
        let new = match self.action {
            Action::Replace => value,
            Action::Child => {
                let mut doc = msg.json_value().cloned().unwrap_or_default();
                add_child(&mut doc, value)?;
                doc
            }
            Action::Remove => serde_json::Value::Null,
            Action::Sibling => {
                return Err(failed("a body target does not take action=\"sibling\""));
            }
        };
        msg.set_json_payload(new);
        Ok(())
    }

    /// A JSONPath target: what it matches is removed, replaced (or created), or extended.
    fn json_into_path(
        &self,
        msg: &mut MessageContext,
        expr: &Expression,
        data: Option<serde_json::Value>,
    ) -> Result<(), MediationError> {
        let path = expr
            .as_json()
            .ok_or_else(|| failed("the target is not a JSONPath"))?;
        let mut doc = msg.json_value().cloned().unwrap_or_default();
        let pointers = path.pointers(&doc);
        let value = data.unwrap_or(serde_json::Value::Null);
        match self.action {
            Action::Remove => {
                for pointer in pointers.iter().rev() {
                    remove_pointer(&mut doc, pointer);
                }
            }
            Action::Replace if pointers.is_empty() => {
                create_at(&mut doc, path.source(), value).ok_or_else(|| {
                    failed(format!(
                        "target `{expr}` matched nothing and cannot be created"
                    ))
                })?;
            }
            _ => {
                let Some(first) = pointers.first() else {
                    return Err(failed(format!("target `{expr}` matched nothing")));
                };
                match self.action {
                    Action::Replace => {
                        if let Some(slot) = doc.pointer_mut(first) {
                            *slot = value;
                        }
                    }
                    Action::Child => {
                        let slot = doc
                            .pointer_mut(first)
                            .ok_or_else(|| failed("target vanished"))?;
                        add_child(slot, value)?;
                    }
                    Action::Sibling => insert_sibling(&mut doc, first, value)?,
                    Action::Remove => {}
                }
            }
        }
        msg.set_json_payload(doc);
        Ok(())
    }
}

/// `child`: append to an array, or merge an object's keys into an object.
fn add_child(slot: &mut serde_json::Value, value: serde_json::Value) -> Result<(), MediationError> {
    match (slot, value) {
        (serde_json::Value::Array(a), v) => a.push(v),
        (serde_json::Value::Object(o), serde_json::Value::Object(add)) => o.extend(add),
        (serde_json::Value::Null, v) => {
            return Err(failed(format!("cannot add {v} as a child of null")));
        }
        _ => {
            return Err(failed(
                "action=\"child\" needs an array target, or an object target and an object source",
            ));
        }
    }
    Ok(())
}

fn split_pointer(pointer: &str) -> Option<(&str, String)> {
    let (parent, last) = pointer.rsplit_once('/')?;
    Some((parent, last.replace("~1", "/").replace("~0", "~")))
}

fn remove_pointer(doc: &mut serde_json::Value, pointer: &str) {
    let Some((parent, key)) = split_pointer(pointer) else {
        return;
    };
    match doc.pointer_mut(parent) {
        Some(serde_json::Value::Object(o)) => {
            o.shift_remove(&key);
        }
        Some(serde_json::Value::Array(a)) => {
            if let Ok(i) = key.parse::<usize>()
                && i < a.len()
            {
                a.remove(i);
            }
        }
        _ => {}
    }
}

fn insert_sibling(
    doc: &mut serde_json::Value,
    pointer: &str,
    value: serde_json::Value,
) -> Result<(), MediationError> {
    let (parent, key) = split_pointer(pointer).ok_or_else(|| failed("the root has no siblings"))?;
    match doc.pointer_mut(parent) {
        Some(serde_json::Value::Array(a)) => {
            let i = key
                .parse::<usize>()
                .map_err(|_| failed("bad array index"))?;
            a.insert((i + 1).min(a.len()), value);
            Ok(())
        }
        _ => Err(failed("action=\"sibling\" needs a target inside an array")),
    }
}

/// Creates `$.a.b.c` (dotted names only) when `$.a.b` is an object.
fn create_at(doc: &mut serde_json::Value, path: &str, value: serde_json::Value) -> Option<()> {
    let rest = path.strip_prefix("$.")?;
    let names: Vec<&str> = rest.split('.').collect();
    if names
        .iter()
        .any(|n| n.is_empty() || n.contains(['[', ']', '*', '?', '(', '\'', '"']))
    {
        return None;
    }
    let (last, parents) = names.split_last()?;
    let mut slot = doc;
    for name in parents {
        slot = slot.as_object_mut()?.get_mut(*name)?;
    }
    slot.as_object_mut()?.insert((*last).to_owned(), value);
    Some(())
}
