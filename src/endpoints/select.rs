//! Choosing a group's child for one message.
//!
//! The algorithms are plain functions and structs over "which children may take this
//! message" (`eligible`: ready, and not already tried for it), so they are tested
//! exhaustively below without a runtime. [`Selector`] wraps them for concurrent use by
//! every worker: round-robin, stickiness and the least-connections tie-break are atomics;
//! only smooth weighted round-robin, whose per-child counters must change together, takes
//! a short per-group lock. No selection ever waits on a mailbox.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The first eligible child in declaration order (failover's priority order).
pub(crate) fn first(n: usize, eligible: impl Fn(usize) -> bool) -> Option<usize> {
    (0..n).find(|&i| eligible(i))
}

/// The first eligible child at or after `start`, wrapping around.
pub(crate) fn next_from(start: usize, n: usize, eligible: impl Fn(usize) -> bool) -> Option<usize> {
    if n == 0 {
        return None;
    }
    (0..n).map(|k| (start + k) % n).find(|&i| eligible(i))
}

/// The eligible child with the lowest `(load + 1) / weight`, scanning from `start` so that
/// ties rotate instead of always going to the first child.
pub(crate) fn least_loaded(
    start: usize,
    weights: &[u32],
    load: impl Fn(usize) -> u64,
    eligible: impl Fn(usize) -> bool,
) -> Option<usize> {
    let n = weights.len();
    let mut best: Option<(usize, u128)> = None;
    for k in 0..n {
        let i = (start + k) % n;
        if !eligible(i) {
            continue;
        }
        let cost = u128::from(load(i)) + 1;
        let w = u128::from(weights[i].max(1));
        // cost/w < best_cost/best_w, without division.
        let better = match best {
            None => true,
            Some((b, b_cost)) => cost * u128::from(weights[b].max(1)) < b_cost * w,
        };
        if better {
            best = Some((i, cost));
        }
    }
    best.map(|(i, _)| i)
}

/// Smooth weighted round-robin (the nginx algorithm): each pick adds every eligible
/// child's weight to its counter, takes the child with the largest counter, and
/// subtracts the total from it. A child of weight w gets w picks in every cycle of
/// Σw, interleaved with the others; children that are not eligible take no part.
#[derive(Debug, Clone, Default)]
pub struct SmoothWeighted {
    current: Vec<i64>,
}

/// A group's selection state, shared by every worker.
#[derive(Debug)]
pub enum Selector {
    /// Failover, `dynamic="true"`: always the first eligible child.
    Priority,
    /// Failover, `dynamic="false"`: the child that last succeeded, while eligible.
    Sticky(AtomicUsize),
    /// Round-robin; the cursor is the child after the last one picked.
    RoundRobin(AtomicUsize),
    /// Smooth weighted round-robin.
    Weighted(Mutex<SmoothWeighted>),
    /// Least connections; the cursor rotates ties.
    LeastConnections(AtomicUsize),
}

// === impl SmoothWeighted ===

impl SmoothWeighted {
    /// State for `n` children.
    pub fn new(n: usize) -> Self {
        SmoothWeighted {
            current: vec![0; n],
        }
    }

    /// Picks the next eligible child; `None` when no child is eligible.
    pub(crate) fn pick(
        &mut self,
        weights: &[u32],
        eligible: impl Fn(usize) -> bool,
    ) -> Option<usize> {
        if self.current.len() != weights.len() {
            self.current = vec![0; weights.len()];
        }
        let mut total: i64 = 0;
        let mut best: Option<usize> = None;
        for (i, &w) in weights.iter().enumerate() {
            if !eligible(i) {
                continue;
            }
            let w = i64::from(w.max(1));
            self.current[i] += w;
            total += w;
            if best.is_none_or(|b| self.current[i] > self.current[b]) {
                best = Some(i);
            }
        }
        let b = best?;
        self.current[b] -= total;
        Some(b)
    }
}

// === impl Selector ===

impl Selector {
    /// Picks a child among `n` (with `weights`, and `load` in flight each); `None` when
    /// none is eligible.
    pub fn pick(
        &self,
        weights: &[u32],
        load: impl Fn(usize) -> u64,
        eligible: impl Fn(usize) -> bool,
    ) -> Option<usize> {
        let n = weights.len();
        match self {
            Selector::Priority => first(n, eligible),
            Selector::Sticky(current) => {
                let c = current.load(Ordering::Relaxed);
                if c < n && eligible(c) {
                    Some(c)
                } else {
                    first(n, eligible)
                }
            }
            Selector::RoundRobin(cursor) => {
                let mut at = cursor.load(Ordering::Relaxed);
                loop {
                    let chosen = next_from(at % n.max(1), n, &eligible)?;
                    // Move the cursor past the chosen child, so a child that is skipped
                    // does not hand an extra turn to its neighbour.
                    match cursor.compare_exchange_weak(
                        at,
                        chosen + 1,
                        Ordering::Relaxed,
                        Ordering::Relaxed,
                    ) {
                        Ok(_) => return Some(chosen),
                        Err(now) => at = now,
                    }
                }
            }
            Selector::Weighted(state) => {
                // A poisoned lock only means another worker panicked mid-pick; the
                // counters are still usable.
                let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
                state.pick(weights, eligible)
            }
            Selector::LeastConnections(cursor) => {
                let start = cursor.fetch_add(1, Ordering::Relaxed) % n.max(1);
                least_loaded(start, weights, load, eligible)
            }
        }
    }

    /// Child `i` answered the message: a sticky failover stays on it.
    pub(crate) fn succeeded(&self, i: usize) {
        if let Selector::Sticky(current) = self {
            current.store(i, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
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
}
