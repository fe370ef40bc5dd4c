//! `<foreach>` (MI 4.x form, reference §7.5): runs a sequence on each element the
//! expression selects and puts each result back where its element was, in order. XML by
//! XPath (each result's element replaces its element), JSON by json-eval (the selected
//! array's items, or the selected items, are replaced by the results). The items run one
//! after another, each on a copy of the message whose body is the item (so a property an
//! item's sequence sets stays with the item); the parent goes on once all are back.

use bytes::Bytes;
use sxd_xpath::Value as XValue;
use sxd_xpath::nodeset::Node;

use super::fan_out::{self, FanTarget, Piece, Reassemble, Split};
use super::filter::{self, Branch};
use super::{Env, Mediator, Reference, Step, expressions};
use crate::base::mediation::MediationError;
use crate::config::{Ctx, Element};
use crate::expr::ExprError;
use crate::message::{MessageContext, soap};

#[derive(Debug)]
struct ForEach {
    split: Split,
}

/// Parses `<foreach expression [id] [sequence="key"]><sequence>...</sequence>?</foreach>`.
pub(super) fn parse(el: &Element, ctx: &mut Ctx<'_>) -> Option<Box<dyn Mediator>> {
    if let Some(a) = el.attr("collection") {
        ctx.unsupported(&a.loc, "the MI 4.4 `collection` form of <foreach>");
        return None;
    }
    ctx.check_attrs(el, &["expression", "id", "sequence"]);
    ctx.no_text(el);
    let before = ctx.diags.error_count();
    let expression = ctx
        .required_attr(el, "expression")
        .and_then(|a| expressions::expression(a, el, ctx.diags));
    let mut sequence = el
        .attr("sequence")
        .and_then(|a| ctx.sequence_ref(a.value.trim(), &a.loc))
        .map(Branch::Sequence);
    for child in el.elements() {
        match child.local_name() {
            "sequence" if child.is_synapse() && sequence.is_none() => {
                sequence = filter::branch(child, ctx);
            }
            _ => ctx.unknown_child(el, child),
        }
    }
    if sequence.is_none() && ctx.diags.error_count() == before {
        ctx.error(&el.loc, "<foreach> needs a <sequence> or `sequence`");
    }
    if ctx.diags.error_count() != before {
        return None;
    }
    let id = el.attr("id").map(|a| a.value.trim().to_owned());
    Some(Box::new(ForEach {
        split: Split {
            id: id.unwrap_or_default(),
            expression: expression?,
            target: FanTarget {
                soap_action: None,
                to: None,
                sequence,
                endpoint: None,
            },
        },
    }))
}

impl ForEach {
    fn fork(&self, pieces: Vec<Piece>) -> Step<'_> {
        // One at a time; the parent goes on once the items are back.
        self.split.fork(pieces, (true, true), Some(self))
    }

    fn put_back_json(
        &self,
        parent: &mut MessageContext,
        items: Vec<Bytes>,
    ) -> Result<(), ExprError> {
        let results = items
            .iter()
            .map(|b| serde_json::from_slice::<serde_json::Value>(b))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| {
                ExprError::Failed(format!("a foreach item's result is not JSON: {error}"))
            })?;
        self.split.expression.prepare(parent)?;
        let (Some(path), Some(doc)) = (self.split.expression.as_json(), parent.json_value()) else {
            return Err(ExprError::NeedBody);
        };
        let pointers = path.pointers(doc);
        let mut doc = doc.clone();
        match pointers.as_slice() {
            // The expression selects the array itself: its items are replaced.
            [one] if doc.pointer(one).is_some_and(serde_json::Value::is_array) => {
                if let Some(slot) = doc.pointer_mut(one) {
                    *slot = serde_json::Value::Array(results);
                }
            }
            many => {
                for (pointer, result) in many.iter().zip(results) {
                    if let Some(slot) = doc.pointer_mut(pointer) {
                        *slot = result;
                    }
                }
            }
        }
        parent.set_json_payload(doc);
        Ok(())
    }

    fn put_back_xml(
        &self,
        parent: &mut MessageContext,
        items: Vec<Bytes>,
    ) -> Result<(), ExprError> {
        self.split.expression.prepare(parent)?;
        let (Some(xpath), Some(doc)) = (self.split.expression.as_xpath(), parent.xml_doc()) else {
            return Err(ExprError::NeedBody);
        };
        let XValue::Nodeset(set) = xpath.select(doc, parent).map_err(ExprError::XPath)? else {
            return Err(ExprError::Failed(
                "the foreach expression selects no elements".into(),
            ));
        };
        for (node, item) in set.document_order().into_iter().zip(items) {
            let Node::Element(el) = node else { continue };
            let text = String::from_utf8_lossy(&item);
            let payload = match soap::Envelope::parse(&item) {
                Ok(env) => env.payload().unwrap_or_default(),
                Err(_) => text.into_owned(),
            };
            let nodes = doc.import_fragment(&payload).map_err(|error| {
                ExprError::Failed(format!("a foreach item's result is not XML: {error}"))
            })?;
            let Some(parent_el) = el.parent().and_then(|p| p.element()) else {
                return Err(ExprError::Failed(
                    "foreach cannot replace the document element".into(),
                ));
            };
            super::enrich::splice(parent_el, el, nodes, true);
        }
        parent.commit_xml();
        Ok(())
    }
}

impl Reassemble for ForEach {
    fn reassemble(
        &self,
        parent: &mut MessageContext,
        items: Vec<Option<Bytes>>,
    ) -> Result<(), MediationError> {
        let Some(items) = items.into_iter().collect::<Option<Vec<Bytes>>>() else {
            return Err(MediationError::Failed(
                "foreach: the sequence of an item failed".into(),
            ));
        };
        let done = if self.split.expression.is_json() {
            self.put_back_json(parent, items)
        } else {
            self.put_back_xml(parent, items)
        };
        done.map_err(MediationError::from)
    }
}

impl Mediator for ForEach {
    fn mediate<'c>(
        &'c self,
        msg: &mut MessageContext,
        _env: &Env<'c>,
    ) -> Result<Step<'c>, MediationError> {
        let pieces = eval!(fan_out::split(&self.split.expression, msg));
        if pieces.is_empty() {
            return Ok(Step::Continue);
        }
        Ok(self.fork(pieces))
    }

    fn fork_from(&self, bodies: Vec<Option<Piece>>) -> Option<Step<'_>> {
        Some(self.fork(bodies.into_iter().flatten().collect()))
    }

    fn body_use(&self) -> Option<&'static str> {
        Some("foreach")
    }

    fn branch(&self, n: usize) -> Option<&[Box<dyn Mediator>]> {
        self.split.branch(n)
    }

    fn references(&self, visit: &mut dyn FnMut(Reference)) {
        self.split.target.references(visit);
    }
}
