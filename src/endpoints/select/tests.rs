use super::*;
use proptest::prelude::*;

fn max_run(picks: &[usize], child: usize) -> usize {
    let mut best = 0;
    let mut run = 0;
    for &p in picks {
        run = if p == child { run + 1 } else { 0 };
        best = best.max(run);
    }
    best
}

#[test]
fn weights_one_two_three_interleave() {
    let mut s = SmoothWeighted::new(3);
    let picks: Vec<usize> = (0..12)
        .map(|_| s.pick(&[1, 2, 3], |_| true).unwrap())
        .collect();
    assert_eq!(picks, vec![2, 1, 0, 2, 1, 2, 2, 1, 0, 2, 1, 2]);
    assert!(max_run(&picks, 2) < 3, "{picks:?}");
}

#[test]
fn round_robin_gives_a_skipped_childs_turn_to_no_one_in_particular() {
    let rr = Selector::RoundRobin(AtomicUsize::new(0));
    let up = |i: usize| i != 1;
    let picks: Vec<usize> = (0..6)
        .map(|_| rr.pick(&[1; 3], |_| 0, up).unwrap())
        .collect();
    assert_eq!(picks, vec![0, 2, 0, 2, 0, 2]);
}

#[test]
fn sticky_failover_stays_on_the_child_that_succeeded() {
    let s = Selector::Sticky(AtomicUsize::new(0));
    assert_eq!(s.pick(&[1; 3], |_| 0, |_| true), Some(0));
    s.succeeded(1);
    assert_eq!(s.pick(&[1; 3], |_| 0, |_| true), Some(1));
    assert_eq!(s.pick(&[1; 3], |_| 0, |i| i != 1), Some(0));
}

#[test]
fn least_connections_prefers_idle_children_and_rotates_ties() {
    let lc = Selector::LeastConnections(AtomicUsize::new(0));
    let loads = [3u64, 0, 5];
    assert_eq!(lc.pick(&[1; 3], |i| loads[i], |_| true), Some(1));
    let picks: Vec<usize> = (0..3)
        .map(|_| lc.pick(&[1; 3], |_| 0, |_| true).unwrap())
        .collect();
    let mut sorted = picks.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, vec![0, 1, 2], "{picks:?}");
}

fn selectors(n: usize) -> Vec<Selector> {
    vec![
        Selector::Priority,
        Selector::Sticky(AtomicUsize::new(n.saturating_sub(1))),
        Selector::RoundRobin(AtomicUsize::new(0)),
        Selector::Weighted(Mutex::new(SmoothWeighted::new(n))),
        Selector::LeastConnections(AtomicUsize::new(0)),
    ]
}

proptest! {
    /// Whatever the algorithm, the state and the eligibility pattern: a pick is always
    /// eligible, and there is a pick exactly when some child is eligible.
    #[test]
    fn never_chooses_a_non_eligible_child_while_one_is_eligible(
        weights in prop::collection::vec(1u32..10, 1..8),
        rounds in prop::collection::vec((prop::collection::vec(any::<bool>(), 8), prop::collection::vec(0u64..20, 8)), 1..60),
    ) {
        let n = weights.len();
        for selector in selectors(n) {
            for (eligible, loads) in &rounds {
                let pick = selector.pick(&weights, |i| loads[i], |i| eligible[i]);
                let any = (0..n).any(|i| eligible[i]);
                match pick {
                    Some(i) => prop_assert!(i < n && eligible[i], "{selector:?} picked {i}"),
                    None => prop_assert!(!any, "{selector:?} picked nothing"),
                }
            }
        }
    }

    /// Round-robin over a fixed set of eligible children gives each the same share.
    #[test]
    fn round_robin_is_fair(
        n in 1usize..8,
        mask in prop::collection::vec(any::<bool>(), 8),
        cycles in 1usize..6,
        start in 0usize..8,
    ) {
        let eligible: Vec<usize> = (0..n).filter(|&i| mask[i]).collect();
        prop_assume!(!eligible.is_empty());
        let rr = Selector::RoundRobin(AtomicUsize::new(start));
        let mut counts = vec![0usize; n];
        for _ in 0..cycles * eligible.len() {
            let i = rr.pick(&vec![1; n], |_| 0, |i| mask[i]).unwrap();
            counts[i] += 1;
        }
        for i in 0..n {
            prop_assert_eq!(counts[i], if mask[i] { cycles } else { 0 });
        }
    }

    /// Smooth weighted round-robin gives each eligible child exactly its weight in
    /// every cycle of Σw picks, and is smooth: at every moment each child is less than
    /// two picks away from its exact share, so no child gets a burst of its weight in
    /// a row while others wait (Synapse's WRR gives w picks in a row).
    #[test]
    fn weighted_round_robin_is_exact_and_smooth(
        weights in prop::collection::vec(1u32..12, 1..7),
        mask in prop::collection::vec(any::<bool>(), 7),
        cycles in 1usize..4,
    ) {
        let n = weights.len();
        prop_assume!((0..n).any(|i| mask[i]));
        let total: u32 = (0..n).filter(|&i| mask[i]).map(|i| weights[i]).sum();
        let mut s = SmoothWeighted::new(n);
        let mut counts = vec![0usize; n];
        for t in 1..=cycles * total as usize {
            let p = s.pick(&weights, |i| mask[i]).unwrap();
            counts[p] += 1;
            for i in (0..n).filter(|&i| mask[i]) {
                let share = t as f64 * f64::from(weights[i]) / f64::from(total);
                prop_assert!((counts[i] as f64 - share).abs() < 2.0, "child {} has {} after {} picks, share {}", i, counts[i], t, share);
            }
        }
        for i in 0..n {
            prop_assert_eq!(counts[i], if mask[i] { cycles * weights[i] as usize } else { 0 });
        }
    }

    /// Least connections picks a child whose load per weight is minimal.
    #[test]
    fn least_connections_picks_a_least_loaded_child(
        weights in prop::collection::vec(1u32..5, 1..8),
        loads in prop::collection::vec(0u64..50, 8),
        mask in prop::collection::vec(any::<bool>(), 8),
        start in 0usize..8,
    ) {
        let n = weights.len();
        let Some(i) = least_loaded(start, &weights, |i| loads[i], |i| mask[i]) else {
            prop_assert!(!(0..n).any(|i| mask[i]));
            return Ok(());
        };
        let ratio = |j: usize| (loads[j] + 1) as f64 / f64::from(weights[j]);
        for j in (0..n).filter(|&j| mask[j]) {
            prop_assert!(ratio(i) <= ratio(j) + 1e-9, "{i} ({}) over {j} ({})", ratio(i), ratio(j));
        }
    }

    /// Failover in priority order takes the first eligible child.
    #[test]
    fn priority_takes_the_first_eligible_child(mask in prop::collection::vec(any::<bool>(), 1..10)) {
        let n = mask.len();
        prop_assert_eq!(Selector::Priority.pick(&vec![1; n], |_| 0, |i| mask[i]), mask.iter().position(|&m| m));
    }
}
