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
    body.send_data(axon::grpc::frame(&message.encode_to_vec()), true)
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
    eventually(Duration::from_secs(10), "the unread streams fill their windows", || async {
        backend.produced.load(Ordering::SeqCst) >= 16 * 4
    })
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
