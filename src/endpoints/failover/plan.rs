//! The plan of one message through one group: which child next, whether the message may
//! go to another child after a failed try, and why not.
//!
//! Plain data and no I/O, so every rule is unit-tested here. The worker's loop
//! (`failover.rs`) asks it at each step; the group actor's report and the worker's trace
//! share its rule for a group's own state ([`group_state`]). Whether one child may be
//! tried now is [`admit`](crate::endpoints::state::admit)'s to say, not the plan's: the
//! plan is given the answer as `ready`.

use crate::config::{GroupSpec, Strategy};
use crate::endpoints::state::EndpointState;

/// The group's retry rules, from its configuration.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rules {
    /// A failed message goes to another child (false: a load balance without failover).
    pub(crate) failover: bool,
    /// Tries allowed after the first (`<maxRetries>`).
    pub(crate) max_retries: Option<u32>,
    /// `<retryNonIdempotent>`.
    pub(crate) retry_non_idempotent: bool,
    /// Children are tried in declaration order (failover), so the trace shows the ones
    /// passed over.
    pub(crate) priority_order: bool,
}

/// What the worker knows of a failed try.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Failed {
    /// A response whose status the group fails over, rather than an error.
    pub(crate) status: bool,
    /// The client's fault: the same message would fail anywhere.
    pub(crate) client_fault: bool,
    /// The failing child's `<retryConfig>` lets its error be retried.
    pub(crate) child_allows: bool,
    /// Bytes may have reached the backend.
    pub(crate) reached: bool,
    /// The request may be repeated: an idempotent method, or an `Idempotency-Key`.
    pub(crate) idempotent: bool,
    /// The body (or gRPC request stream) can be sent again.
    pub(crate) replayable: bool,
    /// The group's deadline has passed.
    pub(crate) deadline_passed: bool,
}

/// What follows a failed try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Send the message to another child.
    Retry,
    /// Stop with the child's own outcome, as it is.
    Stop,
    /// No other child may be tried.
    Exhausted,
    /// Another child could be tried, but the message may not go to it.
    Refused(Refusal),
}

/// Why a group did not send a message to another child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    RetryDisabled,
    NonIdempotent,
    NotReplayable,
    MaxRetries,
    Deadline,
}

/// One message's plan through one group.
#[derive(Debug)]
pub(crate) struct FailoverPlan {
    rules: Rules,
    tried: Vec<bool>,
    tries: u32,
    pinned: Option<usize>,
}

/// A group's state from its children's (whether each may be tried now, and its state):
/// ACTIVE while any may be tried, OFF when every one is OFF, else SUSPENDED.
pub(crate) fn group_state(
    children: impl IntoIterator<Item = (bool, EndpointState)>,
) -> EndpointState {
    let (mut any, mut ready, mut all_off) = (false, false, true);
    for (child_ready, state) in children {
        any = true;
        ready |= child_ready;
        all_off &= state == EndpointState::Off;
    }
    if ready {
        EndpointState::Active
    } else if any && all_off {
        EndpointState::Off
    } else {
        EndpointState::Suspended
    }
}

// === impl Rules ===

impl Rules {
    /// The rules of the group `spec`.
    pub(crate) fn of(spec: &GroupSpec) -> Self {
        Rules {
            failover: !matches!(
                spec.strategy,
                Strategy::Loadbalance {
                    failover: false,
                    ..
                }
            ),
            max_retries: spec.policy.max_retries,
            retry_non_idempotent: spec.policy.retry_non_idempotent,
            priority_order: matches!(spec.strategy, Strategy::Failover { .. }),
        }
    }
}

// === impl FailoverPlan ===

impl FailoverPlan {
    /// A plan over `n` children; `pinned` is the child a session is bound to.
    pub(crate) fn new(n: usize, rules: Rules, pinned: Option<usize>) -> Self {
        FailoverPlan {
            rules,
            tried: vec![false; n],
            tries: 0,
            pinned,
        }
    }

    /// The next child to try, marked tried: the pinned child if it may be tried, else
    /// what `pick` (the group's algorithm) chooses among the untried children that are
    /// `ready`. Each child is tried at most once per message.
    pub(crate) fn next(
        &mut self,
        ready: impl Fn(usize) -> bool,
        pick: impl FnOnce(&dyn Fn(usize) -> bool) -> Option<usize>,
    ) -> Option<usize> {
        let pinned = self.pinned.take();
        let tried = &self.tried;
        let eligible = |i: usize| !tried.get(i).copied().unwrap_or(true) && ready(i);
        let choice = pinned
            .filter(|&i| eligible(i))
            .or_else(|| pick(&eligible))?;
        *self.tried.get_mut(choice)? = true;
        Some(choice)
    }

    /// In priority order, the untried children before `chosen` that were not `ready`:
    /// passed over (and marked tried), for the trace.
    pub(crate) fn passed_over(
        &mut self,
        chosen: usize,
        ready: impl Fn(usize) -> bool,
    ) -> Vec<usize> {
        if !self.rules.priority_order {
            return Vec::new();
        }
        let mut out = Vec::new();
        for (j, tried) in self.tried.iter_mut().enumerate().take(chosen) {
            if !*tried && !ready(j) {
                *tried = true;
                out.push(j);
            }
        }
        out
    }

    /// The children never tried.
    pub(crate) fn untried(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.tried.len()).filter(|&j| !self.tried[j])
    }

    /// After a failed try: whether the message goes to another child (one still untried
    /// and `ready`), and why not.
    pub(crate) fn after(&mut self, failed: &Failed, ready: impl Fn(usize) -> bool) -> Step {
        self.tries = self.tries.saturating_add(1);
        if !failed.status && (failed.client_fault || !self.rules.failover) {
            return Step::Stop;
        }
        if !self.untried().any(ready) {
            return Step::Exhausted;
        }
        match self.refusal(failed) {
            Some(why) => Step::Refused(why),
            None => Step::Retry,
        }
    }

    fn refusal(&self, failed: &Failed) -> Option<Refusal> {
        if !failed.status && !failed.child_allows {
            return Some(Refusal::RetryDisabled);
        }
        if failed.reached && !failed.idempotent && !self.rules.retry_non_idempotent {
            return Some(Refusal::NonIdempotent);
        }
        if self.rules.max_retries.is_some_and(|max| self.tries > max) {
            return Some(Refusal::MaxRetries);
        }
        if !failed.replayable {
            return Some(Refusal::NotReplayable);
        }
        if failed.deadline_passed {
            return Some(Refusal::Deadline);
        }
        None
    }
}

// === impl Refusal ===

impl Refusal {
    /// The name the trace shows.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Refusal::RetryDisabled => "retry-disabled",
            Refusal::NonIdempotent => "non-idempotent",
            Refusal::NotReplayable => "body-not-replayable",
            Refusal::MaxRetries => "max-retries",
            Refusal::Deadline => "deadline",
        }
    }
}

#[cfg(test)]
mod tests;
