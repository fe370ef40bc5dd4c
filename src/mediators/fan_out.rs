//! What the fan-out mediators (`clone`, `iterate`) hand the engine: the branches to run,
//! each a copy of the message with its own body and target. The engine runs them
//! (`engine/fan_out.rs`) and an `aggregate` reached by the branches collects them.

use bytes::Bytes;
use sxd_xpath::Value as XValue;
use sxd_xpath::nodeset::Node;

use super::filter::{self, Branch};
use super::{Mediator, Reference, Step};
use crate::config::{Ctx, Element, EndpointId};
use crate::expr::{ExprError, Expression};
use crate::message::xml::element_to_string;
use crate::message::{MessageContext, soap};

/// A split message's body and `Content-Type`.
pub(crate) type Piece = (Bytes, &'static str);

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
    /// In place (`foreach`): each branch runs only its target, and what the branches end
    /// with is put back into the parent, in order, by this; the parent goes on.
    pub(crate) in_place: Option<&'c dyn Reassemble>,
}

/// Puts the results of an in-place fan-out (`foreach`) back into the parent, in order.
pub trait Reassemble: std::fmt::Debug + Sync {
    /// Puts `items` (the bodies the branches ended with, in the branches' order; `None`
    /// for a branch that failed) into `parent`.
    ///
    /// # Errors
    /// A result that does not fit where its element was.
    fn reassemble(
        &self,
        parent: &mut MessageContext,
        items: Vec<Option<Bytes>>,
    ) -> Result<(), crate::base::mediation::MediationError>;
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

/// What `iterate` and `foreach` split by, and what each piece runs.
#[derive(Debug)]
pub(crate) struct Split {
    pub(crate) id: String,
    pub(crate) expression: Expression,
    pub(crate) target: FanTarget,
}

impl Split {
    /// The fan-out of `pieces`, each to the target.
    pub(crate) fn fork<'c>(
        &'c self,
        pieces: Vec<Piece>,
        (sequential, continue_parent): (bool, bool),
        in_place: Option<&'c dyn Reassemble>,
    ) -> Step<'c> {
        let branches = pieces
            .into_iter()
            .map(|piece| ForkBranch {
                target: &self.target,
                body: Some(piece),
            })
            .collect();
        Step::Fork(Fork {
            id: &self.id,
            sequential,
            continue_parent,
            branches,
            in_place,
        })
    }

    /// The target's inline mediators, as branch 0.
    pub(crate) fn branch(&self, n: usize) -> Option<&[Box<dyn Mediator>]> {
        (n == 0).then(|| self.target.list())
    }
}

/// One branch per target, each a copy of the parent's body (`clone`, `scatter-gather`).
pub(crate) fn copies(targets: &[FanTarget]) -> Vec<ForkBranch<'_>> {
    targets
        .iter()
        .map(|target| ForkBranch { target, body: None })
        .collect()
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

/// Splits the payload of `msg` by `expression`: one piece per element the XPath selects,
/// or per item of the array the json-eval selects.
///
/// # Errors
/// The expression's errors ([`ExprError::NeedBody`] first); a selection that is not
/// elements, or not an array.
pub(crate) fn split(
    expression: &Expression,
    msg: &mut MessageContext,
) -> Result<Vec<Piece>, ExprError> {
    if expression.is_json() {
        split_json(expression, msg)
    } else {
        split_xml(expression, msg)
    }
}

/// One piece per element of the array the json-eval selects.
fn split_json(expression: &Expression, msg: &mut MessageContext) -> Result<Vec<Piece>, ExprError> {
    expression.prepare(msg)?;
    let (Some(path), Some(doc)) = (expression.as_json(), msg.json_value()) else {
        return Err(ExprError::NeedBody);
    };
    match path.evaluate(doc) {
        Some(serde_json::Value::Array(items)) => Ok(items
            .iter()
            .map(|item| (Bytes::from(item.to_string()), "application/json"))
            .collect()),
        None => Ok(Vec::new()),
        Some(_) => Err(ExprError::Failed(format!(
            "the iterate expression `{}` does not select a JSON array",
            expression
        ))),
    }
}

/// One piece per element the XPath selects, in document order: in a SOAP envelope of
/// the parent's version when the parent is SOAP, else the element alone.
fn split_xml(expression: &Expression, msg: &mut MessageContext) -> Result<Vec<Piece>, ExprError> {
    expression.prepare(msg)?;
    let soap = msg.body_bytes().ok().and_then(|b| soap::sniff(&b));
    let content_type = match soap {
        Some(version) => version.media_type(),
        None => "application/xml",
    };
    let (Some(xpath), Some(doc)) = (expression.as_xpath(), msg.xml_doc()) else {
        return Err(ExprError::NeedBody);
    };
    let nodes = match xpath.select(doc, msg).map_err(ExprError::XPath)? {
        XValue::Nodeset(set) => set.document_order(),
        _ => {
            return Err(ExprError::Failed(format!(
                "the iterate expression `{}` does not select elements",
                expression
            )));
        }
    };
    let mut pieces = Vec::with_capacity(nodes.len());
    for node in nodes {
        let Node::Element(el) = node else {
            return Err(ExprError::Failed(format!(
                "the iterate expression `{}` selected a node that is not an element",
                expression
            )));
        };
        let xml = element_to_string(el);
        let body = match soap {
            Some(version) => soap::wrap(version, &xml, &[]),
            None => xml,
        };
        pieces.push((Bytes::from(body), content_type));
    }
    Ok(pieces)
}
