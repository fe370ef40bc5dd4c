//! The engine: runs messages through sequences and endpoints.
//!
//! A [`Runtime`] is one configuration generation made live: the validated [`Config`], its
//! running [`Endpoints`], and the API router. The HTTP front picks the resource
//! ([`dispatch`]) and calls [`Runtime::run_exchange`], which drives the in-sequence, the
//! endpoint call, the out-sequence and the fault handlers, and always ends with exactly one
//! [`Reply`].
//!
//! Sequences are interpreted with an explicit stack of frames, so a `call` nested in any
//! branch suspends the whole flow on the worker's event loop and resumes it with the
//! response; mediators themselves never wait.

#[cfg(test)]
mod config_tests;
pub mod dispatch;
mod fan_out;
pub(crate) mod lifecycle;
pub(crate) mod live;
mod off_worker;

use std::sync::Arc;

use actix::ArbiterHandle;
use actix_web::http::StatusCode;

use crate::base::error::{EndpointError, ProtocolState, codes};
use crate::base::limits::Limits;
use crate::base::mediation::MediationError;
use crate::base::readiness::Readiness;
use crate::config::{Config, Diagnostics, EndpointId, SeqId};
use crate::endpoints::Endpoints;
use crate::mediators::{Aggregate, Env, Mediator, Parser, Step, Steps};
use crate::message::{BodyError, MessageContext, Value};

/// Why a flow went to the fault handlers.
#[derive(Debug)]
pub(crate) enum Failure {
    /// An endpoint failed.
    Endpoint(EndpointError),
    /// A mediator failed.
    Mediation(MediationError),
    /// The backend's response could not be read or parsed for mediation: the backend's
    /// fault, answered with 502, not the client's 400.
    BadResponse(MediationError),
}

/// The single outcome of an exchange.
#[derive(Debug)]
pub enum Reply {
    /// Send this message to the client (`respond`, or a response passed back).
    Message(MessageContext),
    /// Nothing to send (`drop`, or a flow that ended without a response): 202 Accepted.
    Accepted(MessageContext),
    /// Axon's built-in fault handling answers (the message is kept for its trace).
    Fault(BuiltinFault, MessageContext),
}

/// What Axon's built-in fault sequence answers with.
#[derive(Debug, Clone)]
pub struct BuiltinFault {
    /// HTTP status.
    pub(crate) status: StatusCode,
    /// Synapse error code.
    pub(crate) code: u32,
    /// Error message.
    pub(crate) message: String,
    /// Details (the cause).
    pub(crate) detail: String,
    /// What the client speaks, to answer in kind (not what the backend answered).
    pub(crate) client: crate::message::ClientFormat,
    /// The exchange's message id, also in the log line and `X-Axon-Message-Id`.
    pub(crate) message_id: String,
}

/// A loaded mediation folder: the plain, validated configuration and the mediators built
/// from it, ready for [`Runtime::build`].
#[derive(Debug)]
pub struct Mediation {
    /// The configuration.
    pub config: Config,
    /// The mediators of its sequences.
    pub steps: Steps,
}

/// One configuration generation, live.
#[derive(Debug)]
pub struct Runtime {
    /// The configuration.
    pub(crate) config: Arc<Config>,
    /// The mediators of its sequences (shared with steps that run off the I/O worker).
    pub(crate) steps: Arc<Steps>,
    /// Its running endpoints.
    pub(crate) endpoints: Endpoints,
    /// The API router.
    pub(crate) router: dispatch::Router,
    /// The router of the gRPC front (gRPC APIs only).
    pub(crate) grpc_router: dispatch::Router,
    /// Message limits.
    pub(crate) limits: Limits,
    /// The live lifecycle state of each API.
    pub(crate) apis: lifecycle::ApiStates,
}

/// How a flow (one sequence and what it invokes) ended.
enum FlowEnd<'c> {
    Finished,
    Respond,
    Drop,
    Loopback,
    Send {
        endpoint: Option<EndpointId>,
        receive: Option<SeqId>,
    },
    Fault {
        handler: Option<SeqId>,
        failure: Failure,
    },
    /// A branch of a fan-out reached this aggregate; `frames` are where it goes on once
    /// the aggregate completes.
    Arrive {
        aggregate: &'c Aggregate,
        frames: Vec<Frame<'c>>,
    },
    /// A fan-out decided the exchange's reply.
    Done(Box<Reply>),
}

/// A mediator shown by its type's name (`Log`, `Send`), for the debug log.
struct MediatorName<'m>(&'m dyn crate::mediators::Mediator);

impl std::fmt::Display for MediatorName<'_> {
    /// The Debug form's leading identifier, cut off as soon as it ends: the rest of the
    /// mediator (its whole configuration) is never formatted.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        struct Leading<'a, 'f>(&'a mut std::fmt::Formatter<'f>);
        impl std::fmt::Write for Leading<'_, '_> {
            fn write_str(&mut self, s: &str) -> std::fmt::Result {
                let end = s
                    .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .unwrap_or(s.len());
                self.0.write_str(&s[..end])?;
                // An error stops the Debug formatting once the name has ended.
                if end < s.len() {
                    Err(std::fmt::Error)
                } else {
                    Ok(())
                }
            }
        }
        // The early stop is the expected end, not a failure.
        std::fmt::write(&mut Leading(f), format_args!("{:?}", self.0)).or(Ok(()))
    }
}

/// What every flow of one exchange shares, branches of a fan-out included.
struct Exchange {
    /// The out-sequence, for the responses to a `send`.
    out_seq: Option<SeqId>,
    /// The fault handler when no `onError` takes a failure.
    root_fault: Option<SeqId>,
}

/// Where a flow starts.
enum Start<'c> {
    /// At the top of a sequence.
    Seq(SeqId),
    /// On these frames (a branch of a fan-out, or what follows an aggregate), after
    /// calling this endpoint when there is one.
    Frames {
        frames: Vec<Frame<'c>>,
        call: Option<EndpointId>,
    },
}

/// How [`Runtime::drive`] ended: the exchange's reply, or a branch collected by an
/// aggregate.
enum Driven<'c> {
    Reply(Reply),
    Arrived {
        aggregate: &'c Aggregate,
        frames: Vec<Frame<'c>>,
        msg: MessageContext,
    },
}

#[derive(Clone)]
struct Frame<'c> {
    mediators: &'c [Box<dyn Mediator>],
    next: usize,
    on_error: Option<SeqId>,
    /// The body of a `call-template`: its parameters leave with it.
    template: bool,
    /// The sequence these mediators are (`None`: a branch of the mediator before).
    seq: Option<SeqId>,
}

/// Deepest nesting of sequences and branches in one flow. Static `<sequence key>` cycles
/// are load errors; this stops computed keys that recurse.
const MAX_FRAMES: usize = 128;

// === impl Failure ===

impl Failure {
    /// Synapse's `ERROR_CODE`.
    pub(crate) fn code(&self) -> u32 {
        match self {
            Failure::Endpoint(error) => error.code(),
            Failure::Mediation(MediationError::Body(BodyError::TooLarge { .. })) => {
                codes::MEDIATION_ERROR
            }
            Failure::Mediation(MediationError::Body(body)) if body.is_timeout() => {
                codes::SND_IO_ERROR + ProtocolState::RequestBody as u32
            }
            Failure::Mediation(MediationError::Body(BodyError::Read(_))) => {
                codes::MALFORMED_MESSAGE
            }
            Failure::Mediation(MediationError::Payload(_)) => codes::MALFORMED_MESSAGE,
            Failure::Mediation(_) => codes::MEDIATION_ERROR,
            Failure::BadResponse(MediationError::Body(BodyError::TooLarge { .. })) => {
                codes::MEDIATION_ERROR
            }
            Failure::BadResponse(_) => codes::MALFORMED_MESSAGE,
        }
    }

    /// Synapse's `ERROR_MESSAGE`.
    pub(crate) fn message(&self) -> String {
        match self {
            Failure::Endpoint(error) => error.message(),
            Failure::Mediation(m) => m.to_string(),
            Failure::BadResponse(m) => format!("the backend's response cannot be mediated: {m}"),
        }
    }

    /// The message a client is shown (the log has [`Failure::detail`]).
    fn client_message(&self) -> String {
        match self {
            Failure::BadResponse(_) => "the backend's response cannot be mediated".into(),
            _ => self.message(),
        }
    }

    /// The detail a client is shown: what is wrong with its own request, never a
    /// backend's address or an OS error (see [`EndpointError::public_detail`]), and
    /// nothing when the message already says it.
    fn client_detail(&self) -> String {
        let detail = self.client_detail_text();
        match self.client_message().contains(&detail) {
            true => String::new(),
            false => detail,
        }
    }

    fn client_detail_text(&self) -> String {
        match self {
            Failure::Endpoint(error) => error
                .public_detail()
                .map(ToString::to_string)
                .unwrap_or_default(),
            Failure::Mediation(m) => m.to_string(),
            Failure::BadResponse(_) => String::new(),
        }
    }

    /// The whole cause, for the log and `ERROR_DETAIL` (a fault sequence is the operator's
    /// to show or not); clients of the built-in answer get [`Failure::client_detail`].
    fn detail(&self) -> String {
        match self {
            Failure::Endpoint(error) => error.to_string(),
            Failure::Mediation(m) => m.to_string(),
            Failure::BadResponse(m) => format!("the backend's response cannot be mediated: {m}"),
        }
    }

    /// Classifies a mediator's failure: reading or parsing a body is the sender's fault, so
    /// on a backend's response it is a bad gateway, on a client's request a bad request.
    fn of_mediation(msg: &MessageContext, error: MediationError) -> Failure {
        let about_body = matches!(error, MediationError::Body(_) | MediationError::Payload(_));
        if about_body && msg.is_response() {
            Failure::BadResponse(error)
        } else {
            Failure::Mediation(error)
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            Failure::Endpoint(error) => error.http_status(),
            Failure::Mediation(MediationError::Body(BodyError::TooLarge { .. })) => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            Failure::Mediation(MediationError::Body(body)) if body.is_timeout() => {
                StatusCode::REQUEST_TIMEOUT
            }
            Failure::Mediation(MediationError::Body(BodyError::Read(_))) => StatusCode::BAD_REQUEST,
            Failure::Mediation(MediationError::Payload(_)) => StatusCode::BAD_REQUEST,
            Failure::Mediation(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Failure::BadResponse(_) => StatusCode::BAD_GATEWAY,
        }
    }

    /// True for an endpoint timeout whose `responseAction` is `discard`.
    fn skips_fault_sequence(&self) -> bool {
        matches!(self, Failure::Endpoint(error) if error.discards())
    }
}

// === impl Mediation ===

impl Mediation {
    /// Loads and validates the project at `dir` (a folder, an MI project, a `.car`, ...),
    /// handing the mediators' parser to the configuration load (what `axon check` runs).
    ///
    /// # Errors
    /// Every problem found, each with its file, line and column.
    pub fn load(dir: &std::path::Path) -> Result<Mediation, Diagnostics> {
        let mut parser = Parser::default();
        let config = Config::load_with(dir, &mut parser)?;
        let steps = parser.into_steps(&config);
        Ok(Mediation { config, steps })
    }
}

// === impl Runtime ===

impl Runtime {
    /// Makes `config` live: starts its endpoint actors on `arbiter` (reusing those of
    /// `previous` whose configuration did not change).
    pub(crate) fn build(
        mediation: Mediation,
        previous: Option<&Runtime>,
        arbiter: &ArbiterHandle,
        readiness: &Readiness,
        limits: Limits,
    ) -> Runtime {
        let Mediation { config, steps } = mediation;
        let config = Arc::new(config);
        let old = previous.map(|p| &p.endpoints);
        let mut endpoints = Endpoints::build(&config, old, arbiter, readiness, &limits.backend_tls);
        if !limits.allow_to.is_empty() {
            endpoints = endpoints.with_implicit(old, arbiter, readiness, &limits.backend_tls);
        }
        let router = dispatch::Router::new(&config);
        let apis = lifecycle::ApiStates::build(&config, previous.map(|p| &p.apis));
        let grpc_router = dispatch::Router::grpc(&config);
        Runtime {
            config,
            steps: Arc::new(steps),
            endpoints,
            router,
            grpc_router,
            limits,
            apis,
        }
    }

    /// Runs one exchange: `in_seq` on the request, then the endpoint's response through
    /// `out_seq`, with `fault_seq` (else the global `fault` sequence, else the built-in
    /// handling) on failure. Always returns exactly one reply.
    pub(crate) async fn run_exchange(
        &self,
        mut msg: MessageContext,
        in_seq: Option<SeqId>,
        out_seq: Option<SeqId>,
        fault_seq: Option<SeqId>,
    ) -> Reply {
        let env = Env {
            config: &self.config,
        };
        msg.set_xml_limits(self.limits.xml);
        let ex = Exchange {
            out_seq,
            root_fault: fault_seq.or_else(|| self.config.sequence_named("fault")),
        };
        let Some(current) = in_seq else {
            return Reply::Accepted(msg);
        };
        match self.drive(&env, &ex, Start::Seq(current), msg, false).await {
            Driven::Reply(reply) => reply,
            // Only a branch of a fan-out arrives at an aggregate.
            Driven::Arrived { msg, .. } => Reply::Accepted(msg),
        }
    }

    /// Runs `msg` from `start` to its reply: the flow, the endpoint of a `send` and the
    /// sequence that receives its response, the fault handlers. A `branch` of a fan-out
    /// may instead arrive at an aggregate; its responses to a `call` that run to the end
    /// of its frames go on in the out-sequence (where Synapse users put the aggregate).
    async fn drive<'c>(
        &'c self,
        env: &Env<'c>,
        ex: &Exchange,
        mut start: Start<'c>,
        mut msg: MessageContext,
        branch: bool,
    ) -> Driven<'c> {
        let mut out_seq = ex.out_seq;
        // The failure being handled, once a fault handler runs.
        let mut handling: Option<Failure> = None;
        loop {
            let end = self.run_flow(env, ex, start, &mut msg, branch).await;
            let (handler, failure) = match end {
                FlowEnd::Respond => return Driven::Reply(self.respond(msg, handling.as_ref())),
                FlowEnd::Drop => return Driven::Reply(Reply::Accepted(msg)),
                FlowEnd::Done(reply) => return Driven::Reply(*reply),
                FlowEnd::Arrive { aggregate, frames } => {
                    return Driven::Arrived {
                        aggregate,
                        frames,
                        msg,
                    };
                }
                FlowEnd::Loopback => {
                    msg.loop_back();
                    let Some(next) = out_seq.take() else {
                        return Driven::Reply(self.respond(msg, handling.as_ref()));
                    };
                    start = Start::Seq(next);
                    continue;
                }
                FlowEnd::Finished => {
                    let next = out_seq.filter(|_| branch && handling.is_none());
                    match next {
                        Some(next) if msg.is_response() => {
                            out_seq = None;
                            start = Start::Seq(next);
                            continue;
                        }
                        // A branch that just ends: the fan-out decides the reply.
                        _ if branch && handling.is_none() && !msg.is_response() => {
                            return Driven::Reply(Reply::Accepted(msg));
                        }
                        _ => return Driven::Reply(self.finished(msg, handling)),
                    }
                }
                FlowEnd::Send { endpoint, receive } => {
                    if msg.is_response() && endpoint.is_none() {
                        return Driven::Reply(self.respond(msg, handling.as_ref()));
                    }
                    match self.send(endpoint, &mut msg).await {
                        Ok(()) => {
                            let Some(next) = receive.or(out_seq) else {
                                return Driven::Reply(self.respond(msg, None));
                            };
                            out_seq = None;
                            start = Start::Seq(next);
                            continue;
                        }
                        Err(failure) => (self.on_error(endpoint), failure),
                    }
                }
                FlowEnd::Fault { handler, failure } => (handler, failure),
            };
            let handler = handler.or(ex.root_fault);
            let Some(h) = fault_handler(&mut msg, handling.is_some(), handler, &failure) else {
                return Driven::Reply(builtin(&failure, msg));
            };
            handling = Some(failure);
            out_seq = None;
            start = Start::Seq(h);
        }
    }

    /// The reply of a flow that ran to its end without respond, send or drop.
    fn finished(&self, msg: MessageContext, handling: Option<Failure>) -> Reply {
        if let Some(failure) = handling {
            // A fault sequence that neither responds nor drops: built-in reply.
            return builtin(&failure, msg);
        }
        if msg.is_response() {
            return self.respond(msg, None);
        }
        tracing::warn!(message_id = %msg.id, "The in-sequence ended without send, respond or drop; answering 202 Accepted");
        Reply::Accepted(msg)
    }

    fn respond(&self, mut msg: MessageContext, handling: Option<&Failure>) -> Reply {
        let forced = msg
            .get_axis2("HTTP_SC")
            .and_then(|v| match v {
                // A backend's status (set on every response) is a number already.
                Value::Int(code) => u16::try_from(*code).ok(),
                other => other.to_string().trim().parse::<u16>().ok(),
            })
            .and_then(|c| StatusCode::from_u16(c).ok());
        let status = forced
            .or(if msg.is_response() { msg.status } else { None })
            .or(handling.map(Failure::status))
            .unwrap_or(StatusCode::OK);
        msg.status = Some(status);
        Reply::Message(msg)
    }

    async fn send(
        &self,
        endpoint: Option<EndpointId>,
        msg: &mut MessageContext,
    ) -> Result<(), Failure> {
        let Some(id) = endpoint else {
            let error = match &msg.to {
                Some(to) if self.limits.allow_to.permits(to) => {
                    let to = to.clone();
                    return (self.endpoints.deliver_to(&to, msg, &self.limits).await)
                        .map_err(Failure::Endpoint);
                }
                Some(to) => MediationError::ImplicitTo(to.chars().take(200).collect()),
                None => MediationError::NoDestination,
            };
            return Err(Failure::Mediation(error));
        };
        self.endpoints
            .deliver(id, msg, &self.limits)
            .await
            .map_err(Failure::Endpoint)
    }

    /// Interprets one sequence (and everything it invokes) until it ends.
    async fn run_flow<'c>(
        &'c self,
        env: &Env<'c>,
        ex: &Exchange,
        start: Start<'c>,
        msg: &mut MessageContext,
        branch: bool,
    ) -> FlowEnd<'c> {
        let templates = msg.func_depth();
        let end = self.interpret(env, ex, start, msg, branch).await;
        // Template parameters never outlive the flow that set them.
        msg.truncate_func_scopes(templates);
        end
    }

    async fn interpret<'c>(
        &'c self,
        env: &Env<'c>,
        ex: &Exchange,
        start: Start<'c>,
        msg: &mut MessageContext,
        branch: bool,
    ) -> FlowEnd<'c> {
        let mut frames: Vec<Frame<'c>> = match start {
            Start::Seq(id) => {
                let mut frames = Vec::with_capacity(4);
                push_sequence(&mut frames, self, id);
                frames
            }
            Start::Frames { frames, call } => {
                if call.is_some()
                    && let Err(failure) = self.send(call, msg).await
                {
                    return self.call_failed(&frames, call, failure);
                }
                frames
            }
        };
        loop {
            let Some(mediator) = next_mediator(&mut frames, msg) else {
                return FlowEnd::Finished;
            };
            tracing::debug!(message_id = %msg.id, mediator = %MediatorName(mediator), "Mediator runs");
            // A step that reads a large payload runs off the I/O worker.
            let step = if off_worker::heavy_body(&msg.body) && mediator.reads_payload() {
                self.mediate_off_worker(&mut frames, msg).await
            } else {
                mediator.mediate(msg, env)
            };
            let step = match step {
                Ok(step) => step,
                Err(error) => return fault(&frames, Failure::of_mediation(msg, error)),
            };
            if let Some(end) = too_deep(&frames, &step) {
                return end;
            }
            // The awaits stay here, so no step's future is moved between functions.
            match step {
                Step::Continue => {}
                Step::Sequence(id) => push_sequence(&mut frames, self, id),
                Step::Mediators(list) => push_branch(&mut frames, list),
                Step::Template {
                    sequence,
                    params,
                    on_error,
                } => {
                    msg.push_func_scope(params);
                    push_template(&mut frames, self, sequence, on_error);
                }
                Step::NeedBody => {
                    if let Some(end) = rewind_for_body(&mut frames, msg) {
                        return end;
                    }
                    if let Err(error) = msg.body.buffer(self.limits.max_body).await {
                        return fault(&frames, Failure::of_mediation(msg, error.into()));
                    }
                }
                Step::Call(endpoint) => {
                    if let Err(failure) = self.send(endpoint, msg).await {
                        return self.call_failed(&frames, endpoint, failure);
                    }
                }
                Step::Send { endpoint, receive } => return FlowEnd::Send { endpoint, receive },
                Step::Respond => return FlowEnd::Respond,
                Step::Drop => return FlowEnd::Drop,
                Step::Loopback => return FlowEnd::Loopback,
                Step::Fork(fork) => match self.fork(env, ex, &frames, fork, msg, branch).await {
                    fan_out::Forked::Continue => {}
                    fan_out::Forked::Replace(next) => frames = next,
                    fan_out::Forked::End(end) => return end,
                },
                Step::Aggregate(aggregate) if branch => {
                    return FlowEnd::Arrive { aggregate, frames };
                }
                Step::Aggregate(_) => {}
            }
        }
    }

    /// The error handler of `endpoint`, if it has one.
    fn on_error(&self, endpoint: Option<EndpointId>) -> Option<SeqId> {
        endpoint.and_then(|id| self.config.endpoint(id).on_error)
    }

    /// The end of a flow whose `call` to `endpoint` failed: the endpoint's own error
    /// handler, else the nearest frame's.
    fn call_failed(
        &self,
        frames: &[Frame<'_>],
        endpoint: Option<EndpointId>,
        failure: Failure,
    ) -> FlowEnd<'static> {
        match self.on_error(endpoint) {
            Some(h) => FlowEnd::Fault {
                handler: Some(h),
                failure,
            },
            None => fault(frames, failure),
        }
    }
}

fn push_sequence<'c>(frames: &mut Vec<Frame<'c>>, rt: &'c Runtime, id: SeqId) {
    frames.push(Frame {
        mediators: rt.steps.sequence(id),
        next: 0,
        on_error: rt.config.sequence(id).on_error,
        template: false,
        seq: Some(id),
    });
}

/// The innermost `onError` handler on the stack takes the failure; otherwise the root's.
fn fault(frames: &[Frame<'_>], failure: Failure) -> FlowEnd<'static> {
    let handler = frames.iter().rev().find_map(|f| f.on_error);
    FlowEnd::Fault { handler, failure }
}
/// The next mediator to run, leaving the frames that are done (a template's parameters
/// leave with it); `None` when the flow has run to its end.
fn next_mediator<'c>(
    frames: &mut Vec<Frame<'c>>,
    msg: &mut MessageContext,
) -> Option<&'c dyn Mediator> {
    loop {
        let top = frames.last_mut()?;
        if let Some(mediator) = top.mediators.get(top.next) {
            top.next += 1;
            return Some(mediator.as_ref());
        }
        if frames.pop().is_some_and(|f| f.template) {
            msg.pop_func_scope();
        }
    }
}

/// Runs the mediators of a branch next.
fn push_branch<'c>(frames: &mut Vec<Frame<'c>>, list: &'c [Box<dyn Mediator>]) {
    frames.push(Frame {
        mediators: list,
        next: 0,
        on_error: None,
        template: false,
        seq: None,
    });
}

/// The frames of a call to the template `sequence`: under it, when the call has an
/// `onError`, an empty frame that only holds that handler (popped once the body ends).
fn push_template<'c>(
    frames: &mut Vec<Frame<'c>>,
    rt: &'c Runtime,
    sequence: SeqId,
    on_error: Option<SeqId>,
) {
    if on_error.is_some() {
        push_branch(frames, &[]);
        if let Some(top) = frames.last_mut() {
            top.on_error = on_error;
        }
    }
    push_sequence(frames, rt, sequence);
    if let Some(top) = frames.last_mut() {
        top.template = true;
    }
}

/// The fault of a `step` that would nest the flow deeper than [`MAX_FRAMES`].
fn too_deep(frames: &[Frame<'_>], step: &Step<'_>) -> Option<FlowEnd<'static>> {
    if matches!(
        step,
        Step::Sequence(_) | Step::Mediators(_) | Step::Template { .. } | Step::Fork(_)
    ) && frames.len() >= MAX_FRAMES
    {
        let error = MediationError::Failed(format!(
            "sequences are nested deeper than {MAX_FRAMES} levels (does a computed sequence key call itself?)"
        ));
        return Some(fault(frames, Failure::Mediation(error)));
    }
    None
}

/// Makes the mediator that asked for the body run again once it is read; the fault when
/// the body is in memory already (asking again would loop forever).
fn rewind_for_body(frames: &mut [Frame<'_>], msg: &MessageContext) -> Option<FlowEnd<'static>> {
    if !matches!(msg.body, crate::message::Body::Stream { .. }) {
        let error =
            MediationError::Failed("a mediator asked for a body that is already read".into());
        return Some(fault(frames, Failure::Mediation(error)));
    }
    if let Some(top) = frames.last_mut() {
        top.next -= 1;
    }
    None
}

/// The fault handler to run for `failure` (`handler`, when the failure may run one), with
/// the error properties set; `None` when Axon's built-in handling answers: for a
/// failure inside a fault handler (`handling`), or one that skips fault sequences.
fn fault_handler(
    msg: &mut MessageContext,
    handling: bool,
    handler: Option<SeqId>,
    failure: &Failure,
) -> Option<SeqId> {
    if handling {
        return None;
    }
    set_error_properties(msg, failure);
    if failure.skips_fault_sequence() {
        return None;
    }
    let handler = handler?;
    msg.fault_status = Some(failure.status());
    Some(handler)
}

fn set_error_properties(msg: &mut MessageContext, failure: &Failure) {
    msg.set("ERROR_CODE", Value::Int(i64::from(failure.code())));
    msg.set("ERROR_MESSAGE", failure.message());
    msg.set("ERROR_DETAIL", failure.detail());
    if let Failure::Endpoint(error) = failure {
        msg.set("BASE_ERROR_CODE", Value::Int(i64::from(error.base_code())));
        if let Some(address) = &error.address {
            msg.set("ERROR_ADDRESS", address.as_str());
        }
    }
    if let Some(last) = msg.last_endpoint().map(str::to_owned) {
        msg.set("LAST_ENDPOINT", last);
    }
    msg.set("SENDING_FAULT", Value::Bool(true));
}

fn builtin(failure: &Failure, msg: MessageContext) -> Reply {
    let fault = BuiltinFault {
        status: failure.status(),
        code: failure.code(),
        message: failure.client_message(),
        detail: failure.client_detail(),
        client: msg.client,
        message_id: msg.id.to_string(),
    };
    tracing::warn!(
        message_id = %msg.id,
        status = fault.status.as_u16(),
        code = fault.code,
        error = %failure.detail(),
        "Fault handled by Axon's built-in fault sequence"
    );
    Reply::Fault(fault, msg)
}
