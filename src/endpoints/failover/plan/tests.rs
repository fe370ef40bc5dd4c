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
