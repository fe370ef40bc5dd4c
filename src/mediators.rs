//! Mediators: the steps of a sequence.
//!
//! Each mediator lives in one file that holds its parser (XML to a ready-to-run value,
//! with every check done at load) and its behaviour ([`Mediator::mediate`]). Mediators are
//! synchronous and do no I/O: when one needs the network or the body, it returns a
//! [`Step`] and the engine (see [`crate::engine`]) does the waiting. Adding a mediator is
//! one new file plus one line in [`REGISTRY`].

/// Evaluates an expression inside `mediate`: when the payload is needed and the body is
/// still a stream, the mediator returns `Step::NeedBody` (and runs again once it is read).
macro_rules! eval {
    ($e:expr) => {
        match $e {
            Ok(value) => value,
            Err($crate::expr::ExprError::NeedBody) => return Ok($crate::mediators::Step::NeedBody),
            Err(other) => return Err(other.into()),
        }
    };
}

pub(crate) mod aggregate;
pub(crate) mod cache;
mod call;
mod call_template;
mod clone;
mod drop;
mod enrich;
mod expressions;
mod fan_out;
mod filter;
mod foreach;
mod header;
mod in_out;
mod iterate;
mod log;
mod loopback;
mod makefault;
mod payload_factory;
mod property;
mod respond;
mod scatter_gather;
mod send;
mod sequence;
mod switch;
mod target;
mod throttle;
mod variable;

use std::fmt;

use crate::base::diag::did_you_mean;
use crate::base::mediation::MediationError;
pub(crate) use crate::config::Reference;
use crate::config::{Config, Ctx, Element, EndpointId, SeqId, StepConfig, StepParser};
use crate::message::MessageContext;
pub use aggregate::{Aggregate, Part};
pub use fan_out::{Fork, ForkBranch, Reassemble};
pub(crate) use filter::Branch;
pub(crate) use target::Target;

/// What a mediator asks the engine to do next.
#[derive(Debug)]
pub enum Step<'c> {
    /// Go on with the next mediator.
    Continue,
    /// Run this sequence, then go on (a procedure call).
    Sequence(SeqId),
    /// Run these mediators (a branch), then go on.
    Mediators(&'c [Box<dyn Mediator>]),
    /// Read the body into memory, then run this mediator again.
    NeedBody,
    /// Send to the endpoint and continue with its response (`call`); `None` uses `To`.
    Call(Option<EndpointId>),
    /// Send to the endpoint; this flow ends and the response starts a new one (`send`).
    Send {
        /// The endpoint; `None` uses `To` on requests and the client on responses.
        endpoint: Option<EndpointId>,
        /// The sequence that receives the response, instead of the out-sequence.
        receive: Option<SeqId>,
    },
    /// Send the current message back to the client and stop.
    Respond,
    /// Stop; nothing more is sent.
    Drop,
    /// End the request flow and run the message, as a response, through the out path
    /// (`loopback`).
    Loopback,
    /// Run copies of the message through these branches, then go on as the engine's
    /// fan-out decides (`clone`, `iterate`; see `engine/fan_out.rs`).
    Fork(Fork<'c>),
    /// This message (a branch of a fan-out) is collected by this `aggregate`; outside a
    /// fan-out the engine goes on with the next mediator.
    Aggregate(&'c Aggregate),
    /// Run a sequence template's body with these parameter values (`call-template`).
    Template {
        /// The template's sequence.
        sequence: SeqId,
        /// Parameter values, read as `$func:name` inside.
        params: Vec<(String, crate::message::FuncParam)>,
        /// The call's `onError`: handles failures inside the template (below the template
        /// sequence's own `onError`).
        on_error: Option<SeqId>,
    },
}

/// What a mediator may read besides the message.
#[derive(Debug, Clone, Copy)]
pub struct Env<'c> {
    /// The configuration generation the message runs on.
    pub config: &'c Config,
}

/// A mediator: built once at load, run on many messages, from any worker thread.
pub trait Mediator: fmt::Debug + Send + Sync {
    /// Runs on one message.
    ///
    /// # Errors
    /// A [`MediationError`] hands the message to the fault handlers.
    fn mediate<'c>(
        &'c self,
        msg: &mut MessageContext,
        env: &Env<'c>,
    ) -> Result<Step<'c>, MediationError>;

    /// Reports the sequences and endpoints this mediator (and any it contains) refers to.
    fn references(&self, _visit: &mut dyn FnMut(Reference)) {}

    /// True for a mediator that acts on responses (`<out>`): a `main` sequence holding
    /// one also handles the responses to its sends.
    fn handles_responses(&self) -> bool {
        false
    }

    /// When this mediator reads or replaces the message body: how to name it in an error
    /// (`payloadFactory`, `log level="full"`). gRPC APIs pass bodies through unparsed, so
    /// `axon check` rejects such a mediator in a gRPC API. A mediator that contains others
    /// answers for them too. The default is "leaves the body alone".
    fn body_use(&self) -> Option<&'static str> {
        None
    }

    /// Whether this mediator's own step reads the payload, not counting the mediators it
    /// contains (they are steps of their own). The engine runs such a step off the I/O
    /// worker when the body is large (`message/off_worker.rs`).
    fn reads_payload(&self) -> bool {
        self.body_use().is_some()
    }

    /// The `n`th list of mediators this mediator may run as a branch ([`Step::Mediators`]),
    /// numbered from 0 without gaps (a branch that is no list answers an empty one), so
    /// that a step run on another thread can name the branch it chose.
    fn branch(&self, _n: usize) -> Option<&[Box<dyn Mediator>]> {
        None
    }

    /// The [`Step::Fork`] this mediator returned on another thread, made again from its
    /// branches' bodies (a step run off the I/O worker sends back only what can cross
    /// threads).
    fn fork_from(&self, _bodies: Vec<Option<(bytes::Bytes, &'static str)>>) -> Option<Step<'_>> {
        None
    }
}

type ParseFn = fn(&Element, &mut Ctx<'_>) -> Option<Box<dyn Mediator>>;

/// Every mediator Axon implements, by element name.
const REGISTRY: &[(&str, ParseFn)] = &[
    ("aggregate", aggregate::parse),
    ("cache", cache::parse),
    ("call", call::parse),
    ("call-template", call_template::parse),
    ("clone", clone::parse),
    ("drop", drop::parse),
    ("enrich", enrich::parse),
    ("filter", filter::parse),
    ("foreach", foreach::parse),
    ("header", header::parse),
    ("in", in_out::parse_in),
    ("iterate", iterate::parse),
    ("log", log::parse),
    ("loopback", loopback::parse),
    ("makefault", makefault::parse),
    ("out", in_out::parse_out),
    ("payloadFactory", payload_factory::parse),
    ("property", property::parse),
    ("respond", respond::parse),
    ("scatter-gather", scatter_gather::parse),
    ("send", send::parse),
    ("sequence", sequence::parse),
    ("switch", switch::parse),
    ("throttle", throttle::parse),
    ("variable", variable::parse),
];

/// Synapse and WSO2 mediators that Axon does not implement yet.
const NOT_YET: &[&str] = &[
    "bean",
    "builder",
    "callout",
    "class",
    "conditionalRouter",
    "dataServiceCall",
    "datamapper",
    "dblookup",
    "dbreport",
    "ejb",
    "enqueue",
    "entitlementService",
    "event",
    "fastXSLT",
    "jsontransform",
    "oauthService",
    "pojoCommand",
    "publishEvent",
    "rewrite",
    "router",
    "script",
    "smooks",
    "spring",
    "store",
    "transaction",
    "urlrewrite",
    "validate",
    "xquery",
    "xslt",
];

/// Parses one mediator element: Axon's own, or a diagnostic for one it does not implement
/// (yet) or does not know.
fn parse_one(el: &Element, ctx: &mut Ctx<'_>) -> Option<Box<dyn Mediator>> {
    let name = el.local_name();
    match REGISTRY.iter().find(|(n, _)| *n == name) {
        Some((_, parse)) => parse(el, ctx),
        None if NOT_YET.contains(&name) => {
            ctx.unsupported(&el.loc, format!("the `{name}` mediator"));
            None
        }
        None if crate::config::vocabulary::unsupported_mediator(name).is_some() => {
            let what = crate::config::vocabulary::unsupported_mediator(name);
            ctx.unsupported(&el.loc, what.unwrap_or_default());
            None
        }
        None => {
            let known = REGISTRY
                .iter()
                .map(|(n, _)| *n)
                .chain(NOT_YET.iter().copied());
            ctx.error(
                &el.loc,
                format!("unknown mediator <{name}>{}", did_you_mean(name, known)),
            );
            None
        }
    }
}

/// Parses the mediators that are the children of `el` (a branch of a mediator that holds
/// others).
pub(crate) fn parse_list(el: &Element, ctx: &mut Ctx<'_>) -> Vec<Box<dyn Mediator>> {
    let mut out = Vec::new();
    crate::config::each_mediator(el, ctx, |child, ctx| out.extend(parse_one(child, ctx)));
    out
}

/// The mediators' parser that configuration loads with (`StepParser`): it builds each
/// mediator and keeps it, handing configuration only the plain [`StepConfig`].
#[derive(Debug, Default)]
pub(crate) struct Parser {
    built: Vec<Box<dyn Mediator>>,
}

/// The mediators of every sequence of one configuration, indexed by [`SeqId`].
#[derive(Debug, Default)]
pub struct Steps {
    sequences: Vec<Vec<Box<dyn Mediator>>>,
}

// === impl Parser ===

impl Parser {
    fn keep(&mut self, m: Box<dyn Mediator>) -> StepConfig {
        let mut references = Vec::new();
        m.references(&mut |r| references.push(r));
        let step = StepConfig {
            index: self.built.len(),
            references,
            handles_responses: m.handles_responses(),
            body_use: m.body_use(),
        };
        self.built.push(m);
        step
    }

    /// The mediators built, grouped by the sequences of `config` that hold them.
    pub(crate) fn into_steps(self, config: &Config) -> Steps {
        let mut built: Vec<Option<Box<dyn Mediator>>> = self.built.into_iter().map(Some).collect();
        let sequences = config
            .sequences
            .iter()
            .map(|seq| {
                seq.mediators
                    .iter()
                    .filter_map(|step| built.get_mut(step.index).and_then(Option::take))
                    .collect()
            })
            .collect();
        Steps { sequences }
    }
}

impl StepParser for Parser {
    fn parse(&mut self, el: &Element, ctx: &mut Ctx<'_>) -> Option<StepConfig> {
        parse_one(el, ctx).map(|m| self.keep(m))
    }

    fn invoke(&mut self, target: SeqId) -> StepConfig {
        self.keep(sequence::invoke(target))
    }

    fn send_to(&mut self, endpoint: EndpointId) -> StepConfig {
        self.keep(send::to(endpoint))
    }
}

// === impl Steps ===

impl Steps {
    /// The mediators of sequence `id` (none for an id of another configuration).
    pub fn sequence(&self, id: SeqId) -> &[Box<dyn Mediator>] {
        self.sequences.get(id.0 as usize).map_or(&[], Vec::as_slice)
    }
}

/// The first body use among `list` (for mediators that hold others).
pub(crate) fn body_use_of(list: &[Box<dyn Mediator>]) -> Option<&'static str> {
    list.iter().find_map(|m| m.body_use())
}

/// `what`, when `expr` reads the payload.
pub(crate) fn reads_payload(
    expr: &crate::expr::Expression,
    what: &'static str,
) -> Option<&'static str> {
    expr.needs_payload().then_some(what)
}

/// Reports the references of every mediator in `list` (for mediators that hold others).
pub(crate) fn visit_all(list: &[Box<dyn Mediator>], visit: &mut dyn FnMut(Reference)) {
    for m in list {
        m.references(visit);
    }
}

/// Parses the optional `<endpoint>` child of `send`/`call` (the only child they take here).
pub(crate) fn endpoint_child(el: &Element, ctx: &mut Ctx<'_>) -> Result<Option<Target>, ()> {
    ctx.no_text(el);
    let mut endpoint = None;
    let mut ok = true;
    for child in el.elements() {
        match child.local_name() {
            "endpoint" if child.is_synapse() => {
                if endpoint.is_some() {
                    ctx.error(
                        &child.loc,
                        format!("<{}> takes at most one <endpoint>", el.local_name()),
                    );
                    ok = false;
                    continue;
                }
                let target = match child.attr("key-expression") {
                    Some(_) => target::computed(child, ctx),
                    None => crate::config::endpoint_inline(child, ctx).map(Target::Fixed),
                };
                match target {
                    Some(it) => endpoint = Some(it),
                    None => ok = false,
                }
            }
            // `call` reads its own <source> and <target> (`mediators/call.rs`).
            "source" | "target" if child.is_synapse() && el.local_name() == "call" => {}
            "source" | "target" if child.is_synapse() => {
                ctx.unsupported(
                    &child.loc,
                    format!("<{}> in <{}>", child.local_name(), el.local_name()),
                );
                ok = false;
            }
            _ => {
                ctx.unknown_child(el, child);
                ok = false;
            }
        }
    }
    if ok { Ok(endpoint) } else { Err(()) }
}
