//! Active health checks (`<healthCheck>`) on real backends: recovery without user
//! traffic, and suspension before a user request meets a dead backend.

use std::time::Duration;

use crate::support::backend::{Backend, Canned};
use crate::support::{TestAxon, dead_port, eventually};

const CHECK: &str = r#"<healthCheck path="/health" interval="100" timeout="100" healthyThreshold="2" unhealthyThreshold="2"/>"#;

fn api(key: &str) -> String {
    format!(
        r#"<api name="G" context="/g"><resource><inSequence><send><endpoint key="{key}"/></send></inSequence></resource></api>"#
    )
}

fn last_reason(report: &serde_json::Value) -> String {
    report["transitions"]
        .as_array()
        .and_then(|t| t.last())
        .and_then(|t| t["reason"].as_str())
        .unwrap_or_default()
        .to_owned()
}

#[actix_rt::test]
async fn probes_suspend_a_dead_backend_and_bring_it_back_without_user_traffic() {
    let port = dead_port();
    let leaf = format!(
        r#"<endpoint name="Checked"><address uri="http://127.0.0.1:{port}/svc">
             <suspendOnFailure><initialDuration>60000</initialDuration></suspendOnFailure>{CHECK}
           </address></endpoint>"#
    );
    let axon = TestAxon::start(&[("api.xml", &api("Checked")), ("ep.xml", &leaf)]).await;

    eventually(
        Duration::from_secs(5),
        "probes to suspend the leaf",
        || async { axon.state("Checked").await == "SUSPENDED" },
    )
    .await;
    let report = axon.endpoint("Checked").await;
    assert_eq!(report["counters"]["sent"], 0, "no user request was needed");
    assert!(
        last_reason(&report).starts_with("health check: error 101503"),
        "{report}"
    );
    assert_eq!(
        report["last_error"]["address"],
        format!("http://127.0.0.1:{port}/health")
    );
    let refused = axon.get("/g").await;
    assert_eq!(refused.status, 503);
    assert_eq!(axon.endpoint("Checked").await["counters"]["sent"], 0);

    // The backend comes back: the probes reactivate the leaf long before its 60 s
    // suspension ends, and no user request is involved.
    let backend = Backend::start_on_port(port, |seen| {
        Canned::ok(if seen.uri == "/health" {
            "up"
        } else {
            "served"
        })
    })
    .await;
    eventually(
        Duration::from_secs(5),
        "probes to reactivate the leaf",
        || async { axon.state("Checked").await == "ACTIVE" },
    )
    .await;
    let report = axon.endpoint("Checked").await;
    assert_eq!(
        last_reason(&report),
        "health check: passed 2 checks in a row",
        "{report}"
    );
    assert_eq!(report["counters"]["sent"], 0);
    let probes = backend.seen.lock().unwrap().clone();
    assert!(probes.len() >= 2);
    for probe in &probes {
        assert_eq!(
            (probe.method.as_str(), probe.uri.as_str()),
            ("GET", "/health")
        );
        assert_eq!(probe.header("user-agent"), Some("axon-health-check"));
    }
    let served = axon.get("/g").await;
    assert_eq!((served.status, served.text().as_str()), (200, "served"));
}

#[actix_rt::test]
async fn a_failover_group_skips_a_leaf_its_probes_found_dead() {
    let primary = Backend::named("primary").await;
    let secondary = Backend::named("secondary").await;
    let fo = format!(
        r#"<endpoint name="FO"><failover>
             <endpoint name="Primary"><address uri="{}">{CHECK}</address></endpoint>
             <endpoint name="Secondary"><address uri="{}"/></endpoint>
           </failover></endpoint>"#,
        primary.url("/"),
        secondary.url("/")
    );
    let axon = TestAxon::start(&[("api.xml", &api("FO")), ("fo.xml", &fo)]).await;
    assert_eq!(axon.get("/g").await.text(), "primary");
    primary.stop().await;
    eventually(
        Duration::from_secs(5),
        "probes to suspend the primary",
        || async { axon.state("Primary").await == "SUSPENDED" },
    )
    .await;
    // No user request meets the dead primary: the group goes straight to the secondary.
    let reply = axon.get("/g").await;
    assert_eq!(reply.text(), "secondary");
    assert_eq!(
        reply.header("x-axon-trace").as_deref(),
        Some("FO/Primary=skipped:SUSPENDED, FO/Secondary=200")
    );
    assert_eq!(axon.endpoint("Primary").await["counters"]["failed"], 0);
}

#[actix_rt::test]
async fn a_leaf_replaced_by_a_reload_stops_probing() {
    let backend = Backend::named("b").await;
    let leaf = |path: &str| {
        format!(
            r#"<endpoint name="Checked"><address uri="{}"><healthCheck path="{path}" interval="50" timeout="50"/></address></endpoint>"#,
            backend.url("/")
        )
    };
    let axon = TestAxon::start(&[("api.xml", &api("Checked")), ("ep.xml", &leaf("/old"))]).await;
    let probes_of = |path: &'static str| {
        let seen = backend.seen.clone();
        move || {
            seen.lock()
                .unwrap()
                .iter()
                .filter(|s| s.uri == path)
                .count()
        }
    };
    let (old, new) = (probes_of("/old"), probes_of("/new"));
    eventually(Duration::from_secs(5), "probes of /old", || async {
        old() >= 2
    })
    .await;
    axon.write("ep.xml", &leaf("/new"));
    let (status, summary) = axon.admin_post("/config/reload").await;
    assert_eq!(status, 200, "{summary}");
    assert_eq!(summary["endpoints_started"], serde_json::json!(["Checked"]));
    eventually(Duration::from_secs(5), "probes of /new", || async {
        new() >= 2
    })
    .await;
    let before = old();
    let target = new() + 6;
    eventually(Duration::from_secs(5), "more probes of /new", || async {
        new() >= target
    })
    .await;
    assert!(
        old() <= before + 1,
        "the replaced leaf kept probing: {} -> {}",
        before,
        old()
    );
}
