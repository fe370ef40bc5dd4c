//! What the fan-out mediators (`clone`, `iterate`) hand the engine: the branches to run,
//! each a copy of the message with its own body and target. The engine runs them
//! (`engine/fan_out.rs`) and an `aggregate` reached by the branches collects them.

use bytes::Bytes;

use super::filter::{self, Branch};
use super::{Mediator, Reference};
use crate::config::{Ctx, Element, EndpointId};

/// A `<target>` of `clone` or `iterate`: what a branch sets, then runs.
#[derive(Debug)]
pub(crate) struct FanTarget {
    /// `soapAction`: the branch's `SOAPAction`.
    pub(crate) soap_action: Option<String>,
    /// `to`: the branch's `To` address.
    pub(crate) to: Option<String>,
    /// The sequence the branch runs (inline or `sequence="key"`).
    pub(crate) sequence: Option<Branch>,
    /// The endpoint the branch is sent to (inline or `endpoint="key"`).
    pub(crate) endpoint: Option<EndpointId>,
}

/// The branches of one fan-out, for the engine to run ([`super::Step::Fork`]).
#[derive(Debug)]
pub struct Fork<'c> {
    /// The mediator's `id` (empty when it has none): names the correlation properties and
    /// the branches in the trace.
    pub(crate) id: &'c str,
    /// Run the branches one after another, in order.
    pub(crate) sequential: bool,
    /// The parent goes on after the branches (else the branches' outcome is its outcome).
    pub(crate) continue_parent: bool,
    /// One entry per branch, in order.
    pub(crate) branches: Vec<ForkBranch<'c>>,
}

/// One branch of a [`Fork`].
#[derive(Debug)]
pub struct ForkBranch<'c> {
    /// What the branch runs.
    pub(crate) target: &'c FanTarget,
    /// Its body and `Content-Type`; `None`: a copy of the parent's.
    pub(crate) body: Option<(Bytes, &'static str)>,
}

// === impl FanTarget ===

impl FanTarget {
    /// What the target reads of the body (for the gRPC checks).
    pub(crate) fn body_use(&self) -> Option<&'static str> {
        match &self.sequence {
            Some(Branch::Inline(list)) => super::body_use_of(list),
            _ => None,
        }
    }

    /// The inline mediators of the target's sequence (empty for a key or none).
    pub(crate) fn list(&self) -> &[Box<dyn Mediator>] {
        match &self.sequence {
            Some(Branch::Inline(list)) => list,
            _ => &[],
        }
    }

    /// Reports what the target refers to.
    pub(crate) fn references(&self, visit: &mut dyn FnMut(Reference)) {
        if let Some(s) = &self.sequence {
            s.references(visit);
        }
        if let Some(id) = self.endpoint {
            visit(Reference::Endpoint(id));
        }
    }
}

/// Reports the references of every target.
pub(crate) fn visit_targets(targets: &[FanTarget], visit: &mut dyn FnMut(Reference)) {
    for t in targets {
        t.references(visit);
    }
}

/// Parses a `<target>` of `clone` or `iterate`: `sequence`/`endpoint` keys or one inline
/// `<sequence>` or `<endpoint>`, plus `soapAction` and `to`. A target that both runs a
/// sequence and names an endpoint is refused (Synapse would silently ignore the endpoint).
pub(crate) fn parse_target(el: &Element, ctx: &mut Ctx<'_>) -> Option<FanTarget> {
    ctx.check_attrs(el, &["sequence", "endpoint", "soapAction", "to"]);
    ctx.no_text(el);
    let before = ctx.diags.error_count();
    let mut sequence = el
        .attr("sequence")
        .and_then(|a| ctx.sequence_ref(a.value.trim(), &a.loc))
        .map(Branch::Sequence);
    let mut endpoint = el
        .attr("endpoint")
        .and_then(|a| ctx.endpoint_ref(a.value.trim(), &a.loc));
    for child in el.elements() {
        match child.local_name() {
            "sequence" if child.is_synapse() && sequence.is_none() => {
                sequence = filter::branch(child, ctx);
            }
            "endpoint" if child.is_synapse() && endpoint.is_none() => {
                endpoint = crate::config::endpoint_inline(child, ctx);
            }
            "sequence" | "endpoint" if child.is_synapse() => ctx.error(
                &child.loc,
                format!(
                    "<target> takes one {} (attribute or child)",
                    child.local_name()
                ),
            ),
            _ => ctx.unknown_child(el, child),
        }
    }
    if sequence.is_some() && endpoint.is_some() {
        ctx.error(
            &el.loc,
            "<target> runs a sequence or sends to an endpoint, not both (put a <call> in the sequence)",
        );
    }
    if ctx.diags.error_count() != before {
        return None;
    }
    Some(FanTarget {
        soap_action: el.attr("soapAction").map(|a| a.value.clone()),
        to: el.attr("to").map(|a| a.value.clone()),
        sequence,
        endpoint,
    })
}
