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
pub mod lifecycle;
pub mod live;
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
use crate::mediators::{Env, Mediator, Parser, Step, Steps};
use crate::message::{BodyError, MessageContext, Value};

/// Why a flow went to the fault handlers.
#[derive(Debug)]
pub enum Failure {
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
    pub status: StatusCode,
    /// Synapse error code.
    pub code: u32,
    /// Error message.
    pub message: String,
    /// Details (the cause).
    pub detail: String,
    /// What the client speaks, to answer in kind (not what the backend answered).
    pub client: crate::message::ClientFormat,
    /// The exchange's message id, also in the log line and `X-Axon-Message-Id`.
    pub message_id: String,
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
    pub config: Arc<Config>,
    /// The mediators of its sequences (shared with steps that run off the I/O worker).
    pub(crate) steps: Arc<Steps>,
    /// Its running endpoints.
    pub endpoints: Endpoints,
    /// The API router.
    pub router: dispatch::Router,
    /// The router of the gRPC front (gRPC APIs only).
    pub grpc_router: dispatch::Router,
    /// Message limits.
    pub limits: Limits,
    /// The live lifecycle state of each API.
    pub apis: lifecycle::ApiStates,
}

/// How a flow (one sequence and what it invokes) ended.
enum FlowEnd {
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
}

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
    pub fn code(&self) -> u32 {
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
    pub fn message(&self) -> String {
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
    /// backend's address or an OS error (see [`EndpointError::public_detail`]).
    fn client_detail(&self) -> String {
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
    /// Loads and validates every `*.xml` file under `dir`, recursively, handing the
    /// mediators' parser to the configuration load (what `axon check` runs).
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
    pub fn build(
        mediation: Mediation,
        previous: Option<&Runtime>,
        arbiter: &ArbiterHandle,
        readiness: &Readiness,
        limits: Limits,
    ) -> Runtime {
        let Mediation { config, steps } = mediation;
        let config = Arc::new(config);
        let endpoints =
            Endpoints::build(&config, previous.map(|p| &p.endpoints), arbiter, readiness);
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
    pub async fn run_exchange(
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
        let root_fault = fault_seq.or_else(|| self.config.sequence_named("fault"));
        let Some(mut current) = in_seq else {
            return Reply::Accepted(msg);
        };
        let mut out_seq = out_seq;
        // The failure being handled, once a fault handler runs.
        let mut handling: Option<Failure> = None;
        loop {
            let end = self.run_flow(&env, current, &mut msg).await;
            let failure = match end {
                FlowEnd::Respond => return self.respond(msg, handling.as_ref()),
                FlowEnd::Drop => return Reply::Accepted(msg),
                FlowEnd::Loopback => {
                    msg.loop_back();
                    match out_seq.take() {
                        Some(next) => {
                            current = next;
                            continue;
                        }
                        None => return self.respond(msg, handling.as_ref()),
                    }
                }
                FlowEnd::Finished => {
                    if let Some(failure) = handling {
                        // A fault sequence that neither responds nor drops: built-in reply.
                        return builtin(&failure, msg);
                    }
                    if msg.is_response() {
                        return self.respond(msg, None);
                    }
                    tracing::warn!(message_id = %msg.id, "The in-sequence ended without send, respond or drop; answering 202 Accepted");
                    return Reply::Accepted(msg);
                }
                FlowEnd::Send { endpoint, receive } => {
                    if msg.is_response() && endpoint.is_none() {
                        return self.respond(msg, handling.as_ref());
                    }
                    match self.send(endpoint, &mut msg).await {
                        Ok(()) => match receive.or(out_seq) {
                            Some(next) => {
                                out_seq = None;
                                current = next;
                                continue;
                            }
                            None => return self.respond(msg, None),
                        },
                        Err(failure) => {
                            let handler = endpoint.and_then(|id| self.config.endpoint(id).on_error);
                            (handler, failure)
                        }
                    }
                }
                FlowEnd::Fault { handler, failure } => (handler, failure),
            };
            let (handler, failure) = failure;
            if handling.is_some() {
                // A failure inside a fault handler: Axon's built-in handling answers.
                return builtin(&failure, msg);
            }
            set_error_properties(&mut msg, &failure);
            if failure.skips_fault_sequence() {
                return builtin(&failure, msg);
            }
            match handler.or(root_fault) {
                Some(h) => {
                    msg.fault_status = Some(failure.status());
                    handling = Some(failure);
                    out_seq = None;
                    current = h;
                }
                None => return builtin(&failure, msg),
            }
        }
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
        start: SeqId,
        msg: &mut MessageContext,
    ) -> FlowEnd {
        let templates = msg.func_depth();
        let end = self.interpret(env, start, msg).await;
        // Template parameters never outlive the flow that set them.
        msg.truncate_func_scopes(templates);
        end
    }

    async fn interpret<'c>(
        &'c self,
        env: &Env<'c>,
        start: SeqId,
        msg: &mut MessageContext,
    ) -> FlowEnd {
        let mut frames: Vec<Frame<'c>> = Vec::with_capacity(4);
        push_sequence(&mut frames, self, start);
        loop {
            let Some(top) = frames.last_mut() else {
                return FlowEnd::Finished;
            };
            let Some(mediator) = top.mediators.get(top.next) else {
                if frames.pop().is_some_and(|f| f.template) {
                    msg.pop_func_scope();
                }
                continue;
            };
            top.next += 1;
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
            if matches!(
                step,
                Step::Sequence(_) | Step::Mediators(_) | Step::Template { .. }
            ) && frames.len() >= MAX_FRAMES
            {
                let error = MediationError::Failed(format!(
                    "sequences are nested deeper than {MAX_FRAMES} levels (does a computed sequence key call itself?)"
                ));
                return fault(&frames, Failure::Mediation(error));
            }
            match step {
                Step::Continue => {}
                Step::Sequence(id) => push_sequence(&mut frames, self, id),
                Step::Mediators(list) => frames.push(Frame {
                    mediators: list,
                    next: 0,
                    on_error: None,
                    template: false,
                    seq: None,
                }),
                Step::Template { sequence, params } => {
                    msg.push_func_scope(params);
                    push_sequence(&mut frames, self, sequence);
                    if let Some(top) = frames.last_mut() {
                        top.template = true;
                    }
                }
                Step::NeedBody => {
                    if !matches!(msg.body, crate::message::Body::Stream { .. }) {
                        // The body is in memory already: asking again would loop forever.
                        let error = MediationError::Failed(
                            "a mediator asked for a body that is already read".into(),
                        );
                        return fault(&frames, Failure::Mediation(error));
                    }
                    if let Some(top) = frames.last_mut() {
                        top.next -= 1;
                    }
                    if let Err(error) = msg.body.buffer(self.limits.max_body).await {
                        return fault(&frames, Failure::of_mediation(msg, error.into()));
                    }
                }
                Step::Call(endpoint) => {
                    if let Err(failure) = self.send(endpoint, msg).await {
                        let on_error = endpoint.and_then(|id| self.config.endpoint(id).on_error);
                        return match on_error {
                            Some(h) => FlowEnd::Fault {
                                handler: Some(h),
                                failure,
                            },
                            None => fault(&frames, failure),
                        };
                    }
                }
                Step::Send { endpoint, receive } => return FlowEnd::Send { endpoint, receive },
                Step::Respond => return FlowEnd::Respond,
                Step::Drop => return FlowEnd::Drop,
                Step::Loopback => return FlowEnd::Loopback,
            }
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
fn fault(frames: &[Frame<'_>], failure: Failure) -> FlowEnd {
    let handler = frames.iter().rev().find_map(|f| f.on_error);
    FlowEnd::Fault { handler, failure }
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
