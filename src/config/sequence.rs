//! `<sequence>` artifacts, inline sequences, and mediator lists (reference §1.2).

use super::{Ctx, Element, EndpointId, Loc, SeqId};
use crate::mediators::{self, Mediator};

/// A sequence: a list of mediators run in order.
#[derive(Debug)]
pub struct SequenceConfig {
    /// The name: the artifact name, or a generated one for inline sequences.
    pub name: String,
    /// True for `<sequence name>` artifacts.
    pub named: bool,
    /// Fault handler pushed while this sequence runs (`onError`).
    pub on_error: Option<SeqId>,
    /// The mediators.
    pub mediators: Vec<Box<dyn Mediator>>,
    /// Where it is defined.
    pub loc: Loc,
}

/// Something a mediator refers to, for the reference, cycle and reachability checks at
/// load (each mediator reports its own through `Mediator::references`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reference {
    /// A sequence it invokes.
    Sequence(SeqId),
    /// An endpoint it sends to.
    Endpoint(EndpointId),
    /// A sequence that receives a response (`send receive`): reachable, but not a call.
    Receive(SeqId),
}

/// Parses a `<sequence name>` artifact.
pub(crate) fn parse_named(el: &Element, ctx: &mut Ctx<'_>) -> Option<SequenceConfig> {
    ctx.check_attrs(el, &["name", "onError", "key"]);
    let name = ctx.required_attr(el, "name")?.value.trim().to_owned();
    if let Some(a) = el.attr("key") {
        ctx.unsupported(
            &a.loc,
            "a registry-backed sequence (`<sequence key>` as an artifact)",
        );
        return None;
    }
    let on_error = on_error(el, ctx);
    let mediators = parse_mediators(el, ctx);
    Some(SequenceConfig {
        name,
        named: true,
        on_error,
        mediators,
        loc: el.loc.clone(),
    })
}

/// Parses an inline `<inSequence>`-style element into a new anonymous sequence.
pub(crate) fn parse_inline(el: &Element, name: String, ctx: &mut Ctx<'_>) -> Option<SeqId> {
    ctx.check_attrs(el, &["onError"]);
    parse_inline_body(el, name, ctx)
}

/// Parses an inline sequence whose attributes the caller checked (an `<inSequence>`, a
/// template's `<sequence>`) into a new anonymous sequence.
pub(crate) fn parse_inline_body(el: &Element, name: String, ctx: &mut Ctx<'_>) -> Option<SeqId> {
    let on_error = on_error(el, ctx);
    let before = ctx.diags.error_count();
    let mediators = parse_mediators(el, ctx);
    let seq = SequenceConfig {
        name,
        named: false,
        on_error,
        mediators,
        loc: el.loc.clone(),
    };
    let id = ctx.add_sequence(seq);
    (ctx.diags.error_count() == before).then_some(id)
}

fn on_error(el: &Element, ctx: &mut Ctx<'_>) -> Option<SeqId> {
    el.attr("onError")
        .and_then(|a| ctx.sequence_ref(a.value.trim(), &a.loc))
}

/// Parses the mediators that are the children of `el`.
pub(crate) fn parse_mediators(el: &Element, ctx: &mut Ctx<'_>) -> Vec<Box<dyn Mediator>> {
    ctx.no_text(el);
    let mut out = Vec::new();
    for child in el.elements() {
        if !child.is_synapse() {
            ctx.unknown_child(el, child);
            continue;
        }
        let name = child.local_name();
        if name == "description" {
            continue;
        }
        match mediators::parser(name) {
            Some(parse) => {
                if let Some(m) = parse(child, ctx) {
                    out.push(m);
                }
            }
            None => match mediators::unsupported(name) {
                true => ctx.unsupported(&child.loc, format!("the `{name}` mediator")),
                false => ctx.error(&child.loc, format!("unknown mediator <{name}>")),
            },
        }
    }
    out
}
