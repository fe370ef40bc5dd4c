//! `<sequence key="name"/>` as a mediator: run another sequence, then continue. The key
//! may be computed per message (`key="{expression}"`), and then names a sequence that is
//! looked up when the message gets there.

use super::expressions::{self, Dynamic};
use super::{Env, Mediator, Reference, Step};
use crate::base::mediation::MediationError;
use crate::config::{Ctx, Element, SeqId};
use crate::expr::Expression;
use crate::message::MessageContext;

#[derive(Debug)]
enum Invoke {
    Fixed(SeqId),
    Computed(Expression),
}

/// Parses `<sequence key>` inside a sequence.
pub(super) fn parse(el: &Element, ctx: &mut Ctx<'_>) -> Option<Box<dyn Mediator>> {
    ctx.check_attrs(el, &["key"]);
    ctx.no_children(el);
    let key = ctx.required_attr(el, "key")?;
    Some(Box::new(match expressions::dynamic(key, el, ctx.diags)? {
        Dynamic::Literal(name) => Invoke::Fixed(ctx.sequence_ref(&name, &key.loc)?),
        Dynamic::Expr(it) => Invoke::Computed(it),
    }))
}

/// The named sequence `name` of this configuration, or a mediation error.
pub(super) fn named(env: &Env<'_>, name: &str, what: &str) -> Result<SeqId, MediationError> {
    env.config
        .sequence_named(name)
        .ok_or_else(|| MediationError::Failed(format!("{what} `{name}` names no sequence")))
}

/// A mediator that runs `target`.
pub(super) fn invoke(target: SeqId) -> Box<dyn Mediator> {
    Box::new(Invoke::Fixed(target))
}

impl Mediator for Invoke {
    fn body_use(&self) -> Option<&'static str> {
        match self {
            Invoke::Computed(expr) => super::reads_payload(expr, "sequence key expression"),
            Invoke::Fixed(_) => None,
        }
    }

    fn mediate<'c>(
        &'c self,
        msg: &mut MessageContext,
        env: &Env<'c>,
    ) -> Result<Step<'c>, MediationError> {
        match self {
            Invoke::Fixed(id) => Ok(Step::Sequence(*id)),
            Invoke::Computed(it) => {
                let name = eval!(it.string(msg)).unwrap_or_default();
                Ok(Step::Sequence(named(
                    env,
                    name.trim(),
                    "the computed sequence key",
                )?))
            }
        }
    }

    fn references(&self, visit: &mut dyn FnMut(Reference)) {
        if let Invoke::Fixed(id) = self {
            visit(Reference::Sequence(*id));
        }
    }
}
