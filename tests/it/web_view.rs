//! The live web view of the actor graph, in headless Chromium: the page loads, switching
//! an endpoint off by clicking its switch shows OFF on the page and in `/health/actors`.

use std::path::{Path, PathBuf};

use crate::support::backend::Backend;
use crate::support::binary::Binary;
use crate::support::{TestAxon, dead_port};

fn leaf(name: &str, url: &str) -> String {
    format!(r#"<endpoint name="{name}"><address uri="{url}"/></endpoint>"#)
}

const APIS: &str = r#"<api name="Orders" context="/orders">
  <resource methods="GET" uri-template="/{id}"><inSequence><send><endpoint key="OrdersGroup"/></send></inSequence></resource>
  <resource methods="POST"><inSequence><send><endpoint key="Billing"/></send></inSequence></resource>
</api>"#;

const GROUP: &str = r#"<endpoint name="OrdersGroup"><failover>
  <endpoint key="OrdersPrimary"/><endpoint key="OrdersSecondary"/>
</failover></endpoint>"#;

/// Where the screenshot is kept: under `target/`, so a test run leaves it for a look.
fn screenshot(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/web-view");
    std::fs::create_dir_all(&dir).expect("screenshot folder");
    let shot = dir.join(name);
    if shot.exists() {
        std::fs::remove_file(&shot).expect("the old screenshot goes");
    }
    shot
}

/// Runs `web_view.py` in headless Chromium on the page at `url`: it switches `actors[0]`
/// off by clicking, filters on it (hiding `actors[1]`), and saves `shot`; with `token`, it
/// types the token when the page asks. Returns what the page shows for the switched actor.
async fn browse(url: String, actors: [&str; 2], shot: &Path, token: Option<&str>) -> String {
    let python = crate::support::python();
    for tool in ["/usr/bin/chromium", "/usr/bin/chromedriver"] {
        assert!(
            Path::new(tool).is_file(),
            "{tool} is missing: install Debian's chromium and chromium-driver (scripts/test does)"
        );
    }
    let mut command = std::process::Command::new(python);
    command
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/web_view.py"))
        .args([url.as_str(), actors[0], actors[1]])
        .arg(shot);
    if let Some(token) = token {
        command.env("AXON_WEB_TOKEN", token);
    }
    let output = actix_web::web::block(move || command.output())
        .await
        .expect("the browser thread")
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the browser script failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(shot.is_file(), "no screenshot at {}", shot.display());
    println!("web view screenshot: {}", shot.display());
    stdout.trim().to_owned()
}

#[actix_rt::test]
async fn switching_an_endpoint_off_in_the_browser_shows_off_everywhere() {
    let backend = Backend::named("b").await;
    let dead = format!("http://127.0.0.1:{}/", dead_port());
    let axon = TestAxon::start(&[
        ("apis.xml", APIS),
        ("group.xml", GROUP),
        ("primary.xml", &leaf("OrdersPrimary", &dead)),
        ("secondary.xml", &leaf("OrdersSecondary", &backend.url("/"))),
        ("billing.xml", &leaf("Billing", &backend.url("/"))),
    ])
    .await;
    // Traffic first, so the page has counters, a failed try and a transition to show.
    assert_eq!(axon.get("/orders/1").await.status, 200);
    assert_eq!(axon.get("/orders/2").await.status, 200);

    let page = axon
        .client
        .get(axon.admin_url("/"))
        .send()
        .await
        .expect("the page answers");
    assert_eq!(page.status().as_u16(), 200);
    let header = |name: &str| {
        page.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    assert_eq!(
        header("content-type").as_deref(),
        Some("text/html; charset=utf-8")
    );
    let csp = header("content-security-policy").expect("a CSP");
    assert!(
        csp.contains("script-src 'self'") && csp.contains("default-src 'none'"),
        "{csp}"
    );

    let shot = screenshot("web-view.png");
    let stdout = browse(
        axon.admin_url("/"),
        ["Billing", "OrdersPrimary"],
        &shot,
        None,
    )
    .await;
    assert_eq!(stdout, "OFF", "the page shows");
    assert_eq!(axon.state("Billing").await, "OFF", "/health/actors shows");
    assert_eq!(axon.state("OrdersSecondary").await, "ACTIVE");
}

const TOKEN: &str = "write-token-0123456789abcdef";

/// With a management token, the page asks for it, keeps it in `sessionStorage` and sends it
/// with every call: the switch works through the page, and the health API, asked with the
/// token, shows OFF.
#[actix_rt::test]
async fn with_a_token_the_page_asks_for_it_and_sends_it() {
    let backend = Backend::named("b").await;
    let dir = tempfile::tempdir().expect("tempdir");
    for (file, name) in [("med/billing.xml", "Billing"), ("med/stock.xml", "Stock")] {
        crate::support::write(dir.path(), file, &leaf(name, &backend.url("/")));
    }
    let args = ["--mediation", "med", "--no-grpc"];
    let axon = Binary::serve_env(dir.path(), &args, &[("AXON_MANAGEMENT_TOKEN", TOKEN)]);
    let url = format!("http://{}/", axon.management);
    let client = crate::support::client();
    let unauthorized = client.get(format!("{url}health/actors")).send().await;
    assert_eq!(unauthorized.expect("answers").status().as_u16(), 401);

    let shot = screenshot("web-view-token.png");
    let shown = browse(url.clone(), ["Billing", "Stock"], &shot, Some(TOKEN)).await;
    assert_eq!(shown, "OFF", "the page shows");
    let mut reply = client
        .get(format!("{url}health/actors/Billing"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("answers");
    let body: serde_json::Value = reply.json().await.expect("JSON");
    assert_eq!(body["state"], "OFF", "/health/actors shows: {body}");
}
