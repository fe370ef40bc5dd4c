use super::*;
use crate::base::budget::MAX_DEPTH;

fn round_trip(src: &str) -> String {
    let doc = XmlDoc::parse(src.as_bytes()).expect("parses");
    String::from_utf8(doc.to_bytes()).expect("utf-8")
}

#[test]
fn pox_goes_into_a_virtual_envelope_and_comes_back_alone() {
    let doc = XmlDoc::parse(b"<order id=\"7\"><item>a &amp; b</item></order>").unwrap();
    assert_eq!(doc.envelope, Envelope::Pox);
    let first = doc.first_body_element().unwrap();
    assert_eq!(first.name().local_part(), "order");
    assert_eq!(
        round_trip("<order id=\"7\"><item>a &amp; b</item></order>"),
        "<order id=\"7\"><item>a &amp; b</item></order>"
    );
}

#[test]
fn soap_envelopes_are_kept_with_their_declarations() {
    let src = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="urn:xsi"><s:Header/><s:Body><m:get xmlns:m="urn:m"><m:x xsi:type="xsd:string">1</m:x></m:get></s:Body></s:Envelope>"#;
    let doc = XmlDoc::parse(src.as_bytes()).unwrap();
    assert_eq!(doc.envelope, Envelope::Soap11);
    assert_eq!(round_trip(src), src);
    let soap12 = r#"<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body/></env:Envelope>"#;
    assert_eq!(
        XmlDoc::parse(soap12.as_bytes()).unwrap().envelope,
        Envelope::Soap12
    );
}

#[test]
fn default_namespaces_entities_and_cdata() {
    assert_eq!(
        round_trip("<a xmlns=\"urn:a\"><b>x &lt; <![CDATA[<y>]]></b><c xmlns=\"\"/></a>"),
        "<a xmlns=\"urn:a\"><b>x &lt; &lt;y&gt;</b><c xmlns=\"\"/></a>"
    );
    // Text around an entity is one node, so text() sees all of it.
    let doc = XmlDoc::parse(b"<a>x &amp; y</a>").unwrap();
    let a = doc.first_body_element().unwrap();
    assert_eq!(a.children().len(), 1);
}

#[test]
fn bad_payloads_are_refused_with_a_reason() {
    for (src, expected) in [
        ("<a>", "never closed"),
        ("<a></b>", "malformed XML"),
        ("<a/><b/>", "more than one root"),
        ("text", "text outside"),
        ("<p:a/>", "prefix `p`"),
        ("<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>", "DTD"),
        ("<a>&bogus;</a>", "unknown entity"),
    ] {
        let error = XmlDoc::parse(src.as_bytes()).unwrap_err();
        assert!(error.to_string().contains(expected), "{src}: {error}");
    }
    let deep = "<a>".repeat(MAX_DEPTH + 1) + &"</a>".repeat(MAX_DEPTH + 1);
    assert!(
        XmlDoc::parse(deep.as_bytes())
            .unwrap_err()
            .to_string()
            .contains("deeper")
    );
    assert!(
        XmlDoc::parse(&[0xff, 0xfe])
            .unwrap_err()
            .to_string()
            .contains("UTF-8")
    );
}

#[test]
fn a_subtree_written_alone_declares_what_it_inherits() {
    let doc = XmlDoc::parse(br#"<r xmlns:m="urn:m" xmlns="urn:d"><m:item a="1"><x/></m:item></r>"#)
        .unwrap();
    let r = doc.first_body_element().unwrap();
    let item = r.children()[0].element().unwrap();
    assert_eq!(
        element_to_string(item),
        r#"<m:item xmlns:m="urn:m" a="1"><x xmlns="urn:d"/></m:item>"#
    );
}

#[test]
fn fragments_are_imported_unattached() {
    let doc = XmlDoc::parse(b"<r/>").unwrap();
    let nodes = doc.import_fragment("<a xmlns=\"urn:a\">1</a>tail").unwrap();
    assert_eq!(nodes.len(), 2);
    let r = doc.first_body_element().unwrap();
    r.append_children(nodes);
    assert_eq!(
        String::from_utf8(doc.to_bytes()).unwrap(),
        r#"<r><a xmlns="urn:a">1</a>tail</r>"#
    );
}

#[test]
fn headers_are_created_before_the_body() {
    let doc = XmlDoc::parse(br#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body/></s:Envelope>"#).unwrap();
    assert!(doc.header().is_none());
    let h = doc.header_or_create().unwrap();
    h.append_child(doc.document().create_element("t"));
    assert_eq!(
        String::from_utf8(doc.to_bytes()).unwrap(),
        r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header><t/></s:Header><s:Body/></s:Envelope>"#
    );
}

#[test]
fn a_document_nested_deeper_by_mediation_is_written_without_recursion() {
    std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(|| {
            let level = "<a>".repeat(400) + &"</a>".repeat(400);
            let doc = XmlDoc::parse(level.as_bytes()).unwrap();
            // Each import nests 400 more levels inside the innermost element.
            let mut innermost = doc.first_body_element().unwrap();
            for _ in 0..20 {
                let nodes = doc.import_fragment(&level).unwrap();
                let top = nodes[0].element().unwrap();
                innermost.append_children(nodes);
                innermost = top;
                while let Some(next) = innermost.children().first().and_then(|c| c.element()) {
                    innermost = next;
                }
            }
            innermost.append_child(doc.document().create_text("deep"));
            let bytes = doc.to_bytes();
            // The innermost `<a/>` became `<a>deep</a>`.
            assert_eq!(bytes.len(), 21 * level.len() - 3 + 4);
            let top = doc.first_body_element().unwrap();
            assert_eq!(string_value_of_element(top), "deep");
        })
        .unwrap()
        .join()
        .expect("no stack overflow");
}

#[test]
fn limits_name_themselves_and_duplicates_are_found_past_the_linear_scan() {
    let small = XmlLimits {
        max_nodes: 10,
        max_attributes: 20,
        max_memory: 1 << 20,
    };
    let many = format!("<r>{}</r>", "<i/>".repeat(10));
    let error = XmlDoc::parse_with(many.as_bytes(), small).unwrap_err();
    assert!(error.to_string().contains("more than 10 nodes"), "{error}");
    assert!(check_bounds(many.as_bytes(), small).is_err());
    let attrs: String = (0..21).map(|i| format!(" a{i}=\"1\"")).collect();
    let wide = format!("<r{attrs}/>");
    let error = XmlDoc::parse_with(wide.as_bytes(), small).unwrap_err();
    assert!(
        error.to_string().contains("--max-xml-attributes"),
        "{error}"
    );
    for dup in [2, 15] {
        let attrs: String = (0..16).map(|i| format!(" a{i}=\"1\"")).collect();
        let src = format!("<r{attrs} a{dup}=\"2\"/>");
        let error = XmlDoc::parse(src.as_bytes()).unwrap_err();
        assert!(
            error
                .to_string()
                .contains(&format!("`a{dup}` is written twice")),
            "{error}"
        );
        let error = crate::message::soap::parse_xml(src.as_bytes()).unwrap_err();
        assert!(error.to_string().contains("written twice"), "{error}");
    }
    let memory = XmlLimits {
        max_memory: 1000,
        ..small
    };
    let text = format!("<r>{}</r>", "x".repeat(1000));
    let error = XmlDoc::parse_with(text.as_bytes(), memory).unwrap_err();
    assert!(error.to_string().contains("--max-xml-memory"), "{error}");
}

#[test]
fn text_payloads_are_wrapped_and_unwrapped() {
    let doc = XmlDoc::text("hello <world>");
    assert_eq!(
        doc.first_body_element().unwrap().name().local_part(),
        "text"
    );
    assert_eq!(doc.to_bytes(), b"hello <world>");
}
