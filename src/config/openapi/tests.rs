use super::*;

const DOC: &str = r##"
openapi: 3.0.3
info: {title: t, version: "1"}
paths:
  /pets/{petId}:
    get:
      responses:
        200:
          description: one pet
          headers:
            X-Rate-Limit: {schema: {type: integer}, example: 100}
            Content-Type: {example: ignored}
          content:
            application/json:
              examples:
                rex: {value: {name: Rex, id: 1, tags: [a, b]}}
                tom: {$ref: '#/components/examples/Tom'}
            application/xml:
              example: "<pet><name>Rex</name></pet>"
        4XX:
          $ref: '#/components/responses/Problem'
  /pets/mine:
    get:
      responses:
        default:
          description: mine
          content:
            text/plain:
              schema: {type: string, example: "just mine"}
components:
  examples:
    Tom: {value: {name: Tom, id: 2}}
  responses:
    Problem:
      description: problem
      content:
        application/problem+json:
          example: {title: Not Found}
"##;

fn compiled(text: &str) -> (Option<OpenApiMock>, Vec<(bool, String)>) {
    let doc = parse_document("doc.yaml", text).expect("parses");
    let mut problems = Vec::new();
    (compile("doc.yaml", &doc, &mut problems), problems)
}

#[test]
fn examples_headers_and_refs_compile_in_document_order() {
    let (mock, problems) = compiled(DOC);
    assert!(problems.is_empty(), "{problems:?}");
    let mock = mock.unwrap();
    let templates: Vec<&str> = mock.paths.iter().map(|p| p.template.as_str()).collect();
    assert_eq!(
        templates,
        ["/pets/mine", "/pets/{petId}"],
        "concrete paths first"
    );
    let get = &mock.paths[1].operations[0];
    assert_eq!(get.method, Method::GET);
    let keys: Vec<&str> = get.responses.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(keys, ["200", "4xx"]);
    let ok = &get.responses[0];
    assert_eq!(ok.headers.len(), 1, "Content-Type is ignored");
    assert_eq!(ok.headers[0].0.as_str(), "x-rate-limit");
    assert_eq!(ok.headers[0].1, "100");
    let json = &ok.content[0];
    assert_eq!(json.media_type, "application/json");
    assert_eq!(json.examples[0].0, "rex");
    assert_eq!(
        json.examples[0].1,
        Bytes::from_static(br#"{"name":"Rex","id":1,"tags":["a","b"]}"#)
    );
    assert_eq!(
        json.examples[1].1,
        Bytes::from_static(br#"{"name":"Tom","id":2}"#)
    );
    assert_eq!(
        ok.content[1].examples[0],
        (
            "example".into(),
            Bytes::from_static(b"<pet><name>Rex</name></pet>")
        )
    );
    assert_eq!(
        get.responses[1].content[0].examples[0].1,
        Bytes::from_static(br#"{"title":"Not Found"}"#)
    );
    let mine = &mock.paths[0].operations[0].responses[0];
    assert_eq!(
        mine.content[0].examples[0].1,
        Bytes::from_static(b"just mine")
    );
}

#[test]
fn json_documents_keep_their_order_too() {
    let doc = parse_document(
            "d.json",
            r#"{"openapi": "3.1.0", "paths": {"/a": {"post": {"responses": {"201": {"content": {"application/json": {"example": {"z": 1, "a": [true, null, 1.5]}}}}}}}}}"#,
        )
        .unwrap();
    let mut problems = Vec::new();
    let mock = compile("d.json", &doc, &mut problems).unwrap();
    assert_eq!(
        mock.paths[0].operations[0].responses[0].content[0].examples[0].1,
        Bytes::from_static(br#"{"z":1,"a":[true,null,1.5]}"#)
    );
}

#[test]
fn malformed_documents_report_line_and_column() {
    let (line, col, message) =
        parse_document("x.yaml", "openapi: 3.0.0\npaths:\n  /a: [1, 2\n").unwrap_err();
    assert!(message.starts_with("malformed YAML"), "{message}");
    assert!(line >= 3, "{line}:{col}");
    let (line, col, message) =
        parse_document("x.json", "{\n  \"openapi\": \"3.0.0\",\n  oops\n}").unwrap_err();
    assert!(message.starts_with("malformed JSON"), "{message}");
    assert_eq!((line, col), (3, 3));
}

#[test]
fn problems_are_named() {
    let (mock, problems) = compiled("swagger: '2.0'\npaths: {}\n");
    assert!(mock.is_none());
    assert!(
        problems[0].1.contains("OpenAPI 2 (swagger)"),
        "{problems:?}"
    );
    let (mock, problems) = compiled(
        "openapi: 3.0.0\npaths:\n  /a:\n    get:\n      responses:\n        2X5: {description: x}\n        '200': {$ref: 'other.yaml#/x'}\n",
    );
    assert!(mock.is_none());
    let all: Vec<&str> = problems.iter().map(|(_, m)| m.as_str()).collect();
    assert!(
        all[0].contains("GET /a: response `2X5` is not a status code"),
        "{all:?}"
    );
    assert!(
        all[1].contains("external reference `other.yaml#/x`"),
        "{all:?}"
    );
    let (_, problems) = compiled(
        "openapi: 3.0.0\npaths:\n  /a:\n    get:\n      responses:\n        '200':\n          content:\n            application/json:\n              examples:\n                far: {externalValue: 'http://x/y.json'}\n",
    );
    assert!(
        problems[0].0 && problems[0].1.contains("externalValue"),
        "{problems:?}"
    );
    let (mock, problems) = compiled("openapi: 3.0.0\npaths:\n  /a:\n    $ref: '#/paths/~1a'\n");
    assert!(mock.is_none());
    assert!(problems[0].1.contains("too long"), "{problems:?}");
}

#[test]
fn response_keys() {
    for ok in ["200", "5xx", "50x", "default", "1xx"] {
        assert!(valid_response_key(ok), "{ok}");
    }
    for bad in ["2x5", "600", "20", "x00", "abc", "0xx"] {
        assert!(!valid_response_key(bad), "{bad}");
    }
}
