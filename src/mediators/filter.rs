//! `<filter>`: run a branch when a condition holds (reference §5).
//!
//! The condition is `source` + `regex` (the regex must match the source's whole text, as
//! Java's `matches()`) or `xpath` (XPath `boolean()`, or a json-eval match). The short form
//! runs its child mediators when the condition holds; the long form has `<then>` and
//! `<else>`, each either inline mediators or `sequence="name"`.

use regex::Regex;

use super::expressions;
use super::{Env, Mediator, Reference, Step, visit_all};
use crate::base::mediation::MediationError;
use crate::config::values;
use crate::config::{Ctx, Element, SeqId};
use crate::expr::Expression;
use crate::message::MessageContext;

/// A condition shared by `filter` and the `switch` cases: whole-text regex matching.
#[derive(Debug)]
enum Condition {
    Matches { source: Expression, regex: Regex },
    Holds(Expression),
}

/// What a branch runs.
#[derive(Debug)]
pub(crate) enum Branch {
    /// Inline mediators.
    Inline(Vec<Box<dyn Mediator>>),
    /// A named sequence.
    Sequence(SeqId),
}

#[derive(Debug)]
struct Filter {
    condition: Condition,
    then: Branch,
    otherwise: Option<Branch>,
}

/// Parses `<filter>`.
pub(super) fn parse(el: &Element, ctx: &mut Ctx<'_>) -> Option<Box<dyn Mediator>> {
    ctx.check_attrs(el, &["source", "regex", "xpath", "description"]);
    let condition = match (el.attr("source"), el.attr("regex"), el.attr("xpath")) {
        (Some(source), Some(regex), None) => {
            let source = expressions::expression(source, el, ctx.diags);
            let regex = values::whole_regex(&regex.value, &regex.loc, ctx.diags);
            Condition::Matches {
                source: source?,
                regex: regex?,
            }
        }
        (None, None, Some(xpath)) => {
            Condition::Holds(expressions::expression(xpath, el, ctx.diags)?)
        }
        _ => {
            ctx.error(
                &el.loc,
                "<filter> needs either `source` and `regex`, or `xpath`",
            );
            return None;
        }
    };
    let long_form = el
        .elements()
        .any(|c| c.is_synapse() && matches!(c.local_name(), "then" | "else"));
    let (then, otherwise) = if long_form {
        ctx.no_text(el);
        let mut then = None;
        let mut otherwise = None;
        let mut ok = true;
        for child in el.elements() {
            let slot = match child.local_name() {
                "then" if child.is_synapse() => &mut then,
                "else" if child.is_synapse() => &mut otherwise,
                _ => {
                    ctx.error(
                        &child.loc,
                        format!(
                            "<{}> cannot be mixed with <then>/<else> in <filter>",
                            child.local_name()
                        ),
                    );
                    ok = false;
                    continue;
                }
            };
            if slot.is_some() {
                ctx.error(
                    &child.loc,
                    format!("<filter> takes one <{}>", child.local_name()),
                );
                ok = false;
                continue;
            }
            match branch(child, ctx) {
                Some(b) => *slot = Some(b),
                None => ok = false,
            }
        }
        if !ok {
            return None;
        }
        (then.unwrap_or(Branch::Inline(Vec::new())), otherwise)
    } else {
        let before = ctx.diags.error_count();
        let list = super::parse_list(el, ctx);
        if ctx.diags.error_count() != before {
            return None;
        }
        (Branch::Inline(list), None)
    };
    Some(Box::new(Filter {
        condition,
        then,
        otherwise,
    }))
}

/// Parses a `<then>`/`<else>`-like branch: inline mediators or `sequence="name"`.
pub(super) fn branch(el: &Element, ctx: &mut Ctx<'_>) -> Option<Branch> {
    ctx.check_attrs(el, &["sequence"]);
    let before = ctx.diags.error_count();
    match el.attr("sequence") {
        Some(a) => {
            if el.elements().next().is_some() {
                ctx.error(
                    &el.loc,
                    format!(
                        "<{}> takes `sequence` or inline mediators, not both",
                        el.local_name()
                    ),
                );
                return None;
            }
            ctx.no_text(el);
            ctx.sequence_ref(a.value.trim(), &a.loc)
                .map(Branch::Sequence)
        }
        None => {
            let list = super::parse_list(el, ctx);
            (ctx.diags.error_count() == before).then_some(Branch::Inline(list))
        }
    }
}

impl Branch {
    /// The mediators of an inline branch (none for a sequence).
    fn list(&self) -> &[Box<dyn Mediator>] {
        match self {
            Branch::Inline(list) => list,
            Branch::Sequence(_) => &[],
        }
    }

    /// The step that runs this branch.
    pub(super) fn step(&self) -> Step<'_> {
        match self {
            Branch::Inline(list) => Step::Mediators(list),
            Branch::Sequence(id) => Step::Sequence(*id),
        }
    }

    /// Reports what the branch refers to.
    pub(super) fn references(&self, visit: &mut dyn FnMut(Reference)) {
        match self {
            Branch::Inline(list) => visit_all(list, visit),
            Branch::Sequence(id) => visit(Reference::Sequence(*id)),
        }
    }
}

impl Mediator for Filter {
    fn body_use(&self) -> Option<&'static str> {
        let condition = match &self.condition {
            Condition::Matches { source, .. } => super::reads_payload(source, "filter"),
            Condition::Holds(expr) => super::reads_payload(expr, "filter"),
        };
        let branch = |b: &Branch| match b {
            Branch::Inline(list) => super::body_use_of(list),
            Branch::Sequence(_) => None,
        };
        condition
            .or_else(|| branch(&self.then))
            .or_else(|| self.otherwise.as_ref().and_then(branch))
    }

    fn reads_payload(&self) -> bool {
        match &self.condition {
            Condition::Matches { source: expr, .. } | Condition::Holds(expr) => {
                expr.needs_payload()
            }
        }
    }

    fn branch(&self, n: usize) -> Option<&[Box<dyn Mediator>]> {
        match n {
            0 => Some(self.then.list()),
            1 => self.otherwise.as_ref().map(Branch::list),
            _ => None,
        }
    }

    fn mediate<'c>(
        &'c self,
        msg: &mut MessageContext,
        _env: &Env<'c>,
    ) -> Result<Step<'c>, MediationError> {
        let holds = match &self.condition {
            Condition::Matches { source, regex } => {
                let text = eval!(source.string(msg)).unwrap_or_default();
                regex.is_match(&text)
            }
            Condition::Holds(it) => eval!(it.boolean(msg)),
        };
        Ok(match (holds, &self.otherwise) {
            (true, _) => self.then.step(),
            (false, Some(otherwise)) => otherwise.step(),
            (false, None) => Step::Continue,
        })
    }

    fn references(&self, visit: &mut dyn FnMut(Reference)) {
        self.then.references(visit);
        if let Some(o) = &self.otherwise {
            o.references(visit);
        }
    }
}
