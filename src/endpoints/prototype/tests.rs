//! The planning of prototype answers, without a runtime: faults, inline matching, templating.

use actix_web::http::Uri;

use super::*;
use crate::base::uri_template::UriTemplate;
use crate::config::{MockResponse, PathPattern};

fn msg(method: Method, path: &str, headers: &[(&str, &str)]) -> MessageContext {
    let mut map = HeaderMap::new();
    for (k, v) in headers {
        map.append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    let uri: Uri = format!("/shop{path}").parse().unwrap();
    let mut m = MessageContext::request(method, uri, "http", map, Body::Empty);
    m.set("REST_SUB_REQUEST_PATH", path);
    m
}

fn response(
    methods: &[Method],
    path: Option<&str>,
    status: u16,
    body: Option<&str>,
) -> MockResponse {
    MockResponse {
        methods: methods.to_vec(),
        path: path.map(|p| PathPattern(UriTemplate::parse(p).unwrap())),
        status: StatusCode::from_u16(status).unwrap(),
        headers: vec![(
            HeaderName::from_static("x-item"),
            Template::parse("{uri.var.id}", Escape::None).unwrap(),
        )],
        body: body.map(|b| MockBody {
            media_type: HeaderValue::from_static("application/json"),
            template: Template::parse(b, Escape::Json).unwrap(),
        }),
        delay: Duration::from_millis(5),
    }
}

fn spec(faults: Vec<FaultRule>, responses: Vec<MockResponse>) -> PrototypeSpec {
    PrototypeSpec {
        faults,
        responses,
        openapi: None,
    }
}

fn respond(plan: &Plan) -> (u16, HeaderMap, String) {
    match &plan.outcome {
        Outcome::Respond {
            status,
            headers,
            body,
        } => (
            status.as_u16(),
            headers.clone(),
            String::from_utf8_lossy(body).into_owned(),
        ),
        Outcome::Drop { .. } => panic!("expected a response, got a drop"),
    }
}

#[test]
fn inline_responses_match_by_method_and_path_and_fill_templates() {
    let s = spec(
        vec![],
        vec![
            response(
                &[Method::GET],
                Some("/items/{id}"),
                200,
                Some(
                    r#"{"id": "{uri.var.id}", "q": "{query.param.q}", "rid": "{header.X-Request-Id}"}"#,
                ),
            ),
            response(&[Method::POST], Some("/items"), 201, None),
        ],
    );
    let mut m = msg(Method::GET, "/items/a%22b", &[("X-Request-Id", "r-1")]);
    m.set("query.param.q", "say \"hi\"");
    // The path variable comes decoded from the matcher: a quote, escaped for JSON.
    let plan = plan(&s, "Mock", &Request::of(&m), 1);
    let (status, headers, body) = respond(&plan);
    assert_eq!(status, 200);
    assert_eq!(body, r#"{"id": "a\"b", "q": "say \"hi\"", "rid": "r-1"}"#);
    assert_eq!(headers.get("x-item").unwrap(), "a\"b");
    assert_eq!(headers.get("content-type").unwrap(), "application/json");
    assert_eq!(plan.delay, Duration::from_millis(5));

    let m = msg(Method::POST, "/items", &[]);
    let (status, _, body) = respond(&plan_of(&s, &m, 1));
    assert_eq!((status, body.as_str()), (201, ""));
}

fn plan_of(s: &PrototypeSpec, m: &MessageContext, call: u64) -> Plan {
    plan(s, "Mock", &Request::of(m), call)
}

#[test]
fn no_match_is_404_and_a_wrong_method_is_405_with_allow() {
    let s = spec(
        vec![],
        vec![response(
            &[Method::GET, Method::PUT],
            Some("/items/{id}"),
            200,
            None,
        )],
    );
    let (status, headers, body) = respond(&plan_of(&s, &msg(Method::GET, "/other", &[]), 1));
    assert_eq!(status, 404);
    assert_eq!(
        headers
            .get(crate::base::headers::ERROR_CODE_HEADER)
            .unwrap(),
        "900906"
    );
    assert!(body.contains("has no response for GET /other"), "{body}");
    let (status, headers, _) = respond(&plan_of(&s, &msg(Method::DELETE, "/items/1", &[]), 1));
    assert_eq!(status, 405);
    assert_eq!(headers.get("allow").unwrap(), "GET, PUT");
    // HEAD is answered by a GET response.
    let (status, _, _) = respond(&plan_of(&s, &msg(Method::HEAD, "/items/1", &[]), 1));
    assert_eq!(status, 200);
}

#[test]
fn faults_hit_every_nth_call_or_by_header_or_query() {
    let every = FaultRule {
        when: FaultWhen::Every(3),
        delay: Duration::ZERO,
        action: FaultAction::Status {
            status: StatusCode::SERVICE_UNAVAILABLE,
            headers: vec![],
            body: None,
        },
    };
    let drop = FaultRule {
        when: FaultWhen::Header {
            name: HeaderName::from_static("x-fault"),
            equals: Some("drop".into()),
        },
        delay: Duration::from_millis(7),
        action: FaultAction::Drop,
    };
    let slow = FaultRule {
        when: FaultWhen::Query {
            name: "slow".into(),
            equals: None,
        },
        delay: Duration::from_millis(300),
        action: FaultAction::Delay,
    };
    let s = spec(
        vec![every, drop, slow],
        vec![response(&[], None, 200, Some("ok"))],
    );
    let plain = msg(Method::GET, "/x", &[]);
    let statuses: Vec<u16> = (1..=7)
        .map(|call| respond(&plan_of(&s, &plain, call)).0)
        .collect();
    assert_eq!(statuses, [200, 200, 503, 200, 200, 503, 200]);
    let (_, headers, body) = respond(&plan_of(&s, &plain, 3));
    assert_eq!(headers.get(FAULT_HEADER).unwrap(), "every 3rd call");
    assert!(
        body.contains("programmed fault of prototype endpoint `Mock`"),
        "{body}"
    );

    let dropper = msg(Method::GET, "/x", &[("X-Fault", "drop")]);
    let p = plan_of(&s, &dropper, 1);
    assert_eq!(p.delay, Duration::from_millis(7));
    assert!(matches!(p.outcome, Outcome::Drop { ref rule } if rule == "header x-fault: drop"));
    let other = msg(Method::GET, "/x", &[("X-Fault", "other")]);
    assert_eq!(respond(&plan_of(&s, &other, 1)).0, 200);

    let mut slow = msg(Method::GET, "/x", &[]);
    slow.set("query.param.slow", "");
    let p = plan_of(&s, &slow, 1);
    assert_eq!(
        p.delay,
        Duration::from_millis(300 + 5),
        "fault delay, then the response's"
    );
    assert_eq!(respond(&p).0, 200);
}

#[test]
fn rendering_escapes_for_xml_and_leaves_text_alone() {
    let m = msg(Method::GET, "/x", &[("X-Name", "<b>&")]);
    let req = Request::of(&m);
    let xml = Template::parse("<n>{header.X-Name}</n>", Escape::Xml).unwrap();
    assert_eq!(render(&xml, &[], &req), "<n>&lt;b&gt;&amp;</n>");
    let text = Template::parse("{header.X-Name}{uri.var.missing}", Escape::None).unwrap();
    assert_eq!(render(&text, &[], &req), "<b>&");
}
