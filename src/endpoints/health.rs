//! The shared, lock-free view of one leaf's health.
//!
//! The endpoint actor is the only writer: after each decision of its [`HealthMachine`] it
//! publishes the state and retry time into one atomic word. Workers read that word to
//! decide, without a lock or a message, whether a request may go to the backend. Only
//! outcomes that can change the state (a failure, or a success while not ACTIVE) are sent
//! to the actor, so the happy path never touches a mailbox.
//!
//! After a suspension ends, one request at a time is let through as a trial (half-open);
//! the others keep getting "not ready" until the trial's outcome is known. This bounds
//! the load on a backend that is coming back (a documented difference from Synapse, which
//! lets every request through once the retry time has passed).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use super::state::{EndpointState, HealthMachine, admit};

const STATE_MASK: u64 = 0b11;
const TRIAL_BIT: u64 = 0b100;
const RETRY_SHIFT: u32 = 3;

pub(crate) use super::state::Admission;

/// A leaf's health as workers see it, plus its traffic counters.
#[derive(Debug)]
pub struct Health {
    snapshot: AtomicU64,
    epoch: Instant,
    /// Requests sent to the backend.
    pub(crate) sent: AtomicU64,
    /// Responses received (any status).
    pub(crate) succeeded: AtomicU64,
    /// Failures that count against the endpoint.
    pub(crate) failed: AtomicU64,
}

/// Decoded snapshot word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Snapshot {
    state: EndpointState,
    trial: bool,
    retry_at_ms: u64,
}

// === impl Snapshot ===

impl Snapshot {
    fn decode(word: u64) -> Self {
        Snapshot {
            state: EndpointState::from_bits(word & STATE_MASK),
            trial: word & TRIAL_BIT != 0,
            retry_at_ms: word >> RETRY_SHIFT,
        }
    }

    fn encode(self) -> u64 {
        self.state.bits()
            | if self.trial { TRIAL_BIT } else { 0 }
            | (self.retry_at_ms << RETRY_SHIFT)
    }

    /// The admission decision for this snapshot at `now_ms` (the one rule,
    /// [`admit`]), and the word to install when the decision takes the trial slot.
    fn admit(self, now_ms: u64) -> (Admission, Option<Snapshot>) {
        let wait = Duration::from_millis(self.retry_at_ms.saturating_sub(now_ms));
        match admit(self.state, wait, self.trial) {
            Admission::Trial => (
                Admission::Trial,
                Some(Snapshot {
                    trial: true,
                    ..self
                }),
            ),
            decision => (decision, None),
        }
    }
}

// === impl Health ===

impl Default for Health {
    fn default() -> Self {
        Self::new()
    }
}

impl Health {
    /// A new, ACTIVE endpoint.
    pub fn new() -> Self {
        Health {
            snapshot: AtomicU64::new(
                Snapshot {
                    state: EndpointState::Active,
                    trial: false,
                    retry_at_ms: 0,
                }
                .encode(),
            ),
            epoch: Instant::now(),
            sent: AtomicU64::new(0),
            succeeded: AtomicU64::new(0),
            failed: AtomicU64::new(0),
        }
    }

    fn ms_since_epoch(&self, at: Instant) -> u64 {
        let d = at.saturating_duration_since(self.epoch);
        // Round up, so that `now_ms >= retry_at_ms` implies `now >= retry time`.
        u64::try_from(d.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX >> RETRY_SHIFT)
    }

    /// The state as last published.
    pub(crate) fn state(&self) -> EndpointState {
        Snapshot::decode(self.snapshot.load(Ordering::Acquire)).state
    }

    /// True when a trial request is in flight.
    pub(crate) fn trial_in_flight(&self) -> bool {
        Snapshot::decode(self.snapshot.load(Ordering::Acquire)).trial
    }

    /// Whether [`Health::admit`] would let a request through now, without taking the trial
    /// slot: what a group asks of each candidate child before it picks one.
    pub fn ready(&self, now: Instant) -> bool {
        let word = self.snapshot.load(Ordering::Acquire);
        let (decision, _) = Snapshot::decode(word).admit(self.ms_since_epoch(now));
        !matches!(decision, Admission::NotReady { .. })
    }

    /// Decides whether a request may be sent now (Synapse's `readyToSend`).
    pub fn admit(&self, now: Instant) -> Admission {
        let now_ms = self.ms_since_epoch(now);
        let mut word = self.snapshot.load(Ordering::Acquire);
        loop {
            let (decision, install) = Snapshot::decode(word).admit(now_ms);
            let Some(next) = install else {
                return decision;
            };
            match self.snapshot.compare_exchange_weak(
                word,
                next.encode(),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return decision,
                Err(current) => word = current,
            }
        }
    }

    /// Publishes the machine's state. Called only by the endpoint actor. The trial slot is
    /// kept unless `end_trial` says the trial's outcome is what is being published.
    pub(crate) fn publish(&self, machine: &HealthMachine, end_trial: bool) {
        let retry_at_ms = machine
            .next_retry()
            .map(|at| self.ms_since_epoch(at))
            .unwrap_or(0);
        let mut word = self.snapshot.load(Ordering::Acquire);
        loop {
            let trial = !end_trial && Snapshot::decode(word).trial;
            let next = Snapshot {
                state: machine.state(),
                trial,
                retry_at_ms,
            }
            .encode();
            match self.snapshot.compare_exchange_weak(
                word,
                next,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return,
                Err(current) => word = current,
            }
        }
    }
}

#[cfg(test)]
mod tests;
