//! The `cache` mediator: a finder in the request flow, a collector in the response flow,
//! in front of a real backend that counts its requests.

use std::time::Duration;

use crate::support::backend::{Backend, Canned};
use crate::support::{TestAxon, eventually};

/// An API at `/c` that caches with `attrs` and `protocol`, calls `backend` and collects.
fn api(attrs: &str, protocol: &str, max_size: &str, backend: &Backend) -> String {
    format!(
        r#"<api xmlns="http://ws.apache.org/ns/synapse" name="C" context="/c">
  <resource methods="GET POST" uri-template="/*"><inSequence>
    <cache id="c" {attrs}>
      <protocol type="HTTP">{protocol}
        <headersToExcludeInHash>User-Agent</headersToExcludeInHash>
        <responseCodes>2[0-9][0-9]</responseCodes>
        <hashGenerator>org.wso2.carbon.mediator.cache.digest.HttpRequestHashGenerator</hashGenerator>
      </protocol>
      <implementation maxSize="{max_size}"/>
    </cache>
    <call><endpoint><address uri="{}"/></endpoint></call>
    <cache collector="true"/>
    <respond/>
  </inSequence></resource>
</api>"#,
        backend.url("/b")
    )
}

/// A backend that answers each request with its path, body and a running number (a path
/// with `big` gets 100 bytes, one with `fail` a 500).
async fn echo() -> Backend {
    let n = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    Backend::start(move |seen| {
        let i = n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let body = format!("{} {} #{i}", seen.uri, String::from_utf8_lossy(&seen.body));
        let mut canned = Canned::ok(&body);
        if seen.uri.contains("big") {
            canned.body = vec![b'x'; 100];
        }
        if seen.uri.contains("fail") {
            canned.status = 500;
        }
        canned
    })
    .await
}

/// The counts of the cache `id` in the health API (the stores live per process, so each
/// test names its own).
async fn counts(axon: &TestAxon, id: &str) -> (u64, u64, u64) {
    let (status, tree) = axon.admin("/health/actors").await;
    assert_eq!(status, 200);
    let c = tree["caches"]
        .as_array()
        .and_then(|all| all.iter().find(|c| c["id"] == id))
        .unwrap_or_else(|| panic!("cache {id} in {tree}"))
        .clone();
    let n = |k: &str| c[k].as_u64().expect("a count");
    (n("hits"), n("misses"), n("evictions"))
}

#[actix_rt::test]
async fn a_miss_then_a_hit_calls_the_backend_once() {
    let backend = echo().await;
    let config = api("", "", "10", &backend).replace(r#"id="c""#, r#"id="once""#);
    let axon = TestAxon::start(&[("apis/c.xml", &config)]).await;
    let first = axon.get("/c/a?q=1").await;
    let second = axon.get("/c/a?q=1").await;
    assert_eq!(first.status, 200);
    assert_eq!(second.status, 200);
    assert_eq!(first.text(), second.text(), "the stored response is served");
    assert_eq!(backend.hits(), 1);
    assert_eq!(second.header("content-type").as_deref(), Some("text/plain"));
    // another query is another key
    let other = axon.get("/c/a?q=2").await;
    assert_ne!(other.text(), first.text());
    assert_eq!(backend.hits(), 2);
    assert_eq!(counts(&axon, "once").await, (1, 2, 0));
    let mut scrape = axon
        .client
        .get(axon.admin_url("/metrics"))
        .send()
        .await
        .expect("scrape");
    let text = String::from_utf8(scrape.body().await.expect("body").to_vec()).expect("text");
    for line in [
        r#"axon_cache_total{cache="once",result="hit"} 1"#,
        r#"axon_cache_total{cache="once",result="miss"} 2"#,
    ] {
        assert!(text.contains(line), "{line} in {text}");
    }
}

#[actix_rt::test]
async fn entries_expire_after_the_timeout() {
    let backend = echo().await;
    let axon = TestAxon::start(&[("apis/c.xml", &api(r#"timeout="1""#, "", "10", &backend))]).await;
    let first = axon.get("/c/a").await.text();
    assert_eq!(axon.get("/c/a").await.text(), first);
    assert_eq!(backend.hits(), 1);
    eventually(Duration::from_secs(10), "the entry to expire", || async {
        axon.get("/c/a").await.text() != first
    })
    .await;
    assert_eq!(backend.hits(), 2);
}

#[actix_rt::test]
async fn max_size_evicts_the_least_recently_used_and_large_responses_are_not_kept() {
    let backend = echo().await;
    let attrs = r#"maxMessageSize="50""#;
    let config = api(attrs, "", "2", &backend).replace(r#"id="c""#, r#"id="lru""#);
    let axon = TestAxon::start(&[("apis/c.xml", &config)]).await;
    axon.get("/c/a").await;
    axon.get("/c/b").await;
    axon.get("/c/a").await; // a hit: /b is now the least recently used
    axon.get("/c/c").await; // evicts /b
    assert_eq!(backend.hits(), 3);
    axon.get("/c/a").await;
    assert_eq!(backend.hits(), 3, "/a stayed");
    axon.get("/c/b").await;
    assert_eq!(backend.hits(), 4, "/b was evicted");
    let (_, _, evictions) = counts(&axon, "lru").await;
    assert_eq!(evictions, 2);
    // 100 bytes is over maxMessageSize: every request goes to the backend
    axon.get("/c/big").await;
    axon.get("/c/big").await;
    assert_eq!(backend.hits(), 6);
}

#[actix_rt::test]
async fn a_no_store_response_is_not_cached() {
    let backend = Backend::start_with_headers(|_| {
        let headers = vec![("Cache-Control".to_owned(), "private, no-store".to_owned())];
        (Canned::ok("fresh"), headers)
    })
    .await;
    let axon = TestAxon::start(&[("apis/c.xml", &api("", "", "10", &backend))]).await;
    axon.get("/c/a").await;
    axon.get("/c/a").await;
    assert_eq!(backend.hits(), 2);
}

/// Axon caching `methods`, before a fresh counting backend.
async fn with_methods(methods: &str) -> (Backend, TestAxon) {
    let backend = echo().await;
    let methods = format!("<methods>{methods}</methods>");
    let axon = TestAxon::start(&[("apis/c.xml", &api("", &methods, "10", &backend))]).await;
    (backend, axon)
}

#[actix_rt::test]
async fn posts_are_cached_only_when_listed_and_by_their_body() {
    let (backend, axon) = with_methods("GET,POST").await;
    let post = |body: &'static str| axon.request("POST", "/c/p", Some(body.as_bytes()), &[]);
    let a = post("alpha").await.text();
    let b = post("beta").await.text();
    assert!(a.contains("alpha") && b.contains("beta"), "{a} / {b}");
    assert_eq!(post("alpha").await.text(), a);
    assert_eq!(post("beta").await.text(), b);
    assert_eq!(backend.hits(), 2);

    let (backend, axon) = with_methods("GET").await;
    let post = |body: &'static str| axon.request("POST", "/c/p", Some(body.as_bytes()), &[]);
    post("alpha").await;
    post("alpha").await;
    assert_eq!(backend.hits(), 2, "POST is not listed");
    axon.get("/c/g").await;
    axon.get("/c/g").await;
    assert_eq!(backend.hits(), 3);
}

#[actix_rt::test]
async fn on_cache_hit_runs_on_the_stored_response() {
    let backend = echo().await;
    let on_hit = r#"<onCacheHit><header name="X-Cached" value="yes" scope="transport"/><respond/></onCacheHit>"#;
    let axon = TestAxon::start(&[(
        "apis/c.xml",
        &api("", "", "10", &backend).replace("<protocol", &format!("{on_hit}<protocol")),
    )])
    .await;
    let first = axon.get("/c/a").await;
    assert_eq!(first.header("x-cached"), None);
    let second = axon.get("/c/a").await;
    assert_eq!(second.header("x-cached").as_deref(), Some("yes"));
    assert_eq!(second.text(), first.text());
    assert_eq!(backend.hits(), 1);
}

#[actix_rt::test]
async fn hashed_headers_response_codes_and_the_age_header_follow_the_settings() {
    let backend = echo().await;
    let age = "<includeAgeHeader>true</includeAgeHeader>";
    let config = api("", age, "10", &backend).replace(r#"id="c""#, r#"id="settings""#);
    let axon = TestAxon::start(&[("apis/c.xml", &config)]).await;
    let get = async |agent: &str, tenant: &str| {
        let headers = [("User-Agent", agent), ("X-Tenant", tenant)];
        axon.request("GET", "/c/h", None, &headers).await
    };
    let first = get("one", "a").await;
    assert_eq!(first.header("age"), None, "a miss is the backend's answer");
    let second = get("two", "a").await;
    assert_eq!(
        second.text(),
        first.text(),
        "User-Agent is excluded from the hash"
    );
    let age: u64 = second.header("age").expect("Age").parse().expect("seconds");
    assert!(age < 60, "Age {age}");
    assert_ne!(
        get("one", "b").await.text(),
        first.text(),
        "X-Tenant is hashed"
    );
    assert_eq!(backend.hits(), 2);
    // 500 is not in responseCodes (2xx): never stored
    assert_eq!(axon.get("/c/fail").await.status, 500);
    assert_eq!(axon.get("/c/fail").await.status, 500);
    assert_eq!(backend.hits(), 4);
}

#[actix_rt::test]
async fn bad_values_are_load_errors() {
    let backend = echo().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let bad = api(
        r#"timeout="soon""#,
        "<methods>GET,FETCH</methods>",
        "0",
        &backend,
    )
    .replace("2[0-9][0-9]", "2[0-9");
    crate::support::write(dir.path(), "apis/c.xml", &bad);
    let out = crate::support::axon_check(dir.path());
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    for expected in [
        "<cache timeout> must be a positive whole number",
        "<methods> names `FETCH`, which is no HTTP method",
        "<responseCodes> is not a regular expression",
        "<implementation maxSize> must be a positive whole number",
    ] {
        assert!(stderr.contains(expected), "{expected:?} in {stderr}");
    }
}
