//! The endpoint actor: the one owner of a leaf's health state.
//!
//! It is a thin shell. Every decision is made by the plain [`HealthMachine`]; the actor
//! feeds it the outcomes workers report, publishes the result to the shared [`Health`]
//! word, and keeps what the health API shows (last error, recent transitions). Request and
//! response bytes never pass through it.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use actix::prelude::*;
use serde::Serialize;
use tokio::time::Instant;

use super::group::{GetNodeHealth, NodeReport};
use super::health::Health;
use super::state::{EndpointState, FailureClass, HealthMachine, SuspensionPolicy, Transition};
use crate::base::readiness::Readiness;

pub(crate) mod probe;
pub(crate) mod registry;

/// How many transitions the health API keeps per endpoint.
const TRANSITION_HISTORY: usize = 32;

/// A worker reports the outcome of one request sent through this endpoint.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) enum Report {
    /// A response arrived (any status).
    Success {
        /// True when the request was the trial of a suspended endpoint.
        trial: bool,
    },
    /// The request failed.
    Failure {
        /// True when the request was the trial of a suspended endpoint.
        trial: bool,
        /// What failed.
        error: ErrorRecord,
    },
    /// The request was abandoned before an outcome (the client went away).
    Abandoned {
        /// True when the request was the trial of a suspended endpoint.
        trial: bool,
    },
    /// Test hook: the handler panics while taking this report, as a bug would (see
    /// [`contain`]). Only with the `test-hooks` feature, which release builds never enable.
    #[cfg(feature = "test-hooks")]
    #[doc(hidden)]
    Panic {
        /// As for the other reports: the trial slot is released even so.
        trial: bool,
    },
}

/// Asks for the endpoint's health report (`None` when the handler failed).
#[derive(Debug, Message)]
#[rtype(result = "Option<HealthReport>")]
pub(crate) struct GetHealth;

/// Manual maintenance switch: OFF (`on: false`) until switched back on.
#[derive(Debug, Message)]
#[rtype(result = "Option<HealthReport>")]
pub(crate) struct Switch {
    /// True to switch on, false to switch off.
    pub(crate) on: bool,
}

/// Test hook: makes a group actor's handler panic (see [`contain`]). Only with the
/// `test-hooks` feature, which release builds never enable.
#[cfg(feature = "test-hooks")]
#[doc(hidden)]
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct Panic;

/// A failure as the health API shows it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ErrorRecord {
    /// Synapse error code.
    pub(crate) code: u32,
    /// Synapse error message.
    pub(crate) message: String,
    /// The underlying cause.
    pub(crate) detail: String,
    /// The resolved backend address.
    pub(crate) address: Option<String>,
    /// When it happened (RFC 3339).
    pub(crate) time: String,
    /// The message that failed (as in its error answer and log line); none for a probe.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) message_id: Option<String>,
}

/// One state change as the health API shows it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct TransitionRecord {
    /// State before.
    pub(crate) from: EndpointState,
    /// State after.
    pub(crate) to: EndpointState,
    /// Why.
    pub(crate) reason: String,
    /// When (RFC 3339).
    pub(crate) time: String,
}

/// Traffic counters.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct Counters {
    /// Requests sent.
    pub(crate) sent: u64,
    /// Responses received.
    pub(crate) succeeded: u64,
    /// Failures.
    pub(crate) failed: u64,
}

/// What `GET /health/actors/{name}` shows for a leaf.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct HealthReport {
    /// Endpoint name.
    pub(crate) name: String,
    /// Element name: `address`, `http`, ...
    #[serde(rename = "type")]
    pub(crate) kind: &'static str,
    /// The configured address or template.
    pub(crate) address: String,
    /// Current state.
    pub(crate) state: EndpointState,
    /// Milliseconds until a TIMEOUT/SUSPENDED endpoint may be tried (0 when ready).
    pub(crate) retry_in_ms: Option<u64>,
    /// The last suspension's length.
    pub(crate) last_suspension_ms: Option<u64>,
    /// Timeout-class failures still tolerated before suspension.
    pub(crate) remaining_retries: u32,
    /// True while the trial request of a recovering endpoint is in flight.
    pub(crate) trial_in_flight: bool,
    /// Traffic counters.
    pub(crate) counters: Counters,
    /// The last failure.
    pub(crate) last_error: Option<ErrorRecord>,
    /// Recent transitions, oldest first.
    pub(crate) transitions: Vec<TransitionRecord>,
    /// How many times the supervisor restarted this actor.
    pub(crate) restarts: u32,
    /// When it last did (RFC 3339).
    pub(crate) last_restart: Option<String>,
}

/// Static facts about the leaf, for reports.
#[derive(Debug, Clone)]
pub(crate) struct LeafInfo {
    /// Endpoint name.
    pub(crate) name: String,
    /// Element name.
    pub(crate) kind: &'static str,
    /// Address or template as configured.
    pub(crate) address: String,
}

/// The actor owning one leaf's [`HealthMachine`].
#[derive(Debug)]
pub(crate) struct EndpointActor {
    info: LeafInfo,
    health: Arc<Health>,
    policy: SuspensionPolicy,
    machine: HealthMachine,
    last_error: Option<ErrorRecord>,
    transitions: VecDeque<TransitionRecord>,
    restarts: Restarts,
    readiness: Option<Readiness>,
    /// Transitions not yet counted in the metrics (counted once the state is published).
    unmetered: Vec<(EndpointState, EndpointState, Option<Duration>)>,
}

/// How often an actor's supervisor restarted it, and when last. A field of the actor,
/// which its `Supervisor` keeps across restarts.
#[derive(Debug, Clone, Default)]
pub(crate) struct Restarts {
    pub(crate) count: u32,
    pub(crate) last: Option<String>,
}

/// Runs one handler body of `actor`, containing a panic in it.
///
/// actix does not restart an actor whose handler panics: the panic ends the task that runs
/// the actor and its `Supervisor` together (the runtime catches it at the task's edge), so
/// the actor is gone without having stopped, and its address answers no more. Each handler
/// body therefore runs here; a panic is caught, logged, and the actor stopped, so that its
/// `Supervisor` restarts it (see the `Supervised` impls). What the actor owns lives in
/// fields the supervisor keeps (the [`HealthMachine`]) and in the shared [`Health`] word
/// workers read, so nothing is lost but the message being handled. `None` when it panicked.
pub(crate) fn contain<A, R>(
    actor: &mut A,
    ctx: &mut Context<A>,
    name: &str,
    body: impl FnOnce(&mut A, &mut Context<A>) -> R,
) -> Option<R>
where
    A: Actor<Context = Context<A>>,
{
    match catch_unwind(AssertUnwindSafe(|| body(actor, ctx))) {
        Ok(result) => Some(result),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
                .unwrap_or("(no message)");
            tracing::error!(actor = %name, panic = %what, "Actor handler panicked; its supervisor restarts it");
            ctx.stop();
            None
        }
    }
}

// === impl Restarts ===

impl Restarts {
    /// Counts one restart, now.
    pub(crate) fn record(&mut self) -> u32 {
        self.count = self.count.saturating_add(1);
        self.last = Some(rfc3339(SystemTime::now()));
        self.count
    }
}

/// Formats a wall-clock time for the health API.
pub(crate) fn rfc3339(at: SystemTime) -> String {
    humantime::format_rfc3339_millis(at).to_string()
}

// === impl EndpointActor ===

impl EndpointActor {
    /// A new actor for a leaf whose shared view is `health`.
    pub(crate) fn new(
        info: LeafInfo,
        health: Arc<Health>,
        policy: SuspensionPolicy,
        readiness: Option<Readiness>,
    ) -> Self {
        EndpointActor {
            info,
            health,
            policy,
            machine: HealthMachine::new(),
            last_error: None,
            transitions: VecDeque::new(),
            restarts: Restarts::default(),
            readiness,
            unmetered: Vec::new(),
        }
    }

    fn record(&mut self, transition: Option<Transition>) {
        let Some(t) = transition else { return };
        let suspended = t.to == EndpointState::Suspended;
        let length = self.machine.last_suspension().filter(|_| suspended);
        self.unmetered.push((t.from, t.to, length));
        tracing::info!(
            endpoint = %self.info.name,
            from = %t.from,
            to = %t.to,
            reason = %t.reason,
            "Endpoint state changed"
        );
        if self.transitions.len() == TRANSITION_HISTORY {
            self.transitions.pop_front();
        }
        self.transitions.push_back(TransitionRecord {
            from: t.from,
            to: t.to,
            reason: t.reason,
            time: rfc3339(SystemTime::now()),
        });
    }

    /// Publishes the state to the workers, then counts the transitions in the metrics
    /// (after: a worker's next admission should not wait for the counting).
    pub(crate) fn publish(&mut self, trial_done: bool) {
        self.health.publish(&self.machine, trial_done);
        let metrics = crate::base::metrics::global();
        for (from, to, length) in self.unmetered.drain(..) {
            metrics.endpoint_transition(&self.info.name, from.as_str(), to.as_str(), length);
        }
    }

    fn report(&self) -> HealthReport {
        let now = Instant::now();
        // Rounded up: 0 only once the endpoint may really be tried (a report of 0 with
        // 0.4 ms left sent a waiting test, or a group's report, to a still-suspended leaf).
        let retry_in_ms = self.machine.next_retry().map(|at| {
            at.saturating_duration_since(now)
                .as_nanos()
                .div_ceil(1_000_000) as u64
        });
        HealthReport {
            name: self.info.name.clone(),
            kind: self.info.kind,
            address: self.info.address.clone(),
            state: self.machine.state(),
            retry_in_ms,
            last_suspension_ms: self.machine.last_suspension().map(|d| d.as_millis() as u64),
            remaining_retries: self.machine.remaining_retries(&self.policy),
            trial_in_flight: self.health.trial_in_flight(),
            counters: Counters {
                sent: self.health.sent.load(std::sync::atomic::Ordering::Relaxed),
                succeeded: self
                    .health
                    .succeeded
                    .load(std::sync::atomic::Ordering::Relaxed),
                failed: self
                    .health
                    .failed
                    .load(std::sync::atomic::Ordering::Relaxed),
            },
            last_error: self.last_error.clone(),
            transitions: self.transitions.iter().cloned().collect(),
            restarts: self.restarts.count,
            last_restart: self.restarts.last.clone(),
        }
    }

    fn take_report(&mut self, msg: Report) {
        let now = Instant::now();
        match msg {
            Report::Success { .. } => {
                let t = self.machine.on_success(&self.policy);
                self.record(t);
            }
            Report::Failure { error, .. } => {
                let (class, t) = self.machine.on_failure(error.code, &self.policy, now);
                if class == FailureClass::NonFatal {
                    tracing::debug!(endpoint = %self.info.name, code = error.code, "Non-fatal endpoint error");
                }
                self.last_error = Some(error);
                self.record(t);
            }
            Report::Abandoned { .. } => {}
            #[cfg(feature = "test-hooks")]
            Report::Panic { .. } => panic!("test hook: endpoint actor `{}` panics", self.info.name),
        }
    }
}

// === impl Report ===

impl Report {
    /// True when the report ends a trial (so the trial slot must be released).
    fn trial(&self) -> bool {
        match self {
            Report::Success { trial }
            | Report::Failure { trial, .. }
            | Report::Abandoned { trial } => *trial,
            #[cfg(feature = "test-hooks")]
            Report::Panic { trial } => *trial,
        }
    }
}

impl Actor for EndpointActor {
    type Context = Context<Self>;

    fn started(&mut self, _ctx: &mut Self::Context) {
        self.health.publish(&self.machine, false);
        if let Some(readiness) = self.readiness.take() {
            readiness.actor_started();
        }
    }
}

impl Supervised for EndpointActor {
    fn restarting(&mut self, _ctx: &mut Self::Context) {
        // The health machine is a field of this struct, which the Supervisor keeps, and
        // `started` publishes it again.
        let restarts = self.restarts.record();
        tracing::warn!(endpoint = %self.info.name, restarts, "Endpoint actor restarted");
    }
}

impl Handler<Report> for EndpointActor {
    type Result = ();

    fn handle(&mut self, msg: Report, ctx: &mut Self::Context) {
        let trial = msg.trial();
        let name = self.info.name.clone();
        contain(self, ctx, &name, |act, _| act.take_report(msg));
        // Also when the handler panicked, a trial's outcome is in: its slot is released,
        // or the endpoint would never be tried again.
        self.publish(trial);
    }
}

impl Handler<GetHealth> for EndpointActor {
    type Result = MessageResult<GetHealth>;

    fn handle(&mut self, _msg: GetHealth, ctx: &mut Self::Context) -> Self::Result {
        let name = self.info.name.clone();
        MessageResult(contain(self, ctx, &name, |act, _| act.report()))
    }
}

impl Handler<GetNodeHealth> for EndpointActor {
    type Result = MessageResult<GetNodeHealth>;

    fn handle(&mut self, _msg: GetNodeHealth, ctx: &mut Self::Context) -> Self::Result {
        let name = self.info.name.clone();
        MessageResult(contain(self, ctx, &name, |act, _| {
            NodeReport::Leaf(Box::new(act.report()))
        }))
    }
}

impl Handler<Switch> for EndpointActor {
    type Result = MessageResult<Switch>;

    fn handle(&mut self, msg: Switch, ctx: &mut Self::Context) -> Self::Result {
        let name = self.info.name.clone();
        MessageResult(contain(self, ctx, &name, |act, _| {
            let t = if msg.on {
                act.machine.switch_on(&act.policy)
            } else {
                act.machine.switch_off()
            };
            act.record(t);
            act.publish(false);
            act.report()
        }))
    }
}
