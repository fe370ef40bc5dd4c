//! `<send [receive]>`: hand the message to an endpoint (or, on a response, to the client).

use super::{Env, Mediator, Reference, Step, endpoint_child};
use crate::config::{Ctx, Element, EndpointId, SeqId, values};
use crate::engine::MediationError;
use crate::message::MessageContext;

#[derive(Debug)]
struct Send {
    endpoint: Option<EndpointId>,
    receive: Option<SeqId>,
}

/// Parses `<send>`.
pub(super) fn parse(el: &Element, ctx: &mut Ctx<'_>) -> Option<Box<dyn Mediator>> {
    ctx.check_attrs(el, &["receive", "buildmessage"]);
    if let Some(a) = el.attr("buildmessage") {
        values::boolean(&a.value, &a.loc, "buildmessage", ctx.diags)?;
    }
    let receive = match el.attr("receive") {
        Some(a) if a.value.trim().starts_with('{') => {
            ctx.unsupported(&a.loc, "a computed `receive` sequence");
            return None;
        }
        Some(a) => Some(ctx.sequence_ref(a.value.trim(), &a.loc)?),
        None => None,
    };
    let endpoint = endpoint_child(el, ctx).ok()?;
    Some(Box::new(Send { endpoint, receive }))
}

/// A mediator that sends to `endpoint`.
pub(super) fn to(endpoint: EndpointId) -> Box<dyn Mediator> {
    Box::new(Send {
        endpoint: Some(endpoint),
        receive: None,
    })
}

impl Mediator for Send {
    fn mediate<'c>(
        &'c self,
        _msg: &mut MessageContext,
        _env: &Env<'c>,
    ) -> Result<Step<'c>, MediationError> {
        Ok(Step::Send {
            endpoint: self.endpoint,
            receive: self.receive,
        })
    }

    fn references(&self, visit: &mut dyn FnMut(Reference)) {
        if let Some(id) = self.endpoint {
            visit(Reference::Endpoint(id));
        }
        if let Some(id) = self.receive {
            visit(Reference::Receive(id));
        }
    }
}
