//! gRPC calls to backends under abuse: clients that never read, idle streams that fill a
//! backend's stream limit, a backend that refuses streams, and deadlines that cut a call
//! while its client still streams. A good client's calls must keep succeeding, no
//! backend may be suspended for a client's behaviour, and a call Axon ends must end at
//! the backend too.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use prost::Message as _;
use tokio_stream::StreamExt as _;
use tonic::Code;
use tonic::transport::Channel;

use crate::support::grpc::pb::echo_client::EchoClient;
use crate::support::grpc::pb::{EchoReply, EchoRequest};
use crate::support::grpc::{GRPC_HEADERS, GrpcBackend, request};
use crate::support::{TestAxon, eventually};

fn echo_api() -> String {
    r#"<api name="EchoAPI" context="/axon.test.Echo" transports="grpc">
  <resource url-mapping="/*">
    <inSequence><send><endpoint key="Echo"/></send></inSequence>
    <outSequence><send/></outSequence>
  </resource>
</api>"#
        .to_owned()
}

async fn axon_for(uri: &str) -> TestAxon {
    let endpoint = format!(r#"<endpoint name="Echo"><grpc uri="{uri}"/></endpoint>"#);
    TestAxon::start(&[("api.xml", &echo_api()), ("ep.xml", &endpoint)]).await
}

async fn client(axon: &TestAxon) -> EchoClient<Channel> {
    EchoClient::connect(axon.grpc_url())
        .await
        .expect("connect to Axon's gRPC port")
}

/// A raw HTTP/2 client on its own connection to Axon's gRPC port that advertises a zero
/// receive window: Axon can send it headers but never a byte of data.
async fn deaf_connection(axon: &TestAxon) -> h2::client::SendRequest<Bytes> {
    let addr = axon
        .grpc_url()
        .trim_start_matches("http://")
        .parse::<std::net::SocketAddr>()
        .expect("gRPC address");
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (send, conn) = h2::client::Builder::new()
        .initial_window_size(0)
        .handshake::<_, Bytes>(tcp)
        .await
        .expect("HTTP/2 handshake");
    actix_rt::spawn(async move {
        // Ends when the test drops its side.
        conn.await.ok();
    });
    send
}

/// Opens a server-streaming call of `count` replies of 64 KiB on `send` and never reads it.
async fn unread_stream(
    send: &mut h2::client::SendRequest<Bytes>,
    count: u32,
) -> (h2::client::ResponseFuture, h2::SendStream<Bytes>) {
    let message = EchoRequest {
        message: "never read".into(),
        count,
        padding: vec![7u8; 64 * 1024],
        ..EchoRequest::default()
    };
    let mut req = http::Request::post("http://axon/axon.test.Echo/ServerStream");
    for (k, v) in GRPC_HEADERS {
        req = req.header(k, v);
    }
    let req = req.body(()).expect("request");
    let mut ready = send.clone().ready().await.expect("stream slot");
    let (response, mut body) = ready.send_request(req, false).expect("open stream");
    body.send_data(axon::base::grpc::frame(&message.encode_to_vec()), true)
        .expect("send the request");
    (response, body)
}

#[actix_rt::test]
async fn clients_that_never_read_do_not_stall_other_clients_calls() {
    let backend = GrpcBackend::start("b1").await;
    let axon = axon_for(&backend.uri()).await;
    // Four connections with four unread 4 MiB streams each: before each backend stream
    // had its own window, three of them held a worker's whole connection window.
    let (mut held, mut connections) = (Vec::new(), Vec::new());
    for _ in 0..4 {
        let mut send = deaf_connection(&axon).await;
        for _ in 0..4 {
            held.push(unread_stream(&mut send, 64).await);
        }
        connections.push(send);
    }
    eventually(
        Duration::from_secs(10),
        "the unread streams fill their windows",
        || async { backend.produced.load(Ordering::SeqCst) >= 16 * 4 },
    )
    .await;
    // Ten fresh clients each stream 1 MiB back, within a 5 s deadline.
    let mut good = Vec::new();
    for i in 0..10 {
        let mut c = client(&axon).await;
        good.push(actix_rt::spawn(async move {
            let mut req = tonic::Request::new(EchoRequest {
                message: format!("good {i}"),
                count: 16,
                padding: vec![1u8; 64 * 1024],
                ..EchoRequest::default()
            });
            req.set_timeout(Duration::from_secs(5));
            let mut stream = c.server_stream(req).await?.into_inner();
            let mut replies = 0;
            while let Some(reply) = stream.next().await {
                reply?;
                replies += 1;
            }
            Ok::<_, tonic::Status>(replies)
        }));
    }
    for call in good {
        let replies = call.await.expect("the call's task");
        assert_eq!(
            replies.map_err(|s| (s.code(), s.message().to_owned())),
            Ok(16),
            "a good client's call completes while others never read"
        );
    }
    drop((held, connections));
}

/// Opens a bidi call on `c` that never sends a message (its request stream stays open
/// as long as the returned sender lives).
async fn idle_bidi(
    mut c: EchoClient<Channel>,
) -> Result<
    (
        tokio::sync::mpsc::Sender<EchoRequest>,
        tonic::Streaming<EchoReply>,
    ),
    tonic::Status,
> {
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
    let replies = c.bidi(stream).await?.into_inner();
    Ok((tx, replies))
}

/// Ten fresh clients make three unary calls each within a 3 s deadline: every one succeeds.
async fn good_client_succeeds(axon: &TestAxon, what: &str) {
    for i in 0..10 {
        let mut c = client(axon).await;
        for j in 0..3 {
            let mut req = tonic::Request::new(request(&format!("good {i}.{j}")));
            req.set_timeout(Duration::from_secs(3));
            let reply = c.unary(req).await.map(|r| r.into_inner().message);
            assert_eq!(
                reply.map_err(|s| (s.code(), s.message().to_owned())),
                Ok(format!("good {i}.{j}")),
                "{what}"
            );
        }
    }
}

#[actix_rt::test]
async fn idle_streams_at_the_backends_stream_limit_neither_block_nor_suspend_it() {
    // The backend takes 10 concurrent calls per connection; two clients hold 25 idle
    // bidi calls each. Before, each worker had one connection to the backend: calls past
    // its limit queued behind the idle ones until their deadline.
    let backend = GrpcBackend::start_limited("b1", 10).await;
    let axon = axon_for(&backend.uri()).await;
    let mut idle = Vec::new();
    for _ in 0..2 {
        let c = client(&axon).await;
        for _ in 0..25 {
            idle.push(actix_rt::spawn(idle_bidi(c.clone())));
        }
    }
    eventually(
        Duration::from_secs(10),
        "every idle call reaches the backend",
        || async { backend.calls() >= 50 },
    )
    .await;
    good_client_succeeds(&axon, "a good client's call succeeds beside idle streams").await;
    assert_eq!(axon.state("Echo").await, "ACTIVE");
    for call in idle {
        let opened = call.await.expect("task");
        assert!(
            opened.is_ok(),
            "an idle call was opened: {:?}",
            opened.err()
        );
    }
}

/// A gRPC backend on raw HTTP/2 that resets the streams `refuse` picks (by arrival number)
/// with REFUSED_STREAM, as a server does at a limit it did not announce, and answers the
/// others' Unary calls. Returns its port and the streams it saw.
async fn refusing_backend(refuse: fn(usize) -> bool) -> (u16, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let streams = Arc::new(AtomicUsize::new(0));
    let seen = streams.clone();
    actix_rt::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let seen = seen.clone();
            actix_rt::spawn(async move {
                let Ok(mut conn) = h2::server::handshake(tcp).await else {
                    return;
                };
                while let Some(Ok((req, mut respond))) = conn.accept().await {
                    if refuse(seen.fetch_add(1, Ordering::SeqCst)) {
                        respond.send_reset(h2::Reason::REFUSED_STREAM);
                    } else {
                        actix_rt::spawn(answer_unary(req, respond));
                    }
                }
            });
        }
    });
    (port, streams)
}

async fn answer_unary(
    req: http::Request<h2::RecvStream>,
    mut respond: h2::server::SendResponse<Bytes>,
) {
    let mut body = req.into_body();
    let mut got = Vec::new();
    while let Some(Ok(chunk)) = body.data().await {
        body.flow_control().release_capacity(chunk.len()).ok();
        got.extend_from_slice(&chunk);
    }
    let asked = axon::base::grpc::first_message(&got)
        .and_then(|m| EchoRequest::decode(m).ok())
        .unwrap_or_default();
    let reply = EchoReply {
        message: asked.message,
        server: "raw".into(),
        ..EchoReply::default()
    };
    let head = http::Response::builder()
        .header("content-type", "application/grpc")
        .body(())
        .expect("response");
    let Ok(mut send) = respond.send_response(head, false) else {
        return;
    };
    send.send_data(axon::base::grpc::frame(&reply.encode_to_vec()), false)
        .ok();
    let mut trailers = http::HeaderMap::new();
    trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
    send.send_trailers(trailers).ok();
}

#[actix_rt::test]
async fn a_refused_stream_is_sent_again_and_never_counts_against_the_backend() {
    // Every other stream is refused: each call is refused once, then answered.
    let (port, streams) = refusing_backend(|n| n % 2 == 0).await;
    let axon = axon_for(&format!("http://127.0.0.1:{port}")).await;
    good_client_succeeds(&axon, "a refused call is sent again").await;
    assert_eq!(
        streams.load(Ordering::SeqCst),
        60,
        "each call was refused once"
    );
    assert_eq!(axon.state("Echo").await, "ACTIVE");
}

#[actix_rt::test]
async fn a_backend_that_refuses_every_stream_is_busy_not_suspended() {
    let (port, _) = refusing_backend(|_| true).await;
    let axon = axon_for(&format!("http://127.0.0.1:{port}")).await;
    let mut c = client(&axon).await;
    for _ in 0..5 {
        let status = c.unary(request("refused")).await.expect_err("refused");
        assert_eq!(status.code(), Code::Unavailable, "{}", status.message());
    }
    assert_eq!(
        axon.state("Echo").await,
        "ACTIVE",
        "a backend at its stream limit is not failing"
    );
}

#[actix_rt::test]
async fn a_deadline_that_cuts_a_streaming_call_cancels_the_backend_stream() {
    // The backend answered (headers and a first reply) and the client keeps its request
    // stream open: when the deadline passes, the client gets DEADLINE_EXCEEDED and the
    // backend's stream is reset at once, not when the client finally closes.
    let backend = GrpcBackend::start("b1").await;
    let axon = axon_for(&backend.uri()).await;
    let (tx, mut replies) = watched_bidi(&axon, Some(Duration::from_millis(800))).await;
    let first = replies
        .next()
        .await
        .expect("a reply")
        .expect("a good reply");
    assert_eq!(first.message, "echo first");
    let end = replies.next().await.expect("a status");
    assert_eq!(
        end.map(|r| r.message).map_err(|s| s.code()),
        Err(Code::DeadlineExceeded)
    );
    backend_call_cancelled(&backend).await;
    // The client never closed its request stream.
    drop(tx);
}

/// A bidi call through `axon` that sent one message and keeps its request stream open (as
/// long as the returned sender lives); the backend records when it is cancelled.
async fn watched_bidi(
    axon: &TestAxon,
    timeout: Option<Duration>,
) -> (
    tokio::sync::mpsc::Sender<EchoRequest>,
    tonic::Streaming<EchoReply>,
) {
    let mut c = client(axon).await;
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tx.send(request("first")).await.expect("queued");
    let mut req = tonic::Request::new(tokio_stream::wrappers::ReceiverStream::new(rx));
    if let Some(timeout) = timeout {
        req.set_timeout(timeout);
    }
    req.metadata_mut().insert(
        "x-watch-cancel",
        tonic::metadata::MetadataValue::from_static("1"),
    );
    let replies = c.bidi(req).await.expect("the call opens").into_inner();
    (tx, replies)
}

/// Waits (3 s at most) for the backend to see its one call cancelled.
async fn backend_call_cancelled(backend: &GrpcBackend) {
    eventually(
        Duration::from_secs(3),
        "the backend stream is cancelled",
        || async { backend.cancelled.load(Ordering::SeqCst) == 1 },
    )
    .await;
}

#[actix_rt::test]
async fn a_backend_answer_that_mediation_drops_cancels_the_backend_stream() {
    // The out-sequence drops the backend's answer: the client gets OK at once, and the
    // backend call, whose request stream the client keeps open, is cancelled with it.
    let backend = GrpcBackend::start("b1").await;
    let api = echo_api().replace(
        "<outSequence><send/></outSequence>",
        "<outSequence><drop/></outSequence>",
    );
    let endpoint = format!(
        r#"<endpoint name="Echo"><grpc uri="{}"/></endpoint>"#,
        backend.uri()
    );
    let axon = TestAxon::start(&[("api.xml", &api), ("ep.xml", &endpoint)]).await;
    let (tx, mut replies) = watched_bidi(&axon, None).await;
    let end = replies.next().await.transpose();
    assert_eq!(
        end.map_err(|s| s.code()).map(|r| r.is_none()),
        Ok(true),
        "OK, no message"
    );
    backend_call_cancelled(&backend).await;
    drop(tx);
}

#[actix_rt::test]
async fn a_deadline_cancels_the_backend_stream_even_when_the_client_reads_nothing() {
    // A bidi call from a client that advertises a zero window: Axon cannot deliver the
    // backend's reply, so nothing polls the response side. The deadline still ends the
    // backend call.
    let backend = GrpcBackend::start("b1").await;
    let axon = axon_for(&backend.uri()).await;
    let send = deaf_connection(&axon).await;
    let mut req = http::Request::post("http://axon/axon.test.Echo/Bidi");
    for (k, v) in GRPC_HEADERS
        .into_iter()
        .chain([("grpc-timeout", "500m"), ("x-watch-cancel", "1")])
    {
        req = req.header(k, v);
    }
    let mut ready = send.clone().ready().await.expect("stream slot");
    let (response, mut body) = ready
        .send_request(req.body(()).expect("request"), false)
        .expect("open stream");
    body.send_data(
        axon::base::grpc::frame(&request("hello").encode_to_vec()),
        false,
    )
    .expect("send a message, keep the stream open");
    backend_call_cancelled(&backend).await;
    drop((response, body, send));
}
