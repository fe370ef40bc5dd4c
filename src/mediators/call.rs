//! `<call [blocking]>`: send to an endpoint and continue the same flow with its response.

use super::{Env, Mediator, Reference, Step, endpoint_child};
use crate::base::mediation::MediationError;
use crate::config::{Ctx, Element, EndpointId, values};
use crate::message::MessageContext;

#[derive(Debug)]
struct Call {
    endpoint: Option<EndpointId>,
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
    fn mediate<'c>(
        &'c self,
        _msg: &mut MessageContext,
        _env: &Env<'c>,
    ) -> Result<Step<'c>, MediationError> {
        Ok(Step::Call(self.endpoint))
    }

    fn references(&self, visit: &mut dyn FnMut(Reference)) {
        if let Some(id) = self.endpoint {
            visit(Reference::Endpoint(id));
        }
    }
}
