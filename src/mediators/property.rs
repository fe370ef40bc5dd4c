//! `<property>`: set or remove a message property in one of its scopes (reference §5).
//!
//! The value is a literal (`value`, converted to its `type` at load), an expression
//! (`expression`, evaluated per message, then `pattern`/`group`, then the type), or an
//! inline XML element (type `OM`). Scopes: `default` and `operation` (the message),
//! `axis2` and `axis2-client` (engine properties such as `HTTP_SC`), `transport` (HTTP
//! headers). Setting `messageType` or `ContentType` in the axis2 scope also sets the
//! outgoing `Content-Type`, and a `messageType` of another family converts the payload.

use actix_web::http::header::{CONTENT_TYPE, HeaderValue};
use bytes::Bytes;
use regex::Regex;

use super::expressions;
use super::{Env, Mediator, Step};
use crate::base::mediation::MediationError;
use crate::config::values;
use crate::config::{Ctx, Element, Loc};
use crate::expr::{Evaluated, Expression};
use crate::message::convert::{convert_for_client, current_kind};
use crate::message::{Body, ContentKind, MessageContext, Scope, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Type {
    String,
    Boolean,
    Integer,
    Float,
    Om,
    Json,
}

#[derive(Debug)]
enum Source {
    /// A literal, converted at load.
    Literal(Value),
    /// An expression, evaluated per message.
    Expr(Expression),
}

#[derive(Debug)]
enum Name {
    Fixed(String),
    /// `name="{expression}"`.
    Computed(Expression),
}

#[derive(Debug)]
enum Action {
    Set {
        source: Source,
        ty: Type,
        /// `pattern` (anchored: the whole value must match) and `group`.
        pattern: Option<(Regex, usize)>,
    },
    Remove,
}

#[derive(Debug)]
struct Property {
    name: Name,
    scope: Scope,
    action: Action,
}

/// Parses `<property>`.
pub(super) fn parse(el: &Element, ctx: &mut Ctx<'_>) -> Option<Box<dyn Mediator>> {
    ctx.check_attrs(
        el,
        &[
            "name",
            "value",
            "expression",
            "scope",
            "type",
            "action",
            "pattern",
            "group",
            "description",
        ],
    );
    let name_attr = ctx.required_attr(el, "name")?;
    let name = match expressions::dynamic(name_attr, el, ctx.diags)? {
        expressions::Dynamic::Literal(n) => Name::Fixed(n),
        expressions::Dynamic::Expr(it) => Name::Computed(it),
    };
    let scope = parse_scope(el, ctx)?;
    let remove = values::remove_action(el, ctx.diags)?;
    if remove {
        ctx.no_children(el);
        meaningless_with_remove(
            el,
            ctx,
            &["value", "expression", "type", "pattern", "group"],
        );
        return Some(Box::new(Property {
            name,
            scope,
            action: Action::Remove,
        }));
    }
    let ty = parse_type(el, ctx)?;
    let pattern = parse_pattern(el, ctx)?;
    let inline = el.elements().next();
    if el.elements().nth(1).is_some() {
        ctx.error(&el.loc, "<property> holds at most one inline XML element");
        return None;
    }
    let source = match (el.attr("value"), el.attr("expression"), inline) {
        (Some(v), None, None) => {
            Source::Literal(literal(&v.value, ty, pattern.as_ref(), &v.loc, ctx)?)
        }
        (None, Some(it), None) => Source::Expr(expressions::expression(it, el, ctx.diags)?),
        (None, None, Some(xml)) => {
            // An inline element is an OM value, as in Synapse.
            ctx.no_text(el);
            Source::Literal(Value::Xml(xml.to_content_xml()))
        }
        (None, None, None) => {
            ctx.error(
                &el.loc,
                "<property> needs a `value`, an `expression` or an inline XML element (or action=\"remove\")",
            );
            return None;
        }
        _ => {
            ctx.error(
                &el.loc,
                "<property> takes only one of `value`, `expression` and an inline XML element",
            );
            return None;
        }
    };
    if scope == Scope::Transport
        && let (Name::Fixed(n), Source::Literal(v)) = (&name, &source)
    {
        let header_ok = actix_web::http::header::HeaderName::from_bytes(n.as_bytes()).is_ok()
            && HeaderValue::from_str(&v.to_string()).is_ok();
        if !header_ok {
            ctx.error(&el.loc, format!("`{n}` = `{v}` is not a valid HTTP header"));
            return None;
        }
    }
    Some(Box::new(Property {
        name,
        scope,
        action: Action::Set {
            source,
            ty,
            pattern,
        },
    }))
}

fn parse_scope(el: &Element, ctx: &mut Ctx<'_>) -> Option<Scope> {
    Some(match el.attr("scope") {
        None => Scope::Default,
        Some(a) => match a.value.trim() {
            "default" | "operation" => Scope::Default,
            "axis2" | "axis2-client" => Scope::Axis2,
            "transport" => Scope::Transport,
            other @ ("registry" | "system" | "trace" | "analytics") => {
                ctx.unsupported(&a.loc, format!("property scope `{other}`"));
                return None;
            }
            other => {
                ctx.error(
                    &a.loc,
                    format!("unknown property scope `{other}` (expected default, transport, axis2, axis2-client or operation)"),
                );
                return None;
            }
        },
    })
}

/// Errors for the attributes in `attrs` that `el` has although it removes.
pub(super) fn meaningless_with_remove(el: &Element, ctx: &mut Ctx<'_>, attrs: &[&str]) {
    for attr in attrs {
        if let Some(a) = el.attr(attr) {
            ctx.error(
                &a.loc,
                format!("`{attr}` has no meaning with action=\"remove\""),
            );
        }
    }
}

fn parse_type(el: &Element, ctx: &mut Ctx<'_>) -> Option<Type> {
    parse_type_of(el, ctx, "property", "OM")
}

/// `type`: Synapse's names of value types; `xml` is the name of the XML type (`OM` for
/// properties, `XML` for variables), `what` names the mediator in the error.
pub(super) fn parse_type_of(
    el: &Element,
    ctx: &mut Ctx<'_>,
    what: &str,
    xml: &str,
) -> Option<Type> {
    let Some(a) = el.attr("type") else {
        return Some(Type::String);
    };
    Some(match a.value.trim().to_ascii_uppercase().as_str() {
        "STRING" => Type::String,
        "BOOLEAN" => Type::Boolean,
        "INTEGER" | "LONG" | "SHORT" => Type::Integer,
        "FLOAT" | "DOUBLE" => Type::Float,
        "JSON" => Type::Json,
        other if other == xml => Type::Om,
        other => {
            ctx.error(
                &a.loc,
                format!("unknown {what} type `{other}` (expected STRING, BOOLEAN, INTEGER, LONG, SHORT, FLOAT, DOUBLE, {xml} or JSON)"),
            );
            return None;
        }
    })
}

/// `Some(None)` without a pattern; `None` on an error.
fn parse_pattern(el: &Element, ctx: &mut Ctx<'_>) -> Option<Option<(Regex, usize)>> {
    let Some(pattern) = el.attr("pattern") else {
        if let Some(g) = el.attr("group") {
            ctx.error(&g.loc, "`group` needs a `pattern`");
            return None;
        }
        return Some(None);
    };
    let regex = values::whole_regex(&pattern.value, &pattern.loc, ctx.diags)?;
    let group = match el.attr("group") {
        None => 0,
        Some(g) => match g.value.trim().parse::<usize>() {
            Ok(n) if n < regex.captures_len() => n,
            Ok(n) => {
                ctx.error(
                    &g.loc,
                    format!(
                        "the pattern has no group {n} (it has {})",
                        regex.captures_len() - 1
                    ),
                );
                return None;
            }
            Err(_) => {
                ctx.error(
                    &g.loc,
                    format!("`group` must be a number, found `{}`", g.value),
                );
                return None;
            }
        },
    };
    Some(Some((regex, group)))
}

/// Synapse's pattern rule: the whole value must match; the group (0: everything) is kept,
/// otherwise the value becomes empty.
fn apply_pattern(text: &str, pattern: Option<&(Regex, usize)>) -> String {
    match pattern {
        None => text.to_owned(),
        Some((regex, group)) => regex
            .captures(text)
            .and_then(|c| c.get(*group))
            .map(|m| m.as_str().to_owned())
            .unwrap_or_default(),
    }
}

pub(super) fn literal(
    raw: &str,
    ty: Type,
    pattern: Option<&(Regex, usize)>,
    loc: &Loc,
    ctx: &mut Ctx<'_>,
) -> Option<Value> {
    let text = apply_pattern(raw, pattern);
    match convert(&text, ty) {
        Ok(v) => Some(v),
        Err(error) => {
            ctx.error(loc, error.to_string());
            None
        }
    }
}

/// Why text is not a value of the property's type.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(super) enum ConvertError {
    /// Not a BOOLEAN.
    #[error("`{0}` is not a BOOLEAN")]
    Boolean(String),
    /// Not an INTEGER.
    #[error("`{0}` is not an integer")]
    Integer(String),
    /// Not a FLOAT (or DOUBLE, SHORT, LONG).
    #[error("`{0}` is not a number")]
    Number(String),
    /// Not an XML element (OM).
    #[error("`{text}` is not an XML element: {source}")]
    Xml {
        /// The text, trimmed.
        text: String,
        /// The parser's error.
        source: crate::message::xml::XmlError,
    },
    /// Not JSON.
    #[error("`{text}` is not JSON: {reason}")]
    Json {
        /// The text.
        text: String,
        /// The parser's reason.
        reason: String,
    },
}

/// Converts text to a typed value.
fn convert(text: &str, ty: Type) -> Result<Value, ConvertError> {
    Ok(match ty {
        Type::String => Value::Str(text.to_owned()),
        Type::Boolean => match text.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" => Value::Bool(true),
            "false" | "no" | "0" | "" => Value::Bool(false),
            _ => return Err(ConvertError::Boolean(text.to_owned())),
        },
        Type::Integer => Value::Int(
            text.trim()
                .parse::<i64>()
                .map_err(|_| ConvertError::Integer(text.to_owned()))?,
        ),
        Type::Float => Value::Float(
            text.trim()
                .parse::<f64>()
                .map_err(|_| ConvertError::Number(text.to_owned()))?,
        ),
        Type::Om => {
            let trimmed = text.trim();
            crate::message::xml::XmlDoc::parse(trimmed.as_bytes()).map_err(|source| {
                ConvertError::Xml {
                    text: trimmed.to_owned(),
                    source,
                }
            })?;
            Value::Xml(trimmed.to_owned())
        }
        Type::Json => {
            Value::Json(
                serde_json::from_str(text).map_err(|error| ConvertError::Json {
                    text: text.to_owned(),
                    reason: error.to_string(),
                })?,
            )
        }
    })
}

/// The value of an expression as the property's type.
pub(super) fn typed(
    result: Evaluated,
    ty: Type,
    pattern: Option<&(Regex, usize)>,
) -> Result<Option<Value>, ConvertError> {
    if pattern.is_none() {
        match (&result, ty) {
            (Evaluated::Null, Type::Om | Type::Json) => return Ok(None),
            (Evaluated::Xml(x), Type::Om) => return Ok(Some(Value::Xml(x.clone()))),
            (Evaluated::Json(j), Type::Json) => return Ok(Some(Value::Json(j.clone()))),
            _ => {}
        }
    }
    let text = result.into_string().unwrap_or_default();
    convert(&apply_pattern(&text, pattern), ty).map(Some)
}

impl Mediator for Property {
    fn body_use(&self) -> Option<&'static str> {
        let name = match &self.name {
            Name::Computed(expr) => super::reads_payload(expr, "property name expression"),
            Name::Fixed(_) => None,
        };
        let value = match &self.action {
            Action::Set {
                source: Source::Expr(expr),
                ..
            } => super::reads_payload(expr, "property expression"),
            _ => None,
        };
        name.or(value)
    }

    fn mediate<'c>(
        &'c self,
        msg: &mut MessageContext,
        _env: &Env<'c>,
    ) -> Result<Step<'c>, MediationError> {
        let name = match &self.name {
            Name::Fixed(n) => n.clone(),
            Name::Computed(it) => eval!(it.string(msg)).unwrap_or_default(),
        };
        if name.is_empty() {
            return Err(MediationError::Failed(
                "the computed property name is empty".into(),
            ));
        }
        let Action::Set {
            source,
            ty,
            pattern,
        } = &self.action
        else {
            msg.remove_property(self.scope, &name);
            return Ok(Step::Continue);
        };
        let value = match source {
            Source::Literal(v) => Some(v.clone()),
            Source::Expr(it) => {
                let result = eval!(it.evaluate(msg));
                typed(result, *ty, pattern.as_ref()).map_err(|message| {
                    MediationError::Failed(format!("property `{name}`: {message}"))
                })?
            }
        };
        let Some(value) = value else {
            msg.remove_property(self.scope, &name);
            return Ok(Step::Continue);
        };
        if self.scope == Scope::Axis2 && !content_type_follows(msg, &name, &value)? {
            return Ok(Step::NeedBody);
        }
        msg.set_property(self.scope, &name, value)?;
        Ok(Step::Continue)
    }
}

/// `messageType` and `ContentType` (axis2) decide the outgoing `Content-Type`
/// (`ContentType` wins). A `messageType` of another family than the payload converts it,
/// as Synapse's formatters do: JSON, POX (`application/xml`), SOAP 1.1 (`text/xml`) or SOAP
/// 1.2 (`application/soap+xml`), through the JSON/XML mapping of `message/json_xml.rs`.
/// Returns `false` when the body must be read first.
fn content_type_follows(
    msg: &mut MessageContext,
    name: &str,
    value: &Value,
) -> Result<bool, MediationError> {
    let text = value.to_string();
    let header_value = match name {
        "ContentType" => Some(text.clone()),
        "messageType" => {
            let target = ContentKind::from_content_type(Some(&text), true);
            if matches!(
                target,
                ContentKind::Soap(_) | ContentKind::Json | ContentKind::Xml
            ) {
                let kind = current_kind(msg);
                if kind != target && (kind.is_xml() || kind == ContentKind::Json) {
                    let Ok(bytes) = msg.body_bytes() else {
                        return Ok(false);
                    };
                    // Sniffed from the bytes now that they are here.
                    let kind = current_kind(msg);
                    if kind != target {
                        match convert_for_client(kind, &bytes, target, msg.xml_limits()) {
                            Ok(Some((body, _))) => msg.body = Body::Full(Bytes::from(body)),
                            Ok(None) => {}
                            Err(error) => {
                                return Err(MediationError::Payload(format!(
                                    "the payload cannot be converted for messageType `{text}`: {}",
                                    error.0
                                )));
                            }
                        }
                    }
                }
            }
            msg.get_axis2("ContentType").is_none().then_some(text)
        }
        _ => None,
    };
    if let Some(content_type) = header_value {
        let header = HeaderValue::from_str(&content_type).map_err(|_| {
            MediationError::Failed(format!("`{content_type}` is not a valid Content-Type"))
        })?;
        msg.set_header(CONTENT_TYPE, header);
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_must_match_the_whole_value() {
        let p = (Regex::new("^(?:(\\w+)-(\\d+))$").unwrap(), 2);
        assert_eq!(apply_pattern("order-42", Some(&p)), "42");
        assert_eq!(apply_pattern("xorder-42 tail", Some(&p)), "");
        assert_eq!(apply_pattern("as is", None), "as is");
    }

    #[test]
    fn values_convert_to_their_types() {
        assert_eq!(convert("yes", Type::Boolean), Ok(Value::Bool(true)));
        assert!(convert("maybe", Type::Boolean).is_err());
        assert_eq!(convert(" 7 ", Type::Integer), Ok(Value::Int(7)));
        assert!(convert("7.5", Type::Integer).is_err());
        assert_eq!(convert("2.5", Type::Float), Ok(Value::Float(2.5)));
        assert_eq!(convert("<a/>", Type::Om), Ok(Value::Xml("<a/>".into())));
        assert!(convert("<a>", Type::Om).is_err());
        assert_eq!(
            convert("{\"a\":1}", Type::Json),
            Ok(Value::Json(serde_json::json!({"a": 1})))
        );
        assert_eq!(
            typed(Evaluated::Xml("<a/>".into()), Type::Om, None),
            Ok(Some(Value::Xml("<a/>".into())))
        );
        assert_eq!(typed(Evaluated::Null, Type::Json, None), Ok(None));
        assert_eq!(
            typed(Evaluated::Null, Type::String, None),
            Ok(Some(Value::Str(String::new())))
        );
    }
}
