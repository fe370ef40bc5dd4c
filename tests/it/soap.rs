//! SOAP end to end (issue 4): proxy services, SOAP 1.1/1.2, format conversion, WSDL
//! endpoints and `?wsdl`, faults, makefault, FORCE_ERROR_ON_SOAP_FAULT, a real
//! third-party client (zeep), and a 10 MiB pass-through.

use std::time::Duration;

use crate::support::backend::{Backend, Canned, Seen};
use crate::support::{Reply, TestAxon, dead_port, eventually};

const S11: &str = "http://schemas.xmlsoap.org/soap/envelope/";
const S12: &str = "http://www.w3.org/2003/05/soap-envelope";

/// A small SOAP service: `getQuote(symbol)` answers in the request's version (from its
/// Content-Type); symbol `FAULT` gets a fault; anything that is not SOAP gets 415.
async fn stock_service() -> Backend {
    Backend::start(stock_handler).await
}

fn stock_handler(seen: &Seen) -> Canned {
    let ct = seen
        .header("content-type")
        .unwrap_or("")
        .to_ascii_lowercase();
    let (ns, content_type) = if ct.starts_with("text/xml") {
        (S11, "text/xml; charset=UTF-8")
    } else if ct.starts_with("application/soap+xml") {
        (S12, "application/soap+xml; charset=UTF-8")
    } else {
        return Canned {
            status: 415,
            body: b"not SOAP".to_vec(),
            content_type: "text/plain",
            delay: Duration::ZERO,
        };
    };
    let body = String::from_utf8_lossy(&seen.body);
    if !body.contains(ns) {
        return Canned {
            status: 500,
            body: format!("envelope namespace does not match {ct}").into_bytes(),
            content_type: "text/plain",
            delay: Duration::ZERO,
        };
    }
    let symbol = between(&body, "symbol>", "<").unwrap_or_default();
    let payload = if symbol == "FAULT" {
        match ns {
            S11 => "<s:Fault><faultcode>s:Server</faultcode><faultstring>no such symbol</faultstring></s:Fault>".to_owned(),
            _ => "<s:Fault><s:Code><s:Value>s:Receiver</s:Value></s:Code><s:Reason><s:Text xml:lang=\"en\">no such symbol</s:Text></s:Reason></s:Fault>".to_owned(),
        }
    } else {
        format!(
            "<ns:getQuoteResponse xmlns:ns=\"http://services.samples\"><ns:symbol>{symbol}</ns:symbol><ns:price>42.5</ns:price></ns:getQuoteResponse>"
        )
    };
    Canned {
        status: if symbol == "FAULT" { 500 } else { 200 },
        body: format!("<s:Envelope xmlns:s=\"{ns}\"><s:Body>{payload}</s:Body></s:Envelope>")
            .into_bytes(),
        content_type,
        delay: Duration::ZERO,
    }
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = text.find(start)? + start.len();
    let to = text[from..].find(end)? + from;
    Some(&text[from..to])
}

/// POSTs a `getQuote` envelope of version `ns` as a client of that version would (SOAP 1.1
/// with `SOAPAction: urn:getQuote`).
async fn post_soap(axon: &TestAxon, path: &str, ns: &str, symbol: &str) -> Reply {
    let body = envelope(ns, symbol);
    let headers: &[(&str, &str)] = if ns == S11 {
        &[("content-type", "text/xml"), ("soapaction", "urn:getQuote")]
    } else {
        &[("content-type", "application/soap+xml")]
    };
    axon.request("POST", path, Some(body.as_bytes()), headers)
        .await
}

fn envelope(ns: &str, symbol: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="{ns}" xmlns:ser="http://services.samples"><soapenv:Header/><soapenv:Body><ser:getQuote><ser:symbol>{symbol}</ser:symbol></ser:getQuote></soapenv:Body></soapenv:Envelope>"#
    )
}

fn proxy(name: &str, target: &str) -> String {
    format!(
        r#"<proxy xmlns="http://ws.apache.org/ns/synapse" name="{name}" transports="http https">{target}</proxy>"#
    )
}

fn wsdl(address: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<wsdl:definitions xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/" xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"
    xmlns:soap12="http://schemas.xmlsoap.org/wsdl/soap12/" xmlns:xsd="http://www.w3.org/2001/XMLSchema"
    xmlns:tns="http://services.samples" targetNamespace="http://services.samples">
  <wsdl:types>
    <xsd:schema targetNamespace="http://services.samples" elementFormDefault="qualified">
      <xsd:element name="getQuote"><xsd:complexType><xsd:sequence><xsd:element name="symbol" type="xsd:string"/></xsd:sequence></xsd:complexType></xsd:element>
      <xsd:element name="getQuoteResponse"><xsd:complexType><xsd:sequence><xsd:element name="symbol" type="xsd:string"/><xsd:element name="price" type="xsd:double"/></xsd:sequence></xsd:complexType></xsd:element>
    </xsd:schema>
  </wsdl:types>
  <wsdl:message name="getQuoteRequest"><wsdl:part name="parameters" element="tns:getQuote"/></wsdl:message>
  <wsdl:message name="getQuoteResponse"><wsdl:part name="parameters" element="tns:getQuoteResponse"/></wsdl:message>
  <wsdl:portType name="StockQuotePortType">
    <wsdl:operation name="getQuote"><wsdl:input message="tns:getQuoteRequest"/><wsdl:output message="tns:getQuoteResponse"/></wsdl:operation>
  </wsdl:portType>
  <wsdl:binding name="StockQuoteSoap11Binding" type="tns:StockQuotePortType">
    <soap:binding style="document" transport="http://schemas.xmlsoap.org/soap/http"/>
    <wsdl:operation name="getQuote"><soap:operation soapAction="urn:getQuote" style="document"/>
      <wsdl:input><soap:body use="literal"/></wsdl:input><wsdl:output><soap:body use="literal"/></wsdl:output></wsdl:operation>
  </wsdl:binding>
  <wsdl:binding name="StockQuoteSoap12Binding" type="tns:StockQuotePortType">
    <soap12:binding style="document" transport="http://schemas.xmlsoap.org/soap/http"/>
    <wsdl:operation name="getQuote"><soap12:operation soapAction="urn:getQuote" style="document"/>
      <wsdl:input><soap12:body use="literal"/></wsdl:input><wsdl:output><soap12:body use="literal"/></wsdl:output></wsdl:operation>
  </wsdl:binding>
  <wsdl:service name="StockQuoteService">
    <wsdl:port name="StockQuoteSoap11" binding="tns:StockQuoteSoap11Binding"><soap:address location="{address}"/></wsdl:port>
    <wsdl:port name="StockQuoteSoap12" binding="tns:StockQuoteSoap12Binding"><soap12:address location="{address}"/></wsdl:port>
  </wsdl:service>
</wsdl:definitions>"#
    )
}

#[actix_rt::test]
async fn soap11_and_soap12_pass_through_a_proxy_unchanged() {
    let backend = stock_service().await;
    let p = proxy(
        "StockQuoteProxy",
        &format!(
            r#"<target><endpoint><address uri="{}"/></endpoint></target>"#,
            backend.url("/services/StockQuote")
        ),
    );
    let axon = TestAxon::start(&[("proxy-services/stock.xml", &p)]).await;

    let req11 = envelope(S11, "IBM");
    let reply = axon
        .request(
            "POST",
            "/services/StockQuoteProxy",
            Some(req11.as_bytes()),
            &[
                ("content-type", "text/xml; charset=UTF-8"),
                ("soapaction", "\"urn:getQuote\""),
            ],
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert!(
        reply.text().contains("<ns:price>42.5</ns:price>"),
        "{}",
        reply.text()
    );
    assert!(
        reply
            .header("content-type")
            .unwrap()
            .starts_with("text/xml")
    );
    let seen = backend.last();
    assert_eq!(
        seen.body,
        req11.as_bytes(),
        "a pass-through proxy forwards the bytes as sent"
    );
    assert_eq!(seen.header("soapaction"), Some("\"urn:getQuote\""));
    // A SOAP request is not REST: the postfix does not join the address.
    assert_eq!(seen.uri, "/services/StockQuote");

    let req12 = envelope(S12, "MSFT");
    let ct12 = "application/soap+xml; charset=UTF-8; action=\"urn:getQuote\"";
    let reply = axon
        .request(
            "POST",
            "/services/StockQuoteProxy",
            Some(req12.as_bytes()),
            &[("content-type", ct12)],
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert!(
        reply.text().contains(S12) && reply.text().contains(">MSFT<"),
        "{}",
        reply.text()
    );
    let seen = backend.last();
    assert_eq!(seen.body, req12.as_bytes());
    assert_eq!(seen.header("content-type"), Some(ct12));
    assert_eq!(seen.header("soapaction"), None);
}

#[actix_rt::test]
async fn soap11_client_to_soap12_backend_and_back() {
    let backend = stock_service().await;
    let p = proxy(
        "Converting",
        &format!(
            r#"<target><endpoint><address uri="{}" format="soap12"/></endpoint></target>"#,
            backend.url("/s")
        ),
    );
    let axon = TestAxon::start(&[("p.xml", &p)]).await;
    let reply = post_soap(&axon, "/services/Converting", S11, "IBM").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let seen = backend.last();
    assert_eq!(
        seen.header("content-type"),
        Some("application/soap+xml; charset=UTF-8; action=\"urn:getQuote\""),
        "the 1.1 SOAPAction moves to the action parameter"
    );
    assert_eq!(seen.header("soapaction"), None);
    assert_eq!(seen.method, "POST");
    let sent = String::from_utf8_lossy(&seen.body).into_owned();
    assert!(sent.contains(S12) && !sent.contains(S11), "{sent}");
    assert!(sent.contains("<ser:symbol>IBM</ser:symbol>"), "{sent}");
    // The 1.2 response is turned back into 1.1 for the 1.1 client.
    let text = reply.text();
    assert!(text.contains(S11) && !text.contains(S12), "{text}");
    assert!(text.contains("<ns:price>42.5</ns:price>"), "{text}");
    assert_eq!(
        reply.header("content-type").as_deref(),
        Some("text/xml; charset=UTF-8")
    );
}

#[actix_rt::test]
async fn json_client_gets_json_from_a_soap_backend() {
    let backend = stock_service().await;
    let api = format!(
        r#"<api xmlns="http://ws.apache.org/ns/synapse" name="Quotes" context="/quotes">
             <resource methods="POST"><inSequence>
               <property name="SOAPAction" value="urn:getQuote"/>
               <send><endpoint><address uri="{}" format="soap11"/></endpoint></send>
             </inSequence></resource></api>"#,
        backend.url("/services/StockQuote")
    );
    let axon = TestAxon::start(&[("apis/q.xml", &api)]).await;
    let reply = axon
        .request(
            "POST",
            "/quotes",
            Some(br#"{"getQuote":{"@xmlns":"http://services.samples","symbol":"IBM"}}"#),
            &[("content-type", "application/json")],
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let seen = backend.last();
    assert_eq!(seen.header("content-type"), Some("text/xml; charset=UTF-8"));
    assert_eq!(seen.header("soapaction"), Some("\"urn:getQuote\""));
    assert_eq!(
        String::from_utf8_lossy(&seen.body),
        format!(
            r#"<soapenv:Envelope xmlns:soapenv="{S11}"><soapenv:Body><getQuote xmlns="http://services.samples"><symbol>IBM</symbol></getQuote></soapenv:Body></soapenv:Envelope>"#
        )
    );
    assert_eq!(
        reply.header("content-type").as_deref(),
        Some("application/json")
    );
    assert_eq!(
        reply.json(),
        serde_json::json!({"ns:getQuoteResponse": {"@xmlns:ns": "http://services.samples", "ns:symbol": "IBM", "ns:price": 42.5}})
    );
    // A backend fault comes back to the JSON client as JSON, with the backend's 500.
    let reply = axon
        .request(
            "POST",
            "/quotes",
            Some(br#"{"getQuote":{"symbol":"FAULT"}}"#),
            &[("content-type", "application/json")],
        )
        .await;
    assert_eq!(reply.status, 500);
    assert_eq!(reply.json()["s:Fault"]["faultstring"], "no such symbol");
}

#[actix_rt::test]
async fn wsdl_endpoints_take_address_and_version_from_the_port() {
    let backend = stock_service().await;
    // Served from a thread of its own: configuration loading blocks this test's thread.
    let wsdl_port = serve_document_on_thread(wsdl(&backend.url("/services/StockQuote")));
    let file_ep = r#"<endpoint xmlns="http://ws.apache.org/ns/synapse" name="StockWsdl12">
        <wsdl uri="wsdl/stock.wsdl" service="StockQuoteService" port="StockQuoteSoap12"/></endpoint>"#;
    let url_ep = format!(
        r#"<endpoint xmlns="http://ws.apache.org/ns/synapse" name="StockWsdl11">
        <wsdl uri="http://127.0.0.1:{wsdl_port}/stock?wsdl" service="StockQuoteService" port="StockQuoteSoap11"/></endpoint>"#
    );
    let p12 = proxy("Via12", r#"<target endpoint="StockWsdl12"/>"#);
    let p11 = proxy("Via11", r#"<target endpoint="StockWsdl11"/>"#);
    let axon = TestAxon::start(&[
        (
            "wsdl/stock.wsdl",
            &wsdl(&backend.url("/services/StockQuote")),
        ),
        ("endpoints/file.xml", file_ep),
        ("endpoints/url.xml", &url_ep),
        ("proxy-services/p12.xml", &p12),
        ("proxy-services/p11.xml", &p11),
    ])
    .await;
    let req = envelope(S11, "IBM");
    let headers = [
        ("content-type", "text/xml"),
        ("soapaction", "\"urn:getQuote\""),
    ];
    let reply = axon
        .request("POST", "/services/Via12", Some(req.as_bytes()), &headers)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let seen = backend.last();
    assert_eq!(seen.uri, "/services/StockQuote");
    assert!(
        seen.header("content-type")
            .unwrap()
            .starts_with("application/soap+xml"),
        "the soap12 port makes it SOAP 1.2"
    );
    assert!(
        reply.text().contains(S11),
        "back to the 1.1 client: {}",
        reply.text()
    );

    let reply = axon
        .request("POST", "/services/Via11", Some(req.as_bytes()), &headers)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert!(
        backend
            .last()
            .header("content-type")
            .unwrap()
            .starts_with("text/xml")
    );
    let (_, tree) = axon.admin("/health/actors/StockWsdl12").await;
    assert_eq!(tree["type"], "wsdl", "{tree}");
}

/// A minimal HTTP/1.1 server on its own thread that answers every request with `doc`.
fn serve_document_on_thread(doc: String) -> u16 {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                line.clear();
            }
            let mut stream = reader.into_inner();
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                doc.len()
            );
            stream.write_all(head.as_bytes()).ok();
            stream.write_all(doc.as_bytes()).ok();
        }
    });
    port
}

#[actix_rt::test]
async fn wsdl_errors_name_the_document_and_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    crate::support::write(dir.path(), "stock.wsdl", &wsdl("http://127.0.0.1:9/x"));
    crate::support::write(
        dir.path(),
        "broken.wsdl",
        "<wsdl:definitions xmlns:wsdl=\"http://schemas.xmlsoap.org/wsdl/\">\n  <oops>\n</wsdl:definitions>",
    );
    crate::support::write(
        dir.path(),
        "e.xml",
        r#"<definitions xmlns="http://ws.apache.org/ns/synapse">
  <endpoint name="a"><wsdl uri="stock.wsdl" service="StockQuoteService" port="Nope"/></endpoint>
  <endpoint name="b"><wsdl uri="stock.wsdl" service="Other" port="P"/></endpoint>
  <endpoint name="c"><wsdl uri="missing.wsdl" service="S" port="P"/></endpoint>
  <endpoint name="d"><wsdl uri="broken.wsdl" service="S" port="P"/></endpoint>
  <endpoint name="e"><wsdl uri="stock.wsdl" service="StockQuoteService"/></endpoint>
</definitions>"#,
    );
    let errors = axon::engine::Mediation::load(dir.path())
        .unwrap_err()
        .to_string();
    assert!(
        errors.contains("has no port `Nope` (ports: StockQuoteSoap11, StockQuoteSoap12)"),
        "{errors}"
    );
    assert!(errors.contains("has no service `Other` in namespace `http://services.samples` (services: StockQuoteService)"), "{errors}");
    assert!(
        errors.contains("cannot read WSDL") && errors.contains("missing.wsdl"),
        "{errors}"
    );
    assert!(
        errors.contains("broken.wsdl:3:"),
        "a WSDL error is reported at its own line: {errors}"
    );
    assert!(
        errors.contains("e.xml:6:") && errors.contains("needs attribute `port`"),
        "{errors}"
    );
}

#[actix_rt::test]
async fn proxy_publishes_its_wsdl_with_axons_own_address() {
    let backend = stock_service().await;
    let p = proxy(
        "StockQuoteProxy",
        &format!(
            r#"<target><endpoint><address uri="{}"/></endpoint></target><publishWSDL uri="file:wsdl/stock.wsdl"/>"#,
            backend.url("/services/StockQuote")
        ),
    );
    let axon = TestAxon::start(&[
        (
            "wsdl/stock.wsdl",
            &wsdl(&backend.url("/services/StockQuote")),
        ),
        ("p.xml", &p),
    ])
    .await;
    let reply = axon.get("/services/StockQuoteProxy?wsdl").await;
    assert_eq!(reply.status, 200);
    assert!(
        reply
            .header("content-type")
            .unwrap()
            .starts_with("text/xml")
    );
    let text = reply.text();
    let own = axon.url("/services/StockQuoteProxy");
    assert_eq!(
        text.matches(&format!("location=\"{own}\"")).count(),
        2,
        "{text}"
    );
    assert!(
        !text.contains(&backend.url("")),
        "the backend address is not published: {text}"
    );
    assert!(text.contains("soapAction=\"urn:getQuote\""));
    assert_eq!(backend.hits(), 0, "?wsdl is answered by Axon");
    let none = proxy(
        "NoWsdl",
        r#"<target><inSequence><drop/></inSequence></target>"#,
    );
    let axon2 = TestAxon::start(&[("p.xml", &none)]).await;
    assert_eq!(axon2.get("/services/NoWsdl?wsdl").await.status, 404);
}

#[actix_rt::test]
async fn dead_backend_gives_a_fault_in_the_clients_version() {
    let p = proxy(
        "Dead",
        &format!(
            r#"<target><endpoint name="DeadEp"><address uri="http://127.0.0.1:{}/x"/></endpoint></target>"#,
            dead_port()
        ),
    );
    let axon = TestAxon::start(&[("p.xml", &p)]).await;
    let reply = post_soap(&axon, "/services/Dead", S11, "IBM").await;
    assert_eq!(reply.status, 500);
    assert_eq!(reply.header("x-axon-error-code").as_deref(), Some("101503"));
    assert!(
        reply
            .header("content-type")
            .unwrap()
            .starts_with("text/xml")
    );
    let text = reply.text();
    assert!(text.contains(&format!("xmlns:soapenv=\"{S11}\"")), "{text}");
    assert!(
        text.contains("<faultcode>soapenv:Server</faultcode>"),
        "{text}"
    );
    assert!(
        text.contains("<faultstring>Error connecting to the back end</faultstring>"),
        "{text}"
    );
    assert!(text.contains("<axon:code>101503</axon:code>"), "{text}");

    let reply = post_soap(&axon, "/services/Dead", S12, "IBM").await;
    assert_eq!(reply.status, 500);
    assert!(
        reply
            .header("content-type")
            .unwrap()
            .starts_with("application/soap+xml")
    );
    let text = reply.text();
    assert!(
        text.contains(
            "<soapenv:Code><soapenv:Value>soapenv:Receiver</soapenv:Value></soapenv:Code>"
        ),
        "{text}"
    );
    assert!(
        text.contains("<soapenv:Reason><soapenv:Text xml:lang=\"en\">"),
        "{text}"
    );
    // The endpoint is suspended now: 303001, still a Receiver fault.
    assert!(text.contains("<axon:code>303001</axon:code>"), "{text}");
    assert_eq!(reply.header("x-axon-error-code").as_deref(), Some("303001"));

    // A SOAP 1.2 client meeting the refused connection itself (a fresh Axon).
    let axon = TestAxon::start(&[("p.xml", &p)]).await;
    let reply = post_soap(&axon, "/services/Dead", S12, "IBM").await;
    assert_eq!(reply.status, 500);
    assert_eq!(reply.header("x-axon-error-code").as_deref(), Some("101503"));
    let text = reply.text();
    assert!(text.contains(&format!("xmlns:soapenv=\"{S12}\"")), "{text}");
    assert!(
        text.contains("<soapenv:Value>soapenv:Receiver</soapenv:Value>"),
        "{text}"
    );
    assert!(
        text.contains(
            "<soapenv:Text xml:lang=\"en\">Error connecting to the back end</soapenv:Text>"
        ),
        "{text}"
    );
    assert!(text.contains("<axon:code>101503</axon:code>"), "{text}");
}

#[actix_rt::test]
async fn malformed_envelopes_get_a_client_fault_and_reach_no_backend() {
    let backend = stock_service().await;
    let p = proxy(
        "P",
        &format!(
            r#"<target><endpoint><address uri="{}"/></endpoint></target>"#,
            backend.url("/s")
        ),
    );
    let axon = TestAxon::start(&[("p.xml", &p)]).await;
    let broken = format!(
        r#"<soapenv:Envelope xmlns:soapenv="{S11}"><soapenv:Body><ser:getQuote xmlns:ser="urn:x"></soapenv:Body></soapenv:Envelope>"#
    );
    let reply = axon
        .request(
            "POST",
            "/services/P",
            Some(broken.as_bytes()),
            &[("content-type", "text/xml"), ("soapaction", "x")],
        )
        .await;
    assert_eq!(reply.status, 500, "{}", reply.text());
    let text = reply.text();
    assert!(
        text.contains("<faultcode>soapenv:Client</faultcode>"),
        "{text}"
    );
    assert!(
        text.contains("<axon:code>601000</axon:code>") && text.contains("malformed XML"),
        "{text}"
    );

    // SOAP 1.2: a Sender fault, HTTP 400; here the envelope is of the wrong version.
    let v11_envelope = envelope(S11, "IBM");
    let reply = axon
        .request(
            "POST",
            "/services/P",
            Some(v11_envelope.as_bytes()),
            &[("content-type", "application/soap+xml")],
        )
        .await;
    assert_eq!(reply.status, 400, "{}", reply.text());
    let text = reply.text();
    assert!(
        text.contains("<soapenv:Value>soapenv:Sender</soapenv:Value>"),
        "{text}"
    );
    assert!(text.contains("version mismatch"), "{text}");

    let reply = axon
        .request(
            "POST",
            "/services/P",
            Some(b"this is not XML"),
            &[("content-type", "text/xml")],
        )
        .await;
    assert_eq!(reply.status, 500);
    assert!(reply.text().contains("soapenv:Client"));
    assert_eq!(
        backend.hits(),
        0,
        "no malformed message reached the backend"
    );
    // The backend is not blamed for the client's mistakes.
    assert_eq!(axon.state(&axon_endpoint(&axon).await).await, "ACTIVE");
}

pub async fn axon_endpoint(axon: &TestAxon) -> String {
    let (_, tree) = axon.admin("/health/actors").await;
    tree["endpoints"][0]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[actix_rt::test]
async fn makefault_builds_faults_in_sequences() {
    let seq = format!(
        r#"<definitions xmlns="http://ws.apache.org/ns/synapse">
        <sequence name="toFault">
          <makefault version="soap12"><code xmlns:s12="{S12}" value="s12:Receiver"/><reason value="backend down"/>
            <role>urn:axon</role><detail><e:why xmlns:e="urn:e">dead</e:why></detail></makefault>
          <respond/>
        </sequence>
        <proxy name="Mf"><target faultSequence="toFault"><endpoint><address uri="http://127.0.0.1:{}/"/></endpoint></target></proxy>
        <proxy name="Inline"><target><inSequence>
          <makefault><code value="soapenv:Client"/><reason value="refused"/></makefault><send/>
        </inSequence></target></proxy>
        </definitions>"#,
        dead_port()
    );
    let axon = TestAxon::start(&[("all.xml", &seq)]).await;
    let reply = post_soap(&axon, "/services/Mf", S12, "IBM").await;
    assert_eq!(reply.status, 500);
    assert!(
        reply
            .header("content-type")
            .unwrap()
            .starts_with("application/soap+xml")
    );
    let text = reply.text();
    assert!(
        text.contains("<soapenv:Value>soapenv:Receiver</soapenv:Value>"),
        "{text}"
    );
    assert!(
        text.contains("backend down") && text.contains("<soapenv:Role>urn:axon</soapenv:Role>"),
        "{text}"
    );
    assert!(
        text.contains(r#"<soapenv:Detail><e:why xmlns:e="urn:e">dead</e:why></soapenv:Detail>"#),
        "{text}"
    );

    // Without `version`, the fault follows the client: SOAP 1.2 gets Sender for Client.
    let reply = post_soap(&axon, "/services/Inline", S12, "IBM").await;
    assert_eq!(reply.status, 500);
    assert!(
        reply
            .text()
            .contains("<soapenv:Value>soapenv:Sender</soapenv:Value>"),
        "{}",
        reply.text()
    );
    let reply = post_soap(&axon, "/services/Inline", S11, "IBM").await;
    assert!(
        reply
            .text()
            .contains("<faultcode>soapenv:Client</faultcode><faultstring>refused</faultstring>"),
        "{}",
        reply.text()
    );
    assert!(
        reply
            .header("content-type")
            .unwrap()
            .starts_with("text/xml")
    );
}

#[actix_rt::test]
async fn force_error_on_soap_fault_makes_a_backend_fault_an_endpoint_failure() {
    let backend = stock_service().await;
    let conf = format!(
        r#"<definitions xmlns="http://ws.apache.org/ns/synapse">
        <endpoint name="Strict"><address uri="{0}"/></endpoint>
        <endpoint name="Lenient"><address uri="{0}"/></endpoint>
        <proxy name="Strict"><target><inSequence>
          <property name="FORCE_ERROR_ON_SOAP_FAULT" value="true"/><send><endpoint key="Strict"/></send>
        </inSequence></target></proxy>
        <proxy name="Lenient"><target endpoint="Lenient"/></proxy>
        </definitions>"#,
        backend.url("/s")
    );
    let axon = TestAxon::start(&[("all.xml", &conf)]).await;
    let headers = [("content-type", "text/xml"), ("soapaction", "urn:getQuote")];
    let reply = axon
        .request(
            "POST",
            "/services/Lenient",
            Some(envelope(S11, "FAULT").as_bytes()),
            &headers,
        )
        .await;
    assert_eq!(reply.status, 500);
    assert!(
        reply.text().contains("no such symbol"),
        "the backend's own fault: {}",
        reply.text()
    );
    assert_eq!(
        axon.state("Lenient").await,
        "ACTIVE",
        "a SOAP fault is a response"
    );

    let reply = axon
        .request(
            "POST",
            "/services/Strict",
            Some(envelope(S11, "FAULT").as_bytes()),
            &headers,
        )
        .await;
    assert_eq!(reply.status, 500);
    assert_eq!(reply.header("x-axon-error-code").as_deref(), Some("500000"));
    let text = reply.text();
    assert!(
        text.contains("<axon:code>500000</axon:code>") && text.contains("no such symbol"),
        "{text}"
    );
    eventually(Duration::from_secs(5), "Strict suspended", || async {
        axon.state("Strict").await == "SUSPENDED"
    })
    .await;
    // A healthy answer through Strict passes (after the suspension it is 503 first).
    let reply = axon
        .request(
            "POST",
            "/services/Lenient",
            Some(envelope(S11, "IBM").as_bytes()),
            &headers,
        )
        .await;
    assert_eq!(reply.status, 200);
}

#[actix_rt::test]
async fn ten_mib_soap_message_passes_through_a_proxy_intact() {
    let backend = Backend::start(|seen| Canned {
        status: 200,
        body: format!(
            "<s:Envelope xmlns:s=\"{S11}\"><s:Body><r>{}</r></s:Body></s:Envelope>",
            seen.body.len()
        )
        .into_bytes(),
        content_type: "text/xml",
        delay: Duration::ZERO,
    })
    .await;
    let p = proxy(
        "Big",
        &format!(
            r#"<target><endpoint><address uri="{}"/></endpoint></target>"#,
            backend.url("/")
        ),
    );
    let axon = TestAxon::start(&[("p.xml", &p)]).await;
    let big = big_envelope(10 * 1024 * 1024);
    let reply = axon
        .request(
            "POST",
            "/services/Big",
            Some(&big),
            &[("content-type", "text/xml"), ("soapaction", "urn:upload")],
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        reply.text(),
        format!(
            "<s:Envelope xmlns:s=\"{S11}\"><s:Body><r>{}</r></s:Body></s:Envelope>",
            big.len()
        )
    );
    assert_eq!(backend.last().body, big);
}

/// A SOAP 1.1 envelope of about `size` bytes: many small elements and one long text.
pub fn big_envelope(size: usize) -> Vec<u8> {
    let mut out = format!(
        "<soapenv:Envelope xmlns:soapenv=\"{S11}\"><soapenv:Body><up:upload xmlns:up=\"urn:up\">"
    );
    let item = "<up:item id=\"1\">0123456789abcdef</up:item>";
    while out.len() < size / 2 {
        out.push_str(item);
    }
    out.push_str("<up:blob>");
    while out.len() < size - 64 {
        out.push_str("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=");
    }
    out.push_str("</up:blob></up:upload></soapenv:Body></soapenv:Envelope>");
    out.into_bytes()
}

#[actix_rt::test]
async fn zeep_reads_the_published_wsdl_and_calls_through_the_proxy() {
    let python = crate::support::python();
    let backend = stock_service().await;
    let p = proxy(
        "StockQuoteProxy",
        &format!(
            r#"<target><endpoint><address uri="{}"/></endpoint></target><publishWSDL uri="wsdl/stock.wsdl"/>"#,
            backend.url("/services/StockQuote")
        ),
    );
    let axon = TestAxon::start(&[
        (
            "wsdl/stock.wsdl",
            &wsdl("http://backend.invalid/services/StockQuote"),
        ),
        ("p.xml", &p),
    ])
    .await;
    let wsdl_url = axon.url("/services/StockQuoteProxy?wsdl");
    let script = r#"
import sys, zeep
client = zeep.Client(sys.argv[1])
result = client.service.getQuote(symbol="IBM")
print(f"{result.symbol} {result.price}")
"#;
    let output = actix_web::web::block(move || {
        std::process::Command::new(python)
            .arg("-c")
            .arg(script)
            .arg(wsdl_url)
            .output()
    })
    .await
    .expect("blocking task")
    .expect("run python");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "zeep failed: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(stdout.trim(), "IBM 42.5");
    let seen = backend.last();
    assert_eq!(
        seen.header("soapaction"),
        Some("\"urn:getQuote\""),
        "zeep took the action from the WSDL"
    );
    assert!(String::from_utf8_lossy(&seen.body).contains("IBM"));
}
