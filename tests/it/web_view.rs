//! The live web view of the actor graph, in headless Chromium: the page loads, switching
//! an endpoint off by clicking its switch shows OFF on the page and in `/health/actors`.

use std::path::PathBuf;

use crate::support::backend::Backend;
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
fn screenshot() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/web-view");
    std::fs::create_dir_all(&dir).expect("screenshot folder");
    dir.join("web-view.png")
}

#[actix_rt::test]
async fn switching_an_endpoint_off_in_the_browser_shows_off_everywhere() {
    let python = crate::support::python();
    for tool in ["/usr/bin/chromium", "/usr/bin/chromedriver"] {
        assert!(
            std::path::Path::new(tool).is_file(),
            "{tool} is missing: install Debian's chromium and chromium-driver (scripts/test does)"
        );
    }
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

    let shot = screenshot();
    if shot.exists() {
        std::fs::remove_file(&shot).expect("the old screenshot goes");
    }
    let (url, out) = (axon.admin_url("/"), shot.clone());
    let output = actix_web::web::block(move || {
        std::process::Command::new(python)
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/web_view.py"))
            .args([url.as_str(), "Billing", "OrdersPrimary"])
            .arg(&out)
            .output()
    })
    .await
    .expect("the browser thread")
    .expect("python runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the browser script failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(stdout.trim(), "OFF", "the page shows");
    assert_eq!(axon.state("Billing").await, "OFF", "/health/actors shows");
    assert_eq!(axon.state("OrdersSecondary").await, "ACTIVE");
    assert!(shot.is_file(), "no screenshot at {}", shot.display());
    println!("web view screenshot: {}", shot.display());
}
