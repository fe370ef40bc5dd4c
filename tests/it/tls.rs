//! TLS at both ends: the HTTPS listener (HTTP/1.1 and HTTP/2 by ALPN, certificates chosen
//! by SNI and reloaded under traffic, client certificates) and backends behind a private CA
//! or asking for Axon's client certificate. Every certificate is made here with rcgen.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use axon::base::limits::Limits;
use axon::base::tls::{BackendTls, CertFiles, ClientAuth, ServerTls};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use crate::support::{TestAxon, eventually, write};

/// A private certificate authority and the folder its files are written to.
struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
    dir: tempfile::TempDir,
}

/// A certificate the CA issued, with its key, as PEM and as files.
struct Issued {
    pem: String,
    key_pem: String,
    files: CertFiles,
}

impl Ca {
    fn new() -> Ca {
        let key = KeyPair::generate().expect("key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "Axon test CA");
        let pem = params.self_signed(&key).expect("CA").pem();
        let dir = tempfile::tempdir().expect("dir");
        write(dir.path(), "ca.pem", &pem);
        Ca {
            issuer: Issuer::new(params, key),
            pem,
            dir,
        }
    }

    fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// A certificate for `names` with common name `cn`, written as `<file>.pem` and
    /// `<file>.key`.
    fn issue(&self, file: &str, cn: &str, names: &[&str]) -> Issued {
        let key = KeyPair::generate().expect("key");
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names).expect("params");
        params.distinguished_name.push(DnType::CommonName, cn);
        let pem = params.signed_by(&key, &self.issuer).expect("issue").pem();
        let key_pem = key.serialize_pem();
        let files = CertFiles {
            cert: self.dir.path().join(format!("{file}.pem")),
            key: self.dir.path().join(format!("{file}.key")),
        };
        write_pair(&files, &pem, &key_pem);
        Issued {
            pem,
            key_pem,
            files,
        }
    }
}

fn write_pair(files: &CertFiles, pem: &str, key_pem: &str) {
    std::fs::write(&files.cert, pem).expect("write cert");
    std::fs::write(&files.key, key_pem).expect("write key");
}

fn der(pem: &str) -> CertificateDer<'static> {
    use rustls::pki_types::pem::PemObject as _;
    CertificateDer::from_pem_slice(pem.as_bytes()).expect("pem")
}

/// A client configuration trusting `ca`, offering `alpn`, showing `client` when given.
fn client_config(ca: &Ca, alpn: &[&[u8]], client: Option<&Issued>) -> rustls::ClientConfig {
    use rustls::pki_types::pem::PemObject as _;
    axon::base::tls::install_crypto_provider();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(der(&ca.pem)).expect("root");
    let builder = rustls::ClientConfig::builder().with_root_certificates(roots);
    let mut config = match client {
        Some(c) => builder
            .with_client_auth_cert(
                vec![der(&c.pem)],
                PrivateKeyDer::from_pem_slice(c.key_pem.as_bytes()).expect("key"),
            )
            .expect("client cert"),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    config
}

/// An awc client over TLS (HTTP/2 when `h2`, else HTTP/1.1).
fn https_client(ca: &Ca, h2: bool, client: Option<&Issued>) -> awc::Client {
    let alpn: &[&[u8]] = if h2 { &[b"h2"] } else { &[b"http/1.1"] };
    let connector = awc::Connector::new().rustls_0_23(Arc::new(client_config(ca, alpn, client)));
    awc::Client::builder().connector(connector).finish()
}

/// The end-entity certificate a handshake asking for `sni` gets from `addr`.
async fn served_certificate(ca: &Ca, addr: std::net::SocketAddr, sni: &str) -> Vec<u8> {
    let config = Arc::new(client_config(ca, &[b"http/1.1"], None));
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let name = ServerName::try_from(sni.to_owned()).expect("name");
    let tls = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .expect("handshake");
    let chain = tls.get_ref().1.peer_certificates().expect("certificates");
    chain[0].to_vec()
}

fn tls(certs: Vec<CertFiles>, client_auth: ClientAuth) -> ServerTls {
    ServerTls {
        certs,
        client_auth,
        ..ServerTls::default()
    }
}

const WHO: &str = r#"<api xmlns="http://ws.apache.org/ns/synapse" name="Who" context="/who">
  <resource methods="GET"><inSequence>
    <payloadFactory media-type="text"><format>subject=$1</format>
      <args><arg expression="get-property('SSL_CLIENT_SUBJECT')"/></args></payloadFactory>
    <respond/>
  </inSequence></resource></api>"#;

async fn get(client: &awc::Client, url: &str) -> Result<(awc::http::Version, u16, String), String> {
    let mut resp = client
        .get(url)
        .send()
        .await
        .map_err(|error| error.to_string())?;
    let body = resp.body().await.map_err(|error| error.to_string())?;
    Ok((
        resp.version(),
        resp.status().as_u16(),
        String::from_utf8_lossy(&body).into_owned(),
    ))
}

#[actix_rt::test]
async fn https_serves_http1_and_http2_by_alpn_and_picks_the_certificate_by_sni() {
    let ca = Ca::new();
    let a = ca.issue("a", "a", &["localhost", "a.test"]);
    let b = ca.issue("b", "b", &["*.b.test"]);
    let axon = TestAxon::start_https(
        &[("apis/who.xml", WHO)],
        tls(vec![a.files.clone(), b.files.clone()], ClientAuth::None),
    )
    .await;
    let url = format!("https://localhost:{}/who", axon.https_addr().port());
    for (h2, version) in [
        (false, awc::http::Version::HTTP_11),
        (true, awc::http::Version::HTTP_2),
    ] {
        let reply = get(&https_client(&ca, h2, None), &url)
            .await
            .expect("HTTPS");
        assert_eq!((reply.0, reply.1), (version, 200), "{}", reply.2);
        // No client certificate: the property is not set.
        assert_eq!(reply.2, "subject=");
    }
    // A connection a client keeps open counts on the https front's gauge.
    let held = https_client(&ca, false, None);
    get(&held, &url).await.expect("HTTPS");
    let mut scrape = crate::support::client()
        .get(axon.admin_url("/metrics"))
        .send()
        .await
        .expect("scrape");
    let metrics = scrape.body().await.expect("metrics");
    let open = String::from_utf8_lossy(&metrics)
        .lines()
        .find_map(|l| l.strip_prefix(r#"axon_front_open_connections{front="https"} "#))
        .and_then(|n| n.parse::<u64>().ok());
    assert!(open.is_some_and(|n| n >= 1), "https gauge: {open:?}");
    drop(held);
    let addr = axon.https_addr();
    assert_eq!(
        served_certificate(&ca, addr, "a.test").await,
        der(&a.pem).to_vec()
    );
    assert_eq!(
        served_certificate(&ca, addr, "x.b.test").await,
        der(&b.pem).to_vec()
    );
    // A name no certificate carries gets the first one (whose check then fails at the
    // client: it does not name that host).
    let config = Arc::new(client_config(&ca, &[b"http/1.1"], None));
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let other = ServerName::try_from("c.test".to_owned()).expect("name");
    let refused = tokio_rustls::TlsConnector::from(config)
        .connect(other, tcp)
        .await;
    assert!(refused.is_err(), "a certificate for c.test was served");
    // Plain HTTP still answers on the HTTP port.
    assert_eq!(axon.get("/who").await.status, 200);
}

#[actix_rt::test]
async fn mtls_accepts_a_client_of_the_ca_with_its_subject_and_refuses_others() {
    let ca = Ca::new();
    let server = ca.issue("server", "server", &["localhost"]);
    let client = ca.issue("client", "client-1", &[]);
    let axon = TestAxon::start_https(
        &[("apis/who.xml", WHO)],
        tls(
            vec![server.files.clone()],
            ClientAuth::Required(ca.ca_file()),
        ),
    )
    .await;
    let url = format!("https://localhost:{}/who", axon.https_addr().port());
    let reply = get(&https_client(&ca, false, Some(&client)), &url)
        .await
        .expect("a client of the CA is served");
    assert_eq!(reply.1, 200, "{}", reply.2);
    assert!(reply.2.contains("CN=client-1"), "{}", reply.2);

    // No certificate, or one from another CA: refused in the handshake.
    let anonymous = get(&https_client(&ca, false, None), &url).await;
    assert!(anonymous.is_err(), "{anonymous:?}");
    let stranger_ca = Ca::new();
    let stranger = stranger_ca.issue("stranger", "stranger", &[]);
    let foreign = get(&https_client(&ca, false, Some(&stranger)), &url).await;
    assert!(foreign.is_err(), "{foreign:?}");

    // The bundle is read again on reload: now the other CA's clients are the ones served.
    std::fs::write(ca.ca_file(), &stranger_ca.pem).expect("write bundle");
    let (status, summary) = axon.admin_post("/config/reload").await;
    assert_eq!(status, 200, "{summary}");
    let reply = get(&https_client(&ca, false, Some(&stranger)), &url)
        .await
        .expect("a client of the new CA is served");
    assert!(reply.2.contains("CN=stranger"), "{}", reply.2);
    let former = get(&https_client(&ca, false, Some(&client)), &url).await;
    assert!(former.is_err(), "{former:?}");
}

#[actix_rt::test]
async fn proxy_transports_choose_the_listener() {
    let ca = Ca::new();
    let server = ca.issue("server", "server", &["localhost"]);
    let proxy = |name: &str, transports: &str| {
        format!(
            r#"<proxy xmlns="http://ws.apache.org/ns/synapse" name="{name}" transports="{transports}"><target><inSequence>
            <payloadFactory media-type="text"><format>{name}</format><args/></payloadFactory><respond/>
            </inSequence></target></proxy>"#
        )
    };
    let secure = proxy("Secure", "https");
    let plain = proxy("Plain", "http");
    let axon = TestAxon::start_https(
        &[
            ("proxies/secure.xml", &secure),
            ("proxies/plain.xml", &plain),
        ],
        tls(vec![server.files.clone()], ClientAuth::None),
    )
    .await;
    let https = https_client(&ca, false, None);
    let at = |path: &str| format!("https://localhost:{}{path}", axon.https_addr().port());
    let over_tls = get(&https, &at("/services/Secure")).await.expect("HTTPS");
    assert_eq!((over_tls.1, over_tls.2.as_str()), (200, "Secure"));
    assert_eq!(
        get(&https, &at("/services/Plain")).await.expect("HTTPS").1,
        404
    );
    assert_eq!(axon.get("/services/Secure").await.status, 404);
    assert_eq!(axon.get("/services/Plain").await.status, 200);
}

#[actix_rt::test]
async fn certificates_reload_under_traffic_without_a_failed_request() {
    let ca = Ca::new();
    let first = ca.issue("first", "first", &["localhost"]);
    let axon = TestAxon::start_https(
        &[("apis/who.xml", WHO)],
        tls(vec![first.files.clone()], ClientAuth::None),
    )
    .await;
    let url = format!("https://localhost:{}/who", axon.https_addr().port());
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let traffic = {
        let (stop, ok, failed) = (stop.clone(), ok.clone(), failed.clone());
        // Two keep-alive clients: their connections stay open across the reload.
        let clients: Vec<awc::Client> = (0..2).map(|_| https_client(&ca, false, None)).collect();
        let url = url.clone();
        actix_rt::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                match get(&clients[i % 2], &url).await {
                    Ok((_, 200, _)) => ok.fetch_add(1, Ordering::Relaxed),
                    _ => failed.fetch_add(1, Ordering::Relaxed),
                };
                i += 1;
            }
        })
    };
    eventually(Duration::from_secs(10), "traffic before the reload", || {
        let ok = ok.clone();
        async move { ok.load(Ordering::Relaxed) > 5 }
    })
    .await;
    // New certificate in the same files, then a reload: new handshakes get it.
    let second = Ca::issue(&ca, "second", "second", &["localhost"]);
    write_pair(&first.files, &second.pem, &second.key_pem);
    let (status, summary) = axon.admin_post("/config/reload").await;
    assert_eq!(status, 200, "{summary}");
    let addr = axon.https_addr();
    let wanted = der(&second.pem).to_vec();
    let ca = &ca;
    eventually(Duration::from_secs(10), "the new certificate", || {
        let wanted = wanted.clone();
        async move { served_certificate(ca, addr, "localhost").await == wanted }
    })
    .await;
    let before = ok.load(Ordering::Relaxed);
    eventually(Duration::from_secs(10), "traffic after the reload", || {
        let ok = ok.clone();
        async move { ok.load(Ordering::Relaxed) > before + 5 }
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    traffic.await.expect("traffic task");
    assert_eq!(failed.load(Ordering::Relaxed), 0);

    // A key that does not match its certificate: the reload is refused, the served
    // certificate stays.
    std::fs::write(&first.files.key, &first.key_pem).expect("write key");
    let (status, refused) = axon.admin_post("/config/reload").await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(served_certificate(ca, addr, "localhost").await, wanted);
}

/// An HTTPS backend answering "secure", with `server`'s certificate; it asks for a client
/// certificate of `client_ca` when given.
async fn tls_backend(server: &Issued, client_ca: Option<&Path>) -> u16 {
    let client_auth = client_ca.map_or(ClientAuth::None, |ca| ClientAuth::Required(ca.into()));
    let (config, _) = tls(vec![server.files.clone()], client_auth)
        .config()
        .expect("backend TLS");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let server = actix_web::HttpServer::new(|| {
        actix_web::App::new().default_service(actix_web::web::to(|| async { "secure" }))
    })
    .workers(1)
    .disable_signals()
    .listen_rustls_0_23(listener, config)
    .expect("listen")
    .run();
    actix_rt::spawn(server);
    port
}

async fn axon_to(port: u16, backend_tls: Arc<BackendTls>) -> TestAxon {
    let api = r#"<api xmlns="http://ws.apache.org/ns/synapse" name="Front" context="/front">
        <resource methods="GET"><inSequence><send><endpoint key="Sec"/></send></inSequence></resource></api>"#;
    let endpoint = format!(
        r#"<endpoint xmlns="http://ws.apache.org/ns/synapse" name="Sec"><address uri="https://localhost:{port}/"/></endpoint>"#
    );
    let limits = Limits {
        backend_tls,
        ..Limits::default()
    };
    TestAxon::start_with(
        &[("apis/front.xml", api), ("endpoints/sec.xml", &endpoint)],
        limits,
    )
    .await
}

fn backend_tls(ca: Option<&Path>, client: Option<&CertFiles>) -> Arc<BackendTls> {
    axon::base::tls::install_crypto_provider();
    Arc::new(BackendTls::load(ca, false, client).expect("backend TLS"))
}

#[actix_rt::test]
async fn a_backend_of_a_private_ca_is_reached_with_the_bundle_and_refused_without_it() {
    let ca = Ca::new();
    let port = tls_backend(&ca.issue("backend", "backend", &["localhost"]), None).await;
    let trusting = axon_to(port, backend_tls(Some(&ca.ca_file()), None)).await;
    let reply = trusting.get("/front").await;
    assert_eq!((reply.status, reply.text().as_str()), (200, "secure"));

    // The public roots do not vouch for it: the handshake fails before anything is sent,
    // which is a connection failure (502, 101503) like any other.
    let public = axon_to(port, Arc::default()).await;
    let reply = public.get("/front").await;
    assert_eq!(reply.status, 502, "{}", reply.text());
    assert_eq!(reply.header("x-axon-error-code").as_deref(), Some("101503"));
    let report = public.endpoint("Sec").await;
    let detail = report["last_error"]["detail"].as_str().unwrap_or("");
    assert!(detail.contains("certificate"), "{report}");
}

#[actix_rt::test]
async fn a_backend_asking_for_a_client_certificate_gets_axons() {
    let ca = Ca::new();
    let backend = ca.issue("backend", "backend", &["localhost"]);
    let port = tls_backend(&backend, Some(&ca.ca_file())).await;
    let me = ca.issue("axon", "axon", &[]);
    let with_cert = axon_to(port, backend_tls(Some(&ca.ca_file()), Some(&me.files))).await;
    let reply = with_cert.get("/front").await;
    assert_eq!((reply.status, reply.text().as_str()), (200, "secure"));

    let without = axon_to(port, backend_tls(Some(&ca.ca_file()), None)).await;
    let reply = without.get("/front").await;
    assert_eq!(reply.status, 502, "{}", reply.text());
}

#[actix_rt::test]
async fn an_endpoint_trusts_its_own_ca_and_may_opt_out_of_the_host_name_check_with_a_warning() {
    let ca = Ca::new();
    // The backend's certificate names another host than the one Axon dials.
    let port = tls_backend(&ca.issue("backend", "backend", &["backend.test"]), None).await;
    let endpoint = |name: &str, extra: &str| {
        format!(
            r#"<endpoint xmlns="http://ws.apache.org/ns/synapse" name="{name}"><address uri="https://localhost:{port}/" caCertificate="ca.pem"{extra}/></endpoint>"#
        )
    };
    let lax = endpoint("Lax", r#" hostnameVerifier="AllowAll""#);
    let strict = endpoint("Strict", "");
    let api = r#"<api xmlns="http://ws.apache.org/ns/synapse" name="Front" context="/front">
        <resource methods="GET" uri-template="/lax"><inSequence><send><endpoint key="Lax"/></send></inSequence></resource>
        <resource methods="GET" uri-template="/strict"><inSequence><send><endpoint key="Strict"/></send></inSequence></resource></api>"#;
    let files = [
        ("apis/front.xml", api),
        ("endpoints/lax.xml", lax.as_str()),
        ("endpoints/strict.xml", strict.as_str()),
        ("endpoints/ca.pem", ca.pem.as_str()),
    ];
    let axon = TestAxon::start(&files).await;
    let reply = axon.get("/front/lax").await;
    assert_eq!((reply.status, reply.text().as_str()), (200, "secure"));
    let reply = axon.get("/front/strict").await;
    assert_eq!(reply.status, 502, "{}", reply.text());

    let dir = tempfile::tempdir().expect("dir");
    for (rel, text) in files {
        write(dir.path(), rel, text);
    }
    let out = crate::support::axon_check(dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("lax.xml") && stderr.contains("hostnameVerifier=\"AllowAll\""),
        "{stderr}"
    );
}

#[actix_rt::test]
async fn grpc_leaves_use_the_server_wide_ca_and_the_host_name_opt_out() {
    use crate::grpc::{echo_api, grpc_endpoint};
    use crate::support::grpc::pb::echo_client::EchoClient;
    use crate::support::grpc::{GrpcBackend, request};
    let ca = Ca::new();
    let cert = ca.issue("backend", "backend", &["backend.test"]);
    let backend = GrpcBackend::start_tls("over-tls", &cert.pem, &cert.key_pem).await;
    let uri = format!("https://localhost:{}", backend.port);
    let trust = backend_tls(Some(&ca.ca_file()), None);
    let axon_with = |opt_out: &'static str| {
        let endpoint =
            grpc_endpoint("Echo", &uri, "").replace("<grpc ", &format!("<grpc {opt_out}"));
        let trust = trust.clone();
        async move {
            let limits = Limits {
                backend_tls: trust,
                ..Limits::default()
            };
            TestAxon::start_with(
                &[("api.xml", &echo_api("Echo")), ("ep.xml", &endpoint)],
                limits,
            )
            .await
        }
    };
    let lax = axon_with(r#"hostnameVerifier="AllowAll" "#).await;
    let mut c = EchoClient::connect(lax.grpc_url()).await.expect("connect");
    let reply = c.unary(request("x")).await.expect("over TLS").into_inner();
    assert_eq!(reply.server, "over-tls");

    // The same CA, but the certificate names backend.test, not localhost.
    let strict = axon_with("").await;
    let mut c = EchoClient::connect(strict.grpc_url())
        .await
        .expect("connect");
    let status = c
        .unary(request("x"))
        .await
        .expect_err("the name is checked");
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    assert_eq!(backend.calls(), 1);
}
