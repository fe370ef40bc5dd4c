//! Prototype endpoints: inline mocks with templating, OpenAPI mocks with `Prefer`/`Accept`
//! negotiation, programmable faults, the PROTOTYPED-only rule at load and at run time, and
//! the shipped pet store.

use std::time::Duration;

use axon::base::limits::Limits;
use serde_json::json;
use tokio::time::Instant;

use crate::support::TestAxon;

/// A PROTOTYPED API whose every request goes to endpoint `endpoint`.
fn api_to(name: &str, context: &str, lifecycle: &str, endpoint: &str) -> String {
    format!(
        r#"<api name="{name}" context="{context}" lifecycle="{lifecycle}">
             <resource url-mapping="/*"><inSequence><send><endpoint key="{endpoint}"/></send></inSequence></resource>
           </api>"#
    )
}

const INVENTORY_MOCK: &str = r#"<endpoint name="InventoryMock">
  <prototype>
    <fault every="4" status="503"/>
    <fault header="X-Fault" equals="teapot" status="418">
      <header name="X-Why" value="asked by {header.X-Caller}"/>
      <body media-type="text/plain">short and stout</body>
    </fault>
    <response method="GET" uri-template="/items/{id}">
      <header name="X-Item" value="{uri.var.id}"/>
      <header name="X-Request-Id" value="{header.X-Request-Id}"/>
      <body><![CDATA[{"id": "{uri.var.id}", "verbose": "{query.param.verbose}", "caller": "{header.X-Caller}"}]]></body>
    </response>
    <response method="POST PUT" uri-template="/items" status="201">
      <header name="Location" value="/inventory/items/42"/>
      <body media-type="application/xml"><![CDATA[<item><id>42</id><note>{header.X-Note}</note></item>]]></body>
    </response>
    <response method="DELETE" uri-template="/items/{id}" status="204"/>
  </prototype>
</endpoint>"#;

/// The inventory mock with its every-4th-call fault out of the way.
fn inventory_without_counting() -> String {
    INVENTORY_MOCK.replace(r#"every="4""#, r#"every="1000""#)
}

#[actix_rt::test]
async fn inline_responses_are_templated_from_the_request() {
    let axon = TestAxon::start(&[
        (
            "api.xml",
            &api_to("Inventory", "/inventory", "PROTOTYPED", "InventoryMock"),
        ),
        ("mock.xml", &inventory_without_counting()),
    ])
    .await;
    let r = axon
        .request(
            "GET",
            "/inventory/items/A%2017?verbose=y%22es",
            None,
            &[("X-Request-Id", "r-1"), ("X-Caller", "tests")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/json")
    );
    assert_eq!(r.header("x-item").as_deref(), Some("A 17"));
    assert_eq!(r.header("x-request-id").as_deref(), Some("r-1"));
    assert_eq!(
        r.json(),
        json!({"id": "A 17", "verbose": "y\"es", "caller": "tests"}),
        "values are escaped for JSON"
    );
    assert_eq!(
        r.header("x-axon-trace").as_deref(),
        Some("InventoryMock=200")
    );

    let r = axon
        .request(
            "POST",
            "/inventory/items",
            Some(b"{}"),
            &[("X-Note", "<fragile> & boxed")],
        )
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(r.header("location").as_deref(), Some("/inventory/items/42"));
    assert_eq!(r.header("content-type").as_deref(), Some("application/xml"));
    assert_eq!(
        r.text(),
        "<item><id>42</id><note>&lt;fragile&gt; &amp; boxed</note></item>"
    );

    let r = axon
        .request("DELETE", "/inventory/items/7", None, &[])
        .await;
    assert_eq!((r.status, r.body.len()), (204, 0));

    // No response for the path: 404; the path but not the method: 405 with Allow.
    let r = axon.get("/inventory/nothing").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.header("x-axon-error-code").as_deref(), Some("900906"));
    assert!(
        r.json()["error"]["detail"]
            .as_str()
            .unwrap()
            .contains("has no response for GET /nothing")
    );
    let r = axon.request("PATCH", "/inventory/items/7", None, &[]).await;
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow").as_deref(), Some("GET, DELETE"));
}

#[actix_rt::test]
async fn resource_path_variables_and_endpoint_properties_reach_the_mock() {
    let api = r#"<api name="Quotes" context="/quotes" lifecycle="PROTOTYPED">
      <resource methods="GET" uri-template="/{symbol}">
        <inSequence><send><endpoint><prototype>
          <response><body>{"symbol": "{uri.var.symbol}", "currency": "{query.param.currency}"}</body></response>
        </prototype><property name="query.param.currency" value="EUR"/></endpoint></send></inSequence>
      </resource></api>"#;
    let axon = TestAxon::start(&[("api.xml", api)]).await;
    let r = axon.get("/quotes/WSO2").await;
    assert_eq!(r.json(), json!({"symbol": "WSO2", "currency": "EUR"}));
}

#[actix_rt::test]
async fn programmed_faults_by_call_count_and_by_header() {
    let axon = TestAxon::start(&[
        (
            "api.xml",
            &api_to("Inventory", "/inventory", "PROTOTYPED", "InventoryMock"),
        ),
        ("mock.xml", INVENTORY_MOCK),
    ])
    .await;
    let mut statuses = Vec::new();
    for _ in 0..8 {
        statuses.push(axon.get("/inventory/items/1").await.status);
    }
    assert_eq!(statuses, [200, 200, 200, 503, 200, 200, 200, 503]);

    // Call 9 is hit by the header rule: its own status, headers and body.
    let r = axon
        .request(
            "GET",
            "/inventory/items/1",
            None,
            &[("X-Fault", "teapot"), ("X-Caller", "ci")],
        )
        .await;
    assert_eq!(r.status, 418);
    assert_eq!(r.header("x-why").as_deref(), Some("asked by ci"));
    assert_eq!(r.text(), "short and stout");
    assert_eq!(
        r.header("x-axon-prototype-fault").as_deref(),
        Some("header x-fault: teapot")
    );

    // The 12th call hits every 4th; its default body names the rule.
    for _ in 0..2 {
        axon.get("/inventory/items/1").await;
    }
    let r = axon.get("/inventory/items/1").await;
    assert_eq!(r.status, 503);
    assert!(
        r.json()["error"]["detail"]
            .as_str()
            .unwrap()
            .contains("programmed fault of prototype endpoint `InventoryMock`: every 4th call"),
        "{}",
        r.text()
    );

    // Programmed faults never change the endpoint's health.
    let health = axon.endpoint("InventoryMock").await;
    assert_eq!(health["state"], "ACTIVE");
    assert_eq!(health["type"], "prototype");
    assert_eq!(health["counters"]["sent"], 12);
    assert_eq!(health["counters"]["failed"], 0);
}

#[actix_rt::test]
async fn delays_and_dropped_connections() {
    let mock = r#"<endpoint name="Slow"><prototype>
        <fault header="X-Fault" equals="drop" drop="true"/>
        <fault header="X-Fault" equals="late-drop" drop="true" delay="50"/>
        <fault header="X-Fault" equals="stall" delay="60000"/>
        <response delay="250"><body>{"ok": true}</body></response>
      </prototype></endpoint>"#;
    let limits = Limits {
        global_timeout: Duration::from_millis(1500),
        ..Limits::default()
    };
    let axon = TestAxon::start_with(
        &[
            ("api.xml", &api_to("SlowAPI", "/slow", "PROTOTYPED", "Slow")),
            ("mock.xml", mock),
        ],
        limits,
    )
    .await;

    // A response delay: nothing arrives before it has passed.
    let started = Instant::now();
    let r = axon.get("/slow/x").await;
    assert_eq!(r.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(250));

    // A dropped connection: the client gets no response at all, and Axon keeps serving.
    for fault in ["drop", "late-drop"] {
        let sent = axon
            .client
            .get(axon.url("/slow/x"))
            .insert_header(("X-Fault", fault))
            .send()
            .await;
        assert!(
            sent.is_err(),
            "{fault}: expected no response, got {:?}",
            sent.map(|r| r.status())
        );
    }
    assert_eq!(axon.get("/slow/x").await.status, 200);

    // A delay past the deadline is a timeout, as with a slow backend: 504 and 101504, and
    // the prototype stays ACTIVE.
    let r = axon
        .request("GET", "/slow/x", None, &[("X-Fault", "stall")])
        .await;
    assert_eq!(r.status, 504);
    assert_eq!(r.header("x-axon-error-code").as_deref(), Some("101504"));
    assert_eq!(axon.state("Slow").await, "ACTIVE");
}

const PETS: &str = r##"
openapi: 3.0.3
info: {title: pets, version: "1"}
paths:
  /pets:
    get:
      responses:
        default:
          description: error
          content:
            application/json: {example: {error: boom}}
        '200':
          description: list
          headers:
            X-Total: {schema: {type: integer}, example: 3}
          content:
            application/json:
              examples:
                page: {value: [{id: 1, name: Rex}, {id: 2, name: Tom}]}
                empty: {value: []}
            application/xml:
              example: <pets><pet>Rex</pet></pets>
    post:
      responses:
        '201':
          description: created
          content:
            application/json: {example: {id: 3}}
  /pets/{id}:
    get:
      responses:
        '200':
          description: one
          content:
            application/json: {examples: {rex: {value: {id: 1}}, tom: {$ref: '#/components/examples/Tom'}}}
        4XX:
          description: problem
          content:
            application/problem+json: {example: {title: no such pet}}
        '503':
          description: down
    delete:
      responses:
        '204': {description: gone}
  /bare:
    get:
      responses:
        '200':
          description: no examples here
          content:
            application/json: {schema: {type: object}}
components:
  examples:
    Tom: {value: {id: 2, name: Tom}}
"##;

#[actix_rt::test]
async fn openapi_examples_by_prefer_and_accept() {
    let axon = TestAxon::start(&[
        ("api.xml", &api_to("Pets", "/api", "PROTOTYPED", "PetsMock")),
        (
            "mock.xml",
            r#"<endpoint name="PetsMock"><prototype openapi="specs/pets.yaml"/></endpoint>"#,
        ),
        ("specs/pets.yaml", PETS),
    ])
    .await;
    let get = |path: &'static str, headers: &'static [(&'static str, &'static str)]| {
        let axon = &axon;
        async move { axon.request("GET", path, None, headers).await }
    };

    // No preference: `default` with status 200 (reference §6, step 3).
    let r = get("/api/pets", &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), json!({"error": "boom"}));

    // A preferred code: that response, JSON, its first example and its example headers.
    let r = get("/api/pets", &[("Prefer", "code=200")]).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/json")
    );
    assert_eq!(r.header("x-total").as_deref(), Some("3"));
    assert_eq!(r.text(), r#"[{"id":1,"name":"Rex"},{"id":2,"name":"Tom"}]"#);

    let r = get("/api/pets", &[("Prefer", "code=200, example=empty")]).await;
    assert_eq!((r.status, r.text().as_str()), (200, "[]"));
    assert_eq!(
        r.header("preference-applied").as_deref(),
        Some("code=200, example=empty")
    );

    let r = get(
        "/api/pets",
        &[
            ("Prefer", "code=200"),
            ("Accept", "text/html, application/xml;q=0.9"),
        ],
    )
    .await;
    assert_eq!(r.header("content-type").as_deref(), Some("application/xml"));
    assert_eq!(r.text(), "<pets><pet>Rex</pet></pets>");

    let r = get("/api/pets/2", &[("Prefer", "example=Tom")]).await;
    assert_eq!(r.json(), json!({"id": 2, "name": "Tom"}));

    // Preferred codes: exact, then NNx, then Nxx; a content-less response has no body.
    let r = get("/api/pets/9", &[("Prefer", "code=404")]).await;
    assert_eq!(r.status, 404);
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/problem+json")
    );
    assert_eq!(r.json(), json!({"title": "no such pet"}));
    let r = get("/api/pets/9", &[("Prefer", "code=503")]).await;
    assert_eq!((r.status, r.body.len()), (503, 0));

    // The 400 and 501 cases, with JSON error bodies.
    let r = get("/api/pets", &[("Prefer", "code=20")]).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.header("x-axon-error-code").as_deref(), Some("900870"));
    assert_eq!(r.json()["error"]["code"], 900870);
    for (headers, detail) in [
        (
            &[("Prefer", "code=302")][..],
            "Preferred code 302 is not supported",
        ),
        (
            &[("Prefer", "example=garfield")][..],
            "Example preference garfield",
        ),
        (
            &[("Accept", "text/csv")][..],
            "Accept type text/csv is not supported",
        ),
    ] {
        let r = axon.request("GET", "/api/pets", None, headers).await;
        assert_eq!(r.status, 501, "{headers:?}");
        assert_eq!(r.header("x-axon-error-code").as_deref(), Some("900871"));
        let body = r.json();
        assert_eq!(body["error"]["message"], "Not Implemented");
        assert!(
            body["error"]["detail"].as_str().unwrap().contains(detail),
            "{body}"
        );
    }
    let r = get("/api/bare", &[]).await;
    assert_eq!(r.status, 501);
    assert!(
        r.text().contains("GET /bare has no examples"),
        "{}",
        r.text()
    );

    // Other methods; unknown paths and methods.
    let r = axon.request("POST", "/api/pets", Some(b"{}"), &[]).await;
    assert_eq!((r.status, r.text().as_str()), (201, r#"{"id":3}"#));
    let r = axon.request("DELETE", "/api/pets/1", None, &[]).await;
    assert_eq!(r.status, 204);
    assert_eq!(get("/api/cats", &[]).await.status, 404);
    let r = axon.request("PUT", "/api/pets", None, &[]).await;
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow").as_deref(), Some("GET, POST"));

    let health = axon.endpoint("PetsMock").await;
    assert_eq!(health["address"], "openapi:specs/pets.yaml");
}

#[actix_rt::test]
async fn a_json_openapi_document_and_inline_responses_before_it() {
    let doc = r#"{"openapi": "3.1.0", "info": {"title": "t", "version": "1"},
      "paths": {"/status": {"get": {"responses": {"200": {"description": "ok",
        "content": {"application/json": {"example": {"up": true, "since": "today"}}}}}}}}}"#;
    let mock = r#"<endpoint name="StatusMock"><prototype openapi="status.json">
        <response method="GET" uri-template="/status/override"><body>{"override": true}</body></response>
      </prototype></endpoint>"#;
    let axon = TestAxon::start(&[
        (
            "api.xml",
            &api_to("Status", "/s", "PROTOTYPED", "StatusMock"),
        ),
        ("mock.xml", mock),
        ("status.json", doc),
    ])
    .await;
    assert_eq!(
        axon.get("/s/status").await.text(),
        r#"{"up":true,"since":"today"}"#
    );
    assert_eq!(
        axon.get("/s/status/override").await.json(),
        json!({"override": true})
    );
}

#[actix_rt::test]
async fn leaving_prototyped_at_run_time_takes_the_mock_out_of_service() {
    let axon = TestAxon::start(&[
        (
            "api.xml",
            &api_to("Inventory", "/inventory", "PROTOTYPED", "InventoryMock"),
        ),
        ("mock.xml", &inventory_without_counting()),
    ])
    .await;
    assert_eq!(axon.get("/inventory/items/1").await.status, 200);
    let (status, _) = axon
        .admin_post_json("/apis/Inventory/lifecycle", &json!({"action": "Publish"}))
        .await;
    assert_eq!(status, 200);
    let r = axon.get("/inventory/items/1").await;
    assert_eq!(r.status, 503);
    assert_eq!(r.header("x-axon-error-code").as_deref(), Some("303001"));
    assert_eq!(
        r.header("x-axon-trace").as_deref(),
        Some("InventoryMock=skipped:OUT_OF_SERVICE")
    );
    // The message says it all; the detail does not repeat it.
    assert_eq!(r.json()["error"]["detail"], "");
    let detail = r.json()["error"]["message"].as_str().unwrap().to_owned();
    assert!(
        detail.contains(
            "prototype endpoint `InventoryMock` is out of service: the API `Inventory` is PUBLISHED"
        ),
        "{detail}"
    );
    // Refused calls are not calls of the mock, and do not touch its health.
    let health = axon.endpoint("InventoryMock").await;
    assert_eq!(
        (
            health["state"].as_str(),
            health["counters"]["sent"].as_u64()
        ),
        (Some("ACTIVE"), Some(1))
    );

    axon.admin_post_json(
        "/apis/Inventory/lifecycle",
        &json!({"action": "Deploy as a Prototype"}),
    )
    .await;
    assert_eq!(axon.get("/inventory/items/1").await.status, 200);

    // The maintenance switch works as for any leaf.
    axon.admin_post("/health/actors/InventoryMock/off").await;
    let r = axon.get("/inventory/items/1").await;
    assert_eq!(
        (r.status, r.header("x-axon-trace").as_deref()),
        (503, Some("InventoryMock=skipped:OFF"))
    );
    axon.admin_post("/health/actors/InventoryMock/on").await;
    assert_eq!(axon.get("/inventory/items/1").await.status, 200);
}

#[test]
fn a_prototype_reachable_from_an_api_that_is_not_prototyped_is_a_configuration_error() {
    let dir = tempfile::tempdir().unwrap();
    let w = |rel: &str, text: &str| crate::support::write(dir.path(), rel, text);
    w(
        "apis/shop.xml",
        "<api name=\"Shop\" context=\"/shop\"\n     lifecycle=\"PUBLISHED\">\n  <resource uri-template=\"/items\" inSequence=\"lookup\"/>\n</api>\n",
    );
    w(
        "apis/plain.xml",
        "<api name=\"Plain\" context=\"/plain\">\n  <resource><inSequence><send><endpoint key=\"Alias\"/></send></inSequence></resource>\n</api>\n",
    );
    w(
        "apis/beta.xml",
        &api_to("Beta", "/beta", "PROTOTYPED", "ShopMock"),
    );
    w(
        "sequences/lookup.xml",
        "<sequence name=\"lookup\"><call><endpoint key=\"ShopMock\"/></call><respond/></sequence>",
    );
    w(
        "sequences/main.xml",
        "<sequence name=\"main\">\n  <send receive=\"afterMock\"/>\n</sequence>",
    );
    w(
        "sequences/after.xml",
        "<sequence name=\"afterMock\"><send><endpoint key=\"ShopMock\"/></send></sequence>",
    );
    w(
        "endpoints/alias.xml",
        "<endpoint name=\"Alias\" key=\"ShopMock\"/>",
    );
    w(
        "proxies/quotes.xml",
        "<proxy name=\"Quotes\"><target endpoint=\"ShopMock\"/></proxy>",
    );
    w(
        "endpoints/mock.xml",
        "<endpoint name=\"ShopMock\">\n  <prototype><response><body>{}</body></response></prototype>\n</endpoint>",
    );
    let out = crate::support::axon_check(dir.path());
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let root = dir.path().display().to_string();
    let defined =
        format!("prototype endpoint `ShopMock` (defined at {root}/endpoints/mock.xml:1:1)");
    for expected in [
        format!(
            "{root}/apis/shop.xml:2:6: error: API `Shop` is PUBLISHED but its resource `/items` reaches {defined} (sequence `lookup` -> endpoint `ShopMock`); a prototype endpoint serves only APIs in the PROTOTYPED lifecycle state"
        ),
        format!(
            "{root}/apis/plain.xml:1:1: error: API `Plain` is PUBLISHED but its resource `default` reaches {defined} (in-sequence -> endpoint `Alias` -> endpoint `ShopMock`)"
        ),
        format!(
            "{root}/sequences/main.xml:1:1: error: sequence `main` reaches {defined} (sequence `main` -> sequence `afterMock` -> endpoint `ShopMock`), but `main` runs for requests outside any one API"
        ),
        format!(
            "{root}/proxies/quotes.xml:1:1: error: proxy service `Quotes` reaches {defined} (in-sequence -> endpoint `ShopMock`), but a proxy service has no lifecycle state"
        ),
    ] {
        assert!(
            stderr.contains(&expected),
            "missing `{expected}` in:\n{stderr}"
        );
    }
    assert!(stderr.contains("4 error(s)"), "{stderr}");
}

#[test]
fn openapi_problems_are_reported_with_their_place() {
    let dir = tempfile::tempdir().unwrap();
    let w = |rel: &str, text: &str| crate::support::write(dir.path(), rel, text);
    w("api.xml", &api_to("A", "/a", "PROTOTYPED", "M"));
    w(
        "m.xml",
        "<endpoint name=\"M\">\n  <prototype openapi=\"bad.yaml\"/>\n</endpoint>\n<!-- -->",
    );
    w("bad.yaml", "openapi: 3.0.0\npaths:\n  /a: [1, 2\n");
    w("api2.xml", &api_to("B", "/b", "PROTOTYPED", "N"));
    w(
        "n.xml",
        "<endpoint name=\"N\">\n  <prototype openapi=\"missing.yaml\"/>\n</endpoint>",
    );
    w("api3.xml", &api_to("C", "/c", "PROTOTYPED", "O"));
    w(
        "o.xml",
        "<endpoint name=\"O\">\n  <prototype openapi=\"v2.json\"/>\n</endpoint>",
    );
    w("v2.json", r#"{"swagger": "2.0", "paths": {}}"#);
    let error = axon::engine::Mediation::load(dir.path())
        .unwrap_err()
        .to_string();
    let root = dir.path().display().to_string();
    assert!(error.contains(&format!("{root}/bad.yaml:")), "{error}");
    assert!(error.contains("error: malformed YAML"), "{error}");
    assert!(
        error.contains(&format!(
            "{root}/n.xml:2:14: error: cannot read OpenAPI document `{root}/missing.yaml`"
        )),
        "{error}"
    );
    assert!(
        error.contains(&format!("{root}/o.xml:2:14: error: in OpenAPI document `v2.json`: OpenAPI 2 (swagger) documents are not supported")),
        "{error}"
    );
}

#[actix_rt::test]
async fn the_shipped_pet_store_answers_at_once() {
    let root = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/mediation"));
    let mut files = Vec::new();
    collect(root, root, &mut files);
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    let axon = TestAxon::start(&refs).await;

    let r = axon.get("/petstore/pets").await;
    assert_eq!(r.status, 200);
    let pets = r.json();
    assert_eq!(pets[0]["name"], "Rex");
    assert_eq!(pets.as_array().unwrap().len(), 3);
    assert_eq!(r.header("x-next").as_deref(), Some("/petstore/pets?page=2"));
    let r = axon
        .request("GET", "/petstore/pets/7", None, &[("Prefer", "code=404")])
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["title"], "Pet not found");
    let r = axon
        .request("GET", "/petstore/pets", None, &[("Prefer", "code=503")])
        .await;
    assert_eq!(
        (r.status, r.header("retry-after").as_deref()),
        (503, Some("30"))
    );

    let r = axon
        .request(
            "GET",
            "/inventory/items/A-17?warehouse=north",
            None,
            &[("X-Request-Id", "r-9")],
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["warehouse"], "north");
    assert_eq!(r.header("x-request-id").as_deref(), Some("r-9"));
    let r = axon
        .request(
            "GET",
            "/inventory/items/A-17",
            None,
            &[("X-Mock-Fault", "unavailable")],
        )
        .await;
    assert_eq!(
        (r.status, r.header("retry-after").as_deref()),
        (503, Some("5"))
    );
    assert_eq!(axon.get("/ping").await.status, 200);
}

fn collect(root: &std::path::Path, dir: &std::path::Path, out: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(root, &path, out);
        } else {
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            out.push((rel, std::fs::read_to_string(&path).unwrap()));
        }
    }
}
