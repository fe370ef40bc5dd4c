//! Loading a whole WSO2 MI project: 1,000 artifacts in the MI 4.x layout (APIs with named
//! inline endpoints, endpoints, sequences, local entries and governance-registry sequences
//! used by `gov:` keys), and the same artifacts packed in a `.car`. Results are recorded in
//! docs/benchmarks.md.

use std::hint::black_box;
use std::io::Write;
use std::path::Path;

use axon::engine::Mediation;
use criterion::{Criterion, criterion_group, criterion_main};

const NS: &str = r#"xmlns="http://ws.apache.org/ns/synapse""#;
const MI: &str = "src/main/wso2mi/artifacts";
const REG: &str = "src/main/wso2mi/resources/registry/gov";

/// The 1,000 artifacts: (path in an MI project, text); a fifth of each kind.
fn artifacts() -> Vec<(String, String)> {
    (0..1000)
        .map(|i| match i % 5 {
            0 => (
                format!("{MI}/apis/Api{i}.xml"),
                format!(
                    r#"<api {NS} name="Api{i}" context="/api{i}"><resource methods="GET" uri-template="/view/{{id}}"><inSequence><sequence key="gov:sequences/Reg{r}.xml"/><sequence key="Entry{e}"/><call><endpoint name="QuoteEP"><address uri="http://127.0.0.1:9/q"/></endpoint></call><call><endpoint key="Ep{p}"/></call><respond/></inSequence><faultSequence/></resource></api>"#,
                    r = i + 4,
                    e = i + 3,
                    p = i + 1
                ),
            ),
            1 => (
                format!("{MI}/endpoints/Ep{i}.xml"),
                format!(r#"<endpoint {NS} name="Ep{i}"><address uri="http://127.0.0.1:9/e{i}"/></endpoint>"#),
            ),
            2 => (
                format!("{MI}/sequences/Seq{i}.xml"),
                format!(r#"<sequence {NS} name="Seq{i}"><log level="custom"><property name="n" value="{i}"/></log></sequence>"#),
            ),
            3 => (
                format!("{MI}/local-entries/Entry{i}.xml"),
                format!(r#"<localEntry {NS} key="Entry{i}"><sequence name="EntrySeq{i}"><property name="e" value="{i}"/></sequence></localEntry>"#),
            ),
            _ => (
                format!("{REG}/sequences/Reg{i}.xml"),
                format!(r#"<sequence {NS} name="Reg{i}"><property name="r" value="{i}"/></sequence>"#),
            ),
        })
        .collect()
}

fn write_project(dir: &Path) {
    for (rel, text) in artifacts() {
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }
}

/// The same artifacts as a `.car`: one folder per artifact, the registry sequences as one
/// registry resource artifact.
fn write_car(path: &Path) {
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).expect("car"));
    let options = zip::write::SimpleFileOptions::default();
    let mut put = |name: &str, text: &str| {
        zip.start_file(name, options).expect("entry");
        zip.write_all(text.as_bytes()).expect("write");
    };
    put("artifacts.xml", "<artifacts/>");
    let mut items = String::new();
    for (rel, text) in artifacts() {
        let file = rel.rsplit('/').next().expect("file name");
        if rel.starts_with(REG) {
            items += &format!(
                "<item><file>{file}</file><path>/_system/governance/sequences</path></item>"
            );
            put(&format!("Registry_1.0.0/resources/{file}"), &text);
        } else {
            put(&format!("{file}_1.0.0/{file}"), &text);
        }
    }
    put(
        "Registry_1.0.0/registry-info.xml",
        &format!("<resources>{items}</resources>"),
    );
    zip.finish().expect("finish");
}

fn project_load(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    write_project(dir.path());
    let car = dir.path().join("app.car");
    write_car(&car);
    let mut group = c.benchmark_group("project");
    group.sample_size(10);
    group.bench_function("load_mi_project_1000_artifacts", |b| {
        b.iter(|| black_box(Mediation::load(dir.path()).expect("valid")))
    });
    group.bench_function("load_car_1000_artifacts", |b| {
        b.iter(|| black_box(Mediation::load(&car).expect("valid")))
    });
    group.finish();
}

criterion_group!(benches, project_load);
criterion_main!(benches);
