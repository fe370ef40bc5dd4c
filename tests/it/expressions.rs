//! Expressions are compiled at load: `axon check` reports every bad one at its
//! file:line:col, and a configuration with one does not start.

use crate::support::write;

#[test]
fn bad_expressions_are_check_errors_with_positions() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "apis/a.xml",
        concat!(
            "<api xmlns=\"http://ws.apache.org/ns/synapse\" name=\"A\" context=\"/a\">\n",
            "  <resource methods=\"POST\">\n",
            "    <inSequence>\n",
            "      <property name=\"p1\" expression=\"//order[\"/>\n",
            "      <property name=\"p2\" expression=\"//x:order\"/>\n",
            "      <log><property name=\"p3\" expression=\"fn:tokenize('a', ',')\"/></log>\n",
            "      <filter source=\"json-eval($.items[)\" regex=\"a\"><drop/></filter>\n",
            "      <switch source=\"//kind\"><case regex=\"([a-z\"><drop/></case></switch>\n",
            "      <property name=\"p4\" expression=\"get-property(concat('a', 'b'))\"/>\n",
            "      <property name=\"p5\" expression=\"${toUppr(payload.id)}\"/>\n",
            "      <call-template target=\"greet\"><with-param name=\"nmae\" value=\"x\"/></call-template>\n",
            "      <call-template target=\"missing\"/>\n",
            "      <payloadFactory media-type=\"json\"><format>{\"a\": $1}</format><args><arg expression=\"count(//a, //b)\"/></args></payloadFactory>\n",
            "      <sequence key=\"{//kind[}\"/>\n",
            "      <call-template target=\"greet\"><with-param name=\"name\" value=\"{{$func:x}}\"/></call-template>\n",
            "      <call-template target=\"greet\"><with-param name=\"name\" value=\"{{${params.functionParams.name}}}\"/></call-template>\n",
            "    </inSequence>\n",
            "  </resource>\n",
            "</api>\n",
        ),
    );
    write(
        dir.path(),
        "templates/greet.xml",
        "<template xmlns=\"http://ws.apache.org/ns/synapse\" name=\"greet\"><parameter name=\"name\" isMandatory=\"true\"/><sequence><drop/></sequence></template>\n",
    );
    let out = crate::support::axon_check(dir.path());
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let file = format!("{}/apis/a.xml", dir.path().display());
    for (line, col, text) in [
        (
            4,
            27,
            "`expression`: invalid XPath: an unterminated predicate: a `[` has no `]`",
        ),
        (5, 27, "namespace prefix `x` is not declared"),
        (
            6,
            32,
            "`fn:tokenize()` returns a sequence of strings, which Axon supports only",
        ),
        (7, 15, "invalid JSONPath `$.items[`"),
        (8, 37, "invalid regex `([a-z`: unclosed character class"),
        (9, 27, "get-property() takes quoted literal arguments"),
        (10, 27, "Synapse expression: unknown function `toUppr()`"),
        (11, 37, "template `greet` has no parameter `nmae`"),
        (11, 7, "template `greet` needs parameter `name`"),
        (12, 22, "template `missing` is not defined"),
        (13, 78, "`count()` takes 1 argument(s), found 2"),
        (14, 17, "`key`: invalid XPath"),
        (15, 61, "`{{...}}` parameters cannot read `$func:`"),
        (
            16,
            61,
            "`{{...}}` parameters cannot read `$func:` or `params.functionParams`",
        ),
    ] {
        let expected = format!("{file}:{line}:{col}: error: ");
        assert!(
            stderr
                .lines()
                .any(|l| l.starts_with(&expected) && l.contains(text)),
            "missing `{expected}...{text}` in:\n{stderr}"
        );
    }
}

/// Loads one API whose in-sequence is `body` and returns the error messages.
fn load_errors(body: &str) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "a.xml",
        &format!(
            "<api xmlns=\"http://ws.apache.org/ns/synapse\" name=\"A\" context=\"/a\"><resource><inSequence>{body}</inSequence></resource></api>"
        ),
    );
    match axon::engine::Mediation::load(dir.path()) {
        Ok(_) => Vec::new(),
        Err(diags) => diags.iter().map(|d| d.message.clone()).collect(),
    }
}

#[test]
fn mediator_misconfigurations_are_load_errors() {
    for (body, expected) in [
        (
            r#"<filter source="//a"><drop/></filter>"#,
            "either `source` and `regex`, or `xpath`",
        ),
        (
            r#"<filter xpath="//a"><then/><drop/></filter>"#,
            "cannot be mixed with <then>/<else>",
        ),
        (
            r#"<filter xpath="//a"><then sequence="nope"/></filter>"#,
            "sequence `nope` is not defined",
        ),
        (
            r#"<switch source="//a"><default/><case regex="x"/></switch>"#,
            "<case> after <default>",
        ),
        (r#"<switch/>"#, "needs attribute `source`"),
        (
            r#"<property name="p" action="remove" value="x"/>"#,
            "no meaning with action=\"remove\"",
        ),
        (
            r#"<property name="p" value="x" expression="//a"/>"#,
            "only one of `value`, `expression`",
        ),
        (
            r#"<property name="p" value="x" group="1"/>"#,
            "`group` needs a `pattern`",
        ),
        (
            r#"<property name="p" value="x" pattern="(a)" group="2"/>"#,
            "the pattern has no group 2",
        ),
        (
            r#"<property name="p" value="maybe" type="BOOLEAN"/>"#,
            "is not a BOOLEAN",
        ),
        (
            r#"<property name="p" value="&lt;a&gt;" type="OM"/>"#,
            "is not an XML element",
        ),
        (
            r#"<property name="p" value="x" scope="registry"/>"#,
            "property scope `registry` is not supported by Axon",
        ),
        (
            r#"<header name="Plain" value="x"/>"#,
            "needs a namespace prefix",
        ),
        (
            r#"<header name="ReplyTo" value="x" action="remove"/>"#,
            "`value` has no meaning with action=\"remove\"",
        ),
        (
            r#"<header name="Bad Name" scope="transport" value="x"/>"#,
            "not a valid HTTP header name",
        ),
        (
            r#"<variable name="v" value="x" type="OM"/>"#,
            "unknown variable type `OM`",
        ),
        (
            r#"<property name="p" expression="${payload.a"/>"#,
            "a Synapse expression `${...}` must end with `}`",
        ),
        (
            r#"<variable name="v"/>"#,
            "exactly one of `value` and `expression`",
        ),
        (
            r#"<variable name="v" value="seven" type="INTEGER"/>"#,
            "is not an integer",
        ),
        (
            r#"<variable name="v" expression="${vars.a +}"/>"#,
            "Synapse expression: unexpected end",
        ),
        (
            r#"<payloadFactory media-type="json"><format>{"a": ${nope(1)}}</format><args/></payloadFactory>"#,
            "unknown function `nope()`",
        ),
        (
            r#"<payloadFactory media-type="json"><format>{"a": ${payload.a</format><args/></payloadFactory>"#,
            "has no closing `}`",
        ),
        (
            r#"<call><endpoint><address uri="http://127.0.0.1:9/"/></endpoint><source type="custom"/></call>"#,
            "<source> needs an expression",
        ),
        (
            r#"<call><endpoint><address uri="http://127.0.0.1:9/"/></endpoint><target type="property"/></call>"#,
            "<target> needs a property name",
        ),
        (
            r#"<call><endpoint><address uri="http://127.0.0.1:9/"/></endpoint><target type="registry">x</target></call>"#,
            "<target> type `registry` (expected body, property, variable)",
        ),
        (
            r#"<payloadFactory><format><a>$2</a></format><args><arg value="x"/></args></payloadFactory>"#,
            "`$2` in <format> has no matching <arg>",
        ),
        (
            r#"<payloadFactory media-type="json"><format>{"a": $1}</format><args><arg value="x y"/></args></payloadFactory>"#,
            "the payload is not valid JSON",
        ),
        (
            r#"<payloadFactory><format><a/></format><args><arg expression="//a" evaluator="js"/></args></payloadFactory>"#,
            "unknown evaluator `js`",
        ),
        (
            r#"<enrich><source xpath="//a"/><target xpath="json-eval($.a)"/></enrich>"#,
            "cannot mix json-eval() and XPath",
        ),
        (
            r#"<enrich><source type="body"/><target type="property" property="p" action="child"/></enrich>"#,
            "a property target takes",
        ),
        (
            r#"<enrich><source type="body"/></enrich>"#,
            "needs a <source> and a <target>",
        ),
        (
            r#"<enrich><source type="key" key="k"/><target type="body"/></enrich>"#,
            "enrich sources of type `key`",
        ),
        (
            r#"<call-template target="t"/>"#,
            "template `t` is not defined",
        ),
        (
            r#"<send><endpoint><wsdl uri="a.wsdl" key="b" service="s" port="p"/></endpoint></send>"#,
            "<wsdl> takes either `uri` or `key`, not both",
        ),
        (
            r#"<send><endpoint key-expression="//tier["/></send>"#,
            "`key-expression`: invalid XPath",
        ),
        (
            r#"<call><endpoint key-expression="//tier" name="x"/></call>"#,
            "unknown attribute `name` on <endpoint>",
        ),
        (
            r#"<xslt key="t"/>"#,
            "the `xslt` mediator is not supported by Axon",
        ),
    ] {
        let errors = load_errors(body);
        assert!(
            errors.iter().any(|m| m.contains(expected)),
            "{body}: expected an error containing `{expected}`, got {errors:?}"
        );
    }
}

#[test]
fn content_aware_mediators_are_refused_in_grpc_apis_and_property_reads_are_not() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "api.xml",
        r#"<api name="G" context="/axon.test.Echo" transports="grpc">
  <resource url-mapping="/*">
    <inSequence>
      <property name="tenant" expression="$trp:x-tenant"/>
      <filter source="get-property('tenant')" regex="blue"><property name="x-blue" value="1" scope="transport"/></filter>
      <filter xpath="//order"><drop/></filter>
      <property name="id" expression="json-eval($.id)"/>
      <enrich><source type="body"/><target type="property" property="copy"/></enrich>
      <switch source="$trp:x-mode"><case regex="a"><payloadFactory><format><a/></format></payloadFactory></case></switch>
      <send><endpoint key="E"/></send>
    </inSequence>
  </resource>
</api>"#,
    );
    write(
        dir.path(),
        "ep.xml",
        r#"<endpoint name="E"><grpc uri="http://127.0.0.1:9"/></endpoint>"#,
    );
    let errors: Vec<String> = match axon::engine::Mediation::load(dir.path()) {
        Ok(_) => Vec::new(),
        Err(diags) => diags.iter().map(|d| d.message.clone()).collect(),
    };
    for what in [
        "<filter>",
        "<property expression>",
        "<enrich>",
        "<payloadFactory>",
    ] {
        assert!(
            errors
                .iter()
                .any(|m| m.starts_with(what) && m.contains("needs the message body")),
            "no error for {what}: {errors:?}"
        );
    }
    // Only those four: reading transport headers and properties is fine on gRPC messages.
    assert_eq!(errors.len(), 4, "{errors:?}");
}
