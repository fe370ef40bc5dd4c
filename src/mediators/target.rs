//! The endpoint of a `send` or `call`: fixed at load, or computed per message by
//! `<endpoint key-expression="xpath"/>` (Synapse's resolving endpoint). A computed key
//! names a top-level endpoint, or a local entry or registry key holding one: only the
//! configured endpoints are reachable, never an address taken from the message.

use super::Env;
use crate::config::{Ctx, Element, EndpointId};
use crate::expr::{ExprError, Expression};
use crate::message::MessageContext;

/// Longest part of a computed key quoted in an error.
const QUOTED: usize = 128;

/// Where a `send` or `call` sends.
#[derive(Debug)]
pub(crate) enum Target {
    /// A named or inline endpoint, resolved at load.
    Fixed(EndpointId),
    /// `key-expression`: the endpoint's name (or key) evaluated per message.
    Computed(Expression),
}

impl Target {
    /// The endpoint for this message.
    ///
    /// # Errors
    /// The expression's errors ([`ExprError::NeedBody`] first); a computed key that names
    /// no endpoint is [`ExprError::Failed`].
    pub(crate) fn endpoint(
        &self,
        msg: &mut MessageContext,
        env: &Env<'_>,
    ) -> Result<EndpointId, ExprError> {
        let expr = match self {
            Target::Fixed(id) => return Ok(*id),
            Target::Computed(expr) => expr,
        };
        let key = expr.string(msg)?.unwrap_or_default();
        let key = key.trim();
        env.config.endpoint_for_key(key).ok_or_else(|| {
            let quoted: String = key.chars().take(QUOTED).collect();
            ExprError::Failed(format!(
                "the endpoint key-expression `{expr}` gave {quoted:?}, which names no endpoint"
            ))
        })
    }

    /// The expression, when the target is computed.
    pub(crate) fn expression(&self) -> Option<&Expression> {
        match self {
            Target::Computed(expr) => Some(expr),
            Target::Fixed(_) => None,
        }
    }
}

/// Parses `<endpoint key-expression="xpath"/>`; `None` after reporting a problem.
pub(crate) fn computed(child: &Element, ctx: &mut Ctx<'_>) -> Option<Target> {
    ctx.check_attrs(child, &["key-expression"]);
    ctx.no_text(child);
    ctx.no_children(child);
    let attr = child.attr("key-expression")?;
    match Expression::compile(&attr.value, &child.namespaces) {
        Ok(expr) => Some(Target::Computed(expr)),
        Err(message) => {
            ctx.error(&attr.loc, format!("`key-expression`: {message}"));
            None
        }
    }
}
