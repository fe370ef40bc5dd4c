//! `<in>` and `<out>`: run their children only on requests (`in`) or only on responses
//! (`out`), as in Synapse's `main` sequence (reference §5).

use super::{Env, Mediator, Reference, Step, visit_all};
use crate::base::mediation::MediationError;
use crate::config::{Ctx, Element};
use crate::message::MessageContext;

#[derive(Debug)]
struct InOut {
    /// True for `<out>`.
    responses: bool,
    mediators: Vec<Box<dyn Mediator>>,
}

/// Parses `<in>`.
pub(super) fn parse_in(el: &Element, ctx: &mut Ctx<'_>) -> Option<Box<dyn Mediator>> {
    parse(el, ctx, false)
}

/// Parses `<out>`.
pub(super) fn parse_out(el: &Element, ctx: &mut Ctx<'_>) -> Option<Box<dyn Mediator>> {
    parse(el, ctx, true)
}

fn parse(el: &Element, ctx: &mut Ctx<'_>, responses: bool) -> Option<Box<dyn Mediator>> {
    ctx.check_attrs(el, &["description"]);
    let before = ctx.diags.error_count();
    let mediators = super::parse_list(el, ctx);
    (ctx.diags.error_count() == before).then(|| {
        Box::new(InOut {
            responses,
            mediators,
        }) as Box<dyn Mediator>
    })
}

impl Mediator for InOut {
    fn body_use(&self) -> Option<&'static str> {
        super::body_use_of(&self.mediators)
    }

    fn reads_payload(&self) -> bool {
        false
    }

    fn branch(&self, n: usize) -> Option<&[Box<dyn Mediator>]> {
        (n == 0).then_some(self.mediators.as_slice())
    }

    fn mediate<'c>(
        &'c self,
        msg: &mut MessageContext,
        _env: &Env<'c>,
    ) -> Result<Step<'c>, MediationError> {
        Ok(if msg.is_response() == self.responses {
            Step::Mediators(&self.mediators)
        } else {
            Step::Continue
        })
    }

    fn references(&self, visit: &mut dyn FnMut(Reference)) {
        visit_all(&self.mediators, visit);
    }

    fn handles_responses(&self) -> bool {
        self.responses
    }
}
