use super::*;

fn file() -> Arc<str> {
    Arc::from("t.xml")
}

#[test]
fn byte_order_marks_neither_panic_nor_shift_positions() {
    // Found by fuzzing: a second mark made quick-xml's offsets fall inside it.
    let twice = parse(file(), "\u{feff}\u{feff}\n<a/>").expect("parsed");
    assert_eq!((twice.name.as_str(), twice.loc.line), ("a", 2));
    let once = parse(file(), "\u{feff}<a x=\"1\"/>").expect("one mark is allowed");
    assert_eq!(once.attrs[0].loc.col, 4, "{:?}", once.attrs[0].loc);
}

#[test]
fn a_configuration_nested_deeper_than_a_message_may_be_is_a_diagnostic() {
    let depth = crate::base::budget::MAX_DEPTH + 1;
    let src = "<a>".repeat(depth) + &"</a>".repeat(depth);
    let error = parse(file(), &src).expect_err("too deep");
    assert!(error.message.contains("nested deeper than"), "{error:?}");
    let src = "<a>".repeat(depth - 1) + &"</a>".repeat(depth - 1);
    assert!(parse(file(), &src).is_ok());
}

#[test]
fn positions_of_elements_and_attributes() {
    let src = "<api name=\"a\"\n     context=\"/x\">\n  <resource methods=\"GET\"/>\n</api>";
    let root = parse(file(), src).unwrap();
    assert_eq!((root.loc.line, root.loc.col), (1, 1));
    let ctx = root.attr("context").unwrap();
    assert_eq!((ctx.loc.line, ctx.loc.col), (2, 6));
    let res = root.child("resource").unwrap();
    assert_eq!((res.loc.line, res.loc.col), (3, 3));
    assert_eq!(res.attr("methods").unwrap().loc.col, 13);
}

#[test]
fn namespaces_resolve_and_synapse_ns_may_be_omitted() {
    let src =
        r#"<definitions xmlns="http://ws.apache.org/ns/synapse"><api name="a"/></definitions>"#;
    let root = parse(file(), src).unwrap();
    let api = root.child("api").unwrap();
    assert!(api.is_synapse());
    assert_eq!(api.ns.as_deref(), Some(SYNAPSE_NS));
    let bare = parse(file(), "<api name=\"a\"/>").unwrap();
    assert!(bare.is_synapse());
    let other = parse(file(), "<x:api xmlns:x=\"urn:other\"/>").unwrap();
    assert!(!other.is_synapse());
}

#[test]
fn entities_and_cdata_are_resolved() {
    let src = "<a b=\"1 &lt; 2\">x &amp; y &#65;<![CDATA[<raw>]]></a>";
    let root = parse(file(), src).unwrap();
    assert_eq!(root.attr_value("b"), Some("1 < 2"));
    assert_eq!(root.text(), "x & y A<raw>");
}

#[test]
fn malformed_documents_report_a_position() {
    let err = parse(file(), "<a>\n  <b>\n</a>").unwrap_err();
    assert!(err.message.starts_with("malformed XML"), "{}", err.message);
    assert_eq!(err.loc.line, 3);
    let err = parse(file(), "<a/><b/>").unwrap_err();
    assert!(err.message.contains("more than one root"));
    let err = parse(file(), "").unwrap_err();
    assert!(err.message.contains("no root element"));
    let err = parse(file(), "<a>\n<b>").unwrap_err();
    assert!(err.message.contains("never closed") || err.message.starts_with("malformed"));
    let err = parse(file(), "<p:a/>").unwrap_err();
    assert!(err.message.contains("prefix `p`"));
}

#[test]
fn elements_know_the_prefixes_in_scope() {
    let src =
        r#"<a xmlns:p="urn:p"><b xmlns:q="urn:q" xmlns="urn:d"><c xmlns:p="urn:p2"/></b><d/></a>"#;
    let root = parse(file(), src).unwrap();
    let b = root.child("b").unwrap();
    let c = b.child("c").unwrap();
    let pairs = |it: &Element| {
        it.namespaces
            .iter()
            .map(|(p, u)| format!("{p}={u}"))
            .collect::<Vec<_>>()
    };
    assert_eq!(pairs(&root), vec!["p=urn:p"]);
    assert_eq!(pairs(b), vec!["p=urn:p", "q=urn:q"]);
    assert_eq!(pairs(c), vec!["p=urn:p2", "q=urn:q"]);
    assert!(Arc::ptr_eq(
        &root.child("d").unwrap().namespaces,
        &root.namespaces
    ));
}

#[test]
fn serialises_a_subtree_with_inherited_namespaces() {
    let src = r#"<f xmlns:m="urn:m"><m:order id="1"><m:qty>2 &amp; 3</m:qty></m:order></f>"#;
    let root = parse(file(), src).unwrap();
    let order = root.child("order").unwrap();
    assert_eq!(
        order.to_xml(),
        r#"<m:order xmlns:m="urn:m" id="1"><m:qty>2 &amp; 3</m:qty></m:order>"#
    );
}
