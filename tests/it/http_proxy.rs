//! Routing through APIs and HTTP endpoints: dispatch, URI templates, postfixes, sequences.

use crate::support::TestAxon;
use crate::support::backend::{Backend, Canned};

fn api(name: &str, context: &str, resources: &str) -> String {
    format!(
        r#"<api xmlns="http://ws.apache.org/ns/synapse" name="{name}" context="{context}">{resources}</api>"#
    )
}

#[actix_rt::test]
async fn uri_template_endpoint_expands_variables_with_percent_encoding() {
    let backend = Backend::named("catalog").await;
    let endpoint = format!(
        r#"<endpoint name="Catalog"><http uri-template="{}/catalog/{{uri.var.id}}?q={{query.param.q}}&amp;lang={{query.param.lang}}" method="get"/></endpoint>"#,
        backend.url("")
    );
    let api = api(
        "Shop",
        "/shop",
        r#"<resource methods="GET" uri-template="/items/{id}"><inSequence><send><endpoint key="Catalog"/></send></inSequence></resource>"#,
    );
    let axon = TestAxon::start(&[
        ("apis/shop.xml", &api),
        ("endpoints/catalog.xml", &endpoint),
    ])
    .await;

    let reply = axon.get("/shop/items/a%20b%2Fc?q=x%26y%20z").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.text(), "catalog");
    // Captured values are decoded, then percent-encoded again by RFC 6570 expansion;
    // an undefined variable expands to nothing.
    assert_eq!(backend.last().uri, "/catalog/a%20b%2Fc?q=x%26y%20z&lang=");
    assert_eq!(backend.last().method, "GET");
    assert_eq!(reply.header("x-axon-trace").as_deref(), Some("Catalog=200"));
}

#[actix_rt::test]
async fn address_endpoint_gets_the_path_after_the_context_and_the_query() {
    let backend = Backend::named("svc").await;
    let api = api(
        "Svc",
        "/api",
        &format!(
            r#"<resource url-mapping="/*"><inSequence><send><endpoint><address uri="{}"/></endpoint></send></inSequence></resource>"#,
            backend.url("/svc")
        ),
    );
    let axon = TestAxon::start(&[("apis/svc.xml", &api)]).await;
    let reply = axon
        .request(
            "POST",
            "/api/orders/7?expand=lines",
            Some(b"{\"qty\":3}"),
            &[("content-type", "application/json"), ("x-custom", "kept")],
        )
        .await;
    assert_eq!(reply.status, 200);
    let seen = backend.last();
    assert_eq!(seen.uri, "/svc/orders/7?expand=lines");
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.body, b"{\"qty\":3}");
    assert_eq!(seen.header("x-custom"), Some("kept"));
    assert_eq!(seen.header("content-type"), Some("application/json"));
}

#[actix_rt::test]
async fn backend_status_headers_and_body_pass_through() {
    let backend = Backend::start(|_| Canned {
        status: 418,
        body: b"<teapot/>".to_vec(),
        content_type: "application/xml",
        delay: std::time::Duration::ZERO,
    })
    .await;
    let api = api(
        "T",
        "/t",
        &format!(
            r#"<resource><inSequence><send><endpoint><address uri="{}"/></endpoint></send></inSequence>
               <outSequence><property name="X-Mediated" scope="transport" value="yes"/><send/></outSequence></resource>"#,
            backend.url("")
        ),
    );
    let axon = TestAxon::start(&[("apis/t.xml", &api)]).await;
    let reply = axon.get("/t").await;
    // A backend 4xx is a response, not an endpoint failure.
    assert_eq!(reply.status, 418);
    assert_eq!(reply.text(), "<teapot/>");
    assert_eq!(
        reply.header("content-type").as_deref(),
        Some("application/xml")
    );
    assert_eq!(reply.header("x-mediated").as_deref(), Some("yes"));
    // The inline endpoint is an actor too, named after its place in the API.
    let (_, tree) = axon.admin("/health/actors").await;
    let names: Vec<&str> = tree["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert_eq!(names.len(), 1);
    assert!(names[0].starts_with("T.endpoint@"), "{names:?}");
}

#[actix_rt::test]
async fn dispatch_answers_404_405_options_and_400() {
    let api = api(
        "D",
        "/d",
        r#"<resource methods="GET POST" uri-template="/items/{id}"><inSequence><respond/></inSequence></resource>
           <resource methods="PUT" url-mapping="/upload/*" content-type="application/json"><inSequence><respond/></inSequence></resource>"#,
    );
    let axon = TestAxon::start(&[("apis/d.xml", &api)]).await;
    assert_eq!(axon.get("/d/items/1").await.status, 200);
    assert_eq!(axon.get("/d/nothing").await.status, 404);
    assert_eq!(axon.get("/elsewhere").await.status, 404);
    assert_eq!(
        axon.get("/dx/items/1").await.status,
        404,
        "context must end at a segment boundary"
    );
    let reply = axon.request("DELETE", "/d/items/1", None, &[]).await;
    assert_eq!(reply.status, 405);
    assert_eq!(reply.header("allow").as_deref(), Some("GET, POST"));
    let reply = axon.request("OPTIONS", "/d/items/1", None, &[]).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("allow").as_deref(), Some("GET, POST"));
    let reply = axon
        .request(
            "PUT",
            "/d/upload/x",
            Some(b"<x/>"),
            &[("content-type", "application/xml")],
        )
        .await;
    assert_eq!(reply.status, 400, "content-type filter");
    let reply = axon
        .request(
            "PUT",
            "/d/upload/x",
            Some(b"{}"),
            &[("content-type", "application/json")],
        )
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        axon.get("/d/items/1?bad=%zz").await.status,
        400,
        "malformed query encoding"
    );
}

#[actix_rt::test]
async fn call_continues_the_flow_and_respond_and_drop_end_it() {
    let backend = Backend::named("called").await;
    let api = api(
        "C",
        "/c",
        &format!(
            r#"<resource methods="GET" uri-template="/call"><inSequence>
                 <call><endpoint><address uri="{}"/></endpoint></call>
                 <property name="HTTP_SC" scope="axis2" value="201"/>
                 <property name="X-After-Call" scope="transport" value="1"/>
                 <respond/>
               </inSequence></resource>
               <resource methods="GET" uri-template="/drop"><inSequence><drop/></inSequence></resource>
               <resource methods="GET" uri-template="/json"><inSequence>
                 <payloadFactory media-type="json"><format>{{"id":"$1","note":"$2"}}</format>
                   <args><arg value="7"/><arg value="say &quot;hi&quot;"/></args></payloadFactory>
                 <respond/>
               </inSequence></resource>"#,
            backend.url("/x")
        ),
    );
    let axon = TestAxon::start(&[("apis/c.xml", &api)]).await;
    let reply = axon.get("/c/call").await;
    assert_eq!(reply.status, 201);
    assert_eq!(reply.text(), "called");
    assert_eq!(reply.header("x-after-call").as_deref(), Some("1"));
    let reply = axon.get("/c/drop").await;
    assert_eq!(reply.status, 202);
    assert!(reply.body.is_empty());
    let reply = axon.get("/c/json").await;
    assert_eq!(
        reply.json(),
        serde_json::json!({"id": "7", "note": "say \"hi\""})
    );
    assert_eq!(
        reply.header("content-type").as_deref(),
        Some("application/json")
    );
}

#[actix_rt::test]
async fn user_fault_sequence_can_answer_differently_and_on_error_takes_precedence() {
    let api = api(
        "F",
        "/f",
        &format!(
            r#"<resource methods="GET" uri-template="/resource-fault">
                 <inSequence><send><endpoint><address uri="http://127.0.0.1:{port}/"/></endpoint></send></inSequence>
                 <faultSequence>
                   <property name="HTTP_SC" scope="axis2" value="503"/>
                   <payloadFactory media-type="json"><format>{{"fault":"resource"}}</format></payloadFactory>
                   <respond/>
                 </faultSequence>
               </resource>
               <resource methods="GET" uri-template="/on-error"><inSequence><sequence key="guarded"/></inSequence></resource>
               <resource methods="GET" uri-template="/builtin"><inSequence><send><endpoint><address uri="http://127.0.0.1:{port}/"/></endpoint></send></inSequence>
                 <faultSequence><log level="custom"><property name="seen" value="fault"/></log></faultSequence></resource>"#,
            port = crate::support::dead_port()
        ),
    );
    let guarded = format!(
        r#"<sequence name="guarded" onError="handler"><call><endpoint><address uri="http://127.0.0.1:{}/"/></endpoint></call><respond/></sequence>"#,
        crate::support::dead_port()
    );
    let handler = r#"<sequence name="handler"><payloadFactory media-type="text"><format>handled</format></payloadFactory><respond/></sequence>"#;
    let axon = TestAxon::start(&[
        ("apis/f.xml", &api),
        ("sequences/guarded.xml", &guarded),
        ("sequences/handler.xml", handler),
    ])
    .await;
    let reply = axon.get("/f/resource-fault").await;
    assert_eq!(reply.status, 503);
    assert_eq!(reply.json(), serde_json::json!({"fault": "resource"}));
    let reply = axon.get("/f/on-error").await;
    // respond in a fault handler defaults to the failure's status.
    assert_eq!(reply.status, 502);
    assert_eq!(reply.text(), "handled");
    // A fault sequence that neither responds nor drops: the built-in reply answers.
    let reply = axon.get("/f/builtin").await;
    assert_eq!(reply.status, 502);
    assert_eq!(reply.json()["error"]["code"], 101503);
    assert_eq!(reply.header("x-axon-error-code").as_deref(), Some("101503"));
}

#[actix_rt::test]
async fn a_backend_response_that_cannot_be_mediated_is_a_bad_gateway_not_a_bad_request() {
    // A body cut short: Content-Length promises 100 bytes, the backend closes after 5.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let short_port = listener.local_addr().unwrap().port();
    actix_rt::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buf = [0u8; 4096];
            let _read = socket.read(&mut buf).await;
            let reply =
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\nshort";
            if socket.write_all(reply).await.is_ok() {
                socket.shutdown().await.ok();
            }
        }
    });
    let malformed = Backend::start(|_| Canned {
        status: 200,
        body: b"<a><b></a>".to_vec(),
        content_type: "application/xml",
        delay: std::time::Duration::ZERO,
    })
    .await;
    let api = api(
        "Bad",
        "/bad",
        &format!(
            r#"<resource methods="GET" uri-template="/short"><inSequence><send><endpoint><address uri="http://127.0.0.1:{short_port}/"/></endpoint></send></inSequence>
                 <outSequence><property name="b" expression="$body"/><send/></outSequence></resource>
               <resource methods="GET" uri-template="/malformed"><inSequence><send><endpoint><address uri="{}"/></endpoint></send></inSequence>
                 <outSequence><property name="b" expression="//b"/><send/></outSequence></resource>
               <resource methods="POST" uri-template="/read"><inSequence><property name="b" expression="//b"/><respond/></inSequence></resource>"#,
            malformed.url("/")
        ),
    );
    let axon = TestAxon::start(&[("apis/bad.xml", &api)]).await;
    let reply = axon.get("/bad/short").await;
    assert_eq!(reply.status, 502, "{}", reply.text());
    assert_eq!(reply.json()["error"]["code"], 601000);
    let reply = axon.get("/bad/malformed").await;
    assert_eq!(reply.status, 502, "{}", reply.text());
    assert_eq!(reply.json()["error"]["code"], 601000);
    // The client's own malformed body is still its fault: 400, with the same code.
    let reply = axon
        .request(
            "POST",
            "/bad/read",
            Some(b"<a><b></a>"),
            &[("content-type", "application/xml")],
        )
        .await;
    assert_eq!(reply.status, 400, "{}", reply.text());
    assert_eq!(reply.header("x-axon-error-code").as_deref(), Some("601000"));
    assert!(
        reply.text().contains("invalid XML payload"),
        "{}",
        reply.text()
    );
}

/// A bare `<send/>` goes to the message's `To` address only when `--allow-to` lists its
/// prefix: the allowed address gets the request through the implicit endpoint; any other
/// (here one taken from the client's header) is refused and nothing is sent.
#[actix_rt::test]
async fn a_bare_send_goes_to_an_allowed_to_address_only() {
    let backend = Backend::named("quotes").await;
    let api = api(
        "Route",
        "/route",
        r#"<resource methods="POST" url-mapping="/*"><inSequence><header name="To" expression="$trp:x-to"/><send/></inSequence></resource>"#,
    );
    let list = axon::base::allow_to::AllowTo::new(&[backend.url("/services/")]).unwrap();
    let limits = axon::base::limits::Limits {
        allow_to: std::sync::Arc::new(list),
        ..Default::default()
    };
    let axon = TestAxon::start_with(&[("apis/route.xml", &api)], limits).await;

    let allowed = backend.url("/services/Quote");
    let headers = [("content-type", "application/json"), ("x-to", &*allowed)];
    let reply = axon.request("POST", "/route", Some(b"{}"), &headers).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.text(), "quotes");
    assert_eq!(backend.last().uri, "/services/Quote");
    assert_eq!(
        reply.header("x-axon-trace").as_deref(),
        Some("implicit-To=200")
    );

    for refused in [backend.url("/admin"), "http://169.254.169.254/".to_owned()] {
        let headers = [("content-type", "application/json"), ("x-to", &*refused)];
        let reply = axon.request("POST", "/route", Some(b"{}"), &headers).await;
        assert_eq!(reply.status, 500, "{}", reply.text());
        assert!(reply.text().contains("allow-list"), "{}", reply.text());
    }
    assert_eq!(backend.hits(), 1);
}

/// An `--allow-to` entry that covers the management API's own port never lets a bare
/// `<send/>` reach it: the server refines the operator's list with the port it listens on.
#[actix_web::test]
async fn a_bare_send_never_goes_to_the_management_port_even_when_allowed() {
    let api = api(
        "Route",
        "/route",
        r#"<resource methods="POST" url-mapping="/*"><inSequence><header name="To" expression="$trp:x-to"/><send/></inSequence></resource>"#,
    );
    let management = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = management.local_addr().unwrap().port();
    let list = axon::base::allow_to::AllowTo::new(&[format!("http://127.0.0.1:{port}/")]).unwrap();
    let limits = axon::base::limits::Limits {
        allow_to: std::sync::Arc::new(list),
        ..Default::default()
    };
    let axon =
        TestAxon::start_with_management(&[("apis/route.xml", &api)], limits, management).await;
    let (status, _) = axon.admin("/health/live").await;
    assert_eq!(
        status, 200,
        "the management API listens on the allowed port"
    );

    let to = format!("http://127.0.0.1:{port}/health/live");
    let headers = [("content-type", "application/json"), ("x-to", &*to)];
    let reply = axon.request("POST", "/route", Some(b"{}"), &headers).await;
    assert_eq!(reply.status, 500, "{}", reply.text());
    assert!(reply.text().contains("allow-list"), "{}", reply.text());
}
