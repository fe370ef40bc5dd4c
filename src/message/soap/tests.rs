use super::*;

const REQ11: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:ser="http://services.samples">
  <soapenv:Header><ser:Trace soapenv:actor="http://schemas.xmlsoap.org/soap/actor/next" soapenv:mustUnderstand="1">t</ser:Trace></soapenv:Header>
  <soapenv:Body><ser:getQuote><ser:request><ser:symbol>IBM</ser:symbol></ser:request></ser:getQuote></soapenv:Body>
</soapenv:Envelope>"#;

#[test]
fn reads_version_payload_and_headers_standalone() {
    let env = Envelope::parse(REQ11.as_bytes()).unwrap();
    assert_eq!(env.version, SoapVersion::V11);
    assert_eq!(
        env.payload().unwrap(),
        r#"<ser:getQuote xmlns:ser="http://services.samples"><ser:request><ser:symbol>IBM</ser:symbol></ser:request></ser:getQuote>"#
    );
    let headers = env.header_blocks();
    assert_eq!(headers.len(), 1);
    // The envelope prefix is carried because the block uses it (soapenv:actor).
    assert!(headers[0].contains(r#"xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/""#));
    assert_eq!(sniff(REQ11.as_bytes()), Some(SoapVersion::V11));
    assert_eq!(sniff(b"<a/>"), None);
    assert_eq!(sniff(b"{\"a\":1}"), None);
}

#[test]
fn converts_between_versions_and_back() {
    let env = Envelope::parse(REQ11.as_bytes()).unwrap();
    let v12 = env.convert(SoapVersion::V12);
    assert!(v12.contains(SOAP12_NS) && !v12.contains(SOAP11_NS), "{v12}");
    assert!(
        v12.contains(r#"soapenv:role="http://www.w3.org/2003/05/soap-envelope/role/next""#),
        "{v12}"
    );
    let back = Envelope::parse(v12.as_bytes()).unwrap();
    assert_eq!(back.version, SoapVersion::V12);
    assert_eq!(back.payload(), env.payload());
    let v11 = back.convert(SoapVersion::V11);
    assert!(
        v11.contains(r#"soapenv:actor="http://schemas.xmlsoap.org/soap/actor/next""#),
        "{v11}"
    );
}

#[test]
fn faults_of_both_versions_are_built_read_and_converted() {
    let fault = Fault {
        code: FaultCode::Receiver,
        reason: "boom & bust".into(),
        node: Some("urn:node".into()),
        role: Some("urn:role".into()),
        detail: Some("<e:code xmlns:e=\"urn:e\">101503</e:code>".into()),
    };
    let f11 = fault_envelope(SoapVersion::V11, &fault, &[]);
    assert!(f11.contains("<faultcode>soapenv:Server</faultcode><faultstring>boom &amp; bust</faultstring><faultactor>urn:role</faultactor>"), "{f11}");
    let f12 = fault_envelope(SoapVersion::V12, &fault, &[]);
    assert!(
        f12.contains("<soapenv:Value>soapenv:Receiver</soapenv:Value>"),
        "{f12}"
    );
    assert!(f12.contains("<soapenv:Text xml:lang=\"en\">boom &amp; bust</soapenv:Text>"));
    for (text, version) in [(f11, SoapVersion::V11), (f12, SoapVersion::V12)] {
        let env = Envelope::parse(text.as_bytes()).unwrap();
        let info = env.fault().unwrap();
        assert_eq!(info.standard, Some(FaultCode::Receiver));
        assert_eq!(info.reason, "boom & bust");
        assert_eq!(
            info.detail.as_deref(),
            Some("<e:code xmlns:e=\"urn:e\">101503</e:code>")
        );
        let other = match version {
            SoapVersion::V11 => SoapVersion::V12,
            SoapVersion::V12 => SoapVersion::V11,
        };
        let converted = Envelope::parse(env.convert(other).as_bytes()).unwrap();
        assert_eq!(converted.version, other);
        assert_eq!(
            converted.fault().unwrap().standard,
            Some(FaultCode::Receiver)
        );
    }
    assert!(Envelope::parse(REQ11.as_bytes()).unwrap().fault().is_none());
}

#[test]
fn actions_and_content_types() {
    let mut h = HeaderMap::new();
    h.insert(SOAP_ACTION, HeaderValue::from_static("\"urn:getQuote\""));
    assert_eq!(action(&h).as_deref(), Some("urn:getQuote"));
    set_transport_headers(&mut h, SoapVersion::V12, Some("urn:getQuote"));
    assert!(h.get(SOAP_ACTION).is_none());
    assert_eq!(
        h.get(header::CONTENT_TYPE).unwrap(),
        "application/soap+xml; charset=UTF-8; action=\"urn:getQuote\""
    );
    assert_eq!(action(&h).as_deref(), Some("urn:getQuote"));
    set_transport_headers(&mut h, SoapVersion::V11, Some("urn:getQuote"));
    assert_eq!(h.get(SOAP_ACTION).unwrap(), "\"urn:getQuote\"");
    assert_eq!(
        h.get(header::CONTENT_TYPE).unwrap(),
        "text/xml; charset=UTF-8"
    );
    h.insert(SOAP_ACTION, HeaderValue::from_static("\"\""));
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    assert_eq!(action(&h), None);
}

#[test]
fn malformed_envelopes_are_rejected_with_a_reason() {
    let cases: &[(&[u8], &str)] = &[
        (b"<a/>", "not a SOAP envelope"),
        (
            b"<s:Envelope xmlns:s=\"urn:x\"><s:Body/></s:Envelope>",
            "neither SOAP 1.1 nor SOAP 1.2",
        ),
        (
            b"<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"/>",
            "no Body",
        ),
        (
            b"<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body>",
            "malformed XML",
        ),
        (b"\xff\xfe", "UTF-8"),
    ];
    for (bytes, expected) in cases {
        let error = Envelope::parse(bytes).unwrap_err();
        assert!(error.0.contains(expected), "{expected}: {error}");
    }
}

fn check_chunks(version: SoapVersion, doc: &[u8], chunk: usize) -> Result<(), Malformed> {
    let mut check = EnvelopeCheck::new(version);
    let chunks: Vec<&[u8]> = doc.chunks(chunk).collect();
    for (i, c) in chunks.iter().enumerate() {
        check.feed(c, i + 1 == chunks.len())?;
    }
    Ok(())
}

#[test]
fn streaming_check_accepts_envelopes_split_anywhere() {
    for size in [1, 3, 7, 64, 4096] {
        check_chunks(SoapVersion::V11, REQ11.as_bytes(), size).unwrap();
    }
    let with_comment = format!("<!-- hi -->{REQ11}", REQ11 = &REQ11[38..]);
    check_chunks(SoapVersion::V11, with_comment.as_bytes(), 5).unwrap();
}

#[test]
fn streaming_check_rejects_bad_envelopes() {
    let cases: &[(SoapVersion, &str, &str)] = &[
        (SoapVersion::V12, REQ11, "version mismatch"),
        (SoapVersion::V11, "<a/>", "not a SOAP envelope"),
        (
            SoapVersion::V11,
            "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body><x></s:Body></s:Envelope>",
            "malformed XML",
        ),
        (
            SoapVersion::V11,
            "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body><x/></s:Body>",
            "incomplete",
        ),
        (
            SoapVersion::V11,
            "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Header/></s:Envelope>",
            "no Body",
        ),
        (
            SoapVersion::V12,
            "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"><s:Body/><s:Extra/></s:Envelope>",
            "unexpected element",
        ),
        (
            SoapVersion::V11,
            "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY e \"x\">]><s:Envelope/>",
            "document type",
        ),
        (
            SoapVersion::V11,
            "<?pi x?><s:Envelope/>",
            "processing instruction",
        ),
        (SoapVersion::V11, "not xml at all", "malformed XML"),
    ];
    for (version, doc, expected) in cases {
        for size in [2, 1000] {
            let error = check_chunks(*version, doc.as_bytes(), size).unwrap_err();
            assert!(error.0.contains(expected), "{doc} / {size}: {error}");
        }
    }
}

#[test]
fn prolog_whitespace_and_comments_are_accepted() {
    for doc in [
        "\n  <!-- a -->\n<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body/></s:Envelope>\n",
    ] {
        for size in [1, 2, 5, 100] {
            check_chunks(SoapVersion::V11, doc.as_bytes(), size).unwrap();
        }
    }
    let error = EnvelopeCheck::new(SoapVersion::V11)
        .feed(b"", true)
        .unwrap_err();
    assert!(error.0.contains("no root element"), "{error}");
}

#[test]
fn the_streaming_check_stops_at_the_depth_limit_and_at_a_second_body() {
    let deep = |levels: usize| {
        wrap(
            SoapVersion::V11,
            &("<a>".repeat(levels) + &"</a>".repeat(levels)),
            &[],
        )
    };
    // Envelope and Body are two of the 512 levels.
    let ok = deep(510);
    assert!(
        EnvelopeCheck::new(SoapVersion::V11)
            .feed(ok.as_bytes(), true)
            .is_ok()
    );
    let too_deep = deep(511);
    let error = EnvelopeCheck::new(SoapVersion::V11)
        .feed(too_deep.as_bytes(), true)
        .unwrap_err();
    assert!(error.0.contains("deeper than 512"), "{error}");
    let two = format!(r#"<s:Envelope xmlns:s="{SOAP11_NS}"><s:Body/><s:Body/></s:Envelope>"#);
    let error = EnvelopeCheck::new(SoapVersion::V11)
        .feed(two.as_bytes(), true)
        .unwrap_err();
    assert!(error.0.contains("second Body"), "{error}");
    let error = Envelope::parse(two.as_bytes()).unwrap_err();
    assert!(error.0.contains("more than one Body"), "{error}");
    let attrs: String = (0..300).map(|i| format!(" a{i}=\"1\"")).collect();
    let wide = wrap(SoapVersion::V11, &format!("<r{attrs}/>"), &[]);
    let error = EnvelopeCheck::new(SoapVersion::V11)
        .feed(wide.as_bytes(), true)
        .unwrap_err();
    assert!(error.0.contains("--max-xml-attributes"), "{error}");
}

#[test]
fn a_prolog_split_at_every_byte_reads_as_the_whole() {
    let body =
        r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body/></s:Envelope>"#;
    let ok = [
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- - ? -? ->- ->\n <!---->{body}"),
        format!("  <!-- <?x?> <!DOCTYPE -->\t<!-- - ->- -->{body}"),
    ];
    for doc in &ok {
        for size in 1..doc.len() {
            check_chunks(SoapVersion::V11, doc.as_bytes(), size)
                .unwrap_or_else(|error| panic!("{doc} / {size}: {error}"));
        }
    }
    let refused = [
        (
            format!("<?xml version=\"1.0\"?><!-- ok --><?pi?>{body}"),
            "processing instruction",
        ),
        (format!("<!-- ok -->\n<!DOCTYPE s>{body}"), "document type"),
        (
            "<?xml version=\"1.0\"?> <!-- never closed -".to_owned(),
            "no root element",
        ),
    ];
    for (doc, expected) in &refused {
        for size in 1..doc.len() {
            let error = check_chunks(SoapVersion::V11, doc.as_bytes(), size).unwrap_err();
            assert!(error.0.contains(expected), "{doc} / {size}: {error}");
        }
    }
}

#[test]
fn a_prolog_fed_byte_by_byte_is_scanned_once() {
    let doc = format!("<?xml version=\"1.0\"?>  <!-- {}", "- ".repeat(2000));
    let mut check = EnvelopeCheck::new(SoapVersion::V11);
    for byte in doc.as_bytes() {
        check.feed(std::slice::from_ref(byte), false).unwrap();
    }
    // Each search resumes next to where the last one stopped: never from the start of
    // the declaration or the comment (which made a byte-per-packet prolog quadratic).
    let searched = check.prolog.as_ref().unwrap().searched;
    // A byte-per-call search rereads the terminator's length less one.
    assert!(
        searched <= 3 * doc.len(),
        "{searched} for {} bytes",
        doc.len()
    );
}

#[test]
fn a_large_body_fed_whole_stops_at_the_first_problem() {
    let n = 100_000;
    let deep = format!(
        r#"<s:Envelope xmlns:s="{SOAP11_NS}"><s:Body>{}{}</s:Body></s:Envelope>"#,
        "<a>".repeat(n),
        "</a>".repeat(n)
    );
    let flat = format!(
        r#"<s:Envelope xmlns:s="{SOAP11_NS}"><s:Body><r>{}</r></s:Body></s:Envelope>"#,
        "<a>x</a>".repeat(n)
    );
    for size in [deep.len(), 65536, 8192] {
        let error = check_chunks(SoapVersion::V11, deep.as_bytes(), size).unwrap_err();
        assert!(error.0.contains("deeper than 512"), "{size}: {error}");
        check_chunks(SoapVersion::V11, flat.as_bytes(), size).unwrap();
    }
}
