//! Running Axon in production: the management API's tokens, graceful shutdown on SIGTERM,
//! and who gets `X-Axon-Trace`, with the real binary where a process is what is tested.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use axon::base::limits::{Limits, TracePolicy};

use crate::support::backend::{Backend, Canned};
use crate::support::binary::Binary;
use crate::support::{TestAxon, client, eventually};

const WRITE: &str = "write-token-0123456789abcdef";
/// `axon serve` on the folder `med` with its management API beyond loopback.
const BEYOND_LOOPBACK: [&str; 5] = [
    "--mediation",
    "med",
    "--no-grpc",
    "--management-bind",
    "0.0.0.0",
];
const READ: &str = "read-token-0123456789abcdef";

fn api(url: &str) -> String {
    format!(
        r#"<api name="Svc" context="/svc"><resource methods="GET"><inSequence><send><endpoint><address uri="{url}"/></endpoint></send></inSequence></resource></api>"#
    )
}

/// GET or POST `path` on `base` with an optional bearer token: (status, WWW-Authenticate,
/// body).
async fn call(base: &str, post: bool, path: &str, token: Option<&str>) -> (u16, String, String) {
    let c = client();
    let url = format!("http://{base}{path}");
    let mut req = if post { c.post(url) } else { c.get(url) };
    if let Some(token) = token {
        req = req.insert_header(("Authorization", format!("Bearer {token}")));
    }
    let mut resp = req.send().await.expect("management call");
    let challenge = resp
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = resp.body().await.expect("body");
    let body = String::from_utf8_lossy(&body).into_owned();
    (resp.status().as_u16(), challenge, body)
}

#[actix_rt::test]
async fn a_management_api_beyond_loopback_needs_a_token_and_separates_read_from_write() {
    let dir = tempfile::tempdir().expect("tempdir");
    crate::support::write(dir.path(), "med/api.xml", &api("http://127.0.0.1:1/"));
    // Beyond loopback without a token: refused at start, exit status 64.
    let refused = assert_cmd::Command::cargo_bin("axon")
        .expect("axon")
        .current_dir(dir.path())
        .args([
            "serve",
            "--mediation",
            "med",
            "--no-grpc",
            "--http-port",
            "0",
        ])
        .args(["--management-port", "0", "--management-bind", "0.0.0.0"])
        .env_remove("AXON_MANAGEMENT_TOKEN")
        .env_remove("AXON_MANAGEMENT_READ_TOKEN")
        .output()
        .expect("axon runs");
    assert_eq!(refused.status.code(), Some(64), "{refused:?}");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("--management-token-file"), "{stderr}");

    crate::support::write(dir.path(), "write-token", &format!("{WRITE}\n"));
    let axon = Binary::serve_env(
        dir.path(),
        &[
            &BEYOND_LOOPBACK[..],
            &["--management-token-file", "write-token"],
        ]
        .concat(),
        &[("AXON_MANAGEMENT_READ_TOKEN", READ)],
    );
    let m = axon.management.as_str();
    let (status, challenge, body) = call(m, false, "/health/actors", None).await;
    assert_eq!(status, 401, "{body}");
    assert!(challenge.starts_with("Bearer"), "{challenge}");
    assert!(body.contains("\"error\""), "{body}");
    assert_eq!(
        call(m, false, "/health/actors", Some("x".repeat(27).as_str()))
            .await
            .0,
        401
    );
    assert_eq!(call(m, false, "/health/actors", Some(READ)).await.0, 200);
    assert_eq!(call(m, false, "/health/actors", Some(WRITE)).await.0, 200);
    // The probes carry no secret.
    assert_eq!(call(m, false, "/health/ready", None).await.0, 200);
    assert_eq!(call(m, false, "/health/live", None).await.0, 200);
    // Changes take the write token only.
    let (status, _, body) = call(m, true, "/config/reload", Some(READ)).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("write token"), "{body}");
    assert_eq!(call(m, true, "/config/reload", None).await.0, 401);
    assert_eq!(call(m, true, "/config/reload", Some(WRITE)).await.0, 200);
    // Each refusal is logged with the client's address, never a Rust Debug form.
    eventually(Duration::from_secs(10), "the refusal logged", || {
        let logged = axon
            .output()
            .lines()
            .any(|l| l.contains("Management request refused") && l.contains("peer=127.0.0.1:"));
        async move { logged }
    })
    .await;
    assert!(!axon.output().contains("Some("), "{}", axon.output());
}

/// SIGTERM lands while clients send: `/health/ready` turns 503 at once, a connection made
/// during the shutdown delay is still served, and every request that was accepted gets its
/// answer, including those still waiting on the backend when the listeners close (the
/// backend takes longer than the delay).
#[actix_rt::test]
async fn sigterm_under_load_loses_no_request() {
    let backend = Backend::start(|seen| match seen.uri.ends_with("/fast") {
        true => Canned::ok("fast"),
        false => Canned {
            delay: Duration::from_millis(2500),
            ..Canned::ok("slow")
        },
    })
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    crate::support::write(dir.path(), "med/api.xml", &api(&backend.url("/")));
    let mut axon = Binary::serve(
        dir.path(),
        &[
            "--mediation",
            "med",
            "--no-grpc",
            "--shutdown-delay",
            "1500ms",
            "--shutdown-grace",
            "20s",
        ],
    );
    let http = axon.http.clone();
    let management = axon.management.clone();
    eventually(Duration::from_secs(10), "ready", || async {
        call(&management, false, "/health/ready", None).await.0 == 200
    })
    .await;
    // The load: clients on fresh connections until the "load balancer" (this test) sees
    // the pod not ready; each answer must be a 200.
    let removed = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::new();
    for _ in 0..8 {
        let (removed, answered, http) = (removed.clone(), answered.clone(), http.clone());
        clients.push(actix_rt::spawn(async move {
            let c = awc::Client::builder()
                .timeout(Duration::from_secs(30))
                .finish();
            let mut failures = Vec::new();
            while !removed.load(Ordering::Acquire) {
                match c
                    .get(format!("http://{http}/svc"))
                    .force_close()
                    .send()
                    .await
                {
                    Ok(r) if r.status() == 200 => {
                        answered.fetch_add(1, Ordering::AcqRel);
                    }
                    Ok(r) => failures.push(format!("status {}", r.status())),
                    Err(error) => failures.push(error.to_string()),
                }
            }
            failures
        }));
    }
    eventually(Duration::from_secs(10), "the load runs", || async {
        answered.load(Ordering::Acquire) >= 8
    })
    .await;
    axon.terminate();
    eventually(
        Duration::from_secs(5),
        "not ready after SIGTERM",
        || async { call(&management, false, "/health/ready", None).await.0 == 503 },
    )
    .await;
    removed.store(true, Ordering::Release);
    // Within the delay a new connection is still accepted and served (before the listener
    // closes); the client, which would keep it alive, is asked to close it.
    let late = client().get(format!("http://{http}/svc/fast")).send();
    let late = actix_rt::spawn(late);
    for handle in clients {
        let failures = handle.await.expect("client task");
        assert!(failures.is_empty(), "lost requests: {failures:?}");
    }
    let late = late
        .await
        .expect("late task")
        .expect("late request answered");
    assert_eq!(late.status(), 200);
    let connection = late.headers().get("connection").map(|v| v.as_bytes());
    assert_eq!(connection, Some(&b"close"[..]));
    let status = axon.wait_exit(Duration::from_secs(30)).await;
    assert!(status.success(), "exit {status:?}\n{}", axon.output());
    let log = axon.output();
    assert!(log.contains("Shutting down"), "{log}");
    assert!(!log.contains("answered 503"), "{log}");
}

#[actix_rt::test]
async fn the_trace_header_goes_only_to_requests_with_the_debug_header_when_loopback_is_off() {
    let backend = Backend::named("b").await;
    let limits = Limits {
        trace: TracePolicy {
            all: false,
            loopback: false,
            debug_header: Some("x-debug-trace".into()),
        },
        ..Limits::default()
    };
    let api = api(&backend.url("/"));
    let axon = TestAxon::start_with(&[("api.xml", &api)], limits).await;
    let plain = axon.get("/svc").await;
    assert_eq!(plain.status, 200);
    assert_eq!(plain.header("x-axon-trace"), None);
    let debug = axon
        .request("GET", "/svc", None, &[("X-Debug-Trace", "1")])
        .await;
    assert_eq!(debug.status, 200);
    assert!(
        debug.header("x-axon-trace").is_some(),
        "{:?}",
        debug.headers
    );
}

/// A path no API matches gets an error body like every other answer (JSON, or XML for an
/// XML client), and a 503 does not repeat its message in `detail`.
#[actix_rt::test]
async fn an_unmatched_path_gets_an_error_body_and_a_503_says_its_message_once() {
    let backend = Backend::named("b").await;
    let api = r#"<api name="Svc" context="/svc"><resource methods="GET"><inSequence><send><endpoint key="Backend"/></send></inSequence></resource></api>"#;
    let endpoint = format!(
        r#"<endpoint name="Backend"><address uri="{}"/></endpoint>"#,
        backend.url("/")
    );
    let axon = TestAxon::start(&[("api.xml", api), ("ep.xml", &endpoint)]).await;
    let json = axon.get("/nowhere").await;
    assert_eq!(json.status, 404);
    assert_eq!(json.json()["error"]["code"], 900906, "{}", json.text());
    let xml = axon
        .request(
            "POST",
            "/nowhere",
            Some(b"<a/>"),
            &[("Content-Type", "application/xml")],
        )
        .await;
    assert_eq!(xml.status, 404);
    assert!(xml.text().starts_with("<error>"), "{}", xml.text());

    axon.admin_post("/health/actors/Backend/off").await;
    let off = axon.get("/svc").await;
    assert_eq!(off.status, 503);
    let error = &off.json()["error"];
    assert!(
        !error["message"].as_str().unwrap_or("").is_empty(),
        "{error}"
    );
    assert_eq!(error["detail"], "", "{error}");
}

/// A gRPC call still waiting on its backend when the drain ends is answered UNAVAILABLE,
/// not cut.
#[actix_rt::test]
async fn a_grpc_call_still_running_when_the_drain_ends_is_answered_unavailable() {
    use prost::Message as _;

    use crate::support::grpc::pb::EchoRequest;
    use crate::support::grpc::{GRPC_HEADERS, GrpcBackend, raw_call, request};

    let backend = GrpcBackend::start("b1").await;
    let limits = Limits {
        drain_timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let endpoint = crate::grpc::grpc_endpoint("Echo", &backend.uri(), "");
    let axon = TestAxon::start_with(
        &[
            ("api.xml", &crate::grpc::echo_api("Echo")),
            ("ep.xml", &endpoint),
        ],
        limits,
    )
    .await;
    let addr = axon.server.grpc_addr().expect("grpc");
    let slow = EchoRequest {
        delay_ms: 10_000,
        ..request("slow")
    }
    .encode_to_vec();
    let call = actix_rt::spawn(async move {
        raw_call(addr, "/axon.test.Echo/Unary", &GRPC_HEADERS, &slow).await
    });
    eventually(
        Duration::from_secs(5),
        "the call at the backend",
        || async { backend.calls() == 1 },
    )
    .await;
    let TestAxon { server, dir, .. } = axon;
    let stopping = actix_rt::spawn(server.stop(true));
    let reply = call.await.expect("an answer, not a cut");
    assert_eq!(reply.grpc_status(), Some(14), "UNAVAILABLE: {reply:?}");
    assert!(reply.grpc_message().contains("shutting down"), "{reply:?}");
    stopping.await.expect("the server stops");
    drop(dir);
}

/// An HTTPS client of the management API trusting only `cert`, on a fresh connection.
fn trusting(cert: &rcgen::CertifiedKey<rcgen::KeyPair>) -> awc::Client {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).expect("root");
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    awc::Client::builder()
        .connector(awc::Connector::new().rustls_0_23(Arc::new(config)))
        .finish()
}

/// TLS on the management port: served over HTTPS with the configured certificate, the
/// token still required; a reload reads the certificate again, as the traffic port's.
#[actix_rt::test]
async fn the_management_api_can_be_served_over_tls() {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("cert");
    let dir = tempfile::tempdir().expect("tempdir");
    crate::support::write(dir.path(), "med/api.xml", &api("http://127.0.0.1:1/"));
    crate::support::write(dir.path(), "cert.pem", &cert.cert.pem());
    crate::support::write(dir.path(), "key.pem", &cert.signing_key.serialize_pem());
    let axon = Binary::serve_env(
        dir.path(),
        &[
            "--mediation",
            "med",
            "--no-grpc",
            "--management-tls-cert",
            "cert.pem",
            "--management-tls-key",
            "key.pem",
        ],
        &[("AXON_MANAGEMENT_TOKEN", WRITE)],
    );
    let c = trusting(&cert);
    let port = axon.management.rsplit_once(':').expect("port").1;
    let url = format!("https://localhost:{port}/health/actors");
    let refused = c.get(&url).send().await.expect("an HTTPS answer");
    assert_eq!(refused.status(), 401);
    let served = c
        .get(&url)
        .insert_header(("Authorization", format!("Bearer {WRITE}")))
        .send()
        .await
        .expect("an HTTPS answer");
    assert_eq!(served.status(), 200);
    // Plain HTTP on the TLS port gets no answer from the API.
    let plain = client()
        .get(format!("http://{}/health/live", axon.management))
        .send()
        .await;
    assert!(plain.map_or(true, |r| r.status() != 200));

    let next = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("cert");
    crate::support::write(dir.path(), "cert.pem", &next.cert.pem());
    crate::support::write(dir.path(), "key.pem", &next.signing_key.serialize_pem());
    let reload = format!("https://localhost:{port}/config/reload");
    let reloaded = trusting(&cert)
        .post(&reload)
        .insert_header(("Authorization", format!("Bearer {WRITE}")))
        .send()
        .await
        .expect("reload answered");
    assert_eq!(reloaded.status(), 200);
    let renewed = trusting(&next)
        .get(&url)
        .insert_header(("Authorization", format!("Bearer {WRITE}")))
        .send()
        .await
        .expect("the new certificate is served");
    assert_eq!(renewed.status(), 200);
    assert!(
        trusting(&cert).get(&url).send().await.is_err(),
        "the old certificate is still served"
    );
}

/// mTLS on the management port: beyond loopback without a token when client certificates
/// are required; a client with a certificate from the CA is served, one without is not.
#[actix_rt::test]
async fn client_certificates_guard_the_management_api_instead_of_a_token() {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};

    let server = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("cert");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().expect("key");
    let ca_cert = ca_params.self_signed(&ca_key).expect("ca");
    let issuer = Issuer::new(ca_params, ca_key);
    let client_key = KeyPair::generate().expect("key");
    let client_cert = CertificateParams::new(vec!["operator".to_owned()])
        .expect("params")
        .signed_by(&client_key, &issuer)
        .expect("client cert");

    let dir = tempfile::tempdir().expect("tempdir");
    crate::support::write(dir.path(), "med/api.xml", &api("http://127.0.0.1:1/"));
    crate::support::write(dir.path(), "cert.pem", &server.cert.pem());
    crate::support::write(dir.path(), "key.pem", &server.signing_key.serialize_pem());
    crate::support::write(dir.path(), "ca.pem", &ca_cert.pem());
    let axon = Binary::serve_env(
        dir.path(),
        &[
            &BEYOND_LOOPBACK[..],
            &[
                "--management-tls-cert",
                "cert.pem",
                "--management-tls-key",
                "key.pem",
            ],
            &["--management-client-ca", "ca.pem"],
        ]
        .concat(),
        &[],
    );
    let https = |identity: Option<(rustls::pki_types::CertificateDer<'static>, Vec<u8>)>| {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(server.cert.der().clone()).expect("root");
        let builder = rustls::ClientConfig::builder().with_root_certificates(roots);
        let config = match identity {
            Some((cert, key)) => builder
                .with_client_auth_cert(
                    vec![cert],
                    rustls::pki_types::PrivatePkcs8KeyDer::from(key).into(),
                )
                .expect("client auth"),
            None => builder.with_no_client_auth(),
        };
        awc::Client::builder()
            .connector(awc::Connector::new().rustls_0_23(Arc::new(config)))
            .finish()
    };
    let port = axon.management.rsplit_once(':').expect("port").1;
    let url = format!("https://localhost:{port}/health/actors");
    let identity = (client_cert.der().clone(), client_key.serialize_der());
    let served = https(Some(identity))
        .get(&url)
        .send()
        .await
        .expect("served");
    assert_eq!(served.status(), 200);
    let anonymous = https(None).get(&url).send().await;
    assert!(anonymous.is_err(), "served without a client certificate");
}
