use super::*;

fn vars(t: &str, path: &str, query: Option<&str>) -> Option<Vec<(String, String)>> {
    UriTemplate::parse(t).unwrap().matches(path, query)
}

fn one(t: &str, path: &str) -> Option<String> {
    vars(t, path, None).map(|v| v.into_iter().map(|(_, v)| v).collect::<Vec<_>>().join("|"))
}

#[test]
fn simple_variables_stop_at_reserved_characters_and_next_literal() {
    assert_eq!(one("/view/{symbol}", "/view/IBM"), Some("IBM".into()));
    assert_eq!(one("/view/{symbol}", "/view/IBM/x"), None);
    assert_eq!(
        one("/orders/{id}/items/{item}", "/orders/42/items/7"),
        Some("42|7".into())
    );
    assert_eq!(
        one("/files/{name}.json", "/files/report.json"),
        Some("report".into())
    );
    assert_eq!(one("/view/{symbol}", "/view/"), None);
    // Percent-decoded after matching, so an encoded slash stays inside the value.
    assert_eq!(
        one("/view/{symbol}", "/view/a%2Fb%20c"),
        Some("a/b c".into())
    );
}

#[test]
fn operators_and_prefixes() {
    assert_eq!(one("/x/{+path}", "/x/a/b/c"), Some("a/b/c".into()));
    assert_eq!(one("/x{/a,b}", "/x/1/2"), Some("1|2".into()));
    assert_eq!(one("/file{.ext}", "/file.txt"), Some("txt".into()));
    assert_eq!(one("/c/{code:3}", "/c/abc"), Some("abc".into()));
    assert_eq!(one("/c/{code:3}", "/c/abcd"), None);
    assert_eq!(one("/p/{a},{b}", "/p/1,2"), Some("1|2".into()));
}

#[test]
fn query_templates_are_literal_and_extra_queries_are_tolerated() {
    let v = vars("/orders?id={id}&x={x}", "/orders", Some("id=42&x=a%20b")).unwrap();
    assert_eq!(
        v,
        vec![("id".into(), "42".into()), ("x".into(), "a b".into())]
    );
    assert!(vars("/orders?id={id}", "/orders", Some("other=1")).is_none());
    assert_eq!(one("/orders/{id}", "/orders/42"), Some("42".into()));
    assert!(vars("/orders/{id}", "/orders/42", Some("verbose=1")).is_some());
}

#[test]
fn trailing_slashes_are_ignored() {
    assert_eq!(one("/orders/{id}/", "/orders/42"), Some("42".into()));
    assert_eq!(one("/orders/{id}", "/orders/42/"), Some("42".into()));
    assert!(vars("/", "/", None).is_some());
}

#[test]
fn invalid_templates_are_rejected() {
    assert_eq!(
        UriTemplate::parse("/a/{id").unwrap_err().to_string(),
        "unclosed `{` in `/a/{id`"
    );
    assert!(matches!(
        UriTemplate::parse("/a{?q}"),
        Err(TemplateError::QueryExpression('?'))
    ));
    assert_eq!(
        UriTemplate::parse("/a/{}").unwrap_err().to_string(),
        "invalid variable name `` in `{}`"
    );
    assert!(UriTemplate::parse("/a/{b c}").is_err());
    assert!(UriTemplate::parse("/a/b}").is_err());
    assert!(UriTemplate::parse("/a/{x:0}").is_err());
}

#[test]
fn wso2_wildcards_take_the_rest_of_the_uri() {
    assert_eq!(one("/view/*", "/view/IBM"), Some(String::new()));
    assert_eq!(one("/view/*", "/view/a/b/c"), Some(String::new()));
    assert_eq!(one("/view/*", "/view/"), Some(String::new()));
    // As in MI: the literal before `*` must be there whole.
    assert_eq!(one("/view/*", "/view"), None);
    assert_eq!(one("/view/*", "/viewer/x"), None);
    assert_eq!(one("/*", "/anything/at/all"), Some(String::new()));
    assert_eq!(one("/orders/{id}/*", "/orders/7"), Some("7".into()));
    assert_eq!(one("/orders/{id}/*", "/orders/7/lines/2"), Some("7".into()));
    assert_eq!(one("/orders/{id}/*", "/orders"), None);
    assert!(vars("/view/*", "/view/x", Some("a=1")).is_some());
    assert!(matches!(
        UriTemplate::parse("/a*{x}"),
        Err(TemplateError::WildcardNotLast(_))
    ));
    // A `*` inside a literal is a character.
    assert_eq!(one("/a*b/{x}", "/a*b/1"), Some("1".into()));
}

#[test]
fn a_repeated_variable_must_hold_one_value() {
    let v = vars("/{id}/copy/{id}", "/7/copy/7", None).unwrap();
    assert_eq!(v, vec![("id".into(), "7".into())]);
    assert!(vars("/{id}/copy/{id}", "/7/copy/8", None).is_none());
}

#[test]
fn query_template_values_may_be_empty() {
    let v = vars(
        "/quote?symbol={symbol}&x={x}",
        "/quote",
        Some("symbol=IBM&x="),
    )
    .unwrap();
    assert_eq!(
        v,
        vec![("symbol".into(), "IBM".into()), ("x".into(), String::new())]
    );
    assert!(vars("/quote/{symbol}", "/quote/", None).is_none());
}

#[test]
fn bad_percent_encoding_does_not_match() {
    assert_eq!(one("/v/{s}", "/v/%FF"), None);
}

#[test]
fn url_mappings_rank_exact_over_prefix_over_extension() {
    let exact = UrlMapping::parse("/a/b").unwrap();
    let prefix = UrlMapping::parse("/a/*").unwrap();
    let all = UrlMapping::parse("/*").unwrap();
    let ext = UrlMapping::parse("*.jsp").unwrap();
    assert_eq!(exact.matches("/a/b/"), Some(MappingRank::Exact));
    assert_eq!(exact.matches("/a/b/c"), None);
    assert_eq!(prefix.matches("/a"), Some(MappingRank::Prefix(2)));
    assert_eq!(prefix.matches("/a/b/c"), Some(MappingRank::Prefix(2)));
    assert_eq!(prefix.matches("/ab"), None);
    assert_eq!(all.matches("/anything"), Some(MappingRank::Prefix(1)));
    assert_eq!(ext.matches("/x/index.jsp"), Some(MappingRank::Extension));
    assert_eq!(ext.matches("/x/jsp"), None);
    assert!(MappingRank::Exact > MappingRank::Prefix(5));
    assert!(MappingRank::Prefix(3) > MappingRank::Prefix(2));
    assert!(MappingRank::Prefix(1) > MappingRank::Extension);
    assert!(UrlMapping::parse("/a*b").is_err());
    assert!(UrlMapping::parse("").is_err());
}
