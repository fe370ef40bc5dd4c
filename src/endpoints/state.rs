//! The endpoint health state machine of Synapse (`EndpointContext`), as a plain struct.
//!
//! No clocks, no actors and no I/O live here: `now` is passed in, and every decision is a
//! return value. The endpoint actor owns one [`HealthMachine`] and feeds it outcomes; the
//! tests below drive it through every transition of the reference (§2.1 to §2.3).

use std::fmt;
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

pub(crate) use crate::base::suspension::FailureClass;
pub use crate::base::suspension::SuspensionPolicy;

/// The four states of a leaf endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EndpointState {
    /// Healthy: messages are sent.
    Active,
    /// Failing with timeout-class errors, retries before suspension remain.
    Timeout,
    /// Failed: no message is sent until the suspension ends.
    Suspended,
    /// Switched off by an operator: nothing is sent until it is switched on.
    Off,
}

/// A change of state, with the reason to show in the health API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// State before.
    pub(crate) from: EndpointState,
    /// State after.
    pub(crate) to: EndpointState,
    /// Why, as a short sentence.
    pub(crate) reason: String,
}

/// The per-endpoint state of Synapse's `EndpointContext`.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthMachine {
    state: EndpointState,
    next_retry: Option<Instant>,
    remaining_retries: Option<u32>,
    last_suspend: Option<Duration>,
}

// === impl EndpointState ===

impl EndpointState {
    /// The name used in logs, the health API and error messages.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            EndpointState::Active => "ACTIVE",
            EndpointState::Timeout => "TIMEOUT",
            EndpointState::Suspended => "SUSPENDED",
            EndpointState::Off => "OFF",
        }
    }

    /// Inverse of the numeric encoding used in the shared snapshot.
    pub(crate) fn from_bits(bits: u64) -> Self {
        match bits & 0b11 {
            0 => EndpointState::Active,
            1 => EndpointState::Timeout,
            2 => EndpointState::Suspended,
            _ => EndpointState::Off,
        }
    }

    /// Numeric encoding used in the shared snapshot.
    pub(crate) fn bits(self) -> u64 {
        match self {
            EndpointState::Active => 0,
            EndpointState::Timeout => 1,
            EndpointState::Suspended => 2,
            EndpointState::Off => 3,
        }
    }
}

impl fmt::Display for EndpointState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// === impl HealthMachine ===

impl Default for HealthMachine {
    fn default() -> Self {
        Self::new()
    }
}

impl HealthMachine {
    /// A new endpoint: ACTIVE, counters uninitialised.
    pub fn new() -> Self {
        HealthMachine {
            state: EndpointState::Active,
            next_retry: None,
            remaining_retries: None,
            last_suspend: None,
        }
    }

    /// The current state.
    pub(crate) fn state(&self) -> EndpointState {
        self.state
    }

    /// When a TIMEOUT or SUSPENDED endpoint may be tried again.
    pub(crate) fn next_retry(&self) -> Option<Instant> {
        match self.state {
            EndpointState::Timeout | EndpointState::Suspended => self.next_retry,
            EndpointState::Active | EndpointState::Off => None,
        }
    }

    /// The length of the last suspension, if the endpoint has been suspended since it was
    /// last ACTIVE.
    pub(crate) fn last_suspension(&self) -> Option<Duration> {
        self.last_suspend
    }

    /// Timeout-class failures still tolerated before suspension.
    pub(crate) fn remaining_retries(&self, policy: &SuspensionPolicy) -> u32 {
        self.remaining_retries
            .unwrap_or(policy.retries_before_suspension)
    }

    /// Synapse's `readyToSend`: ACTIVE always, OFF never, TIMEOUT and SUSPENDED once their
    /// retry time has come (see [`admit`]). Asking does not change the state.
    #[cfg(test)]
    pub(crate) fn ready(&self, now: Instant) -> bool {
        !matches!(self.admission(now), Admission::NotReady { .. })
    }

    /// What [`admit`] decides for this machine at `now`, no trial being in flight.
    pub(crate) fn admission(&self, now: Instant) -> Admission {
        let wait = self
            .next_retry
            .map_or(Duration::ZERO, |at| at.saturating_duration_since(now));
        admit(self.state, wait, false)
    }

    /// A response arrived (whatever its HTTP status): any state but OFF becomes ACTIVE.
    pub fn on_success(&mut self, policy: &SuspensionPolicy) -> Option<Transition> {
        match self.state {
            EndpointState::Off => None,
            EndpointState::Active => {
                self.remaining_retries = Some(policy.retries_before_suspension);
                self.last_suspend = None;
                None
            }
            from => {
                self.activate(policy);
                Some(Transition {
                    from,
                    to: EndpointState::Active,
                    reason: "a message succeeded".into(),
                })
            }
        }
    }

    /// A message sent through this endpoint failed with `code`.
    pub fn on_failure(
        &mut self,
        code: u32,
        policy: &SuspensionPolicy,
        now: Instant,
    ) -> (FailureClass, Option<Transition>) {
        if self.state == EndpointState::Off {
            return (policy.classify(code), None);
        }
        let from = self.state;
        let class = policy.classify(code);
        let reason = match class {
            FailureClass::Timeout => self.enter_timeout(policy, now, code),
            FailureClass::Suspend => Some(self.enter_suspended(policy, now, code, "")),
            FailureClass::NonFatal => None,
        };
        let transition = reason.map(|reason| Transition {
            from,
            to: self.state,
            reason,
        });
        (class, transition)
    }

    /// Manual maintenance: OFF until switched on. Counters are reset.
    pub(crate) fn switch_off(&mut self) -> Option<Transition> {
        if self.state == EndpointState::Off {
            return None;
        }
        let from = self.state;
        self.state = EndpointState::Off;
        self.next_retry = None;
        self.remaining_retries = None;
        self.last_suspend = None;
        Some(Transition {
            from,
            to: EndpointState::Off,
            reason: "switched off by an operator".into(),
        })
    }

    /// Manual maintenance: back to ACTIVE from any state.
    pub(crate) fn switch_on(&mut self, policy: &SuspensionPolicy) -> Option<Transition> {
        if self.state == EndpointState::Active {
            return None;
        }
        let from = self.state;
        self.activate(policy);
        Some(Transition {
            from,
            to: EndpointState::Active,
            reason: "switched on by an operator".into(),
        })
    }

    /// An active health check failed: suspend as if a message had failed with a
    /// suspend-class error, unless the endpoint is OFF.
    #[cfg(test)]
    pub(crate) fn on_probe_failure(
        &mut self,
        policy: &SuspensionPolicy,
        now: Instant,
        why: &str,
    ) -> Option<Transition> {
        if self.state == EndpointState::Off {
            return None;
        }
        let from = self.state;
        let reason = self.enter_suspended(policy, now, 0, why);
        Some(Transition {
            from,
            to: self.state,
            reason,
        })
    }

    /// An active health check passed enough times: a TIMEOUT or SUSPENDED endpoint becomes
    /// ACTIVE at once, without waiting for a trial message. OFF stays OFF.
    pub(crate) fn on_probe_success(
        &mut self,
        policy: &SuspensionPolicy,
        why: &str,
    ) -> Option<Transition> {
        match self.state {
            EndpointState::Active | EndpointState::Off => None,
            from => {
                self.activate(policy);
                Some(Transition {
                    from,
                    to: EndpointState::Active,
                    reason: why.to_owned(),
                })
            }
        }
    }

    fn activate(&mut self, policy: &SuspensionPolicy) {
        self.state = EndpointState::Active;
        self.next_retry = None;
        self.remaining_retries = Some(policy.retries_before_suspension);
        self.last_suspend = None;
    }

    /// setState(TIMEOUT): spend one retry, or suspend when none remain.
    fn enter_timeout(
        &mut self,
        policy: &SuspensionPolicy,
        now: Instant,
        code: u32,
    ) -> Option<String> {
        let remaining = self.remaining_retries(policy);
        if remaining == 0 {
            return Some(self.enter_suspended(policy, now, code, " and no retries remain"));
        }
        self.remaining_retries = Some(remaining - 1);
        self.next_retry = Some(now + policy.retry_delay);
        self.state = EndpointState::Timeout;
        Some(format!(
            "timeout-class error {code}; {} retries remain before suspension",
            remaining - 1
        ))
    }

    /// setState(SUSPENDED): compute the next suspension from the last one.
    fn enter_suspended(
        &mut self,
        policy: &SuspensionPolicy,
        now: Instant,
        code: u32,
        why: &str,
    ) -> String {
        let d = policy.next_suspension(self.last_suspend);
        self.last_suspend = Some(d);
        self.next_retry = Some(now + d);
        self.state = EndpointState::Suspended;
        if code == 0 {
            format!("{why}; suspended for {} ms", d.as_millis())
        } else {
            format!("error {code}{why}; suspended for {} ms", d.as_millis())
        }
    }
}

/// Whether an endpoint may be tried now, as [`admit`] decides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Send it.
    Go,
    /// Send it as the one trial of a suspended endpoint whose suspension has ended.
    Trial,
    /// Do not send it.
    NotReady {
        /// The state that refused.
        state: EndpointState,
        /// How long until it may be tried again, if known.
        retry_in: Option<Duration>,
    },
}

/// May an endpoint in `state` be tried now, `wait` before its retry time (zero once it has
/// come), while another request may hold its trial slot (`trial_taken`)? ACTIVE always;
/// OFF never; TIMEOUT once its retry delay has passed; SUSPENDED once its suspension has
/// ended, one trial at a time.
///
/// The one rule for every reader: a leaf's worker on its health word (`health::Health`),
/// a group on its children, a probe on its machine.
#[inline]
pub(crate) fn admit(state: EndpointState, wait: Duration, trial_taken: bool) -> Admission {
    let due = wait.is_zero();
    match state {
        EndpointState::Active => Admission::Go,
        EndpointState::Timeout if due => Admission::Go,
        EndpointState::Suspended if due && !trial_taken => Admission::Trial,
        EndpointState::Off => Admission::NotReady {
            state,
            retry_in: None,
        },
        EndpointState::Suspended if due => Admission::NotReady {
            state,
            retry_in: None,
        },
        EndpointState::Timeout | EndpointState::Suspended => Admission::NotReady {
            state,
            retry_in: Some(wait),
        },
    }
}

#[cfg(test)]
mod tests;
