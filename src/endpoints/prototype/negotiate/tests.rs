use actix_web::http::Method;

use super::*;
use crate::config::MediaExamples;

fn response(key: &str, media: &[(&str, &[(&str, &str)])]) -> MockedResponse {
    MockedResponse {
        key: key.to_owned(),
        headers: vec![(
            HeaderName::from_static("x-key"),
            HeaderValue::from_str(key).unwrap(),
        )],
        content: media
            .iter()
            .map(|(m, examples)| MediaExamples {
                media_type: (*m).to_owned(),
                examples: examples
                    .iter()
                    .map(|(n, b)| ((*n).to_owned(), Bytes::from((*b).to_owned())))
                    .collect(),
            })
            .collect(),
    }
}

fn op(responses: Vec<MockedResponse>) -> Operation {
    Operation {
        method: Method::GET,
        responses,
    }
}

fn pets() -> Operation {
    op(vec![
        response(
            "200",
            &[
                ("application/xml", &[("rex", "<rex/>")]),
                ("application/json", &[("rex", "{rex}"), ("Tom", "{tom}")]),
            ],
        ),
        response("404", &[("application/json", &[("missing", "{404}")])]),
        response("5xx", &[("application/json", &[("down", "{5xx}")])]),
        response("50x", &[("application/json", &[("gw", "{50x}")])]),
        response("204", &[]),
    ])
}

fn pick(o: &Operation, prefer: &str, accept: Option<&str>) -> Result<(u16, String), MockError> {
    let p = parse_prefer([prefer]);
    choose(o, "/pets", &p, accept).map(|c| {
        (
            c.status.as_u16(),
            c.body
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default(),
        )
    })
}

#[test]
fn prefer_parsing_follows_rfc_7240() {
    assert_eq!(
        parse_prefer(["code=404, example=\"Not Found\"", "code=500"]),
        Preference {
            code: Some("404".into()),
            example: Some("Not Found".into())
        }
    );
    assert_eq!(
        parse_prefer(["return=minimal; code = 201", "respond-async"])
            .code
            .as_deref(),
        Some("201")
    );
    assert_eq!(parse_prefer(["wait=10"]), Preference::default());
}

#[test]
fn preferred_codes_match_exact_then_nnx_then_nxx() {
    let o = pets();
    assert_eq!(pick(&o, "code=404", None).unwrap(), (404, "{404}".into()));
    assert_eq!(pick(&o, "code=503", None).unwrap(), (503, "{50x}".into()));
    assert_eq!(pick(&o, "code=512", None).unwrap(), (512, "{5xx}".into()));
    assert!(matches!(
        pick(&o, "code=418", None),
        Err(MockError::NotImplemented(m)) if m.contains("Preferred code 418")
    ));
}

#[test]
fn malformed_codes_are_bad_requests() {
    let o = pets();
    for bad in [
        "code=4040",
        "code=40",
        "code=abc",
        "code=",
        "code=999",
        "code=099",
    ] {
        let error = pick(&o, bad, None).unwrap_err();
        assert!(matches!(error, MockError::BadPreference(_)), "{bad}");
        assert_eq!(error.status_code_message().1, BAD_PREFERENCE);
    }
}

#[test]
fn without_a_code_default_with_200_else_the_first_response() {
    assert_eq!(pick(&pets(), "", None).unwrap(), (200, "{rex}".into()));
    let with_default = op(vec![
        response("404", &[("application/json", &[("a", "{404}")])]),
        response("default", &[("application/json", &[("d", "{default}")])]),
    ]);
    assert_eq!(
        pick(&with_default, "", None).unwrap(),
        (200, "{default}".into())
    );
    // `default` wins even when a success is declared first (Choreo Connect's rule).
    let error_default = op(vec![
        response("201", &[("application/json", &[("c", "{created}")])]),
        response("default", &[("application/json", &[("d", "{error}")])]),
    ]);
    assert_eq!(
        pick(&error_default, "", None).unwrap(),
        (200, "{error}".into())
    );
    let errors_only = op(vec![
        response("404", &[("application/json", &[("a", "{404}")])]),
        response("500", &[("application/json", &[("b", "{500}")])]),
    ]);
    assert_eq!(pick(&errors_only, "", None).unwrap(), (404, "{404}".into()));
    let wildcard_first = op(vec![response("2xx", &[("text/plain", &[("a", "ok")])])]);
    assert_eq!(pick(&wildcard_first, "", None).unwrap(), (200, "ok".into()));
    let informational = op(vec![response("1xx", &[("text/plain", &[("a", "x")])])]);
    assert!(matches!(
        pick(&informational, "", None),
        Err(MockError::NotImplemented(_))
    ));
}

#[test]
fn media_type_by_accept() {
    let o = pets();
    // No Accept: application/json even though XML comes first.
    assert_eq!(pick(&o, "", None).unwrap().1, "{rex}");
    assert_eq!(pick(&o, "", Some("application/xml")).unwrap().1, "<rex/>");
    assert_eq!(
        pick(&o, "", Some("text/html, application/*")).unwrap().1,
        "<rex/>"
    );
    assert_eq!(pick(&o, "", Some("*/*")).unwrap().1, "<rex/>");
    // The first configured type that any range accepts wins; q-values are ignored.
    assert_eq!(
        pick(&o, "", Some("application/xml;q=0.5, application/json"))
            .unwrap()
            .1,
        "<rex/>"
    );
    assert_eq!(
        pick(&o, "", Some("application/json, application/xml"))
            .unwrap()
            .1,
        "<rex/>"
    );
    assert_eq!(
        pick(&o, "", Some("application/json;q=1")).unwrap().1,
        "{rex}"
    );
    assert!(matches!(
        pick(&o, "", Some("text/csv")),
        Err(MockError::NotImplemented(m)) if m.contains("Accept type text/csv")
    ));
    let c = choose(&o, "x", &Preference::default(), Some("application/xml")).unwrap();
    assert_eq!(c.media_type.as_deref(), Some("application/xml"));
    assert_eq!(c.headers[0].1, "200");
}

#[test]
fn examples_by_name_ignoring_case() {
    let o = pets();
    assert_eq!(pick(&o, "example=tom", None).unwrap().1, "{tom}");
    assert_eq!(
        pick(&o, "code=404, example=missing", None).unwrap().1,
        "{404}"
    );
    assert!(matches!(
        pick(&o, "example=garfield", None),
        Err(MockError::NotImplemented(m)) if m.contains("garfield")
    ));
    assert!(matches!(
        pick(&o, "code=204, example=x", None),
        Err(MockError::NotImplemented(_))
    ));
    let c = choose(&o, "x", &parse_prefer(["code=404, example=missing"]), None).unwrap();
    assert_eq!(c.applied, vec!["code=404", "example=missing"]);
}

#[test]
fn content_less_responses_and_operations_without_examples() {
    let o = pets();
    let c = choose(&o, "x", &parse_prefer(["code=204"]), None).unwrap();
    assert_eq!((c.status.as_u16(), c.body, c.media_type), (204, None, None));
    let bare = op(vec![MockedResponse {
        key: "200".into(),
        headers: vec![],
        content: vec![MediaExamples {
            media_type: "application/json".into(),
            examples: vec![],
        }],
    }]);
    assert!(matches!(
        choose(&bare, "/x", &Preference::default(), None),
        Err(MockError::NotImplemented(m)) if m == "GET /x has no examples in the OpenAPI document"
    ));
    let deleted = op(vec![MockedResponse {
        key: "204".into(),
        headers: vec![],
        content: vec![],
    }]);
    assert_eq!(
        choose(&deleted, "x", &Preference::default(), None)
            .unwrap()
            .status,
        StatusCode::NO_CONTENT
    );
    assert!(matches!(
        choose(&op(vec![]), "x", &Preference::default(), None),
        Err(MockError::NotImplemented(_))
    ));
}

#[test]
fn wildcard_media_types_in_the_document() {
    let o = op(vec![response("200", &[("*/*", &[("any", "bytes")])])]);
    let c = choose(&o, "x", &Preference::default(), Some("text/csv")).unwrap();
    assert_eq!(c.media_type.as_deref(), Some("text/csv"));
    let c = choose(&o, "x", &Preference::default(), None).unwrap();
    assert_eq!(c.media_type, None);
}
