//! Issue 11, items 1, 5 and 6: no message can overflow the stack, blow up memory or burn
//! quadratic CPU through its XML. Too deep, too many nodes or attributes: the client's
//! fault (400 / Client fault, 601000) for a request, the backend's (502, counted) for a
//! response that is converted; Axon keeps serving either way.

use axon::base::limits::Limits;
use axon::message::XmlLimits;

use crate::soap::axon_endpoint;
use crate::support::backend::{Backend, Canned};
use crate::support::{self, Reply, TestAxon};

const S11: &str = "http://schemas.xmlsoap.org/soap/envelope/";
const S12: &str = "http://www.w3.org/2003/05/soap-envelope";

fn nested(levels: usize) -> String {
    "<a>".repeat(levels) + &"</a>".repeat(levels)
}

fn envelope(ns: &str, payload: &str) -> String {
    format!(
        r#"<soapenv:Envelope xmlns:soapenv="{ns}"><soapenv:Body>{payload}</soapenv:Body></soapenv:Envelope>"#
    )
}

fn canned(body: String, content_type: &'static str) -> Canned {
    Canned {
        content_type,
        ..Canned::ok(&body)
    }
}

/// A backend that answers every request with a small SOAP 1.2 envelope.
async fn soap12_backend() -> Backend {
    Backend::start(|_| canned(envelope(S12, "<ok/>"), "application/soap+xml")).await
}

fn proxy(name: &str, address: &str) -> String {
    format!(
        r#"<proxy xmlns="http://ws.apache.org/ns/synapse" name="{name}" transports="http"><target><endpoint><address uri="{address}"/></endpoint></target></proxy>"#
    )
}

fn api(context: &str, endpoint: &str) -> String {
    format!(
        r#"<api xmlns="http://ws.apache.org/ns/synapse" name="A{}" context="{context}"><resource methods="POST"><inSequence><send><endpoint key="{endpoint}"/></send></inSequence></resource></api>"#,
        &context[1..]
    )
}

fn endpoint(name: &str, address: &str, format: &str) -> String {
    format!(
        r#"<endpoint xmlns="http://ws.apache.org/ns/synapse" name="{name}"><address uri="{address}" format="{format}"/></endpoint>"#
    )
}

async fn post(axon: &TestAxon, path: &str, body: &[u8], content_type: &str) -> Reply {
    axon.request("POST", path, Some(body), &[("content-type", content_type)])
        .await
}

async fn post_soap11(axon: &TestAxon, path: &str, body: &str) -> Reply {
    axon.request(
        "POST",
        path,
        Some(body.as_bytes()),
        &[("content-type", "text/xml"), ("soapaction", "urn:x")],
    )
    .await
}

/// Posts a SOAP 1.1 request that must be refused as the client's fault.
async fn refused_soap11(axon: &TestAxon, path: &str, body: &str, why: &str) {
    let reply = post_soap11(axon, path, body).await;
    assert_eq!(reply.status, 500, "{path}: {}", reply.text());
    assert_client_fault(&reply, why);
}

fn assert_client_fault(reply: &Reply, why: &str) {
    let text = reply.text();
    assert!(
        text.contains("<faultcode>soapenv:Client</faultcode>"),
        "{text}"
    );
    assert!(text.contains("<axon:code>601000</axon:code>"), "{text}");
    assert!(text.contains(why), "{why}: {text}");
}

#[actix_rt::test]
async fn deep_requests_are_refused_as_the_clients_fault_and_axon_keeps_serving() {
    let backend = soap12_backend().await;
    let converting = proxy("P12", &backend.url("/s")).replace("/>", " format=\"soap12\"/>");
    let axon = TestAxon::start(&[
        ("p.xml", &converting),
        (
            "endpoints/e.xml",
            &endpoint("Soap11Ep", &backend.url("/x"), "soap11"),
        ),
        ("apis/a.xml", &api("/deep", "Soap11Ep")),
    ])
    .await;

    // ~7,000 levels in a SOAP 1.1 envelope into a proxy converting to SOAP 1.2.
    let deep = envelope(S11, &nested(7_000));
    refused_soap11(&axon, "/services/P12", &deep, "nested deeper than 512").await;
    // ~10,000 levels of plain XML into an endpoint with format="soap11".
    let reply = post(&axon, "/deep", nested(10_000).as_bytes(), "application/xml").await;
    assert_eq!(reply.status, 400, "{}", reply.text());
    assert_eq!(reply.header("x-axon-error-code").as_deref(), Some("601000"));
    assert!(reply.text().contains("deeper than 512"), "{}", reply.text());
    assert_eq!(backend.hits(), 0, "nothing too deep reached the backend");

    // Axon is alive, and the endpoints were not blamed.
    let reply = post_soap11(&axon, "/services/P12", &envelope(S11, "<q>1</q>")).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(axon.state("Soap11Ep").await, "ACTIVE");
    assert_eq!(axon.state(&axon_endpoint(&axon).await).await, "ACTIVE");
}

#[actix_rt::test]
async fn deep_backend_responses_converted_for_the_client_are_the_backends_fault() {
    let deep12 =
        Backend::start(|_| canned(envelope(S12, &nested(20_000)), "application/soap+xml")).await;
    let deep_xml = Backend::start(|_| canned(nested(20_000), "application/xml")).await;
    let axon = TestAxon::start(&[
        (
            "endpoints/s.xml",
            &endpoint("Deep12", &deep12.url("/s"), "soap12"),
        ),
        (
            "endpoints/x.xml",
            &endpoint("DeepPox", &deep_xml.url("/x"), "pox"),
        ),
        ("apis/s.xml", &api("/soap", "Deep12")),
        ("apis/x.xml", &api("/pox", "DeepPox")),
    ])
    .await;
    // SOAP 1.1 client, SOAP 1.2 backend: the response is converted back to 1.1.
    // A SOAP 1.1 fault is HTTP 500; the status Axon would answer is in its detail.
    let reply = post_soap11(&axon, "/soap", &envelope(S11, "<q/>")).await;
    let text = reply.text();
    assert_eq!(reply.status, 500, "{text}");
    assert!(
        text.contains("<faultcode>soapenv:Server</faultcode>"),
        "{text}"
    );
    assert!(text.contains("<axon:status>502</axon:status>"), "{text}");
    // The cause is the backend's: the client gets the code and the message id, the
    // health API the detail.
    assert!(!text.contains("deeper than 512"), "{text}");
    // JSON client, XML backend: the response is converted to JSON.
    let reply = post(&axon, "/pox", br#"{"q":1}"#, "application/json").await;
    assert_eq!(reply.status, 502, "{}", reply.text());
    // The backends' fault counts against them, and the health API says why.
    for name in ["Deep12", "DeepPox"] {
        let report = axon.endpoint(name).await;
        assert_eq!(report["state"], "SUSPENDED", "{report}");
        let detail = report["last_error"]["detail"].as_str().unwrap_or_default();
        assert!(detail.contains("deeper than 512"), "{report}");
    }
}

#[actix_rt::test]
async fn a_deep_pass_through_envelope_is_stopped_early_and_never_blamed_on_the_endpoint() {
    let backend = soap12_backend().await;
    let axon = TestAxon::start(&[("p.xml", &proxy("Pass", &backend.url("/s")))]).await;
    // 100,000 levels, 700 KB: the streaming check stops at the nesting limit.
    let deep = envelope(S11, &nested(100_000));
    refused_soap11(&axon, "/services/Pass", &deep, "deeper than 512").await;
    assert_eq!(axon.state(&axon_endpoint(&axon).await).await, "ACTIVE");
}

#[actix_rt::test]
async fn wide_documents_are_refused_naming_the_limit() {
    let backend = soap12_backend().await;
    let limits = Limits {
        xml: XmlLimits {
            max_nodes: 1_000,
            max_attributes: 16,
            max_memory: 512 * 1024,
        },
        ..Limits::default()
    };
    let xpath_api = r#"<api xmlns="http://ws.apache.org/ns/synapse" name="X" context="/xpath"><resource methods="POST"><inSequence><property name="n" expression="count(//i)"/><respond/></inSequence></resource></api>"#;
    let axon = TestAxon::start_with(
        &[
            (
                "endpoints/e.xml",
                &endpoint("Conv", &backend.url("/x"), "soap11"),
            ),
            ("apis/a.xml", &api("/conv", "Conv")),
            ("apis/x.xml", xpath_api),
        ],
        limits,
    )
    .await;
    let many = format!("<r>{}</r>", "<i/>".repeat(2_000));
    let attrs: String = (0..17).map(|i| format!(" a{i}=\"1\"")).collect();
    let wide = format!("<r{attrs}/>");
    let big_text = format!("<r>{}</r>", "x".repeat(600 * 1024));
    for (body, limit) in [
        (many, "--max-xml-nodes"),
        (wide, "--max-xml-attributes"),
        (big_text, "--max-xml-memory"),
    ] {
        for path in ["/conv", "/xpath"] {
            let reply = post(&axon, path, body.as_bytes(), "application/xml").await;
            assert_eq!(reply.status, 400, "{path} {limit}: {}", reply.text());
            assert_eq!(reply.header("x-axon-error-code").as_deref(), Some("601000"));
            assert!(reply.text().contains(limit), "{path}: {}", reply.text());
        }
    }
    // JSON is bounded by its XML form: 2,000 values are 2,000 nodes.
    let json = format!("[{}0]", "0,".repeat(1_999));
    for path in ["/conv", "/xpath"] {
        let reply = post(&axon, path, json.as_bytes(), "application/json").await;
        assert_eq!(reply.status, 400, "{path}: {}", reply.text());
        assert!(
            reply.text().contains("--max-xml-nodes"),
            "{path}: {}",
            reply.text()
        );
    }
    assert_eq!(backend.hits(), 0);
    assert_eq!(axon.state("Conv").await, "ACTIVE");
    // Within the limits all is well; a large body is converted off the I/O worker.
    let reply = post(
        &axon,
        "/xpath",
        format!("<r>{}</r>", "<i/>".repeat(100)).as_bytes(),
        "application/xml",
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let large = "y".repeat(300 * 1024);
    let reply = post(
        &axon,
        "/conv",
        format!("<r>{large}</r>").as_bytes(),
        "application/xml",
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let sent = String::from_utf8_lossy(&backend.last().body).into_owned();
    assert!(
        sent.contains(&format!("<soapenv:Body><r>{large}</r>")),
        "{}",
        sent.len()
    );
}

#[actix_rt::test]
async fn a_hundred_thousand_attributes_are_refused_by_the_default_limit() {
    let backend = soap12_backend().await;
    let axon = TestAxon::start(&[
        (
            "endpoints/e.xml",
            &endpoint("Conv", &backend.url("/x"), "soap11"),
        ),
        ("apis/a.xml", &api("/conv", "Conv")),
        ("p.xml", &proxy("Pass", &backend.url("/s"))),
    ])
    .await;
    let attrs: String = (0..100_000).map(|i| format!(" a{i}=\"1\"")).collect();
    let reply = post(
        &axon,
        "/conv",
        format!("<r{attrs}/>").as_bytes(),
        "application/xml",
    )
    .await;
    assert_eq!(reply.status, 400, "{}", reply.text());
    assert!(
        reply.text().contains("more than 256 attributes"),
        "{}",
        reply.text()
    );
    let wide = envelope(S11, &format!("<r{attrs}/>"));
    refused_soap11(&axon, "/services/Pass", &wide, "more than 256 attributes").await;
    assert_eq!(backend.hits(), 0);
}

#[actix_rt::test]
async fn an_envelope_with_two_bodies_is_a_client_fault() {
    let backend = soap12_backend().await;
    let converting = proxy("P12", &backend.url("/s")).replace("/>", " format=\"soap12\"/>");
    let axon = TestAxon::start(&[
        ("p.xml", &proxy("Pass", &backend.url("/s"))),
        ("q.xml", &converting),
    ])
    .await;
    let two = format!(
        r#"<soapenv:Envelope xmlns:soapenv="{S11}"><soapenv:Body><a/></soapenv:Body><soapenv:Body><b/></soapenv:Body></soapenv:Envelope>"#
    );
    for path in ["/services/Pass", "/services/P12"] {
        refused_soap11(&axon, path, &two, "Body").await;
    }
    assert_eq!(backend.hits(), 0);
}

#[actix_rt::test]
async fn a_body_declared_xml_that_is_not_xml_is_malformed_for_xpath() {
    let backend = soap12_backend().await;
    let p = format!(
        r#"<proxy xmlns="http://ws.apache.org/ns/synapse" name="X" transports="http"><target><inSequence><filter xpath="//symbol = 'IBM'"><then><drop/></then></filter></inSequence><endpoint><address uri="{}"/></endpoint></target></proxy>"#,
        backend.url("/s")
    );
    let axon = TestAxon::start(&[("p.xml", &p)]).await;
    refused_soap11(&axon, "/services/X", "this is not XML", "not XML").await;
    assert_eq!(backend.hits(), 0);
}

#[actix_rt::test]
async fn a_body_too_large_to_convert_is_413() {
    let backend = soap12_backend().await;
    let converting = proxy("P12", &backend.url("/s")).replace("/>", " format=\"soap12\"/>");
    let limits = Limits {
        max_body: 4096,
        ..Limits::default()
    };
    let axon = TestAxon::start_with(
        &[
            ("p.xml", &converting),
            (
                "endpoints/e.xml",
                &endpoint("Conv", &backend.url("/x"), "soap11"),
            ),
            ("apis/a.xml", &api("/conv", "Conv")),
        ],
        limits,
    )
    .await;
    let big = format!("<r>{}</r>", "x".repeat(8192));
    let reply = post_soap11(&axon, "/services/P12", &envelope(S11, &big)).await;
    assert_eq!(reply.status, 413, "{}", reply.text());
    assert!(
        reply
            .text()
            .contains("<faultcode>soapenv:Client</faultcode>"),
        "{}",
        reply.text()
    );
    let json = format!("{{\"r\":\"{}\"}}", "x".repeat(8192));
    let reply = post(&axon, "/conv", json.as_bytes(), "application/json").await;
    assert_eq!(reply.status, 413, "{}", reply.text());
    assert_eq!(backend.hits(), 0);
    assert_eq!(axon.state("Conv").await, "ACTIVE");
}

/// Bytes the kernel still holds on the TCP connection from local port `from` to `to`:
/// (written but not yet taken by the peer, received but not yet read by the application).
fn tcp_queues(from: u16, to: u16) -> Option<(u64, u64)> {
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    let port = |address: &str| u16::from_str_radix(address.rsplit(':').next()?, 16).ok();
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if port(fields.get(1)?)? != from || port(fields.get(2)?)? != to {
            return None;
        }
        let (tx, rx) = fields.get(4)?.split_once(':')?;
        Some((
            u64::from_str_radix(tx, 16).ok()?,
            u64::from_str_radix(rx, 16).ok()?,
        ))
    })
}

/// Issue 11, item 5: an XPath over a large payload (within the limits) is evaluated off the
/// I/O worker. With one worker, a small request sent once Axon has read every byte of a
/// large one is answered while the large one's DOM is still being built and read; before,
/// the worker was busy with that DOM and the small request waited for it.
#[actix_rt::test]
async fn an_xpath_over_a_large_payload_does_not_hold_up_the_worker() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let api = r#"<api xmlns="http://ws.apache.org/ns/synapse" name="X" context="/xpath"><resource methods="POST"><inSequence><property name="n" expression="count(//a)"/><payloadFactory media-type="json"><format>{"n":$1}</format><args><arg evaluator="xml" expression="$ctx:n"/></args></payloadFactory><respond/></inSequence></resource></api>"#;
    let axon = TestAxon::start_one_worker(&[("apis/x.xml", api)]).await;
    let elements = 400_000;
    let large = format!("<r>{}</r>", "<a/>".repeat(elements));
    let addr = axon.server.http_addr();
    let mut conn = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "POST /xpath HTTP/1.1\r\nHost: x\r\ncontent-type: application/xml\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        large.len()
    );
    conn.write_all(head.as_bytes()).await.expect("head");
    conn.write_all(large.as_bytes()).await.expect("body");
    let (mine, axons) = (conn.local_addr().expect("addr").port(), addr.port());
    support::eventually(
        std::time::Duration::from_secs(30),
        "Axon to read the whole large request",
        || async {
            tcp_queues(mine, axons) == Some((0, 0)) && tcp_queues(axons, mine) == Some((0, 0))
        },
    )
    .await;
    // Axon holds the whole body: its mediation is under way. Which answer comes first?
    let order = Arc::new(AtomicUsize::new(0));
    let large_done = {
        let order = Arc::clone(&order);
        actix_rt::spawn(async move {
            let mut answer = Vec::new();
            conn.read_to_end(&mut answer).await.expect("large answer");
            (order.fetch_add(1, Ordering::SeqCst), answer)
        })
    };
    let small = post(&axon, "/xpath", b"<r><a/><a/></r>", "application/xml").await;
    let small_rank = order.fetch_add(1, Ordering::SeqCst);
    assert_eq!(small.status, 200, "{}", small.text());
    assert_eq!(small.json()["n"], 2);
    let (large_rank, answer) = large_done.await.expect("large task");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer.ends_with(&format!("{{\"n\":{elements}}}")),
        "{answer}"
    );
    assert!(
        small_rank < large_rank,
        "the small request was answered only after the large one: the large payload's XPath ran on the I/O worker"
    );
}

/// The steps that read a large payload run off the I/O worker wherever they sit (a
/// branch of a branch, a sequence called by key) and do what they do inline: choose
/// branches, edit the payload, fail with the same errors.
#[actix_rt::test]
async fn steps_over_a_large_payload_run_off_the_worker_with_the_same_outcomes() {
    let api = r#"<api xmlns="http://ws.apache.org/ns/synapse" name="B" context="/branches"><resource methods="POST"><inSequence>
        <filter xpath="count(//a) &gt; 10"><then>
            <switch source="local-name(//r/*[last()])">
                <case regex="b"><drop/></case>
                <case regex="a">
                    <enrich><source type="inline"><added/></source><target xpath="//r" action="child"/></enrich>
                    <sequence key="Count"/>
                </case>
            </switch>
        </then><else><drop/></else></filter>
        <payloadFactory media-type="json"><format>{"n":$1,"added":$2}</format><args><arg expression="$ctx:n"/><arg expression="count(//added)"/></args></payloadFactory>
        <respond/>
    </inSequence></resource></api>"#;
    let count = r#"<sequence xmlns="http://ws.apache.org/ns/synapse" name="Count"><property name="n" expression="count(//a)"/></sequence>"#;
    let axon = TestAxon::start_one_worker(&[("apis/b.xml", api), ("sequences/c.xml", count)]).await;
    for elements in [20, 100_000] {
        let body = format!("<r>{}</r>", "<a/>".repeat(elements));
        let reply = post(&axon, "/branches", body.as_bytes(), "application/xml").await;
        assert_eq!(reply.status, 200, "{elements}: {}", reply.text());
        assert_eq!(reply.json()["n"], elements, "{elements}");
        assert_eq!(reply.json()["added"], 1, "{elements}");
    }
    // A malformed large payload is the client's fault, as a small one is.
    for elements in [20, 100_000] {
        let body = format!("<r>{}", "<a/>".repeat(elements));
        let reply = post(&axon, "/branches", body.as_bytes(), "application/xml").await;
        assert_eq!(reply.status, 400, "{elements}: {}", reply.text());
        assert_eq!(reply.header("x-axon-error-code").as_deref(), Some("601000"));
    }
}
