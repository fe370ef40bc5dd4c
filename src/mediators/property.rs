//! `<property>`: set or remove a message property in one of its scopes (reference §5).

use regex::Regex;

use super::{Env, Mediator, Step};
use crate::config::{Ctx, Element};
use crate::engine::MediationError;
use crate::message::{MessageContext, Scope, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Type {
    String,
    Boolean,
    Integer,
    Float,
}

#[derive(Debug)]
enum Action {
    Set(Value),
    Remove,
}

#[derive(Debug)]
struct Property {
    name: String,
    scope: Scope,
    action: Action,
}

/// Parses `<property>` with a literal `value`.
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
    let name = ctx.required_attr(el, "name")?.value.trim().to_owned();
    if name.starts_with('{') {
        ctx.unsupported(&el.loc, "a computed property name (`{expression}`)");
        return None;
    }
    if let Some(a) = el.attr("expression") {
        ctx.unsupported(&a.loc, "property expressions (`expression`)");
        return None;
    }
    let scope = match el.attr("scope") {
        None => Scope::Default,
        Some(a) => match a.value.trim() {
            "default" | "operation" => Scope::Default,
            "axis2" => Scope::Axis2,
            "transport" => Scope::Transport,
            other @ ("axis2-client" | "registry" | "system" | "trace" | "analytics") => {
                ctx.unsupported(&a.loc, format!("property scope `{other}`"));
                return None;
            }
            other => {
                ctx.error(&a.loc, format!("unknown property scope `{other}`"));
                return None;
            }
        },
    };
    let remove = match el.attr("action") {
        None => false,
        Some(a) => match a.value.trim() {
            "set" => false,
            "remove" => true,
            other => {
                ctx.error(
                    &a.loc,
                    format!("unknown property action `{other}` (expected set or remove)"),
                );
                return None;
            }
        },
    };
    if remove {
        ctx.no_children(el);
        return Some(Box::new(Property {
            name,
            scope,
            action: Action::Remove,
        }));
    }
    if el.elements().next().is_some() {
        ctx.unsupported(&el.loc, "inline XML property values (type OM)");
        return None;
    }
    ctx.no_text(el);
    let Some(raw) = el.attr_value("value") else {
        ctx.error(&el.loc, "<property> needs a `value` (or action=\"remove\")");
        return None;
    };
    let mut raw = raw.to_owned();
    if let Some(pattern) = el.attr("pattern") {
        let regex = match Regex::new(&pattern.value) {
            Ok(r) => r,
            Err(error) => {
                ctx.error(&pattern.loc, format!("invalid pattern: {error}"));
                return None;
            }
        };
        let group = match el.attr("group") {
            None => 0,
            Some(g) => match g.value.trim().parse::<usize>() {
                Ok(n) => n,
                Err(_) => {
                    ctx.error(
                        &g.loc,
                        format!("`group` must be a number, found `{}`", g.value),
                    );
                    return None;
                }
            },
        };
        raw = regex
            .captures(&raw)
            .and_then(|c| c.get(group))
            .map(|m| m.as_str().to_owned())
            .unwrap_or_default();
    } else if let Some(g) = el.attr("group") {
        ctx.error(&g.loc, "`group` needs a `pattern`");
        return None;
    }
    let ty = match el.attr("type") {
        None => Type::String,
        Some(a) => match a.value.trim().to_ascii_uppercase().as_str() {
            "STRING" => Type::String,
            "BOOLEAN" => Type::Boolean,
            "INTEGER" | "LONG" | "SHORT" => Type::Integer,
            "FLOAT" | "DOUBLE" => Type::Float,
            other @ ("OM" | "JSON") => {
                ctx.unsupported(&a.loc, format!("property type `{other}`"));
                return None;
            }
            other => {
                ctx.error(&a.loc, format!("unknown property type `{other}`"));
                return None;
            }
        },
    };
    let value = match ty {
        Type::String => Value::Str(raw),
        Type::Boolean => match raw.trim().to_ascii_lowercase().as_str() {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => {
                ctx.error(&el.loc, format!("`{raw}` is not a BOOLEAN"));
                return None;
            }
        },
        Type::Integer => match raw.trim().parse::<i64>() {
            Ok(i) => Value::Int(i),
            Err(_) => {
                ctx.error(&el.loc, format!("`{raw}` is not an integer"));
                return None;
            }
        },
        Type::Float => match raw.trim().parse::<f64>() {
            Ok(f) => Value::Float(f),
            Err(_) => {
                ctx.error(&el.loc, format!("`{raw}` is not a number"));
                return None;
            }
        },
    };
    if scope == Scope::Transport {
        let header_ok = actix_web::http::header::HeaderName::from_bytes(name.as_bytes()).is_ok()
            && actix_web::http::header::HeaderValue::from_str(&value.to_string()).is_ok();
        if !header_ok {
            ctx.error(
                &el.loc,
                format!("`{name}` = `{value}` is not a valid HTTP header"),
            );
            return None;
        }
    }
    Some(Box::new(Property {
        name,
        scope,
        action: Action::Set(value),
    }))
}

impl Mediator for Property {
    fn mediate<'c>(
        &'c self,
        msg: &mut MessageContext,
        _env: &Env<'c>,
    ) -> Result<Step<'c>, MediationError> {
        match &self.action {
            Action::Set(value) => msg
                .set_property(self.scope, &self.name, value.clone())
                .map_err(MediationError::Failed)?,
            Action::Remove => msg.remove_property(self.scope, &self.name),
        }
        Ok(Step::Continue)
    }
}
