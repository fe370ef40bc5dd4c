//! `<call [blocking]>`: send to an endpoint and continue the same flow with its response.

use super::{Env, Mediator, Reference, Step, Target, endpoint_child};
use crate::base::mediation::MediationError;
use crate::config::{Ctx, Element, values};
use crate::message::MessageContext;

#[derive(Debug)]
struct Call {
    endpoint: Option<Target>,
}

/// Parses `<call>`. Both blocking and non-blocking calls continue at the next mediator
/// with the response; Axon never blocks a thread, so the two differ only in name.
pub(super) fn parse(el: &Element, ctx: &mut Ctx<'_>) -> Option<Box<dyn Mediator>> {
    ctx.check_attrs(
        el,
        &[
            "blocking",
            "initAxis2ClientOptions",
            "axis2xml",
            "repository",
        ],
    );
    for attr in ["initAxis2ClientOptions", "axis2xml", "repository"] {
        if let Some(a) = el.attr(attr) {
            ctx.unsupported(&a.loc, format!("attribute `{attr}` of <call>"));
        }
    }
    if let Some(a) = el.attr("blocking") {
        values::boolean(&a.value, &a.loc, "blocking", ctx.diags)?;
    }
    let endpoint = endpoint_child(el, ctx).ok()?;
    Some(Box::new(Call { endpoint }))
}

impl Mediator for Call {
    fn body_use(&self) -> Option<&'static str> {
        let expr = self.endpoint.as_ref()?.expression()?;
        super::reads_payload(expr, "call endpoint key-expression")
    }

    fn mediate<'c>(
        &'c self,
        msg: &mut MessageContext,
        env: &Env<'c>,
    ) -> Result<Step<'c>, MediationError> {
        let endpoint = match &self.endpoint {
            Some(target) => Some(eval!(target.endpoint(msg, env))),
            None => None,
        };
        Ok(Step::Call(endpoint))
    }

    fn references(&self, visit: &mut dyn FnMut(Reference)) {
        if let Some(Target::Fixed(id)) = self.endpoint {
            visit(Reference::Endpoint(id));
        }
    }
}
