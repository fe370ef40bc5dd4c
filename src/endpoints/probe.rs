//! Active health checks (`<healthCheck>`): what the leaf actor runs between messages.
//!
//! A probe is a `GET` of the configured URL; a 2xx or 3xx answer within the timeout
//! passes. [`ProbeTracker`] counts consecutive results against the healthy and unhealthy
//! thresholds; the actor applies its verdicts to the leaf's state machine: enough passing
//! probes bring a TIMEOUT or SUSPENDED leaf back to ACTIVE without waiting for a trial
//! message, and enough failing ones suspend it before a user request is sent to it (and
//! keep it suspended while they go on failing). Probes are jittered: the first comes at a
//! random point of the first interval, each next one after the interval ±10%, so leaves
//! checked together do not probe in step. Passive (Synapse) health stays the default.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::time::Duration;

use serde::Serialize;

use crate::config::HealthCheckSpec;

/// What a run of probe results means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The healthy threshold is reached: the leaf may take messages.
    Healthy,
    /// The unhealthy threshold is reached: the leaf should not take messages.
    Unhealthy,
}

/// The result of one probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeOutcome {
    /// The backend answered with this (2xx or 3xx) status.
    Passed(u16),
    /// It did not: the status, or why there was none.
    Failed(String),
}

/// Consecutive probe results against the two thresholds.
#[derive(Debug, Clone)]
pub struct ProbeTracker {
    healthy_threshold: u32,
    unhealthy_threshold: u32,
    passes: u32,
    failures: u32,
}

/// A small random source for jitter (SplitMix64), seeded per leaf.
#[derive(Debug, Clone)]
pub struct Jitter(u64);

/// The active health check of one leaf, as its actor runs it.
#[derive(Debug)]
pub(crate) struct Prober {
    /// What to probe, how often, and the thresholds.
    pub(crate) spec: HealthCheckSpec,
    /// Consecutive results.
    pub(crate) tracker: ProbeTracker,
    /// Randomness for the probe times.
    pub(crate) jitter: Jitter,
    /// The last result, for the health API.
    pub(crate) last: Option<ProbeOutcome>,
    /// Probes sent.
    pub(crate) probes: u64,
    /// Created on the actor's thread when it starts (awc is not `Send`).
    pub(crate) client: Option<ProbeClient>,
}

/// The awc client of a prober.
pub(crate) struct ProbeClient(awc::Client);

/// What the health API shows about a leaf's active health check.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeReport {
    /// The probed URL.
    pub url: String,
    /// Milliseconds between probes (before jitter).
    pub interval_ms: u64,
    /// Probes sent so far.
    pub probes: u64,
    /// The last result: `passed 200`, or why it failed.
    pub last: Option<String>,
    /// Consecutive passing probes.
    pub consecutive_passes: u32,
    /// Consecutive failing probes.
    pub consecutive_failures: u32,
}

// === impl ProbeTracker ===

impl ProbeTracker {
    /// A tracker with these thresholds (each at least 1).
    pub fn new(healthy_threshold: u32, unhealthy_threshold: u32) -> Self {
        ProbeTracker {
            healthy_threshold: healthy_threshold.max(1),
            unhealthy_threshold: unhealthy_threshold.max(1),
            passes: 0,
            failures: 0,
        }
    }

    /// Records one result; returns the verdict once the run of equal results reaches its
    /// threshold (and on every further result of the run).
    pub fn record(&mut self, passed: bool) -> Option<Verdict> {
        if passed {
            self.passes = self.passes.saturating_add(1);
            self.failures = 0;
            (self.passes >= self.healthy_threshold).then_some(Verdict::Healthy)
        } else {
            self.failures = self.failures.saturating_add(1);
            self.passes = 0;
            (self.failures >= self.unhealthy_threshold).then_some(Verdict::Unhealthy)
        }
    }

    /// Consecutive passing results.
    pub fn passes(&self) -> u32 {
        self.passes
    }

    /// Consecutive failing results.
    pub fn failures(&self) -> u32 {
        self.failures
    }
}

// === impl Jitter ===

impl Jitter {
    /// A source with a fixed seed (tests).
    pub fn seeded(seed: u64) -> Self {
        Jitter(seed)
    }

    /// A source seeded from the process's random hash keys and `name`.
    pub fn for_leaf(name: &str) -> Self {
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
    pub fn first(&mut self, interval: Duration) -> Duration {
        interval.mul_f64(self.unit())
    }

    /// Delay between probes: the interval ±10%.
    pub fn next(&mut self, interval: Duration) -> Duration {
        interval.mul_f64(0.9 + 0.2 * self.unit())
    }
}

// === impl Prober ===

impl Prober {
    /// A prober for `spec`, for the leaf called `name`.
    pub(crate) fn new(spec: HealthCheckSpec, name: &str) -> Self {
        Prober {
            tracker: ProbeTracker::new(spec.healthy_threshold, spec.unhealthy_threshold),
            spec,
            jitter: Jitter::for_leaf(name),
            last: None,
            probes: 0,
            client: None,
        }
    }

    /// Sends one probe; the future does not borrow the prober.
    pub(crate) fn probe(&mut self) -> impl Future<Output = ProbeOutcome> + 'static {
        self.probes += 1;
        let client = self
            .client
            .get_or_insert_with(|| ProbeClient(super::http::build_client()))
            .0
            .clone();
        let url = self.spec.url.clone();
        let timeout = self.spec.timeout;
        async move {
            let request = client
                .get(url)
                .timeout(timeout)
                .insert_header(("user-agent", "axon-health-check"));
            match request.send().await {
                Ok(mut response) => {
                    let status = response.status().as_u16();
                    // Read (a bounded part of) the body so the connection can be reused;
                    // the verdict is the status alone.
                    if let Err(error) = response.body().limit(64 * 1024).await {
                        tracing::debug!(%error, "Health check body not read");
                    }
                    if (200..400).contains(&status) {
                        ProbeOutcome::Passed(status)
                    } else {
                        ProbeOutcome::Failed(format!("answered {status}"))
                    }
                }
                Err(error) => ProbeOutcome::Failed(error.to_string()),
            }
        }
    }

    /// What the health API shows.
    pub(crate) fn report(&self) -> ProbeReport {
        ProbeReport {
            url: self.spec.url.clone(),
            interval_ms: self.spec.interval.as_millis() as u64,
            probes: self.probes,
            last: self.last.as_ref().map(|o| match o {
                ProbeOutcome::Passed(status) => format!("passed {status}"),
                ProbeOutcome::Failed(why) => format!("failed: {why}"),
            }),
            consecutive_passes: self.tracker.passes(),
            consecutive_failures: self.tracker.failures(),
        }
    }
}

impl std::fmt::Debug for ProbeClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProbeClient")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_come_at_the_thresholds_and_a_different_result_restarts_the_count() {
        let mut t = ProbeTracker::new(2, 3);
        assert_eq!(t.record(false), None);
        assert_eq!(t.record(false), None);
        assert_eq!(t.record(true), None, "a pass breaks the run of failures");
        assert_eq!(t.record(false), None);
        assert_eq!(t.record(false), None);
        assert_eq!(t.record(false), Some(Verdict::Unhealthy));
        assert_eq!(t.record(false), Some(Verdict::Unhealthy));
        assert_eq!(t.record(true), None);
        assert_eq!(t.record(true), Some(Verdict::Healthy));
        assert_eq!((t.passes(), t.failures()), (2, 0));
        let mut once = ProbeTracker::new(1, 1);
        assert_eq!(once.record(true), Some(Verdict::Healthy));
        assert_eq!(once.record(false), Some(Verdict::Unhealthy));
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
}
