//! WSO2 MI and Synapse compatibility beyond single request/response cases: names local to
//! an artifact, project layouts, the registry and `axon check --report`.

use crate::support::TestAxon;
use crate::support::backend::Backend;

/// Two resources of one API and a second API each hold an inline endpoint named `QuoteEP`:
/// in MI such names are local to their artifact, so nothing collides, each is its own
/// actor shown as `Artifact/resource/name`, and switching one off leaves the others alone.
#[actix_rt::test]
async fn inline_endpoint_names_are_local_to_their_artifact() {
    let backend = Backend::named("b").await;
    let ep = |path: &str| {
        format!(
            r#"<send><endpoint name="QuoteEP"><address uri="{}"/></endpoint></send>"#,
            backend.url(path)
        )
    };
    let api = format!(
        r#"<api name="StockAPI" context="/stock">
  <resource methods="GET" uri-template="/quote"><inSequence>{}</inSequence></resource>
  <resource methods="GET" url-mapping="/order"><inSequence>{}</inSequence></resource>
</api>"#,
        ep("/q"),
        ep("/o")
    );
    let other = format!(
        r#"<api name="OtherAPI" context="/other"><resource methods="GET"><inSequence>{}</inSequence></resource></api>"#,
        ep("/x")
    );
    let global = format!(
        r#"<endpoint name="QuoteEP"><address uri="{}"/></endpoint>"#,
        backend.url("/g")
    );
    let axon = TestAxon::start(&[("a.xml", &api), ("b.xml", &other), ("ep.xml", &global)]).await;
    for path in ["/stock/quote", "/stock/order", "/other"] {
        assert_eq!(axon.get(path).await.status, 200, "{path}");
    }
    for name in [
        "StockAPI%2Fquote%2FQuoteEP",
        "StockAPI%2Forder%2FQuoteEP",
        "OtherAPI%2Fdefault%2FQuoteEP",
        "QuoteEP",
    ] {
        let report = axon.endpoint(name).await;
        let sent = if name == "QuoteEP" { 0 } else { 1 };
        assert_eq!(report["counters"]["sent"], sent, "{name}: {report}");
    }
    let (status, _) = axon
        .admin_post("/health/actors/StockAPI%2Fquote%2FQuoteEP/off")
        .await;
    assert_eq!(status, 200);
    assert_eq!(axon.get("/stock/quote").await.status, 503);
    assert_eq!(axon.get("/stock/order").await.status, 200);
    assert_eq!(axon.state("StockAPI%2Forder%2FQuoteEP").await, "ACTIVE");

    // A reload finds the same names, so the endpoint keeps its actor and stays OFF.
    let (status, body) = axon.admin_post("/config/reload").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(axon.state("StockAPI%2Fquote%2FQuoteEP").await, "OFF");
    assert_eq!(axon.get("/stock/quote").await.status, 503);
}

fn check(args: &[&str]) -> (bool, String, String) {
    let out = assert_cmd::Command::cargo_bin("axon")
        .expect("the axon binary is built")
        .arg("check")
        .args(args)
        .output()
        .expect("axon check runs");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

const MI: &str = "src/main/wso2mi/artifacts";
const API: &str = r#"<api xmlns="http://ws.apache.org/ns/synapse" name="A" context="/a"><resource methods="GET"><inSequence><respond/></inSequence></resource></api>"#;

/// An MI project with an inbound endpoint and a data service: the layout is printed, both
/// are listed as not supported with their files (warnings, so the project still loads),
/// `--deny-warnings` makes them errors, and `--report` sorts what the project uses.
#[test]
fn an_mi_project_lists_what_axon_does_not_run() {
    let dir = tempfile::tempdir().unwrap();
    let inbound = r#"<inboundEndpoint xmlns="http://ws.apache.org/ns/synapse" name="In" protocol="http" sequence="s"/>"#;
    crate::support::write(dir.path(), &format!("{MI}/apis/A.xml"), API);
    crate::support::write(
        dir.path(),
        &format!("{MI}/inbound-endpoints/In.xml"),
        inbound,
    );
    crate::support::write(dir.path(), &format!("{MI}/data-services/D.dbs"), "<data/>");
    crate::support::write(dir.path(), "pom.xml", "<project/>");
    let path = dir.path().to_str().unwrap();

    let (ok, _, err) = check(&[path]);
    assert!(ok, "{err}");
    assert!(err.contains("layout: MI integration project"), "{err}");
    assert!(
        err.contains("In.xml:1:1: warning: inbound endpoints"),
        "{err}"
    );
    assert!(
        err.contains("D.dbs:1:1: warning: data services are not supported by Axon"),
        "{err}"
    );

    let (ok, _, err) = check(&["--deny-warnings", path]);
    assert!(!ok, "{err}");

    let (_, report, _) = check(&["--report", path]);
    let honoured = report.find("== honoured").unwrap();
    let ignored = report.find("== accepted with no effect").unwrap();
    assert!(report[honoured..ignored].contains("1 API(s)"), "{report}");
    assert!(report[ignored..].contains("In.xml"), "{report}");
}

/// A `.car` named directly is read as one: its layout is printed and its artifacts load;
/// a zip that is not a Carbon application is refused with the reason.
#[test]
fn a_car_archive_loads_and_a_plain_zip_is_refused() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let write_zip = |name: &str, entries: &[(&str, &str)]| {
        let path = dir.path().join(name);
        let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
        for (entry, text) in entries {
            zip.start_file(*entry, zip::write::SimpleFileOptions::default())
                .unwrap();
            zip.write_all(text.as_bytes()).unwrap();
        }
        zip.finish().unwrap();
        path
    };
    let car = write_zip(
        "app.car",
        &[
            ("artifacts.xml", "<artifacts/>"),
            ("A_1.0.0/A-1.0.0.xml", API),
        ],
    );
    let (ok, out, err) = check(&[car.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(err.contains("layout: Carbon application (.car)"), "{err}");
    assert!(out.contains("1 API(s)"), "{out}");

    let zip = write_zip("plain.car", &[("A.xml", API)]);
    let (ok, _, err) = check(&[zip.to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains("not a Carbon application"), "{err}");
}

/// `axon serve --deny-warnings` refuses to start a project with an artifact Axon does not
/// run (exit 64), rather than serving without it.
#[test]
fn serve_with_deny_warnings_refuses_what_axon_does_not_run() {
    let dir = tempfile::tempdir().unwrap();
    let task = r#"<task xmlns="http://ws.apache.org/ns/synapse" name="T" class="x"/>"#;
    crate::support::write(dir.path(), &format!("{MI}/apis/A.xml"), API);
    crate::support::write(dir.path(), &format!("{MI}/tasks/T.xml"), task);
    let out = assert_cmd::Command::cargo_bin("axon")
        .expect("the axon binary is built")
        .args(["serve", "--deny-warnings", "--no-grpc", "--http-port", "0"])
        .args(["--management-port", "0", "--mediation"])
        .arg(dir.path())
        .timeout(std::time::Duration::from_secs(20))
        .output()
        .expect("axon serve runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{err}");
    assert!(
        err.contains("warning(s)") && err.contains("denied"),
        "{err}"
    );
}

/// Each layout is detected from its shape and printed first: a single `synapse.xml`, a
/// `synapse-config` folder, an Integration Studio project, a plain folder.
#[test]
fn the_layout_is_detected_and_printed() {
    let dir = tempfile::tempdir().unwrap();
    let defs =
        format!(r#"<definitions xmlns="http://ws.apache.org/ns/synapse">{API}</definitions>"#);
    let root = dir.path();
    crate::support::write(root, "synapse/synapse-config/synapse.xml", &defs);
    crate::support::write(
        root,
        "studio/ShopConfigs/src/main/synapse-config/api/A.xml",
        API,
    );
    crate::support::write(root, "studio/ShopConfigs/pom.xml", "<project/>");
    crate::support::write(root, "plain/apis/A.xml", API);
    for (path, layout) in [
        ("synapse/synapse-config/synapse.xml", "single synapse.xml"),
        ("synapse/synapse-config", "Synapse synapse-config folder"),
        ("studio", "Integration Studio project"),
        ("plain", "folder of Synapse XML"),
    ] {
        let (ok, out, err) = check(&[root.join(path).to_str().unwrap()]);
        assert!(ok, "{path}: {err}");
        assert!(err.contains(&format!("layout: {layout}")), "{path}: {err}");
        assert!(out.contains("1 API(s)"), "{path}: {out}");
    }
}

/// A registry resource that nothing uses does not stop the load when it is malformed (a
/// warning); a key that names a missing registry resource is an error.
#[test]
fn registry_resources_are_checked_where_used() {
    let dir = tempfile::tempdir().unwrap();
    let reg = "src/main/wso2mi/resources/registry/gov";
    crate::support::write(dir.path(), &format!("{MI}/apis/A.xml"), API);
    crate::support::write(
        dir.path(),
        &format!("{reg}/xslt/broken.xslt"),
        "<xsl:stylesheet",
    );
    let path = dir.path().to_str().unwrap();
    let (ok, _, err) = check(&[path]);
    assert!(ok, "{err}");
    assert!(
        err.contains("registry resource `gov:xslt/broken.xslt` is not usable"),
        "{err}"
    );

    let uses = r#"<api xmlns="http://ws.apache.org/ns/synapse" name="B" context="/b"><resource methods="GET"><inSequence><sequence key="gov:sequences/Missing.xml"/><respond/></inSequence></resource></api>"#;
    crate::support::write(dir.path(), &format!("{MI}/apis/B.xml"), uses);
    let (ok, _, err) = check(&[path]);
    assert!(!ok);
    assert!(
        err.contains("sequence `gov:sequences/Missing.xml` is not defined"),
        "{err}"
    );
}
