//! Expressions evaluated against real messages.

use actix_web::http::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use actix_web::http::{Method, Uri};
use bytes::Bytes;

use super::*;
use crate::message::{Body, Scope, Value};

const ORDER_SOAP: &str = r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">
  <soapenv:Header><h:Trace xmlns:h="urn:h">t-1</h:Trace></soapenv:Header>
  <soapenv:Body>
    <ord:PlaceOrder xmlns:ord="urn:orders" priority="high">
      <ord:Customer>ACME</ord:Customer>
      <ord:Item qty="2">Gadget</ord:Item>
      <ord:Item qty="5">Gizmo &amp; co</ord:Item>
    </ord:PlaceOrder>
  </soapenv:Body>
</soapenv:Envelope>"#;

pub(super) fn msg(body: &str, content_type: &'static str) -> MessageContext {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        HeaderName::from_static("x-tenant"),
        HeaderValue::from_static("blue"),
    );
    let mut m = MessageContext::request(
        Method::POST,
        Uri::from_static("/shop/orders?Region=EU&q=a+b%21"),
        "http",
        headers,
        Body::Full(Bytes::from(body.to_owned())),
    );
    m.set("uri.var.id", "42");
    m.set_axis2("HTTP_SC", Value::Int(201));
    m
}

/// Prefixes differ from the payload's on purpose: only namespace URIs matter.
fn ns() -> Vec<(String, String)> {
    vec![
        (
            "s".into(),
            "http://schemas.xmlsoap.org/soap/envelope/".into(),
        ),
        ("o".into(), "urn:orders".into()),
        ("h".into(), "urn:h".into()),
    ]
}

fn eval(src: &str, m: &mut MessageContext) -> Evaluated {
    Expression::compile(src, &ns())
        .unwrap_or_else(|it| panic!("{src}: {it}"))
        .evaluate(m)
        .unwrap_or_else(|it| panic!("{src}: {it}"))
}

fn text(src: &str, m: &mut MessageContext) -> String {
    eval(src, m)
        .into_string()
        .unwrap_or_else(|| panic!("{src}: no value"))
}

#[test]
fn xpath_over_a_soap_envelope() {
    let mut m = msg(ORDER_SOAP, "text/xml");
    assert_eq!(text("count(//o:Item)", &mut m), "2");
    assert_eq!(text("//o:Item[@qty > 3]", &mut m), "Gizmo & co");
    assert_eq!(text("$body/o:PlaceOrder/o:Customer", &mut m), "ACME");
    assert_eq!(
        text("/s:Envelope/s:Body/o:PlaceOrder/@priority", &mut m),
        "high"
    );
    assert_eq!(text("$header/h:Trace", &mut m), "t-1");
    assert_eq!(text("string(//o:Item)", &mut m), "Gadget");
    assert_eq!(text("sum(//o:Item/@qty) * 2", &mut m), "14");
    assert_eq!(text("local-name($body/*)", &mut m), "PlaceOrder");
    assert_eq!(eval("//o:Item = 'Gadget'", &mut m), Evaluated::Bool(true));
    assert_eq!(eval("//o:Missing", &mut m), Evaluated::Null);
    // Context node is the envelope, as in Synapse.
    assert_eq!(text("name(.)", &mut m), "soapenv:Envelope");
    // Several elements, or one without text of its own, come back as XML.
    match eval("//o:Item", &mut m) {
        Evaluated::Xml(x) => assert_eq!(
            x,
            r#"<ord:Item xmlns:ord="urn:orders" qty="2">Gadget</ord:Item><ord:Item xmlns:ord="urn:orders" qty="5">Gizmo &amp; co</ord:Item>"#
        ),
        other => panic!("{other:?}"),
    }
    match eval("$body/*", &mut m) {
        Evaluated::Xml(x) => assert!(
            x.starts_with("<ord:PlaceOrder xmlns:ord=\"urn:orders\""),
            "{x}"
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn xpath_over_plain_xml_sees_a_virtual_envelope() {
    let mut m = msg(
        "<order><id>7</id><total>9.5</total></order>",
        "application/xml",
    );
    assert_eq!(text("//order/id", &mut m), "7");
    assert_eq!(text("$body/order/total + 0.5", &mut m), "10");
    assert_eq!(text("/s:Envelope/s:Body/order/id", &mut m), "7");
    // The payload root is not the document root.
    assert_eq!(eval("/order", &mut m), Evaluated::Null);
}

#[test]
fn synapse_functions_and_variables() {
    let mut m = msg("<a/>", "application/xml");
    m.push_func_scope(vec![("greeting".into(), Value::from("hi").into())]);
    assert_eq!(text("get-property('uri.var.id')", &mut m), "42");
    assert_eq!(text("$ctx:uri.var.id", &mut m), "42");
    assert_eq!(text("get-property('axis2', 'HTTP_SC')", &mut m), "201");
    assert_eq!(text("$axis2:HTTP_SC + 1", &mut m), "202");
    assert_eq!(text("$trp:X-Tenant", &mut m), "blue");
    assert_eq!(
        text("get-property('transport', 'x-tenant')", &mut m),
        "blue"
    );
    assert_eq!(text("$url:region", &mut m), "EU");
    assert_eq!(text("$url:q", &mut m), "a b!");
    assert_eq!(text("$func:greeting", &mut m), "hi");
    assert_eq!(text("get-property('func', 'greeting')", &mut m), "hi");
    assert_eq!(text("get-property('missing')", &mut m), "");
    assert_eq!(text("base64Encode('user:pass')", &mut m), "dXNlcjpwYXNz");
    assert_eq!(text("base64Decode('dXNlcjpwYXNz')", &mut m), "user:pass");
    assert_eq!(text("url-encode('a b&c')", &mut m), "a+b%26c");
    assert_eq!(text("concat('id-', $ctx:uri.var.id)", &mut m), "id-42");
    assert!(
        text("get-property('SYSTEM_TIME')", &mut m)
            .parse::<u64>()
            .is_ok()
    );
    assert_eq!(
        text(
            "string-length(get-property('SYSTEM_DATE', 'yyyy-MM-dd'))",
            &mut m
        ),
        "10"
    );
    assert!(text("get-property('MessageID')", &mut m).starts_with("urn:uuid:"));
    assert_eq!(text("get-property('MESSAGE_FORMAT')", &mut m), "pox");
    m.set_property(Scope::Default, "flag", Value::Bool(true))
        .unwrap();
    assert_eq!(
        eval("get-property('flag') = 'true'", &mut m),
        Evaluated::Bool(true)
    );
}

#[test]
fn property_only_expressions_never_touch_the_body() {
    let mut m = msg("<not-closed>", "application/xml");
    assert_eq!(text("$ctx:uri.var.id", &mut m), "42");
    // A streamed body is not read either.
    let mut streamed = MessageContext::request(
        Method::GET,
        Uri::from_static("/"),
        "http",
        HeaderMap::new(),
        Body::stream(Box::pin(futures_util::stream::empty()), None),
    );
    let it = Expression::compile("concat('a', 'b')", &[]).unwrap();
    assert_eq!(it.string(&mut streamed).unwrap().as_deref(), Some("ab"));
    let needs = Expression::compile("//a", &[]).unwrap();
    assert_eq!(needs.string(&mut streamed), Err(ExprError::NeedBody));
}

#[test]
fn malformed_and_mismatched_payloads_fail_clearly() {
    let mut bad = msg("<order>", "application/xml");
    let it = Expression::compile("//order", &[]).unwrap();
    assert!(matches!(
        it.evaluate(&mut bad),
        Err(ExprError::Malformed(_))
    ));
    // Other kinds are seen through Synapse's JSON/XML mapping.
    let mut json = msg("{\"a\":{\"b\":1}}", "application/json");
    assert_eq!(text("//a/b", &mut json), "1");
    let mut xml = msg("<order><id>7</id></order>", "application/xml");
    assert_eq!(text("json-eval($.order.id)", &mut xml), "7");
    let bad_arg = Expression::compile("base64Decode('%%%')", &[]).unwrap();
    assert!(matches!(
        bad_arg.evaluate(&mut json),
        Err(ExprError::XPath(XPathError::Failed { .. }))
    ));
}

#[test]
fn json_eval_over_json_payloads() {
    let mut m = msg(
        r#"{"order":{"id":7,"customer":"ACME","vip":true,"items":[{"sku":"a","qty":1},{"sku":"b","qty":5}]}}"#,
        "application/json",
    );
    assert_eq!(text("json-eval($.order.id)", &mut m), "7");
    assert_eq!(text("json-eval($.order.customer)", &mut m), "ACME");
    assert_eq!(text("json-eval($.order.vip)", &mut m), "true");
    assert_eq!(text("json-eval($.order.items.length())", &mut m), "2");
    assert_eq!(
        eval("json-eval($.order.items[?(@.qty > 2)].sku)", &mut m),
        Evaluated::Json(serde_json::json!(["b"]))
    );
    assert_eq!(eval("json-eval($.order.nothing)", &mut m), Evaluated::Null);
    let cond = Expression::compile("json-eval($.order.vip)", &[]).unwrap();
    assert!(cond.boolean(&mut m).unwrap());
    let cond = Expression::compile("json-eval($.order.items[?(@.qty > 9)])", &[]).unwrap();
    assert!(!cond.boolean(&mut m).unwrap());
}

#[test]
fn text_payloads_are_wrapped_like_axis2() {
    let mut m = msg("hello world", "text/plain");
    assert_eq!(text("$body/*", &mut m), "hello world");
    assert_eq!(text("local-name($body/*)", &mut m), "text");
}

#[test]
fn xpath_over_a_document_at_the_depth_limit_fits_a_small_stack() {
    std::thread::Builder::new()
        .stack_size(512 * 1024)
        .spawn(|| {
            let levels = crate::base::budget::MAX_DEPTH - 2;
            let body = "<a>".repeat(levels) + "x" + &"</a>".repeat(levels);
            let mut m = msg(&body, "application/xml");
            assert_eq!(text("count(//a)", &mut m), levels.to_string());
            assert_eq!(text("string($body)", &mut m), "x");
        })
        .unwrap()
        .join()
        .expect("no stack overflow");
}

#[test]
fn xpath2_functions_with_and_without_the_fn_prefix() {
    let mut m = msg(ORDER_SOAP, "text/xml");
    let fns = "http://www.w3.org/2005/xpath-functions";
    let mut with_fn = ns();
    with_fn.push(("fn".into(), fns.into()));
    let t = |src: &str, m: &mut MessageContext| {
        Expression::compile(src, &with_fn)
            .unwrap_or_else(|it| panic!("{src}: {it}"))
            .evaluate(m)
            .unwrap_or_else(|it| panic!("{src}: {it}"))
            .into_string()
            .unwrap_or_default()
    };
    assert_eq!(
        t("fn:concat('a', get-property('uri.var.id'))", &mut m),
        "a42"
    );
    assert_eq!(t("fn:upper-case(//o:Customer)", &mut m), "ACME");
    assert_eq!(t("lower-case('IBM')", &mut m), "ibm");
    assert_eq!(
        t("fn:string-join(//o:Item, '|')", &mut m),
        "Gadget|Gizmo & co"
    );
    assert_eq!(t("fn:matches(//o:Customer, '^ac', 'i')", &mut m), "true");
    assert_eq!(
        t(
            "fn:replace('2024-03-05', '(\\d+)-(\\d+)-(\\d+)', '$3/$2/$1')",
            &mut m
        ),
        "05/03/2024"
    );
    assert_eq!(t("fn:ends-with('order.xml', '.xml')", &mut m), "true");
    assert_eq!(t("fn:max(//o:Item/@qty)", &mut m), "5");
    assert_eq!(t("fn:min(//o:Item/@qty)", &mut m), "2");
    assert_eq!(t("fn:avg(//o:Item/@qty)", &mut m), "3.5");
    assert_eq!(t("fn:abs(-3)", &mut m), "3");
    assert_eq!(t("fn:exists(//o:Item)", &mut m), "true");
    assert_eq!(t("fn:empty(//o:Nothing)", &mut m), "true");
    assert_eq!(t("fn:max(//o:Nothing)", &mut m), "");
    assert_eq!(
        t(
            "fn:format-dateTime('2024-03-05T14:07:09Z', '[Y0001]/[M01]/[D01] [H01]:[m01]')",
            &mut m
        ),
        "2024/03/05 14:07"
    );
    let now = t("fn:current-dateTime()", &mut m);
    assert!(now.ends_with('Z') && now.len() == 24, "{now}");
    assert_eq!(t("fn:current-date()", &mut m).len(), 11);
}

#[test]
fn sequences_of_strings_work_where_they_are_consumed() {
    let mut m = msg(ORDER_SOAP, "text/xml");
    let t = |src: &str, m: &mut MessageContext| {
        Expression::compile(src, &ns())
            .unwrap_or_else(|it| panic!("{src}: {it}"))
            .evaluate(m)
            .unwrap_or_else(|it| panic!("{src}: {it}"))
            .into_string()
            .unwrap_or_default()
    };
    let cases = [
        (
            "fn:string-join(fn:tokenize('a, b,,c', ',\\s*'), '|')",
            "a|b||c",
        ),
        ("string-join(tokenize('IBM MSFT', ' '))", "IBMMSFT"),
        ("count(tokenize('a/b/c', '/'))", "3"),
        ("count(tokenize('', '/'))", "0"),
        ("fn:tokenize('/orders/42/items', '/')[3]", "42"),
        ("concat(tokenize('a-b-c', '-')[last()], '!')", "c!"),
        ("tokenize('a-b', '-')[5]", ""),
        ("tokenize(tokenize('k=v;x=y', ';')[2], '=')[1]", "x"),
        (
            "string-join(distinct-values(tokenize('b,a,b,c,a', ',')), ',')",
            "b,a,c",
        ),
        ("count(distinct-values(//o:Item/@qty))", "2"),
        (
            "string-join(distinct-values(//o:Item), ';')",
            "Gadget;Gizmo & co",
        ),
        ("exists(tokenize('a', ','))", "true"),
        ("empty(distinct-values(//o:Nothing))", "true"),
        ("distinct-values(tokenize('x,y,x', ','))[last()]", "y"),
        ("string-join(tokenize('A1b2C', '[0-9]'), '-')", "A-b-C"),
        ("string-join(tokenize('aXbxc', 'x', 'i'), '')", "abc"),
    ];
    for (src, expected) in cases {
        assert_eq!(t(src, &mut m), expected, "{src}");
    }
    let fails = Expression::compile("count(tokenize(//o:Customer, '.*'))", &ns())
        .unwrap()
        .evaluate(&mut m);
    assert!(fails.is_err(), "a pattern that matches nothing is refused");
}

#[test]
fn sequences_of_strings_elsewhere_are_load_errors() {
    let err = |src: &str| Expression::compile(src, &ns()).unwrap_err().to_string();
    let outside = "returns a sequence of strings, which Axon supports only";
    for src in [
        "tokenize('a,b', ',')",
        "concat(tokenize('a,b', ','), 'x')",
        "tokenize('a,b', ',')[. = 'a']",
        "tokenize('a,b', ',')[position() > 1]",
        "count((tokenize('a,b', ',')))",
        "string-join('x', tokenize('a,b', ','))",
        "count(tokenize('a,b', ',') | //a)",
        "distinct-values(//a)",
        "upper-case(distinct-values(//a))",
        "tokenize(tokenize('a', ','), ',')[1]",
    ] {
        assert!(err(src).contains(outside), "{src}: {}", err(src));
    }
    assert!(
        err("count(tokenize('a', '('))").contains("invalid regular expression in `tokenize()`")
    );
    assert!(err("count(tokenize('a'))").contains("takes 2 to 3 argument"));
    assert!(err("axon-seq-count('1:a')").contains("unknown function"));
}

#[test]
fn xpath2_errors_are_load_errors_naming_the_function() {
    let err = |src: &str| Expression::compile(src, &ns()).unwrap_err().to_string();
    assert!(err("fn:subsequence(//a, 1)").contains("`fn:subsequence()` is not supported by Axon"));
    assert!(err("fn:format-number(1, '0')").contains("fn:format-number"));
    assert!(err("fn:matches('a', '(')").contains("invalid regular expression in `matches()`"));
    assert!(err("matches('a', 'a', 'k')").contains("unknown flag"));
    assert!(err("fn:upper-case('a', 'b')").contains("takes 1 argument"));
    let mut other = ns();
    other.push(("fn".into(), "urn:not-functions".into()));
    assert!(
        Expression::compile("fn:upper-case('a')", &other)
            .unwrap_err()
            .to_string()
            .contains("not available")
    );
}
