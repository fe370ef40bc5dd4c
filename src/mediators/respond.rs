//! `<respond/>`: send the current message back to the client and stop.

use super::{Env, Mediator, Step};
use crate::base::mediation::MediationError;
use crate::config::{Ctx, Element};
use crate::message::MessageContext;

#[derive(Debug)]
struct Respond;

/// Parses `<respond/>`.
pub(super) fn parse(el: &Element, ctx: &mut Ctx<'_>) -> Option<Box<dyn Mediator>> {
    ctx.check_attrs(el, &[]);
    ctx.no_children(el);
    Some(Box::new(Respond))
}

impl Mediator for Respond {
    fn mediate<'c>(
        &'c self,
        _msg: &mut MessageContext,
        _env: &Env<'c>,
    ) -> Result<Step<'c>, MediationError> {
        Ok(Step::Respond)
    }
}
