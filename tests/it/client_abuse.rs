//! Hostile and careless clients on the HTTP front: stalled and cut uploads, declared
//! lengths that never arrive, oversized heads, TRACE, connection floods, the drain, and
//! what error answers show. A client's fault is answered 4xx and never moves an
//! endpoint's health.

use std::time::Duration;

use axon::base::limits::Limits;
use serde_json::Value;

use crate::support::scripted::{Act, RawClient, Scripted, status_of};
use crate::support::{TestAxon, dead_port, eventually};

/// Long enough for any answer on a loaded machine; every wait below is bounded by it.
const WITHIN: Duration = Duration::from_secs(10);

const API: &str = r#"<api name="Up" context="/up">
  <resource methods="POST GET" uri-template="/pass"><inSequence><send><endpoint key="Backend"/></send></inSequence></resource>
  <resource methods="POST" uri-template="/read"><inSequence><log level="full"/><send><endpoint key="Backend"/></send></inSequence></resource>
  <resource methods="POST" uri-template="/group"><inSequence><send><endpoint key="Group"/></send></inSequence></resource>
</api>"#;

/// Two children: the group keeps the body to replay it (`Body::buffer_within`).
/// A pass-through SOAP proxy service: its body is checked while it streams.
const PROXY: &str = r#"<proxy name="Quotes"><target><endpoint key="Backend"/></target></proxy>"#;

const GROUP: &str = r#"<endpoint name="Group"><failover><endpoint key="Backend"/><endpoint key="Spare"/></failover></endpoint>"#;

fn endpoint(name: &str, uri: &str, timeout_ms: Option<u64>) -> String {
    let timeout = timeout_ms.map_or(String::new(), |ms| {
        format!("<timeout><duration>{ms}</duration></timeout>")
    });
    format!(r#"<endpoint name="{name}"><address uri="{uri}">{timeout}</address></endpoint>"#)
}

/// A backend that answers every request `200 ok` at once.
async fn answering() -> Scripted {
    Scripted::start(vec![
        Act::ReadHead,
        Act::write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
    ])
    .await
}

async fn start_on(uri: &str, timeout_ms: Option<u64>, limits: Limits) -> TestAxon {
    let backend = endpoint("Backend", uri, timeout_ms);
    let spare = endpoint("Spare", uri, None);
    let files = [
        ("api.xml", API),
        ("backend.xml", &backend),
        ("spare.xml", &spare),
        ("group.xml", GROUP),
        ("proxy.xml", PROXY),
    ];
    TestAxon::start_with(&files, limits).await
}

async fn start(backend: &Scripted, timeout_ms: Option<u64>, limits: Limits) -> TestAxon {
    start_on(&backend.url("/"), timeout_ms, limits).await
}

/// Sends `head` and the first `sent` bytes of a body declared as 1,000 bytes, then stops.
async fn stalled_upload(axon: &TestAxon, path: &str, sent: usize) -> RawClient {
    let mut client = RawClient::connect(axon.server.http_addr().port()).await;
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: a\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\n"
    );
    assert!(client.send(head.as_bytes()).await);
    assert!(client.send(&vec![b'x'; sent]).await);
    client
}

/// The endpoint's state and counted failures. A fresh client each time: these tests idle
/// longer than the management API's keep-alive, and a pooled connection closed by the
/// server at that moment fails the request.
async fn counters(axon: &TestAxon) -> (String, u64) {
    let mut resp = crate::support::client()
        .get(axon.admin_url("/health/actors/Backend"))
        .send()
        .await
        .expect("admin request");
    let report: Value = resp.json().await.expect("a health report");
    let state = report["state"].as_str().unwrap_or_default().to_owned();
    (state, report["counters"]["failed"].as_u64().unwrap_or(99))
}

#[actix_rt::test]
async fn a_stalled_upload_is_answered_408_on_every_path_and_never_counts_against_the_endpoint() {
    // The backend reads what it is given and waits for the rest, as a real one would.
    let backend = Scripted::start(vec![Act::ReadHead, Act::ReadBody, Act::Hold]).await;
    let limits = Limits {
        body_read_timeout: Duration::from_millis(300),
        // Before the body timeout existed, the endpoint's deadline fired and was counted.
        global_timeout: Duration::from_secs(2),
        ..Limits::default()
    };
    let axon = start(&backend, None, limits).await;
    // Streamed to the backend, read for a mediator, kept for a group's replay.
    for path in ["/up/pass", "/up/read", "/up/group", "/up/pass"] {
        let mut client = stalled_upload(&axon, path, 10).await;
        let head = client.read_head(WITHIN).await.expect("an answer");
        assert_eq!(status_of(&head), Some(408), "{path}: {head}");
        assert!(
            head.to_ascii_lowercase().contains("connection: close"),
            "{head}"
        );
        if path == "/up/read" {
            let (_, closed) = client.read_until_close(WITHIN).await;
            assert!(closed, "{path}: the stalled connection is closed");
        }
    }
    // A SOAP client gets a Client fault with the code; the connection is closed all the same.
    let mut client = RawClient::connect(axon.server.http_addr().port()).await;
    let head = "POST /services/Quotes HTTP/1.1\r\nHost: a\r\nContent-Type: text/xml\r\nSOAPAction: \"q\"\r\nContent-Length: 1000\r\n\r\n<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\">";
    assert!(client.send(head.as_bytes()).await);
    let (answer, closed) = client.read_until_close(WITHIN).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(closed, "{answer}");
    assert!(answer.contains("<axon:code>101502</axon:code>"), "{answer}");
    assert!(
        answer.contains("<axon:status>408</axon:status>"),
        "{answer}"
    );
    assert!(answer.contains("faultcode>soapenv:Client<"), "{answer}");
    assert_eq!(counters(&axon).await, ("ACTIVE".to_owned(), 0));
}

#[actix_rt::test]
async fn an_endpoint_deadline_passing_while_the_client_stalls_is_the_clients_408() {
    let backend = Scripted::start(vec![Act::ReadHead, Act::ReadBody, Act::Hold]).await;
    // The endpoint's own deadline (300 ms) fires long before the body timeout (30 s): the
    // backend was still waiting for the client's bytes, so the client is to blame.
    let axon = start(&backend, Some(300), Limits::default()).await;
    for _ in 0..3 {
        let mut client = stalled_upload(&axon, "/up/pass", 10).await;
        let head = client.read_head(WITHIN).await.expect("an answer");
        assert_eq!(status_of(&head), Some(408), "{head}");
    }
    assert_eq!(counters(&axon).await, ("ACTIVE".to_owned(), 0));
}

#[actix_rt::test]
async fn a_backend_that_reads_the_whole_body_and_never_answers_is_the_backends_504() {
    let backend = Scripted::start(vec![Act::ReadHead, Act::ReadBody, Act::Hold]).await;
    let axon = start(&backend, Some(300), Limits::default()).await;
    let mut client = stalled_upload(&axon, "/up/pass", 1000).await;
    let head = client.read_head(WITHIN).await.expect("an answer");
    assert_eq!(status_of(&head), Some(504), "{head}");
    assert_eq!(backend.bodies(), 1, "the backend had the whole body");
    let (state, failed) = counters(&axon).await;
    assert_eq!(failed, 1, "the backend's timeout counts");
    assert_ne!(state, "ACTIVE");
}

#[actix_rt::test]
async fn a_body_cut_short_is_the_clients_400_and_does_not_count() {
    let backend = Scripted::start(vec![Act::ReadHead, Act::ReadBody, Act::Hold]).await;
    let axon = start(&backend, None, Limits::default()).await;
    let mut client = stalled_upload(&axon, "/up/pass", 10).await;
    client.close_write().await;
    let (answer, closed) = client.read_until_close(WITHIN).await;
    assert!(closed, "the exchange ends");
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty() || status_of(&answer) == Some(400),
        "{answer}"
    );
    assert_eq!(counters(&axon).await, ("ACTIVE".to_owned(), 0));
}

#[actix_rt::test]
async fn an_oversized_request_head_is_431_and_trace_is_refused() {
    let backend = answering().await;
    let axon = start(&backend, None, Limits::default()).await;
    let big = "a".repeat(100 * 1024);
    let reply = axon
        .request("GET", "/up/pass", None, &[("x-big", &big)])
        .await;
    assert_eq!(reply.status, 431);
    let reply = axon
        .request("TRACE", "/up/pass", None, &[("cookie", "session=secret")])
        .await;
    assert_eq!(reply.status, 405);
    assert!(reply.header("allow").is_some_and(|a| !a.contains("TRACE")));
    assert_eq!(backend.heads(), 0, "neither reached the backend");
    let fits = "a".repeat(8 * 1024);
    let reply = axon
        .request("GET", "/up/pass", None, &[("x-big", &fits)])
        .await;
    assert_eq!(reply.status, 200, "a head within the limit passes");
}

#[actix_rt::test]
async fn connections_over_the_cap_wait_and_silent_ones_are_closed_after_the_header_timeout() {
    let backend = answering().await;
    let limits = Limits {
        max_connections: Some(2),
        header_read_timeout: Duration::from_secs(3),
        ..Limits::default()
    };
    let axon = start(&backend, None, limits).await;
    let port = axon.server.http_addr().port();
    // Two silent sockets hold both workers' single slot.
    let mut silent = vec![
        RawClient::connect(port).await,
        RawClient::connect(port).await,
    ];
    let mut waiting = RawClient::connect(port).await;
    assert!(
        waiting
            .send(b"GET /up/pass HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            .await
    );
    // Over the cap, it waits in the backlog: no answer while the silent sockets hold.
    assert!(
        waiting
            .read_head(Duration::from_millis(500))
            .await
            .is_none(),
        "served over the cap"
    );
    // It is answered once the header timeout has closed a silent socket (408).
    let head = waiting
        .read_head(WITHIN)
        .await
        .expect("served after the shed");
    assert_eq!(status_of(&head), Some(200), "{head}");
    for socket in &mut silent {
        let (bytes, closed) = socket.read_until_close(WITHIN).await;
        assert!(closed, "a silent connection is closed");
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            text.is_empty() || text.starts_with("HTTP/1.1 408"),
            "{text}"
        );
    }
}

#[actix_rt::test]
async fn an_exchange_still_running_when_the_drain_ends_is_answered_503() {
    let backend = Scripted::start(vec![Act::ReadHead, Act::Hold]).await;
    let limits = Limits {
        drain_timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let axon = start(&backend, None, limits).await;
    let mut client = RawClient::connect(axon.server.http_addr().port()).await;
    assert!(
        client
            .send(b"GET /up/pass HTTP/1.1\r\nHost: a\r\n\r\n")
            .await
    );
    eventually(WITHIN, "the request at the backend", || async {
        backend.heads() == 1
    })
    .await;
    let TestAxon { server, dir, .. } = axon;
    let stopping = actix_rt::spawn(server.stop(true));
    let head = client
        .read_head(WITHIN)
        .await
        .expect("an answer, not a cut");
    assert_eq!(status_of(&head), Some(503), "{head}");
    assert!(
        head.to_ascii_lowercase().contains("connection: close"),
        "{head}"
    );
    stopping.await.expect("the server stops");
    drop(dir);
}

#[actix_rt::test]
async fn error_answers_show_a_code_and_a_message_id_but_no_address_or_os_error() {
    let port = dead_port();
    let uri = format!("http://127.0.0.1:{port}/x");
    let axon = start_on(&uri, None, Limits::default()).await;
    for accept in ["application/json", "application/xml"] {
        let reply = axon
            .request("GET", "/up/pass", None, &[("accept", accept)])
            .await;
        let text = reply.text();
        let id = reply.header("x-axon-message-id").expect("a message id");
        assert!(id.starts_with("urn:uuid:"), "{id}");
        assert!(text.contains(&id), "{text}");
        // 502 (101503) the first time, 503 (303001) once the endpoint is suspended.
        let code = reply.header("x-axon-error-code").expect("a code");
        assert!(text.contains(&code), "{text}");
        for secret in [
            format!("127.0.0.1:{port}"),
            "refused".into(),
            "os error".into(),
        ] {
            assert!(!text.contains(&secret), "{secret} leaked: {text}");
        }
        // The log and the health API keep the cause, under the same id.
        if accept == "application/json" {
            assert_eq!((reply.status, code.as_str()), (502, "101503"));
            let report = axon.endpoint("Backend").await;
            let last = &report["last_error"];
            assert_eq!(last["message_id"], Value::String(id.clone()), "{report}");
            assert!(
                last["address"]
                    .as_str()
                    .unwrap_or("")
                    .contains(&port.to_string()),
                "{report}"
            );
        }
    }
    let ok = axon.get("/nowhere").await;
    assert!(
        ok.header("x-axon-message-id").is_some(),
        "every answer has an id"
    );
}
