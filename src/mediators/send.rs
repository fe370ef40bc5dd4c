//! `<send [receive]>`: hand the message to an endpoint (or, on a response, to the client).

use super::expressions::{self, Dynamic};
use super::{Env, Mediator, Reference, Step, Target, endpoint_child};
use crate::base::mediation::MediationError;
use crate::config::{Ctx, Element, EndpointId, SeqId, values};
use crate::expr::Expression;
use crate::message::MessageContext;

#[derive(Debug)]
enum Receive {
    None,
    Fixed(SeqId),
    /// `receive="{expression}"`: a sequence name computed per message.
    Computed(Expression),
}

#[derive(Debug)]
struct Send {
    endpoint: Option<Target>,
    receive: Receive,
}

/// Parses `<send>`.
pub(super) fn parse(el: &Element, ctx: &mut Ctx<'_>) -> Option<Box<dyn Mediator>> {
    ctx.check_attrs(el, &["receive", "buildmessage"]);
    if let Some(a) = el.attr("buildmessage") {
        values::boolean(&a.value, &a.loc, "buildmessage", ctx.diags)?;
    }
    let receive = match el.attr("receive") {
        Some(a) => match expressions::dynamic(a, el, ctx.diags)? {
            Dynamic::Literal(name) => Receive::Fixed(ctx.sequence_ref(&name, &a.loc)?),
            Dynamic::Expr(it) => Receive::Computed(it),
        },
        None => Receive::None,
    };
    let endpoint = endpoint_child(el, ctx).ok()?;
    Some(Box::new(Send { endpoint, receive }))
}

/// A mediator that sends to `endpoint`.
pub(super) fn to(endpoint: EndpointId) -> Box<dyn Mediator> {
    Box::new(Send {
        endpoint: Some(Target::Fixed(endpoint)),
        receive: Receive::None,
    })
}

impl Mediator for Send {
    fn body_use(&self) -> Option<&'static str> {
        let receive = match &self.receive {
            Receive::Computed(expr) => super::reads_payload(expr, "send receive expression"),
            _ => None,
        };
        receive.or_else(|| {
            let expr = self.endpoint.as_ref()?.expression()?;
            super::reads_payload(expr, "send endpoint key-expression")
        })
    }

    fn mediate<'c>(
        &'c self,
        msg: &mut MessageContext,
        env: &Env<'c>,
    ) -> Result<Step<'c>, MediationError> {
        let endpoint = eval!(
            self.endpoint
                .as_ref()
                .map(|t| t.endpoint(msg, env))
                .transpose()
        );
        let receive = match &self.receive {
            Receive::None => None,
            Receive::Fixed(id) => Some(*id),
            Receive::Computed(it) => {
                let name = eval!(it.string(msg)).unwrap_or_default();
                Some(super::sequence::named(
                    env,
                    name.trim(),
                    "the computed receive sequence",
                )?)
            }
        };
        Ok(Step::Send { endpoint, receive })
    }

    fn references(&self, visit: &mut dyn FnMut(Reference)) {
        if let Some(Target::Fixed(id)) = self.endpoint {
            visit(Reference::Endpoint(id));
        }
        if let Receive::Fixed(id) = self.receive {
            visit(Reference::Receive(id));
        }
    }
}
