//! Backends that misbehave after the response head: bodies delimited by the connection's
//! close, broken chunks, bodies cut short or stalled, contradictory framing. Each one must
//! reach the client either complete or visibly aborted, and count against the endpoint.

use std::time::Duration;

use axon::base::limits::Limits;
use serde_json::Value;

use crate::support::backend::Backend;
use crate::support::scripted::{Act, RawClient, Scripted, status_of};
use crate::support::{TestAxon, eventually};
use crate::suspension::{api_to, endpoint};

/// How long a raw client waits for Axon to finish or abort a response.
const WITHIN: Duration = Duration::from_secs(5);

/// Axon serving `/a` through the leaf `E` (with `qos`) on a backend that reads the request
/// and then runs `answer`.
async fn axon_over(answer: Vec<Act>, qos: &str) -> (TestAxon, Scripted) {
    let mut script = vec![Act::ReadHead];
    script.extend(answer);
    let backend = Scripted::start(script).await;
    let axon = TestAxon::start(&[
        ("api.xml", &api_to("E")),
        ("e.xml", &endpoint("E", &backend.url("/"), qos)),
    ])
    .await;
    (axon, backend)
}

/// A raw `GET /a` on Axon: what arrived, and whether Axon closed the connection.
async fn raw_get(axon: &TestAxon) -> (String, bool) {
    let mut client = RawClient::connect(axon.server.http_addr().port()).await;
    assert!(client.send(b"GET /a HTTP/1.1\r\nHost: axon\r\n\r\n").await);
    let (bytes, closed) = client.read_until_close(WITHIN).await;
    (String::from_utf8_lossy(&bytes).into_owned(), closed)
}

/// Checks that a raw client's response was aborted: Axon closed the connection before the
/// response could look complete (no status line at all, fewer bytes than its
/// `Content-Length`, or a chunked body without its last chunk).
fn assert_aborted(text: &str, closed: bool) {
    assert!(closed, "the client's connection is closed: {text:?}");
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return;
    };
    let head = head.to_ascii_lowercase();
    if let Some(length) = head.split("content-length: ").nth(1) {
        let length: usize = length.lines().next().unwrap_or("").parse().expect("length");
        assert!(body.len() < length, "short of Content-Length: {text:?}");
    } else {
        assert!(head.contains("transfer-encoding: chunked"), "{text:?}");
        assert!(!body.ends_with("0\r\n\r\n"), "no last chunk: {text:?}");
    }
}

/// Waits until the leaf `E` has counted `failed` failures, and returns its report.
async fn failures_of_e(axon: &TestAxon, failed: u64) -> Value {
    eventually(
        WITHIN,
        "the failure is reported to the endpoint",
        || async { axon.endpoint("E").await["counters"]["failed"] == failed },
    )
    .await;
    axon.endpoint("E").await
}

/// Axon over a backend that reads the request and runs `answer`; a raw `GET /a` must come
/// back aborted and the leaf `E` count one failure. Returns what the client got, and the
/// leaf's report.
async fn aborted_and_counted(answer: Vec<Act>, qos: &str) -> (String, Value) {
    let (axon, _backend) = axon_over(answer, qos).await;
    let (text, closed) = raw_get(&axon).await;
    assert_aborted(&text, closed);
    (text, failures_of_e(&axon, 1).await)
}

#[actix_rt::test]
async fn a_body_delimited_by_the_close_of_the_connection_is_forwarded_whole() {
    let head = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n";
    // The head with the body's start in one read (the shim looks at it in awc's buffer), then
    // the head a byte at a time (held back until complete, then fixed).
    let whole = vec![Act::write(&format!("{head}the whole "))];
    let dripped = vec![
        Act::Drip(head.as_bytes().to_vec(), Duration::from_millis(2)),
        Act::write("the whole "),
    ];
    for start in [whole, dripped] {
        let mut script = start;
        script.extend([Act::write("body, to the end"), Act::Close]);
        let (axon, _backend) = axon_over(script, "").await;
        let reply = axon.get("/a").await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.text(), "the whole body, to the end");
        let report = axon.endpoint("E").await;
        assert_eq!(report["counters"]["failed"], 0, "{report}");
    }
}

#[actix_rt::test]
async fn a_close_delimited_body_after_a_framed_one_on_the_same_connection_is_read_whole() {
    let (axon, backend) = axon_over(
        vec![
            Act::write("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst"),
            Act::ReadHead,
            Act::write("HTTP/1.1 201 Created\r\n\r\nsecond, up to the close"),
            Act::Close,
        ],
        "",
    )
    .await;
    let first = axon.get("/a").await;
    assert_eq!((first.status, first.text().as_str()), (200, "first"));
    let second = axon.get("/a").await;
    assert_eq!(second.status, 201);
    assert_eq!(second.text(), "second, up to the close");
    assert_eq!(
        backend.connections(),
        1,
        "the keep-alive connection was reused"
    );
}

#[actix_rt::test]
async fn a_malformed_chunk_aborts_the_client_and_counts_against_the_endpoint() {
    let (_, report) = aborted_and_counted(
        vec![
            Act::write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"),
            Act::write("zz\r\nnot a chunk\r\n"),
            Act::Hold,
        ],
        "",
    )
    .await;
    assert_eq!(report["counters"]["succeeded"], 0, "{report}");
    // 101506 (protocol violation) + 5 (reading the response body).
    assert_eq!(report["last_error"]["code"], 101_511, "{report}");
}

#[actix_rt::test]
async fn a_body_cut_short_of_its_content_length_aborts_the_client_and_counts() {
    let (_, report) = aborted_and_counted(
        vec![
            Act::write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly twenty bytes..."),
            Act::Close,
        ],
        "",
    )
    .await;
    // 101505 (closed) + 5 (reading the response body).
    assert_eq!(report["last_error"]["code"], 101_510, "{report}");
}

#[actix_rt::test]
async fn a_stalled_body_is_timed_out_by_the_endpoint_timeout_and_the_client_aborted() {
    let (text, report) = aborted_and_counted(
        vec![
            Act::write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"),
            Act::Hold,
        ],
        "<timeout><duration>300</duration></timeout>",
    )
    .await;
    assert_eq!(
        status_of(&text),
        Some(200),
        "the head went out before the stall: {text:?}"
    );
    assert!(text.ends_with("\r\n5\r\nhello\r\n"), "{text:?}");
    assert_eq!(report["last_error"]["code"], 101_504, "{report}");
    assert_ne!(report["state"], "ACTIVE", "{report}");
}

#[actix_rt::test]
async fn a_response_with_content_length_and_transfer_encoding_is_a_protocol_violation() {
    let (axon, _backend) = axon_over(
        vec![
            Act::write(
                "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
            ),
            Act::write("b\r\nhello world\r\n0\r\n\r\n"),
            Act::Hold,
        ],
        "",
    )
    .await;
    let reply = axon.get("/a").await;
    assert_eq!(reply.status, 502, "{}", reply.text());
    // 101506 (protocol violation) + 4 (reading the response head).
    assert_eq!(reply.json()["error"]["code"], 101_510, "{}", reply.text());
    failures_of_e(&axon, 1).await;
}

// === what Axon forwards ===

/// Axon serving `/a` through the leaf `E` on a recording backend.
async fn axon_over_recorder() -> (TestAxon, Backend) {
    let backend = Backend::named("b").await;
    let axon = TestAxon::start(&[
        ("api.xml", &api_to("E")),
        ("e.xml", &endpoint("E", &backend.url("/base/"), "")),
    ])
    .await;
    (axon, backend)
}

#[actix_rt::test]
async fn dot_segments_are_refused_before_they_reach_the_backend() {
    let (axon, backend) = axon_over_recorder().await;
    for path in [
        "/a/x/../../admin",
        "/a/%2e%2e/admin",
        "/a/.%2E/admin",
        "/a/./x",
    ] {
        let mut client = RawClient::connect(axon.server.http_addr().port()).await;
        let request = format!("GET {path} HTTP/1.1\r\nHost: axon\r\n\r\n");
        assert!(client.send(request.as_bytes()).await);
        let head = client.read_head(WITHIN).await.unwrap_or_default();
        assert_eq!(status_of(&head), Some(400), "{path}: {head}");
    }
    assert_eq!(backend.hits(), 0);
    let report = axon.endpoint("E").await;
    assert_eq!(
        report["counters"]["failed"], 0,
        "the client's fault: {report}"
    );
    // Dots inside a segment are ordinary characters.
    let reply = axon.get("/a/v1.2/..x/file.tar.gz").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(backend.last().uri, "/base/v1.2/..x/file.tar.gz");
}

#[actix_rt::test]
async fn headers_named_by_connection_are_not_forwarded_either_way() {
    let (axon, backend) = axon_over_recorder().await;
    // A raw client: awc writes its own `Connection` header.
    let mut client = RawClient::connect(axon.server.http_addr().port()).await;
    let request = "GET /a HTTP/1.1\r\nHost: axon\r\nConnection: keep-alive, X-Secret\r\nX-Secret: 1\r\nX-Kept: 1\r\n\r\n";
    assert!(client.send(request.as_bytes()).await);
    let head = client.read_head(WITHIN).await.unwrap_or_default();
    assert_eq!(status_of(&head), Some(200), "{head}");
    let seen = backend.last();
    assert_eq!(seen.header("x-kept"), Some("1"));
    assert_eq!(seen.header("x-secret"), None, "{:?}", seen.headers);

    let (axon, _scripted) = axon_over(
        vec![
            Act::write("HTTP/1.1 200 OK\r\nConnection: X-Hop\r\nX-Hop: 1\r\nX-End: 2\r\nContent-Length: 2\r\n\r\nok"),
            Act::Hold,
        ],
        "",
    )
    .await;
    let reply = axon.get("/a").await;
    assert_eq!(reply.header("x-end").as_deref(), Some("2"));
    assert_eq!(reply.header("x-hop"), None);
}

#[actix_rt::test]
async fn the_client_address_is_appended_to_x_forwarded_for_and_forwarded() {
    let (axon, backend) = axon_over_recorder().await;
    let reply = axon
        .request(
            "GET",
            "/a",
            None,
            &[
                ("x-forwarded-for", "203.0.113.7"),
                ("forwarded", "for=203.0.113.7"),
                ("x-forwarded-proto", "https"),
            ],
        )
        .await;
    assert_eq!(reply.status, 200);
    let seen = backend.last();
    assert_eq!(
        seen.header("x-forwarded-for"),
        Some("203.0.113.7, 127.0.0.1")
    );
    let host = axon.server.http_addr().to_string();
    // The scheme is the one the client used, as the proxy in front of Axon said.
    let element = format!("for=127.0.0.1;proto=https;host=\"{host}\"");
    assert_eq!(
        seen.header("forwarded"),
        Some(format!("for=203.0.113.7, {element}").as_str())
    );
    assert_eq!(seen.header("x-forwarded-proto"), Some("https"));
    assert_eq!(seen.header("x-forwarded-host"), Some(host.as_str()));
}

#[actix_rt::test]
async fn the_backend_read_timeout_covers_a_stalled_body_of_an_endpoint_without_timeout() {
    let backend = Scripted::start(vec![
        Act::ReadHead,
        Act::write("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf"),
        Act::Hold,
    ])
    .await;
    let limits = Limits {
        backend_read_timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let axon = TestAxon::start_with(
        &[
            ("api.xml", &api_to("E")),
            ("e.xml", &endpoint("E", &backend.url("/"), "")),
        ],
        limits,
    )
    .await;
    let (text, closed) = raw_get(&axon).await;
    assert_aborted(&text, closed);
    let report = failures_of_e(&axon, 1).await;
    assert_eq!(report["last_error"]["code"], 101_504, "{report}");
}

#[actix_rt::test]
async fn a_chunked_body_closed_between_chunks_aborts_the_client_and_counts() {
    let (text, report) = aborted_and_counted(
        vec![
            Act::write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"),
            Act::Close,
        ],
        "",
    )
    .await;
    assert!(!text.contains("0\r\n\r\n"), "{text:?}");
    // 101505 (closed) + 5 (reading the response body).
    assert_eq!(report["last_error"]["code"], 101_510, "{report}");
}
