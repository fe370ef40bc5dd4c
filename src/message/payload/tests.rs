use super::*;
use actix_web::http::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use actix_web::http::{Method, Uri};

fn msg(body: &'static [u8], content_type: &'static str) -> MessageContext {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    MessageContext::request(
        Method::POST,
        Uri::from_static("/x"),
        "http",
        headers,
        Body::Full(Bytes::from_static(body)),
    )
}

#[test]
fn kinds_come_from_the_bytes_first() {
    assert_eq!(
        kind_of(b"  <a/>", Some("application/json")),
        PayloadKind::Xml
    );
    assert_eq!(kind_of(b"{\"a\":1}", Some("text/xml")), PayloadKind::Json);
    assert_eq!(kind_of(b"42", Some("application/json")), PayloadKind::Json);
    assert_eq!(kind_of(b"hello", None), PayloadKind::Text);
    assert_eq!(kind_of(b" \n", None), PayloadKind::Empty);
}

#[test]
fn xml_is_parsed_once_and_edits_move_the_cache_to_the_new_bytes() {
    let mut m = msg(b"<a><b>1</b></a>", "application/xml");
    m.load_xml().unwrap();
    let first = m.xml_doc().unwrap() as *const XmlDoc;
    m.load_xml().unwrap();
    assert_eq!(first, m.xml_doc().unwrap() as *const XmlDoc, "parsed twice");
    {
        let doc = m.xml_doc().unwrap();
        let a = doc.first_body_element().unwrap();
        a.append_child(doc.document().create_element("c"));
    }
    m.commit_xml();
    assert_eq!(
        m.body_bytes().unwrap(),
        Bytes::from_static(b"<a><b>1</b><c/></a>")
    );
    assert_eq!(
        first,
        m.xml_doc().unwrap() as *const XmlDoc,
        "reparsed after commit"
    );
    // Replacing the body by any other means invalidates the cache.
    m.body = Body::Full(Bytes::from_static(b"<z/>"));
    assert!(m.xml_doc().is_none());
    m.load_xml().unwrap();
    assert_eq!(
        m.xml_doc()
            .unwrap()
            .first_body_element()
            .unwrap()
            .name()
            .local_part(),
        "z"
    );
}

#[test]
fn bad_payloads_are_reported() {
    let mut m = msg(b"{\"a\":1}", "application/json");
    m.load_json().unwrap();
    assert_eq!(m.json_value().unwrap()["a"], 1);
    let mut bad = msg(b"{\"a\":", "application/json");
    assert!(matches!(bad.load_json(), Err(PayloadError::Malformed(_))));
    let mut bad = msg(b"<a>", "application/xml");
    assert!(matches!(bad.load_xml(), Err(PayloadError::Malformed(_))));
    let mut xml = msg(b"<a>", "application/xml");
    assert!(matches!(xml.load_json(), Err(PayloadError::Malformed(_))));
}

#[test]
fn json_and_xml_are_seen_through_the_synapse_mapping() {
    let mut json = msg(
        b"{\"order\":{\"id\":7,\"items\":[1,2]}}",
        "application/json",
    );
    json.load_xml().unwrap();
    let doc = json.xml_doc().unwrap();
    let order = doc.first_body_element().unwrap();
    assert_eq!(order.name().local_part(), "order");
    // An edit of the XML view of JSON is written back as JSON.
    order.append_child(doc.document().create_element("note"));
    json.commit_xml();
    assert_eq!(
        json.body_bytes().unwrap(),
        Bytes::from_static(b"{\"order\":{\"id\":7,\"items\":[1,2],\"note\":\"\"}}")
    );
    let mut soap = msg(
        b"<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body><q><sym>IBM</sym></q></s:Body></s:Envelope>",
        "text/xml",
    );
    soap.load_json().unwrap();
    assert_eq!(soap.json_value().unwrap()["q"]["sym"], "IBM");
}

#[test]
fn json_payloads_can_be_replaced_and_stay_parsed() {
    let mut m = msg(b"{}", "application/json");
    m.set_json_payload(serde_json::json!({"x": [1, 2]}));
    assert_eq!(
        m.body_bytes().unwrap(),
        Bytes::from_static(b"{\"x\":[1,2]}")
    );
    assert_eq!(m.json_value().unwrap()["x"][1], 2);
}
