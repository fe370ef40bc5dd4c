//! API lifecycle states: what each one does to requests, the management API that changes
//! them at run time (WSO2 transition rules), and how a change lives through reloads.

use serde_json::json;

use crate::support::TestAxon;

/// An API in `state` (no attribute when `None`) that answers `{"api": "<name>"}`.
fn api(name: &str, context: &str, state: Option<&str>) -> String {
    let lifecycle = state.map_or(String::new(), |s| format!(r#" lifecycle="{s}""#));
    format!(
        r#"<api name="{name}" context="{context}"{lifecycle}>
             <resource methods="GET" uri-template="/">
               <inSequence>
                 <payloadFactory media-type="json"><format>{{"api": "{name}"}}</format></payloadFactory>
                 <respond/>
               </inSequence>
             </resource>
           </api>"#
    )
}

#[actix_rt::test]
async fn each_state_serves_refuses_or_hides_the_api() {
    let axon = TestAxon::start(&[
        ("created.xml", &api("Draft", "/draft", Some("CREATED"))),
        ("prototyped.xml", &api("Beta", "/beta", Some("PROTOTYPED"))),
        ("published.xml", &api("Live", "/live", Some("PUBLISHED"))),
        ("default.xml", &api("Plain", "/plain", None)),
        ("blocked.xml", &api("Stop", "/stop", Some("BLOCKED"))),
        ("deprecated.xml", &api("Old", "/old", Some("DEPRECATED"))),
        ("retired.xml", &api("Gone", "/gone", Some("retired"))),
    ])
    .await;

    // CREATED: not deployed, answered as a path no API matches.
    let r = axon.get("/draft").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"]["code"], 900906, "{}", r.text());

    for (path, name) in [("/beta", "Beta"), ("/live", "Live"), ("/plain", "Plain")] {
        let r = axon.get(path).await;
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.json()["api"], name);
        assert_eq!(r.header("deprecation"), None);
    }

    let r = axon.get("/stop").await;
    assert_eq!(r.status, 503);
    assert_eq!(r.header("x-axon-error-code").as_deref(), Some("700700"));
    let body = r.json();
    assert_eq!(body["error"]["code"], 700700);
    assert_eq!(body["error"]["message"], "API blocked");
    assert!(
        body["error"]["detail"]
            .as_str()
            .unwrap()
            .contains("`Stop` is BLOCKED"),
        "{body}"
    );

    // A SOAP client is refused with a SOAP fault of its version.
    let envelope = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><ping/></s:Body></s:Envelope>"#;
    let r = axon
        .request(
            "POST",
            "/stop",
            Some(envelope.as_bytes()),
            &[
                ("Content-Type", "text/xml; charset=utf-8"),
                ("SOAPAction", "urn:ping"),
            ],
        )
        .await;
    // SOAP faults travel as HTTP 500 (SOAP 1.1 §6.2); the 503 is in the detail.
    assert_eq!(r.status, 500, "{}", r.text());
    assert_eq!(r.header("x-axon-error-code").as_deref(), Some("700700"));
    assert!(
        r.header("content-type")
            .is_some_and(|t| t.starts_with("text/xml")),
        "{:?}",
        r.header("content-type")
    );
    let text = r.text();
    assert!(
        text.contains("http://schemas.xmlsoap.org/soap/envelope/")
            && text.contains("<faultcode>soapenv:Server</faultcode>")
            && text.contains("is BLOCKED")
            && text.contains("<axon:status>503</axon:status>"),
        "{text}"
    );

    let r = axon.get("/old").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["api"], "Old");
    let deprecation = r.header("deprecation").expect("Deprecation header");
    let since: u64 = deprecation
        .strip_prefix('@')
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("RFC 9745 date, got {deprecation}"));
    assert!(since > 1_700_000_000, "{since}");
    // Every answer of a deprecated API carries it, also the dispatch errors.
    let r = axon.get("/old/nothing/here").await;
    assert_eq!(r.status, 404);
    assert_eq!(
        r.header("deprecation").as_deref(),
        Some(deprecation.as_str())
    );

    let r = axon.get("/gone").await;
    assert_eq!(r.status, 410);
    assert_eq!(r.header("x-axon-error-code").as_deref(), Some("700701"));
    assert!(r.text().contains("`Gone` is RETIRED"), "{}", r.text());

    // The actor tree shows the live and the declared state of every API.
    let (_, tree) = axon.admin("/health/actors").await;
    let states: Vec<(String, String)> = tree["apis"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["name"].as_str().unwrap().to_owned(),
                a["lifecycle"]["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for (name, state) in [
        ("Draft", "CREATED"),
        ("Beta", "PROTOTYPED"),
        ("Live", "PUBLISHED"),
        ("Plain", "PUBLISHED"),
        ("Stop", "BLOCKED"),
        ("Old", "DEPRECATED"),
        ("Gone", "RETIRED"),
    ] {
        assert!(
            states.contains(&(name.to_owned(), state.to_owned())),
            "{name} should be {state}: {states:?}"
        );
    }
}

#[actix_rt::test]
async fn a_created_api_leaves_its_path_to_the_api_below_it() {
    let root = r#"<api name="Root" context="/"><resource><inSequence>
        <payloadFactory media-type="json"><format>{"api": "Root"}</format></payloadFactory><respond/>
      </inSequence></resource></api>"#;
    let axon = TestAxon::start(&[
        ("root.xml", root),
        ("shop.xml", &api("Shop", "/shop", Some("CREATED"))),
    ])
    .await;
    assert_eq!(axon.get("/shop").await.json()["api"], "Root");
    let (status, _) = axon
        .admin_post_json("/apis/Shop/lifecycle", &json!({"action": "Publish"}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(axon.get("/shop").await.json()["api"], "Shop");
}

#[actix_rt::test]
async fn the_management_api_changes_the_state_at_run_time_by_wso2_rules() {
    let axon = TestAxon::start(&[("shop.xml", &api("Shop", "/shop", None))]).await;
    let (status, state) = axon.admin("/apis/Shop/lifecycle").await;
    assert_eq!(status, 200);
    assert_eq!(state["state"], "PUBLISHED");
    assert_eq!(state["declared"], "PUBLISHED");
    let actions: Vec<&str> = state["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "Block",
            "Deploy as a Prototype",
            "Demote to Created",
            "Deprecate"
        ]
    );

    // Block: refused at once, no reload.
    let (status, changed) = axon
        .admin_post_json("/apis/Shop/lifecycle", &json!({"action": "Block"}))
        .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(
        (
            changed["from"].as_str(),
            changed["state"].as_str(),
            changed["changed"].as_bool()
        ),
        (Some("PUBLISHED"), Some("BLOCKED"), Some(true))
    );
    assert_eq!(axon.get("/shop").await.status, 503);

    // What the lifecycle forbids is a conflict that lists what is allowed.
    let (status, refused) = axon
        .admin_post_json("/apis/Shop/lifecycle", &json!({"action": "Retire"}))
        .await;
    assert_eq!(status, 409, "{refused}");
    assert!(
        refused["error"]
            .as_str()
            .unwrap()
            .contains("BLOCKED cannot"),
        "{refused}"
    );
    assert_eq!(refused["transitions"][1]["action"], "Re-Publish");
    assert_eq!(
        axon.get("/shop").await.status,
        503,
        "a refused change changes nothing"
    );

    // By target state, also through the query string.
    let (status, _) = axon
        .admin_post("/apis/Shop/lifecycle?state=published")
        .await;
    assert_eq!(status, 200);
    assert_eq!(axon.get("/shop").await.status, 200);
    let (status, same) = axon
        .admin_post_json("/apis/Shop/lifecycle", &json!({"state": "PUBLISHED"}))
        .await;
    assert_eq!((status, same["changed"].as_bool()), (200, Some(false)));

    // Deprecate, then retire: the header, then 410.
    axon.admin_post_json("/apis/Shop/lifecycle", &json!({"action": "Deprecate"}))
        .await;
    assert!(axon.get("/shop").await.header("deprecation").is_some());
    axon.admin_post_json("/apis/Shop/lifecycle", &json!({"action": "Retire"}))
        .await;
    assert_eq!(axon.get("/shop").await.status, 410);
    let (status, _) = axon
        .admin_post_json("/apis/Shop/lifecycle", &json!({"state": "PUBLISHED"}))
        .await;
    assert_eq!(status, 409, "RETIRED is final");

    // Bad requests and unknown APIs.
    for (body, wanted) in [
        (
            json!({"action": "Explode"}),
            "unknown lifecycle action `Explode`",
        ),
        (json!({"state": "LIVE"}), "unknown lifecycle state `LIVE`"),
        (json!({}), "exactly one of"),
        (
            json!({"action": "Publish", "state": "PUBLISHED"}),
            "exactly one of",
        ),
        (json!({"verb": "Publish"}), "the body must be JSON"),
    ] {
        let (status, error) = axon.admin_post_json("/apis/Shop/lifecycle", &body).await;
        assert_eq!(status, 400, "{body}");
        assert!(error["error"].as_str().unwrap().contains(wanted), "{error}");
    }
    assert_eq!(axon.admin("/apis/Nope/lifecycle").await.0, 404);
    let (status, _) = axon
        .admin_post_json("/apis/Nope/lifecycle", &json!({"action": "Block"}))
        .await;
    assert_eq!(status, 404);
}

#[actix_rt::test]
async fn a_run_time_change_survives_a_reload_unless_the_declared_state_changes() {
    let axon = TestAxon::start(&[("shop.xml", &api("Shop", "/shop", None))]).await;
    axon.admin_post_json("/apis/Shop/lifecycle", &json!({"action": "Block"}))
        .await;
    assert_eq!(axon.get("/shop").await.status, 503);

    // Another file changes; the API's declaration does not: still BLOCKED.
    axon.write("other.xml", &api("Other", "/other", None));
    assert_eq!(axon.admin_post("/config/reload").await.0, 200);
    assert_eq!(axon.get("/shop").await.status, 503);
    assert_eq!(axon.get("/other").await.status, 200);
    let (_, state) = axon.admin("/apis/Shop/lifecycle").await;
    assert_eq!(
        (state["state"].as_str(), state["declared"].as_str()),
        (Some("BLOCKED"), Some("PUBLISHED"))
    );

    // The declaration changes: the file wins.
    axon.write("shop.xml", &api("Shop", "/shop", Some("DEPRECATED")));
    assert_eq!(axon.admin_post("/config/reload").await.0, 200);
    let r = axon.get("/shop").await;
    assert_eq!(r.status, 200);
    assert!(r.header("deprecation").is_some());
}

#[actix_rt::test]
async fn an_unknown_lifecycle_state_is_a_configuration_error() {
    let dir = tempfile::tempdir().unwrap();
    crate::support::write(
        dir.path(),
        "shop.xml",
        "<api name=\"Shop\" context=\"/shop\"\n     lifecycle=\"LIVE\">\n  <resource><inSequence><drop/></inSequence></resource>\n</api>",
    );
    let error = axon::engine::Mediation::load(dir.path())
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("shop.xml:2:6: error: unknown lifecycle state `LIVE` (expected one of CREATED, PROTOTYPED, PUBLISHED, BLOCKED, DEPRECATED, RETIRED)"),
        "{error}"
    );
}
