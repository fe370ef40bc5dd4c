//! `<call-template target>`: run a sequence template with `<with-param>` values
//! (reference §1.14). Inside the template, `$func:name` and `get-property('func', 'name')`
//! read the values; they are gone once the template's sequence ends.
//!
//! Values are literals or `{expression}`, evaluated when the template is called. `onError`
//! names a sequence that handles failures inside the template (MI's rule; the template
//! sequence's own `onError`, when it has one, comes first). Every
//! parameter name must be declared by the template, and every mandatory one given, both
//! checked at load.

use std::sync::Arc;

use super::expressions::{self, Dynamic};
use super::{Env, Mediator, Reference, Step};
use crate::base::mediation::MediationError;
use crate::config::{Ctx, Element, SeqId, TemplateConfig};
use crate::expr::Evaluated;
use crate::message::{MessageContext, Value};

#[derive(Debug)]
struct CallTemplate {
    template: Arc<TemplateConfig>,
    /// `onError`: the sequence that handles failures inside the template.
    on_error: Option<SeqId>,
    /// One value per declared parameter, in the template's order; `None` leaves it unset.
    values: Vec<Option<Dynamic>>,
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
    let mut given: Vec<(String, Dynamic, &Element)> = Vec::new();
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
        match expressions::dynamic(value, child, ctx.diags) {
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
            .or_else(|| param.default.clone().map(Dynamic::Literal));
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
            Dynamic::Expr(expr) => {
                super::reads_payload(expr, "call-template with-param expression")
            }
            Dynamic::Literal(_) => None,
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
                Some(Dynamic::Literal(v)) => Value::Str(v.clone()),
                Some(Dynamic::Expr(it)) => match eval!(it.evaluate(msg)) {
                    Evaluated::Null => continue,
                    Evaluated::Xml(x) => Value::Xml(x),
                    Evaluated::Json(j) => Value::Json(j),
                    other => Value::Str(other.into_string().unwrap_or_default()),
                },
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
