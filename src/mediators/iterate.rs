//! `<iterate>`: splits the payload into one message per matched element (reference
//! §7.2): XML by XPath, JSON by `json-eval` (the expression must select an array). Each
//! split message carries the parent's properties and only its own element as its body,
//! so a split of 10,000 elements holds each element once, never 10,000 copies of the
//! parent. The engine runs the split messages (`engine/fan_out.rs`) as it runs `clone`'s.

use super::clone::fan_flags;
use super::fan_out::{self, Piece, Split};
use super::{Env, Mediator, Reference, Step, expressions};
use crate::base::mediation::MediationError;
use crate::config::{Ctx, Element};
use crate::message::MessageContext;

#[derive(Debug)]
struct Iterate {
    split: Split,
    sequential: bool,
    continue_parent: bool,
}

/// Parses `<iterate expression [id] [sequential] [continueParent] [preservePayload]
/// [attachPath]>` with one `<target>`.
pub(super) fn parse(el: &Element, ctx: &mut Ctx<'_>) -> Option<Box<dyn Mediator>> {
    ctx.check_attrs(
        el,
        &[
            "expression",
            "id",
            "sequential",
            "continueParent",
            "preservePayload",
            "attachPath",
        ],
    );
    ctx.no_text(el);
    let flags = fan_flags(el, ctx)?;
    let before = ctx.diags.error_count();
    if let Some(a) = el
        .attr("preservePayload")
        .filter(|a| a.value.trim() == "true")
    {
        ctx.unsupported(&a.loc, "`preservePayload=\"true\"` on <iterate>");
    }
    if let Some(a) = el.attr("attachPath") {
        ctx.unsupported(&a.loc, "`attachPath` on <iterate>");
    }
    let expression = ctx
        .required_attr(el, "expression")
        .and_then(|a| expressions::expression(a, el, ctx.diags));
    let mut target = None;
    for child in el.elements() {
        match child.local_name() {
            "target" if child.is_synapse() && target.is_none() => {
                target = fan_out::parse_target(child, ctx);
            }
            "target" if child.is_synapse() => {
                ctx.error(&child.loc, "<iterate> takes one <target>");
            }
            _ => ctx.unknown_child(el, child),
        }
    }
    if el.elements().all(|c| c.local_name() != "target") {
        ctx.error(&el.loc, "<iterate> needs a <target>");
    }
    if ctx.diags.error_count() != before {
        return None;
    }
    Some(Box::new(Iterate {
        split: Split {
            id: flags.id,
            expression: expression?,
            target: target?,
        },
        sequential: flags.sequential,
        continue_parent: flags.continue_parent,
    }))
}

impl Iterate {
    fn fork(&self, pieces: Vec<Piece>) -> Step<'_> {
        let flags = (self.sequential, self.continue_parent);
        self.split.fork(pieces, flags, None)
    }
}

impl Mediator for Iterate {
    fn mediate<'c>(
        &'c self,
        msg: &mut MessageContext,
        _env: &Env<'c>,
    ) -> Result<Step<'c>, MediationError> {
        let pieces = eval!(fan_out::split(&self.split.expression, msg));
        Ok(self.fork(pieces))
    }

    fn fork_from(&self, bodies: Vec<Option<Piece>>) -> Option<Step<'_>> {
        Some(self.fork(bodies.into_iter().flatten().collect()))
    }

    fn body_use(&self) -> Option<&'static str> {
        Some("iterate")
    }

    fn branch(&self, n: usize) -> Option<&[Box<dyn Mediator>]> {
        self.split.branch(n)
    }

    fn references(&self, visit: &mut dyn FnMut(Reference)) {
        self.split.target.references(visit);
    }
}
