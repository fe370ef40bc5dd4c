//! Mediators: the steps of a sequence.
//!
//! Each mediator lives in one file that holds its parser (XML to a ready-to-run value,
//! with every check done at load) and its behaviour ([`Mediator::mediate`]). Mediators are
//! synchronous and do no I/O: when one needs the network or the body, it returns a
//! [`Step`] and the engine (see [`crate::engine`]) does the waiting. Adding a mediator is
//! one new file plus one line in [`REGISTRY`].

mod call;
mod drop;
mod log;
mod makefault;
mod payload_factory;
mod property;
mod respond;
mod send;
mod sequence;

use std::fmt;

use crate::config::{Config, Ctx, Element, EndpointId, SeqId};
use crate::engine::MediationError;
use crate::message::MessageContext;

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
}

/// Something a mediator refers to, for reference checks at load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reference {
    /// A sequence it invokes.
    Sequence(SeqId),
    /// An endpoint it sends to.
    Endpoint(EndpointId),
    /// A sequence that receives a response (`send receive`): reachable, but not a call.
    Receive(SeqId),
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

    /// When this mediator reads or replaces the message body: how to name it in an error
    /// (`payloadFactory`, `log level="full"`). gRPC APIs pass bodies through unparsed, so
    /// `axon check` rejects such a mediator in a gRPC API. A mediator that contains others
    /// answers for them too. The default is "leaves the body alone".
    fn body_use(&self) -> Option<&'static str> {
        None
    }
}

type ParseFn = fn(&Element, &mut Ctx<'_>) -> Option<Box<dyn Mediator>>;

/// Every mediator Axon implements, by element name.
const REGISTRY: &[(&str, ParseFn)] = &[
    ("call", call::parse),
    ("drop", drop::parse),
    ("log", log::parse),
    ("makefault", makefault::parse),
    ("payloadFactory", payload_factory::parse),
    ("property", property::parse),
    ("respond", respond::parse),
    ("send", send::parse),
    ("sequence", sequence::parse),
];

/// Synapse and WSO2 mediators that Axon does not implement yet.
const NOT_YET: &[&str] = &[
    "aggregate",
    "bean",
    "builder",
    "cache",
    "call-template",
    "callout",
    "class",
    "clone",
    "conditionalRouter",
    "dataServiceCall",
    "datamapper",
    "dblookup",
    "dbreport",
    "ejb",
    "enqueue",
    "enrich",
    "entitlementService",
    "event",
    "fastXSLT",
    "filter",
    "foreach",
    "header",
    "in",
    "iterate",
    "jsontransform",
    "loopback",
    "oauthService",
    "out",
    "pojoCommand",
    "publishEvent",
    "rewrite",
    "router",
    "scatter-gather",
    "script",
    "smooks",
    "spring",
    "store",
    "switch",
    "throttle",
    "transaction",
    "urlrewrite",
    "validate",
    "variable",
    "xquery",
    "xslt",
];

/// The parser for mediator element `name`, if Axon implements it.
pub(crate) fn parser(name: &str) -> Option<ParseFn> {
    REGISTRY.iter().find(|(n, _)| *n == name).map(|(_, p)| *p)
}

/// True when `name` is a Synapse mediator that Axon does not implement yet.
pub(crate) fn unsupported(name: &str) -> bool {
    NOT_YET.contains(&name)
}

/// A `<sequence key>` mediator that runs `target` (used to build proxy service flows).
pub(crate) fn invoke(target: SeqId) -> Box<dyn Mediator> {
    sequence::invoke(target)
}

/// A `<send>` mediator to `endpoint` (used to build proxy service flows).
pub(crate) fn send_to(endpoint: EndpointId) -> Box<dyn Mediator> {
    send::to(endpoint)
}

/// Parses the optional `<endpoint>` child of `send`/`call` (the only child they take here).
pub(crate) fn endpoint_child(el: &Element, ctx: &mut Ctx<'_>) -> Result<Option<EndpointId>, ()> {
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
                match crate::config::endpoint_inline(child, ctx) {
                    Some(id) => endpoint = Some(id),
                    None => ok = false,
                }
            }
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
