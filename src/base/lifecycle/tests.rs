use super::Lifecycle::*;
use super::*;
use std::sync::Arc;

#[test]
fn names_parse_ignoring_case_and_pre_released_is_prototyped() {
    for s in ALL {
        assert_eq!(Lifecycle::parse(s.as_str()), Some(s));
        assert_eq!(Lifecycle::parse(&s.as_str().to_lowercase()), Some(s));
    }
    assert_eq!(Lifecycle::parse("Pre-Released"), Some(Prototyped));
    assert_eq!(Lifecycle::parse("LIVE"), None);
}

#[test]
fn the_wso2_transition_table() {
    let table: Vec<(Lifecycle, &str, Lifecycle)> = ALL
        .iter()
        .flat_map(|s| {
            s.transitions()
                .iter()
                .map(move |t| (*s, t.action, t.target))
        })
        .collect();
    assert_eq!(
        table,
        vec![
            (Created, "Publish", Published),
            (Created, "Deploy as a Prototype", Prototyped),
            (Prototyped, "Publish", Published),
            (Prototyped, "Demote to Created", Created),
            (Published, "Block", Blocked),
            (Published, "Deploy as a Prototype", Prototyped),
            (Published, "Demote to Created", Created),
            (Published, "Deprecate", Deprecated),
            (Blocked, "Deprecate", Deprecated),
            (Blocked, "Re-Publish", Published),
            (Deprecated, "Retire", Retired),
        ]
    );
}

#[test]
fn actions_apply_by_name_and_refuse_what_the_lifecycle_forbids() {
    assert_eq!(Created.apply("publish"), Ok(Published));
    assert_eq!(Published.apply("Demote to Prototyped"), Ok(Prototyped));
    assert_eq!(
        Published.apply("Publish"),
        Ok(Published),
        "staying is a no-op"
    );
    assert!(matches!(
        Created.apply("Retire"),
        Err(TransitionError::NotAllowed { from: Created, .. })
    ));
    assert!(matches!(
        Retired.apply("Re-Publish"),
        Err(TransitionError::NotAllowed { .. })
    ));
    assert!(matches!(
        Published.apply("Explode"),
        Err(TransitionError::Unknown { .. })
    ));
    let message = Deprecated.apply("Publish").unwrap_err().to_string();
    assert!(message.contains("`Retire` (to RETIRED)"), "{message}");
}

#[test]
fn moves_by_target_state() {
    assert_eq!(Blocked.go_to(Published), Ok(Published));
    assert_eq!(Prototyped.go_to(Prototyped), Ok(Prototyped));
    assert!(Prototyped.go_to(Retired).is_err());
    assert!(Retired.go_to(Created).is_err());
    // Every state but RETIRED can eventually reach RETIRED, and nothing leaves it.
    for s in ALL {
        let mut seen = vec![s];
        let mut frontier = vec![s];
        while let Some(x) = frontier.pop() {
            for t in x.transitions() {
                if !seen.contains(&t.target) {
                    seen.push(t.target);
                    frontier.push(t.target);
                }
            }
        }
        assert!(seen.contains(&Retired), "{s} cannot reach RETIRED");
    }
}

#[test]
fn the_gate_of_each_state() {
    let life = ApiLife::new("Shop", Created);
    assert!(!life.is_deployed());
    life.move_to(Prototyped).unwrap();
    assert_eq!(life.gate(), Gate::Serve);
    life.move_to(Published).unwrap();
    assert_eq!(life.gate(), Gate::Serve);
    life.move_to(Blocked).unwrap();
    let Gate::Refuse(r) = life.gate() else {
        panic!("blocked must refuse")
    };
    assert_eq!((r.status.as_u16(), r.code), (503, API_BLOCKED));
    assert!(r.detail.contains("`Shop` is BLOCKED"));
    life.act("Deprecate").unwrap();
    assert!(matches!(life.gate(), Gate::Deprecated(since) if since == life.since()));
    life.act("Retire").unwrap();
    let Gate::Refuse(r) = life.gate() else {
        panic!("retired must refuse")
    };
    assert_eq!((r.status.as_u16(), r.code), (410, API_RETIRED));
    assert_eq!(life.declared(), Created);
}

#[test]
fn a_change_reports_what_it_did() {
    let life = ApiLife::new("Shop", Published);
    assert_eq!(
        life.act("Block").unwrap(),
        Changed {
            from: Published,
            to: Blocked,
            changed: true
        }
    );
    assert!(!life.move_to(Blocked).unwrap().changed);
    assert!(life.act("Retire").is_err());
    assert_eq!(life.state(), Blocked, "a refused change leaves the state");
}

#[test]
fn concurrent_changes_have_one_order() {
    // Many threads race Block and Re-Publish: every successful change starts from the
    // state the previous one left, so the number of changes that moved to BLOCKED is
    // at most one more than those that left it.
    let life = Arc::new(ApiLife::new("Shop", Published));
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let life = life.clone();
            std::thread::spawn(move || {
                let mut blocked = 0i64;
                for _ in 0..500 {
                    let action = if i % 2 == 0 { "Block" } else { "Re-Publish" };
                    if let Ok(c) = life.act(action)
                        && c.changed
                    {
                        blocked += if c.to == Blocked { 1 } else { -1 };
                    }
                }
                blocked
            })
        })
        .collect();
    let net: i64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    let expected = i64::from(life.state() == Blocked);
    assert_eq!(net, expected);
}
