//! Failover and load-balance groups end to end, over real backends on loopback.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use crate::support::backend::{Backend, BlackHole, Canned, Closer};
use crate::support::scripted::{Act, Scripted};
use crate::support::{Reply, TestAxon, dead_port, eventually};

/// An API at `/g` that sends everything to the endpoint `key`.
fn api(key: &str) -> String {
    format!(
        r#"<api name="G" context="/g"><resource><inSequence><send><endpoint key="{key}"/></send></inSequence></resource></api>"#
    )
}

fn leaf(name: &str, url: &str, qos: &str) -> String {
    format!(r#"<endpoint name="{name}"><address uri="{url}">{qos}</address></endpoint>"#)
}

/// A named group endpoint: `kind` is the group element with its attributes.
fn group(name: &str, kind: &str, body: &str) -> String {
    let element = kind.split_whitespace().next().unwrap_or(kind);
    format!(r#"<endpoint name="{name}"><{kind}>{body}</{element}></endpoint>"#)
}

/// The failover group `FO` over `first` (a leaf's XML) and the leaf `Secondary` at
/// `secondary`, with `extra` policy elements.
fn failover_to(first: &str, secondary: &Backend, extra: &str) -> String {
    let second = leaf("Secondary", &secondary.url("/"), "");
    group("FO", "failover", &format!("{first}{second}{extra}"))
}

/// Axon serving `/g` through `FO`: a `Primary` leaf (with `qos`) on a port where nothing
/// listens, then `secondary`.
async fn dead_primary_then(secondary: &Backend, qos: &str, extra: &str) -> TestAxon {
    let dead = format!("http://127.0.0.1:{}/", dead_port());
    let fo = failover_to(&leaf("Primary", &dead, qos), secondary, extra);
    TestAxon::start(&[("api.xml", &api("FO")), ("fo.xml", &fo)]).await
}

/// Backends answering `a`, `b` and `c`, and Axon serving `/g` through the group `LB`
/// (`kind`: the group element and its attributes) over the leaves `A`, `B` and `C`.
async fn lb_over_three(kind: &str) -> (TestAxon, [Backend; 3]) {
    let backends = [
        Backend::named("a").await,
        Backend::named("b").await,
        Backend::named("c").await,
    ];
    let lb = group("LB", kind, &keys(&["A", "B", "C"]));
    let leaves: Vec<String> = backends
        .iter()
        .zip(["A", "B", "C"])
        .map(|(b, name)| leaf(name, &b.url("/"), ""))
        .collect();
    let axon = TestAxon::start(&[
        ("api.xml", &api("LB")),
        ("lb.xml", &lb),
        ("a.xml", &leaves[0]),
        ("b.xml", &leaves[1]),
        ("c.xml", &leaves[2]),
    ])
    .await;
    (axon, backends)
}

async fn three_closers() -> [Closer; 3] {
    [
        Closer::start().await,
        Closer::start().await,
        Closer::start().await,
    ]
}

fn keys(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!(r#"<endpoint key="{n}"/>"#))
        .collect()
}

fn trace(reply: &Reply) -> String {
    reply.header("x-axon-trace").unwrap_or_default()
}

/// Bodies of `n` GETs on `/g`, each checked to be a 200.
async fn bodies(axon: &TestAxon, n: usize) -> Vec<String> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let reply = axon.get("/g").await;
        assert_eq!(reply.status, 200, "{} {}", trace(&reply), reply.text());
        out.push(reply.text());
    }
    out
}

fn tally(bodies: &[String]) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for b in bodies {
        *counts.entry(b.clone()).or_insert(0) += 1;
    }
    counts
}

fn child<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["children"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no child {name} in {report}"))
}

#[actix_rt::test]
async fn round_robin_spreads_thirty_requests_ten_ten_ten() {
    let (axon, [a, b, c]) = lb_over_three(
        r#"loadbalance algorithm="org.apache.synapse.endpoints.algorithms.RoundRobin""#,
    )
    .await;
    let first = axon.get("/g").await;
    assert_eq!(trace(&first), "LB/A=200");
    let all = bodies(&axon, 29).await;
    let counts = tally(&all);
    assert_eq!(
        (counts["a"] + 1, counts["b"], counts["c"]),
        (10, 10, 10),
        "{all:?}"
    );
    assert_eq!((a.hits(), b.hits(), c.hits()), (10, 10, 10));
}

#[actix_rt::test]
async fn weights_one_two_three_give_an_interleaved_one_two_three_split() {
    let (a, b, c) = (
        Backend::named("a").await,
        Backend::named("b").await,
        Backend::named("c").await,
    );
    let weighted = |name: &str, url: &str, w: u32| {
        format!(
            r#"<endpoint name="{name}"><address uri="{url}"/><property name="loadbalance.weight" value="{w}"/></endpoint>"#
        )
    };
    let children = format!(
        "{}{}{}",
        weighted("A", &a.url("/"), 1),
        weighted("B", &b.url("/"), 2),
        weighted("C", &c.url("/"), 3)
    );
    let lb = group(
        "LB",
        r#"loadbalance algorithm="org.apache.synapse.endpoints.algorithms.WeightedRoundRobin""#,
        &children,
    );
    let axon = TestAxon::start(&[("api.xml", &api("LB")), ("lb.xml", &lb)]).await;
    let all = bodies(&axon, 60).await;
    let counts = tally(&all);
    assert_eq!((counts["a"], counts["b"], counts["c"]), (10, 20, 30));
    // Smooth: every cycle of six interleaves the three, never three in a row.
    assert_eq!(all[..6], ["c", "b", "a", "c", "b", "c"], "{all:?}");
    let longest = all
        .chunk_by(|x, y| x == y)
        .map(<[String]>::len)
        .max()
        .unwrap_or(0);
    assert!(longest <= 2, "a burst of {longest}: {all:?}");
    let report = axon.endpoint("LB").await;
    assert_eq!(report["algorithm"], "weightedRoundRobin");
    assert_eq!(child(&report, "C")["weight"], 3);
}

#[actix_rt::test]
async fn with_one_backend_killed_every_request_succeeds_and_the_dead_leaf_is_suspended() {
    let (axon, [_a, b, _c]) = lb_over_three("loadbalance").await;
    assert_eq!(tally(&bodies(&axon, 6).await).len(), 3);
    b.stop().await;
    let mut failed_over = Vec::new();
    for _ in 0..30 {
        let reply = axon.get("/g").await;
        assert_eq!(reply.status, 200, "{}: {}", trace(&reply), reply.text());
        assert_ne!(reply.text(), "b");
        if trace(&reply).contains("LB/B=failed:") {
            failed_over.push(trace(&reply));
        }
    }
    assert_eq!(
        failed_over.len(),
        1,
        "B is tried once, then suspended: {failed_over:?}"
    );
    assert!(failed_over[0].ends_with(", LB/C=200"), "{failed_over:?}");
    assert_eq!(axon.state("B").await, "SUSPENDED");
    let report = axon.endpoint("LB").await;
    assert_eq!(report["type"], "loadbalance");
    assert_eq!(report["state"], "ACTIVE");
    assert_eq!(report["ready_children"], 2);
    assert_eq!(child(&report, "B")["state"], "SUSPENDED");
    assert_eq!(b.hits(), 2);
}

#[actix_rt::test]
async fn failover_sticks_to_the_primary_moves_on_its_death_and_returns_after_its_suspension() {
    let primary = Backend::named("primary").await;
    let secondary = Backend::named("secondary").await;
    let port = primary.port;
    let fo = failover_to(
        &leaf(
            "Primary",
            &primary.url("/"),
            // Long enough that a busy machine still sees it suspended on the next request.
            "<suspendOnFailure><initialDuration>1500</initialDuration></suspendOnFailure>",
        ),
        &secondary,
        "",
    );
    let axon = TestAxon::start(&[("api.xml", &api("FO")), ("fo.xml", &fo)]).await;
    assert!(bodies(&axon, 5).await.iter().all(|b| b == "primary"));

    primary.stop().await;
    let moved = axon.get("/g").await;
    assert_eq!(moved.status, 200);
    assert_eq!(moved.text(), "secondary");
    let t = trace(&moved);
    assert!(
        t.starts_with("FO/Primary=failed:") && t.ends_with(", FO/Secondary=200"),
        "{t}"
    );
    eventually(Duration::from_secs(5), "the primary suspended", || async {
        axon.state("Primary").await == "SUSPENDED"
    })
    .await;
    let skipping = axon.get("/g").await;
    assert_eq!(
        trace(&skipping),
        "FO/Primary=skipped:SUSPENDED, FO/Secondary=200"
    );

    let _back = Backend::start_on_port(port, |_| Canned::ok("primary again")).await;
    eventually(
        Duration::from_secs(5),
        "traffic back on the primary",
        || async { axon.get("/g").await.text() == "primary again" },
    )
    .await;
    // The successful trial reaches the actor as a message: once it is ACTIVE again, traffic
    // stays on the primary.
    eventually(Duration::from_secs(5), "the primary active", || async {
        axon.state("Primary").await == "ACTIVE"
    })
    .await;
    assert!(bodies(&axon, 3).await.iter().all(|b| b == "primary again"));
}

#[actix_rt::test]
async fn sticky_failover_stays_on_the_secondary_after_the_primary_returns() {
    let port = dead_port();
    let secondary = Backend::named("secondary").await;
    let fo = group(
        "FO",
        r#"failover dynamic="false""#,
        &format!(
            "{}{}",
            leaf(
                "Primary",
                &format!("http://127.0.0.1:{port}/"),
                "<suspendOnFailure><initialDuration>100</initialDuration></suspendOnFailure>"
            ),
            leaf("Secondary", &secondary.url("/"), "")
        ),
    );
    let axon = TestAxon::start(&[("api.xml", &api("FO")), ("fo.xml", &fo)]).await;
    assert_eq!(axon.get("/g").await.text(), "secondary");
    let _primary = Backend::start_on_port(port, |_| Canned::ok("primary")).await;
    // Once the primary's suspension is over, traffic still stays on the secondary.
    eventually(
        Duration::from_secs(5),
        "the primary's suspension to end",
        || async { axon.endpoint("Primary").await["retry_in_ms"] == 0 },
    )
    .await;
    assert!(bodies(&axon, 5).await.iter().all(|b| b == "secondary"));
    assert_eq!(axon.endpoint("FO").await["algorithm"], "sticky");
}

#[actix_rt::test]
async fn a_100_kib_post_that_fails_over_arrives_byte_identical_at_the_secondary() {
    let secondary = Backend::named("secondary").await;
    let axon = dead_primary_then(&secondary, "", "").await;
    let body: Vec<u8> = (0..100 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let reply = axon
        .request(
            "POST",
            "/g/orders?x=1",
            Some(&body),
            &[
                ("content-type", "application/octet-stream"),
                ("x-request-tag", "t-42"),
            ],
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        trace(&reply),
        "FO/Primary=failed:101503, FO/Secondary=200",
        "a refused connection proves nothing was sent, so the POST may be retried"
    );
    let seen = secondary.last();
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.uri, "/orders?x=1");
    assert_eq!(seen.header("x-request-tag"), Some("t-42"));
    assert_eq!(
        seen.header("content-type"),
        Some("application/octet-stream")
    );
    assert_eq!(seen.body.len(), body.len());
    assert!(seen.body == body, "the body changed on the way");
}

#[actix_rt::test]
async fn a_body_larger_than_the_replay_buffer_is_sent_once_and_not_retried() {
    let secondary = Backend::named("secondary").await;
    let axon = dead_primary_then(&secondary, "", "<replayBufferSize>1024</replayBufferSize>").await;
    let reply = axon.request("PUT", "/g", Some(&[7u8; 4096]), &[]).await;
    assert_eq!(reply.status, 502, "{}", reply.text());
    assert_eq!(
        trace(&reply),
        "FO/Primary=failed:101503, FO=not-retried:body-not-replayable"
    );
    let error = &reply.json()["error"];
    assert_eq!(error["code"], 101503);
    // The client sees why in the trace; the child's transport failure (its address, the
    // OS error) stays in the log and the health API.
    assert_eq!(error["detail"], "", "{error}");
    assert_eq!(secondary.hits(), 0);
    // A body within the buffer is retried (a fresh Axon: the primary is not suspended).
    let axon = dead_primary_then(&secondary, "", "<replayBufferSize>1024</replayBufferSize>").await;
    let small = axon.request("PUT", "/g", Some(&[7u8; 1024]), &[]).await;
    assert_eq!(small.status, 200);
    assert_eq!(trace(&small), "FO/Primary=failed:101503, FO/Secondary=200");
    assert_eq!(secondary.last().body, vec![7u8; 1024]);
}

#[actix_rt::test]
async fn the_default_replay_buffer_is_one_mebibyte() {
    const MIB: usize = 1024 * 1024;
    let secondary = Backend::named("secondary").await;
    let axon = dead_primary_then(&secondary, "", "").await;
    let reply = axon
        .request("PUT", "/g", Some(&vec![1u8; MIB + 1]), &[])
        .await;
    assert_eq!(reply.status, 502, "{}", reply.text());
    assert_eq!(
        trace(&reply),
        "FO/Primary=failed:101503, FO=not-retried:body-not-replayable"
    );
    assert_eq!(secondary.hits(), 0);
    let axon = dead_primary_then(&secondary, "", "").await;
    let reply = axon.request("PUT", "/g", Some(&vec![2u8; MIB]), &[]).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(trace(&reply), "FO/Primary=failed:101503, FO/Secondary=200");
    assert_eq!(secondary.last().body, vec![2u8; MIB]);
}

#[actix_rt::test]
async fn a_post_that_may_have_reached_the_backend_is_not_retried_but_a_put_is() {
    let hole = BlackHole::start().await;
    let secondary = Backend::named("secondary").await;
    let fo = failover_to(
        &leaf(
            "Hole",
            &hole.url("/"),
            "<timeout><duration>300</duration></timeout><suspendOnFailure><initialDuration>0</initialDuration></suspendOnFailure>",
        ),
        &secondary,
        "",
    );
    let axon = TestAxon::start(&[("api.xml", &api("FO")), ("fo.xml", &fo)]).await;
    let post = axon.request("POST", "/g", Some(b"pay 10"), &[]).await;
    assert_eq!(post.status, 504, "{}", post.text());
    assert_eq!(
        trace(&post),
        "FO/Hole=failed:101504, FO=not-retried:non-idempotent"
    );
    assert_eq!(secondary.hits(), 0);
    let keyed = axon
        .request("POST", "/g", Some(b"pay 10"), &[("idempotency-key", "k1")])
        .await;
    assert_eq!(keyed.status, 200, "{}", trace(&keyed));
    let put = axon.request("PUT", "/g", Some(b"set 10"), &[]).await;
    assert_eq!(put.status, 200, "{}", trace(&put));
    assert_eq!(trace(&put), "FO/Hole=failed:101504, FO/Secondary=200");
    assert_eq!(secondary.last().body, b"set 10");
}

#[actix_rt::test]
async fn all_children_down_gives_a_prompt_503_and_no_request_storm() {
    let closers = three_closers().await;
    let children: String = closers
        .iter()
        .enumerate()
        .map(|(i, c)| {
            format!(
                r#"<endpoint name="C{i}"><address uri="{}"/><property name="loadbalance.weight" value="{}"/></endpoint>"#,
                c.url("/"),
                i + 1
            )
        })
        .collect();
    // Weighted round-robin: Synapse's version never checks readiness and resends forever.
    let lb = group(
        "LB",
        r#"loadbalance algorithm="org.apache.synapse.endpoints.algorithms.WeightedRoundRobin""#,
        &children,
    );
    let axon = TestAxon::start(&[("api.xml", &api("LB")), ("lb.xml", &lb)]).await;
    let first = axon.get("/g").await;
    assert_eq!(first.status, 503, "{}", first.text());
    let code = first.json()["error"]["code"].as_u64().unwrap();
    assert!(
        (101_500..101_600).contains(&code),
        "the last child's transport code is kept, not 303000: {code}"
    );
    assert_eq!(
        trace(&first).matches("=failed:").count(),
        3,
        "{}",
        trace(&first)
    );
    // A failure reaches its leaf's actor as a message; wait until all three are suspended.
    eventually(Duration::from_secs(5), "every child suspended", || async {
        axon.endpoint("LB").await["ready_children"] == 0
    })
    .await;
    for _ in 0..20 {
        let reply = axon.get("/g").await;
        assert_eq!(reply.status, 503);
        assert_eq!(reply.json()["error"]["code"], 303000);
        assert_eq!(
            trace(&reply),
            "LB/C0=skipped:SUSPENDED, LB/C1=skipped:SUSPENDED, LB/C2=skipped:SUSPENDED"
        );
    }
    let hits: usize = closers.iter().map(Closer::connections).sum();
    assert_eq!(hits, 3, "each child was tried exactly once");
    let report = axon.endpoint("LB").await;
    assert_eq!(report["state"], "SUSPENDED");
    assert_eq!(report["ready_children"], 0);
}

#[actix_rt::test]
async fn max_retries_caps_the_tries_of_one_message() {
    let closers = three_closers().await;
    let children: String = closers
        .iter()
        .enumerate()
        .map(|(i, c)| leaf(&format!("C{i}"), &c.url("/"), ""))
        .collect();
    let fo = group(
        "FO",
        "failover",
        &format!("{children}<maxRetries>1</maxRetries>"),
    );
    let axon = TestAxon::start(&[("api.xml", &api("FO")), ("fo.xml", &fo)]).await;
    let reply = axon.get("/g").await;
    assert_eq!(reply.status, 502, "{}", reply.text());
    let t = trace(&reply);
    assert!(t.starts_with("FO/C0=failed:"), "{t}");
    assert!(t.ends_with(", FO=not-retried:max-retries"), "{t}");
    assert_eq!(t.matches("=failed:").count(), 2, "{t}");
    assert_eq!(closers[2].connections(), 0);
}

#[actix_rt::test]
async fn nested_groups_load_balance_over_failover_groups() {
    let p1 = Backend::named("p1").await;
    let s1 = Backend::named("s1").await;
    let p2 = Backend::named("p2").await;
    let s2 = Backend::named("s2").await;
    let fo = |name: &str, p: &str, pu: &str, s: &str, su: &str| {
        format!(
            r#"<endpoint name="{name}"><failover>{}{}</failover></endpoint>"#,
            leaf(p, pu, ""),
            leaf(s, su, "")
        )
    };
    let lb = format!(
        r#"<endpoint name="LB"><loadbalance>{}{}</loadbalance></endpoint>"#,
        fo("FO1", "P1", &p1.url("/"), "S1", &s1.url("/")),
        fo("FO2", "P2", &p2.url("/"), "S2", &s2.url("/"))
    );
    let axon = TestAxon::start(&[("api.xml", &api("LB")), ("lb.xml", &lb)]).await;
    let counts = tally(&bodies(&axon, 8).await);
    assert_eq!((counts["p1"], counts["p2"]), (4, 4), "{counts:?}");

    p1.stop().await;
    let mut traces = Vec::new();
    for _ in 0..8 {
        let reply = axon.get("/g").await;
        assert_eq!(reply.status, 200);
        assert!(
            ["s1", "p2"].contains(&reply.text().as_str()),
            "{}",
            reply.text()
        );
        traces.push(trace(&reply));
    }
    assert!(
        traces
            .iter()
            .any(|t| t.starts_with("LB/FO1/P1=failed:") && t.ends_with(", LB/FO1/S1=200")),
        "{traces:?}"
    );
    assert!(traces.contains(&"LB/FO1/P1=skipped:SUSPENDED, LB/FO1/S1=200".to_owned()));
    assert!(traces.contains(&"LB/FO2/P2=200".to_owned()));

    let (_, tree) = axon.admin("/health/actors").await;
    let lb = tree["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "LB")
        .unwrap_or_else(|| panic!("no LB in {tree}"));
    assert_eq!(lb["type"], "loadbalance");
    assert_eq!(lb["algorithm"], "roundRobin");
    assert_eq!(lb["state"], "ACTIVE");
    let fo1 = child(lb, "FO1");
    assert_eq!(fo1["type"], "failover");
    assert_eq!(fo1["algorithm"], "priority");
    assert_eq!(fo1["state"], "ACTIVE");
    assert_eq!(child(fo1, "P1")["state"], "SUSPENDED");
    assert_eq!(child(fo1, "P1")["type"], "address");
    assert_eq!(child(fo1, "S1")["state"], "ACTIVE");
}

#[actix_rt::test]
async fn http_sessions_stick_to_their_child_and_move_when_it_is_down() {
    let issued = Arc::new(AtomicUsize::new(0));
    let mut backends = Vec::new();
    for name in ["a", "b", "c"] {
        let issued = issued.clone();
        backends.push(
            Backend::start_with_headers(move |seen| {
                let mut headers = Vec::new();
                if seen.header("cookie").is_none() {
                    let n = issued.fetch_add(1, Ordering::SeqCst);
                    headers.push((
                        "set-cookie".to_owned(),
                        format!("JSESSIONID={name}{n}; Path=/; HttpOnly"),
                    ));
                }
                (Canned::ok(name), headers)
            })
            .await,
        );
    }
    let leaves: String = backends
        .iter()
        .zip(["A", "B", "C"])
        .map(|(b, n)| leaf(n, &b.url("/"), ""))
        .collect();
    let lb = format!(
        r#"<endpoint name="LB"><session type="http"><sessionTimeout>60000</sessionTimeout></session><loadbalance>{leaves}</loadbalance></endpoint>"#
    );
    let axon = TestAxon::start(&[("api.xml", &api("LB")), ("lb.xml", &lb)]).await;
    let first = axon.get("/g").await;
    let cookie = first
        .header("set-cookie")
        .and_then(|c| c.split(';').next().map(str::to_owned))
        .expect("a session cookie");
    let home = first.text();
    let with_cookie = |c: String| {
        let axon = &axon;
        async move {
            let reply = axon
                .request(
                    "GET",
                    "/g",
                    None,
                    &[("cookie", &format!("theme=dark; {c}"))],
                )
                .await;
            assert_eq!(reply.status, 200);
            reply.text()
        }
    };
    for _ in 0..6 {
        assert_eq!(with_cookie(cookie.clone()).await, home);
    }
    // Other clients are still balanced.
    let others = tally(&bodies(&axon, 6).await);
    assert_eq!(others.len(), 3, "{others:?}");

    // The session's child goes down: the session moves, and stays where it moved.
    let home_leaf = home.to_uppercase();
    axon.admin_post(&format!("/health/actors/{home_leaf}/off"))
        .await;
    let moved = with_cookie(cookie.clone()).await;
    assert_ne!(moved, home);
    for _ in 0..4 {
        assert_eq!(with_cookie(cookie.clone()).await, moved);
    }
    axon.admin_post(&format!("/health/actors/{home_leaf}/on"))
        .await;
    assert_eq!(with_cookie(cookie.clone()).await, moved, "re-pinned");
    let report = axon.endpoint("LB").await;
    assert_eq!(report["session"]["type"], "http");
    assert!(report["session"]["sessions"].as_u64().unwrap() >= 1);
}

#[actix_rt::test]
async fn client_sessions_follow_the_soap_client_id() {
    let (a, b) = (Backend::named("a").await, Backend::named("b").await);
    let lb = format!(
        r#"<endpoint name="LB"><session type="simpleClientSession"/><loadbalance>{}{}</loadbalance></endpoint>"#,
        leaf("A", &a.url("/"), ""),
        leaf("B", &b.url("/"), "")
    );
    let axon = TestAxon::start(&[("api.xml", &api("LB")), ("lb.xml", &lb)]).await;
    let envelope = |id: &str| {
        format!(
            r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Header><syn:ClientID xmlns:syn="http://ws.apache.org/ns/synapse">{id}</syn:ClientID></soapenv:Header><soapenv:Body><getQuote/></soapenv:Body></soapenv:Envelope>"#
        )
    };
    let mut seen: HashMap<&str, Vec<String>> = HashMap::new();
    for round in 0..4 {
        for id in ["c1", "c2", "c3"] {
            let reply = axon
                .request(
                    "POST",
                    "/g",
                    Some(envelope(id).as_bytes()),
                    &[("content-type", "text/xml")],
                )
                .await;
            assert_eq!(reply.status, 200, "round {round}");
            seen.entry(id).or_default().push(reply.text());
        }
    }
    for (id, served) in &seen {
        assert!(served.iter().all(|s| s == &served[0]), "{id}: {served:?}");
        let backend = if served[0] == "a" { &a } else { &b };
        let bodies = backend.seen.lock().unwrap();
        let mine = bodies
            .iter()
            .filter(|r| r.body == envelope(id).as_bytes())
            .count();
        assert_eq!(mine, 4, "{id} arrived intact at its backend");
    }
    assert_eq!(a.hits() + b.hits(), 12);
}

#[actix_rt::test]
async fn failover_on_chosen_http_statuses_respects_idempotency() {
    let primary = Backend::start(|_| Canned {
        status: 503,
        ..Canned::ok("busy")
    })
    .await;
    let secondary = Backend::named("secondary").await;
    let fo = group(
        "FO",
        "failover",
        &format!(
            "{}<failoverHttpStatusCodes>502, 503</failoverHttpStatusCodes>",
            keys(&["Primary", "Secondary"])
        ),
    );
    let fo_post = group(
        "FOPost",
        "failover",
        &format!(
            "{}<failoverHttpStatusCodes>5xx</failoverHttpStatusCodes><retryNonIdempotent>true</retryNonIdempotent>",
            keys(&["Primary", "Secondary"])
        ),
    );
    let api2 = r#"<api name="H" context="/h"><resource><inSequence><send><endpoint key="FOPost"/></send></inSequence></resource></api>"#;
    let axon = TestAxon::start(&[
        ("api.xml", &api("FO")),
        ("api2.xml", api2),
        ("fo.xml", &fo),
        ("fopost.xml", &fo_post),
        ("p.xml", &leaf("Primary", &primary.url("/"), "")),
        ("s.xml", &leaf("Secondary", &secondary.url("/"), "")),
    ])
    .await;
    let get = axon.get("/g").await;
    assert_eq!((get.status, get.text().as_str()), (200, "secondary"));
    assert_eq!(trace(&get), "FO/Primary=503, FO/Secondary=200");

    let post = axon.request("POST", "/g", Some(b"order"), &[]).await;
    assert_eq!((post.status, post.text().as_str()), (503, "busy"));
    assert_eq!(
        trace(&post),
        "FO/Primary=503, FO=not-retried:non-idempotent"
    );

    let allowed = axon.request("POST", "/h", Some(b"order"), &[]).await;
    assert_eq!(allowed.status, 200);
    assert_eq!(secondary.last().body, b"order");
    // A 503 answer is still an answer: the primary stays ACTIVE.
    assert_eq!(axon.state("Primary").await, "ACTIVE");
}

#[actix_rt::test]
async fn retry_config_chooses_which_codes_fail_over() {
    // A refused connection (101503) where its code is disabled, or where only another
    // code is enabled, ends the message at the primary.
    for retry in [
        "<disabledErrorCodes>101503</disabledErrorCodes>",
        "<enabledErrorCodes>101504</enabledErrorCodes>",
    ] {
        let secondary = Backend::named("secondary").await;
        let axon = dead_primary_then(
            &secondary,
            &format!("<retryConfig>{retry}</retryConfig>"),
            "",
        )
        .await;
        let reply = axon.get("/g").await;
        assert_eq!(reply.status, 502, "{retry}");
        assert_eq!(reply.json()["error"]["code"], 101503);
        assert_eq!(
            trace(&reply),
            "FO/Primary=failed:101503, FO=not-retried:retry-disabled",
            "{retry}"
        );
        assert_eq!(secondary.hits(), 0, "{retry}");
    }
    // Enabled explicitly, it fails over.
    let secondary = Backend::named("secondary").await;
    let axon = dead_primary_then(
        &secondary,
        "<retryConfig><enabledErrorCodes>101503, 101504</enabledErrorCodes></retryConfig>",
        "",
    )
    .await;
    let reply = axon.get("/g").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(trace(&reply), "FO/Primary=failed:101503, FO/Secondary=200");
}

#[actix_rt::test]
async fn every_try_shares_the_groups_deadline() {
    let (h1, h2) = (BlackHole::start().await, BlackHole::start().await);
    let qos = "<timeout><duration>5000</duration></timeout>";
    let fo = group(
        "FO",
        "failover",
        &format!(
            "{}{}<deadline>400</deadline>",
            leaf("H1", &h1.url("/"), qos),
            leaf("H2", &h2.url("/"), qos)
        ),
    );
    let axon = TestAxon::start(&[("api.xml", &api("FO")), ("fo.xml", &fo)]).await;
    let started = Instant::now();
    let reply = axon.get("/g").await;
    let took = started.elapsed();
    assert_eq!(reply.status, 504, "{}", reply.text());
    assert_eq!(reply.json()["error"]["code"], 101504);
    assert_eq!(trace(&reply), "FO/H1=failed:101504");
    assert!(took >= Duration::from_millis(400), "{took:?}");
    assert!(
        took < Duration::from_millis(4000),
        "waited for the leaf's own timeout: {took:?}"
    );
    assert_eq!(
        axon.state("H1").await,
        "ACTIVE",
        "the group's deadline is not the leaf's failure"
    );
}

/// Sent requests and failures of one leaf, as its report shows them.
fn counters(report: &Value) -> (u64, u64) {
    let c = &report["counters"];
    (
        c["sent"].as_u64().unwrap_or_default(),
        c["failed"].as_u64().unwrap_or_default(),
    )
}

#[actix_rt::test]
async fn actors_whose_handler_panics_under_traffic_are_restarted_with_their_state_intact() {
    let secondary = Backend::named("secondary").await;
    let qos = "<suspendOnFailure><initialDuration>60000</initialDuration></suspendOnFailure>";
    let axon = dead_primary_then(&secondary, qos, "").await;
    assert_eq!(axon.get("/g").await.text(), "secondary");
    assert_eq!(axon.state("Primary").await, "SUSPENDED");
    let stop = Cell::new(false);
    let answers = RefCell::new(Vec::new());
    let client = || async {
        while !stop.get() {
            let reply = axon.get("/g").await;
            answers.borrow_mut().push((reply.status, reply.text()));
        }
    };
    let served = || answers.borrow().len();
    let driver = async {
        eventually(Duration::from_secs(5), "traffic", || async {
            served() >= 20
        })
        .await;
        let before = (
            axon.endpoint("Primary").await,
            axon.endpoint("Secondary").await,
        );
        for name in ["Primary", "Secondary", "FO"] {
            assert!(axon.server.panic_endpoint_actor(name), "{name} exists");
        }
        eventually(Duration::from_secs(5), "restarts counted", || async {
            let report = axon.endpoint("FO").await;
            report["restarts"] == 1
                && child(&report, "Primary")["restarts"] == 1
                && child(&report, "Secondary")["restarts"] == 1
        })
        .await;
        let after_restart = served();
        eventually(Duration::from_secs(5), "traffic after", || async {
            served() >= after_restart + 20
        })
        .await;
        stop.set(true);
        before
    };
    let ((primary, secondary_before), _) = futures_util::future::join(
        driver,
        futures_util::future::join_all((0..4).map(|_| client())),
    )
    .await;

    let wrong: Vec<_> = answers
        .borrow()
        .iter()
        .filter(|(status, text)| (*status, text.as_str()) != (200, "secondary"))
        .cloned()
        .collect();
    assert!(wrong.is_empty(), "clients saw errors: {wrong:?}");
    let report = axon.endpoint("Primary").await;
    assert_eq!(report["state"], "SUSPENDED", "{report}");
    assert_eq!(report["last_error"]["code"], 101503);
    assert_eq!(
        report["transitions"], primary["transitions"],
        "history kept"
    );
    assert_eq!(counters(&report), counters(&primary));
    assert_eq!(report["restarts"], 1);
    assert!(report["last_restart"].is_string(), "{report}");
    let secondary_after = axon.endpoint("Secondary").await;
    assert!(
        counters(&secondary_after).0 > counters(&secondary_before).0,
        "counters kept and counting: {secondary_before} then {secondary_after}"
    );
    assert_eq!(secondary_after["state"], "ACTIVE");
    let (_, tree) = axon.admin("/health/actors").await;
    let fo = tree["endpoints"]
        .as_array()
        .and_then(|e| e.iter().find(|e| e["name"] == "FO"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(fo["restarts"], 1, "{tree}");
    assert!(fo["last_restart"].is_string(), "{tree}");
    assert_eq!(
        trace(&axon.get("/g").await),
        "FO/Primary=skipped:SUSPENDED, FO/Secondary=200"
    );
}

#[actix_rt::test]
async fn an_inline_group_that_gives_up_runs_its_on_error_sequence() {
    let api = format!(
        r#"<api name="G" context="/g"><resource><inSequence><send>
             <endpoint onError="gaveUp"><failover>
               <endpoint><address uri="http://127.0.0.1:{}/"/></endpoint>
               <endpoint><address uri="http://127.0.0.1:{}/"/></endpoint>
             </failover></endpoint>
           </send></inSequence></resource></api>"#,
        dead_port(),
        dead_port()
    );
    let handler = r#"<sequence name="gaveUp"><payloadFactory media-type="text"><format>the group gave up</format></payloadFactory><respond/></sequence>"#;
    let axon = TestAxon::start(&[("api.xml", &api), ("seq.xml", handler)]).await;
    let reply = axon.get("/g").await;
    assert_eq!(
        (reply.status, reply.text().as_str()),
        (503, "the group gave up")
    );
    let t = trace(&reply);
    assert_eq!(t.matches("=failed:101503").count(), 2, "{t}");
    assert!(
        t.starts_with("G.endpoint@"),
        "inline groups are named by position: {t}"
    );
    let (status, body) = axon
        .admin_post(&format!(
            "/health/actors/{}/off",
            t.split('/').next().unwrap_or_default()
        ))
        .await;
    assert_eq!(status, 409, "{body}");
}

#[actix_rt::test]
async fn a_reload_keeps_an_unchanged_groups_sessions() {
    let mut backends = Vec::new();
    for name in ["a", "b"] {
        backends.push(
            Backend::start_with_headers(move |seen| {
                let headers = if seen.header("cookie").is_none() {
                    vec![("set-cookie".to_owned(), format!("SID={name}"))]
                } else {
                    Vec::new()
                };
                (Canned::ok(name), headers)
            })
            .await,
        );
    }
    let lb = format!(
        r#"<endpoint name="LB"><session type="http"/><loadbalance>{}{}</loadbalance></endpoint>"#,
        leaf("A", &backends[0].url("/"), ""),
        leaf("B", &backends[1].url("/"), "")
    );
    let axon = TestAxon::start(&[("api.xml", &api("LB")), ("lb.xml", &lb)]).await;
    let first = axon.get("/g").await;
    let cookie = first.header("set-cookie").expect("a session");
    let home = first.text();
    axon.write(
        "extra.xml",
        r#"<sequence name="unrelated"><log/></sequence>"#,
    );
    let (status, summary) = axon.admin_post("/config/reload").await;
    assert_eq!(status, 200, "{summary}");
    for _ in 0..4 {
        let reply = axon
            .request("GET", "/g", None, &[("cookie", &cookie)])
            .await;
        assert_eq!(reply.text(), home, "the session survived the reload");
    }
}

#[actix_rt::test]
async fn least_connections_sends_around_a_child_that_is_busy() {
    let slow = Backend::start(|_| Canned {
        delay: Duration::from_millis(800),
        ..Canned::ok("slow")
    })
    .await;
    let fast = Backend::named("fast").await;
    let lb = group(
        "LB",
        r#"loadbalance algorithm="leastConnections""#,
        &format!(
            "{}{}",
            leaf("Slow", &slow.url("/"), ""),
            leaf("Fast", &fast.url("/"), "")
        ),
    );
    let axon = TestAxon::start(&[("api.xml", &api("LB")), ("lb.xml", &lb)]).await;
    // Idle children tie; the first pick starts at the first child.
    let held = axon.get("/g");
    let rest = async {
        eventually(
            Duration::from_secs(5),
            "a request in flight on Slow",
            || async { child(&axon.endpoint("LB").await, "Slow")["in_flight"] == 1 },
        )
        .await;
        bodies(&axon, 6).await
    };
    let (held, rest) = tokio::join!(held, rest);
    assert_eq!(held.text(), "slow");
    assert!(rest.iter().all(|b| b == "fast"), "{rest:?}");
    assert_eq!(child(&axon.endpoint("LB").await, "Slow")["in_flight"], 0);
}

#[actix_rt::test]
async fn concurrent_messages_each_get_one_answer_while_a_backend_dies() {
    let (axon, [_a, b, _c]) = lb_over_three("loadbalance").await;
    let burst = |n: usize| {
        let axon = &axon;
        futures_util::future::join_all((0..n).map(move |_| axon.get("/g")))
    };
    let before = burst(30).await;
    assert!(before.iter().all(|r| r.status == 200));
    let (during, ()) = tokio::join!(burst(60), b.stop());
    // Whenever the stop landed in the burst, the burst after it reaches B's place in the
    // rotation too: B must have failed (and been failed over) at least once by then.
    let after = burst(30).await;
    for reply in during.iter().chain(&after) {
        assert_eq!(reply.status, 200, "{}: {}", trace(reply), reply.text());
        assert_eq!(
            trace(reply).matches("=200").count(),
            1,
            "exactly one answer: {}",
            trace(reply)
        );
    }
    let failovers = during
        .iter()
        .chain(&after)
        .filter(|r| trace(r).starts_with("LB/B=failed:"))
        .count();
    assert!(failovers >= 1, "B's death was never seen by a message");
    assert_eq!(axon.state("B").await, "SUSPENDED");
}

#[actix_rt::test]
async fn a_retry_sends_the_original_request_not_the_failed_childs_conversion() {
    let secondary = Backend::named("secondary").await;
    let axon = dead_primary_then_formatted(&secondary).await;
    let json = br#"{"order":{"id":7}}"#;
    let reply = axon
        .request(
            "POST",
            "/g",
            Some(json),
            &[("content-type", "application/json")],
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(trace(&reply), "FO/Primary=failed:101503, FO/Secondary=200");
    let seen = secondary.last();
    assert_eq!(
        seen.body, json,
        "not the SOAP envelope made for the primary"
    );
    assert_eq!(seen.header("content-type"), Some("application/json"));
    assert_eq!(seen.header("soapaction"), None);
    assert_eq!(seen.header("x-primary-only"), None);
}

/// Like [`dead_primary_then`], with a primary that converts to SOAP 1.1 and sets a header.
async fn dead_primary_then_formatted(secondary: &Backend) -> TestAxon {
    let primary = format!(
        r#"<endpoint name="Primary"><address uri="http://127.0.0.1:{}/" format="soap11"/><property name="X-Primary-Only" value="1" scope="transport"/></endpoint>"#,
        dead_port()
    );
    let fo = failover_to(&primary, secondary, "");
    TestAxon::start(&[("api.xml", &api("FO")), ("fo.xml", &fo)]).await
}

#[actix_rt::test]
async fn grpc_calls_fail_over_and_load_balance_over_grpc_leaves() {
    use crate::support::grpc::GrpcBackend;
    use crate::support::grpc::pb::EchoRequest;
    use crate::support::grpc::pb::echo_client::EchoClient;

    let (b1, b2) = (
        GrpcBackend::start("b1").await,
        GrpcBackend::start("b2").await,
    );
    let grpc = |name: &str, uri: &str| {
        format!(r#"<endpoint name="{name}"><grpc uri="{uri}"/></endpoint>"#)
    };
    let dead = format!("http://127.0.0.1:{}", dead_port());
    let api = |name: &str, service: &str, key: &str| {
        format!(
            r#"<api name="{name}" context="/{service}" transports="grpc"><resource url-mapping="/*"><inSequence><send><endpoint key="{key}"/></send></inSequence></resource></api>"#
        )
    };
    let fo = format!(
        r#"<endpoint name="FO"><failover>{}{}</failover></endpoint>"#,
        grpc("Dead", &dead),
        grpc("Live", &b1.uri())
    );
    let axon = TestAxon::start(&[
        ("api.xml", &api("EchoAPI", "axon.test.Echo", "FO")),
        ("fo.xml", &fo),
    ])
    .await;
    let mut client = EchoClient::connect(axon.grpc_url())
        .await
        .expect("connect to Axon's gRPC port");
    for _ in 0..3 {
        let reply = client
            .unary(EchoRequest {
                message: "hi".into(),
                ..EchoRequest::default()
            })
            .await
            .expect("the call fails over to the live backend")
            .into_inner();
        assert_eq!(
            (reply.message.as_str(), reply.server.as_str()),
            ("hi", "b1")
        );
    }
    assert_eq!(axon.state("Dead").await, "SUSPENDED");
    let report = axon.endpoint("FO").await;
    assert_eq!(child(&report, "Dead")["type"], "grpc");

    let lb = format!(
        r#"<endpoint name="LB"><loadbalance>{}{}</loadbalance></endpoint>"#,
        grpc("G1", &b1.uri()),
        grpc("G2", &b2.uri())
    );
    let axon = TestAxon::start(&[
        ("api.xml", &api("EchoAPI", "axon.test.Echo", "LB")),
        ("lb.xml", &lb),
    ])
    .await;
    let mut client = EchoClient::connect(axon.grpc_url())
        .await
        .expect("connect to Axon's gRPC port");
    let mut servers = Vec::new();
    for _ in 0..4 {
        let reply = client
            .unary(EchoRequest::default())
            .await
            .expect("a balanced call")
            .into_inner();
        servers.push(reply.server);
    }
    assert_eq!(servers, ["b1", "b2", "b1", "b2"]);
}

/// Three scripted backends that read the whole request and hang up without answering, as
/// the leaves `C0`, `C1` and `C2` of the group `kind` (without suspension, so every message
/// meets all three).
async fn three_that_read_and_close(kind: &str) -> (TestAxon, Vec<Scripted>) {
    let mut backends = Vec::new();
    for _ in 0..3 {
        backends.push(Scripted::start(vec![Act::ReadHead, Act::ReadBody, Act::Close]).await);
    }
    let qos = "<suspendOnFailure><initialDuration>0</initialDuration></suspendOnFailure>";
    let children: String = backends
        .iter()
        .enumerate()
        .map(|(i, b)| leaf(&format!("C{i}"), &b.url("/"), qos))
        .collect();
    let g = group("G", kind, &children);
    let axon = TestAxon::start(&[("api.xml", &api("G")), ("g.xml", &g)]).await;
    (axon, backends)
}

fn heads(backends: &[Scripted]) -> usize {
    backends.iter().map(Scripted::heads).sum()
}

#[actix_rt::test]
async fn a_post_read_then_dropped_by_the_backend_reaches_exactly_one_member() {
    for kind in ["loadbalance", "failover"] {
        let (axon, backends) = three_that_read_and_close(kind).await;
        let post = axon.request("POST", "/g", Some(b"pay 10"), &[]).await;
        assert_eq!(heads(&backends), 1, "{kind}: {}", trace(&post));
        assert_eq!(post.status, 502, "{kind}: {}", post.text());
        // 101505 (closed) + 3 (the request was sent): not 101503 (connect failed).
        assert_eq!(post.json()["error"]["code"], 101_508, "{}", post.text());
        assert!(
            trace(&post).ends_with("G=not-retried:non-idempotent"),
            "{kind}: {}",
            trace(&post)
        );
        // A GET is idempotent: it goes on to the next members.
        let get = axon.get("/g").await;
        assert_eq!(heads(&backends), 4, "{kind}: {}", trace(&get));
        assert_eq!(
            trace(&get).matches("=failed:101508").count(),
            3,
            "{}",
            trace(&get)
        );
        // So is a POST the client marked safe to repeat.
        let keyed = axon
            .request("POST", "/g", Some(b"pay 10"), &[("idempotency-key", "k1")])
            .await;
        assert_eq!(heads(&backends), 7, "{kind}: {}", trace(&keyed));
    }
}
