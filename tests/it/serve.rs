//! The real binary: `axon serve` on the shipped `mediation/` folder.

use std::time::Duration;

use crate::support::binary::Binary;
use crate::support::client;

#[actix_rt::test]
async fn serve_runs_the_shipped_configuration_and_answers_ping() {
    let root = env!("CARGO_MANIFEST_DIR");
    let mediation = concat!(env!("CARGO_MANIFEST_DIR"), "/mediation");
    let axon = Binary::serve(
        root.as_ref(),
        &["--grpc-port", "0", "--mediation", mediation],
    );
    let (http, management) = (&axon.http, &axon.management);

    let c = client();
    crate::support::eventually(
        Duration::from_secs(5),
        "axon serve reports ready",
        || async {
            c.get(format!("http://{management}/health/ready"))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
        },
    )
    .await;
    let mut resp = c
        .get(format!("http://{http}/ping"))
        .send()
        .await
        .expect("ping");
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(body["status"], "ok");
    // The showcase: a PROTOTYPED API answers from its OpenAPI examples, with no backend.
    let mut pets = c
        .get(format!("http://{http}/petstore/pets"))
        .send()
        .await
        .expect("pets");
    assert_eq!(pets.status(), 200);
    let pets: serde_json::Value = pets.json().await.expect("json");
    assert_eq!(pets[0]["name"], "Rex");
    // The SOAP proxy publishes its WSDL with Axon's own address.
    let mut wsdl = c
        .get(format!("http://{http}/services/StockQuoteProxy?wsdl"))
        .send()
        .await
        .expect("wsdl");
    assert_eq!(wsdl.status(), 200);
    let wsdl = String::from_utf8(wsdl.body().await.expect("body").to_vec()).expect("utf-8");
    assert!(
        wsdl.contains(&format!(
            "location=\"http://{http}/services/StockQuoteProxy"
        )),
        "{wsdl}"
    );
    assert!(!wsdl.contains("127.0.0.1:9000"), "{wsdl}");
    let mut tree = c
        .get(format!("http://{management}/health/actors"))
        .send()
        .await
        .expect("tree");
    let tree: serde_json::Value = tree.json().await.expect("json");
    assert!(
        tree["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["name"] == "OrdersBackend")
    );
    // Proxy services are in the tree beside the APIs.
    let proxy = &tree["proxies"][0];
    assert_eq!(proxy["name"], "StockQuoteProxy", "{tree}");
    assert_eq!(proxy["type"], "proxy");
    assert_eq!(proxy["endpoint"], "StockQuoteProxy/StockQuoteService");
}

/// The first reload after start keeps the health of an endpoint whose definition did not
/// change, although `--mediation` was given relative: a WSDL endpoint whose document is
/// read from the folder stays SUSPENDED.
#[actix_rt::test]
async fn a_reload_keeps_a_suspended_wsdl_endpoint_of_a_relative_mediation_path() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/mediation");
    let dir = tempfile::tempdir().expect("tempdir");
    let dead = format!("127.0.0.1:{}", crate::support::dead_port());
    let wsdl = std::fs::read_to_string(format!("{root}/wsdl/stockquote.wsdl")).expect("wsdl");
    let proxy = std::fs::read_to_string(format!("{root}/proxy-services/stockquote-proxy.xml"));
    crate::support::write(
        dir.path(),
        "med/wsdl/stockquote.wsdl",
        &wsdl.replace("127.0.0.1:9000", &dead),
    );
    crate::support::write(dir.path(), "med/proxy.xml", &proxy.expect("proxy"));
    let axon = Binary::serve(dir.path(), &["--no-grpc", "--mediation", "med"]);
    let c = client();
    let admin = |path: &str| format!("http://{}{path}", axon.management);
    let state = || async {
        let mut r = c.get(admin("/health/actors")).send().await.expect("tree");
        let tree: serde_json::Value = r.json().await.expect("json");
        let endpoints = tree["endpoints"].as_array().cloned().unwrap_or_default();
        let name = "StockQuoteProxy/StockQuoteService";
        let endpoint = endpoints.iter().find(|e| e["name"] == name);
        endpoint.map_or_else(String::new, |e| {
            e["state"].as_str().unwrap_or("").to_owned()
        })
    };
    let envelope = r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><m:getQuote xmlns:m="http://services.samples"/></soapenv:Body></soapenv:Envelope>"#;
    let sent = c
        .post(format!("http://{}/services/StockQuoteProxy", axon.http))
        .insert_header(("Content-Type", "text/xml"))
        .insert_header(("SOAPAction", "\"urn:getQuote\""))
        .send_body(envelope)
        .await
        .expect("soap call");
    assert_ne!(sent.status(), 200);
    crate::support::eventually(Duration::from_secs(5), "the endpoint suspends", || async {
        state().await == "SUSPENDED"
    })
    .await;
    let mut reload = c
        .post(admin("/config/reload"))
        .send()
        .await
        .expect("reload");
    assert_eq!(reload.status(), 200);
    let summary: serde_json::Value = reload.json().await.expect("json");
    assert_eq!(
        summary["endpoints_started"],
        serde_json::json!([]),
        "{summary}"
    );
    assert_eq!(summary["proxies"], 1, "{summary}");
    assert_eq!(state().await, "SUSPENDED");
    // A refused reload names its files as `axon check med` would: relative.
    crate::support::write(
        dir.path(),
        "med/broken.xml",
        "<api name=\"B\" context=\"/b\">",
    );
    let mut refused = c
        .post(admin("/config/reload"))
        .send()
        .await
        .expect("reload");
    assert_eq!(refused.status(), 400);
    let refused: serde_json::Value = refused.json().await.expect("json");
    let first = refused["errors"][0].as_str().unwrap_or_default();
    assert!(first.starts_with("med/broken.xml:"), "{refused}");
}
