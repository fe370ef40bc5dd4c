//! `<clone>`: sends a copy of the message to each `<target>` (reference §7.4). The engine
//! runs the copies (`engine/fan_out.rs`), concurrently unless `sequential="true"`; an
//! `<aggregate>` the copies reach collects their results.

use super::fan_out::{self, FanTarget, Fork};
use super::{Env, Mediator, Reference, Step};
use crate::base::mediation::MediationError;
use crate::config::{Ctx, Element, values};
use crate::message::MessageContext;

#[derive(Debug)]
struct Clone {
    id: String,
    sequential: bool,
    continue_parent: bool,
    targets: Vec<FanTarget>,
}

/// Parses `<clone [id] [sequential] [continueParent]>` with one or more `<target>`s.
pub(super) fn parse(el: &Element, ctx: &mut Ctx<'_>) -> Option<Box<dyn Mediator>> {
    ctx.check_attrs(el, &["id", "sequential", "continueParent"]);
    ctx.no_text(el);
    let flags = fan_flags(el, ctx)?;
    let before = ctx.diags.error_count();
    let mut targets = Vec::new();
    for child in el.elements() {
        match child.local_name() {
            "target" if child.is_synapse() => targets.extend(fan_out::parse_target(child, ctx)),
            _ => ctx.unknown_child(el, child),
        }
    }
    if targets.is_empty() && ctx.diags.error_count() == before {
        ctx.error(&el.loc, "<clone> needs at least one <target>");
    }
    if ctx.diags.error_count() != before {
        return None;
    }
    Some(Box::new(Clone {
        id: flags.id,
        sequential: flags.sequential,
        continue_parent: flags.continue_parent,
        targets,
    }))
}

/// The attributes `clone` and `iterate` share.
pub(super) struct FanFlags {
    pub(super) id: String,
    pub(super) sequential: bool,
    pub(super) continue_parent: bool,
}

/// Reads `id`, `sequential` and `continueParent` (both `false` by default).
pub(super) fn fan_flags(el: &Element, ctx: &mut Ctx<'_>) -> Option<FanFlags> {
    let flag = |name: &str, ctx: &mut Ctx<'_>| match el.attr(name) {
        Some(a) => values::boolean(&a.value, &a.loc, name, ctx.diags),
        None => Some(false),
    };
    let sequential = flag("sequential", ctx);
    let continue_parent = flag("continueParent", ctx);
    Some(FanFlags {
        id: el
            .attr("id")
            .map(|a| a.value.trim().to_owned())
            .unwrap_or_default(),
        sequential: sequential?,
        continue_parent: continue_parent?,
    })
}

impl Mediator for Clone {
    fn mediate<'c>(
        &'c self,
        _msg: &mut MessageContext,
        _env: &Env<'c>,
    ) -> Result<Step<'c>, MediationError> {
        let branches = fan_out::copies(&self.targets);
        Ok(Step::Fork(Fork {
            id: &self.id,
            sequential: self.sequential,
            continue_parent: self.continue_parent,
            branches,
            in_place: None,
        }))
    }

    fn body_use(&self) -> Option<&'static str> {
        // Every copy carries the body: a gRPC call's stream cannot be copied.
        Some("clone")
    }

    fn reads_payload(&self) -> bool {
        false
    }

    fn branch(&self, n: usize) -> Option<&[Box<dyn Mediator>]> {
        self.targets.get(n).map(FanTarget::list)
    }

    fn references(&self, visit: &mut dyn FnMut(Reference)) {
        fan_out::visit_targets(&self.targets, visit);
    }
}
