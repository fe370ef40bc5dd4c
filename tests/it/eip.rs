//! Enterprise integration patterns: `clone` and `aggregate` against real backends.

use std::time::Duration;

use crate::support::TestAxon;
use crate::support::backend::{Backend, Canned};

const NS: &str = "xmlns=\"http://ws.apache.org/ns/synapse\"";

fn json(body: &str) -> Canned {
    Canned {
        content_type: "application/json",
        ..Canned::ok(body)
    }
}

fn slow(body: &str, delay: Duration) -> Canned {
    Canned { delay, ..json(body) }
}

/// An API whose POST clones the request to three endpoints and aggregates after the
/// clone, as MI 4.x writes it (`call` in each target, `aggregate` in the same sequence).
fn clone_api(urls: [&str; 3], complete: &str) -> String {
    let target = |u: &str| {
        format!(
            "<target><sequence><call><endpoint><http method=\"GET\" uri-template=\"{u}\"/></endpoint></call></sequence></target>"
        )
    };
    format!(
        "<api {NS} name=\"C\" context=\"/c\"><resource methods=\"POST GET\"><inSequence>\
         <clone id=\"fan\">{}{}{}</clone>\
         <aggregate id=\"fan\"><completeCondition{complete}</completeCondition>\
         <onComplete expression=\"json-eval($)\"><respond/></onComplete></aggregate>\
         </inSequence></resource></api>",
        target(urls[0]),
        target(urls[1]),
        target(urls[2]),
    )
}

#[actix_rt::test]
async fn clone_to_three_endpoints_one_slow_one_dead_completes_on_timeout() {
    let fast = Backend::start(|_| json("{\"from\":\"fast\"}")).await;
    let slow = Backend::start(|_| slow("{\"from\":\"slow\"}", Duration::from_secs(30))).await;
    let dead = format!("http://127.0.0.1:{}/x", crate::support::dead_port());
    let api = clone_api(
        [&fast.url("/a"), &slow.url("/b"), &dead],
        " timeout=\"1\"><messageCount min=\"-1\" max=\"-1\"/>",
    );
    let axon = TestAxon::start(&[("apis/c.xml", &api)]).await;
    let reply = axon.get("/c").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    // The dead branch failed (its fault handling answered for it, not the client), the
    // slow one was still running when the timeout completed the aggregate.
    assert_eq!(reply.json(), serde_json::json!([{"from": "fast"}]));
    let trace = reply.header("x-axon-trace").unwrap_or_default();
    assert!(trace.contains("fan[0]/"), "{trace}");
    assert!(trace.contains("fan[2]/") && trace.contains("=failed:"), "{trace}");
    assert!(trace.contains("fan[1]=skipped:late"), "{trace}");
    assert_eq!(slow.hits(), 1);
}

#[actix_rt::test]
async fn clone_completes_by_count_without_waiting_for_the_rest() {
    let a = Backend::start(|_| json("{\"n\":1}")).await;
    let b = Backend::start(|_| json("{\"n\":2}")).await;
    let slow = Backend::start(|_| slow("{\"n\":3}", Duration::from_secs(30))).await;
    let api = clone_api(
        [&a.url("/a"), &b.url("/b"), &slow.url("/c")],
        "><messageCount min=\"2\" max=\"-1\"/>",
    );
    let axon = TestAxon::start(&[("apis/c.xml", &api)]).await;
    let reply = axon.get("/c").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let mut got: Vec<i64> = reply.json().as_array().expect("array").iter().map(|v| v["n"].as_i64().unwrap_or(0)).collect();
    got.sort_unstable();
    assert_eq!(got, vec![1, 2]);
}

#[actix_rt::test]
async fn clone_with_all_branches_collects_every_response() {
    let a = Backend::start(|_| json("{\"n\":1}")).await;
    let b = Backend::start(|_| json("{\"n\":2}")).await;
    let c = Backend::start(|_| json("{\"n\":3}")).await;
    let api = clone_api([&a.url("/a"), &b.url("/b"), &c.url("/c")], ">");
    let axon = TestAxon::start(&[("apis/c.xml", &api)]).await;
    let reply = axon.get("/c").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let mut got: Vec<i64> = reply.json().as_array().expect("array").iter().map(|v| v["n"].as_i64().unwrap_or(0)).collect();
    got.sort_unstable();
    assert_eq!(got, vec![1, 2, 3]);
}
