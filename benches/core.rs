//! Micro-benchmarks of the per-request pieces that do not touch the network: routing (the
//! inbound template and the API router), URI-template expansion of `<http>` endpoints, the
//! endpoint health admission, the state machine, SOAP envelope handling, and config load.
//! Results are recorded in docs/benchmarks.md.

use std::hint::black_box;
use std::time::Duration;

use actix_web::http::header::HeaderMap;
use actix_web::http::{Method, Uri};
use axon::base::uri_template::UriTemplate;
use axon::config::EndpointKind;
use axon::endpoints::address;
use axon::endpoints::health::Health;
use axon::endpoints::state::{HealthMachine, SuspensionPolicy};
use axon::engine::Mediation;
use axon::engine::dispatch::{RequestHead, Route, Router};
use axon::message::soap::{Envelope, EnvelopeCheck, SoapVersion};
use axon::message::{Body, MessageContext};
use criterion::{Criterion, criterion_group, criterion_main};
use tokio::time::Instant;

fn routing(c: &mut Criterion) {
    let template = UriTemplate::parse("/orders/{id}/items/{item}").expect("template");
    c.bench_function("uri_template_match", |b| {
        b.iter(|| black_box(template.matches(black_box("/orders/12345/items/7"), None)))
    });
    // The whole dispatch of the HTTP front among 100 APIs of four resources each: longest
    // context, then the resource (uri-template with variables, query parameters decoded).
    let dir = tempfile::tempdir().expect("tempdir");
    for i in 0..100 {
        let api = format!(
            r#"<api name="api{i}" context="/shop{i}/v1">
  <resource methods="GET" uri-template="/orders/{{id}}/items/{{item}}?expand={{expand}}"><inSequence><respond/></inSequence></resource>
  <resource methods="POST" uri-template="/orders"><inSequence><respond/></inSequence></resource>
  <resource methods="GET" url-mapping="/catalog/*"><inSequence><respond/></inSequence></resource>
  <resource methods="DELETE" uri-template="/orders/{{id}}"><inSequence><respond/></inSequence></resource>
</api>"#
        );
        std::fs::write(dir.path().join(format!("api{i}.xml")), api).expect("write");
    }
    let config = Mediation::load(dir.path()).expect("valid").config;
    let router = Router::new(&config);
    let head = RequestHead {
        method: &Method::GET,
        path: "/shop57/v1/orders/12345/items/7",
        query: Some("expand=lines"),
        host: Some("shop.example:8290"),
        scheme: "http",
        content_type: None,
        has_body: false,
        user_agent: Some("bench"),
    };
    assert!(matches!(
        router.route(&config, &head),
        Route::Resource { .. }
    ));
    c.bench_function("dispatch_route_100_apis", |b| {
        b.iter(|| black_box(router.route(&config, black_box(&head))))
    });
}

/// `<http uri-template>` expansion (RFC 6570) with two `uri.var.*` and a query parameter,
/// as every send to such an endpoint does.
fn uri_template_expand(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("ep.xml"),
        r#"<endpoint name="orders"><http uri-template="http://backend:8080/orders/{uri.var.id}/items/{uri.var.item}{?query.param.expand}" method="get"/></endpoint>"#,
    )
    .expect("write");
    let config = Mediation::load(dir.path()).expect("valid").config;
    let id = config.endpoint_named("orders").expect("endpoint");
    let endpoint = config.endpoint(id);
    let EndpointKind::Leaf(spec) = &endpoint.kind else {
        panic!("a leaf")
    };
    let mut msg = MessageContext::request(
        Method::GET,
        Uri::from_static("/shop/orders/12345/items/7"),
        "http",
        HeaderMap::new(),
        Body::Empty,
    );
    msg.set("uri.var.id", "12345");
    msg.set("uri.var.item", "7 b");
    msg.set("query.param.expand", "lines&totals");
    let url = address::resolve(&spec.target, &endpoint.properties, &msg, true).expect("url");
    assert_eq!(
        url,
        "http://backend:8080/orders/12345/items/7%20b?query.param.expand=lines%26totals"
    );
    c.bench_function("uri_template_expand", |b| {
        b.iter(|| {
            black_box(address::resolve(
                &spec.target,
                &endpoint.properties,
                black_box(&msg),
                true,
            ))
        })
    });
}

/// A 1 KiB SOAP 1.1 request with eight orders, the body of the e2e SOAP scenario.
fn soap11_orders() -> String {
    let orders: String = (0..8)
        .map(|i| {
            format!(
                "<m:order><m:symbol>SYM{i:03}</m:symbol><m:quantity>{}</m:quantity></m:order>",
                100 + i
            )
        })
        .collect();
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Header><wsa:To xmlns:wsa="http://www.w3.org/2005/08/addressing">urn:orders</wsa:To></soapenv:Header><soapenv:Body><m:orders xmlns:m="http://services.samples">{orders}</m:orders></soapenv:Body></soapenv:Envelope>"#
    )
}

fn soap(c: &mut Criterion) {
    let request = soap11_orders();
    let converted = Envelope::parse(request.as_bytes())
        .expect("envelope")
        .convert(SoapVersion::V12);
    assert!(converted.contains("http://www.w3.org/2003/05/soap-envelope"));
    // What `format="soap12"` does to a SOAP 1.1 request (and the front to the reply).
    c.bench_function("soap11_to_soap12_convert", |b| {
        b.iter(|| {
            let envelope = Envelope::parse(black_box(request.as_bytes())).expect("envelope");
            black_box(envelope.convert(SoapVersion::V12))
        })
    });
    // What a pass-through SOAP request costs: the streaming shape check, in 256-byte chunks.
    c.bench_function("soap_envelope_check_streamed", |b| {
        b.iter(|| {
            let mut check = EnvelopeCheck::new(SoapVersion::V11);
            let mut chunks = request.as_bytes().chunks(256).peekable();
            while let Some(chunk) = chunks.next() {
                check
                    .feed(black_box(chunk), chunks.peek().is_none())
                    .expect("well-formed");
            }
        })
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
        b.iter(|| black_box(Mediation::load(dir.path()).expect("valid")))
    });
    group.finish();
}

criterion_group!(
    benches,
    routing,
    uri_template_expand,
    health,
    soap,
    config_load
);
criterion_main!(benches);
