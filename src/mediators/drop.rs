//! `<drop/>`: stop; nothing more is sent to any backend.

use super::{Env, Mediator, Step};
use crate::base::mediation::MediationError;
use crate::config::{Ctx, Element};
use crate::message::MessageContext;

#[derive(Debug)]
struct Drop;

/// Parses `<drop/>`.
pub(super) fn parse(el: &Element, ctx: &mut Ctx<'_>) -> Option<Box<dyn Mediator>> {
    ctx.check_attrs(el, &[]);
    ctx.no_children(el);
    Some(Box::new(Drop))
}

/// A `<drop/>` made by another mediator (`throttle` ends the flow after `onReject`).
pub(super) fn stop() -> Box<dyn Mediator> {
    Box::new(Drop)
}

impl Mediator for Drop {
    fn mediate<'c>(
        &'c self,
        _msg: &mut MessageContext,
        _env: &Env<'c>,
    ) -> Result<Step<'c>, MediationError> {
        Ok(Step::Drop)
    }
}
