//! The real binary: `axon serve` on the shipped `mediation/` folder.

use std::time::Duration;

use crate::support::{axon_serve, client, stderr_lines};

#[actix_rt::test]
async fn serve_runs_the_shipped_configuration_and_answers_ping() {
    let mediation = concat!(env!("CARGO_MANIFEST_DIR"), "/mediation");
    let mut child = axon_serve(std::path::Path::new(mediation), "info", |_| {});
    // The listening line carries the bound addresses (port 0 was asked for).
    let lines = stderr_lines(&mut child);
    let line = std::iter::from_fn(|| lines.recv_timeout(Duration::from_secs(30)).ok())
        .find(|line| line.contains("Axon is listening"))
        .expect("axon started");
    let field = |name: &str| -> String {
        let start = line.find(&format!("{name}=")).expect("field") + name.len() + 1;
        line[start..]
            .split_whitespace()
            .next()
            .expect("value")
            .to_owned()
    };
    let http = field("http_addr").replace("0.0.0.0", "127.0.0.1");
    let management = field("management_addr");

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
}
