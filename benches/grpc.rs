//! Unary gRPC calls per second: straight to a tonic backend, then through Axon's gRPC
//! front and a `<grpc>` leaf to the same backend, in one run on the same machine.
//!
//! `cargo bench --bench grpc` measures (results go in docs/benchmarks.md); run without
//! `--bench` (as `cargo test --all-targets` does) it makes a few hundred calls each way as
//! a smoke test.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;
use tonic::{Request, Response, Status, Streaming};

mod pb {
    #![allow(clippy::all, unreachable_pub, missing_debug_implementations, dead_code)]
    tonic::include_proto!("axon.test");
}

use pb::echo_client::EchoClient;
use pb::echo_server::{Echo, EchoServer};
use pb::{EchoReply, EchoRequest};

struct Backend;

type Replies =
    std::pin::Pin<Box<dyn tokio_stream::Stream<Item = Result<EchoReply, Status>> + Send>>;

#[tonic::async_trait]
impl Echo for Backend {
    async fn unary(&self, req: Request<EchoRequest>) -> Result<Response<EchoReply>, Status> {
        Ok(Response::new(EchoReply {
            message: req.into_inner().message,
            ..EchoReply::default()
        }))
    }

    type ServerStreamStream = Replies;

    async fn server_stream(&self, _: Request<EchoRequest>) -> Result<Response<Replies>, Status> {
        Err(Status::unimplemented("bench"))
    }

    async fn client_stream(
        &self,
        _: Request<Streaming<EchoRequest>>,
    ) -> Result<Response<EchoReply>, Status> {
        Err(Status::unimplemented("bench"))
    }

    type BidiStream = Replies;

    async fn bidi(&self, _: Request<Streaming<EchoRequest>>) -> Result<Response<Replies>, Status> {
        Err(Status::unimplemented("bench"))
    }
}

/// The backend on its own thread and runtime (one worker thread).
fn start_backend() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind backend");
    let addr = listener.local_addr().expect("addr");
    listener.set_nonblocking(true).expect("nonblocking");
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("backend runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
            tonic::transport::Server::builder()
                .add_service(EchoServer::new(Backend))
                .serve_with_incoming(incoming)
                .await
                .expect("backend serves");
        });
    });
    addr
}

/// Axon with one gRPC worker, on its own thread, in front of `backend`.
fn start_axon(backend: SocketAddr) -> SocketAddr {
    let dir = tempfile::tempdir().expect("dir");
    let xml = format!(
        r#"<definitions>
  <api name="Echo" context="/axon.test.Echo" transports="grpc">
    <resource url-mapping="/*"><inSequence><send><endpoint key="Backend"/></send></inSequence></resource>
  </api>
  <endpoint name="Backend"><grpc uri="http://{backend}"/></endpoint>
</definitions>"#
    );
    std::fs::write(dir.path().join("echo.xml"), xml).expect("write config");
    let grpc = TcpListener::bind("127.0.0.1:0").expect("bind grpc");
    let addr = grpc.local_addr().expect("addr");
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let config = axon::engine::Mediation::load(dir.path()).expect("valid config");
        let options = axon::server::ServerOptions {
            mediation_dir: dir.path().to_path_buf(),
            http: TcpListener::bind("127.0.0.1:0").expect("bind http"),
            management: TcpListener::bind("127.0.0.1:0").expect("bind admin"),
            grpc: Some(grpc),
            grpc_tls: None,
            https: None,
            workers: Some(1),
            limits: axon::base::limits::Limits::default(),
            management_hosts: Vec::new(),
            management_access: Default::default(),
        };
        let system = actix_rt::System::new();
        system.block_on(async move {
            let _server = axon::server::Server::start(config, options)
                .await
                .expect("axon starts");
            ready_tx.send(()).expect("report ready");
            std::future::pending::<()>().await;
        });
        drop(dir);
    });
    ready_rx.recv().expect("axon ready");
    addr
}

struct Run {
    calls: u64,
    elapsed: Duration,
    p50: Duration,
    p99: Duration,
}

/// `concurrency` callers over `connections` HTTP/2 connections, for `duration` (or until
/// `limit` calls when set).
async fn run(
    target: SocketAddr,
    connections: usize,
    concurrency: usize,
    duration: Duration,
    limit: Option<u64>,
) -> Run {
    let mut clients = Vec::new();
    for _ in 0..connections {
        clients.push(
            EchoClient::connect(format!("http://{target}"))
                .await
                .expect("connect"),
        );
    }
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..concurrency {
        let mut client = clients[i % connections].clone();
        let (stop, count) = (stop.clone(), count.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                if limit.is_some_and(|l| count.load(Ordering::Relaxed) >= l) {
                    break;
                }
                let t = Instant::now();
                let reply = client
                    .unary(EchoRequest {
                        message: "ping".into(),
                        ..EchoRequest::default()
                    })
                    .await
                    .expect("call succeeds");
                assert_eq!(reply.into_inner().message, "ping");
                latencies.push(t.elapsed());
                count.fetch_add(1, Ordering::Relaxed);
            }
            latencies
        }));
    }
    if limit.is_none() {
        tokio::time::sleep(duration).await;
        stop.store(true, Ordering::Relaxed);
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.expect("caller"));
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let at = |q: f64| {
        latencies
            .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    Run {
        calls: count.load(Ordering::Relaxed),
        elapsed,
        p50: at(0.50),
        p99: at(0.99),
    }
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    axon::base::tls::install_crypto_provider();
    let backend = start_backend();
    let axon = start_axon(backend);
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("client runtime");
    let (connections, concurrency) = (4, 64);
    let (duration, limit) = if full {
        (Duration::from_secs(10), None)
    } else {
        (Duration::ZERO, Some(300))
    };
    client_rt.block_on(async {
        if full {
            // Warm both paths (connections, pools, caches).
            run(
                backend,
                connections,
                concurrency,
                Duration::from_secs(2),
                None,
            )
            .await;
            run(axon, connections, concurrency, Duration::from_secs(2), None).await;
        }
        println!(
            "unary gRPC, {concurrency} callers over {connections} connections, {}",
            if full { "10 s each" } else { "smoke run" }
        );
        println!("| path | calls | calls/s | p50 | p99 |");
        println!("|---|---|---|---|---|");
        let mut rates = Vec::new();
        for (name, target) in [("direct to the backend", backend), ("through Axon", axon)] {
            let r = run(target, connections, concurrency, duration, limit).await;
            let rate = r.calls as f64 / r.elapsed.as_secs_f64();
            rates.push(rate);
            println!(
                "| {name} | {} | {rate:.0} | {:.2} ms | {:.2} ms |",
                r.calls,
                r.p50.as_secs_f64() * 1e3,
                r.p99.as_secs_f64() * 1e3
            );
        }
        println!(
            "Axon keeps {:.0}% of the direct rate",
            100.0 * rates[1] / rates[0]
        );
    });
}
