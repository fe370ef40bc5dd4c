//! Micro-benchmarks of prototype endpoints and the API lifecycle: planning a mock answer
//! (inline templated, OpenAPI with `Prefer`/`Accept`) and the per-request lifecycle gate.
//! Results are recorded in docs/benchmarks.md.

use std::hint::black_box;

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::http::{Method, Uri};
use axon::base::lifecycle::{ApiLife, Lifecycle};
use axon::config::{Config, EndpointKind, PrototypeSpec, Target};
use axon::endpoints::prototype::{Request, plan};
use axon::engine::Mediation;
use axon::message::{Body, MessageContext};
use criterion::{Criterion, criterion_group, criterion_main};

const INLINE: &str = r#"<endpoint name="Inline"><prototype>
  <fault header="X-Mock-Fault" equals="drop" drop="true"/>
  <response method="GET" uri-template="/items/{id}">
    <header name="X-Request-Id" value="{header.X-Request-Id}"/>
    <body><![CDATA[{"id": "{uri.var.id}", "warehouse": "{query.param.warehouse}", "onHand": 12}]]></body>
  </response>
</prototype></endpoint>"#;

fn spec(config: &Config, name: &str) -> PrototypeSpec {
    let id = config.endpoint_named(name).expect("endpoint");
    match &config.endpoint(id).kind {
        EndpointKind::Leaf(leaf) => match &leaf.target {
            Target::Prototype(spec) => (**spec).clone(),
            _ => panic!("not a prototype"),
        },
        _ => panic!("not a leaf"),
    }
}

fn request(path: &str, headers: &[(&str, &str)]) -> MessageContext {
    let mut map = HeaderMap::new();
    for (k, v) in headers {
        map.append(
            HeaderName::from_bytes(k.as_bytes()).expect("name"),
            HeaderValue::from_str(v).expect("value"),
        );
    }
    let uri: Uri = format!("/api{path}").parse().expect("uri");
    let mut msg = MessageContext::request(Method::GET, uri, "http", map, Body::Empty);
    msg.set("REST_SUB_REQUEST_PATH", path);
    msg
}

fn prototypes(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let shipped = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/mediation/openapi/petstore.yaml"
    );
    std::fs::create_dir_all(dir.path().join("openapi")).expect("mkdir");
    std::fs::copy(shipped, dir.path().join("openapi/petstore.yaml")).expect("copy");
    std::fs::write(
        dir.path().join("endpoints.xml"),
        format!(
            r#"<definitions>{INLINE}<endpoint name="Pets"><prototype openapi="openapi/petstore.yaml"/></endpoint></definitions>"#
        ),
    )
    .expect("write");
    let config = Mediation::load(dir.path()).expect("valid").config;
    let inline = spec(&config, "Inline");
    let pets = spec(&config, "Pets");

    let mut msg = request("/items/A-17", &[("X-Request-Id", "r-1")]);
    msg.set("query.param.warehouse", "north");
    c.bench_function("prototype_plan_inline_templated", |b| {
        b.iter(|| black_box(plan(&inline, "Inline", &Request::of(black_box(&msg)), 1)))
    });
    let msg = request("/pets/1", &[]);
    c.bench_function("prototype_plan_openapi_default", |b| {
        b.iter(|| black_box(plan(&pets, "Pets", &Request::of(black_box(&msg)), 1)))
    });
    let msg = request(
        "/pets/7",
        &[
            ("Prefer", "code=404"),
            ("Accept", "text/html;q=0.9, application/*"),
        ],
    );
    c.bench_function("prototype_plan_openapi_prefer_accept", |b| {
        b.iter(|| black_box(plan(&pets, "Pets", &Request::of(black_box(&msg)), 1)))
    });
}

fn lifecycle(c: &mut Criterion) {
    let life = ApiLife::new("Shop", Lifecycle::Published);
    c.bench_function("lifecycle_gate", |b| {
        b.iter(|| black_box(black_box(&life).gate()))
    });
}

criterion_group!(benches, prototypes, lifecycle);
criterion_main!(benches);
