//! Data-driven mediation tests: one folder per case under `tests/fixtures/`, run by
//! `mediation_fixtures` below. Adding a mediator behaviour means adding a folder.
//!
//! A case folder holds:
//!
//! - `about.txt`: one sentence saying what the case shows.
//! - `mediation/`: the configuration (any layout, as in a real mediation folder).
//! - `request.http`: the request Axon receives: `METHOD /path?query`, header lines, a
//!   blank line, the body.
//! - `expected.http`: the response the client must get: the status, header lines that
//!   must be present with these values (`!name` means absent), and, after a blank line,
//!   the exact body (leave out the blank line to not check the body).
//! - `backend.http` (optional): what the recording backend answers: status, `Content-Type`,
//!   blank line, body.
//! - `expected-backend.http` (optional): every request the backend must have received, in
//!   order, separated by lines holding `===`: `METHOD /path?query`, header lines as above,
//!   blank line, exact body. An empty file means the backend must see nothing.
//! - `expected-log.txt` (optional): lines that must each appear in some line written by
//!   the `log` mediator.
//! - `allow-to.txt` (optional): the `axon serve --allow-to` entries, one a line.
//!
//! In every file, `{{backend}}` is the recording backend's base URL and `{{dead}}` a URL
//! on which connections are refused (both on 127.0.0.1; `{{backend-port}}` and
//! `{{dead-port}}` are their ports). A single trailing newline of a file is not part of
//! the body. Set `AXON_FIXTURE=<substring>` to run only the matching cases.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, Once};

use axon::base::allow_to::AllowTo;
use axon::base::limits::Limits;

use crate::support::backend::{Backend, Canned};
use crate::support::{TestAxon, dead_port};

static LOG_LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());
static CAPTURE: Once = Once::new();

#[actix_rt::test]
async fn mediation_fixtures() {
    run_corpus("tests/fixtures").await;
}

/// The compatibility corpus: configurations written the way WSO2 MI's documentation and
/// tooling write them (not for Axon), in the same case format (see `tests/compat/README.md`).
#[actix_rt::test]
async fn compat_corpus() {
    run_corpus("tests/compat").await;
}

/// Runs every case folder under `dir` (relative to the crate) and reports all failures.
async fn run_corpus(dir: &str) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let only = std::env::var("AXON_FIXTURE").ok();
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|error| panic!("{dir} exists: {error}"))
        .filter_map(|it| it.ok().map(|it| it.path()))
        .filter(|p| p.is_dir())
        .filter(|p| {
            only.as_deref().is_none_or(|o| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().contains(o))
            })
        })
        .collect();
    cases.sort();
    assert!(!cases.is_empty(), "no cases found in {}", root.display());
    capture_logs();
    let mut failures = Vec::new();
    for case in &cases {
        let name = case
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if let Err(problem) = run_case(case).await {
            let about = read(case, "about.txt").unwrap_or_default();
            failures.push(format!("--- {name}: {}\n{problem}", about.trim()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases in {dir} failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// Installs a global subscriber that keeps what the `log` mediator writes.
fn capture_logs() {
    CAPTURE.call_once(|| {
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                "axon::mediation::log=trace",
            ))
            .with_ansi(false)
            .with_writer(|| LogWriter)
            .finish();
        tracing::subscriber::set_global_default(subscriber)
            .expect("the fixture runner must own the global tracing subscriber");
    });
}

struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let mut lines = LOG_LINES.lock().unwrap_or_else(|p| p.into_inner());
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            lines.push(line.to_owned());
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn read(case: &Path, file: &str) -> Option<String> {
    std::fs::read_to_string(case.join(file)).ok()
}

/// A message as written in a fixture: first line, headers, and the body if a blank line
/// separates one.
struct HttpText {
    first: String,
    headers: Vec<(String, String)>,
    body: Option<String>,
}

fn parse_http(text: &str) -> HttpText {
    let text = text.strip_suffix('\n').unwrap_or(text);
    let (head, body) = match text.split_once("\n\n") {
        Some((h, b)) => (h, Some(b.to_owned())),
        None => match text.strip_suffix('\n') {
            Some(h) => (h, Some(String::new())),
            None => (text, None),
        },
    };
    let mut lines = head.lines();
    let first = lines.next().unwrap_or_default().trim().to_owned();
    let headers = lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| match l.split_once(':') {
            Some((k, v)) => (k.trim().to_owned(), v.trim().to_owned()),
            None => (l.trim().to_owned(), String::new()),
        })
        .collect();
    HttpText {
        first,
        headers,
        body,
    }
}

fn check_headers(
    what: &str,
    expected: &[(String, String)],
    actual: &dyn Fn(&str) -> Option<String>,
    problems: &mut Vec<String>,
) {
    for (name, value) in expected {
        match name.strip_prefix('!') {
            Some(absent) => {
                if let Some(v) = actual(absent) {
                    problems.push(format!(
                        "{what}: header `{absent}` should be absent, found `{v}`"
                    ));
                }
            }
            None => match actual(name) {
                Some(v) if v == *value => {}
                Some(v) => problems.push(format!(
                    "{what}: header `{name}` is `{v}`, expected `{value}`"
                )),
                None => problems.push(format!(
                    "{what}: header `{name}` is missing (expected `{value}`)"
                )),
            },
        }
    }
}

fn check_body(what: &str, expected: Option<&str>, actual: &[u8], problems: &mut Vec<String>) {
    if let Some(expected) = expected
        && actual != expected.as_bytes()
    {
        problems.push(format!(
            "{what}: body differs\n  expected: {expected}\n  actual:   {}",
            String::from_utf8_lossy(actual)
        ));
    }
}

async fn run_case(case: &Path) -> Result<(), String> {
    let dead_port = dead_port();
    let dead = format!("http://127.0.0.1:{dead_port}");
    let canned = match read(case, "backend.http") {
        Some(text) => {
            let spec = parse_http(&text);
            let content_type = spec
                .headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| "text/plain".into());
            Canned {
                status: spec
                    .first
                    .parse()
                    .map_err(|_| format!("backend.http: bad status `{}`", spec.first))?,
                body: spec.body.unwrap_or_default().into_bytes(),
                content_type: Box::leak(content_type.into_boxed_str()),
                delay: std::time::Duration::ZERO,
            }
        }
        None => Canned::ok("backend"),
    };
    let backend = Backend::start(move |_| canned.clone()).await;
    let base = backend.url("");
    let fill = |text: &str| {
        text.replace("{{backend}}", &base)
            .replace("{{dead}}", &dead)
            .replace("{{backend-port}}", base.rsplit(':').next().unwrap_or(""))
            .replace("{{dead-port}}", &dead_port.to_string())
    };

    let mut files: Vec<(String, String)> = Vec::new();
    if case.join("mediation").is_dir() {
        collect(&case.join("mediation"), &case.join("mediation"), &mut files)?;
    }
    let car = read_car(case, &fill)?;
    if files.is_empty() && car.is_none() {
        return Err("mediation/ holds no files".into());
    }
    let dir = tempfile::tempdir().map_err(|error| error.to_string())?;
    for (rel, text) in &files {
        crate::support::write(dir.path(), rel, &fill(text));
    }
    if let Some(bytes) = car {
        let path = dir.path().join("carbonapps/app.car");
        std::fs::create_dir_all(dir.path().join("carbonapps"))
            .map_err(|error| error.to_string())?;
        std::fs::write(path, bytes).map_err(|error| error.to_string())?;
    }
    let axon = TestAxon::start_dir_with(dir, limits(case, &fill)?).await;

    let request = parse_http(&fill(
        &read(case, "request.http").ok_or("request.http is missing")?,
    ));
    let (method, path) = request.first.split_once(' ').ok_or_else(|| {
        format!(
            "request.http: first line `{}` is not `METHOD /path`",
            request.first
        )
    })?;
    let headers: Vec<(&str, &str)> = request
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let body = request
        .body
        .as_deref()
        .filter(|b| !b.is_empty())
        .map(str::as_bytes);
    let logs_before = LOG_LINES.lock().map(|l| l.len()).unwrap_or(0);
    let reply = axon.request(method, path.trim(), body, &headers).await;

    let mut problems = Vec::new();
    let expected = parse_http(&fill(
        &read(case, "expected.http").ok_or("expected.http is missing")?,
    ));
    if reply.status.to_string() != expected.first {
        problems.push(format!(
            "response: status {} (expected {}), body: {}",
            reply.status,
            expected.first,
            reply.text()
        ));
    }
    check_headers(
        "response",
        &expected.headers,
        &|n| reply.header(n),
        &mut problems,
    );
    check_body(
        "response",
        expected.body.as_deref(),
        &reply.body,
        &mut problems,
    );

    if let Some(text) = read(case, "expected-backend.http") {
        let seen = backend.seen.lock().map(|s| s.clone()).unwrap_or_default();
        let wanted: Vec<HttpText> = if text.trim().is_empty() {
            Vec::new()
        } else {
            fill(&text).split("\n===\n").map(parse_http).collect()
        };
        if seen.len() != wanted.len() {
            problems.push(format!(
                "backend: saw {} request(s), expected {}: {:?}",
                seen.len(),
                wanted.len(),
                seen.iter()
                    .map(|s| format!("{} {}", s.method, s.uri))
                    .collect::<Vec<_>>()
            ));
        }
        for (i, (want, got)) in wanted.iter().zip(&seen).enumerate() {
            let what = format!("backend request {}", i + 1);
            let line = format!("{} {}", got.method, got.uri);
            if line != want.first {
                problems.push(format!("{what}: `{line}`, expected `{}`", want.first));
            }
            check_headers(
                &what,
                &want.headers,
                &|n| got.header(n).map(str::to_owned),
                &mut problems,
            );
            check_body(&what, want.body.as_deref(), &got.body, &mut problems);
        }
    }

    if let Some(text) = read(case, "expected-log.txt") {
        let lines = LOG_LINES
            .lock()
            .map(|l| l[logs_before..].to_vec())
            .unwrap_or_default();
        for wanted in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let wanted = fill(wanted);
            if !lines.iter().any(|l| l.contains(&wanted)) {
                problems.push(format!(
                    "log: no line contains `{wanted}`; logged:\n  {}",
                    lines.join("\n  ")
                ));
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

/// A case's `car/` folder (its files with the placeholders filled) as a `.car` archive,
/// which the runner puts in the mediation folder's `carbonapps/`, as MI deploys it.
/// The limits of a case: the default ones, with its `allow-to.txt` entries.
fn limits(case: &Path, fill: &dyn Fn(&str) -> String) -> Result<Limits, String> {
    let Some(text) = read(case, "allow-to.txt") else {
        return Ok(Limits::default());
    };
    let text = fill(&text);
    let entries: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let list = AllowTo::new(&entries).map_err(|error| format!("allow-to.txt: {error}"))?;
    Ok(Limits {
        // One list per case, for the life of the test process (as for a server).
        allow_to: std::sync::Arc::new(list),
        ..Limits::default()
    })
}

fn read_car(case: &Path, fill: &dyn Fn(&str) -> String) -> Result<Option<Vec<u8>>, String> {
    let root = case.join("car");
    if !root.is_dir() {
        return Ok(None);
    }
    let mut files = Vec::new();
    collect(&root, &root, &mut files)?;
    files.sort();
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default();
    for (rel, text) in files {
        zip.start_file(rel, options)
            .map_err(|error| error.to_string())?;
        zip.write_all(fill(&text).as_bytes())
            .map_err(|error| error.to_string())?;
    }
    let done = zip.finish().map_err(|error| error.to_string())?;
    Ok(Some(done.into_inner()))
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) -> Result<(), String> {
    let entries = std::fs::read_dir(dir).map_err(|it| format!("{}: {it}", dir.display()))?;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(root, &path, out)?;
        } else {
            let rel = path
                .strip_prefix(root)
                .map_err(|it| it.to_string())?
                .to_string_lossy()
                .into_owned();
            let text = std::fs::read_to_string(&path).map_err(|it| format!("{rel}: {it}"))?;
            out.push((rel, text));
        }
    }
    Ok(())
}
