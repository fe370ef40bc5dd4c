//! `<switch source>`: evaluate once, run the first `<case regex>` whose regex matches the
//! whole text, else `<default>` (reference §5). A source with no value goes to `default`.

use regex::Regex;

use super::expressions;
use super::{Env, Mediator, Reference, Step, visit_all};
use crate::base::mediation::MediationError;
use crate::config::values;
use crate::config::{Ctx, Element};
use crate::expr::Expression;
use crate::message::MessageContext;

#[derive(Debug)]
struct Switch {
    source: Expression,
    cases: Vec<(Regex, Vec<Box<dyn Mediator>>)>,
    default: Option<Vec<Box<dyn Mediator>>>,
}

/// Parses `<switch>`.
pub(super) fn parse(el: &Element, ctx: &mut Ctx<'_>) -> Option<Box<dyn Mediator>> {
    ctx.check_attrs(el, &["source", "description"]);
    ctx.no_text(el);
    let source = ctx
        .required_attr(el, "source")
        .and_then(|a| expressions::expression(a, el, ctx.diags));
    let mut cases = Vec::new();
    let mut default = None;
    let mut ok = true;
    let before = ctx.diags.error_count();
    for child in el.elements() {
        match child.local_name() {
            "case" if child.is_synapse() => {
                if default.is_some() {
                    ctx.error(&child.loc, "<case> after <default> is never reached");
                    ok = false;
                }
                ctx.check_attrs(child, &["regex"]);
                let regex = ctx
                    .required_attr(child, "regex")
                    .and_then(|a| values::whole_regex(&a.value, &a.loc, ctx.diags));
                let list = super::parse_list(child, ctx);
                match regex {
                    Some(r) => cases.push((r, list)),
                    None => ok = false,
                }
            }
            "default" if child.is_synapse() => {
                if default.is_some() {
                    ctx.error(&child.loc, "<switch> takes one <default>");
                    ok = false;
                }
                ctx.check_attrs(child, &[]);
                default = Some(super::parse_list(child, ctx));
            }
            _ => {
                ctx.unknown_child(el, child);
                ok = false;
            }
        }
    }
    if !ok || ctx.diags.error_count() != before {
        return None;
    }
    Some(Box::new(Switch {
        source: source?,
        cases,
        default,
    }))
}

impl Mediator for Switch {
    fn body_use(&self) -> Option<&'static str> {
        super::reads_payload(&self.source, "switch")
            .or_else(|| {
                self.cases
                    .iter()
                    .find_map(|(_, list)| super::body_use_of(list))
            })
            .or_else(|| self.default.as_deref().and_then(super::body_use_of))
    }

    fn reads_payload(&self) -> bool {
        self.source.needs_payload()
    }

    fn branch(&self, n: usize) -> Option<&[Box<dyn Mediator>]> {
        match self.cases.get(n) {
            Some((_, list)) => Some(list),
            None if n == self.cases.len() => self.default.as_deref(),
            None => None,
        }
    }

    fn mediate<'c>(
        &'c self,
        msg: &mut MessageContext,
        _env: &Env<'c>,
    ) -> Result<Step<'c>, MediationError> {
        let text = eval!(self.source.string(msg));
        let chosen = text.and_then(|t| {
            self.cases
                .iter()
                .find(|(regex, _)| regex.is_match(&t))
                .map(|(_, list)| list)
        });
        Ok(match chosen.or(self.default.as_ref()) {
            Some(list) => Step::Mediators(list),
            None => Step::Continue,
        })
    }

    fn references(&self, visit: &mut dyn FnMut(Reference)) {
        for (_, list) in &self.cases {
            visit_all(list, visit);
        }
        if let Some(list) = &self.default {
            visit_all(list, visit);
        }
    }
}
