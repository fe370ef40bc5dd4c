//! Test harness: Axon started in-process on port 0, fake backends, and polling helpers.

pub mod backend;
pub mod binary;
pub mod grpc;
pub mod scripted;

use std::net::TcpListener;
use std::path::Path;
use std::time::Duration;

use axon::base::limits::Limits;
use axon::engine::Mediation;
use axon::server::{Server, ServerOptions};
use serde_json::Value;
use tokio::time::Instant;

/// An Axon server running in this test's actix system.
pub struct TestAxon {
    pub server: Server,
    pub dir: tempfile::TempDir,
    pub client: awc::Client,
}

impl TestAxon {
    /// Writes `files` (path, XML) into a fresh mediation folder and starts Axon on it.
    pub async fn start(files: &[(&str, &str)]) -> TestAxon {
        Self::start_with(files, Limits::default()).await
    }

    /// As [`TestAxon::start`], with explicit limits.
    pub async fn start_with(files: &[(&str, &str)], limits: Limits) -> TestAxon {
        Self::start_full(files, limits, None).await
    }

    /// As [`TestAxon::start`], with a single HTTP worker: every request shares its thread.
    pub async fn start_one_worker(files: &[(&str, &str)]) -> TestAxon {
        Self::start_on(files, Limits::default(), None, 1).await
    }

    /// As [`TestAxon::start`], with the gRPC listener on TLS.
    pub async fn start_grpc_tls(
        files: &[(&str, &str)],
        tls: std::sync::Arc<rustls::ServerConfig>,
    ) -> TestAxon {
        Self::start_full(files, Limits::default(), Some(tls)).await
    }

    /// As [`TestAxon::start_grpc_tls`], with explicit limits.
    pub async fn start_grpc_tls_with(
        files: &[(&str, &str)],
        tls: std::sync::Arc<rustls::ServerConfig>,
        limits: Limits,
    ) -> TestAxon {
        Self::start_full(files, limits, Some(tls)).await
    }

    async fn start_full(
        files: &[(&str, &str)],
        limits: Limits,
        grpc_tls: Option<std::sync::Arc<rustls::ServerConfig>>,
    ) -> TestAxon {
        Self::start_on(files, limits, grpc_tls, 2).await
    }

    async fn start_on(
        files: &[(&str, &str)],
        limits: Limits,
        grpc_tls: Option<std::sync::Arc<rustls::ServerConfig>>,
        workers: usize,
    ) -> TestAxon {
        let dir = tempfile::tempdir().expect("temp dir");
        for (rel, text) in files {
            write(dir.path(), rel, text);
        }
        Self::start_in(dir, limits, grpc_tls, workers, None, None).await
    }

    /// As [`TestAxon::start_with`], with the management API on a listener the caller bound
    /// (so the test knows its port before Axon starts).
    pub async fn start_with_management(
        files: &[(&str, &str)],
        limits: Limits,
        management: TcpListener,
    ) -> TestAxon {
        let dir = tempfile::tempdir().expect("temp dir");
        for (rel, text) in files {
            write(dir.path(), rel, text);
        }
        Self::start_in(dir, limits, None, 2, Some(management), None).await
    }

    /// Starts Axon on a mediation folder the caller filled (binary files, such as a `.car`).
    pub async fn start_dir_with(dir: tempfile::TempDir, limits: Limits) -> TestAxon {
        Self::start_in(dir, limits, None, 2, None, None).await
    }

    /// Starts Axon with an HTTPS listener serving `tls` (see [`TestAxon::https_addr`]).
    pub async fn start_https(files: &[(&str, &str)], tls: axon::base::tls::ServerTls) -> TestAxon {
        let dir = tempfile::tempdir().expect("temp dir");
        for (rel, text) in files {
            write(dir.path(), rel, text);
        }
        Self::start_in(dir, Limits::default(), None, 2, None, Some(tls)).await
    }

    async fn start_in(
        dir: tempfile::TempDir,
        limits: Limits,
        grpc_tls: Option<std::sync::Arc<rustls::ServerConfig>>,
        workers: usize,
        management: Option<TcpListener>,
        https: Option<axon::base::tls::ServerTls>,
    ) -> TestAxon {
        axon::base::tls::install_crypto_provider();
        let config = match Mediation::load(dir.path()) {
            Ok(c) => c,
            Err(diags) => panic!("test configuration is invalid:\n{diags}"),
        };
        let options = ServerOptions {
            mediation_dir: dir.path().to_path_buf(),
            http: TcpListener::bind("127.0.0.1:0").expect("bind"),
            management: management
                .unwrap_or_else(|| TcpListener::bind("127.0.0.1:0").expect("bind")),
            grpc: Some(TcpListener::bind("127.0.0.1:0").expect("bind")),
            grpc_tls,
            https: https.map(|tls| (TcpListener::bind("127.0.0.1:0").expect("bind"), tls)),
            workers: Some(workers),
            limits,
            management_hosts: Vec::new(),
            management_access: Default::default(),
        };
        let server = Server::start(config, options).await.expect("server starts");
        let axon = TestAxon {
            server,
            dir,
            client: client(),
        };
        axon.wait_ready().await;
        axon
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.server.http_addr(), path)
    }

    /// The HTTPS listener's address (started with [`TestAxon::start_https`]).
    pub fn https_addr(&self) -> std::net::SocketAddr {
        self.server.https_addr().expect("the HTTPS listener runs")
    }

    /// The gRPC listener, as a URI for tonic clients.
    pub fn grpc_url(&self) -> String {
        let addr = self.server.grpc_addr().expect("the gRPC front runs");
        format!("http://{addr}")
    }

    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{}", self.server.management_addr(), path)
    }

    /// GET on the traffic port: (status, headers, body).
    pub async fn get(&self, path: &str) -> Reply {
        self.request("GET", path, None, &[]).await
    }

    pub async fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let method = awc::http::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.client.request(method, self.url(path));
        for (k, v) in headers {
            req = req.insert_header((*k, *v));
        }
        let mut resp = match body {
            Some(b) => req.send_body(b.to_vec()).await,
            None => req.send().await,
        }
        .expect("request to axon");
        let body = resp.body().limit(64 * 1024 * 1024).await.expect("body");
        Reply {
            status: resp.status().as_u16(),
            headers: resp.headers().clone(),
            body: body.to_vec(),
        }
    }

    /// GET on the management API, parsed as JSON.
    pub async fn admin(&self, path: &str) -> (u16, Value) {
        let mut resp = self
            .client
            .get(self.admin_url(path))
            .send()
            .await
            .expect("admin request");
        let status = resp.status().as_u16();
        let json = resp
            .json::<Value>()
            .limit(4 * 1024 * 1024)
            .await
            .unwrap_or(Value::Null);
        (status, json)
    }

    /// POST on the management API, parsed as JSON.
    pub async fn admin_post(&self, path: &str) -> (u16, Value) {
        let mut resp = self
            .client
            .post(self.admin_url(path))
            .send()
            .await
            .expect("admin request");
        let status = resp.status().as_u16();
        let json = resp
            .json::<Value>()
            .limit(4 * 1024 * 1024)
            .await
            .unwrap_or(Value::Null);
        (status, json)
    }

    /// POST with a JSON body on the management API, parsed as JSON.
    pub async fn admin_post_json(&self, path: &str, body: &Value) -> (u16, Value) {
        let mut resp = self
            .client
            .post(self.admin_url(path))
            .send_json(body)
            .await
            .expect("admin request");
        let status = resp.status().as_u16();
        let json = resp
            .json::<Value>()
            .limit(4 * 1024 * 1024)
            .await
            .unwrap_or(Value::Null);
        (status, json)
    }

    /// The health report of endpoint `name`.
    pub async fn endpoint(&self, name: &str) -> Value {
        let (status, json) = self.admin(&format!("/health/actors/{name}")).await;
        assert_eq!(status, 200, "no actor {name}: {json}");
        json
    }

    pub async fn state(&self, name: &str) -> String {
        self.endpoint(name).await["state"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    async fn wait_ready(&self) {
        eventually(Duration::from_secs(10), "readiness", || async {
            self.admin("/health/ready").await.0 == 200
        })
        .await;
    }

    /// Rewrites a file of the mediation folder (for reload tests).
    pub fn write(&self, rel: &str, text: &str) {
        write(self.dir.path(), rel, text);
    }
}

pub struct Reply {
    pub status: u16,
    pub headers: awc::http::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|error| panic!("not JSON ({error}): {}", self.text()))
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
}

pub fn client() -> awc::Client {
    axon::base::tls::install_crypto_provider();
    awc::Client::builder()
        .timeout(Duration::from_secs(30))
        .finish()
}

pub fn write(dir: &Path, rel: &str, text: &str) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, text).expect("write");
}

/// Polls `check` until it is true, failing the test after `within`.
pub async fn eventually<F, Fut>(within: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    loop {
        if check().await {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The Python with the third-party test clients (zeep, grpcio), installed by `scripts/test`.
pub fn python() -> String {
    std::env::var("AXON_TEST_PYTHON").unwrap_or_else(|_| {
        panic!("AXON_TEST_PYTHON is not set: run scripts/test, which installs the Python test clients into .venv")
    })
}

/// Runs the real `axon check` on `dir`, as a user would.
pub fn axon_check(dir: &Path) -> std::process::Output {
    assert_cmd::Command::cargo_bin("axon")
        .expect("the axon binary is built")
        .arg("check")
        .arg(dir)
        .output()
        .expect("axon check runs")
}

/// A port on 127.0.0.1 with nothing listening (connections are refused) for the rest of
/// the run: see [`refuse_on`].
pub fn dead_port() -> u16 {
    refuse_on(0).expect("a free port on 127.0.0.1")
}

/// Sockets that hold ports bound but never listening: connecting to them is refused, and
/// no other test's server can be given the port (tests run in parallel; a port merely
/// closed could be handed out again and answer).
static REFUSING: std::sync::Mutex<Vec<tokio::net::TcpSocket>> = std::sync::Mutex::new(Vec::new());

/// Keeps `port` (0: any free one) refusing connections until the test process ends, and
/// returns it. `None` when the port is taken.
pub fn refuse_on(port: u16) -> Option<u16> {
    let socket = tokio::net::TcpSocket::new_v4().ok()?;
    // A stopped server leaves connections in TIME_WAIT on its port.
    socket.set_reuseaddr(port != 0).ok()?;
    socket.bind(([127, 0, 0, 1], port).into()).ok()?;
    let port = socket.local_addr().ok()?.port();
    REFUSING.lock().ok()?.push(socket);
    Some(port)
}

/// A listener on `port`, kept refusing until now (a dead backend coming back).
pub fn rebind(port: u16) -> TcpListener {
    if let Ok(mut refusing) = REFUSING.lock() {
        refusing.retain(|s| s.local_addr().map_or(true, |a| a.port() != port));
    }
    TcpListener::bind(("127.0.0.1", port)).expect("rebind a port kept for a backend")
}

/// Kills the child on drop so a failing test leaves no process behind.
pub struct Child(pub std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        // The child may have exited already; either way it is gone afterwards.
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

/// `axon serve` (the built binary) with its traffic and management ports chosen by the
/// system, logging at `level` to a piped standard error.
pub fn axon_serve_command(level: &str) -> std::process::Command {
    let mut command = std::process::Command::new(assert_cmd::cargo::cargo_bin("axon"));
    command
        .args(["serve", "--http-port", "0", "--management-port", "0"])
        .env("AXON_LOG", level)
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null());
    command
}

/// `axon serve` on the folder `mediation`, every port chosen by the system, logging at
/// `level` to a piped standard error; `configure` adds to the command.
pub fn axon_serve(
    mediation: &Path,
    level: &str,
    configure: impl FnOnce(&mut std::process::Command),
) -> Child {
    let mut command = axon_serve_command(level);
    command
        .args(["--grpc-port", "0", "--mediation"])
        .arg(mediation);
    configure(&mut command);
    Child(command.spawn().expect("spawn axon"))
}

/// The lines `child` writes to standard error, read on a thread of their own.
pub fn stderr_lines(child: &mut Child) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let stderr = child.0.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}
