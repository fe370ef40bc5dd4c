use super::*;
use crate::base::error::codes;
use crate::base::suspension::DEFAULT_SUSPEND;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn policy() -> SuspensionPolicy {
    SuspensionPolicy::default()
}

#[test]
fn defaults_suspend_any_error_for_thirty_seconds_without_growth() {
    let p = policy();
    let t0 = Instant::now();
    let mut m = HealthMachine::new();
    assert!(m.ready(t0));
    let (class, tr) = m.on_failure(codes::CONNECTION_FAILED, &p, t0);
    assert_eq!(class, FailureClass::Suspend);
    let tr = tr.unwrap();
    assert_eq!(
        (tr.from, tr.to),
        (EndpointState::Active, EndpointState::Suspended)
    );
    assert_eq!(m.next_retry(), Some(t0 + DEFAULT_SUSPEND));
    assert!(!m.ready(t0 + ms(29_999)));
    assert!(m.ready(t0 + DEFAULT_SUSPEND));
    // A second failure after the retry time: factor 1 keeps 30 s.
    let t1 = t0 + DEFAULT_SUSPEND;
    m.on_failure(codes::CONNECTION_FAILED, &p, t1);
    assert_eq!(m.next_retry(), Some(t1 + DEFAULT_SUSPEND));
}

#[test]
fn default_timeout_codes_go_timeout_then_straight_to_suspended() {
    // retriesBeforeSuspension = 0: the timeout code suspends at once (§0.2).
    let p = policy();
    let t0 = Instant::now();
    let mut m = HealthMachine::new();
    let (class, tr) = m.on_failure(codes::CONNECTION_TIMEOUT, &p, t0);
    assert_eq!(class, FailureClass::Timeout);
    assert_eq!(tr.unwrap().to, EndpointState::Suspended);
    assert_eq!(m.state(), EndpointState::Suspended);
    let mut m = HealthMachine::new();
    assert_eq!(
        m.on_failure(codes::CONNECTION_CLOSED, &p, t0).0,
        FailureClass::Timeout
    );
    // The socket-level read timeout (101504 + 3) is not in the default set.
    let mut m = HealthMachine::new();
    assert_eq!(m.on_failure(101_507, &p, t0).0, FailureClass::Suspend);
}

#[test]
fn retries_before_suspension_are_spent_then_the_endpoint_suspends() {
    let p = SuspensionPolicy {
        retries_before_suspension: 2,
        retry_delay: ms(100),
        ..policy()
    };
    let t0 = Instant::now();
    let mut m = HealthMachine::new();
    let (_, tr) = m.on_failure(codes::CONNECTION_TIMEOUT, &p, t0);
    assert_eq!(tr.unwrap().to, EndpointState::Timeout);
    assert_eq!(m.remaining_retries(&p), 1);
    assert!(!m.ready(t0 + ms(99)));
    assert!(m.ready(t0 + ms(100)));
    m.on_failure(codes::CONNECTION_TIMEOUT, &p, t0 + ms(100));
    assert_eq!(m.state(), EndpointState::Timeout);
    assert_eq!(m.remaining_retries(&p), 0);
    // The third consecutive timeout suspends.
    let (_, tr) = m.on_failure(codes::CONNECTION_TIMEOUT, &p, t0 + ms(200));
    let tr = tr.unwrap();
    assert_eq!(
        (tr.from, tr.to),
        (EndpointState::Timeout, EndpointState::Suspended)
    );
    assert!(tr.reason.contains("no retries remain"), "{}", tr.reason);
}

#[test]
fn success_resets_retries_and_suspension_history() {
    let p = SuspensionPolicy {
        retries_before_suspension: 1,
        initial_duration: Some(ms(1000)),
        progression_factor: 2.0,
        ..policy()
    };
    let t0 = Instant::now();
    let mut m = HealthMachine::new();
    m.on_failure(codes::CONNECTION_TIMEOUT, &p, t0);
    assert_eq!(m.state(), EndpointState::Timeout);
    let tr = m.on_success(&p).unwrap();
    assert_eq!(
        (tr.from, tr.to),
        (EndpointState::Timeout, EndpointState::Active)
    );
    assert_eq!(m.remaining_retries(&p), 1);
    // Suspend twice, then succeed: the next suspension is a first one again.
    m.on_failure(codes::CONNECTION_FAILED, &p, t0);
    m.on_failure(codes::CONNECTION_FAILED, &p, t0 + ms(1000));
    assert_eq!(m.last_suspension(), Some(ms(2000)));
    m.on_success(&p);
    assert_eq!(m.last_suspension(), None);
    m.on_failure(codes::CONNECTION_FAILED, &p, t0);
    assert_eq!(m.last_suspension(), Some(ms(1000)));
    // Success while ACTIVE is not a transition.
    let mut fresh = HealthMachine::new();
    assert!(fresh.on_success(&p).is_none());
}

#[test]
fn suspension_grows_by_the_factor_up_to_the_maximum() {
    let p = SuspensionPolicy {
        initial_duration: Some(ms(1000)),
        progression_factor: 2.0,
        maximum_duration: Some(ms(5000)),
        ..policy()
    };
    let mut now = Instant::now();
    let mut m = HealthMachine::new();
    let mut seen = Vec::new();
    for _ in 0..5 {
        m.on_failure(codes::CONNECTION_FAILED, &p, now);
        let d = m.last_suspension().unwrap();
        seen.push(d.as_millis());
        now += d;
    }
    assert_eq!(seen, vec![1000, 2000, 4000, 5000, 5000]);
}

#[test]
fn zero_initial_duration_never_holds_the_endpoint() {
    let p = SuspensionPolicy {
        initial_duration: Some(Duration::ZERO),
        ..policy()
    };
    let t0 = Instant::now();
    let mut m = HealthMachine::new();
    m.on_failure(codes::CONNECTION_FAILED, &p, t0);
    assert_eq!(m.state(), EndpointState::Suspended);
    assert!(m.ready(t0));
    m.on_failure(codes::CONNECTION_FAILED, &p, t0);
    assert_eq!(m.last_suspension(), Some(Duration::ZERO));
}

#[test]
fn configured_code_lists_choose_the_class() {
    let p = SuspensionPolicy {
        timeout_codes: vec![101_504, 101_507],
        suspend_codes: vec![101_503],
        retries_before_suspension: 3,
        ..policy()
    };
    assert_eq!(p.classify(101_507), FailureClass::Timeout);
    assert_eq!(p.classify(101_505), FailureClass::NonFatal);
    assert_eq!(p.classify(101_503), FailureClass::Suspend);
    let t0 = Instant::now();
    let mut m = HealthMachine::new();
    let (class, tr) = m.on_failure(101_505, &p, t0);
    assert_eq!(class, FailureClass::NonFatal);
    assert!(tr.is_none());
    assert_eq!(m.state(), EndpointState::Active);
}

#[test]
fn suspended_endpoint_can_move_to_timeout_when_retries_were_never_used() {
    let p = SuspensionPolicy {
        retries_before_suspension: 2,
        ..policy()
    };
    let t0 = Instant::now();
    let mut m = HealthMachine::new();
    m.on_failure(codes::CONNECTION_FAILED, &p, t0);
    assert_eq!(m.state(), EndpointState::Suspended);
    let later = t0 + DEFAULT_SUSPEND;
    let (_, tr) = m.on_failure(codes::CONNECTION_TIMEOUT, &p, later);
    let tr = tr.unwrap();
    assert_eq!(
        (tr.from, tr.to),
        (EndpointState::Suspended, EndpointState::Timeout)
    );
}

#[test]
fn off_is_a_latch_that_only_switch_on_leaves() {
    let p = policy();
    let t0 = Instant::now();
    let mut m = HealthMachine::new();
    m.on_failure(codes::CONNECTION_FAILED, &p, t0);
    let tr = m.switch_off().unwrap();
    assert_eq!(
        (tr.from, tr.to),
        (EndpointState::Suspended, EndpointState::Off)
    );
    assert!(!m.ready(t0 + Duration::from_secs(3600)));
    assert!(m.on_success(&p).is_none());
    assert!(m.on_failure(codes::CONNECTION_FAILED, &p, t0).1.is_none());
    assert!(m.on_probe_failure(&p, t0, "probe failed").is_none());
    assert_eq!(m.state(), EndpointState::Off);
    assert!(m.switch_off().is_none());
    let tr = m.switch_on(&p).unwrap();
    assert_eq!(
        (tr.from, tr.to),
        (EndpointState::Off, EndpointState::Active)
    );
    assert!(m.ready(t0));
    assert!(m.switch_on(&p).is_none());
    // Counters were reset by switching off: the next suspension is a first one.
    m.on_failure(codes::CONNECTION_FAILED, &p, t0);
    assert_eq!(m.last_suspension(), Some(DEFAULT_SUSPEND));
}

#[test]
fn probe_failure_suspends_and_grows_like_a_message_failure() {
    let p = SuspensionPolicy {
        initial_duration: Some(ms(100)),
        progression_factor: 3.0,
        ..policy()
    };
    let t0 = Instant::now();
    let mut m = HealthMachine::new();
    let tr = m.on_probe_failure(&p, t0, "health check failed").unwrap();
    assert_eq!(tr.to, EndpointState::Suspended);
    assert!(tr.reason.starts_with("health check failed"));
    m.on_probe_failure(&p, t0, "health check failed");
    assert_eq!(m.last_suspension(), Some(ms(300)));
}

#[test]
fn probe_success_reactivates_a_suspended_endpoint_but_not_an_off_one() {
    let p = policy();
    let t0 = Instant::now();
    let mut m = HealthMachine::new();
    assert!(m.on_probe_success(&p, "health check passed").is_none());
    m.on_failure(codes::CONNECTION_FAILED, &p, t0);
    let tr = m.on_probe_success(&p, "health check passed").unwrap();
    assert_eq!(
        (tr.from, tr.to, tr.reason.as_str()),
        (
            EndpointState::Suspended,
            EndpointState::Active,
            "health check passed"
        )
    );
    assert!(m.ready(t0), "no need to wait for the suspension to end");
    assert_eq!(m.last_suspension(), None);
    m.switch_off();
    assert!(m.on_probe_success(&p, "health check passed").is_none());
    assert_eq!(m.state(), EndpointState::Off);
}

#[test]
fn state_encoding_round_trips() {
    for s in [
        EndpointState::Active,
        EndpointState::Timeout,
        EndpointState::Suspended,
        EndpointState::Off,
    ] {
        assert_eq!(EndpointState::from_bits(s.bits()), s);
    }
}

#[test]
fn admit_is_the_one_rule_of_every_state() {
    use super::{Admission, admit};
    let (now, later) = (Duration::ZERO, ms(5));
    let refused = |state, wait: Duration| -> Admission {
        Admission::NotReady {
            state,
            retry_in: (!wait.is_zero()).then_some(wait),
        }
    };
    for trial in [false, true] {
        assert_eq!(admit(EndpointState::Active, later, trial), Admission::Go);
        let off = EndpointState::Off;
        assert_eq!(admit(off, now, trial), refused(off, now));
        assert_eq!(admit(EndpointState::Timeout, now, trial), Admission::Go);
        let (timeout, suspended) = (EndpointState::Timeout, EndpointState::Suspended);
        assert_eq!(admit(timeout, later, trial), refused(timeout, later));
        assert_eq!(admit(suspended, later, trial), refused(suspended, later));
    }
    let suspended = EndpointState::Suspended;
    assert_eq!(admit(suspended, now, false), Admission::Trial);
    assert_eq!(
        admit(suspended, now, true),
        refused(suspended, now),
        "one trial at a time"
    );
}
