use std::fs;
use std::path::Path;

use super::*;

fn write(dir: &Path, rel: &str, text: &str) {
    let path = dir.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

fn load(files: &[(&str, &str)]) -> Result<Config, Diagnostics> {
    let dir = tempfile::tempdir().unwrap();
    for (rel, text) in files {
        write(dir.path(), rel, text);
    }
    Config::load(dir.path())
}

fn messages(d: &Diagnostics) -> Vec<String> {
    d.sorted().into_iter().map(|x| x.message.clone()).collect()
}

const PING: &str = r#"<api xmlns="http://ws.apache.org/ns/synapse" name="ping" context="/ping">
  <resource methods="GET" uri-template="/">
    <inSequence><respond/></inSequence>
  </resource>
</api>"#;

#[test]
fn loads_one_artifact_per_file_and_definitions() {
    let config = load(&[
        ("apis/ping.xml", PING),
        (
            "defs.xml",
            r#"<definitions xmlns="http://ws.apache.org/ns/synapse">
                 <endpoint name="backend"><address uri="http://127.0.0.1:1/x"/></endpoint>
                 <sequence name="helper"><log/></sequence>
               </definitions>"#,
        ),
    ])
    .unwrap();
    assert_eq!(config.apis.len(), 1);
    assert_eq!(config.files, 2);
    assert!(config.endpoint_named("backend").is_some());
    assert!(config.sequence_named("helper").is_some());
}

#[test]
fn keys_resolve_regardless_of_file_order() {
    let config = load(&[
        ("a.xml", r#"<api name="a" context="/a"><resource inSequence="zz"/></api>"#),
        ("z.xml", r#"<sequence name="zz"><send><endpoint key="ep"/></send></sequence>"#),
        ("y.xml", r#"<endpoint name="ep" key="real"/>"#),
        ("x.xml", r#"<endpoint name="real"><http uri-template="http://h/{uri.var.id}" method="get"/></endpoint>"#),
    ])
    .unwrap();
    let alias = config.endpoint_named("ep").unwrap();
    let real = config.endpoint_named("real").unwrap();
    assert_eq!(config.resolve_endpoint(alias), real);
}

#[test]
fn reports_every_problem_with_its_position() {
    let err = load(&[
        (
            "apis/bad.xml",
            "<api name=\"bad\" context=\"/bad\" colour=\"red\">\n  <resource methods=\"GET FETCH\" uri-template=\"/{id\">\n    <inSequence><frobnicate/></inSequence>\n  </resource>\n</api>",
        ),
        (
            "endpoints/ep.xml",
            "<endpoint name=\"ep\">\n  <address uri=\"http://h\">\n    <timeout><duration>-5</duration></timeout>\n    <suspendOnFailure><errorCodes>101503,abc</errorCodes></suspendOnFailure>\n  </address>\n</endpoint>",
        ),
        ("broken.xml", "<sequence name=\"s\">\n  <log>\n</sequence>"),
    ])
    .unwrap_err();
    let all: Vec<String> = err.sorted().into_iter().map(ToString::to_string).collect();
    let joined = all.join("\n");
    assert!(
        joined.contains("bad.xml:1:32: error: unknown attribute `colour` on <api>"),
        "{joined}"
    );
    assert!(joined.contains("unknown HTTP method `FETCH`"), "{joined}");
    assert!(joined.contains("invalid uri-template"), "{joined}");
    assert!(
        joined.contains("ep.xml:3:14: error: `duration` must not be negative"),
        "{joined}"
    );
    assert!(
        joined.contains("error code `abc` is not a number"),
        "{joined}"
    );
    assert!(joined.contains("broken.xml:3:"), "{joined}");
}

#[test]
fn dangling_keys_and_duplicates_are_errors() {
    let err = load(&[
        ("a.xml", r#"<api name="a" context="/a"><resource><inSequence><send><endpoint key="nope"/></send><sequence key="missing"/></inSequence></resource></api>"#),
        ("b.xml", r#"<sequence name="dup"><log/></sequence>"#),
        ("c.xml", r#"<sequence name="dup"><log/></sequence>"#),
    ])
    .unwrap_err();
    let m = messages(&err);
    assert!(
        m.iter().any(|x| x == "endpoint `nope` is not defined"),
        "{m:?}"
    );
    assert!(
        m.iter().any(|x| x == "sequence `missing` is not defined"),
        "{m:?}"
    );
    assert!(
        m.iter()
            .any(|x| x.starts_with("duplicate sequence name `dup`")),
        "{m:?}"
    );
}

#[test]
fn reference_cycles_are_errors() {
    let err = load(&[
        ("s.xml", r#"<definitions><sequence name="a"><sequence key="b"/></sequence><sequence name="b"><sequence key="a"/></sequence></definitions>"#),
        ("e.xml", r#"<definitions><endpoint name="x" key="y"/><endpoint name="y" key="x"/></definitions>"#),
    ])
    .unwrap_err();
    let m = messages(&err);
    assert!(
        m.iter()
            .any(|x| x.starts_with("sequence reference cycle: a -> b -> a")),
        "{m:?}"
    );
    assert!(
        m.iter()
            .any(|x| x.starts_with("endpoint reference cycle: x -> y -> x")),
        "{m:?}"
    );
}

#[test]
fn synapse_features_not_implemented_are_reported_as_not_supported() {
    let err = load(&[
        ("p.xml", r#"<localEntry key="p"/>"#),
        ("a.xml", r#"<api name="a" context="/a"><resource><inSequence><xslt key="t"/></inSequence></resource></api>"#),
        ("e.xml", r#"<endpoint name="e"><class name="x"/></endpoint>"#),
    ])
    .unwrap_err();
    let m = messages(&err);
    assert!(
        m.iter()
            .any(|x| x == "local entries (`<localEntry>`) is not supported by Axon"),
        "{m:?}"
    );
    assert!(
        m.iter()
            .any(|x| x == "the `xslt` mediator is not supported by Axon"),
        "{m:?}"
    );
    assert!(
        m.iter()
            .any(|x| x == "the `<class>` endpoint is not supported by Axon"),
        "{m:?}"
    );
}

#[test]
fn observability_attributes_only_warn() {
    let config = load(&[(
        "a.xml",
        r#"<api name="a" context="/a" statistics="enable" trace="disable"><resource><inSequence><drop/></inSequence></resource></api>"#,
    )])
    .unwrap();
    assert_eq!(config.warnings.len(), 2);
}

#[test]
fn foreign_roots_and_unknown_artifacts_are_rejected() {
    let err = load(&[
        (
            "x.xml",
            r#"<x:api xmlns:x="urn:not-synapse" name="a" context="/a"/>"#,
        ),
        ("y.xml", r#"<widget name="w"/>"#),
    ])
    .unwrap_err();
    let m = messages(&err);
    assert!(
        m.iter().any(|x| x.contains("not in the Synapse namespace")),
        "{m:?}"
    );
    assert!(m.iter().any(|x| x == "unknown artifact <widget>"), "{m:?}");
}

#[test]
fn api_versions_and_duplicate_contexts() {
    let config = load(&[(
        "a.xml",
        r#"<definitions>
             <api name="v" context="/shop" version="1.0" version-type="url"><resource><inSequence><drop/></inSequence></resource></api>
             <api name="c" context="/{version}/orders" version="2" version-type="context"><resource><inSequence><drop/></inSequence></resource></api>
           </definitions>"#,
    )])
    .unwrap();
    assert_eq!(config.apis[0].context, "/shop/1.0");
    assert_eq!(config.apis[1].context, "/2/orders");
    let err = load(&[(
        "a.xml",
        r#"<definitions>
             <api name="one" context="/same"><resource><inSequence><drop/></inSequence></resource></api>
             <api name="two" context="/same"><resource><inSequence><drop/></inSequence></resource></api>
           </definitions>"#,
    )])
    .unwrap_err();
    assert!(
        messages(&err)
            .iter()
            .any(|x| x.contains("already used by API `one`"))
    );
}

#[test]
fn endpoint_qos_is_typed() {
    let config = load(&[(
        "e.xml",
        r#"<endpoint name="e"><address uri="http://h/x">
             <timeout><duration>1500</duration><responseAction>discard</responseAction></timeout>
             <markForSuspension><errorCodes>101504, 101505</errorCodes><retriesBeforeSuspension>3</retriesBeforeSuspension><retryDelay>10</retryDelay></markForSuspension>
             <suspendOnFailure><initialDuration>1000</initialDuration><progressionFactor>2</progressionFactor><maximumDuration>60000</maximumDuration></suspendOnFailure>
           </address></endpoint>"#,
    )])
    .unwrap();
    let id = config.endpoint_named("e").unwrap();
    let EndpointKind::Leaf(leaf) = &config.endpoint(id).kind else {
        panic!("not a leaf")
    };
    assert_eq!(
        leaf.timeout.duration,
        Some(std::time::Duration::from_millis(1500))
    );
    assert_eq!(leaf.timeout.action, ResponseAction::Discard);
    assert_eq!(leaf.suspension.timeout_codes, vec![101504, 101505]);
    assert_eq!(leaf.suspension.retries_before_suspension, 3);
    assert_eq!(leaf.suspension.progression_factor, 2.0);
    assert_eq!(
        leaf.suspension.maximum_duration,
        Some(std::time::Duration::from_millis(60000))
    );
}

#[test]
fn missing_folder_is_an_error() {
    let err = Config::load(Path::new("/definitely/not/here")).unwrap_err();
    assert!(messages(&err)[0].contains("does not exist"));
}

#[test]
fn http_template_with_a_broken_percent_escape_is_a_diagnostic_not_a_panic() {
    // Found by the `uri_template` fuzz target: iri-string panicked on `%a€`, slicing the
    // template inside the `€`, which took `axon check` (and a reload) down with it.
    for template in [
        "http://h/%a€x",
        "http://h/%€",
        "http://h/{+x}%",
        "http://h/%4g",
    ] {
        let xml = format!(
            r#"<endpoint xmlns="http://ws.apache.org/ns/synapse" name="e"><http uri-template="{template}"/></endpoint>"#
        );
        let errors = messages(&load(&[("e.xml", &xml)]).unwrap_err());
        assert!(
            errors
                .iter()
                .any(|m| m.starts_with(&format!("invalid uri-template `{template}`"))),
            "{template}: {errors:?}"
        );
    }
}
