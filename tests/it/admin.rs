//! The management API: liveness, readiness, the actor tree, and reload.

use std::time::Duration;

use crate::support::backend::Backend;
use crate::support::{TestAxon, eventually};

const API: &str = r#"<api name="Svc" context="/svc"><resource methods="GET"><inSequence><send><endpoint key="Backend"/></send></inSequence></resource></api>"#;

fn endpoint(url: &str) -> String {
    format!(r#"<endpoint name="Backend"><address uri="{url}"/></endpoint>"#)
}

#[actix_rt::test]
async fn liveness_readiness_and_the_actor_tree() {
    let backend = Backend::named("b").await;
    let alias = r#"<endpoint name="Alias" key="Backend"/>"#;
    let axon = TestAxon::start(&[
        ("api.xml", API),
        ("ep.xml", &endpoint(&backend.url("/"))),
        ("alias.xml", alias),
    ])
    .await;
    let (status, live) = axon.admin("/health/live").await;
    assert_eq!((status, live["status"].as_str()), (200, Some("live")));
    let (status, ready) = axon.admin("/health/ready").await;
    assert_eq!(status, 200);
    assert_eq!(ready["actors_started"], ready["actors_expected"]);
    assert_eq!(axon.get("/svc").await.status, 200);

    let (status, tree) = axon.admin("/health/actors").await;
    assert_eq!(status, 200);
    assert_eq!(tree["apis"][0]["name"], "Svc");
    assert_eq!(tree["apis"][0]["context"], "/svc");
    let endpoints = tree["endpoints"].as_array().unwrap();
    let leaf = endpoints.iter().find(|e| e["name"] == "Backend").unwrap();
    assert_eq!(leaf["type"], "address");
    assert_eq!(leaf["state"], "ACTIVE");
    assert_eq!(leaf["counters"]["sent"], 1);
    assert_eq!(leaf["counters"]["succeeded"], 1);
    let alias = endpoints.iter().find(|e| e["name"] == "Alias").unwrap();
    assert_eq!(
        (alias["type"].as_str(), alias["target"].as_str()),
        (Some("key"), Some("Backend"))
    );
    let fronts: Vec<(String, String, u64)> = tree["fronts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let text = |k: &str| f[k].as_str().unwrap_or_default().to_owned();
            (
                text("name"),
                text("address"),
                f["generation"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    let server = &axon.server;
    let grpc = server.grpc_addr().expect("the tests run a gRPC front");
    assert_eq!(
        fronts,
        vec![
            ("http".into(), server.http_addr().to_string(), 1),
            ("grpc".into(), grpc.to_string(), 1),
            ("management".into(), server.management_addr().to_string(), 1)
        ],
        "one front actor per listener"
    );
    assert_eq!(axon.admin("/health/actors/Svc").await.1["type"], "api");
    assert_eq!(axon.admin("/health/actors/missing").await.0, 404);
}

#[actix_rt::test]
async fn reload_keeps_health_of_unchanged_endpoints_and_rejects_bad_configurations() {
    let backend = Backend::named("b").await;
    let axon = TestAxon::start(&[("api.xml", API), ("ep.xml", &endpoint(&backend.url("/")))]).await;
    assert_eq!(axon.get("/svc").await.status, 200);
    axon.admin_post("/health/actors/Backend/off").await;

    // A broken file: the reload is refused with positions, and the old config keeps serving.
    axon.write("extra.xml", "<api name=\"Extra\" context=\"/extra\">\n  <resource><inSequence><nonsense/></inSequence></resource>\n</api>");
    let (status, body) = axon.admin_post("/config/reload").await;
    assert_eq!(status, 400);
    let errors = body["errors"].as_array().unwrap();
    assert!(
        errors[0].as_str().unwrap().contains("extra.xml:2:"),
        "{body}"
    );
    assert!(
        errors[0]
            .as_str()
            .unwrap()
            .contains("unknown mediator <nonsense>"),
        "{body}"
    );
    assert_eq!(
        axon.get("/svc").await.status,
        503,
        "old config, endpoint still OFF"
    );
    assert_eq!(axon.get("/extra").await.status, 404);

    // A good reload: the new API is served, and the unchanged endpoint kept its state.
    let (_, tree) = axon.admin("/health/actors").await;
    let before = tree["fronts"][0]["generation"]
        .as_u64()
        .expect("a front's generation");
    axon.write("extra.xml", "<api name=\"Extra\" context=\"/extra\"><resource><inSequence><drop/></inSequence></resource></api>");
    let (status, summary) = axon.admin_post("/config/reload").await;
    assert_eq!(status, 200, "{summary}");
    assert_eq!(summary["endpoints_kept"], serde_json::json!(["Backend"]));
    assert_eq!(axon.get("/extra").await.status, 202);
    let generation = summary["generation"].as_u64().unwrap();
    assert!(
        generation > before,
        "a reload is a new generation ({before} -> {generation})"
    );
    eventually(Duration::from_secs(5), "fronts switched", || async {
        let (_, tree) = axon.admin("/health/actors").await;
        let fronts = tree["fronts"].as_array().cloned().unwrap_or_default();
        fronts.len() == 3 && fronts.iter().all(|f| f["generation"] == generation)
    })
    .await;
    assert_eq!(axon.state("Backend").await, "OFF");

    // Changing the endpoint starts it afresh.
    axon.write("ep.xml", &endpoint(&backend.url("/other")));
    let (_, summary) = axon.admin_post("/config/reload").await;
    assert_eq!(summary["endpoints_started"], serde_json::json!(["Backend"]));
    assert_eq!(axon.state("Backend").await, "ACTIVE");
    assert_eq!(axon.get("/svc").await.status, 200);
    assert_eq!(backend.last().uri, "/other");
}

/// A raw request to the management API with the given `Host` and `Origin`: its status.
async fn raw_admin(axon: &TestAxon, method: &str, path: &str, host: &str, origin: &str) -> u16 {
    use crate::support::scripted::{RawClient, status_of};
    let mut client = RawClient::connect(axon.server.management_addr().port()).await;
    let origin = match origin {
        "" => String::new(),
        o => format!("Origin: {o}\r\n"),
    };
    // A browser's cross-site form: text/plain needs no CORS preflight.
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\n{origin}Content-Type: text/plain\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    assert!(client.send(request.as_bytes()).await);
    let head = client
        .read_head(std::time::Duration::from_secs(10))
        .await
        .expect("an answer");
    status_of(&head).expect("a status line")
}

#[actix_rt::test]
async fn a_rebound_host_or_a_foreign_origin_cannot_use_the_management_api() {
    let backend = Backend::named("b").await;
    let axon = TestAxon::start(&[("api.xml", API), ("ep.xml", &endpoint(&backend.url("/")))]).await;
    let own = axon.server.management_addr().to_string();
    let off = "/health/actors/Backend/off";
    // DNS rebinding: the attacker's name now resolves to 127.0.0.1.
    assert_eq!(
        raw_admin(&axon, "POST", off, "attacker.example:9164", "").await,
        403
    );
    assert_eq!(
        raw_admin(&axon, "GET", "/health/actors", "attacker.example", "").await,
        403
    );
    // A cross-site form from another page, with Axon's own Host.
    let foreign = "http://attacker.example";
    assert_eq!(raw_admin(&axon, "POST", off, &own, foreign).await, 403);
    assert_eq!(
        raw_admin(&axon, "POST", "/config/reload", &own, foreign).await,
        403
    );
    assert_eq!(raw_admin(&axon, "POST", off, &own, "null").await, 403);
    assert_eq!(
        axon.state("Backend").await,
        "ACTIVE",
        "nothing was switched"
    );
    // The refusal says why, as JSON.
    let mut resp = axon
        .client
        .post(axon.admin_url(off))
        .insert_header(("origin", foreign))
        .send()
        .await
        .expect("admin request");
    assert_eq!(resp.status(), 403);
    let body: serde_json::Value = resp.json().await.expect("JSON");
    assert!(
        body["error"].as_str().unwrap().contains("cross-origin"),
        "{body}"
    );
    // Its own origin, a loopback name, and tools that send no Origin are served.
    let same = format!("http://{own}");
    assert_eq!(
        raw_admin(&axon, "GET", "/health/live", &own, &same).await,
        200
    );
    let localhost = format!("localhost:{}", axon.server.management_addr().port());
    assert_eq!(raw_admin(&axon, "POST", off, &localhost, "").await, 200);
    assert_eq!(axon.state("Backend").await, "OFF");
}
