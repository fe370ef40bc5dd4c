//! Backends that misbehave after the response head: bodies delimited by the connection's
//! close, broken chunks, bodies cut short or stalled, contradictory framing. Each one must
//! reach the client either complete or visibly aborted, and count against the endpoint.

use std::time::Duration;

use serde_json::Value;

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

#[actix_rt::test]
async fn a_body_delimited_by_the_close_of_the_connection_is_forwarded_whole() {
    let (axon, _backend) = axon_over(
        vec![
            Act::write("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nthe whole "),
            Act::write("body, to the end"),
            Act::Close,
        ],
        "",
    )
    .await;
    let reply = axon.get("/a").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.text(), "the whole body, to the end");
    let report = axon.endpoint("E").await;
    assert_eq!(report["counters"]["failed"], 0, "{report}");
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
    let (axon, _backend) = axon_over(
        vec![
            Act::write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"),
            Act::write("zz\r\nnot a chunk\r\n"),
            Act::Hold,
        ],
        "",
    )
    .await;
    let (text, closed) = raw_get(&axon).await;
    assert_aborted(&text, closed);
    let report = failures_of_e(&axon, 1).await;
    assert_eq!(report["counters"]["succeeded"], 0, "{report}");
    // 101506 (protocol violation) + 5 (reading the response body).
    assert_eq!(report["last_error"]["code"], 101_511, "{report}");
}

#[actix_rt::test]
async fn a_body_cut_short_of_its_content_length_aborts_the_client_and_counts() {
    let (axon, _backend) = axon_over(
        vec![
            Act::write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly twenty bytes..."),
            Act::Close,
        ],
        "",
    )
    .await;
    let (text, closed) = raw_get(&axon).await;
    assert_aborted(&text, closed);
    let report = failures_of_e(&axon, 1).await;
    // 101505 (closed) + 5 (reading the response body).
    assert_eq!(report["last_error"]["code"], 101_510, "{report}");
}

#[actix_rt::test]
async fn a_stalled_body_is_timed_out_by_the_endpoint_timeout_and_the_client_aborted() {
    let (axon, _backend) = axon_over(
        vec![
            Act::write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"),
            Act::Hold,
        ],
        "<timeout><duration>300</duration></timeout>",
    )
    .await;
    let (text, closed) = raw_get(&axon).await;
    assert_eq!(
        status_of(&text),
        Some(200),
        "the head went out before the stall: {text:?}"
    );
    assert!(text.ends_with("\r\n5\r\nhello\r\n"), "{text:?}");
    assert_aborted(&text, closed);
    let report = failures_of_e(&axon, 1).await;
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
