//! Micro-benchmarks of a group's per-message choice: each algorithm picking among three
//! children whose readiness is read from their shared health words, as a worker does.
//! Results are recorded in docs/benchmarks.md.

use std::hint::black_box;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use axon::endpoints::health::Health;
use axon::endpoints::select::{Selector, SmoothWeighted};
use criterion::{Criterion, criterion_group, criterion_main};
use tokio::time::Instant;

fn selection(c: &mut Criterion) {
    let children = [Health::new(), Health::new(), Health::new()];
    let in_flight = [AtomicU64::new(2), AtomicU64::new(0), AtomicU64::new(1)];
    let weights = [1u32, 2, 3];
    let now = Instant::now();
    let selectors = [
        ("group_pick_priority", Selector::Priority),
        (
            "group_pick_round_robin",
            Selector::RoundRobin(AtomicUsize::new(0)),
        ),
        (
            "group_pick_weighted_round_robin",
            Selector::Weighted(Mutex::new(SmoothWeighted::new(3))),
        ),
        (
            "group_pick_least_connections",
            Selector::LeastConnections(AtomicUsize::new(0)),
        ),
    ];
    for (name, selector) in &selectors {
        c.bench_function(name, |b| {
            b.iter(|| {
                black_box(selector.pick(
                    &weights,
                    |i| in_flight[i].load(Ordering::Relaxed),
                    |i| children[i].ready(black_box(now)),
                ))
            })
        });
    }
    c.bench_function("health_ready_active", |b| {
        b.iter(|| black_box(children[0].ready(black_box(now))))
    });
}

criterion_group!(benches, selection);
criterion_main!(benches);
