//! The whole configuration load (config with the mediators' parser handed in), checked on
//! small mediation folders: every diagnostic at its `file:line:column`.

use std::fs;
use std::path::Path;
use std::time::Duration;

use super::Mediation;
use crate::config::*;

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
    Mediation::load(dir.path()).map(|m| m.config)
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
        ("a.xml", r#"<api name="a" context="/a"><resource><inSequence><xslt key="t"/></inSequence></resource></api>"#),
        ("e.xml", r#"<endpoint name="e"><class name="x"/></endpoint>"#),
    ])
    .unwrap_err();
    let m = messages(&err);
    assert!(
        m.iter()
            .any(|x| x == "the `xslt` mediator is not supported by Axon (see docs/migrating.md)"),
        "{m:?}"
    );
    assert!(
        m.iter()
            .any(|x| x == "the `<class>` endpoint is not supported by Axon (see docs/migrating.md)"),
        "{m:?}"
    );
}

#[test]
fn observability_attributes_only_warn() {
    // `disable` (what MI's tooling writes) asks for nothing; `enable` warns.
    let config = load(&[(
        "a.xml",
        r#"<api name="a" context="/a" statistics="enable" trace="disable" description="d"><resource><inSequence><drop/></inSequence></resource></api>"#,
    )])
    .unwrap();
    assert_eq!(config.warnings.len(), 1);
    assert!(
        config.warnings[0]
            .message
            .contains("`statistics=\"enable\"` has no effect")
    );
}

#[test]
fn unknown_names_suggest_the_known_one() {
    let err = load(&[(
        "a.xml",
        r#"<api xmlns="http://ws.apache.org/ns/synapse" name="a" context="/a"><resource methods="GET" uri-templat="/x"><inSequence><respnd/></inSequence><outsequence/></resource></api>"#,
    )])
    .unwrap_err();
    let m = messages(&err);
    for expected in [
        "unknown attribute `uri-templat` on <resource> (did you mean `uri-template`?)",
        "unknown mediator <respnd> (did you mean `respond`?)",
        "unknown element <outsequence> in <resource> (did you mean `outSequence`?)",
    ] {
        assert!(m.iter().any(|x| x == expected), "{expected} in {m:?}");
    }
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
fn mi_tooling_minus_ones_mean_no_codes_and_defaults() {
    use crate::base::suspension::FailureClass;
    let config = load(&[(
        "e.xml",
        r#"<endpoint name="e" xmlns="http://ws.apache.org/ns/synapse"><address uri="http://h/x">
             <suspendOnFailure><errorCodes>-1</errorCodes><initialDuration>-1</initialDuration><progressionFactor>-1</progressionFactor><maximumDuration>0</maximumDuration></suspendOnFailure>
             <markForSuspension><errorCodes>-1</errorCodes><retriesBeforeSuspension>-1</retriesBeforeSuspension><retryDelay>-1</retryDelay></markForSuspension>
           </address></endpoint>"#,
    )])
    .unwrap();
    let id = config.endpoint_named("e").unwrap();
    let EndpointKind::Leaf(leaf) = &config.endpoint(id).kind else {
        panic!("not a leaf")
    };
    let s = &leaf.suspension;
    // `-1` matches no failure: a refused connection neither times out nor suspends.
    assert_eq!(s.classify(101503), FailureClass::NonFatal);
    assert_eq!(s.classify(101504), FailureClass::NonFatal);
    assert_eq!(
        (s.retries_before_suspension, s.retry_delay),
        (0, Duration::ZERO)
    );
    assert_eq!((s.initial_duration, s.progression_factor), (None, 1.0));
    // MI suspends for 30 s with these values, `maximumDuration` 0 notwithstanding.
    assert_eq!(s.next_suspension(None), Duration::from_secs(30));
    let config = load(&[(
        "e.xml",
        r#"<endpoint name="e" xmlns="http://ws.apache.org/ns/synapse"><address uri="http://h/x"><suspendDurationOnFailure>-1</suspendDurationOnFailure></address></endpoint>"#,
    )])
    .unwrap();
    let id = config.endpoint_named("e").unwrap();
    let EndpointKind::Leaf(leaf) = &config.endpoint(id).kind else {
        panic!("not a leaf")
    };
    assert_eq!(
        leaf.suspension.initial_duration, None,
        "legacy -1: the default"
    );
}

#[test]
fn builtin_main_and_fault_resolve_unless_defined() {
    let config = load(&[(
        "s.xml",
        r#"<sequence name="s" onError="fault" xmlns="http://ws.apache.org/ns/synapse"><sequence key="fault"/><sequence key="main"/></sequence>"#,
    )])
    .unwrap();
    // Still not named sequences: the fronts answer as when nothing names them.
    assert!(config.sequence_named("fault").is_none() && config.sequence_named("main").is_none());
    let err = load(&[(
        "s.xml",
        r#"<sequence name="s" onError="faults" xmlns="http://ws.apache.org/ns/synapse"/>"#,
    )])
    .unwrap_err();
    assert!(messages(&err)[0].contains("sequence `faults` is not defined"));
}

#[test]
fn endpoint_templates_expand_at_load_and_report_misuse() {
    const T: &str = r#"<template name="T" xmlns="http://ws.apache.org/ns/synapse"><parameter name="codes"/><endpoint name="$name"><address uri="$uri"><suspendOnFailure><errorCodes>$codes</errorCodes></suspendOnFailure></address></endpoint></template>"#;
    let config = load(&[
        ("t.xml", T),
        (
            "e.xml",
            r#"<endpoint name="E" template="T" uri="http://h/x" xmlns="http://ws.apache.org/ns/synapse"><parameter name="codes" value="101503"/></endpoint>"#,
        ),
    ])
    .unwrap();
    let id = config.endpoint_named("E").unwrap();
    let EndpointKind::Leaf(leaf) = &config.endpoint(id).kind else {
        panic!("not a leaf")
    };
    assert_eq!(leaf.suspension.suspend_codes, vec![101503]);
    assert_eq!(config.endpoint(id).name, "E");
    // A `defaultValue` stands in for a parameter the use leaves out.
    let with_default = T.replace(
        r#"name="codes"/>"#,
        r#"name="codes" defaultValue="101504"/>"#,
    );
    let config = load(&[
        ("t.xml", &with_default),
        (
            "e.xml",
            r#"<endpoint name="E" template="T" uri="http://h/x" xmlns="http://ws.apache.org/ns/synapse"/>"#,
        ),
    ])
    .unwrap();
    let id = config.endpoint_named("E").unwrap();
    let EndpointKind::Leaf(leaf) = &config.endpoint(id).kind else {
        panic!("not a leaf")
    };
    assert_eq!(leaf.suspension.suspend_codes, vec![101504]);
    let err = load(&[
        ("t.xml", T),
        (
            "s.xml",
            r#"<template name="S"><sequence><log/></sequence></template>"#,
        ),
        (
            "e.xml",
            r#"<definitions xmlns="http://ws.apache.org/ns/synapse">
<endpoint name="A" template="T" uri="http://h/x"><parameter name="code" value="1"/></endpoint>
<endpoint name="B" template="Nope" uri="http://h/x"/>
<endpoint name="C" template="S" uri="http://h/x"/>
<endpoint name="D" uri="http://h/x"><address uri="http://h/y"/></endpoint>
<endpoint name="F" template="T" uri="http://h/x"/>
</definitions>"#,
        ),
    ])
    .unwrap_err();
    let m = messages(&err);
    for expected in [
        "template `T` has no parameter `code` (did you mean `codes`?)",
        "endpoint template `Nope` is not defined",
        "template `S` is a sequence template, not an endpoint template",
        "`uri` on an <endpoint> goes with `template` (a template endpoint); put the address in <address uri>",
        "template `T` needs a value for parameter `codes`",
    ] {
        assert!(m.iter().any(|x| x == expected), "{expected} in {m:?}");
    }
}

#[test]
fn missing_folder_is_an_error() {
    let err = Mediation::load(Path::new("/definitely/not/here")).unwrap_err();
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

/// Endpoint groups, as the whole load sees them.
mod groups {
    use std::time::Duration;

    use super::Mediation;
    use crate::config::*;

    fn load(files: &[(&str, &str)]) -> Result<Config, Diagnostics> {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        Mediation::load(dir.path()).map(|m| m.config)
    }

    fn errors(files: &[(&str, &str)]) -> Vec<String> {
        let diags = load(files).unwrap_err();
        diags
            .sorted()
            .into_iter()
            .map(ToString::to_string)
            .collect()
    }

    const LEAVES: &str = r#"<definitions>
        <endpoint name="a"><address uri="http://127.0.0.1:1/a"/></endpoint>
        <endpoint name="b"><address uri="http://127.0.0.1:1/b"/><property name="loadbalance.weight" value="3"/></endpoint>
      </definitions>"#;

    #[test]
    fn groups_load_with_their_children_settings_and_session() {
        let config = load(&[
            ("leaves.xml", LEAVES),
            (
                "lb.xml",
                r#"<endpoint name="lb">
                     <session type="http"><sessionTimeout>5000</sessionTimeout></session>
                     <loadbalance algorithm="org.apache.synapse.endpoints.algorithms.WeightedRoundRobin" failover="false" buildMessage="true">
                       <endpoint key="a"><property name="loadbalance.weight" value="2"/></endpoint>
                       <endpoint key="b"/>
                       <endpoint name="inline"><failover dynamic="false"><endpoint key="a"/><endpoint key="b"/></failover></endpoint>
                       <failoverHttpStatusCodes>502, 5xx</failoverHttpStatusCodes>
                       <maxRetries>2</maxRetries><deadline>3000</deadline>
                       <retryNonIdempotent>true</retryNonIdempotent><replayBufferSize>2048</replayBufferSize>
                     </loadbalance>
                   </endpoint>"#,
            ),
        ])
        .unwrap();
        let id = config.endpoint_named("lb").unwrap();
        let crate::config::EndpointKind::Group(g) = &config.endpoint(id).kind else {
            panic!("not a group");
        };
        assert_eq!(
            g.strategy,
            Strategy::Loadbalance {
                algorithm: Algorithm::WeightedRoundRobin,
                failover: false,
                session: Some(SessionSpec {
                    kind: SessionKind::Http,
                    timeout: Duration::from_millis(5000)
                }),
            }
        );
        assert!(g.build_message);
        assert_eq!(g.children.len(), 3);
        assert_eq!(g.children[0].weight, Some(2));
        assert_eq!(
            g.children[1].weight, None,
            "taken from b's own property at run time"
        );
        assert!(g.policy.http_status_codes.contains(503));
        assert_eq!(g.policy.max_retries, Some(2));
        assert_eq!(g.policy.deadline, Some(Duration::from_millis(3000)));
        assert!(g.policy.retry_non_idempotent);
        assert_eq!(g.policy.replay_buffer, 2048);
        let inline = &config.endpoint(g.children[2].id);
        assert_eq!(inline.name, "inline");
        assert!(
            matches!(&inline.kind, crate::config::EndpointKind::Group(f) if f.strategy == Strategy::Failover { dynamic: false })
        );
    }

    #[test]
    fn group_mistakes_are_reported_where_they_are() {
        let all = errors(&[
            ("leaves.xml", LEAVES),
            (
                "both.xml",
                r#"<endpoint name="both"><loadbalance algorithm="roundRobin" policy="roundRobin"><endpoint key="a"/></loadbalance></endpoint>"#,
            ),
            (
                "weight.xml",
                r#"<endpoint name="w"><loadbalance algorithm="weightedRoundRobin"><endpoint key="a"><property name="loadbalance.weight" value="0"/></endpoint></loadbalance></endpoint>"#,
            ),
            (
                "dup.xml",
                r#"<endpoint name="dup"><failover><endpoint key="a"/><endpoint key="a"/></failover></endpoint>"#,
            ),
            (
                "empty.xml",
                r#"<endpoint name="empty"><failover/></endpoint>"#,
            ),
            (
                "session.xml",
                r#"<endpoint name="s"><session type="http"/><failover><endpoint key="a"/></failover></endpoint>"#,
            ),
            (
                "alg.xml",
                r#"<endpoint name="alg"><loadbalance algorithm="com.acme.Mine"><endpoint key="a"/></loadbalance></endpoint>"#,
            ),
            (
                "member.xml",
                r#"<endpoint name="m"><loadbalance><member hostName="h"/></loadbalance></endpoint>"#,
            ),
            (
                "codes.xml",
                r#"<endpoint name="c"><failover><endpoint key="a"/><failoverHttpStatusCodes>503 7xx</failoverHttpStatusCodes></failover></endpoint>"#,
            ),
            (
                "cycle.xml",
                r#"<definitions><endpoint name="x"><failover><endpoint key="y"/></failover></endpoint><endpoint name="y"><loadbalance><endpoint key="x"/></loadbalance></endpoint></definitions>"#,
            ),
            (
                "propweight.xml",
                r#"<endpoint name="pw"><address uri="http://h/"/><property name="loadbalance.weight" value="-2"/></endpoint>"#,
            ),
        ]);
        let joined = all.join("\n");
        for expected in [
            "both.xml:1:36: error: <loadbalance> takes either `algorithm` or `policy`, not both",
            "weight.xml:1:118: error: `loadbalance.weight` must be greater than 0, found `0`",
            "dup.xml:1:61: error: endpoint `a` is already a child of this group",
            "empty.xml:1:24: error: <failover> needs at least one <endpoint> child",
            "session.xml:1:20: error: <session> applies only to a <loadbalance> group",
            "alg.xml:1:35: error: the custom load-balance algorithm `com.acme.Mine` is not supported by Axon (see docs/migrating.md)",
            "member.xml:1:33: error: <member> needs an `httpPort` or an `httpsPort`",
            "codes.xml:1:49: error: `7xx` is not an HTTP status code",
            "cycle.xml:1:14: error: endpoint reference cycle: x -> y -> x",
            "propweight.xml:1:83: error: `loadbalance.weight` must be greater than 0, found `-2`",
        ] {
            assert!(
                joined.contains(expected),
                "missing `{expected}` in:\n{joined}"
            );
        }
    }

    #[test]
    fn a_prototype_inside_a_group_is_found_by_the_reachability_check() {
        let all = errors(&[
            (
                "api.xml",
                r#"<api name="Shop" context="/shop"><resource><inSequence><send><endpoint key="FO"/></send></inSequence></resource></api>"#,
            ),
            (
                "fo.xml",
                r#"<endpoint name="FO"><failover><endpoint key="a"/><endpoint key="Mock"/></failover></endpoint>"#,
            ),
            (
                "mock.xml",
                r#"<endpoint name="Mock"><prototype><response><body>{}</body></response></prototype></endpoint>"#,
            ),
            ("leaves.xml", LEAVES),
        ]);
        assert!(
            all.iter()
                .any(|e| e.contains("endpoint `FO` -> endpoint `Mock`")),
            "{all:?}"
        );
    }

    #[test]
    fn weights_under_round_robin_only_warn() {
        let config = load(&[
            ("leaves.xml", LEAVES),
            ("lb.xml", r#"<endpoint name="lb"><loadbalance><endpoint key="a"><property name="loadbalance.weight" value="2"/></endpoint></loadbalance></endpoint>"#),
        ])
        .unwrap();
        assert!(
            config.warnings[0]
                .message
                .contains("no effect with the roundRobin algorithm")
        );
    }
}

#[test]
fn enable_addressing_takes_a_version_and_accepts_a_separate_listener() {
    let ep = |inner: &str| {
        format!(r#"<endpoint name="ep"><address uri="http://h/x">{inner}</address></endpoint>"#)
    };
    let addressing = |inner: &str| {
        let config = load(&[("ep.xml", &ep(inner))]).unwrap();
        let id = config.endpoint_named("ep").unwrap();
        match &config.endpoint(id).kind {
            EndpointKind::Leaf(spec) => spec.addressing,
            other => panic!("a leaf, not {other:?}"),
        }
    };
    assert_eq!(addressing(""), None);
    assert_eq!(
        addressing("<enableAddressing/>"),
        Some(AddressingVersion::Final)
    );
    assert_eq!(
        addressing(r#"<enableAddressing version="submission" separateListener="true"/>"#),
        Some(AddressingVersion::Submission)
    );
    let err = load(&[("ep.xml", &ep(r#"<enableAddressing version="2004"/>"#))]).unwrap_err();
    assert!(
        messages(&err)
            .iter()
            .any(|m| m.contains("unknown WS-Addressing version `2004`")),
        "{:?}",
        messages(&err)
    );
}
