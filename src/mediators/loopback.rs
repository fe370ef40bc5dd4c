//! `<loopback/>`: end the request flow and send the current message, as the response,
//! through the out path (the resource's out-sequence, or straight back) (reference §5).

use super::{Env, Mediator, Step};
use crate::base::mediation::MediationError;
use crate::config::{Ctx, Element};
use crate::message::MessageContext;

#[derive(Debug)]
struct Loopback;

/// Parses `<loopback/>`.
pub(super) fn parse(el: &Element, ctx: &mut Ctx<'_>) -> Option<Box<dyn Mediator>> {
    ctx.check_attrs(el, &["description"]);
    ctx.no_children(el);
    Some(Box::new(Loopback))
}

impl Mediator for Loopback {
    fn mediate<'c>(
        &'c self,
        msg: &mut MessageContext,
        _env: &Env<'c>,
    ) -> Result<Step<'c>, MediationError> {
        // On a response there is no in-flow to leave: Synapse ignores it there.
        if msg.is_response() {
            return Ok(Step::Continue);
        }
        Ok(Step::Loopback)
    }
}
