//! Active health checks: a probe task per checked leaf, and how its actor takes the verdicts.
//!
//! Synapse has no active checks: a suspended endpoint is only tried again by live traffic
//! when its suspension ends. Axon probes every leaf that has a `<healthCheck>`: `<grpc>`
//! leaves with the standard `grpc.health.v1.Health/Check`, HTTP leaves (`<address>`,
//! `<http>`, `<wsdl>`) with a `GET` of the check's URL that must answer 2xx or 3xx. Probes
//! are jittered ([`Jitter`]): the first comes at a random point of the first interval, each
//! next one after the interval ±10%, so leaves configured together do not probe in step.
//! The decision is split as everywhere else:
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

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use actix::WeakAddr;
use actix::prelude::*;
use tokio::time::Instant;

use super::{EndpointActor, ErrorRecord, contain, rfc3339};
use crate::base::error::{EndpointError, ErrorKind, ProtocolState};
use crate::config::{GrpcSpec, HealthCheckSpec, ProbeTarget, Target};
use crate::endpoints::state::EndpointState;
use crate::endpoints::state::{Admission, HealthMachine};
use crate::endpoints::{grpc, http};

/// A probe verdict for the actor.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) enum Probed {
    /// The backend passed `healthyThreshold` checks in a row.
    Up {
        /// How many (the threshold), for the transition's reason.
        in_a_row: u32,
    },
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
            detail: error.cause.to_string(),
            address: error.address.clone(),
            time: rfc3339(SystemTime::now()),
            message_id: None,
        }
    }
}

// === impl EndpointActor ===

impl Handler<Probed> for EndpointActor {
    type Result = ();

    fn handle(&mut self, msg: Probed, ctx: &mut Self::Context) {
        let name = self.info.name.clone();
        contain(self, ctx, &name, |act, _| act.take_verdict(msg));
        self.publish(false);
    }
}

impl EndpointActor {
    fn take_verdict(&mut self, msg: Probed) {
        let now = Instant::now();
        let transition = match msg {
            Probed::Up { in_a_row } => self
                .machine
                .on_probe_success(&self.policy, &format!("passed {in_a_row} checks in a row")),
            Probed::Down(error) => {
                if !failure_counts(&self.machine, now) {
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
    }
}

/// Whether a failed probe counts now: while the endpoint may be tried ([`admit`]), and
/// in TIMEOUT (which the failure advances); not while it is OFF or still suspended.
///
/// [`admit`]: crate::endpoints::state::admit
fn failure_counts(machine: &HealthMachine, now: Instant) -> bool {
    !matches!(
        machine.admission(now),
        Admission::NotReady {
            state: EndpointState::Off | EndpointState::Suspended,
            ..
        }
    )
}

/// What one leaf's checks ask, and how often.
#[derive(Debug, Clone)]
pub(crate) struct Probe {
    check: HealthCheckSpec,
    grpc: Option<GrpcSpec>,
    /// How the backend's TLS is trusted (`--backend-ca`, `--backend-cert`).
    tls: Arc<crate::base::tls::BackendTls>,
    /// The leaf's own TLS settings.
    leaf_tls: crate::config::LeafTls,
}

/// A small random source for jitter (SplitMix64), seeded per leaf.
#[derive(Debug, Clone)]
pub(crate) struct Jitter(u64);

// === impl Probe ===

impl Probe {
    /// The checks `check` asks of the leaf sending to `target`.
    pub(crate) fn new(
        spec: &crate::config::LeafSpec,
        check: HealthCheckSpec,
        tls: &Arc<crate::base::tls::BackendTls>,
    ) -> Self {
        let target = &spec.target;
        let grpc = match target {
            Target::Grpc(spec) => Some(spec.clone()),
            _ => None,
        };
        Probe {
            check,
            grpc,
            tls: tls.clone(),
            leaf_tls: spec.tls.clone(),
        }
    }

    /// One check, on this thread's connection to the backend.
    async fn once(&self, name: &Arc<str>) -> Result<(), EndpointError> {
        match (&self.check.target, &self.grpc) {
            (ProbeTarget::Grpc { service }, Some(spec)) => {
                grpc::check_health(spec, service, self.check.timeout, name, &self.tls).await
            }
            (ProbeTarget::Http(url), _) => {
                http::probe(url, self.check.timeout, name, &self.tls, &self.leaf_tls).await
            }
            (ProbeTarget::Grpc { .. }, None) => Err(EndpointError::new(
                ErrorKind::InvalidAddress,
                ProtocolState::RequestReady,
                name.clone(),
                "a gRPC health check on an endpoint that is not <grpc>",
            )),
        }
    }
}

/// Starts probing for the actor at `actor` on `arbiter`.
pub(crate) fn start(
    arbiter: &ArbiterHandle,
    actor: WeakAddr<EndpointActor>,
    probe: Probe,
    name: Arc<str>,
) {
    arbiter.spawn_fn(move || {
        actix_rt::spawn(run(actor, probe, name));
    });
}

async fn run(actor: WeakAddr<EndpointActor>, probe: Probe, name: Arc<str>) {
    let check = &probe.check;
    let mut tally = ProbeTally::new(check.healthy_threshold, check.unhealthy_threshold);
    let mut jitter = Jitter::for_leaf(&name);
    tokio::time::sleep(jitter.first(check.interval)).await;
    loop {
        if actor.upgrade().is_none() {
            return;
        }
        let outcome = probe.once(&name).await;
        crate::base::metrics::global().probe(&name, outcome.is_ok());
        let verdict = tally.record(outcome.is_ok());
        let Some(addr) = actor.upgrade() else {
            return;
        };
        match (verdict, outcome) {
            (Verdict::Up, _) => addr.do_send(Probed::Up {
                in_a_row: check.healthy_threshold,
            }),
            (Verdict::Down, Err(error)) => {
                tracing::debug!(endpoint = %name, code = error.code(), error = %error.cause, "Health check failed");
                addr.do_send(Probed::Down(ErrorRecord::from(&error)));
            }
            _ => {}
        }
        drop(addr);
        tokio::time::sleep(jitter.next(check.interval)).await;
    }
}

// === impl Jitter ===

impl Jitter {
    /// A source with a fixed seed (tests).
    #[cfg(test)]
    pub(crate) fn seeded(seed: u64) -> Self {
        Jitter(seed)
    }

    /// A source seeded from the process's random hash keys and `name`.
    pub(crate) fn for_leaf(name: &str) -> Self {
        Jitter(RandomState::new().hash_one(name))
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Delay before the first probe: anywhere in the first interval.
    pub(crate) fn first(&mut self, interval: Duration) -> Duration {
        interval.mul_f64(self.unit())
    }

    /// Delay between probes: the interval ±10%.
    pub(crate) fn next(&mut self, interval: Duration) -> Duration {
        interval.mul_f64(0.9 + 0.2 * self.unit())
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
    fn jitter_stays_in_its_window_and_spreads() {
        let interval = Duration::from_millis(1000);
        let mut j = Jitter::seeded(7);
        let firsts: Vec<Duration> = (0..200).map(|_| j.first(interval)).collect();
        assert!(firsts.iter().all(|d| *d < interval));
        assert!(firsts.iter().any(|d| *d < interval / 4));
        assert!(firsts.iter().any(|d| *d > interval * 3 / 4));
        for _ in 0..200 {
            let d = j.next(interval);
            assert!(
                d >= Duration::from_millis(900) && d <= Duration::from_millis(1100),
                "{d:?}"
            );
        }
    }

    #[test]
    fn thresholds_of_zero_act_as_one() {
        let mut t = ProbeTally::new(0, 0);
        assert_eq!(t.record(false), Verdict::Down);
        assert_eq!(t.record(true), Verdict::Up);
    }
}
