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
mod tests {
    use super::*;

    const FAILOVER: Rules = Rules {
        failover: true,
        max_retries: None,
        retry_non_idempotent: false,
        priority_order: true,
    };

    /// A transport error of an idempotent, replayable request, before the deadline.
    const ERROR: Failed = Failed {
        status: false,
        client_fault: false,
        child_allows: true,
        reached: true,
        idempotent: true,
        replayable: true,
        deadline_passed: false,
    };

    fn first(eligible: &dyn Fn(usize) -> bool) -> Option<usize> {
        (0..8).find(|&i| eligible(i))
    }

    #[test]
    fn each_child_is_tried_once_and_the_pinned_one_first() {
        let mut plan = FailoverPlan::new(3, FAILOVER, Some(2));
        let all = |_| true;
        assert_eq!(plan.next(all, first), Some(2));
        assert_eq!(plan.next(all, first), Some(0));
        assert_eq!(plan.next(all, first), Some(1));
        assert_eq!(plan.next(all, first), None);
    }

    #[test]
    fn a_pinned_child_that_is_not_ready_is_left_to_the_algorithm() {
        let mut plan = FailoverPlan::new(3, FAILOVER, Some(1));
        assert_eq!(plan.next(|i| i != 1, first), Some(0));
    }

    #[test]
    fn priority_order_shows_the_children_passed_over_once() {
        let mut plan = FailoverPlan::new(3, FAILOVER, None);
        let ready = |i| i == 2;
        let i = plan.next(ready, first).unwrap();
        assert_eq!(plan.passed_over(i, ready), vec![0, 1]);
        assert_eq!(plan.untried().count(), 0);
        let mut lb = FailoverPlan::new(
            3,
            Rules {
                priority_order: false,
                ..FAILOVER
            },
            None,
        );
        let i = lb.next(ready, first).unwrap();
        assert!(lb.passed_over(i, ready).is_empty());
        assert_eq!(lb.untried().collect::<Vec<_>>(), vec![0, 1]);
    }

    #[test]
    fn an_error_goes_to_the_next_ready_child_until_none_is_left() {
        let mut plan = FailoverPlan::new(2, FAILOVER, None);
        plan.next(|_| true, first);
        assert_eq!(plan.after(&ERROR, |_| true), Step::Retry);
        assert_eq!(
            plan.after(&ERROR, |j| j == 0),
            Step::Exhausted,
            "1 is not ready"
        );
        plan.next(|_| true, first);
        assert_eq!(plan.after(&ERROR, |_| true), Step::Exhausted);
    }

    #[test]
    fn client_faults_and_groups_without_failover_stop_at_once() {
        let mut plan = FailoverPlan::new(2, FAILOVER, None);
        let client = Failed {
            client_fault: true,
            ..ERROR
        };
        assert_eq!(plan.after(&client, |_| true), Step::Stop);
        let mut lb = FailoverPlan::new(
            2,
            Rules {
                failover: false,
                ..FAILOVER
            },
            None,
        );
        assert_eq!(lb.after(&ERROR, |_| true), Step::Stop);
        let status = Failed {
            status: true,
            ..ERROR
        };
        assert_ne!(
            lb.after(&status, |_| true),
            Step::Stop,
            "statuses fail over anyway"
        );
    }

    #[test]
    fn refusals_say_why_in_order() {
        let cases = [
            (
                Failed {
                    child_allows: false,
                    ..ERROR
                },
                Refusal::RetryDisabled,
            ),
            (
                Failed {
                    idempotent: false,
                    ..ERROR
                },
                Refusal::NonIdempotent,
            ),
            (
                Failed {
                    replayable: false,
                    ..ERROR
                },
                Refusal::NotReplayable,
            ),
            (
                Failed {
                    deadline_passed: true,
                    ..ERROR
                },
                Refusal::Deadline,
            ),
        ];
        for (failed, why) in cases {
            let mut plan = FailoverPlan::new(2, FAILOVER, None);
            assert_eq!(plan.after(&failed, |_| true), Step::Refused(why), "{why:?}");
        }
        let not_reached = Failed {
            idempotent: false,
            reached: false,
            ..ERROR
        };
        let mut plan = FailoverPlan::new(2, FAILOVER, None);
        assert_eq!(plan.after(&not_reached, |_| true), Step::Retry);
        let lenient = Rules {
            retry_non_idempotent: true,
            ..FAILOVER
        };
        let mut plan = FailoverPlan::new(2, lenient, None);
        let post = Failed {
            idempotent: false,
            ..ERROR
        };
        assert_eq!(plan.after(&post, |_| true), Step::Retry);
        let status = Failed {
            status: true,
            child_allows: false,
            ..ERROR
        };
        assert_eq!(
            plan.after(&status, |_| true),
            Step::Retry,
            "retryConfig is for errors"
        );
    }

    #[test]
    fn max_retries_counts_every_try() {
        let mut plan = FailoverPlan::new(
            4,
            Rules {
                max_retries: Some(1),
                ..FAILOVER
            },
            None,
        );
        assert_eq!(plan.after(&ERROR, |_| true), Step::Retry);
        assert_eq!(
            plan.after(&ERROR, |_| true),
            Step::Refused(Refusal::MaxRetries)
        );
    }

    #[test]
    fn a_group_is_active_while_a_child_is_ready_and_off_when_all_are() {
        use EndpointState::*;
        assert_eq!(group_state([(false, Suspended), (true, Timeout)]), Active);
        assert_eq!(group_state([(false, Off), (false, Off)]), Off);
        assert_eq!(group_state([(false, Off), (false, Suspended)]), Suspended);
        assert_eq!(group_state([]), Suspended);
    }
}
