//! Peak memory of the `axon` process while 10 MiB SOAP messages go through a proxy service:
//! a pass-through proxy (streamed and checked chunk by chunk) against one whose endpoint
//! converts SOAP 1.1 to 1.2 (the body is read into memory to convert it).
//!
//! `cargo bench --bench soap_stream` runs the full measurement and prints it (recorded in
//! docs/benchmarks.md). Under `cargo test` (no `--bench` argument) it runs once with a
//! small message, so it always builds and works.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const S11: &str = "http://schemas.xmlsoap.org/soap/envelope/";

struct Axon(Child);

impl Drop for Axon {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (size, rounds) = if full {
        (10 * 1024 * 1024, 5)
    } else {
        (256 * 1024, 1)
    };
    let backend = start_backend();
    let dir = tempfile::tempdir().expect("tempdir");
    let backend_url = format!("http://127.0.0.1:{backend}/services/Sink");
    std::fs::write(
        dir.path().join("proxies.xml"),
        format!(
            r#"<definitions xmlns="http://ws.apache.org/ns/synapse">
  <proxy name="Pass"><target><endpoint><address uri="{backend_url}"/></endpoint></target></proxy>
  <proxy name="Convert"><target><endpoint><address uri="{backend_url}" format="soap12"/></endpoint></target></proxy>
</definitions>"#
        ),
    )
    .expect("write config");
    // Every port is 0 (never a default port a running `axon serve` may hold): the bound
    // traffic port is read back from the start-up line.
    let mut axon = Axon(
        Command::new(env!("CARGO_BIN_EXE_axon"))
            .args(["serve", "--workers", "1", "--max-body-bytes", "67108864"])
            .args(["--http-port", "0", "--management-port", "0", "--no-grpc"])
            .arg("--mediation")
            .arg(dir.path())
            .env("AXON_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start axon"),
    );
    let http = wait_for(&mut axon.0);
    let pid = axon.0.id();
    let message = envelope(size);
    println!(
        "soap_stream: {} rounds of a {:.1} MiB SOAP 1.1 message",
        rounds,
        size as f64 / 1048576.0
    );
    for proxy in ["Pass", "Convert"] {
        // Warm up the connection pools and allocator, then measure the growth of the peak.
        post(http, proxy, &envelope(1024));
        let before = status_kib(pid, "VmRSS:");
        reset_peak(pid);
        for _ in 0..rounds {
            let status = post(http, proxy, &message);
            assert_eq!(status, 200, "{proxy} answered {status}");
        }
        let peak = status_kib(pid, "VmHWM:");
        println!(
            "soap_stream/{proxy}: rss before {:.1} MiB, peak {:.1} MiB, peak growth {:.1} MiB ({:.2}x the message)",
            before as f64 / 1024.0,
            peak as f64 / 1024.0,
            peak.saturating_sub(before) as f64 / 1024.0,
            peak.saturating_sub(before) as f64 * 1024.0 / size as f64
        );
    }
}

fn envelope(size: usize) -> Vec<u8> {
    let mut out = format!(
        "<soapenv:Envelope xmlns:soapenv=\"{S11}\"><soapenv:Body><up:upload xmlns:up=\"urn:up\">"
    );
    while out.len() < size / 2 {
        out.push_str("<up:item id=\"1\">0123456789abcdef</up:item>");
    }
    out.push_str("<up:blob>");
    while out.len() + 64 < size {
        out.push_str("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=");
    }
    out.push_str("</up:blob></up:upload></soapenv:Body></soapenv:Envelope>");
    out.into_bytes()
}

/// Resets the kernel's peak-RSS counter of `pid` (writing 5 to clear_refs), so each proxy
/// is measured on its own. Without permission the peak of the whole run is reported.
fn reset_peak(pid: u32) {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").ok();
}

fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The traffic port from axon's "Axon is listening" line; panics with everything axon
/// printed when it exits (or goes quiet for 30 s) without listening.
fn wait_for(axon: &mut Child) -> u16 {
    let stderr = axon.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            // Keeps reading after the port is found, so axon never writes to a closed pipe.
            tx.send(line).ok();
        }
    });
    let mut printed = Vec::new();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(30)) {
        if line.contains("Axon is listening")
            && let Some(port) = http_port(&line)
        {
            return port;
        }
        printed.push(line);
    }
    panic!(
        "axon did not start listening; it printed:\n{}",
        printed.join("\n")
    );
}

/// The port of `http_addr=IP:PORT` in a log line.
fn http_port(line: &str) -> Option<u16> {
    let addr = line.split("http_addr=").nth(1)?.split_whitespace().next()?;
    addr.rsplit_once(':')?.1.parse().ok()
}

/// POSTs `body` to `/services/<proxy>` in 64 KiB writes and returns the status.
fn post(port: u16, proxy: &str, body: &[u8]) -> u16 {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let head = format!(
        "POST /services/{proxy} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/xml; charset=UTF-8\r\nSOAPAction: \"urn:upload\"\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).expect("write head");
    for chunk in body.chunks(64 * 1024) {
        stream.write_all(chunk).expect("write body");
    }
    let mut response = Vec::new();
    stream.read_to_end(&mut response).expect("read response");
    let text = String::from_utf8_lossy(&response);
    text.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// A SOAP sink on its own thread: reads each request body (discarding it) and answers with
/// a small envelope of the request's version.
fn start_backend() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind backend");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || serve(stream));
        }
    });
    port
}

fn serve(stream: TcpStream) {
    let mut reader = BufReader::new(stream);
    loop {
        let mut length = 0usize;
        let mut soap12 = false;
        let mut line = String::new();
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let lower = line.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
            if lower.starts_with("content-type:") && lower.contains("soap+xml") {
                soap12 = true;
            }
            if line == "\r\n" {
                break;
            }
        }
        let mut sink = vec![0u8; 64 * 1024];
        let mut left = length;
        while left > 0 {
            let want = left.min(sink.len());
            let n = reader.read(&mut sink[..want]).unwrap_or(0);
            if n == 0 {
                return;
            }
            left -= n;
        }
        let (ns, ct) = if soap12 {
            (
                "http://www.w3.org/2003/05/soap-envelope",
                "application/soap+xml",
            )
        } else {
            (S11, "text/xml")
        };
        let body =
            format!("<s:Envelope xmlns:s=\"{ns}\"><s:Body><r>{length}</r></s:Body></s:Envelope>");
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: {ct}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let stream = reader.get_mut();
        if stream.write_all(head.as_bytes()).is_err() || stream.write_all(body.as_bytes()).is_err()
        {
            return;
        }
    }
}
