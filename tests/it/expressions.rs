//! Expressions are compiled at load: `axon check` reports every bad one at its
//! file:line:col, and a configuration with one does not start.

use assert_cmd::Command;

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
            "      <log><property name=\"p3\" expression=\"fn:upper-case('a')\"/></log>\n",
            "      <filter source=\"json-eval($.items[)\" regex=\"a\"><drop/></filter>\n",
            "      <switch source=\"//kind\"><case regex=\"([a-z\"><drop/></case></switch>\n",
            "      <property name=\"p4\" expression=\"get-property(concat('a', 'b'))\"/>\n",
            "      <property name=\"p5\" expression=\"${payload.id}\"/>\n",
            "      <call-template target=\"greet\"><with-param name=\"nmae\" value=\"x\"/></call-template>\n",
            "      <call-template target=\"missing\"/>\n",
            "      <payloadFactory media-type=\"json\"><format>{\"a\": $1}</format><args><arg expression=\"count(//a, //b)\"/></args></payloadFactory>\n",
            "      <sequence key=\"{//kind[}\"/>\n",
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
    let out = Command::cargo_bin("axon")
        .unwrap()
        .arg("check")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let file = format!("{}/apis/a.xml", dir.path().display());
    for (line, col, text) in [
        (
            4,
            27,
            "`expression`: invalid XPath: an empty predicate `[]`",
        ),
        (5, 27, "namespace prefix `x` is not declared"),
        (6, 32, "function `fn:upper-case` is not available"),
        (7, 15, "invalid JSONPath `$.items[`"),
        (8, 37, "invalid regex `([a-z`: unclosed character class"),
        (9, 27, "get-property() takes quoted literal arguments"),
        (
            10,
            27,
            "Synapse expressions (`${...}`) are not supported by Axon",
        ),
        (11, 37, "template `greet` has no parameter `nmae`"),
        (11, 7, "template `greet` needs parameter `name`"),
        (12, 22, "template `missing` is not defined"),
        (13, 78, "`count()` takes 1 argument(s), found 2"),
        (14, 17, "`key`: invalid XPath"),
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
