//! Active health checks: a probe task per checked leaf, and how its actor takes the verdicts.
//!
//! Synapse has no active checks: a suspended endpoint is only tried again by live traffic
//! when its suspension ends. Axon probes `<grpc>` leaves that have a `<healthCheck>` with
//! the standard `grpc.health.v1.Health/Check`. The decision is split as everywhere else:
//! [`ProbeTally`] (plain, tested) turns probe results into verdicts with rise/fall
//! thresholds, and the actor feeds verdicts to its [`HealthMachine`](super::HealthMachine)
//! through the same transitions as traffic:
//!
//! - **down** (`unhealthyThreshold` failures in a row): a failure with the probe's error
//!   code (for example 101503 when the connection is refused, 101600 when the backend
//!   answers NOT_SERVING), classified by the endpoint's own `markForSuspension` and
//!   `suspendOnFailure` settings. While the endpoint stays down, each failed probe after
//!   its suspension ended suspends it again, with the usual back-off;
//! - **up** (`healthyThreshold` successes in a row): a TIMEOUT or SUSPENDED endpoint
//!   becomes ACTIVE at once, without waiting for the suspension to end. OFF stays OFF.
//!
//! The task holds only a weak address of the actor, so it ends when a reload drops the leaf.

use std::sync::Arc;
use std::time::SystemTime;

use actix::WeakAddr;
use actix::prelude::*;
use tokio::time::{Instant, MissedTickBehavior};

use super::{EndpointActor, ErrorRecord, rfc3339};
use crate::config::{GrpcSpec, HealthCheckSpec};
use crate::endpoints::error::EndpointError;
use crate::endpoints::grpc;
use crate::endpoints::state::EndpointState;

/// A probe verdict for the actor.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub enum Probed {
    /// The backend passed `healthyThreshold` checks in a row.
    Up,
    /// The backend failed `unhealthyThreshold` checks in a row (and is still failing).
    Down(ErrorRecord),
}

/// What a probe result means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The backend just became healthy.
    Up,
    /// The backend is unhealthy (sent for each failure while it stays so).
    Down,
    /// Nothing to tell the actor.
    Unchanged,
}

/// Consecutive probe results against the rise and fall thresholds. A new tally believes
/// the backend healthy, as a new endpoint is ACTIVE.
#[derive(Debug, Clone)]
pub(crate) struct ProbeTally {
    healthy: bool,
    good_run: u32,
    bad_run: u32,
    rise: u32,
    fall: u32,
}

// === impl ProbeTally ===

impl ProbeTally {
    /// A tally that needs `rise` good results to come up and `fall` bad ones to go down.
    pub(crate) fn new(rise: u32, fall: u32) -> Self {
        ProbeTally {
            healthy: true,
            good_run: 0,
            bad_run: 0,
            rise: rise.max(1),
            fall: fall.max(1),
        }
    }

    /// Records one probe result.
    pub(crate) fn record(&mut self, ok: bool) -> Verdict {
        if ok {
            self.bad_run = 0;
            self.good_run = self.good_run.saturating_add(1);
            if !self.healthy && self.good_run >= self.rise {
                self.healthy = true;
                return Verdict::Up;
            }
            Verdict::Unchanged
        } else {
            self.good_run = 0;
            self.bad_run = self.bad_run.saturating_add(1);
            if self.healthy && self.bad_run >= self.fall {
                self.healthy = false;
            }
            if self.healthy {
                Verdict::Unchanged
            } else {
                Verdict::Down
            }
        }
    }
}

impl From<&EndpointError> for ErrorRecord {
    fn from(error: &EndpointError) -> Self {
        ErrorRecord {
            code: error.code(),
            message: error.message(),
            detail: error.detail.clone(),
            address: error.address.clone(),
            time: rfc3339(SystemTime::now()),
        }
    }
}

// === impl EndpointActor ===

impl Handler<Probed> for EndpointActor {
    type Result = ();

    fn handle(&mut self, msg: Probed, _ctx: &mut Self::Context) {
        let now = Instant::now();
        let state = self.machine.state();
        let transition = match msg {
            Probed::Up => match state {
                EndpointState::Timeout | EndpointState::Suspended => {
                    self.machine.on_success(&self.policy)
                }
                EndpointState::Active | EndpointState::Off => None,
            },
            Probed::Down(error) => {
                let due = match state {
                    EndpointState::Off => false,
                    // Still suspended: the suspension already says so.
                    EndpointState::Suspended => self.machine.ready(now),
                    EndpointState::Active | EndpointState::Timeout => true,
                };
                if !due {
                    return;
                }
                let (_, t) = self.machine.on_failure(error.code, &self.policy, now);
                self.last_error = Some(error);
                t
            }
        };
        self.record(transition.map(|mut t| {
            t.reason = format!("health check: {}", t.reason);
            t
        }));
        self.health.publish(&self.machine, false);
    }
}

/// Starts probing `spec`'s backend on `arbiter` for the actor at `actor`.
pub(crate) fn start(
    arbiter: &ArbiterHandle,
    actor: WeakAddr<EndpointActor>,
    spec: GrpcSpec,
    check: HealthCheckSpec,
    name: Arc<str>,
) {
    arbiter.spawn_fn(move || {
        actix_rt::spawn(run(actor, spec, check, name));
    });
}

async fn run(
    actor: WeakAddr<EndpointActor>,
    spec: GrpcSpec,
    check: HealthCheckSpec,
    name: Arc<str>,
) {
    let mut tally = ProbeTally::new(check.healthy_threshold, check.unhealthy_threshold);
    let mut ticker = tokio::time::interval(check.interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if actor.upgrade().is_none() {
            return;
        }
        let outcome = grpc::check_health(&spec, &check, &name).await;
        let verdict = tally.record(outcome.is_ok());
        let Some(addr) = actor.upgrade() else {
            return;
        };
        match (verdict, outcome) {
            (Verdict::Up, _) => addr.do_send(Probed::Up),
            (Verdict::Down, Err(error)) => {
                tracing::debug!(endpoint = %name, code = error.code(), error = %error.detail, "Health check failed");
                addr.do_send(Probed::Down(ErrorRecord::from(&error)));
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goes_down_after_fall_failures_and_reports_every_failure_while_down() {
        let mut t = ProbeTally::new(2, 3);
        assert_eq!(t.record(false), Verdict::Unchanged);
        assert_eq!(t.record(false), Verdict::Unchanged);
        assert_eq!(t.record(false), Verdict::Down);
        assert_eq!(t.record(false), Verdict::Down);
    }

    #[test]
    fn a_success_resets_the_failure_run() {
        let mut t = ProbeTally::new(2, 2);
        assert_eq!(t.record(false), Verdict::Unchanged);
        assert_eq!(t.record(true), Verdict::Unchanged);
        assert_eq!(t.record(false), Verdict::Unchanged);
        assert_eq!(t.record(false), Verdict::Down);
    }

    #[test]
    fn comes_up_after_rise_successes_in_a_row_only() {
        let mut t = ProbeTally::new(2, 1);
        assert_eq!(t.record(false), Verdict::Down);
        assert_eq!(t.record(true), Verdict::Unchanged);
        assert_eq!(t.record(false), Verdict::Down);
        assert_eq!(t.record(true), Verdict::Unchanged);
        assert_eq!(t.record(true), Verdict::Up);
        assert_eq!(t.record(true), Verdict::Unchanged);
    }

    #[test]
    fn thresholds_of_zero_act_as_one() {
        let mut t = ProbeTally::new(0, 0);
        assert_eq!(t.record(false), Verdict::Down);
        assert_eq!(t.record(true), Verdict::Up);
    }
}
