//! `<sequence key="name"/>` as a mediator: run another sequence, then continue.

use super::{Env, Mediator, Reference, Step};
use crate::config::{Ctx, Element, SeqId};
use crate::engine::MediationError;
use crate::message::MessageContext;

#[derive(Debug)]
struct Invoke {
    target: SeqId,
}

/// Parses `<sequence key>` inside a sequence.
pub(super) fn parse(el: &Element, ctx: &mut Ctx<'_>) -> Option<Box<dyn Mediator>> {
    ctx.check_attrs(el, &["key"]);
    ctx.no_children(el);
    let key = ctx.required_attr(el, "key")?;
    if key.value.trim().starts_with('{') {
        ctx.unsupported(&key.loc, "a computed sequence key (`{expression}`)");
        return None;
    }
    let target = ctx.sequence_ref(key.value.trim(), &key.loc)?;
    Some(Box::new(Invoke { target }))
}

/// A mediator that runs `target`.
pub(super) fn invoke(target: SeqId) -> Box<dyn Mediator> {
    Box::new(Invoke { target })
}

impl Mediator for Invoke {
    fn mediate<'c>(
        &'c self,
        _msg: &mut MessageContext,
        _env: &Env<'c>,
    ) -> Result<Step<'c>, MediationError> {
        Ok(Step::Sequence(self.target))
    }

    fn references(&self, visit: &mut dyn FnMut(Reference)) {
        visit(Reference::Sequence(self.target));
    }
}
