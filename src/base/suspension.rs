//! How a leaf reacts to failures: the suspension settings of an endpoint, as plain data the
//! configuration fills in and the health state machine (`endpoints/state.rs`) reads.

use std::time::Duration;

use serde::Serialize;

use super::error::codes;

/// Suspension used when `initialDuration` is not configured (Synapse's -1).
pub(crate) const DEFAULT_SUSPEND: Duration = Duration::from_millis(30_000);

/// How a leaf reacts to failures: the `markForSuspension` and `suspendOnFailure` settings.
#[derive(Debug, Clone, PartialEq)]
pub struct SuspensionPolicy {
    /// Codes that put the endpoint in TIMEOUT; empty means 101504 and 101505. Codes are
    /// signed, as Synapse reads them: MI writes `-1`, which no failure has, for "none".
    pub timeout_codes: Vec<i64>,
    /// Timeout-class failures tolerated before suspension (`retriesBeforeSuspension`).
    pub retries_before_suspension: u32,
    /// How long a TIMEOUT endpoint waits before it is tried again (`retryDelay`).
    pub retry_delay: Duration,
    /// Codes that suspend; empty means every code (`-1` alone: none).
    pub suspend_codes: Vec<i64>,
    /// First suspension (`initialDuration`); `None` means 30 s.
    pub initial_duration: Option<Duration>,
    /// Growth of each further suspension (`progressionFactor`).
    pub progression_factor: f64,
    /// Cap on a suspension (`maximumDuration`); `None` means no cap.
    pub maximum_duration: Option<Duration>,
}

/// What a failure meant for the endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureClass {
    /// A timeout-class code: counts towards `retriesBeforeSuspension`.
    Timeout,
    /// A suspend-class code: the endpoint is suspended.
    Suspend,
    /// Neither list matched: the state is unchanged.
    NonFatal,
}

// === impl SuspensionPolicy ===

impl Default for SuspensionPolicy {
    /// Synapse's defaults (§1.6): any error suspends for 30 s, without growth.
    fn default() -> Self {
        SuspensionPolicy {
            timeout_codes: Vec::new(),
            retries_before_suspension: 0,
            retry_delay: Duration::ZERO,
            suspend_codes: Vec::new(),
            initial_duration: None,
            progression_factor: 1.0,
            maximum_duration: None,
        }
    }
}

impl SuspensionPolicy {
    /// Classifies an error code the way Synapse's leaf `onFault` does (§2.2).
    pub(crate) fn classify(&self, code: u32) -> FailureClass {
        let code = i64::from(code);
        let is_timeout = if self.timeout_codes.is_empty() {
            code == i64::from(codes::CONNECTION_TIMEOUT)
                || code == i64::from(codes::CONNECTION_CLOSED)
        } else {
            self.timeout_codes.contains(&code)
        };
        if is_timeout {
            return FailureClass::Timeout;
        }
        if self.suspend_codes.is_empty() || self.suspend_codes.contains(&code) {
            FailureClass::Suspend
        } else {
            FailureClass::NonFatal
        }
    }

    /// The length of the next suspension, given the last one (§2.3).
    ///
    /// An unset `initialDuration` (Synapse's -1) gives 30 s, which `maximumDuration` does
    /// not cap: Synapse caps the configured -1 and then replaces the negative result, so the
    /// `-1`/`-1`/`0` that MI's tooling writes suspends for 30 s, not 0.
    pub(crate) fn next_suspension(&self, last: Option<Duration>) -> Duration {
        let mut d = match last {
            Some(last) if !last.is_zero() => last.mul_f64(self.progression_factor.max(0.0)),
            _ => match self.initial_duration {
                Some(d) => d,
                None => return DEFAULT_SUSPEND,
            },
        };
        if let Some(max) = self.maximum_duration {
            d = d.min(max);
        }
        d
    }
}
