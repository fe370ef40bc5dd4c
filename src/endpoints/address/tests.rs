use super::*;
use crate::config::AddressSpec;
use crate::message::{Body, Scope, Value};
use actix_web::http::Method;
use actix_web::http::header::HeaderMap;

fn msg() -> MessageContext {
    MessageContext::request(
        Method::GET,
        "/api/x".parse().unwrap(),
        "http",
        HeaderMap::new(),
        Body::Empty,
    )
}

fn http(template: &str, method: Option<Method>) -> Target {
    let (legacy, source, compiled) = crate::config::http_template(template).unwrap();
    Target::Http(HttpSpec::new(source.to_owned(), compiled, method, legacy))
}

#[test]
fn postfix_join_rules() {
    assert_eq!(
        join("http://b/svc".into(), "orders/1"),
        "http://b/svc/orders/1"
    );
    assert_eq!(
        join("http://b/svc/".into(), "/orders/1"),
        "http://b/svc/orders/1"
    );
    assert_eq!(join("http://b/svc/".into(), "?q=1"), "http://b/svc?q=1");
    assert_eq!(
        join("http://b/svc".into(), "/orders?q=1"),
        "http://b/svc/orders?q=1"
    );
    assert_eq!(join("http://b/svc".into(), ""), "http://b/svc");
}

#[test]
fn address_appends_postfix_and_substitutes_properties() {
    let mut m = msg();
    m.set_property(
        Scope::Axis2,
        "REST_URL_POSTFIX",
        Value::from("/orders/7?x=1"),
    )
    .unwrap();
    m.set("tenant", "acme");
    let t = Target::Address(AddressSpec {
        uri: "http://b/${tenant}".into(),
        member: false,
    });
    assert_eq!(
        resolve(&t, &[], &m, true).unwrap(),
        "http://b/acme/orders/7?x=1"
    );
    assert_eq!(resolve(&t, &[], &m, false).unwrap(), "http://b/acme");
    let missing = Target::Address(AddressSpec {
        uri: "http://b/${nope}".into(),
        member: false,
    });
    assert_eq!(
        resolve(&missing, &[], &m, true).unwrap_err().to_string(),
        "property `nope` used in address `http://b/${nope}` is not set"
    );
}

#[test]
fn http_templates_expand_with_encoding_and_endpoint_properties_win() {
    let mut m = msg();
    m.set("uri.var.id", "a b/c");
    m.set("query.param.q", "x&y");
    m.set_property(Scope::Axis2, "REST_URL_POSTFIX", Value::from("/ignored"))
        .unwrap();
    let t = http(
        "http://b/orders/{uri.var.id}{?query.param.q,query.param.none}",
        Some(Method::GET),
    );
    assert_eq!(
        resolve(&t, &[], &m, true).unwrap(),
        "http://b/orders/a%20b%2Fc?query.param.q=x%26y"
    );
    let props = vec![EndpointProperty {
        name: "uri.var.id".into(),
        value: "42".into(),
        scope: PropertyScope::Default,
    }];
    assert_eq!(
        resolve(&t, &props, &m, true).unwrap(),
        "http://b/orders/42?query.param.q=x%26y"
    );
}

#[test]
fn leading_expression_is_reserved_expansion() {
    let mut m = msg();
    m.set("uri.var.base", "http://backend:8080/x");
    let t = http("{uri.var.base}/y", Some(Method::GET));
    assert_eq!(
        resolve(&t, &[], &m, true).unwrap(),
        "http://backend:8080/x/y"
    );
}

#[test]
fn a_stray_percent_in_a_value_is_a_literal_percent() {
    // Found by the fuzzer: `%` then a multi-byte character panicked inside the expander.
    let mut m = msg();
    m.set("uri.var.url", "http://h/p?x=%a\u{20ac}x&y=%41");
    let t = http("{uri.var.url}", Some(Method::GET));
    assert_eq!(
        resolve(&t, &[], &m, true).unwrap(),
        "http://h/p?x=%25a%E2%82%ACx&y=%41"
    );
    // A stray `%` after an escape, before a replacement character (the second finding).
    m.set("uri.var.url", "http://h/%\u{fffd}\u{fffd}+x/%25a\u{fffd}");
    assert_eq!(
        resolve(&t, &[], &m, true).unwrap(),
        "http://h/%25%EF%BF%BD%EF%BF%BD+x/%25a%EF%BF%BD"
    );
    // A simple expansion encodes the value whole, as before: `%` is `%25`, once.
    m.set("uri.var.p", "100%\u{20ac}");
    let simple = http("http://h/{uri.var.p}", Some(Method::GET));
    assert_eq!(
        resolve(&simple, &[], &m, true).unwrap(),
        "http://h/100%25%E2%82%AC"
    );
}

#[test]
fn http_without_method_appends_the_postfix() {
    let mut m = msg();
    m.set_property(Scope::Axis2, "REST_URL_POSTFIX", Value::from("/more"))
        .unwrap();
    let t = http("http://b/base", None);
    assert_eq!(resolve(&t, &[], &m, true).unwrap(), "http://b/base/more");
}

#[test]
fn reserved_variables_are_found_once_at_load() {
    let Target::Http(spec) = http("http://h/{+a,b:3}/{c}{#d*}{?e}", None) else {
        panic!("an http target");
    };
    assert_eq!(spec.reserved, ["a", "b", "d"]);
    // A template that starts with a variable is a reserved expansion of it.
    let Target::Http(spec) = http("{uri.var.base}/x/{uri.var.id}", None) else {
        panic!("an http target");
    };
    assert_eq!(spec.reserved, ["uri.var.base"]);
}
