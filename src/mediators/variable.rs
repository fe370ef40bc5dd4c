//! `<variable>` (MI 4.4): set or remove a message variable. Variables live in the message
//! context apart from properties, are copied into fan-out branches as properties are, and
//! are read by `${vars.name}`.
//!
//! The value is a literal (`value`, converted to its `type` at load; no type is STRING)
//! or an expression (`expression`, XPath, `json-eval()` or `${...}`, converted per
//! message). Types: STRING, BOOLEAN, INTEGER, LONG, SHORT, FLOAT, DOUBLE, JSON, XML.

use super::property::{Type, literal, meaningless_with_remove, parse_type_of, typed};
use super::{Env, Mediator, Step, expressions};
use crate::base::mediation::MediationError;
use crate::config::values;
use crate::config::{Ctx, Element};
use crate::expr::Expression;
use crate::message::{MessageContext, Value};

#[derive(Debug)]
enum Action {
    Literal(Value),
    Expr(Expression, Type),
    Remove,
}

#[derive(Debug)]
struct Variable {
    name: String,
    action: Action,
}

/// Parses `<variable>`.
pub(super) fn parse(el: &Element, ctx: &mut Ctx<'_>) -> Option<Box<dyn Mediator>> {
    ctx.check_attrs(
        el,
        &[
            "name",
            "value",
            "expression",
            "type",
            "action",
            "description",
        ],
    );
    ctx.no_children(el);
    let name = ctx.required_attr(el, "name")?.value.trim().to_owned();
    if values::remove_action(el, ctx.diags)? {
        meaningless_with_remove(el, ctx, &["value", "expression", "type"]);
        return Some(Box::new(Variable {
            name,
            action: Action::Remove,
        }));
    }
    let ty = parse_type_of(el, ctx, "variable", "XML")?;
    let action = match (el.attr("value"), el.attr("expression")) {
        (Some(v), None) => Action::Literal(literal(&v.value, ty, None, &v.loc, ctx)?),
        (None, Some(attr)) => Action::Expr(expressions::expression(attr, el, ctx.diags)?, ty),
        _ => {
            ctx.error(
                &el.loc,
                "<variable> needs exactly one of `value` and `expression` (or action=\"remove\")",
            );
            return None;
        }
    };
    Some(Box::new(Variable { name, action }))
}

impl Mediator for Variable {
    fn body_use(&self) -> Option<&'static str> {
        match &self.action {
            Action::Expr(expr, _) => super::reads_payload(expr, "variable expression"),
            _ => None,
        }
    }

    fn mediate<'c>(
        &'c self,
        msg: &mut MessageContext,
        _env: &Env<'c>,
    ) -> Result<Step<'c>, MediationError> {
        let value = match &self.action {
            Action::Remove => None,
            Action::Literal(v) => Some(v.clone()),
            Action::Expr(expr, ty) => {
                let result = eval!(expr.evaluate(msg));
                typed(result, *ty, None).map_err(|message| {
                    MediationError::Failed(format!("variable `{}`: {message}", self.name))
                })?
            }
        };
        match value {
            Some(v) => msg.set_variable(&self.name, v),
            None => msg.remove_variable(&self.name),
        }
        Ok(Step::Continue)
    }
}
