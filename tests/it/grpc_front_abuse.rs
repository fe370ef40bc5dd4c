//! The gRPC listener against hostile clients: silent and idle sockets, a full port, control
//! frame floods, too many calls. Each test checks that the abuser is cut off and that a
//! well-behaved tonic client, `/health/ready` and the HTTP front keep answering.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axon::base::limits::Limits;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tonic::Code;
use tonic::transport::Channel;

use crate::grpc::{echo_api, grpc_endpoint};
use crate::support::grpc::pb::echo_client::EchoClient;
use crate::support::grpc::pb::{EchoReply, EchoRequest};
use crate::support::grpc::{GrpcBackend, LocalhostTls, request};
use crate::support::scripted::RawClient;
use crate::support::{TestAxon, eventually};

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const SETTINGS: u8 = 0x4;
const PING: u8 = 0x6;
const GOAWAY: u8 = 0x7;
const NO_ERROR: u32 = 0x0;
const ENHANCE_YOUR_CALM: u32 = 0xb;
const COMPRESSION_ERROR: u32 = 0x9;
const HEADERS: u8 = 0x1;
/// The END_HEADERS flag of HEADERS.
const END_HEADERS: u8 = 0x4;
/// How long a test waits for the server to close a connection it should close.
const CLOSE_WITHIN: Duration = Duration::from_secs(10);

async fn axon_with(limits: Limits) -> (GrpcBackend, TestAxon) {
    let backend = GrpcBackend::start("good").await;
    let axon = TestAxon::start_with(
        &[
            ("api.xml", &echo_api("Echo")),
            ("ep.xml", &grpc_endpoint("Echo", &backend.uri(), "")),
        ],
        limits,
    )
    .await;
    (backend, axon)
}

fn grpc_port(axon: &TestAxon) -> u16 {
    axon.server.grpc_addr().expect("the gRPC front runs").port()
}

async fn client(axon: &TestAxon) -> EchoClient<Channel> {
    EchoClient::connect(axon.grpc_url())
        .await
        .expect("connect to Axon's gRPC port")
}

/// The good client's check: a unary call answered by the backend.
async fn good_call(c: &mut EchoClient<Channel>) {
    let reply = c.unary(request("good")).await.expect("the good call");
    assert_eq!(reply.into_inner().server, "good");
}

/// `/health/ready` and the HTTP front answer.
async fn other_ports_answer(axon: &TestAxon) {
    assert_eq!(axon.admin("/health/ready").await.0, 200);
    assert_eq!(axon.get("/no-such-api").await.status, 404);
}

/// One HTTP/2 frame.
fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut f = (payload.len() as u32).to_be_bytes()[1..].to_vec();
    f.extend_from_slice(&[kind, flags]);
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// The error codes of the GOAWAY frames in what a server sent.
fn goaway_codes(mut bytes: &[u8]) -> Vec<u32> {
    let mut codes = Vec::new();
    while bytes.len() >= 9 {
        let len = u32::from_be_bytes([0, bytes[0], bytes[1], bytes[2]]) as usize;
        let Some(payload) = bytes.get(9..9 + len) else {
            break;
        };
        if bytes[3] == GOAWAY && len >= 8 {
            codes.push(u32::from_be_bytes(
                payload[4..8].try_into().expect("4 bytes"),
            ));
        }
        bytes = &bytes[9 + len..];
    }
    codes
}

/// Opens `count` sockets to `port` that send `bytes` and then nothing; each task ends when
/// the server closes its socket (counted in the returned counter) or after a minute.
async fn silent_sockets(
    port: u16,
    count: usize,
    bytes: &'static [u8],
) -> (Arc<AtomicUsize>, Vec<actix_rt::task::JoinHandle<()>>) {
    let closed = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..count {
        let mut raw = RawClient::connect(port).await;
        raw.send(bytes).await;
        let closed = closed.clone();
        tasks.push(actix_rt::spawn(async move {
            if raw.read_until_close(Duration::from_secs(60)).await.1 {
                closed.fetch_add(1, Ordering::SeqCst);
            }
        }));
    }
    (closed, tasks)
}

#[actix_rt::test]
async fn silent_sockets_are_closed_after_the_preface_timeout_while_good_calls_go_on() {
    let limits = Limits {
        grpc_preface_timeout: Duration::from_millis(300),
        grpc_max_connections: Some(100),
        ..Limits::default()
    };
    let (_backend, axon) = axon_with(limits).await;
    let port = grpc_port(&axon);
    let mut good = client(&axon).await;
    // Silent, half a preface (slowloris), and the preface without its SETTINGS frame.
    let (silent, _a) = silent_sockets(port, 30, b"").await;
    let (half, _b) = silent_sockets(port, 5, &PREFACE[..10]).await;
    let (bare, _c) = silent_sockets(port, 5, PREFACE).await;
    good_call(&mut good).await;
    other_ports_answer(&axon).await;
    eventually(CLOSE_WITHIN, "every silent socket closed", || {
        let closed = [&silent, &half, &bare].map(|c| c.load(Ordering::SeqCst));
        async move { closed == [30, 5, 5] }
    })
    .await;
    good_call(&mut good).await;
    good_call(&mut client(&axon).await).await;
}

#[actix_rt::test]
async fn over_the_connection_cap_new_connections_are_shed_while_open_ones_and_health_answer() {
    // The preface timeout is far away: only the cap can close a socket here.
    let limits = Limits {
        grpc_preface_timeout: Duration::from_secs(120),
        grpc_max_connections: Some(12),
        ..Limits::default()
    };
    let (_backend, axon) = axon_with(limits).await;
    let port = grpc_port(&axon);
    let mut good = client(&axon).await;
    good_call(&mut good).await;
    // 1 good connection + 16 silent ones on a port of 12: 5 are closed at once.
    let (closed, silent) = silent_sockets(port, 16, b"").await;
    eventually(CLOSE_WITHIN, "the sockets over the cap closed", || {
        let closed = closed.load(Ordering::SeqCst);
        async move { closed >= 5 }
    })
    .await;
    good_call(&mut good).await;
    other_ports_answer(&axon).await;
    assert_eq!(
        closed.load(Ordering::SeqCst),
        5,
        "the 11 within the cap stay"
    );
    // A new channel is shed too, until the silent sockets go.
    let shut_out = match EchoClient::connect(axon.grpc_url()).await {
        Err(_) => true,
        Ok(mut c) => c.unary(request("x")).await.is_err(),
    };
    assert!(shut_out, "a connection over the cap is not served");
    for task in silent {
        task.abort();
    }
    eventually(CLOSE_WITHIN, "a new channel served again", || {
        let url = axon.grpc_url();
        async move {
            match EchoClient::connect(url).await {
                Ok(mut c) => c.unary(request("again")).await.is_ok(),
                Err(_) => false,
            }
        }
    })
    .await;
}

/// A bidi call held open: the sender of its requests and its replies so far.
async fn open_bidi(
    c: &mut EchoClient<Channel>,
) -> (
    tokio::sync::mpsc::Sender<EchoRequest>,
    tonic::Streaming<EchoReply>,
) {
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tx.send(request("first")).await.expect("send");
    let mut replies = c
        .bidi(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .expect("bidi call")
        .into_inner();
    let first = replies.message().await.expect("a reply").expect("a reply");
    assert_eq!(first.message, "echo first");
    (tx, replies)
}

#[actix_rt::test]
async fn an_idle_connection_gets_goaway_and_is_closed_but_one_with_an_open_call_stays() {
    let limits = Limits {
        grpc_idle_timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let (_backend, axon) = axon_with(limits).await;
    let mut busy = client(&axon).await;
    let (tx, mut replies) = open_bidi(&mut busy).await;
    let mut reconnecting = client(&axon).await;
    good_call(&mut reconnecting).await;
    // A connection that says its preface and then nothing.
    let mut idle = RawClient::connect(grpc_port(&axon)).await;
    let mut hello = PREFACE.to_vec();
    hello.extend(frame(SETTINGS, 0, 0, &[]));
    idle.send(&hello).await;
    let (got, closed) = idle.read_until_close(CLOSE_WITHIN).await;
    assert!(closed, "the idle connection was closed");
    assert_eq!(
        goaway_codes(&got).last(),
        Some(&NO_ERROR),
        "a graceful GOAWAY"
    );
    // The call open all along was not cut, and an idled channel reconnects by itself.
    tx.send(request("later")).await.expect("send");
    let later = replies.message().await.expect("a reply").expect("a reply");
    assert_eq!(later.message, "echo later");
    good_call(&mut reconnecting).await;
}

#[actix_rt::test]
async fn a_settings_or_ping_flood_gets_goaway_enhance_your_calm_while_good_calls_go_on() {
    let limits = Limits {
        grpc_max_control_frames_per_sec: 20,
        ..Limits::default()
    };
    let (_backend, axon) = axon_with(limits).await;
    let mut good = client(&axon).await;
    good_call(&mut good).await;
    for (kind, payload) in [
        // SETTINGS_INITIAL_WINDOW_SIZE changed back and forth, the costly kind.
        (SETTINGS, [0u8, 4, 0, 1, 0, 0].as_slice()),
        (PING, &[1u8; 8]),
    ] {
        let mut flood = PREFACE.to_vec();
        flood.extend(frame(SETTINGS, 0, 0, &[]));
        for i in 0..200u8 {
            let mut payload = payload.to_vec();
            payload[5] = i % 2;
            flood.extend(frame(kind, 0, 0, &payload));
        }
        let mut raw = RawClient::connect(grpc_port(&axon)).await;
        raw.send(&flood).await;
        let (got, closed) = raw.read_until_close(CLOSE_WITHIN).await;
        assert!(closed, "the flooding connection ({kind}) was closed");
        assert_eq!(goaway_codes(&got), [ENHANCE_YOUR_CALM], "frame type {kind}");
        good_call(&mut good).await;
    }
    other_ports_answer(&axon).await;
}

#[actix_rt::test]
async fn a_header_block_growing_the_hpack_table_past_4096_gets_goaway_compression_error() {
    let (_backend, axon) = axon_with(Limits::default()).await;
    let mut good = client(&axon).await;
    let mut bytes = PREFACE.to_vec();
    bytes.extend(frame(SETTINGS, 0, 0, &[]));
    // A dynamic table size update to 8192, then `:method: GET`.
    bytes.extend(frame(HEADERS, END_HEADERS, 1, &[0x3f, 0xe1, 0x3f, 0x82]));
    let mut raw = RawClient::connect(grpc_port(&axon)).await;
    raw.send(&bytes).await;
    let (got, closed) = raw.read_until_close(CLOSE_WITHIN).await;
    assert!(closed, "the connection was closed");
    assert_eq!(goaway_codes(&got), [COMPRESSION_ERROR]);
    good_call(&mut good).await;
}

#[actix_rt::test]
async fn calls_are_capped_per_connection_as_advertised_and_per_port_with_resource_exhausted() {
    let limits = Limits {
        grpc_max_streams_per_connection: 2,
        grpc_max_streams: 3,
        ..Limits::default()
    };
    let (_backend, axon) = axon_with(limits).await;
    // The per-connection cap is advertised in the server's SETTINGS.
    let tcp = tokio::net::TcpStream::connect(axon.server.grpc_addr().expect("grpc"))
        .await
        .expect("connect");
    let (h2, conn) = h2::client::handshake(tcp).await.expect("HTTP/2 handshake");
    let _conn = actix_rt::spawn(conn);
    eventually(CLOSE_WITHIN, "SETTINGS_MAX_CONCURRENT_STREAMS 2", || {
        let max = h2.current_max_send_streams();
        async move { max == 2 }
    })
    .await;
    // Three calls open on two connections fill the port: a fourth gets RESOURCE_EXHAUSTED.
    let (mut a, mut b) = (client(&axon).await, client(&axon).await);
    let first = open_bidi(&mut a).await;
    let _second = open_bidi(&mut a).await;
    let _third = open_bidi(&mut b).await;
    let refused = b.unary(request("fourth")).await.expect_err("over the cap");
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    // Ending one call frees its place.
    drop(first);
    eventually(CLOSE_WITHIN, "a place freed", || {
        let mut b = b.clone();
        async move { b.unary(request("fifth")).await.is_ok() }
    })
    .await;
}

#[actix_rt::test]
async fn tls_connections_that_never_handshake_or_never_send_the_preface_are_closed() {
    let tls = LocalhostTls::new();
    let backend = GrpcBackend::start("good").await;
    let limits = Limits {
        grpc_handshake_timeout: Duration::from_millis(300),
        grpc_preface_timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let files = [
        ("api.xml", echo_api("Echo")),
        ("ep.xml", grpc_endpoint("Echo", &backend.uri(), "")),
    ];
    let files = files.each_ref().map(|(p, t)| (*p, t.as_str()));
    let axon = TestAxon::start_grpc_tls_with(&files, tls.server.clone(), limits).await;
    let addr = axon.server.grpc_addr().expect("grpc");
    // No handshake at all.
    let mut silent = RawClient::connect(addr.port()).await;
    assert!(silent.read_until_close(CLOSE_WITHIN).await.1, "closed");
    // A handshake, then no preface.
    let mut roots = rustls::RootCertStore::empty();
    roots.add(tls.cert_der.clone()).expect("root");
    let mut config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let mut stream = connector.connect(name, tcp).await.expect("TLS handshake");
    stream.flush().await.expect("flush");
    let mut buf = [0u8; 1024];
    let closed = tokio::time::timeout(CLOSE_WITHIN, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "closed after the handshake without a preface"
    );
    // A good TLS client is served.
    good_call(&mut EchoClient::new(tls.channel(addr.port()).await)).await;
}
