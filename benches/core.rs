//! Micro-benchmarks of the per-request pieces that do not touch the network: resource
//! matching, the endpoint health admission, the state machine, and config load.
//! Results are recorded in docs/benchmarks.md.

use std::hint::black_box;
use std::time::Duration;

use axon::config::Config;
use axon::endpoints::health::Health;
use axon::endpoints::state::{HealthMachine, SuspensionPolicy};
use axon::engine::uri_template::UriTemplate;
use criterion::{Criterion, criterion_group, criterion_main};
use tokio::time::Instant;

fn routing(c: &mut Criterion) {
    let template = UriTemplate::parse("/orders/{id}/items/{item}").expect("template");
    c.bench_function("uri_template_match", |b| {
        b.iter(|| black_box(template.matches(black_box("/orders/12345/items/7"), None)))
    });
}

fn health(c: &mut Criterion) {
    let health = Health::new();
    let now = Instant::now();
    c.bench_function("health_admit_active", |b| {
        b.iter(|| black_box(health.admit(black_box(now))))
    });
    let policy = SuspensionPolicy {
        initial_duration: Some(Duration::from_millis(1000)),
        progression_factor: 2.0,
        maximum_duration: Some(Duration::from_secs(60)),
        ..SuspensionPolicy::default()
    };
    c.bench_function("state_machine_fail_and_recover", |b| {
        b.iter(|| {
            let mut m = HealthMachine::new();
            black_box(m.on_failure(101_503, &policy, now));
            black_box(m.on_success(&policy));
        })
    });
}

fn config_load(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    for i in 0..1000 {
        // Every API sends to the endpoint defined next to it (ep1 for the last one).
        let target = if i + 1 < 1000 { i + 1 } else { 1 };
        let (sub, text) = match i % 3 {
            0 => (
                "apis",
                format!(
                    r#"<api name="api{i}" context="/api{i}"><resource methods="GET" uri-template="/items/{{id}}"><inSequence><send><endpoint key="ep{target}"/></send></inSequence></resource></api>"#
                ),
            ),
            1 => (
                "endpoints",
                format!(
                    r#"<endpoint name="ep{i}"><http uri-template="http://127.0.0.1:9/items/{{uri.var.id}}" method="get"><timeout><duration>5000</duration></timeout></http></endpoint>"#
                ),
            ),
            _ => (
                "sequences",
                format!(
                    r#"<sequence name="seq{i}"><log level="custom"><property name="n" value="{i}"/></log></sequence>"#
                ),
            ),
        };
        let path = dir.path().join(sub).join(format!("a{i}.xml"));
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }
    let mut group = c.benchmark_group("config");
    group.sample_size(10);
    group.bench_function("load_1000_artifacts", |b| {
        b.iter(|| black_box(Config::load(dir.path()).expect("valid")))
    });
    group.finish();
}

criterion_group!(benches, routing, health, config_load);
criterion_main!(benches);
