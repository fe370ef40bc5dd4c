//! Expressions: what Synapse configurations compute values with.
//!
//! An [`Expression`] is either an XPath 1.0 expression with Synapse's functions and
//! variables ([`xpath`], [`synapse`]) or a `json-eval(<JSONPath>)` ([`json`]). Expressions
//! are compiled once, at load: a syntax error, an undeclared namespace prefix or an
//! unknown function is an `axon check` error at the attribute's `file:line:col`. At run
//! time an expression reads the message's properties and, only if it has to, its payload,
//! which is then parsed once for every later reader (see `message/payload.rs`).
//!
//! Results follow Synapse: an XPath node-set becomes the text of its nodes (an element
//! with no text of its own becomes its XML), a json-eval result becomes the matched value
//! (objects and arrays as JSON).

mod error;
pub(crate) mod json;
pub(crate) mod lexer;
mod sequence;
pub(crate) mod synapse;
pub(crate) mod synexpr;
pub(crate) mod xpath;
pub(crate) mod xpath2;

use std::fmt;

use sxd_xpath::Value as XValue;
use sxd_xpath::nodeset::Node;

pub(crate) use self::error::{CompileError, XPathError};
use crate::base::mediation::MediationError;
use crate::message::payload::PayloadError;
use crate::message::xml::{element_to_string, own_text};
use crate::message::{MessageContext, Value};

/// A compiled expression, shared by every worker thread.
#[derive(Debug, Clone, PartialEq)]
pub struct Expression {
    source: String,
    kind: ExprKind,
}

#[derive(Debug, Clone, PartialEq)]
enum ExprKind {
    XPath(xpath::XPathExpr),
    Json(json::JsonExpr),
    /// An MI 4.4 `${...}` expression.
    Synapse(synexpr::SynExpr),
}

/// The value of an expression for one message.
#[derive(Debug, Clone, PartialEq)]
pub enum Evaluated {
    /// Nothing matched (an empty node-set, a JSONPath with no match).
    Null,
    /// Text: strings, numbers, text and attribute nodes, JSON scalars.
    Text(String),
    /// XML: elements that matched, serialised (each declaring what it inherits).
    Xml(String),
    /// A JSON object or array matched by json-eval.
    Json(serde_json::Value),
    /// An XPath boolean.
    Bool(bool),
}

/// Why an expression has no value for this message.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ExprError {
    /// The payload is needed and the body has not been read yet: return
    /// `Step::NeedBody` and run again.
    #[error("the message body has not been read")]
    NeedBody,
    /// The payload is not well-formed (the client's or backend's fault).
    #[error("{0}")]
    Malformed(String),
    /// The evaluation failed.
    #[error("{0}")]
    Failed(String),
    /// An XPath failed while it was evaluated.
    #[error(transparent)]
    XPath(#[from] XPathError),
}

// === impl Expression ===

impl Expression {
    /// Compiles `source`: `json-eval(<JSONPath>)`, or an XPath. `namespaces` are the prefix
    /// bindings in scope of the element that holds the expression.
    ///
    /// # Errors
    /// A message for a load diagnostic.
    pub fn compile(
        source: &str,
        namespaces: &[(String, String)],
    ) -> Result<Expression, CompileError> {
        let trimmed = source.trim();
        let kind = match (json_eval_path(trimmed), synexpr::inner(trimmed)) {
            (Some(path), _) => ExprKind::Json(json::compile(path)?),
            (None, Some(inner)) => ExprKind::Synapse(synexpr::SynExpr::compile(inner, namespaces)?),
            (None, None) => ExprKind::XPath(xpath::compile(trimmed, namespaces)?),
        };
        Ok(Expression {
            source: trimmed.to_owned(),
            kind,
        })
    }

    /// Compiles a bare JSONPath (`$.a.b`), as `evaluator="json"` arguments are written.
    ///
    /// # Errors
    /// A message for a load diagnostic.
    pub(crate) fn compile_json(path: &str) -> Result<Expression, CompileError> {
        let trimmed = path.trim();
        if synexpr::inner(trimmed).is_some() {
            return Expression::compile(trimmed, &[]);
        }
        let inner = json_eval_path(trimmed).unwrap_or(trimmed);
        Ok(Expression {
            source: trimmed.to_owned(),
            kind: ExprKind::Json(json::compile(inner)?),
        })
    }

    /// True for `json-eval(...)`.
    pub(crate) fn is_json(&self) -> bool {
        matches!(self.kind, ExprKind::Json(_))
    }

    /// Whether evaluating reads the payload (property-only XPaths do not).
    pub(crate) fn needs_payload(&self) -> bool {
        match &self.kind {
            ExprKind::XPath(x) => x.needs_payload(),
            ExprKind::Json(_) => true,
            ExprKind::Synapse(synapse) => synapse.reads_json() || synapse.reads_xml(),
        }
    }

    /// Whether evaluating reads a template parameter (`$func:`, `params.functionParams`).
    pub(crate) fn reads_func(&self) -> bool {
        match &self.kind {
            ExprKind::XPath(x) => x.func_reads().next().is_some(),
            ExprKind::Synapse(synapse) => synapse.reads_func(),
            ExprKind::Json(_) => false,
        }
    }

    pub(crate) fn as_xpath(&self) -> Option<&xpath::XPathExpr> {
        match &self.kind {
            ExprKind::XPath(x) => Some(x),
            ExprKind::Json(_) | ExprKind::Synapse(_) => None,
        }
    }

    pub(crate) fn as_synapse(&self) -> Option<&synexpr::SynExpr> {
        match &self.kind {
            ExprKind::Synapse(synapse) => Some(synapse),
            _ => None,
        }
    }

    pub(crate) fn as_json(&self) -> Option<&json::JsonExpr> {
        match &self.kind {
            ExprKind::Json(j) => Some(j),
            ExprKind::XPath(_) | ExprKind::Synapse(_) => None,
        }
    }

    /// Makes the payload available in the form this expression reads (parsing it once),
    /// and in the form the `{{...}}` template parameters it reads need.
    ///
    /// # Errors
    /// [`ExprError::NeedBody`] while the body is a stream; a malformed or unconvertible
    /// payload.
    pub fn prepare(&self, msg: &mut MessageContext) -> Result<(), ExprError> {
        if let ExprKind::Synapse(synapse) = &self.kind {
            return synapse.prepare(msg);
        }
        if let Some(x) = self.as_xpath() {
            for name in x.func_reads() {
                msg.prepare_func_param(name)?;
            }
        }
        if !self.needs_payload() {
            return Ok(());
        }
        let loaded = match &self.kind {
            ExprKind::XPath(_) | ExprKind::Synapse(_) => msg.load_xml(),
            ExprKind::Json(_) => msg.load_json(),
        };
        loaded.map_err(ExprError::from)
    }

    /// Evaluates for `msg`.
    ///
    /// # Errors
    /// See [`ExprError`].
    pub(crate) fn evaluate(&self, msg: &mut MessageContext) -> Result<Evaluated, ExprError> {
        self.prepare(msg)?;
        self.evaluate_prepared(msg)
    }

    /// Evaluates for `msg`, whose payload [`Expression::prepare`] made available.
    ///
    /// # Errors
    /// See [`ExprError`].
    pub fn evaluate_prepared(&self, msg: &MessageContext) -> Result<Evaluated, ExprError> {
        match &self.kind {
            ExprKind::XPath(x) => {
                // A lone property read (the most common expression) needs no XPath run,
                // and keeps the property's type (OM, JSON).
                if let Some(source) = x.lone_read() {
                    match synapse::typed_value(source, msg) {
                        Some(Value::Xml(xml)) => return Ok(Evaluated::Xml(xml)),
                        Some(Value::Json(
                            json @ (serde_json::Value::Object(_) | serde_json::Value::Array(_)),
                        )) => {
                            return Ok(Evaluated::Json(json));
                        }
                        _ => return Ok(Evaluated::Text(synapse::resolve(source, msg))),
                    }
                }
                let doc = if x.needs_payload() {
                    Some(msg.xml_doc().ok_or(ExprError::NeedBody)?)
                } else {
                    None
                };
                x.evaluate(doc, msg, from_xpath).map_err(ExprError::XPath)
            }
            ExprKind::Json(j) => {
                let doc = msg.json_value().ok_or(ExprError::NeedBody)?;
                Ok(match j.evaluate(doc) {
                    None => Evaluated::Null,
                    Some(serde_json::Value::String(s)) => Evaluated::Text(s),
                    Some(v @ (serde_json::Value::Object(_) | serde_json::Value::Array(_))) => {
                        Evaluated::Json(v)
                    }
                    Some(other) => Evaluated::Text(other.to_string()),
                })
            }
            ExprKind::Synapse(synapse) => synapse.evaluate(msg),
        }
    }

    /// The value as text (Synapse's `stringValueOf`); `None` when nothing matched.
    ///
    /// # Errors
    /// See [`ExprError`].
    pub fn string(&self, msg: &mut MessageContext) -> Result<Option<String>, ExprError> {
        Ok(self.evaluate(msg)?.into_string())
    }

    /// The value as a condition: XPath's `boolean()`; for json-eval, a match that is not
    /// `false`, `null` or an empty array.
    ///
    /// # Errors
    /// See [`ExprError`].
    pub(crate) fn boolean(&self, msg: &mut MessageContext) -> Result<bool, ExprError> {
        self.prepare(msg)?;
        match &self.kind {
            ExprKind::XPath(x) => {
                let doc = if x.needs_payload() {
                    Some(msg.xml_doc().ok_or(ExprError::NeedBody)?)
                } else {
                    None
                };
                x.evaluate(doc, msg, |v| v.boolean())
                    .map_err(ExprError::XPath)
            }
            ExprKind::Json(j) => {
                let doc = msg.json_value().ok_or(ExprError::NeedBody)?;
                Ok(match j.evaluate(doc) {
                    None | Some(serde_json::Value::Null | serde_json::Value::Bool(false)) => false,
                    Some(serde_json::Value::Array(a)) => !a.is_empty(),
                    Some(_) => true,
                })
            }
            ExprKind::Synapse(synapse) => synapse.boolean(msg),
        }
    }
}

impl fmt::Display for Expression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// The JSONPath inside `json-eval(...)`, if `source` is one.
fn json_eval_path(source: &str) -> Option<&str> {
    source
        .strip_prefix("json-eval(")
        .and_then(|rest| rest.strip_suffix(')'))
}

/// Synapse's conversion of an XPath result to a value (`SynapseXPath.stringValueOf`).
fn from_xpath(value: XValue<'_>) -> Evaluated {
    match value {
        XValue::Boolean(b) => Evaluated::Bool(b),
        XValue::Number(n) if n.is_nan() => Evaluated::Null,
        XValue::Number(_) => Evaluated::Text(value.string()),
        XValue::String(s) => Evaluated::Text(s),
        XValue::Nodeset(nodes) => {
            let nodes = nodes.document_order();
            if nodes.is_empty() {
                return Evaluated::Null;
            }
            let single = nodes.len() == 1;
            let mut out = String::new();
            let mut xml = false;
            for node in nodes {
                match node {
                    Node::Element(it) => {
                        let text = own_text(it);
                        let trimmed = text.replace('\u{a0}', " ");
                        let trimmed = trimmed.trim();
                        if single && !trimmed.is_empty() {
                            out.push_str(trimmed);
                        } else {
                            xml = true;
                            out.push_str(&element_to_string(it));
                        }
                    }
                    Node::Root(r) => {
                        if let Some(it) = r.children().into_iter().find_map(|c| c.element()) {
                            xml = true;
                            out.push_str(&element_to_string(it));
                        }
                    }
                    Node::Attribute(a) => out.push_str(a.value()),
                    Node::Text(t) => out.push_str(t.text()),
                    other => out.push_str(&other.string_value()),
                }
            }
            if xml {
                Evaluated::Xml(out)
            } else {
                Evaluated::Text(out)
            }
        }
    }
}

// === impl Evaluated ===

impl Evaluated {
    /// The value as text; `None` for [`Evaluated::Null`].
    pub(crate) fn into_string(self) -> Option<String> {
        match self {
            Evaluated::Null => None,
            Evaluated::Text(s) | Evaluated::Xml(s) => Some(s),
            Evaluated::Json(v) => Some(v.to_string()),
            Evaluated::Bool(b) => Some(b.to_string()),
        }
    }
}

// === impl ExprError ===

impl From<PayloadError> for ExprError {
    fn from(error: PayloadError) -> Self {
        match error {
            PayloadError::NeedBody => ExprError::NeedBody,
            PayloadError::Malformed(m) => ExprError::Malformed(m),
            PayloadError::Unsupported(m) => ExprError::Failed(m),
        }
    }
}

impl From<ExprError> for MediationError {
    fn from(error: ExprError) -> Self {
        match error {
            ExprError::Malformed(m) => MediationError::Payload(m),
            other => MediationError::Failed(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests;
