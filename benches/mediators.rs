//! Micro-benchmarks of the mediation language, one group per family: XPath evaluation,
//! JSONPath (`json-eval`) evaluation, payloadFactory, split/merge (`iterate`,
//! `aggregate`), throttle and cache. Each measures the work one
//! message costs on a worker thread, without the network. Results are recorded in
//! docs/benchmarks.md.
//!
//! "first read" includes parsing the payload (what the first content-aware mediator of a
//! message pays); "parsed" reuses the parse (every later mediator of the same message).

use std::hint::black_box;

use actix_web::http::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use actix_web::http::{Method, Uri};
use axon::engine::Mediation;
use axon::expr::Expression;
use axon::mediators::{Env, Step};
use axon::message::{Body, MessageContext};
use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};

const SOAP: &str = r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:ord="http://example.com/orders">
  <soapenv:Header><ord:Tenant>blue</ord:Tenant></soapenv:Header>
  <soapenv:Body>
    <ord:placeOrder>
      <ord:customer tier="gold">ACME</ord:customer>
      <ord:item sku="A-1" qty="2">Gadget</ord:item>
      <ord:item sku="B-2" qty="5">Gizmo</ord:item>
      <ord:item sku="C-3" qty="1">Widget</ord:item>
    </ord:placeOrder>
  </soapenv:Body>
</soapenv:Envelope>"#;

const JSON: &str = r#"{"order":{"id":1042,"customer":{"name":"Smith","tier":"gold"},"items":[{"sku":"A-1","qty":2},{"sku":"B-2","qty":5},{"sku":"C-3","qty":1}]}}"#;

fn message(body: &'static str, content_type: &'static str) -> MessageContext {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    let mut msg = MessageContext::request(
        Method::POST,
        Uri::from_static("/orders/42?x=1"),
        "http",
        headers,
        Body::Full(Bytes::from_static(body.as_bytes())),
    );
    msg.set("uri.var.id", "42");
    msg
}

fn ns() -> Vec<(String, String)> {
    vec![("o".to_owned(), "http://example.com/orders".to_owned())]
}

fn xpath(c: &mut Criterion) {
    let mut group = c.benchmark_group("xpath");
    let route = Expression::compile("$body/o:placeOrder/o:customer/@tier", &ns()).expect("xpath");
    group.bench_function("soap_first_read", |b| {
        b.iter(|| {
            let mut msg = message(SOAP, "text/xml");
            black_box(route.string(&mut msg).expect("value"))
        })
    });
    let mut parsed = message(SOAP, "text/xml");
    route.prepare(&mut parsed).expect("parses");
    group.bench_function("soap_parsed", |b| {
        b.iter(|| black_box(route.evaluate_prepared(black_box(&parsed)).expect("value")))
    });
    let sum = Expression::compile("sum(//o:item/@qty) > 5", &ns()).expect("xpath");
    group.bench_function("soap_parsed_predicate", |b| {
        b.iter(|| black_box(sum.evaluate_prepared(black_box(&parsed)).expect("value")))
    });
    let props = Expression::compile(
        "concat('id-', get-property('uri.var.id'), $trp:Content-Type)",
        &[],
    )
    .expect("xpath");
    group.bench_function("properties_only", |b| {
        b.iter(|| black_box(props.evaluate_prepared(black_box(&parsed)).expect("value")))
    });
    let read = Expression::compile("get-property('uri.var.id')", &[]).expect("xpath");
    group.bench_function("property_read", |b| {
        b.iter(|| black_box(read.evaluate_prepared(black_box(&parsed)).expect("value")))
    });
    group.bench_function("compile", |b| {
        b.iter(|| {
            black_box(Expression::compile(
                black_box("//o:item[@qty > 1]/@sku"),
                &ns(),
            ))
        })
    });
    group.finish();
}

fn jsonpath(c: &mut Criterion) {
    let mut group = c.benchmark_group("jsonpath");
    let name = Expression::compile("json-eval($.order.customer.name)", &[]).expect("json");
    group.bench_function("first_read", |b| {
        b.iter(|| {
            let mut msg = message(JSON, "application/json");
            black_box(name.string(&mut msg).expect("value"))
        })
    });
    let mut parsed = message(JSON, "application/json");
    name.prepare(&mut parsed).expect("parses");
    group.bench_function("parsed_definite", |b| {
        b.iter(|| black_box(name.evaluate_prepared(black_box(&parsed)).expect("value")))
    });
    let filter =
        Expression::compile("json-eval($.order.items[?(@.qty > 1)].sku)", &[]).expect("json");
    group.bench_function("parsed_filter", |b| {
        b.iter(|| black_box(filter.evaluate_prepared(black_box(&parsed)).expect("value")))
    });
    let synapse = Expression::compile("${payload.order.customer.name}", &[]).expect("synapse");
    group.bench_function("parsed_synapse_path", |b| {
        b.iter(|| {
            black_box(
                synapse
                    .evaluate_prepared(black_box(&parsed))
                    .expect("value"),
            )
        })
    });
    let computed = Expression::compile(
        "${toUpper(payload.order.customer.name) + '-' + payload.order.items[1].qty * 2}",
        &[],
    )
    .expect("synapse");
    group.bench_function("parsed_synapse_computed", |b| {
        b.iter(|| {
            black_box(
                computed
                    .evaluate_prepared(black_box(&parsed))
                    .expect("value"),
            )
        })
    });
    group.finish();
}

/// Benchmarks the sequence `s` defined by `xml` on a fresh message each iteration.
fn bench_sequence(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    xml: &str,
    body: &'static str,
    content_type: &'static str,
) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("s.xml"), xml).expect("write");
    let mediation = Mediation::load(dir.path()).expect("valid configuration");
    let config = &mediation.config;
    let env = Env { config };
    let seq = config.sequence_named("s").expect("sequence");
    let mediators = mediation.steps.sequence(seq);
    group.bench_function(name, |b| {
        b.iter(|| {
            let mut msg = message(body, content_type);
            for m in mediators {
                match m.mediate(&mut msg, &env) {
                    Ok(Step::Continue) => {}
                    other => panic!("unexpected step: {other:?}"),
                }
            }
            black_box(msg)
        })
    });
}

fn payload_factory(c: &mut Criterion) {
    let mut group = c.benchmark_group("payload_factory");
    bench_sequence(
        &mut group,
        "json_to_xml_4_args",
        r#"<sequence name="s"><payloadFactory media-type="xml">
             <format><order xmlns="http://example.com/orders"><id>$1</id><customer>$2</customer><lines>$3</lines><first>$4</first></order></format>
             <args><arg expression="json-eval($.order.id)"/><arg expression="json-eval($.order.customer.name)"/>
                   <arg expression="json-eval($.order.items.length())"/><arg expression="json-eval($.order.items[0].sku)"/></args>
           </payloadFactory></sequence>"#,
        JSON,
        "application/json",
    );
    bench_sequence(
        &mut group,
        "soap_to_json_4_args",
        r#"<sequence name="s" xmlns:o="http://example.com/orders"><payloadFactory media-type="json">
             <format>{"tier": "$1", "customer": "$2", "items": $3, "firstSku": "$4"}</format>
             <args><arg expression="$body/o:placeOrder/o:customer/@tier"/><arg expression="//o:customer"/>
                   <arg expression="count(//o:item)"/><arg expression="//o:item[1]/@sku"/></args>
           </payloadFactory></sequence>"#,
        SOAP,
        "text/xml",
    );
    bench_sequence(
        &mut group,
        "literal_args",
        r#"<sequence name="s"><payloadFactory media-type="json">
             <format>{"status": "$1", "code": $2}</format>
             <args><arg value="accepted"/><arg value="202"/></args>
           </payloadFactory></sequence>"#,
        JSON,
        "application/json",
    );
    group.finish();
}

/// The one mediator of sequence `s` in `xml`, loaded.
fn load_one(xml: &str) -> Mediation {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("s.xml"), xml).expect("write");
    Mediation::load(dir.path()).expect("valid configuration")
}

fn first_step<'c>(mediation: &'c Mediation, msg: &mut MessageContext) -> Step<'c> {
    let config = &mediation.config;
    let seq = config.sequence_named("s").expect("sequence");
    let env = Env { config };
    mediation.steps.sequence(seq)[0]
        .mediate(msg, &env)
        .expect("mediates")
}

/// `iterate` splitting 1,000 elements (XML by XPath, JSON by json-eval) into its branches'
/// bodies, and `aggregate` taking the part of 1,000 collected messages and merging them:
/// the per-message work of a fan-out without the network (criterion reports per element).
fn split_merge(c: &mut Criterion) {
    const N: usize = 1000;
    let mut group = c.benchmark_group("split_merge");
    group.throughput(criterion::Throughput::Elements(N as u64));
    let xml: &'static str = Box::leak(
        format!(
            "<orders>{}</orders>",
            (0..N)
                .map(|i| format!("<order><id>{i}</id><sku>A-{i}</sku></order>"))
                .collect::<String>()
        )
        .into_boxed_str(),
    );
    let json: &'static str = Box::leak(
        format!(
            "{{\"items\":[{}]}}",
            (0..N)
                .map(|i| format!("{{\"id\":{i},\"sku\":\"A-{i}\"}}"))
                .collect::<Vec<_>>()
                .join(",")
        )
        .into_boxed_str(),
    );
    let split_xml = load_one(
        r#"<sequence name="s"><iterate expression="//order"><target><sequence><drop/></sequence></target></iterate></sequence>"#,
    );
    let split_json = load_one(
        r#"<sequence name="s"><iterate expression="json-eval($.items)"><target><sequence><drop/></sequence></target></iterate></sequence>"#,
    );
    for (name, mediation, body, ct) in [
        ("split_xml_1000", &split_xml, xml, "application/xml"),
        ("split_json_1000", &split_json, json, "application/json"),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut msg = message(body, ct);
                match first_step(mediation, &mut msg) {
                    Step::Fork(fork) => black_box(fork),
                    other => panic!("unexpected step: {other:?}"),
                };
            })
        });
    }
    let merge_xml = load_one(
        r#"<sequence name="s"><aggregate><onComplete expression="//order"><respond/></onComplete></aggregate></sequence>"#,
    );
    let merge_json = load_one(
        r#"<sequence name="s"><aggregate><onComplete expression="json-eval($)"><respond/></onComplete></aggregate></sequence>"#,
    );
    for (name, mediation, body, ct) in [
        (
            "merge_xml_1000",
            &merge_xml,
            "<order><id>1</id><sku>A-1</sku></order>",
            "application/xml",
        ),
        (
            "merge_json_1000",
            &merge_json,
            r#"{"id":1,"sku":"A-1"}"#,
            "application/json",
        ),
    ] {
        let mut probe = message(body, ct);
        probe.set("aggregateCorelation", "p");
        let Step::Aggregate(aggregate) = first_step(mediation, &mut probe) else {
            panic!("the aggregate collects");
        };
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut first = message(body, ct);
                let parts: Vec<_> = (0..N)
                    .map(|_| aggregate.part(&mut message(body, ct)).expect("part"))
                    .collect();
                aggregate.merge(&mut first, parts).expect("merges");
                black_box(first)
            })
        });
    }
    group.finish();
}

/// `throttle` admitting a request: the caller lookup, one GCRA check and a concurrency slot
/// taken (and given back when the message is dropped).
fn throttle(c: &mut Criterion) {
    let mut group = c.benchmark_group("throttle");
    bench_sequence(
        &mut group,
        "admit_with_concurrency_slot",
        r#"<sequence name="s"><throttle id="bench"><policy>
             <wsp:Policy xmlns:wsp="http://schemas.xmlsoap.org/ws/2004/09/policy" xmlns:t="http://www.wso2.org/products/wso2commons/throttle">
               <t:MediatorThrottleAssertion><t:MaximumConcurrentAccess>1000</t:MaximumConcurrentAccess>
                 <wsp:Policy><t:ID t:type="IP">other</t:ID><wsp:Policy><t:Control><wsp:Policy>
                   <t:MaximumCount>4000000000</t:MaximumCount><t:UnitTime>1000</t:UnitTime>
                 </wsp:Policy></t:Control></wsp:Policy></wsp:Policy>
               </t:MediatorThrottleAssertion></wsp:Policy>
           </policy></throttle></sequence>"#,
        JSON,
        "application/json",
    );
    group.finish();
}

/// `cache` on a request it has not stored: the SHA-1 digest of the method, URI, headers
/// and body, the store lookup, and the message marked for the collector.
fn cache(c: &mut Criterion) {
    let mut group = c.benchmark_group("cache");
    bench_sequence(
        &mut group,
        "digest_and_miss",
        r#"<sequence name="s"><cache id="bench"><protocol type="HTTP"><methods>*</methods></protocol></cache></sequence>"#,
        JSON,
        "application/json",
    );
    group.finish();
}

criterion_group!(
    benches,
    xpath,
    jsonpath,
    payload_factory,
    split_merge,
    throttle,
    cache
);
criterion_main!(benches);
