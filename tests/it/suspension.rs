//! Endpoint health end to end: suspension, recovery, back-off, retries, timeouts, OFF/ON.

use std::time::Duration;

use tokio::time::Instant;

use crate::support::backend::{Backend, BlackHole, Canned};
use crate::support::{TestAxon, dead_port, eventually};

pub(crate) fn api_to(endpoint: &str) -> String {
    format!(
        r#"<api name="A" context="/a"><resource><inSequence><send><endpoint key="{endpoint}"/></send></inSequence></resource></api>"#
    )
}

pub(crate) fn endpoint(name: &str, uri: &str, qos: &str) -> String {
    format!(r#"<endpoint name="{name}"><address uri="{uri}">{qos}</address></endpoint>"#)
}

#[actix_rt::test]
async fn dead_backend_gives_502_then_503_without_a_connection_attempt() {
    let port = dead_port();
    let ep = endpoint("Dead", &format!("http://127.0.0.1:{port}/"), "");
    let axon = TestAxon::start(&[("api.xml", &api_to("Dead")), ("ep.xml", &ep)]).await;
    let first = axon.get("/a").await;
    assert_eq!(first.status, 502);
    assert_eq!(first.json()["error"]["code"], 101503);
    eventually(Duration::from_secs(5), "SUSPENDED", || async {
        axon.state("Dead").await == "SUSPENDED"
    })
    .await;
    let second = axon.get("/a").await;
    assert_eq!(second.status, 503);
    assert_eq!(second.json()["error"]["code"], 303001);
    assert_eq!(
        second.header("x-axon-trace").as_deref(),
        Some("Dead=skipped:SUSPENDED")
    );
    let report = axon.endpoint("Dead").await;
    assert_eq!(
        report["counters"]["sent"], 1,
        "the suspended endpoint was not tried again: {report}"
    );
    assert_eq!(report["last_error"]["code"], 101503);
    assert_eq!(
        report["last_error"]["address"],
        format!("http://127.0.0.1:{port}/")
    );
    assert_eq!(report["type"], "address");
    assert!(report["retry_in_ms"].as_u64().unwrap() > 0);
    let t = &report["transitions"][0];
    assert_eq!(
        (t["from"].as_str(), t["to"].as_str()),
        (Some("ACTIVE"), Some("SUSPENDED"))
    );
}

#[actix_rt::test]
async fn endpoint_recovers_after_its_suspension_when_the_backend_returns() {
    let port = dead_port();
    let qos = "<suspendOnFailure><initialDuration>300</initialDuration></suspendOnFailure>";
    let ep = endpoint("Flaky", &format!("http://127.0.0.1:{port}/"), qos);
    let axon = TestAxon::start(&[("api.xml", &api_to("Flaky")), ("ep.xml", &ep)]).await;
    assert_eq!(axon.get("/a").await.status, 502);
    eventually(Duration::from_secs(5), "SUSPENDED", || async {
        axon.state("Flaky").await == "SUSPENDED"
    })
    .await;
    let backend = Backend::start_on_port(port, |_| Canned::ok("back")).await;
    eventually(Duration::from_secs(5), "a successful request", || async {
        axon.get("/a").await.status == 200
    })
    .await;
    eventually(Duration::from_secs(5), "ACTIVE", || async {
        axon.state("Flaky").await == "ACTIVE"
    })
    .await;
    let report = axon.endpoint("Flaky").await;
    let last = report["transitions"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        (last["from"].as_str(), last["to"].as_str()),
        (Some("SUSPENDED"), Some("ACTIVE"))
    );
    assert!(backend.hits() >= 1);
}

#[actix_rt::test]
async fn suspension_backs_off_by_the_progression_factor() {
    let port = dead_port();
    let qos = "<suspendOnFailure><initialDuration>100</initialDuration><progressionFactor>2</progressionFactor><maximumDuration>350</maximumDuration></suspendOnFailure>";
    let ep = endpoint("Backoff", &format!("http://127.0.0.1:{port}/"), qos);
    let axon = TestAxon::start(&[("api.xml", &api_to("Backoff")), ("ep.xml", &ep)]).await;
    let mut seen = Vec::new();
    for round in 0..4 {
        // Wait until the endpoint may be tried again, then fail it once more.
        eventually(Duration::from_secs(5), "retry time", || async {
            let r = axon.endpoint("Backoff").await;
            r["retry_in_ms"].is_null() || r["retry_in_ms"] == 0
        })
        .await;
        let reply = axon.get("/a").await;
        assert_eq!(reply.status, 502, "round {round}: {}", reply.text());
        let expected_failures = round + 1;
        eventually(Duration::from_secs(5), "failure recorded", || async {
            axon.endpoint("Backoff").await["counters"]["failed"] == expected_failures
        })
        .await;
        seen.push(
            axon.endpoint("Backoff").await["last_suspension_ms"]
                .as_u64()
                .unwrap(),
        );
    }
    assert_eq!(seen, vec![100, 200, 350, 350]);
}

#[actix_rt::test]
async fn black_hole_gives_504_on_time_and_retries_run_out_before_suspension() {
    let hole = BlackHole::start().await;
    let qos = "<timeout><duration>300</duration><responseAction>fault</responseAction></timeout>
               <markForSuspension><retriesBeforeSuspension>2</retriesBeforeSuspension><retryDelay>0</retryDelay></markForSuspension>";
    let ep = endpoint("Hole", &hole.url("/"), qos);
    let axon = TestAxon::start(&[("api.xml", &api_to("Hole")), ("ep.xml", &ep)]).await;

    let started = Instant::now();
    let reply = axon.get("/a").await;
    let took = started.elapsed();
    assert_eq!(reply.status, 504);
    assert_eq!(reply.json()["error"]["code"], 101504);
    assert!(took >= Duration::from_millis(300), "fired early: {took:?}");
    assert!(took < Duration::from_secs(5), "fired late: {took:?}");

    eventually(Duration::from_secs(5), "TIMEOUT", || async {
        axon.state("Hole").await == "TIMEOUT"
    })
    .await;
    assert_eq!(axon.endpoint("Hole").await["remaining_retries"], 1);
    assert_eq!(axon.get("/a").await.status, 504);
    eventually(Duration::from_secs(5), "one retry left", || async {
        axon.endpoint("Hole").await["remaining_retries"] == 0
    })
    .await;
    assert_eq!(axon.state("Hole").await, "TIMEOUT");
    assert_eq!(axon.get("/a").await.status, 504);
    eventually(Duration::from_secs(5), "SUSPENDED", || async {
        axon.state("Hole").await == "SUSPENDED"
    })
    .await;
}

#[actix_rt::test]
async fn discard_skips_the_user_fault_sequence() {
    let hole = BlackHole::start().await;
    let ep = endpoint(
        "Discarding",
        &hole.url("/"),
        "<timeout><duration>200</duration><responseAction>discard</responseAction></timeout>",
    );
    let api = r#"<api name="A" context="/a"><resource>
        <inSequence><send><endpoint key="Discarding"/></send></inSequence>
        <faultSequence><payloadFactory media-type="text"><format>user fault</format></payloadFactory><respond/></faultSequence>
      </resource></api>"#;
    let axon = TestAxon::start(&[("api.xml", api), ("ep.xml", &ep)]).await;
    let reply = axon.get("/a").await;
    assert_eq!(reply.status, 504);
    assert_eq!(reply.json()["error"]["code"], 101504);
    // The endpoint still counts the timeout (Synapse's discard did not: product-ei#1719).
    eventually(Duration::from_secs(5), "SUSPENDED", || async {
        axon.state("Discarding").await == "SUSPENDED"
    })
    .await;
}

#[actix_rt::test]
async fn switched_off_endpoint_answers_503_without_touching_the_backend_until_switched_on() {
    let backend = Backend::named("up").await;
    let ep = endpoint("Maint", &backend.url("/"), "");
    let axon = TestAxon::start(&[("api.xml", &api_to("Maint")), ("ep.xml", &ep)]).await;
    assert_eq!(axon.get("/a").await.status, 200);
    let (status, report) = axon.admin_post("/health/actors/Maint/off").await;
    assert_eq!(status, 200);
    assert_eq!(report["state"], "OFF");
    for _ in 0..3 {
        let reply = axon.get("/a").await;
        assert_eq!(reply.status, 503);
        assert_eq!(reply.json()["error"]["code"], 303001);
    }
    assert_eq!(backend.hits(), 1);
    let (_, report) = axon.admin_post("/health/actors/Maint/on").await;
    assert_eq!(report["state"], "ACTIVE");
    assert_eq!(axon.get("/a").await.status, 200);
    assert_eq!(backend.hits(), 2);
    let reasons: Vec<String> = axon.endpoint("Maint").await["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["reason"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        reasons,
        vec!["switched off by an operator", "switched on by an operator"]
    );
    assert_eq!(axon.admin_post("/health/actors/Nope/off").await.0, 404);
}

#[actix_rt::test]
async fn only_one_trial_request_reaches_a_recovering_backend() {
    let hole = BlackHole::start().await;
    let qos = "<timeout><duration>400</duration></timeout><suspendOnFailure><initialDuration>0</initialDuration></suspendOnFailure>";
    let ep = endpoint("Trial", &hole.url("/"), qos);
    let axon = TestAxon::start(&[("api.xml", &api_to("Trial")), ("ep.xml", &ep)]).await;
    // First request times out: the endpoint is suspended for 0 ms, so the next request
    // is a trial; while it hangs, every other request is refused.
    assert_eq!(axon.get("/a").await.status, 504);
    eventually(Duration::from_secs(5), "SUSPENDED", || async {
        axon.state("Trial").await == "SUSPENDED"
    })
    .await;
    let trial = axon.get("/a");
    let others = async {
        eventually(Duration::from_secs(5), "trial in flight", || async {
            axon.endpoint("Trial").await["trial_in_flight"] == true
        })
        .await;
        let r = axon.get("/a").await;
        (r.status, r.header("x-axon-trace"))
    };
    let (trial, other) = tokio::join!(trial, others);
    assert_eq!(trial.status, 504);
    assert_eq!(other.0, 503);
    assert_eq!(other.1.as_deref(), Some("Trial=skipped:SUSPENDED"));
    assert_eq!(axon.endpoint("Trial").await["counters"]["sent"], 2);
}

/// MI's tooling writes `<errorCodes>-1</errorCodes>` for "no codes": a refused connection
/// neither suspends nor times out the endpoint, so every request is tried on the backend
/// (and fails on its own), never skipped as suspended.
#[actix_rt::test]
async fn minus_one_error_codes_never_suspend() {
    let port = dead_port();
    let qos = "<suspendOnFailure><errorCodes>-1</errorCodes><initialDuration>-1</initialDuration><progressionFactor>-1</progressionFactor><maximumDuration>0</maximumDuration></suspendOnFailure><markForSuspension><errorCodes>-1</errorCodes><retriesBeforeSuspension>0</retriesBeforeSuspension></markForSuspension>";
    let ep = endpoint("Steady", &format!("http://127.0.0.1:{port}/"), qos);
    let axon = TestAxon::start(&[("api.xml", &api_to("Steady")), ("ep.xml", &ep)]).await;
    for _ in 0..3 {
        let reply = axon.get("/a").await;
        assert_eq!(reply.status, 502);
        assert_eq!(reply.json()["error"]["code"], 101503);
    }
    assert_eq!(axon.state("Steady").await, "ACTIVE");
    let report = axon.endpoint("Steady").await;
    assert_eq!(
        report["counters"]["sent"], 3,
        "every request tried: {report}"
    );
}
