//! The `throttle` mediator: rates per caller address and the concurrency limit, with real
//! clients on two loopback addresses and a real backend.

use std::net::Ipv4Addr;
use std::time::Duration;

use crate::support::TestAxon;
use crate::support::backend::{Backend, Canned};
use crate::support::scripted::RawClient;

const ONE: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
const TWO: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

/// An API at `/t` whose resource throttles with `assertion`, then `sequence`.
fn api(assertion: &str, rest: &str, backend: &Backend) -> String {
    format!(
        r#"<api xmlns="http://ws.apache.org/ns/synapse" name="T" context="/t">
  <resource methods="GET" uri-template="/*"><inSequence>
    <throttle id="limit">
      <policy>
        <wsp:Policy xmlns:wsp="http://schemas.xmlsoap.org/ws/2004/09/policy"
                    xmlns:throttle="http://www.wso2.org/products/wso2commons/throttle">
          <throttle:MediatorThrottleAssertion>{assertion}</throttle:MediatorThrottleAssertion>
        </wsp:Policy>
      </policy>
      {rest}
    </throttle>
    <call><endpoint><address uri="{}"/></endpoint></call>
    <respond/>
  </inSequence></resource>
</api>"#,
        backend.url("/b")
    )
}

/// A caller entry: `id` may make `max` requests per `unit_ms`.
fn entry(id: &str, max: u32, unit_ms: u32) -> String {
    format!(
        r#"<wsp:Policy><throttle:ID throttle:type="IP">{id}</throttle:ID><wsp:Policy><throttle:Control><wsp:Policy>
          <throttle:MaximumCount>{max}</throttle:MaximumCount><throttle:UnitTime>{unit_ms}</throttle:UnitTime>
        </wsp:Policy></throttle:Control></wsp:Policy></wsp:Policy>"#
    )
}

/// One GET from `source`: the status and the `Retry-After` header.
async fn get_from(axon: &TestAxon, source: Ipv4Addr, extra: &str) -> (u16, Option<String>) {
    let mut client = RawClient::connect_from(source, axon.server.http_addr().port()).await;
    let head = format!("GET /t/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n{extra}\r\n");
    assert!(client.send(head.as_bytes()).await);
    let (bytes, closed) = client.read_until_close(Duration::from_secs(10)).await;
    assert!(closed, "the answer ends");
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let status = text
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("a status line in {text:?}"));
    let retry = text.lines().find_map(|l| {
        l.to_ascii_lowercase()
            .strip_prefix("retry-after: ")
            .map(str::to_owned)
    });
    (status, retry)
}

#[actix_rt::test]
async fn a_burst_from_two_callers_limits_only_the_one_over_its_rate() {
    let backend = Backend::named("b").await;
    // 127.0.0.1 may make 2 requests per 10 minutes; everyone else 100
    let policy = entry("127.0.0.1", 2, 600_000) + &entry("other", 100, 600_000);
    let axon = TestAxon::start(&[("apis/t.xml", &api(&policy, "", &backend))]).await;

    let mut one = Vec::new();
    let mut two = Vec::new();
    for _ in 0..5 {
        one.push(get_from(&axon, ONE, "").await);
        two.push(get_from(&axon, TWO, "").await);
    }
    let statuses = |r: &[(u16, Option<String>)]| r.iter().map(|(s, _)| *s).collect::<Vec<_>>();
    assert_eq!(statuses(&one), [200, 200, 429, 429, 429]);
    assert_eq!(statuses(&two), [200; 5]);
    // the limiter refills one request every 5 minutes: the caller is told to wait
    let retry: u64 = one[2]
        .1
        .as_deref()
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!((1..=300).contains(&retry), "Retry-After {retry}");
    assert_eq!(
        backend.hits(),
        7,
        "rejected requests never reach the backend"
    );
}

#[actix_rt::test]
async fn on_reject_runs_instead_of_the_429() {
    let backend = Backend::named("b").await;
    let reject = r#"<onReject><payloadFactory media-type="json"><format>{"busy":true}</format><args/></payloadFactory>
        <property name="HTTP_SC" value="503" scope="axis2"/><respond/></onReject>"#;
    let axon = TestAxon::start(&[(
        "apis/t.xml",
        &api(&entry("other", 1, 600_000), reject, &backend),
    )])
    .await;

    assert_eq!(get_from(&axon, TWO, "").await.0, 200);
    let reply = axon.get("/t/x").await;
    assert_eq!(reply.status, 503, "{}", reply.text());
    assert_eq!(reply.json()["busy"], true);
    assert_eq!(backend.hits(), 1);
}

#[actix_rt::test]
async fn the_concurrency_limit_holds_a_slot_until_the_message_ends() {
    let backend = Backend::start(|seen| Canned {
        delay: match seen.header("x-slow") {
            Some(_) => Duration::from_secs(3),
            None => Duration::ZERO,
        },
        ..Canned::ok("b")
    })
    .await;
    let policy = "<throttle:MaximumConcurrentAccess>1</throttle:MaximumConcurrentAccess>";
    let axon = TestAxon::start(&[("apis/t.xml", &api(policy, "", &backend))]).await;
    let port = axon.server.http_addr().port();

    let slow = actix_rt::spawn(async move {
        let mut client = RawClient::connect_from(ONE, port).await;
        let head = "GET /t/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\nX-Slow: 1\r\n\r\n";
        assert!(client.send(head.as_bytes()).await);
        client.read_until_close(Duration::from_secs(10)).await
    });
    crate::support::eventually(Duration::from_secs(5), "the slow request in flight", || {
        let hits = backend.hits();
        async move { hits == 1 }
    })
    .await;
    let (status, retry) = get_from(&axon, TWO, "").await;
    assert_eq!(
        status, 429,
        "a second request while the first holds the only slot"
    );
    assert_eq!(retry.as_deref(), Some("1"));

    let (bytes, _) = slow.await.expect("the slow request");
    assert!(
        bytes.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&bytes)
    );
    assert_eq!(
        get_from(&axon, TWO, "").await.0,
        200,
        "the slot is free again"
    );
}

#[actix_rt::test]
async fn a_policy_by_key_loads_and_bad_policies_are_load_errors() {
    let backend = Backend::named("b").await;
    let by_key = api("", "", &backend).replace(
        r#"<throttle id="limit">
      <policy>"#,
        r#"<throttle id="limit">
      <policy key="Limits"/><!--"#,
    );
    // its own id: the counts of a throttle are per process, by artifact, id and policy,
    // and the tests share one process
    let by_key = by_key
        .replace("</policy>", "-->")
        .replace("id=\"limit\"", "id=\"keyed\"");
    let entry_xml = format!(
        r#"<localEntry xmlns="http://ws.apache.org/ns/synapse" key="Limits"><wsp:Policy xmlns:wsp="http://schemas.xmlsoap.org/ws/2004/09/policy" xmlns:throttle="http://www.wso2.org/products/wso2commons/throttle"><throttle:MediatorThrottleAssertion>{}</throttle:MediatorThrottleAssertion></wsp:Policy></localEntry>"#,
        entry("other", 1, 600_000)
    );
    let axon = TestAxon::start(&[
        ("apis/t.xml", &by_key),
        ("local-entries/limits.xml", &entry_xml),
    ])
    .await;
    assert_eq!(axon.get("/t/x").await.status, 200);
    assert_eq!(
        axon.get("/t/x").await.status,
        429,
        "the keyed policy limits"
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let bad = entry("10.0.0.300", 1, 1000)
        + &entry("other", 5, 0)
        + "<throttle:MaximumConcurrentAccess>many</throttle:MaximumConcurrentAccess>";
    crate::support::write(dir.path(), "apis/t.xml", &api(&bad, "", &backend));
    crate::support::write(
        dir.path(),
        "apis/u.xml",
        &api("", "", &backend)
            .replace("name=\"T\" context=\"/t\"", "name=\"U\" context=\"/u\"")
            .replace("<throttle id=\"limit\">", "<throttle>")
            .replace("<policy>", "<policy key=\"Nowhere\">")
            .replace("</policy>", "</policy><onReject sequence=\"Missing\"/>"),
    );
    let out = crate::support::axon_check(dir.path());
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    for expected in [
        "throttle:ID `10.0.0.300` is no IP address, pattern or range",
        "throttle:Control with a MaximumCount needs a UnitTime above 0 (ms)",
        "<throttle:MaximumConcurrentAccess> must be a whole number, not `many`",
        "<throttle> needs attribute `id`",
        "<policy> takes `key` or an inline policy, not both",
        "sequence `Missing` is not defined",
    ] {
        assert!(stderr.contains(expected), "{expected:?} in {stderr}");
    }
}

#[actix_rt::test]
async fn a_reload_keeps_the_counts_while_the_policy_stays_the_same() {
    let backend = Backend::named("b").await;
    let with = |max| {
        api(&entry("other", max, 600_000), "", &backend).replace("id=\"limit\"", "id=\"reload\"")
    };
    let axon = TestAxon::start(&[("apis/t.xml", &with(1))]).await;
    assert_eq!(axon.get("/t/x").await.status, 200);

    axon.write("apis/other.xml", r#"<api xmlns="http://ws.apache.org/ns/synapse" name="O" context="/o"><resource><inSequence><drop/></inSequence></resource></api>"#);
    let (status, summary) = axon.admin_post("/config/reload").await;
    assert_eq!(status, 200, "{summary}");
    assert_eq!(
        axon.get("/t/x").await.status,
        429,
        "the count survived the reload"
    );

    axon.write("apis/t.xml", &with(2));
    let (status, summary) = axon.admin_post("/config/reload").await;
    assert_eq!(status, 200, "{summary}");
    assert_eq!(
        axon.get("/t/x").await.status,
        200,
        "a new policy counts afresh"
    );
}

#[actix_rt::test]
async fn a_denied_domain_and_a_prohibit_period_answer_429_with_their_own_wait() {
    let backend = Backend::named("b").await;
    let policy = r#"<wsp:Policy><throttle:ID throttle:type="DOMAIN">blocked.example</throttle:ID><wsp:Policy><throttle:Deny/></wsp:Policy></wsp:Policy>
        <wsp:Policy><throttle:ID throttle:type="IP">other</throttle:ID><wsp:Policy><throttle:Control><wsp:Policy>
          <throttle:MaximumCount>1</throttle:MaximumCount><throttle:UnitTime>600000</throttle:UnitTime>
          <throttle:ProhibitTimePeriod>2000</throttle:ProhibitTimePeriod>
        </wsp:Policy></throttle:Control></wsp:Policy></wsp:Policy>"#;
    let config = api(policy, "", &backend).replace("id=\"limit\"", "id=\"prohibit\"");
    let axon = TestAxon::start(&[("apis/t.xml", &config)]).await;

    let denied = get_from(&axon, ONE, "X-Forwarded-Host: Blocked.Example\r\n").await;
    assert_eq!(denied, (429, None), "a denied caller is not told to wait");
    assert_eq!(get_from(&axon, TWO, "").await, (200, None));
    // over the rate: kept out for the prohibit period (2 s), not until the limiter's
    // next refill (10 minutes)
    let (status, retry) = get_from(&axon, TWO, "").await;
    assert_eq!((status, retry.as_deref()), (429, Some("2")));
    let (status, retry) = get_from(&axon, ONE, "").await;
    assert_eq!(status, 429, "`other` is shared by its callers");
    let retry: u64 = retry.expect("Retry-After").parse().expect("seconds");
    assert!(
        (1..=2).contains(&retry),
        "within the prohibit period: {retry}"
    );
    assert_eq!(backend.hits(), 1);
}
