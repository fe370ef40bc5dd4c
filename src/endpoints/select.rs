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
mod tests;
