//! `axon check`: every problem at once, as file:line:col, and the exit status.

use assert_cmd::Command;
use std::path::Path;

use crate::support::write;

#[test]
fn reports_every_problem_with_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "apis/shop.xml",
        "<api name=\"Shop\" context=\"/shop\">\n  <resource methods=\"GET\" uri-template=\"/items/{id}\">\n    <inSequence>\n      <send><endpoint key=\"Missing\"/></send>\n    </inSequence>\n  </resource>\n</api>\n",
    );
    write(
        dir.path(),
        "endpoints/slow.xml",
        "<endpoint name=\"Slow\">\n  <address uri=\"http://127.0.0.1:9/\">\n    <timeout><duration>-1</duration></timeout>\n    <markForSuspension><errorCodes>101504,soon</errorCodes></markForSuspension>\n  </address>\n</endpoint>\n",
    );
    write(
        dir.path(),
        "sequences/broken.xml",
        "<sequence name=\"broken\">\n  <log>\n</sequence>\n",
    );
    write(
        dir.path(),
        "sequences/loop.xml",
        "<sequence name=\"loop\"><sequence key=\"loop\"/></sequence>",
    );
    write(dir.path(), "proxies/p.xml", "<proxy name=\"P\"/>");
    let out = crate::support::axon_check(dir.path());
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let root = dir.path().display().to_string();
    for expected in [
        format!("{root}/apis/shop.xml:4:23: error: endpoint `Missing` is not defined"),
        format!(
            "{root}/endpoints/slow.xml:3:14: error: `duration` must not be negative, found `-1`"
        ),
        format!("{root}/endpoints/slow.xml:4:24: error: error code `soon` is not a number"),
        format!("{root}/sequences/broken.xml:3:1: error: malformed XML"),
        format!("{root}/sequences/loop.xml:1:1: error: sequence reference cycle: loop -> loop"),
        format!("{root}/proxies/p.xml:1:1: error: <proxy> needs a <target>"),
    ] {
        assert!(
            stderr.contains(&expected),
            "missing `{expected}` in:\n{stderr}"
        );
    }
    assert!(stderr.contains("6 error(s)"), "{stderr}");
}

#[test]
fn a_valid_folder_exits_zero_and_the_shipped_mediation_folder_is_valid() {
    let out =
        crate::support::axon_check(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/mediation")));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(": ok:"));
}

#[test]
fn serve_refuses_an_invalid_folder_with_exit_code_64() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.xml", "<api name=\"a\"/>");
    let out = Command::cargo_bin("axon")
        .unwrap()
        .args([
            "serve",
            "--http-port",
            "0",
            "--management-port",
            "0",
            "--grpc-port",
            "0",
            "--mediation",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("a.xml:1:1: error: <api> needs attribute `context`"),
        "{stderr}"
    );
}

#[test]
fn every_commented_endpoint_example_in_the_shipped_folder_loads() {
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("mediation");
    let text = std::fs::read_to_string(shipped.join("endpoints/examples.xml")).unwrap();
    let comment = text
        .split("<!--")
        .nth(1)
        .unwrap()
        .split("-->")
        .next()
        .unwrap();
    // Each example is an <endpoint> at four spaces of indent, closed at the same indent
    // (or self-closing on its first line).
    let mut examples = Vec::new();
    let mut current: Option<String> = None;
    for line in comment.lines() {
        if line.starts_with("    <endpoint ") {
            current = Some(String::new());
        }
        if let Some(buf) = current.as_mut() {
            buf.push_str(line);
            buf.push('\n');
            let one_line = line.starts_with("    <endpoint ") && line.trim_end().ends_with("/>");
            if one_line || line.starts_with("    </endpoint>") {
                examples.extend(current.take());
            }
        }
    }
    assert!(examples.len() >= 10, "found {} examples", examples.len());
    let dir = tempfile::tempdir().unwrap();
    for sub in ["openapi", "wsdl"] {
        for entry in std::fs::read_dir(shipped.join(sub)).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            write(
                dir.path(),
                &format!("{sub}/{}", path.file_name().unwrap().to_string_lossy()),
                &text,
            );
        }
    }
    write(
        dir.path(),
        "examples.xml",
        &format!("<definitions>\n{}</definitions>\n", examples.concat()),
    );
    let out = crate::support::axon_check(dir.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `axon check` separates a typo (an error with a suggestion), a Synapse feature Axon lacks
/// (an error pointing to the migration guide) and a value with no effect (a warning).
#[test]
fn unknown_unsupported_and_no_effect_are_told_apart() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "apis/a.xml",
        "<api name=\"A\" context=\"/a\" trace=\"enable\">\n  <resource methods=\"GET\" uri-templat=\"/x\">\n    <inSequence><xslt key=\"t\"/><respond/></inSequence>\n  </resource>\n</api>\n",
    );
    let out = crate::support::axon_check(dir.path());
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let root = dir.path().display().to_string();
    for expected in [
        format!(
            "{root}/apis/a.xml:2:27: error: unknown attribute `uri-templat` on <resource> (did you mean `uri-template`?)"
        ),
        format!(
            "{root}/apis/a.xml:3:17: error: the `xslt` mediator is not supported by Axon (see docs/migrating.md)"
        ),
        format!(
            "{root}/apis/a.xml:1:28: warning: attribute `trace=\"enable\"` has no effect in Axon"
        ),
    ] {
        assert!(
            stderr.contains(&expected),
            "missing `{expected}` in:\n{stderr}"
        );
    }
}

/// Every mediator element of WSO2's language is named as not supported, never unknown:
/// the ones Axon lacks and connector operations; an element of the language in the wrong
/// place is "not allowed" (no "did you mean" itself); a plain endpoint's `<parameter>`
/// has no effect.
#[test]
fn wso2_elements_axon_lacks_are_not_supported_rather_than_unknown() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "sequences/s.xml",
        concat!(
            "<sequence xmlns=\"http://ws.apache.org/ns/synapse\" name=\"S\">\n",
            "  <throwError type=\"E\" errorMessage=\"m\"/>\n",
            "  <email.send configKey=\"smtp\"/>\n",
            "  <propertyGroup><property name=\"a\" value=\"b\"/></propertyGroup>\n",
            "  <logg/>\n",
            "</sequence>\n",
        ),
    );
    write(
        dir.path(),
        "endpoints/e.xml",
        concat!(
            "<endpoint xmlns=\"http://ws.apache.org/ns/synapse\" name=\"E\">\n",
            "  <address uri=\"http://127.0.0.1:9/\"/>\n",
            "  <parameter name=\"p\" value=\"v\"/>\n",
            "  <target/>\n",
            "</endpoint>\n",
        ),
    );
    write(
        dir.path(),
        "proxy-services/p.xml",
        concat!(
            "<proxy xmlns=\"http://ws.apache.org/ns/synapse\" name=\"P\">\n",
            "  <target><inSequence><drop/></inSequence></target>\n",
            "  <publishWSDL uri=\"file:x.wsdl\" preservePolicy=\"false\"/>\n",
            "</proxy>\n",
        ),
    );
    let out = crate::support::axon_check(dir.path());
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let root = dir.path().display().to_string();
    let unsupported = "is not supported by Axon (see docs/migrating.md)";
    for expected in [
        format!("{root}/sequences/s.xml:2:3: error: the `throwError` mediator {unsupported}"),
        format!(
            "{root}/sequences/s.xml:3:3: error: connector operation <email.send> (connectors) {unsupported}"
        ),
        format!("{root}/sequences/s.xml:4:3: error: the `propertyGroup` mediator {unsupported}"),
        format!("{root}/sequences/s.xml:5:3: error: unknown mediator <logg> (did you mean `log`?)"),
        format!(
            "{root}/endpoints/e.xml:3:3: warning: endpoint parameter `p` has no effect in Axon"
        ),
        format!(
            "{root}/endpoints/e.xml:4:3: error: element <target> is not allowed in <endpoint>\n"
        ),
        format!(
            "{root}/proxy-services/p.xml:3:34: error: removing WS-Policy from a published WSDL (`preservePolicy=\"false\"`) {unsupported}"
        ),
    ] {
        assert!(
            stderr.contains(&expected),
            "missing `{expected}` in:\n{stderr}"
        );
    }
}

/// A `<member>` names a host and a port, nothing else: a host with a path or user
/// information, a port that is no number, or no port at all is refused at load.
#[test]
fn a_member_that_is_no_host_and_port_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "endpoints/lb.xml",
        "<endpoint name=\"LB\"><loadbalance>\n<member hostName=\"evil/x\" httpPort=\"80\"/>\n<member hostName=\"a@b\" httpPort=\"80\"/>\n<member hostName=\"h\" httpPort=\"http\"/>\n<member hostName=\"h\"/>\n<member hostName=\"h\" httpsPort=\"8443\"/>\n</loadbalance></endpoint>",
    );
    let out = crate::support::axon_check(dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    for expected in [
        "lb.xml:2:1: error: `evil/x` is not a host name",
        "lb.xml:3:1: error: `a@b` is not a host name",
        "lb.xml:4:22: error: `http` is not a port number",
        "lb.xml:5:1: error: <member> needs an `httpPort` or an `httpsPort`",
    ] {
        assert!(
            stderr.contains(expected),
            "missing `{expected}` in:\n{stderr}"
        );
    }
    assert!(stderr.contains("4 error(s)"), "{stderr}");
}

/// Check messages a new user reads first: no byte offsets next to line:col, an unclosed
/// XPath predicate called unclosed, a bad JSONPath saying where and what.
#[test]
fn check_messages_say_what_is_wrong_in_words() {
    let cases = [
        (
            r#"<api name="A" context=/a><resource/></api>"#,
            "attribute value must be enclosed",
            "position",
        ),
        (
            r#"<api name="A" context="/a"><resource><inSequence><filter xpath="//a["><then><drop/></then></filter></inSequence></resource></api>"#,
            "an unterminated predicate",
            "empty predicate",
        ),
        (
            r#"<api name="A" context="/a"><resource><inSequence><property name="p" expression="json-eval($.items[?(@.x == ])"/></inSequence></resource></api>"#,
            "`(` is not expected at character 10, in a bracketed selector",
            "parser error",
        ),
        (
            r#"<api name="A" context="/a"><resource><inSequence><property name="p" expression="json-eval($.items[)"/></inSequence></resource></api>"#,
            "the path ends too early after `[`",
            "parser error",
        ),
    ];
    for (api, expected, never) in cases {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "a.xml", api);
        let out = crate::support::axon_check(dir.path());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{stderr}");
        assert!(stderr.contains(expected), "{expected}: {stderr}");
        assert!(!stderr.contains(never), "{never}: {stderr}");
    }
}

/// `--help` tells a new operator where logging, reload, the management API and the exit
/// statuses are.
#[test]
fn help_mentions_logging_reload_the_management_api_and_exit_64() {
    for args in [&["--help"][..], &["serve", "--help"][..]] {
        let out = Command::cargo_bin("axon")
            .unwrap()
            .args(args)
            .output()
            .unwrap();
        let help = String::from_utf8_lossy(&out.stdout);
        for needed in [
            "AXON_LOG",
            "/config/reload",
            "SIGHUP",
            "Management API",
            "64",
        ] {
            assert!(help.contains(needed), "{args:?} lacks {needed}:\n{help}");
        }
    }
}
