use super::*;
use crate::base::error::codes;
use crate::base::suspension::SuspensionPolicy;

#[test]
fn active_admits_and_off_refuses() {
    let h = Health::new();
    let now = Instant::now();
    assert_eq!(h.admit(now), Admission::Go);
    let mut m = HealthMachine::new();
    m.switch_off();
    h.publish(&m, false);
    assert_eq!(
        h.admit(now),
        Admission::NotReady {
            state: EndpointState::Off,
            retry_in: None
        }
    );
}

#[test]
fn suspended_refuses_until_retry_time_then_admits_one_trial() {
    let h = Health::new();
    let p = SuspensionPolicy {
        initial_duration: Some(Duration::from_millis(1000)),
        ..Default::default()
    };
    let t0 = Instant::now();
    let mut m = HealthMachine::new();
    m.on_failure(codes::CONNECTION_FAILED, &p, t0);
    h.publish(&m, false);
    match h.admit(t0 + Duration::from_millis(400)) {
        Admission::NotReady {
            state: EndpointState::Suspended,
            retry_in: Some(d),
        } => {
            assert!(
                d <= Duration::from_millis(601) && d >= Duration::from_millis(599),
                "{d:?}"
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    let later = t0 + Duration::from_millis(1000);
    assert_eq!(h.admit(later), Admission::Trial);
    assert!(h.trial_in_flight());
    assert!(matches!(
        h.admit(later),
        Admission::NotReady {
            state: EndpointState::Suspended,
            ..
        }
    ));
    // The trial fails: a new suspension; the trial slot is released.
    m.on_failure(codes::CONNECTION_FAILED, &p, later);
    h.publish(&m, true);
    assert!(!h.trial_in_flight());
    assert!(matches!(h.admit(later), Admission::NotReady { .. }));
    // The next trial succeeds.
    let again = later + Duration::from_millis(1000);
    assert_eq!(h.admit(again), Admission::Trial);
    m.on_success(&p);
    h.publish(&m, true);
    assert_eq!(h.admit(again), Admission::Go);
}

#[test]
fn ready_asks_without_taking_the_trial_slot() {
    let h = Health::new();
    let p = SuspensionPolicy {
        initial_duration: Some(Duration::from_millis(100)),
        ..Default::default()
    };
    let t0 = Instant::now();
    assert!(h.ready(t0));
    let mut m = HealthMachine::new();
    m.on_failure(codes::CONNECTION_FAILED, &p, t0);
    h.publish(&m, false);
    assert!(!h.ready(t0));
    let later = t0 + Duration::from_millis(100);
    assert!(
        h.ready(later) && h.ready(later),
        "asking twice keeps it ready"
    );
    assert_eq!(h.admit(later), Admission::Trial);
    assert!(!h.ready(later), "the trial slot is taken");
}

#[test]
fn publishing_another_outcome_keeps_an_outstanding_trial() {
    let h = Health::new();
    let p = SuspensionPolicy {
        initial_duration: Some(Duration::ZERO),
        ..Default::default()
    };
    let t0 = Instant::now();
    let mut m = HealthMachine::new();
    m.on_failure(codes::CONNECTION_FAILED, &p, t0);
    h.publish(&m, false);
    assert_eq!(h.admit(t0), Admission::Trial);
    m.on_failure(codes::CONNECTION_FAILED, &p, t0);
    h.publish(&m, false);
    assert!(h.trial_in_flight());
}

#[test]
fn timeout_state_admits_everyone_after_the_retry_delay() {
    let h = Health::new();
    let p = SuspensionPolicy {
        retries_before_suspension: 2,
        retry_delay: Duration::from_millis(50),
        ..Default::default()
    };
    let t0 = Instant::now();
    let mut m = HealthMachine::new();
    m.on_failure(codes::CONNECTION_TIMEOUT, &p, t0);
    h.publish(&m, false);
    assert!(matches!(
        h.admit(t0),
        Admission::NotReady {
            state: EndpointState::Timeout,
            ..
        }
    ));
    let later = t0 + Duration::from_millis(50);
    assert_eq!(h.admit(later), Admission::Go);
    assert_eq!(h.admit(later), Admission::Go);
}

#[test]
fn snapshot_words_round_trip() {
    for state in [
        EndpointState::Active,
        EndpointState::Timeout,
        EndpointState::Suspended,
        EndpointState::Off,
    ] {
        for trial in [false, true] {
            let s = Snapshot {
                state,
                trial,
                retry_at_ms: 123_456_789,
            };
            assert_eq!(Snapshot::decode(s.encode()), s);
        }
    }
}
