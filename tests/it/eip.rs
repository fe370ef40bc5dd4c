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
    Canned {
        delay,
        ..json(body)
    }
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
    assert!(
        trace.contains("fan[2]/") && trace.contains("=failed:"),
        "{trace}"
    );
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
    assert_eq!(sorted(&reply.json(), "n"), vec![1, 2]);
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
    assert_eq!(sorted(&reply.json(), "n"), vec![1, 2, 3]);
}

/// A backend that answers each request with its own body (JSON).
async fn echo(content_type: &'static str) -> Backend {
    Backend::start(move |seen| Canned {
        content_type,
        ..Canned::ok(&String::from_utf8_lossy(&seen.body))
    })
    .await
}

fn iterate_api(body: &str) -> String {
    format!(
        "<api {NS} name=\"I\" context=\"/i\"><resource methods=\"POST\"><inSequence>{body}</inSequence></resource></api>"
    )
}

fn items(n: usize) -> String {
    let list: Vec<String> = (0..n).map(|i| format!("{{\"id\":{i}}}")).collect();
    format!("{{\"items\":[{}]}}", list.join(","))
}

fn ids(value: &serde_json::Value) -> Vec<i64> {
    sorted(value, "id")
}

/// The `field` of each object of the array `value`, sorted.
fn sorted(value: &serde_json::Value, field: &str) -> Vec<i64> {
    let mut out: Vec<i64> = value
        .as_array()
        .expect("an array")
        .iter()
        .map(|v| v[field].as_i64().expect("a number"))
        .collect();
    out.sort_unstable();
    out
}

async fn post_json(axon: &TestAxon, path: &str, body: &str) -> crate::support::Reply {
    axon.request(
        "POST",
        path,
        Some(body.as_bytes()),
        &[("Content-Type", "application/json")],
    )
    .await
}

fn json_split(url: &str, sequential: bool) -> String {
    iterate_api(&format!(
        "<iterate id=\"it\" sequential=\"{sequential}\" expression=\"json-eval($.items)\"><target><sequence>\
         <call><endpoint><http method=\"POST\" uri-template=\"{url}\"/></endpoint></call>\
         </sequence></target></iterate>\
         <aggregate id=\"it\"><onComplete expression=\"json-eval($)\"><respond/></onComplete></aggregate>"
    ))
}

#[actix_rt::test]
async fn iterate_splits_json_and_aggregate_merges_10_and_1000_elements() {
    let backend = echo("application/json").await;
    let api = json_split(&backend.url("/item"), false);
    let axon = TestAxon::start(&[("apis/i.xml", &api)]).await;
    for n in [10, 1000] {
        let body = items(n);
        let reply = post_json(&axon, "/i", &body).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        let want: Vec<i64> = (0..n as i64).collect();
        assert_eq!(ids(&reply.json()), want, "n = {n}");
    }
    assert_eq!(backend.hits(), 1010);
    // Each split message carried its own element only.
    assert!(
        backend
            .seen
            .lock()
            .unwrap()
            .iter()
            .all(|s| s.body.len() < 20)
    );
}

#[actix_rt::test]
async fn iterate_splits_xml_and_aggregate_encloses_10_and_1000_elements() {
    let backend = echo("application/xml").await;
    let api = iterate_api(&format!(
        "<property name=\"ENC\" type=\"OM\"><orders xmlns=\"\"/></property>\
         <iterate expression=\"//order\"><target><sequence>\
         <call><endpoint><http method=\"POST\" uri-template=\"{}\"/></endpoint></call>\
         </sequence></target></iterate>\
         <aggregate><onComplete expression=\"//order\" enclosingElementProperty=\"ENC\"><respond/></onComplete></aggregate>",
        backend.url("/order")
    ));
    let axon = TestAxon::start(&[("apis/i.xml", &api)]).await;
    for n in [10, 1000] {
        let orders: String = (0..n)
            .map(|i| format!("<order><id>{i}</id></order>"))
            .collect();
        let body = format!("<orders>{orders}</orders>");
        let reply = axon
            .request(
                "POST",
                "/i",
                Some(body.as_bytes()),
                &[("Content-Type", "application/xml")],
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        let text = reply.text();
        assert!(
            text.starts_with("<orders") && text.ends_with("</orders>"),
            "{text}"
        );
        assert_eq!(text.matches("<order>").count(), n);
        for i in [0, n - 1] {
            assert!(
                text.contains(&format!("<order><id>{i}</id></order>")),
                "{i}"
            );
        }
    }
}

#[actix_rt::test]
async fn sequential_iterate_runs_one_at_a_time_in_order() {
    // The first elements answer slowest: only one at a time keeps the order.
    let backend = Backend::start(|seen| {
        let id: serde_json::Value = serde_json::from_slice(&seen.body).unwrap_or_default();
        let wait = 5 * (5 - id["id"].as_u64().unwrap_or(0).min(5));
        Canned {
            delay: Duration::from_millis(wait),
            ..json(&String::from_utf8_lossy(&seen.body))
        }
    })
    .await;
    let api = json_split(&backend.url("/item"), true);
    let axon = TestAxon::start(&[("apis/i.xml", &api)]).await;
    let body = items(6);
    let reply = post_json(&axon, "/i", &body).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let got: Vec<i64> = reply
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_i64().unwrap())
        .collect();
    assert_eq!(got, vec![0, 1, 2, 3, 4, 5]);
    let seen: Vec<String> = backend
        .seen
        .lock()
        .unwrap()
        .iter()
        .map(|s| String::from_utf8_lossy(&s.body).into_owned())
        .collect();
    let want: Vec<String> = (0..6).map(|i| format!("{{\"id\":{i}}}")).collect();
    assert_eq!(seen, want);
}

#[actix_rt::test]
async fn two_concurrent_parents_never_mix_their_branches() {
    let backend = Backend::start(|seen| Canned {
        delay: Duration::from_millis(20),
        ..json(&String::from_utf8_lossy(&seen.body))
    })
    .await;
    let api = json_split(&backend.url("/item"), false);
    let axon = TestAxon::start_one_worker(&[("apis/i.xml", &api)]).await;
    let first: Vec<String> = (0..20).map(|i| format!("{{\"id\":{i}}}")).collect();
    let second: Vec<String> = (100..120).map(|i| format!("{{\"id\":{i}}}")).collect();
    let (a, b) = (
        format!("{{\"items\":[{}]}}", first.join(",")),
        format!("{{\"items\":[{}]}}", second.join(",")),
    );
    let headers = [("Content-Type", "application/json")];
    let (ra, rb) = tokio::join!(
        axon.request("POST", "/i", Some(a.as_bytes()), &headers),
        axon.request("POST", "/i", Some(b.as_bytes()), &headers)
    );
    assert_eq!(ids(&ra.json()), (0..20).collect::<Vec<i64>>());
    assert_eq!(ids(&rb.json()), (100..120).collect::<Vec<i64>>());
}

#[actix_rt::test]
async fn nested_iterate_and_aggregate() {
    let backend = echo("application/json").await;
    let api = iterate_api(&format!(
        "<iterate id=\"outer\" expression=\"json-eval($.groups)\"><target><sequence>\
           <iterate id=\"inner\" expression=\"json-eval($.items)\"><target><sequence>\
             <call><endpoint><http method=\"POST\" uri-template=\"{}\"/></endpoint></call>\
           </sequence></target></iterate>\
           <aggregate id=\"inner\"><onComplete expression=\"json-eval($)\"><property name=\"done\" value=\"1\"/></onComplete></aggregate>\
         </sequence></target></iterate>\
         <aggregate id=\"outer\"><onComplete expression=\"json-eval($)\"><respond/></onComplete></aggregate>",
        backend.url("/x")
    ));
    let axon = TestAxon::start(&[("apis/i.xml", &api)]).await;
    let body = "{\"groups\":[{\"items\":[{\"id\":1},{\"id\":2}]},{\"items\":[{\"id\":3}]},{\"items\":[{\"id\":4},{\"id\":5},{\"id\":6}]}]}";
    let reply = post_json(&axon, "/i", body).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let mut groups: Vec<Vec<i64>> = reply
        .json()
        .as_array()
        .expect("groups")
        .iter()
        .map(ids)
        .collect();
    groups.sort();
    assert_eq!(groups, vec![vec![1, 2], vec![3], vec![4, 5, 6]]);
    assert_eq!(backend.hits(), 6);
}

#[actix_rt::test]
async fn send_in_branches_and_aggregate_in_the_out_sequence() {
    let backend = echo("application/json").await;
    let api = format!(
        "<api {NS} name=\"O\" context=\"/o\"><resource methods=\"POST\"><inSequence>\
         <iterate expression=\"json-eval($.items)\"><target><sequence>\
         <send><endpoint><http method=\"POST\" uri-template=\"{}\"/></endpoint></send>\
         </sequence></target></iterate></inSequence>\
         <outSequence><aggregate><onComplete expression=\"json-eval($)\"><send/></onComplete></aggregate></outSequence>\
         </resource></api>",
        backend.url("/x")
    );
    let axon = TestAxon::start(&[("apis/o.xml", &api)]).await;
    let body = items(5);
    let reply = post_json(&axon, "/o", &body).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(ids(&reply.json()), vec![0, 1, 2, 3, 4]);
}

#[test]
fn fan_out_configuration_errors_are_reported_at_load() {
    let dir = tempfile::tempdir().unwrap();
    crate::support::write(
        dir.path(),
        "apis/a.xml",
        concat!(
            "<api xmlns=\"http://ws.apache.org/ns/synapse\" name=\"A\" context=\"/a\">\n",
            "  <resource methods=\"POST\">\n",
            "    <inSequence>\n",
            "      <clone/>\n",
            "      <clone><target sequence=\"s\" endpoint=\"e\"/></clone>\n",
            "      <iterate><target/></iterate>\n",
            "      <aggregate><completeCondition timeout=\"soon\"/><onComplete/></aggregate>\n",
            "      <aggregate><completeCondition><messageCount min=\"two\"/></completeCondition></aggregate>\n",
            "    </inSequence>\n",
            "  </resource>\n",
            "</api>\n",
        ),
    );
    crate::support::write(
        dir.path(),
        "sequences/s.xml",
        "<sequence xmlns=\"http://ws.apache.org/ns/synapse\" name=\"s\"><drop/></sequence>\n",
    );
    crate::support::write(
        dir.path(),
        "endpoints/e.xml",
        "<endpoint xmlns=\"http://ws.apache.org/ns/synapse\" name=\"e\"><address uri=\"http://127.0.0.1:9/\"/></endpoint>\n",
    );
    let out = crate::support::axon_check(dir.path());
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    for (line, text) in [
        (4, "<clone> needs at least one <target>"),
        (5, "runs a sequence or sends to an endpoint, not both"),
        (6, "`expression`"),
        (7, "`timeout` must be a number"),
        (8, "expected a whole number"),
        (8, "<aggregate> needs an <onComplete>"),
    ] {
        assert!(
            stderr
                .lines()
                .any(|l| l.contains(&format!("a.xml:{line}:")) && l.contains(text)),
            "line {line}: {text}\n{stderr}"
        );
    }
}

#[actix_rt::test]
async fn a_large_split_runs_off_the_worker_and_merges_10000_elements() {
    // Over 256 KiB: the split runs on the blocking pool and comes back as its pieces.
    let api = iterate_api(
        "<iterate expression=\"json-eval($.items)\"><target><sequence><property name=\"seen\" value=\"1\"/></sequence></target></iterate>\
         <aggregate><onComplete expression=\"json-eval($.id)\"><respond/></onComplete></aggregate>",
    );
    let axon = TestAxon::start(&[("apis/i.xml", &api)]).await;
    let list: Vec<String> = (0..10_000)
        .map(|i| format!("{{\"id\":{i},\"pad\":\"{:020}\"}}", i))
        .collect();
    let body = format!("{{\"items\":[{}]}}", list.join(","));
    assert!(body.len() > 256 * 1024);
    let reply = post_json(&axon, "/i", &body).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let mut got: Vec<i64> = reply
        .json()
        .as_array()
        .expect("array")
        .iter()
        .map(|v| v.as_i64().expect("id"))
        .collect();
    got.sort_unstable();
    assert_eq!(got, (0..10_000).collect::<Vec<i64>>());
}

#[actix_rt::test]
async fn clone_with_continue_parent_answers_with_the_parent_after_the_branches() {
    let backend = echo("application/json").await;
    let api = format!(
        "<api {NS} name=\"P\" context=\"/p\"><resource methods=\"POST\"><inSequence>\
         <clone continueParent=\"true\"><target><sequence>\
         <call><endpoint><http method=\"POST\" uri-template=\"{}\"/></endpoint></call>\
         <respond/></sequence></target></clone>\
         <payloadFactory media-type=\"json\"><format>{{\"parent\": true}}</format><args/></payloadFactory>\
         <respond/></inSequence></resource></api>",
        backend.url("/notify")
    );
    let axon = TestAxon::start(&[("apis/p.xml", &api)]).await;
    let reply = post_json(&axon, "/p", "{\"event\":1}").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json(), serde_json::json!({"parent": true}));
    assert_eq!(backend.hits(), 1);
    assert_eq!(backend.last().body, b"{\"event\":1}");
    let trace = reply.header("x-axon-trace").unwrap_or_default();
    assert!(trace.starts_with("fork[0]/"), "{trace}");
}

#[actix_rt::test]
async fn scatter_gather_merges_json_and_xml_results_in_the_sequences_order() {
    let a = Backend::start(|_| slow("{\"price\":10}", Duration::from_millis(30))).await;
    let b = Backend::start(|_| json("{\"price\":12}")).await;
    let seq = |u: &str| {
        format!(
            "<sequence><call><endpoint><http method=\"GET\" uri-template=\"{u}\"/></endpoint></call></sequence>"
        )
    };
    let api = format!(
        "<api {NS} name=\"S\" context=\"/s\">\
         <resource methods=\"GET\" uri-template=\"/json\"><inSequence>\
         <scatter-gather parallel-execution=\"true\" result-content-type=\"JSON\" target=\"body\">\
         <aggregation expression=\"${{payload.price}}\"/>{}{}</scatter-gather>\
         <respond/></inSequence></resource>\
         <resource methods=\"GET\" uri-template=\"/xml\"><inSequence>\
         <scatter-gather result-content-type=\"XML\" result-enclosing-element=\"quotes\" target=\"body\">\
         <aggregation expression=\"${{xpath('//price')}}\"/>{}{}</scatter-gather>\
         <respond/></inSequence></resource></api>",
        seq(&a.url("/a")),
        seq(&b.url("/b")),
        seq(&a.url("/a")),
        seq(&b.url("/b")),
    );
    let axon = TestAxon::start(&[("apis/s.xml", &api)]).await;
    let reply = axon.get("/s/json").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json(), serde_json::json!([10, 12]));
    let reply = axon.get("/s/xml").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        reply.text(),
        "<quotes><price>10</price><price>12</price></quotes>"
    );
}

#[actix_rt::test]
async fn a_failed_branch_runs_its_own_fault_handling_and_the_aggregate_completes_without_it() {
    let good = Backend::start(|_| json("{\"n\":1}")).await;
    let audit = Backend::start(|_| json("{}")).await;
    let dead = format!("http://127.0.0.1:{}/x", crate::support::dead_port());
    let seq = |name: &str, body: &str, on_error: &str| {
        format!("<sequence {NS} name=\"{name}\"{on_error}>{body}</sequence>")
    };
    let call = |u: &str| {
        format!("<call><endpoint><http method=\"GET\" uri-template=\"{u}\"/></endpoint></call>")
    };
    let api = format!(
        "<api {NS} name=\"C\" context=\"/c\"><resource methods=\"GET\"><inSequence>\
         <clone><target sequence=\"good\"/><target sequence=\"bad\"/></clone>\
         <aggregate><onComplete expression=\"json-eval($)\"><respond/></onComplete></aggregate>\
         </inSequence></resource></api>"
    );
    let axon = TestAxon::start(&[
        ("apis/c.xml", &api),
        (
            "sequences/good.xml",
            &seq("good", &call(&good.url("/g")), ""),
        ),
        (
            "sequences/bad.xml",
            &seq("bad", &call(&dead), " onError=\"audit\""),
        ),
        (
            "sequences/audit.xml",
            &seq("audit", &call(&audit.url("/audit")), ""),
        ),
    ])
    .await;
    let reply = axon.get("/c").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json(), serde_json::json!([{"n": 1}]));
    assert_eq!(audit.hits(), 1, "the failed branch's onError ran once");
}

/// The fan-out's deadline (`--global-timeout-ms` from the fork) ends branches that outlive
/// it, whatever their endpoints' own timeouts: with nothing collected, the client gets a
/// mediation error and the branches are listed as late, never a hung request.
#[actix_rt::test]
async fn a_fan_out_that_collects_nothing_by_the_deadline_fails_and_lists_its_branches_late() {
    let slow = Backend::start(|_| slow("{}", Duration::from_secs(30))).await;
    let call = format!(
        "<call><endpoint><http method=\"GET\" uri-template=\"{}\">\
         <timeout><duration>60000</duration></timeout></http></endpoint></call>",
        slow.url("/s")
    );
    let api = format!(
        "<api {NS} name=\"C\" context=\"/c\"><resource methods=\"GET\"><inSequence>\
         <clone id=\"fan\"><target><sequence>{call}</sequence></target>\
         <target><sequence>{call}</sequence></target></clone>\
         <aggregate id=\"fan\"><onComplete expression=\"json-eval($)\"><respond/></onComplete></aggregate>\
         </inSequence></resource></api>"
    );
    let limits = axon::base::limits::Limits {
        global_timeout: Duration::from_secs(1),
        ..Default::default()
    };
    let axon = TestAxon::start_with(&[("apis/c.xml", &api)], limits).await;
    let reply = axon.get("/c").await;
    assert_eq!(reply.status, 500, "{}", reply.text());
    let trace = reply.header("x-axon-trace").unwrap_or_default();
    assert!(
        trace.contains("fan[0]=skipped:late") && trace.contains("fan[1]=skipped:late"),
        "{trace}"
    );
}

/// `continueParent="true"` with an aggregate: the merged message runs `onComplete` beside
/// the parent, and the parent goes on with its own message, not a copy of the merged one.
#[actix_rt::test]
async fn continue_parent_keeps_the_parents_message_while_on_complete_runs_beside_it() {
    let backend = echo("application/json").await;
    let audit = echo("application/json").await;
    let post = |u: String| {
        format!("<call><endpoint><http method=\"POST\" uri-template=\"{u}\"/></endpoint></call>")
    };
    let api = format!(
        "<api {NS} name=\"P\" context=\"/p\"><resource methods=\"POST\"><inSequence>\
         <clone continueParent=\"true\"><target><sequence>{}</sequence></target></clone>\
         <aggregate><onComplete expression=\"json-eval($)\">{}</onComplete></aggregate>\
         <respond/></inSequence></resource></api>",
        post(backend.url("/notify")),
        post(audit.url("/audit")),
    );
    let axon = TestAxon::start(&[("apis/p.xml", &api)]).await;
    let reply = post_json(&axon, "/p", "{\"event\":1}").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        reply.json(),
        serde_json::json!({"event": 1}),
        "the parent's own body"
    );
    assert_eq!(audit.hits(), 1, "onComplete ran once");
    assert_eq!(audit.last().body, b"[{\"event\":1}]");
}
