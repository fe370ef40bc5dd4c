//! Observability: `GET /metrics` after a known sequence of requests and failures.

use std::time::Duration;

use crate::support::backend::Backend;
use crate::support::{Child, TestAxon, axon_serve, dead_port, eventually, stderr_lines};

/// `/mx/ok` to a live leaf, `/mx/dead` to a leaf where nothing listens, `/mx/fo` to a
/// failover group whose first child is dead too. The metrics are the process's, so each
/// test names its API and endpoints with its own `tag`.
fn files(live: &str, tag: &str) -> Vec<(&'static str, String)> {
    let dead = format!("http://127.0.0.1:{}/", dead_port());
    let resource = |path: &str, key: &str| {
        format!(
            r#"<resource methods="GET" uri-template="{path}"><inSequence><send><endpoint key="{key}{tag}"/></send></inSequence></resource>"#
        )
    };
    let api = format!(
        r#"<api name="MetricsApi{tag}" context="/mx">{}{}{}</api>"#,
        resource("/ok", "MxLive"),
        resource("/dead", "MxDead"),
        resource("/fo", "MxFo")
    );
    let leaf = |name: &str, uri: &str| {
        format!(r#"<endpoint name="{name}{tag}"><address uri="{uri}"/></endpoint>"#)
    };
    let group = format!(
        r#"<endpoint name="MxFo{tag}"><failover>{}{}</failover></endpoint>"#,
        leaf("MxFoDead", &dead),
        leaf("MxFoLive", live)
    );
    let proxy = format!(r#"<proxy name="MxProxy{tag}"><target endpoint="MxLive{tag}"/></proxy>"#);
    vec![
        ("api.xml", api),
        ("proxy.xml", proxy),
        ("live.xml", leaf("MxLive", live)),
        ("dead.xml", leaf("MxDead", &dead)),
        ("fo.xml", group),
    ]
}

/// The scrape: its content type and text.
async fn scrape(axon: &TestAxon, accept: Option<&str>) -> (String, String) {
    let mut request = crate::support::client().get(axon.admin_url("/metrics"));
    if let Some(accept) = accept {
        request = request.insert_header(("Accept", accept));
    }
    let mut response = request.send().await.expect("scrape");
    assert_eq!(response.status().as_u16(), 200);
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = response.body().limit(4 << 20).await.expect("scrape body");
    (content_type, String::from_utf8_lossy(&body).into_owned())
}

/// The value of the series written exactly as `series` (name and labels).
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.split(' ').next()?.parse().ok())
}

#[actix_rt::test]
async fn metrics_count_requests_failures_transitions_and_failovers() {
    let backend = Backend::named("live").await;
    let files = files(&backend.url("/"), "");
    let files: Vec<(&str, &str)> = files.iter().map(|(n, t)| (*n, t.as_str())).collect();
    let axon = TestAxon::start(&files).await;
    for _ in 0..3 {
        assert_eq!(axon.get("/mx/ok").await.status, 200);
    }
    assert_eq!(axon.get("/mx/dead").await.status, 502);
    // The leaf's actor suspends it after the failure, off the request path.
    eventually(Duration::from_secs(5), "MxDead SUSPENDED", || async {
        axon.state("MxDead").await == "SUSPENDED"
    })
    .await;
    // Suspended now: refused without a try.
    assert_eq!(axon.get("/mx/dead").await.status, 503);
    assert_eq!(axon.get("/mx/fo").await.status, 200);
    assert_eq!(axon.get("/services/MxProxy").await.status, 200);
    // No API: counted without a label from the URL.
    assert_eq!(axon.get("/mx-unrouted/a-client-path").await.status, 404);

    let (content_type, text) = scrape(&axon, None).await;
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let at = |series: &str| value(&text, series);
    let route = |resource: &str, class: &str| {
        format!(
            r#"axon_requests_total{{kind="api",api="MetricsApi",resource="{resource}",class="{class}"}}"#
        )
    };
    assert_eq!(at(&route("/ok", "2xx")), Some(3.0), "{text}");
    assert_eq!(at(&route("/dead", "5xx")), Some(2.0), "{text}");
    assert_eq!(at(&route("/fo", "2xx")), Some(1.0), "{text}");
    let histogram =
        r#"axon_request_duration_seconds_count{kind="api",api="MetricsApi",resource="/ok"}"#;
    assert_eq!(at(histogram), Some(3.0), "{text}");
    // Three from `/mx/ok`, one from the proxy.
    assert_eq!(
        at(r#"axon_endpoint_tries_total{endpoint="MxLive"}"#),
        Some(4.0),
        "{text}"
    );
    let outcome = r#"axon_endpoint_outcomes_total{endpoint="MxLive",outcome="response"}"#;
    assert_eq!(at(outcome), Some(4.0), "{text}");
    let failed = r#"axon_endpoint_failures_total{endpoint="MxDead",code="101503"}"#;
    assert_eq!(at(failed), Some(1.0), "{text}");
    let transition =
        r#"axon_endpoint_transitions_total{endpoint="MxDead",from="ACTIVE",to="SUSPENDED"}"#;
    assert_eq!(at(transition), Some(1.0), "{text}");
    let suspension = r#"axon_endpoint_suspension_seconds_count{endpoint="MxDead"}"#;
    assert_eq!(at(suspension), Some(1.0), "{text}");
    let state = |name: &str, node: &str, state: &str| {
        at(&format!(
            r#"axon_endpoint_state{{endpoint="{name}",node="{node}",state="{state}"}}"#
        ))
    };
    assert_eq!(state("MxDead", "leaf", "SUSPENDED"), Some(1.0), "{text}");
    assert_eq!(state("MxDead", "leaf", "ACTIVE"), Some(0.0), "{text}");
    assert_eq!(state("MxFo", "group", "ACTIVE"), Some(1.0), "{text}");
    let failover = r#"axon_group_failovers_total{group="MxFo",reason="error"}"#;
    assert_eq!(at(failover), Some(1.0), "{text}");
    assert_eq!(at("axon_config_generation"), Some(1.0), "{text}");
    assert!(at("axon_uptime_seconds").is_some(), "{text}");
    assert!(
        at(r#"axon_front_open_connections{front="http"}"#).is_some(),
        "{text}"
    );
    let proxied = r#"axon_requests_total{kind="proxy",api="MxProxy",resource="",class="2xx"}"#;
    assert_eq!(at(proxied), Some(1.0), "{text}");
    let unrouted = r#"axon_requests_total{kind="none",api="",resource="",class="4xx"}"#;
    assert!(at(unrouted) >= Some(1.0), "{text}");
    assert!(!text.contains("a-client-path"), "no per-URL label: {text}");

    // A rejected reload is counted and leaves the generation as it was.
    axon.write("broken.xml", "<api name=");
    assert_eq!(axon.admin_post("/config/reload").await.0, 400);
    let (_, text) = scrape(&axon, None).await;
    assert!(
        value(&text, r#"axon_config_reloads_total{result="failed"}"#) >= Some(1.0),
        "{text}"
    );
    assert_eq!(value(&text, "axon_config_generation"), Some(1.0), "{text}");
}

#[actix_rt::test]
async fn metrics_speak_openmetrics_when_asked() {
    let backend = Backend::named("live").await;
    let files = files(&backend.url("/"), "Om");
    let files: Vec<(&str, &str)> = files.iter().map(|(n, t)| (*n, t.as_str())).collect();
    let axon = TestAxon::start(&files).await;
    assert_eq!(axon.get("/mx/ok").await.status, 200);
    let accept = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5";
    let (content_type, text) = scrape(&axon, Some(accept)).await;
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    assert!(text.ends_with("# EOF\n"), "{text}");
    assert!(text.contains("# TYPE axon_requests counter"), "{text}");
}

/// Axon sending `/rid` to `backend` and `/rid/dead` to a port where nothing listens.
async fn request_id_axon(backend: &Backend) -> TestAxon {
    let dead = format!("http://127.0.0.1:{}/", dead_port());
    let api = format!(
        r#"<api name="RidApi" context="/rid">
             <resource methods="GET" uri-template="/dead"><inSequence><send><endpoint><address uri="{dead}"/></endpoint></send></inSequence></resource>
             <resource methods="GET" uri-template="/"><inSequence><send><endpoint><address uri="{}"/></endpoint></send></inSequence></resource>
           </api>"#,
        backend.url("/")
    );
    TestAxon::start(&[("api.xml", &api)]).await
}

#[actix_rt::test]
async fn a_request_id_travels_to_the_backend_and_back() {
    let backend = Backend::named("rid").await;
    let axon = request_id_axon(&backend).await;
    let given = "obs-42.a:b";
    let reply = axon
        .request("GET", "/rid/", None, &[("X-Request-ID", given)])
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(backend.last().header("x-request-id"), Some(given));
    assert_eq!(reply.header("x-request-id").as_deref(), Some(given));
    assert_eq!(reply.header("x-axon-message-id").as_deref(), Some(given));

    // Without one (or with one Axon does not take), the generated id goes to the backend
    // and back in X-Axon-Message-Id.
    for sent in [None, Some("two words")] {
        let headers: Vec<(&str, &str)> = sent.map(|v| ("X-Request-ID", v)).into_iter().collect();
        let reply = axon.request("GET", "/rid/", None, &headers).await;
        let seen = backend.last().header("x-request-id").map(str::to_owned);
        let generated = seen.expect("the backend is given an id");
        assert!(generated.starts_with("urn:uuid:"), "{generated}");
        assert_eq!(reply.header("x-axon-message-id"), Some(generated));
    }

    // A fault made by Axon names the client's id in its body.
    let reply = axon
        .request("GET", "/rid/dead", None, &[("X-Request-ID", given)])
        .await;
    assert_eq!(reply.status, 502);
    assert_eq!(reply.json()["error"]["message_id"], given);
    assert_eq!(reply.header("x-request-id").as_deref(), Some(given));
}

/// A running `axon serve` writing JSON lines at `level`, started in `dir` on its folder
/// `med` (a relative path, as a user would type it) with `api`.
struct LoggingAxon {
    _child: Child,
    lines: std::sync::mpsc::Receiver<serde_json::Value>,
    http: String,
    management: String,
    dir: tempfile::TempDir,
}

impl LoggingAxon {
    fn start(level: &str, api: &str) -> LoggingAxon {
        LoggingAxon::start_with(level, api, &[])
    }

    /// [`LoggingAxon::start`] with more arguments to `axon serve`.
    fn start_with(level: &str, api: &str, args: &[&str]) -> LoggingAxon {
        let dir = tempfile::tempdir().expect("tempdir");
        crate::support::write(&dir.path().join("med"), "api.xml", api);
        // Started in `dir`, on `med`: the folder as a user types it.
        let mut child = axon_serve(std::path::Path::new("med"), level, |command| {
            command
                .current_dir(dir.path())
                .args(args)
                .env("AXON_LOG_FORMAT", "json");
        });
        let text = stderr_lines(&mut child);
        let (tx, lines) = std::sync::mpsc::channel::<serde_json::Value>();
        std::thread::spawn(move || {
            for line in text {
                let json = serde_json::from_str(&line)
                    .unwrap_or_else(|_| serde_json::json!({ "not_json": line }));
                if tx.send(json).is_err() {
                    return;
                }
            }
        });
        let mut axon = LoggingAxon {
            _child: child,
            lines,
            http: String::new(),
            management: String::new(),
            dir,
        };
        let listening = axon.next("listening", |l| l["message"] == "Axon is listening");
        let addr = |name: &str| listening[name].as_str().unwrap_or_default().to_owned();
        axon.http = addr("http_addr").replace("0.0.0.0", "127.0.0.1");
        axon.management = addr("management_addr");
        axon
    }

    /// The next line `pick` takes; every line before it must be JSON too.
    fn next(&self, what: &str, pick: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(30))
                .unwrap_or_else(|_| panic!("no {what} line"));
            assert!(line.get("not_json").is_none(), "every line is JSON: {line}");
            assert!(
                !line.to_string().contains("Some("),
                "no Rust Debug forms: {line}"
            );
            if pick(&line) {
                return line;
            }
        }
    }
}

#[actix_rt::test]
async fn json_log_lines_carry_the_message_id_and_the_access_fields() {
    let backend = Backend::named("json").await;
    let axon = LoggingAxon::start("info", &logged_api(&backend));
    let url = format!("http://{}/json/", axon.http);
    let c = crate::support::client();
    let response = c
        .get(&url)
        .insert_header(("X-Request-ID", "json-7"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 200);
    let logged = axon.next("log mediator", |l| {
        l["message"].as_str().is_some_and(|m| m.contains("seen"))
    });
    assert_eq!(logged["message_id"], "json-7", "{logged}");
    let line = axon.next("exchange", |l| l["message"] == "Exchange completed");
    assert_eq!(line["message_id"], "json-7", "{line}");
    assert_eq!(line["api"], "JsonApi", "{line}");
    assert_eq!(line["status"], 200, "{line}");
    assert_eq!(line["method"], "GET", "{line}");
    assert_eq!(line["path"], "/json/", "{line}");
    let endpoint = line["endpoint"].as_str().unwrap_or_default();
    assert!(endpoint.ends_with("JsonBackend=200"), "{line}");
    assert_eq!(line["bytes_out"], 4, "{line}");
    assert!(
        line["client"]
            .as_str()
            .is_some_and(|c| c.starts_with("127.0.0.1:")),
        "{line}"
    );
    assert!(line["latency_ms"].is_number(), "{line}");
    assert_eq!(line["level"], "INFO", "{line}");
}

/// An API at `/json/` whose `log` mediator writes `seen` before sending to `backend`.
fn logged_api(backend: &Backend) -> String {
    format!(
        r#"<api name="JsonApi" context="/json"><resource methods="GET" uri-template="/"><inSequence><log level="custom"><property name="seen" value="yes"/></log><send><endpoint name="JsonBackend"><address uri="{}"/></endpoint></send></inSequence></resource></api>"#,
        backend.url("/")
    )
}

#[actix_rt::test]
async fn access_log_writes_only_the_chosen_fields_or_no_line() {
    let backend = Backend::named("fields").await;
    let api = logged_api(&backend);
    let axon = LoggingAxon::start_with("info", &api, &["--access-log", "status,path"]);
    let get = || async {
        let url = format!("http://{}/json/", axon.http);
        let response = crate::support::client()
            .get(url)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status().as_u16(), 200);
    };
    get().await;
    let line = axon.next("exchange", |l| l["message"] == "Exchange completed");
    assert_eq!(line["status"], 200, "{line}");
    assert_eq!(line["path"], "/json/", "{line}");
    for left_out in [
        "message_id",
        "client",
        "method",
        "api",
        "latency_ms",
        "endpoint",
    ] {
        assert!(line.get(left_out).is_none(), "{left_out} in {line}");
    }

    // `off`: the exchange leaves no line (the next request's `log` line comes first).
    let axon = LoggingAxon::start_with("info", &api, &["--access-log", "off"]);
    let get = || async {
        let url = format!("http://{}/json/", axon.http);
        let response = crate::support::client()
            .get(url)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status().as_u16(), 200);
    };
    let seen = |l: &serde_json::Value| {
        assert_ne!(l["message"], "Exchange completed", "no access line: {l}");
        l["message"].as_str().is_some_and(|m| m.contains("seen"))
    };
    get().await;
    axon.next("first log mediator", seen);
    get().await;
    axon.next("second log mediator", seen);
}

#[actix_rt::test]
async fn debug_logs_show_the_mediators_and_the_endpoint_tries_and_a_rejected_reload() {
    let backend = Backend::named("debug").await;
    let api = format!(
        r#"<api name="DebugApi" context="/dbg"><resource methods="GET" uri-template="/"><inSequence><log/><send><endpoint name="DebugBackend"><address uri="{}"/></endpoint></send></inSequence></resource></api>"#,
        backend.url("/")
    );
    let axon = LoggingAxon::start("debug", &api);
    let response = crate::support::client()
        .get(format!("http://{}/dbg/", axon.http))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 200);
    let id = response
        .headers()
        .get("x-axon-message-id")
        .and_then(|v| v.to_str().ok())
        .expect("a message id")
        .to_owned();
    let mediator = |name: &'static str| {
        move |l: &serde_json::Value| l["message"] == "Mediator runs" && l["mediator"] == name
    };
    assert_eq!(axon.next("Log mediator", mediator("Log"))["message_id"], id);
    assert_eq!(
        axon.next("Send mediator", mediator("Send"))["message_id"],
        id
    );
    let tried = axon.next("endpoint try", |l| l["message"] == "Endpoint tried");
    let endpoint = tried["endpoint"].as_str().unwrap_or_default();
    assert!(endpoint.ends_with("DebugBackend"), "{tried}");
    assert_eq!(tried["outcome"], "200", "{tried}");

    // A rejected reload is logged, naming files as the folder was given.
    crate::support::write(&axon.dir.path().join("med"), "broken.xml", "<api name=");
    let status = crate::support::client()
        .post(format!("http://{}/config/reload", axon.management))
        .send()
        .await
        .expect("reload")
        .status();
    assert_eq!(status.as_u16(), 400);
    let error = axon.next("reload error", |l| l["level"] == "ERROR");
    let text = error["message"].as_str().unwrap_or_default();
    assert!(text.starts_with("med/broken.xml:"), "{error}");
    axon.next("reload rejected", |l| {
        l["message"] == "Reload rejected; the running configuration is kept"
    });
}
