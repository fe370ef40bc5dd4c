//! `<call-template target>`: run a sequence template with `<with-param>` values
//! (reference §1.14). Inside the template, `$func:name` and `get-property('func', 'name')`
//! read the values; they are gone once the template's sequence ends.
//!
//! Values are literals or `{expression}`, evaluated when the template is called, or
//! `{{expression}}` (MI's escaped form), evaluated each time the template reads the
//! parameter, against the message as it is then. `onError`
//! names a sequence that handles failures inside the template (MI's rule; the template
//! sequence's own `onError`, when it has one, comes first). Every
//! parameter name must be declared by the template, and every mandatory one given, both
//! checked at load.

use std::sync::Arc;

use super::expressions::{self, Dynamic};
use super::{Env, Mediator, Reference, Step};
use crate::base::mediation::MediationError;
use crate::config::{Ctx, Element, SeqId, TemplateConfig};
use crate::expr::{Evaluated, ExprError, Expression};
use crate::message::payload::PayloadError;
use crate::message::{Deferred, DeferredParam, FuncParam, MessageContext, Value};

#[derive(Debug)]
struct CallTemplate {
    template: Arc<TemplateConfig>,
    /// `onError`: the sequence that handles failures inside the template.
    on_error: Option<SeqId>,
    /// One value per declared parameter, in the template's order; `None` leaves it unset.
    values: Vec<Option<Param>>,
}

/// A `with-param` value.
#[derive(Debug, Clone)]
enum Param {
    /// A literal or `{expression}`: evaluated when the template is entered.
    Now(Dynamic),
    /// `{{expression}}`: evaluated on every read inside the template.
    Deferred(Arc<DeferredExpr>),
}

/// The expression of a `{{...}}` parameter.
#[derive(Debug)]
struct DeferredExpr(Expression);

impl Deferred for DeferredExpr {
    fn value(&self, msg: &MessageContext) -> Option<Value> {
        // `prepare` ran before the read; a failure reads as no value.
        self.0.evaluate_prepared(msg).ok().and_then(to_value)
    }

    fn prepare(&self, msg: &mut MessageContext) -> Result<(), PayloadError> {
        // The expression knows the form it reads (a `${...}` may read JSON); it reads no
        // template parameter (refused at load), so this never comes back here.
        self.0.prepare(msg).map_err(|error| match error {
            ExprError::NeedBody => PayloadError::NeedBody,
            ExprError::Malformed(m) => PayloadError::Malformed(m),
            other => PayloadError::Unsupported(other.to_string()),
        })
    }
}

fn to_value(evaluated: Evaluated) -> Option<Value> {
    match evaluated {
        Evaluated::Null => None,
        Evaluated::Xml(x) => Some(Value::Xml(x)),
        Evaluated::Json(j) => Some(Value::Json(j)),
        other => Some(Value::Str(other.into_string().unwrap_or_default())),
    }
}

/// Parses a `with-param` value: `{{expression}}` here, the other forms as everywhere.
fn param_value(attr: &crate::config::Attr, child: &Element, ctx: &mut Ctx<'_>) -> Option<Param> {
    let raw = attr.value.trim();
    let escaped = raw
        .strip_prefix("{{")
        .and_then(|r| r.strip_suffix("}}"))
        .filter(|inner| !inner.trim().is_empty());
    let Some(inner) = escaped else {
        return expressions::dynamic(attr, child, ctx.diags).map(Param::Now);
    };
    match Expression::compile(inner, &child.namespaces) {
        Ok(expr) if expr.reads_func() => {
            ctx.error(
                &attr.loc,
                "`{{...}}` parameters cannot read `$func:` or `params.functionParams` (the value is computed inside the template, where it would read itself)",
            );
            None
        }
        Ok(expr) => Some(Param::Deferred(Arc::new(DeferredExpr(expr)))),
        Err(message) => {
            ctx.error(&attr.loc, format!("`value`: {message}"));
            None
        }
    }
}

/// Parses `<call-template>`.
pub(super) fn parse(el: &Element, ctx: &mut Ctx<'_>) -> Option<Box<dyn Mediator>> {
    ctx.check_attrs(el, &["target", "description", "onError"]);
    ctx.no_text(el);
    let on_error = match el.attr("onError") {
        Some(a) => Some(ctx.sequence_ref(a.value.trim(), &a.loc)?),
        None => None,
    };
    let target = ctx.required_attr(el, "target")?;
    let template = ctx.template_ref(target.value.trim(), &target.loc);
    let mut given: Vec<(String, Param, &Element)> = Vec::new();
    let mut ok = true;
    for child in el.elements() {
        if child.local_name() != "with-param" || !child.is_synapse() {
            ctx.unknown_child(el, child);
            ok = false;
            continue;
        }
        ctx.check_attrs(child, &["name", "value"]);
        ctx.no_children(child);
        let (Some(name), Some(value)) = (
            ctx.required_attr(child, "name"),
            ctx.required_attr(child, "value"),
        ) else {
            ok = false;
            continue;
        };
        let name = name.value.trim().to_owned();
        if given.iter().any(|(n, _, _)| *n == name) {
            ctx.error(&child.loc, format!("parameter `{name}` is given twice"));
            ok = false;
            continue;
        }
        match param_value(value, child, ctx) {
            Some(d) => given.push((name, d, child)),
            None => ok = false,
        }
    }
    let template = template?;
    for (name, _, child) in &given {
        if !template.params.iter().any(|p| p.name == *name) {
            ctx.error(
                &child.loc,
                format!("template `{}` has no parameter `{name}`", template.name),
            );
            ok = false;
        }
    }
    let mut values_in_order = Vec::with_capacity(template.params.len());
    for param in &template.params {
        let value = given
            .iter()
            .position(|(n, _, _)| *n == param.name)
            .map(|i| given[i].1.clone())
            .or_else(|| {
                param
                    .default
                    .clone()
                    .map(|d| Param::Now(Dynamic::Literal(d)))
            });
        if value.is_none() && param.mandatory {
            ctx.error(
                &el.loc,
                format!(
                    "template `{}` needs parameter `{}` (isMandatory)",
                    template.name, param.name
                ),
            );
            ok = false;
        }
        values_in_order.push(value);
    }
    ok.then(|| {
        Box::new(CallTemplate {
            template,
            on_error,
            values: values_in_order,
        }) as Box<dyn Mediator>
    })
}

impl Mediator for CallTemplate {
    fn body_use(&self) -> Option<&'static str> {
        self.values.iter().flatten().find_map(|v| match v {
            Param::Now(Dynamic::Expr(expr)) => {
                super::reads_payload(expr, "call-template with-param expression")
            }
            Param::Deferred(it) => super::reads_payload(&it.0, "call-template `{{...}}` parameter"),
            Param::Now(Dynamic::Literal(_)) => None,
        })
    }

    fn mediate<'c>(
        &'c self,
        msg: &mut MessageContext,
        _env: &Env<'c>,
    ) -> Result<Step<'c>, MediationError> {
        let mut params = Vec::with_capacity(self.values.len());
        for (param, value) in self.template.params.iter().zip(&self.values) {
            let value = match value {
                None => continue,
                Some(Param::Now(Dynamic::Literal(v))) => Value::Str(v.clone()).into(),
                Some(Param::Now(Dynamic::Expr(it))) => match to_value(eval!(it.evaluate(msg))) {
                    None => continue,
                    Some(v) => v.into(),
                },
                Some(Param::Deferred(it)) => {
                    FuncParam::Deferred(DeferredParam(Arc::clone(it) as Arc<dyn Deferred>))
                }
            };
            params.push((param.name.clone(), value));
        }
        Ok(Step::Template {
            sequence: self.template.sequence,
            params,
            on_error: self.on_error,
        })
    }

    fn references(&self, visit: &mut dyn FnMut(Reference)) {
        visit(Reference::Sequence(self.template.sequence));
        // The handler is reachable but not called (as a sequence's `onError`): no cycle.
        if let Some(handler) = self.on_error {
            visit(Reference::Receive(handler));
        }
    }
}
