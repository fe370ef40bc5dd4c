use super::*;

const L: XmlLimits = XmlLimits {
    max_nodes: 1000,
    max_attributes: 8,
    max_memory: 1 << 20,
};

/// Runs `f` on a thread with a stack a quarter of an actix worker's (2 MiB).
fn on_small_stack(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(512 * 1024)
        .spawn(f)
        .unwrap()
        .join()
        .expect("no stack overflow");
}

#[test]
fn every_conversion_of_a_document_at_the_depth_limit_fits_a_small_stack() {
    use crate::base::budget::MAX_DEPTH;
    on_small_stack(|| {
        let levels = MAX_DEPTH - 2; // inside Envelope and Body
        let payload = "<a x=\"1\">".repeat(levels) + &"</a>".repeat(levels);
        let env11 = soap::wrap(SoapVersion::V11, &payload, &[]);
        let v11 = ContentKind::Soap(SoapVersion::V11);
        let d = XmlLimits::default();
        for target in [
            ContentKind::Soap(SoapVersion::V12),
            ContentKind::Json,
            ContentKind::Xml,
        ] {
            let (out, _) = convert_for_client(v11, env11.as_bytes(), target, d)
                .unwrap()
                .unwrap();
            if target == ContentKind::Xml {
                let json =
                    convert_for_client(ContentKind::Xml, out.as_bytes(), ContentKind::Json, d);
                assert!(json.unwrap().is_some());
            }
        }
        // A fault whose detail is as deep is rebuilt in the other version.
        let detail = "<d>".repeat(levels - 3) + &"</d>".repeat(levels - 3);
        let fault = soap::wrap(
            SoapVersion::V11,
            &format!(
                "<soapenv:Fault><faultcode>soapenv:Server</faultcode><faultstring>x</faultstring><detail>{detail}</detail></soapenv:Fault>"
            ),
            &[],
        );
        let (v12, _) = convert_for_client(
            v11,
            fault.as_bytes(),
            ContentKind::Soap(SoapVersion::V12),
            d,
        )
        .unwrap()
        .unwrap();
        assert!(v12.contains("<soapenv:Detail><d><d>"), "{v12}");
        let doc = crate::message::xml::XmlDoc::parse(env11.as_bytes()).unwrap();
        // The innermost `<a x="1"></a>` is written `<a x="1"/>`.
        assert_eq!(doc.to_bytes().len(), env11.len() - 3);
        // One level more is refused on every path.
        let deeper = soap::wrap(SoapVersion::V11, &format!("<b>{payload}</b>"), &[]);
        for target in [ContentKind::Soap(SoapVersion::V12), ContentKind::Json] {
            let error = convert_for_client(v11, deeper.as_bytes(), target, d).unwrap_err();
            assert!(error.0.contains("deeper than 512"), "{error}");
        }
        assert!(crate::message::xml::XmlDoc::parse(deeper.as_bytes()).is_err());
        assert!(crate::message::xml::check_bounds(deeper.as_bytes(), d).is_err());
        assert!(crate::message::xml::check_bounds(env11.as_bytes(), d).is_ok());
    });
}

#[test]
fn fault_detection_reads_only_the_start() {
    let fault = soap::fault_envelope(
        SoapVersion::V12,
        &soap::Fault {
            code: soap::FaultCode::Receiver,
            reason: "x".into(),
            node: None,
            role: None,
            detail: None,
        },
        &[],
    );
    assert!(body_starts_with_fault(fault.as_bytes()));
    assert!(body_starts_with_fault(
        &fault.as_bytes()[..fault.find("Code").unwrap()]
    ));
    let ok = soap::wrap(SoapVersion::V11, "<r/>", &["<h/>".into()]);
    assert!(!body_starts_with_fault(ok.as_bytes()));
    assert!(!body_starts_with_fault(
        soap::wrap(SoapVersion::V11, "", &[]).as_bytes()
    ));
    assert!(!body_starts_with_fault(b"<Fault/>"));
}

#[test]
fn conversions_between_kinds() {
    let json = br#"{"getQuote":{"@xmlns":"http://services.samples","symbol":"IBM"}}"#;
    let env = to_envelope(ContentKind::Json, json, SoapVersion::V12, None, L).unwrap();
    assert_eq!(
        env,
        r#"<soapenv:Envelope xmlns:soapenv="http://www.w3.org/2003/05/soap-envelope"><soapenv:Body><getQuote xmlns="http://services.samples"><symbol>IBM</symbol></getQuote></soapenv:Body></soapenv:Envelope>"#
    );
    let (back, ct) = convert_for_client(
        ContentKind::Soap(SoapVersion::V12),
        env.as_bytes(),
        ContentKind::Json,
        L,
    )
    .unwrap()
    .unwrap();
    assert_eq!(ct, "application/json");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&back).unwrap(),
        serde_json::from_slice::<serde_json::Value>(json).unwrap()
    );
    let pox = payload_xml(ContentKind::Soap(SoapVersion::V12), env.as_bytes(), None, L).unwrap();
    assert_eq!(
        pox,
        r#"<getQuote xmlns="http://services.samples"><symbol>IBM</symbol></getQuote>"#
    );
    assert_eq!(
        query_params(ContentKind::Json, json, L).unwrap(),
        "symbol=IBM"
    );
    assert_eq!(
        query_params(ContentKind::Soap(SoapVersion::V12), env.as_bytes(), L).unwrap(),
        "symbol=IBM"
    );
    assert!(
        to_envelope(
            ContentKind::Other,
            b"\x00",
            SoapVersion::V11,
            Some("image/png"),
            L
        )
        .unwrap_err()
        .0
        .contains("image/png")
    );
    let text = to_envelope(ContentKind::Text, b"a<b", SoapVersion::V11, None, L).unwrap();
    assert!(text.contains("<text xmlns=\"http://ws.apache.org/commons/ns/payload\">a&lt;b</text>"));
}
