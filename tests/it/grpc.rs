//! gRPC end to end: tonic (and grpcio) clients → Axon's gRPC front → `<grpc>` leaves →
//! real tonic backends, all on loopback.

use std::time::Duration;

use tokio_stream::StreamExt as _;
use tonic::Code;
use tonic::metadata::{BinaryMetadataValue, MetadataValue};
use tonic::transport::Channel;

use crate::support::grpc::pb::EchoRequest;
use crate::support::grpc::pb::echo_client::EchoClient;
use crate::support::grpc::{DETAILS, GRPC_HEADERS, GrpcBackend, LocalhostTls, raw_call, request};
use crate::support::{TestAxon, dead_port, eventually};

pub(crate) fn echo_api(endpoint: &str) -> String {
    format!(
        r#"<api name="EchoAPI" context="/axon.test.Echo" transports="grpc">
  <resource url-mapping="/*">
    <inSequence>
      <log level="headers"/>
      <property name="x-added-by-axon" value="yes" scope="transport"/>
      <send><endpoint key="{endpoint}"/></send>
    </inSequence>
    <outSequence>
      <property name="x-response-seen" value="by-outsequence" scope="transport"/>
      <send/>
    </outSequence>
  </resource>
</api>"#
    )
}

/// The `grpc-timeout` the backend received with its last call.
fn deadline_sent(backend: &GrpcBackend) -> Duration {
    let sent = backend.last().metadata.get("grpc-timeout").cloned();
    let sent = sent.expect("Axon propagated a deadline");
    axon::base::grpc::parse_timeout(sent.as_bytes()).expect("a valid grpc-timeout")
}

pub(crate) fn grpc_endpoint(name: &str, uri: &str, inner: &str) -> String {
    format!(r#"<endpoint name="{name}"><grpc uri="{uri}">{inner}</grpc></endpoint>"#)
}

async fn axon_for(backend_uri: &str, qos: &str) -> TestAxon {
    TestAxon::start(&[
        ("api.xml", &echo_api("Echo")),
        ("ep.xml", &grpc_endpoint("Echo", backend_uri, qos)),
    ])
    .await
}

async fn client(axon: &TestAxon) -> EchoClient<Channel> {
    EchoClient::connect(axon.grpc_url())
        .await
        .expect("connect to Axon's gRPC port")
}

#[actix_rt::test]
async fn unary_call_passes_through_with_metadata_both_ways() {
    let backend = GrpcBackend::start("b1").await;
    let axon = axon_for(&backend.uri(), "").await;
    let mut c = client(&axon).await;
    let mut req = tonic::Request::new(EchoRequest {
        message: "hello".into(),
        padding: vec![7u8; 100_000],
        ..EchoRequest::default()
    });
    req.metadata_mut()
        .insert("x-echo", MetadataValue::from_static("echoed"));
    req.metadata_mut().insert_bin(
        "x-blob-bin",
        BinaryMetadataValue::from_bytes(&[0u8, 0xff, 0x10, b'\n']),
    );
    let resp = c.unary(req).await.expect("unary call through Axon");
    let meta = resp.metadata().clone();
    let reply = resp.into_inner();
    assert_eq!(
        (reply.message.as_str(), reply.server.as_str()),
        ("hello", "b1")
    );
    assert_eq!(
        reply.padding.len(),
        100_000,
        "a large message crosses intact"
    );
    // Response metadata, binary included, byte-exact; the echo proves the request side.
    assert_eq!(
        meta.get("x-reply").and_then(|v| v.to_str().ok()),
        Some("from-backend")
    );
    assert_eq!(
        meta.get_bin("x-reply-bin")
            .and_then(|v| v.to_bytes().ok())
            .as_deref(),
        Some(&[0u8, 1, 2, 0xfe, 0xff][..])
    );
    assert_eq!(
        meta.get("x-echo").and_then(|v| v.to_str().ok()),
        Some("echoed")
    );
    assert_eq!(
        meta.get("x-response-seen").and_then(|v| v.to_str().ok()),
        Some("by-outsequence"),
        "the out-sequence ran on the response metadata"
    );
    assert_eq!(
        meta.get("x-axon-trace").and_then(|v| v.to_str().ok()),
        Some("Echo=200")
    );
    let seen = backend.last();
    assert_eq!(
        seen.metadata.get("te").and_then(|v| v.to_str().ok()),
        Some("trailers")
    );
    assert_eq!(
        seen.metadata.get("x-blob-bin").map(|v| v.as_bytes()),
        Some(&b"AP8QCg"[..]),
        "binary metadata reaches the backend as sent (unpadded base64)"
    );
    assert_eq!(
        seen.metadata
            .get("x-added-by-axon")
            .and_then(|v| v.to_str().ok()),
        Some("yes"),
        "mediation set request metadata"
    );
    let (status, report) = axon.admin("/health/actors/Echo").await;
    assert_eq!(status, 200);
    assert_eq!(report["type"], "grpc");
    assert_eq!(report["state"], "ACTIVE");
    assert_eq!(report["counters"]["sent"], 1);
    assert_eq!(report["counters"]["succeeded"], 1);
}

#[actix_rt::test]
async fn an_error_status_keeps_its_message_details_and_trailers() {
    let backend = GrpcBackend::start("b1").await;
    let axon = axon_for(&backend.uri(), "").await;
    let mut c = client(&axon).await;
    let status = c
        .unary(EchoRequest {
            fail_code: Code::NotFound as i32,
            ..request("x")
        })
        .await
        .expect_err("the backend fails the call");
    assert_eq!(status.code(), Code::NotFound);
    assert_eq!(status.message(), "failed as asked: 100% ünïcode");
    assert_eq!(
        status.details(),
        DETAILS,
        "grpc-status-details-bin is byte-exact"
    );
    assert_eq!(
        status
            .metadata()
            .get("x-trailer")
            .and_then(|v| v.to_str().ok()),
        Some("kept")
    );
    assert_eq!(
        status
            .metadata()
            .get_bin("x-trailer-bin")
            .and_then(|v| v.to_bytes().ok())
            .as_deref(),
        Some(&[9u8, 0, 9][..])
    );
    assert_eq!(
        axon.state("Echo").await,
        "ACTIVE",
        "an application error is a response"
    );
}

#[actix_rt::test]
async fn streaming_calls_of_every_kind_pass_through() {
    let backend = GrpcBackend::start("b1").await;
    let axon = axon_for(&backend.uri(), "").await;
    let mut c = client(&axon).await;

    // Server streaming, ending with an error status after the messages.
    let resp = c
        .server_stream(EchoRequest {
            count: 5,
            fail_code: Code::Aborted as i32,
            ..request("s")
        })
        .await
        .expect("server stream starts");
    let mut stream = resp.into_inner();
    let mut got = Vec::new();
    let end = loop {
        match stream.next().await {
            Some(Ok(r)) => got.push((r.index, r.message)),
            Some(Err(status)) => break Some(status),
            None => break None,
        }
    };
    assert_eq!(
        got,
        (0..5).map(|i| (i, format!("s #{i}"))).collect::<Vec<_>>()
    );
    let end = end.expect("the trailers carry the stream's error status");
    assert_eq!(end.code(), Code::Aborted);
    assert_eq!(end.details(), DETAILS);

    // Client streaming.
    let outbound = tokio_stream::iter(["a", "b", "c"].map(request));
    let reply = c
        .client_stream(outbound)
        .await
        .expect("client stream")
        .into_inner();
    assert_eq!((reply.message.as_str(), reply.index), ("a+b+c", 3));

    // Bidirectional, interleaved: each reply arrives before the next request is sent, so
    // neither direction is buffered to the end.
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let mut replies = c
        .bidi(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .expect("bidi starts")
        .into_inner();
    for word in ["one", "two", "three"] {
        tx.send(request(word)).await.expect("send");
        let reply = tokio::time::timeout(Duration::from_secs(5), replies.next())
            .await
            .expect("a reply before the next request")
            .expect("stream open")
            .expect("reply");
        assert_eq!(reply.message, format!("echo {word}"));
    }
    drop(tx);
    assert!(
        replies.next().await.is_none(),
        "the stream ends cleanly (status OK)"
    );
    let kinds: Vec<&str> = backend
        .seen
        .lock()
        .unwrap()
        .iter()
        .map(|c| c.method)
        .collect();
    assert_eq!(kinds, ["ServerStream", "ClientStream", "Bidi"]);
}

#[actix_rt::test]
async fn a_slow_client_holds_the_backend_back_instead_of_axon_buffering_the_stream() {
    const MESSAGE: usize = 32 * 1024;
    const COUNT: u32 = 2_000; // 64 MiB in all
    let backend = GrpcBackend::start("b1").await;
    let axon = axon_for(&backend.uri(), "").await;
    let mut c = client(&axon).await;
    let mut stream = c
        .server_stream(EchoRequest {
            count: COUNT,
            padding: vec![1u8; MESSAGE],
            ..request("big")
        })
        .await
        .expect("stream starts")
        .into_inner();
    let first = stream.next().await.expect("one").expect("reply");
    assert_eq!(first.padding.len(), MESSAGE);
    // The client now reads nothing. Production must stall at the HTTP/2 windows (a few
    // MiB along the way), far below the whole stream.
    let mut last = 0;
    let mut stable_polls = 0;
    eventually(Duration::from_secs(10), "the backend to stall", || {
        let now = backend.produced.load(std::sync::atomic::Ordering::SeqCst);
        stable_polls = if now == last { stable_polls + 1 } else { 0 };
        last = now;
        async move { stable_polls >= 30 }
    })
    .await;
    let buffered = last * MESSAGE;
    assert!(
        buffered < 16 * 1024 * 1024,
        "{last} messages ({buffered} bytes) were produced for a client that read one"
    );
    // Reading again lets the rest through, in order.
    let mut n = 1;
    while let Some(item) = stream.next().await {
        assert_eq!(item.expect("reply").index, n);
        n += 1;
    }
    assert_eq!(n, COUNT);
}

#[actix_rt::test]
async fn the_client_deadline_is_propagated_reduced_and_answered_with_deadline_exceeded() {
    use prost::Message as _;
    let backend = GrpcBackend::start("b1").await;
    let axon = axon_for(&backend.uri(), "").await;
    let addr = axon.server.grpc_addr().expect("grpc");
    let slow = EchoRequest {
        delay_ms: 3_000,
        ..request("slow")
    }
    .encode_to_vec();
    // A raw call: tonic would also enforce the deadline itself, hiding Axon's answer.
    let headers = [GRPC_HEADERS[0], GRPC_HEADERS[1], ("grpc-timeout", "400m")];
    let started = tokio::time::Instant::now();
    let reply = raw_call(addr, "/axon.test.Echo/Unary", &headers, &slow).await;
    assert!(
        started.elapsed() < Duration::from_millis(2_500),
        "answered at the deadline"
    );
    assert_eq!(reply.status, 200);
    assert_eq!(reply.grpc_status(), Some(4), "DEADLINE_EXCEEDED: {reply:?}");
    assert!(
        reply.trailers.is_none() && reply.body.is_empty(),
        "trailers-only: {reply:?}"
    );
    assert!(
        reply.grpc_message().contains("deadline"),
        "{}",
        reply.grpc_message()
    );
    let left = deadline_sent(&backend);
    assert!(
        left <= Duration::from_millis(400) && left > Duration::from_millis(100),
        "the backend got what was left of the client's deadline: {left:?}"
    );
    // A client's tight deadline says nothing about the backend.
    assert_eq!(axon.state("Echo").await, "ACTIVE");

    // Malformed deadlines and non-gRPC requests get clear answers, not hangs.
    let bad = [GRPC_HEADERS[0], GRPC_HEADERS[1], ("grpc-timeout", "soon")];
    let reply = raw_call(addr, "/axon.test.Echo/Unary", &bad, b"").await;
    assert_eq!(reply.grpc_status(), Some(13), "{reply:?}");
    assert!(reply.grpc_message().contains("grpc-timeout"));
    let reply = raw_call(
        addr,
        "/axon.test.Echo/Unary",
        &[("content-type", "application/json")],
        b"{}",
    )
    .await;
    assert_eq!(reply.status, 415, "{reply:?}");
}

#[actix_rt::test]
async fn the_endpoint_timeout_caps_the_deadline_and_counts_against_the_endpoint() {
    let backend = GrpcBackend::start("b1").await;
    let qos = "<timeout><duration>300</duration></timeout>";
    let axon = axon_for(&backend.uri(), qos).await;
    let mut c = client(&axon).await;
    let mut req = tonic::Request::new(EchoRequest {
        delay_ms: 3_000,
        ..request("slow")
    });
    req.set_timeout(Duration::from_secs(20));
    let status = c.unary(req).await.expect_err("endpoint timeout");
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    assert!(status.message().contains("101504"), "{}", status.message());
    let left = deadline_sent(&backend);
    assert!(
        left <= Duration::from_millis(300),
        "capped by <timeout>: {left:?}"
    );
    eventually(
        Duration::from_secs(5),
        "the endpoint to leave ACTIVE",
        || async { axon.state("Echo").await != "ACTIVE" },
    )
    .await;
    let report = axon.endpoint("Echo").await;
    assert_eq!(report["last_error"]["code"], 101504);
}

#[actix_rt::test]
async fn the_endpoint_timeout_ends_a_stream_that_outlasts_it_with_deadline_exceeded() {
    let backend = GrpcBackend::start("b1").await;
    let qos = "<timeout><duration>500</duration></timeout>";
    let axon = axon_for(&backend.uri(), qos).await;
    let mut stream = client(&axon)
        .await
        .server_stream(EchoRequest {
            count: 100,
            delay_ms: 50,
            ..request("tick")
        })
        .await
        .expect("the stream starts within the timeout")
        .into_inner();
    let mut received = 0;
    let status = loop {
        match stream.next().await {
            Some(Ok(_)) => received += 1,
            Some(Err(status)) => break status,
            None => panic!("the stream ended without a status after {received} messages"),
        }
    };
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    assert!(
        (1..100).contains(&received),
        "messages flowed until the deadline: {received}"
    );
    // The backend's stream was cancelled, not left running.
    let produced = || backend.produced.load(std::sync::atomic::Ordering::SeqCst);
    let mut last = produced();
    let mut stable = 0;
    eventually(Duration::from_secs(5), "the backend stream to stop", || {
        let now = produced();
        stable = if now == last { stable + 1 } else { 0 };
        last = now;
        async move { stable >= 30 }
    })
    .await;
    assert!(last < 100, "the backend kept producing: {last}");
}

#[actix_rt::test]
async fn a_dead_backend_gives_unavailable_and_suspends_the_endpoint() {
    let port = dead_port();
    let axon = axon_for(&format!("http://127.0.0.1:{port}"), "").await;
    let mut c = client(&axon).await;
    let status = c.unary(request("x")).await.expect_err("dead backend");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(status.message().contains("101503"), "{}", status.message());
    assert_eq!(
        status
            .metadata()
            .get("x-axon-error-code")
            .and_then(|v| v.to_str().ok()),
        Some("101503")
    );
    eventually(Duration::from_secs(5), "SUSPENDED", || async {
        axon.state("Echo").await == "SUSPENDED"
    })
    .await;
    let again = c.unary(request("x")).await.expect_err("suspended");
    assert_eq!(again.code(), Code::Unavailable);
    assert!(again.message().contains("SUSPENDED"), "{}", again.message());
    let report = axon.endpoint("Echo").await;
    assert_eq!(
        report["counters"]["sent"], 1,
        "no attempt while suspended: {report}"
    );
    assert_eq!(
        report["last_error"]["address"],
        format!("http://127.0.0.1:{port}/axon.test.Echo/Unary")
    );
}

#[actix_rt::test]
async fn unknown_services_and_methods_are_unimplemented() {
    let backend = GrpcBackend::start("b1").await;
    let api = r#"<api name="OnlyUnary" context="/axon.test.Echo" transports="grpc">
      <resource uri-template="/Unary"><inSequence><send><endpoint key="Echo"/></send></inSequence></resource>
    </api>"#;
    let axon = TestAxon::start(&[
        ("api.xml", api),
        ("ep.xml", &grpc_endpoint("Echo", &backend.uri(), "")),
    ])
    .await;
    let mut c = client(&axon).await;
    c.unary(request("ok"))
        .await
        .expect("the selected method is served");
    let status = c
        .server_stream(request("x"))
        .await
        .expect_err("no resource for ServerStream");
    assert_eq!(status.code(), Code::Unimplemented);
    assert!(
        status.message().contains("ServerStream"),
        "{}",
        status.message()
    );

    // A service no API declares.
    let channel = Channel::from_shared(axon.grpc_url())
        .expect("uri")
        .connect()
        .await
        .expect("connect");
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    let mut other = tonic::client::Grpc::new(channel);
    other.ready().await.expect("ready");
    let status = other
        .unary::<_, tonic_health::pb::HealthCheckResponse, _>(
            tonic::Request::new(tonic_health::pb::HealthCheckRequest::default()),
            "/no.such.Service/Call".parse().expect("path"),
            tonic_prost::ProstCodec::default(),
        )
        .await
        .expect_err("unknown service");
    assert_eq!(status.code(), Code::Unimplemented);
    assert!(
        status.message().contains("no.such.Service"),
        "{}",
        status.message()
    );
    // Axon's own health service stays available.
    let serving = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("health")
        .into_inner();
    assert_eq!(
        serving.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
}

#[actix_rt::test]
async fn axon_answers_the_standard_health_check_for_itself() {
    let backend = GrpcBackend::start("b1").await;
    let axon = axon_for(&backend.uri(), "").await;
    let channel = Channel::from_shared(axon.grpc_url())
        .expect("uri")
        .connect()
        .await
        .expect("connect");
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_check_response::ServingStatus;
    for service in ["", "axon.test.Echo"] {
        let r = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap_or_else(|s| panic!("health of `{service}`: {s:?}"))
            .into_inner();
        assert_eq!(
            r.status,
            ServingStatus::Serving as i32,
            "service `{service}`"
        );
    }
    let unknown = health
        .check(HealthCheckRequest {
            service: "nope.Nope".into(),
        })
        .await
        .expect_err("unknown service");
    assert_eq!(unknown.code(), Code::NotFound);
}

#[actix_rt::test]
async fn health_probes_take_a_not_serving_backend_down_and_bring_it_back() {
    let backend = GrpcBackend::start("b1").await;
    let probe = r#"<healthCheck service="axon.test.Echo" interval="50" timeout="500" unhealthyThreshold="2" healthyThreshold="2"/>"#;
    let axon = axon_for(&backend.uri(), probe).await;
    assert_eq!(axon.state("Echo").await, "ACTIVE");
    backend
        .health
        .set_service_status("axon.test.Echo", tonic_health::ServingStatus::NotServing)
        .await;
    eventually(Duration::from_secs(5), "SUSPENDED by the probe", || async {
        axon.state("Echo").await == "SUSPENDED"
    })
    .await;
    let report = axon.endpoint("Echo").await;
    assert_eq!(report["last_error"]["code"], 101600, "{report}");
    assert!(
        report["last_error"]["detail"]
            .as_str()
            .unwrap_or("")
            .contains("NOT_SERVING"),
        "{report}"
    );
    let reason = report["transitions"][0]["reason"].as_str().unwrap_or("");
    assert!(reason.starts_with("health check"), "{reason}");
    let mut c = client(&axon).await;
    let status = c.unary(request("x")).await.expect_err("down");
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(backend.calls(), 0, "no traffic reached the down backend");

    backend
        .health
        .set_service_status("axon.test.Echo", tonic_health::ServingStatus::Serving)
        .await;
    eventually(
        Duration::from_secs(5),
        "ACTIVE again without traffic",
        || async { axon.state("Echo").await == "ACTIVE" },
    )
    .await;
    c.unary(request("back")).await.expect("served again");
}

#[actix_rt::test]
async fn health_probes_notice_a_dead_backend_and_its_return() {
    let port = dead_port();
    let probe =
        r#"<healthCheck interval="50" timeout="500" unhealthyThreshold="1" healthyThreshold="1"/>"#;
    let qos = format!(
        "{probe}<suspendOnFailure><initialDuration>60000</initialDuration></suspendOnFailure>"
    );
    let axon = axon_for(&format!("http://127.0.0.1:{port}"), &qos).await;
    eventually(Duration::from_secs(5), "SUSPENDED", || async {
        axon.state("Echo").await == "SUSPENDED"
    })
    .await;
    assert_eq!(axon.endpoint("Echo").await["last_error"]["code"], 101503);
    let _backend = GrpcBackend::start_on_port(port, "back").await;
    // The suspension is a minute long; the probe brings the endpoint back long before.
    eventually(Duration::from_secs(5), "ACTIVE", || async {
        axon.state("Echo").await == "ACTIVE"
    })
    .await;
    let reply = client(&axon)
        .await
        .unary(request("x"))
        .await
        .expect("served")
        .into_inner();
    assert_eq!(reply.server, "back");
}

#[actix_rt::test]
async fn mediation_can_answer_a_call_itself_with_a_grpc_status() {
    let api = r#"<api name="Gate" context="/axon.test.Echo" transports="grpc">
      <resource url-mapping="/*"><inSequence>
        <property name="GRPC_STATUS" value="7"/>
        <property name="GRPC_MESSAGE" value="not for you"/>
        <property name="x-why" value="policy" scope="transport"/>
        <respond/>
      </inSequence></resource>
    </api>"#;
    let axon = TestAxon::start(&[("api.xml", api)]).await;
    let status = client(&axon)
        .await
        .unary(request("x"))
        .await
        .expect_err("refused");
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(status.message(), "not for you");
    assert_eq!(
        status.metadata().get("x-why").and_then(|v| v.to_str().ok()),
        Some("policy")
    );
}

#[actix_rt::test]
async fn call_then_respond_and_fault_sequences_work_on_grpc_calls() {
    let backend = GrpcBackend::start("b1").await;
    let dead = dead_port();
    let api = r#"<api name="Flows" context="/axon.test.Echo" transports="grpc">
      <resource uri-template="/Unary">
        <inSequence>
          <call><endpoint key="Live"/></call>
          <property name="x-after-call" value="yes" scope="transport"/>
          <respond/>
        </inSequence>
      </resource>
      <resource uri-template="/ServerStream">
        <inSequence><send><endpoint key="Dead"/></send></inSequence>
        <faultSequence>
          <property name="GRPC_STATUS" value="8"/>
          <property name="x-fault" value="handled" scope="transport"/>
          <respond/>
        </faultSequence>
      </resource>
    </api>"#;
    let axon = TestAxon::start(&[
        ("api.xml", api),
        ("live.xml", &grpc_endpoint("Live", &backend.uri(), "")),
        (
            "dead.xml",
            &grpc_endpoint("Dead", &format!("http://127.0.0.1:{dead}"), ""),
        ),
    ])
    .await;
    let mut c = client(&axon).await;
    let resp = c
        .unary(request("via call"))
        .await
        .expect("call, then respond");
    assert_eq!(
        resp.metadata()
            .get("x-after-call")
            .and_then(|v| v.to_str().ok()),
        Some("yes"),
        "mediation after `call` set response metadata"
    );
    assert_eq!(resp.into_inner().message, "via call");
    let status = c
        .server_stream(request("x"))
        .await
        .expect_err("the fault sequence answers");
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(
        status.message().contains("Error connecting"),
        "ERROR_MESSAGE is the default grpc-message in a fault handler: {}",
        status.message()
    );
    assert_eq!(
        status
            .metadata()
            .get("x-fault")
            .and_then(|v| v.to_str().ok()),
        Some("handled")
    );
}

#[actix_rt::test]
async fn grpc_over_tls_with_a_configured_certificate() {
    let backend = GrpcBackend::start("tls").await;
    let tls = LocalhostTls::new();
    let axon = TestAxon::start_grpc_tls(
        &[
            ("api.xml", &echo_api("Echo")),
            ("ep.xml", &grpc_endpoint("Echo", &backend.uri(), "")),
        ],
        tls.server.clone(),
    )
    .await;
    let addr = axon.server.grpc_addr().expect("grpc");
    let channel = tls.channel(addr.port()).await;
    let reply = EchoClient::new(channel)
        .unary(request("secure"))
        .await
        .expect("call")
        .into_inner();
    assert_eq!(
        (reply.message.as_str(), reply.server.as_str()),
        ("secure", "tls")
    );
    // h2c is not accepted on a TLS port.
    let plain = EchoClient::connect(format!("http://127.0.0.1:{}", addr.port())).await;
    let refused = match plain {
        Err(_) => true,
        Ok(mut c) => c.unary(request("x")).await.is_err(),
    };
    assert!(refused);
}

#[actix_rt::test]
async fn tls_backends_are_reached_with_their_configured_ca_and_refused_without_it() {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("cert");
    let (cert_pem, key_pem) = (cert.cert.pem(), cert.signing_key.serialize_pem());
    let backend = GrpcBackend::start_tls("over-tls", &cert_pem, &key_pem).await;
    let uri = format!("https://localhost:{}", backend.port);
    let trusted = format!(
        r#"<endpoint name="Echo"><grpc uri="{uri}" caCertificate="private-ca.pem"/></endpoint>"#
    );
    let axon = TestAxon::start(&[
        ("apis/api.xml", &echo_api("Echo")),
        ("endpoints/private-ca.pem", &cert_pem),
        ("endpoints/echo.xml", &trusted),
    ])
    .await;
    let reply = client(&axon)
        .await
        .unary(request("x"))
        .await
        .expect("call over TLS")
        .into_inner();
    assert_eq!(reply.server, "over-tls");

    // The web PKI does not vouch for a private certificate: the handshake fails, nothing
    // is sent, the client gets UNAVAILABLE.
    let axon = axon_for(&uri, "").await;
    let status = client(&axon)
        .await
        .unary(request("x"))
        .await
        .expect_err("untrusted");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    let report = axon.endpoint("Echo").await;
    assert_eq!(report["last_error"]["code"], 101503, "{report}");
    assert!(
        report["last_error"]["detail"]
            .as_str()
            .unwrap_or("")
            .contains("TLS"),
        "{report}"
    );
    assert_eq!(backend.calls(), 1);
}

#[actix_rt::test]
async fn a_reload_adds_grpc_apis_and_keeps_the_health_of_unchanged_grpc_leaves() {
    let backend = GrpcBackend::start("b1").await;
    let ep = grpc_endpoint("Echo", &backend.uri(), "");
    let axon = TestAxon::start(&[("ep.xml", &ep)]).await;
    let mut c = client(&axon).await;
    let before = c.unary(request("x")).await.expect_err("no API yet");
    assert_eq!(before.code(), Code::Unimplemented);
    axon.admin_post("/health/actors/Echo/off").await;
    axon.write("api.xml", &echo_api("Echo"));
    let (status, summary) = axon.admin_post("/config/reload").await;
    assert_eq!(status, 200, "{summary}");
    assert_eq!(summary["endpoints_kept"][0], "Echo", "{summary}");
    let off = c
        .unary(request("x"))
        .await
        .expect_err("the leaf kept its OFF state");
    assert_eq!(off.code(), Code::Unavailable);
    assert!(off.message().contains("OFF"), "{}", off.message());
    axon.admin_post("/health/actors/Echo/on").await;
    let reply = c
        .unary(request("now"))
        .await
        .expect("served after the reload");
    assert_eq!(reply.into_inner().message, "now");
}

#[actix_rt::test]
async fn the_api_lifecycle_gates_grpc_calls() {
    let backend = GrpcBackend::start("b1").await;
    let ep = grpc_endpoint("Echo", &backend.uri(), "");
    for (state, expected) in [
        ("BLOCKED", Some(Code::Unavailable)),
        ("RETIRED", Some(Code::Unimplemented)),
        ("CREATED", Some(Code::Unimplemented)),
        ("DEPRECATED", None),
    ] {
        let api = echo_api("Echo").replace(
            r#"transports="grpc">"#,
            &format!(r#"transports="grpc" lifecycle="{state}">"#),
        );
        let axon = TestAxon::start(&[("api.xml", &api), ("ep.xml", &ep)]).await;
        let result = client(&axon).await.unary(request("x")).await;
        match (expected, result) {
            (Some(code), Err(status)) => assert_eq!(status.code(), code, "{state}: {status:?}"),
            (None, Ok(reply)) => assert!(
                reply.metadata().get("deprecation").is_some(),
                "{state}: a deprecated API says so"
            ),
            (expected, other) => panic!("{state}: expected {expected:?}, got {other:?}"),
        }
    }
}

#[actix_rt::test]
async fn a_graceful_stop_lets_open_calls_finish_then_closes_the_port() {
    let backend = GrpcBackend::start("b1").await;
    let axon = axon_for(&backend.uri(), "").await;
    let addr = axon.server.grpc_addr().expect("grpc");
    let mut c = client(&axon).await;
    let call = actix_rt::spawn(async move {
        c.unary(EchoRequest {
            delay_ms: 2_000,
            ..request("last")
        })
        .await
    });
    eventually(
        Duration::from_secs(5),
        "the call to reach the backend",
        || async { backend.calls() == 1 },
    )
    .await;
    let TestAxon { server, dir, .. } = axon;
    server.stop(true).await;
    let reply = call
        .await
        .expect("join")
        .expect("the open call was finished, not cut");
    assert_eq!(reply.into_inner().message, "last");
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "the gRPC port is closed after the stop"
    );
    drop(dir);
}

#[actix_rt::test]
async fn a_third_party_grpc_client_works_through_axon() {
    let backend = GrpcBackend::start("b1").await;
    let axon = axon_for(&backend.uri(), "").await;
    let python = crate::support::python();
    // grpcio (gRPC C-core) with raw bytes: no generated code on the Python side.
    let script = r#"
import sys, grpc
target = sys.argv[1]
def enc_str(field, s):
    b = s.encode()
    return bytes([field << 3 | 2, len(b)]) + b
def dec_field1(b):
    assert b[0] == 0x0a, b
    return b[2:2 + b[1]].decode()
with grpc.insecure_channel(target) as ch:
    unary = ch.unary_unary('/axon.test.Echo/Unary')
    resp, call = unary.with_call(enc_str(1, 'from-python'), metadata=[('x-echo', 'py'), ('x-raw-bin', b'\x00\x01\xff')], timeout=10)
    md = dict(call.initial_metadata())
    print('unary', dec_field1(resp), md.get('x-echo'), md.get('x-reply-bin').hex())
    try:
        unary(enc_str(1, 'x') + bytes([3 << 3, 5]), timeout=10)
        print('no error')
    except grpc.RpcError as e:
        tr = dict(e.trailing_metadata())
        print('error', e.code().name, e.details(), tr.get('x-trailer'), tr.get('grpc-status-details-bin', b'').hex())
    stream = ch.unary_stream('/axon.test.Echo/ServerStream')
    msgs = [dec_field1(m) for m in stream(enc_str(1, 'p') + bytes([2 << 3, 3]), timeout=10)]
    print('stream', ','.join(msgs))
    health = ch.unary_unary('/grpc.health.v1.Health/Check')
    print('health', health(b'', timeout=10).hex())
    try:
        ch.unary_unary('/nope.Nope/X')(b'', timeout=10)
    except grpc.RpcError as e:
        print('unknown', e.code().name)
"#;
    let addr = axon.server.grpc_addr().expect("grpc").to_string();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(&python)
            .arg("-c")
            .arg(script)
            .arg(&addr)
            .output()
    })
    .await
    .expect("join")
    .expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "grpcio client failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "unary from-python py 000102feff",
            &format!(
                "error NOT_FOUND failed as asked: 100% ünïcode kept {}",
                hex(DETAILS)
            ),
            "stream p #0,p #1,p #2",
            "health 0801",
            "unknown UNIMPLEMENTED",
        ]
    );
    let raw = backend
        .seen
        .lock()
        .unwrap()
        .iter()
        .find_map(|c| c.metadata.get("x-raw-bin").cloned())
        .expect("binary metadata from grpcio reached the backend");
    assert_eq!(raw.as_bytes(), b"AAH/", "{raw:?}");
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn load_errors(files: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().expect("dir");
    for (name, text) in files {
        crate::support::write(dir.path(), name, text);
    }
    match axon::engine::Mediation::load(dir.path()) {
        Ok(_) => panic!("the configuration must be rejected"),
        Err(diags) => diags
            .sorted()
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

#[test]
fn check_rejects_what_cannot_work_on_grpc_messages() {
    let all = load_errors(&[
        (
            "grpc.xml",
            r#"<api name="G" context="/pkg.Svc" transports="grpc">
  <resource url-mapping="/*"><inSequence>
    <payloadFactory media-type="json"><format>{}</format><args/></payloadFactory>
    <send><endpoint key="Http"/></send>
  </inSequence></resource>
</api>"#,
        ),
        (
            "http.xml",
            r#"<api name="H" context="/h">
  <resource><inSequence><call><endpoint key="Grpc"/></call><respond/></inSequence></resource>
</api>"#,
        ),
        (
            "bad.xml",
            r#"<api name="B" context="/not/a/service" transports="grpc"><resource><inSequence><drop/></inSequence></resource></api>"#,
        ),
        (
            "eps.xml",
            r#"<definitions>
  <endpoint name="Http"><address uri="http://127.0.0.1:1/"/></endpoint>
  <endpoint name="Grpc"><grpc uri="http://127.0.0.1:1"/></endpoint>
</definitions>"#,
        ),
    ]);
    for e in [
        "grpc.xml:2:",
        "<payloadFactory> in sequence",
        "gRPC API `G` sends to endpoint `Http`",
        "http.xml:2:",
        "API `H` sends to gRPC endpoint `Grpc`",
        "bad.xml:1:1",
        "needs the fully qualified service name",
    ] {
        assert!(all.contains(e), "missing `{e}` in:\n{all}");
    }
}

#[test]
fn check_reports_malformed_grpc_configuration_with_its_place() {
    let all = load_errors(&[
        (
            "mixed.xml",
            r#"<api name="M" context="/m.M" transports="grpc https"><resource><inSequence><drop/></inSequence></resource></api>"#,
        ),
        (
            "eps.xml",
            r#"<definitions>
  <endpoint name="Grpc"><grpc uri="http://127.0.0.1:1"><healthCheck interval="0"/></grpc></endpoint>
  <endpoint name="BadUri"><grpc uri="127.0.0.1:1"/></endpoint>
  <endpoint name="NoCa"><grpc uri="https://h:1" caCertificate="missing.pem"/></endpoint>
</definitions>"#,
        ),
    ]);
    for e in [
        "mixed.xml:1:30: error: a gRPC API is served only on the gRPC port",
        "eps.xml:2:69: error: `interval` must be at least 1 ms",
        "eps.xml:3:33: error: invalid gRPC endpoint uri `127.0.0.1:1`",
        "eps.xml:4:49: error: cannot read certificates from",
    ] {
        assert!(all.contains(e), "missing `{e}` in:\n{all}");
    }
}
