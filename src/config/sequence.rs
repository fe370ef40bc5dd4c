//! `<sequence>` artifacts, inline sequences, and mediator lists (reference §1.2).

use super::{Ctx, Element, EndpointId, Loc, SeqId};

/// A sequence: a list of mediators run in order.
#[derive(Debug)]
pub(crate) struct SequenceConfig {
    /// The name: the artifact name, or a generated one for inline sequences.
    pub(crate) name: String,
    /// True for `<sequence name>` artifacts.
    pub(crate) named: bool,
    /// Fault handler pushed while this sequence runs (`onError`).
    pub(crate) on_error: Option<SeqId>,
    /// The mediators, as the load checks see them (the mediators themselves are built by
    /// the `StepParser` handed to the load, and run from the engine's runtime).
    pub(crate) mediators: Vec<StepConfig>,
    /// Where it is defined.
    pub(crate) loc: Loc,
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

/// Parses the mediators that are the children of `el`, through the parser handed to the
/// load.
pub(crate) fn parse_mediators(el: &Element, ctx: &mut Ctx<'_>) -> Vec<StepConfig> {
    let mut out = Vec::new();
    each_mediator(el, ctx, |child, ctx| {
        if let Some(step) = ctx.parse_step(child) {
            out.push(step);
        }
    });
    out
}

/// Calls `parse` for each mediator element among the children of `el`, reporting text,
/// foreign elements and skipping `<description>` (for every list of mediators, top level or
/// nested in a mediator).
pub(crate) fn each_mediator(
    el: &Element,
    ctx: &mut Ctx<'_>,
    mut parse: impl FnMut(&Element, &mut Ctx<'_>),
) {
    ctx.no_text(el);
    for child in el.elements() {
        if !child.is_synapse() {
            ctx.unknown_child(el, child);
            continue;
        }
        if child.local_name() == "description" {
            continue;
        }
        parse(child, ctx);
    }
}

/// A mediator as configuration sees it: what its checks read (references, cycles,
/// reachability, gRPC body use). The mediator itself is built by the `StepParser` and
/// kept, at `index`, by the layer that runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StepConfig {
    /// Where the parser keeps the built mediator (the order it built them in).
    pub(crate) index: usize,
    /// The sequences and endpoints it (or any mediator inside it) refers to.
    pub(crate) references: Vec<Reference>,
    /// True for a mediator that acts on responses (`<out>`).
    pub(crate) handles_responses: bool,
    /// When it reads or replaces the body: how to name it in an error.
    pub(crate) body_use: Option<&'static str>,
}

impl StepConfig {
    /// Reports each reference, in the order the mediator gave them.
    pub(crate) fn references(&self, visit: &mut dyn FnMut(Reference)) {
        for r in &self.references {
            visit(*r);
        }
    }

    /// True for a mediator that acts on responses (`<out>`).
    pub(crate) fn handles_responses(&self) -> bool {
        self.handles_responses
    }

    /// When it reads or replaces the body: how to name it in an error.
    pub(crate) fn body_use(&self) -> Option<&'static str> {
        self.body_use
    }
}

/// Builds mediators while configuration loads. Config calls it for each mediator element
/// (and for the two steps a proxy's target becomes); the layer that owns mediators
/// implements it and keeps what it built. Config stays plain data and never names a
/// mediator type.
pub(crate) trait StepParser: std::fmt::Debug {
    /// Parses mediator element `el`, reporting any problem (an unknown or unsupported
    /// mediator included) to `ctx`; `None` when it reported one.
    fn parse(&mut self, el: &Element, ctx: &mut Ctx<'_>) -> Option<StepConfig>;
    /// A `<sequence key>` mediator that runs `target`.
    fn invoke(&mut self, target: SeqId) -> StepConfig;
    /// A `<send>` mediator to `endpoint`.
    fn send_to(&mut self, endpoint: EndpointId) -> StepConfig;
}
