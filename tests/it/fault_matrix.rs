//! The standing fault and abuse matrix (issues 11 and 19): every misbehaving backend and
//! every abusive client, against a REST API (whose resource reads the payload) and a
//! pass-through SOAP proxy, each over a leaf, a failover group and a load-balance group, and
//! gRPC APIs over a leaf and a failover group.
//!
//! For every cell: exactly one well-formed outcome within [`CELL_DEADLINE`] (heavy rows:
//! [`HEAVY_DEADLINE`]) (a status line,
//! or a visibly incomplete response when the backend's body was cut after its head); the
//! endpoint's health moves for the backend's faults and never for the client's; a POST
//! reaches the backends at most once; a good request to a healthy API succeeds afterwards;
//! the process RSS after each heavy row is within [`RSS_BOUND_KB`] of what it was before.
//!
//! Every cell runs, failing or not; the matrix is printed as a Markdown table
//! (`cargo test --test it fault_matrix -- --nocapture`), then the test fails if any cell did.
//! The table is kept in docs/reliability.md.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use futures_util::StreamExt as _;
use futures_util::future::join_all;
use prost::Message as _;
use tokio::time::Instant;

use crate::support::grpc::GrpcBackend;
use crate::support::grpc::pb::EchoRequest;
use crate::support::scripted::{
    Act, Ending, H2Act, RawClient, Scripted, ScriptedH2, content_length, status_of,
};
use crate::support::{TestAxon, dead_port};

/// The longest any cell may take to get its one outcome.
const CELL_DEADLINE: Duration = Duration::from_secs(5);
/// The same for the heavy rows (large messages, on an unoptimised build, under load).
const HEAVY_DEADLINE: Duration = Duration::from_secs(15);
/// The endpoint `<timeout>` of the faulty leaves of the rows about time (black holes,
/// drips, stalls), so those cells are fast.
const SHORT_TIMEOUT_MS: u64 = 300;
/// The endpoint `<timeout>` of the faulty leaves of the other rows: long enough that a
/// loaded machine is not taken for a slow backend.
const TIMEOUT_MS: u64 = 2000;
/// The endpoint `<timeout>` of the leaves of heavy rows (which test sizes, not time: an
/// unoptimised build's own slowness with a large message is not the backend's), and of
/// every healthy leaf.
const HEAVY_TIMEOUT_MS: u64 = 10_000;
/// How much the process RSS may stay above its level before a heavy row, after the row.
const RSS_BOUND_KB: u64 = 200 * 1024;
/// The body every well-behaved backend answers with, to tell a whole body from a lost one.
const MARKER: &str = "whole-body-0123456789";
/// How many HTTP rows run at once (each row is one Axon and six cells).
const ROWS_AT_ONCE: usize = 4;

const S11: &str = "http://schemas.xmlsoap.org/soap/envelope/";
const S12: &str = "http://www.w3.org/2003/05/soap-envelope";

/// The Axon-wide limits of every cell: short, so a cell that waits for one is fast.
fn fault_limits(heavy: bool) -> axon::base::limits::Limits {
    axon::base::limits::Limits {
        // A group's tries share one deadline; with large messages on an unoptimised build,
        // reading and parsing alone can take seconds.
        global_timeout: Duration::from_millis(if heavy { HEAVY_TIMEOUT_MS } else { 2000 }),
        // Short, so that the stalled-body cells answer 408 well within CELL_DEADLINE.
        body_read_timeout: Duration::from_millis(500),
        ..axon::base::limits::Limits::default()
    }
}

// ---------------------------------------------------------------------------------------
// The matrix: columns, rows, and what each cell must show.
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Front {
    Rest,
    Soap,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Leaf,
    Failover,
    Balance,
}

/// The HTTP columns; the gRPC ones follow them in the table.
const COLUMNS: [(Front, Shape); 6] = [
    (Front::Rest, Shape::Leaf),
    (Front::Rest, Shape::Failover),
    (Front::Rest, Shape::Balance),
    (Front::Soap, Shape::Leaf),
    (Front::Soap, Shape::Failover),
    (Front::Soap, Shape::Balance),
];
const GRPC_COLUMNS: [Shape; 2] = [Shape::Leaf, Shape::Failover];
const TITLES: [&str; 8] = [
    "REST leaf",
    "REST failover",
    "REST load-balance",
    "SOAP leaf",
    "SOAP failover",
    "SOAP load-balance",
    "gRPC leaf",
    "gRPC failover",
];

/// One acceptable outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    /// A complete answer with this status (for a SOAP fault: the `axon:status` it carries).
    Is(u16),
    /// A complete answer with this status and the backend's whole body.
    Whole(u16),
    /// The head arrived, then the connection ended short of the body: a visible cut.
    Cut,
    /// A gRPC call ended with this `grpc-status`.
    Grpc(u32),
}

/// How the endpoint's health must move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Health {
    /// A member that got the fault leaves ACTIVE or counts a failure.
    Moves,
    /// No member leaves ACTIVE or counts a failure.
    Stays,
    /// Moves when the outcome is a failure, stays when it is a success.
    FollowsOutcome,
    /// Not asserted (the healthy member is still checked).
    Any,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientFault {
    SlowBody,
    CutBody,
    StalledBody,
    DeepXml,
    WideXml,
    ManyAttributes,
    DeepJson,
    WideJson,
    OversizedHeader,
    GarbageLine,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GrpcFault {
    StreamReset,
    BadFrames,
    Silent,
    NoReader,
}

#[derive(Debug, Clone)]
enum Fault {
    /// Backend members run `rest`/`soap` (per front; `None`: a port that refuses), and the
    /// POST reaches them (`reaches`) or not. `convert`: the leaves convert the message
    /// (REST: JSON to SOAP 1.1; SOAP: 1.1 to 1.2), so the response is converted back.
    Backend {
        rest: Option<Vec<Act>>,
        soap: Option<Vec<Act>>,
        reaches: bool,
        convert: bool,
    },
    Client(ClientFault),
    Grpc(GrpcFault),
}

#[derive(Debug, Clone)]
struct Row {
    name: &'static str,
    fault: Fault,
    /// What a leaf's cell may show.
    leaf: &'static [Want],
    /// What a group's cell may show, when it differs (the healthy member can answer).
    group: Option<&'static [Want]>,
    /// What a SOAP cell may show, when it differs.
    soap: Option<&'static [Want]>,
    health: Health,
    /// Memory- or CPU-heavy: runs alone, with the RSS measured around it.
    heavy: bool,
    /// The `<timeout>` of the faulty leaves.
    timeout_ms: u64,
}

impl Row {
    fn new(name: &'static str, fault: Fault, leaf: &'static [Want], health: Health) -> Row {
        Row {
            name,
            fault,
            leaf,
            group: None,
            soap: None,
            health,
            heavy: false,
            timeout_ms: TIMEOUT_MS,
        }
    }

    /// A row whose fault is about time: its faulty leaves time out after 300 ms.
    fn timed(mut self) -> Row {
        self.timeout_ms = SHORT_TIMEOUT_MS;
        self
    }

    fn backend(name: &'static str, script: Vec<Act>, leaf: &'static [Want], h: Health) -> Row {
        let fault = Fault::Backend {
            rest: Some(script.clone()),
            soap: Some(script),
            reaches: true,
            convert: false,
        };
        Row::new(name, fault, leaf, h)
    }

    fn client(name: &'static str, fault: ClientFault, leaf: &'static [Want]) -> Row {
        Row::new(name, Fault::Client(fault), leaf, Health::Stays)
    }

    fn heavy(mut self) -> Row {
        self.heavy = true;
        self.timeout_ms = HEAVY_TIMEOUT_MS;
        self
    }

    fn deadline(&self) -> Duration {
        if self.heavy {
            HEAVY_DEADLINE
        } else {
            CELL_DEADLINE
        }
    }

    fn wants(&self, front: Front, shape: Shape) -> &'static [Want] {
        match (front, shape) {
            (Front::Soap, _) if self.soap.is_some() => self.soap.unwrap_or_default(),
            (_, Shape::Leaf) => self.leaf,
            _ => self.group.unwrap_or(self.leaf),
        }
    }
}

/// A response head, then `Write`s of what follows it, then a clean close.
fn answer(head: &str, rest: &[&[u8]]) -> Vec<Act> {
    let mut script = vec![Act::ReadHead, Act::ReadBody, Act::write(head)];
    script.extend(rest.iter().map(|bytes| Act::Write(bytes.to_vec())));
    script.push(Act::Close);
    script
}

/// The well-behaved backend: reads the request, answers 200 with [`MARKER`].
fn healthy() -> Vec<Act> {
    answer(
        &format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{MARKER}",
            MARKER.len()
        ),
        &[],
    )
}

/// A 200 SOAP response of version `ns` whose body is `payload`.
fn soap_answer(ns: &str, payload: &str) -> Vec<Act> {
    let ct = if ns == S11 {
        "text/xml; charset=UTF-8"
    } else {
        "application/soap+xml; charset=UTF-8"
    };
    let body = format!(r#"<s:Envelope xmlns:s="{ns}"><s:Body>{payload}</s:Body></s:Envelope>"#);
    answer(
        &format!(
            "HTTP/1.1 200 OK\r\nContent-Type: {ct}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        ),
        &[body.as_bytes()],
    )
}

/// A response the leaves convert back for the client: SOAP 1.1 for REST (to JSON), SOAP
/// 1.2 for SOAP 1.1 clients.
fn converted(name: &'static str, payload: &str, leaf: &'static [Want]) -> Row {
    let fault = Fault::Backend {
        rest: Some(soap_answer(S11, payload)),
        soap: Some(soap_answer(S12, payload)),
        reaches: true,
        convert: true,
    };
    Row::new(name, fault, leaf, Health::Any).heavy()
}

fn deep(depth: usize) -> String {
    format!("{}{}", "<a>".repeat(depth), "</a>".repeat(depth))
}

fn wide(count: usize) -> String {
    format!("<w>{}</w>", "<a/>".repeat(count))
}

fn many_attributes(count: usize) -> String {
    let attributes: String = (0..count).map(|i| format!(" a{i}=\"\"")).collect();
    format!("<e{attributes}/>")
}

fn backend_rows() -> Vec<Row> {
    use Health::{FollowsOutcome, Moves, Stays};
    use Want::{Cut, Is, Whole};
    let drip = |d: &str| Act::Drip(d.as_bytes().to_vec(), Duration::from_millis(40));
    let ok_head = |len: usize| format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\n\r\n");
    let big = format!(
        "HTTP/1.1 200 OK\r\nX-Big: {}\r\nContent-Length: 2\r\n\r\nok",
        "b".repeat(256 * 1024)
    );
    let cl_te = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{MARKER}\r\n0\r\n\r\n",
        MARKER.len()
    );
    let refuse = Fault::Backend {
        rest: None,
        soap: None,
        reaches: false,
        convert: false,
    };
    let mut refuse = Row::new("refuse", refuse, &[Is(502)], Moves);
    refuse.group = Some(&[Whole(200)]);
    let reads = [Act::ReadHead, Act::ReadBody];
    let with = |acts: &[Act]| [&reads[..], acts].concat();
    vec![
        refuse,
        Row::backend(
            "close before headers",
            with(&[Act::Close]),
            &[Is(502)],
            Moves,
        ),
        Row::backend(
            "reset before headers",
            with(&[Act::Reset]),
            &[Is(502)],
            Moves,
        ),
        Row::backend(
            "reset after headers",
            with(&[Act::write(&ok_head(100)), Act::Reset]),
            &[Cut, Is(502)],
            Moves,
        ),
        Row::backend(
            "reset mid-body",
            with(&[Act::write(&ok_head(100)), Act::write(MARKER), Act::Reset]),
            &[Cut, Is(502)],
            Moves,
        ),
        Row::backend("black hole", with(&[Act::Hold]), &[Is(504)], Moves).timed(),
        Row::backend(
            "header drip",
            with(&[drip(&ok_head(MARKER.len())), Act::write(MARKER), Act::Close]),
            &[Is(504)],
            Moves,
        )
        .timed(),
        Row::backend(
            "body drip (slow, live)",
            with(&[Act::write(&ok_head(MARKER.len())), drip(MARKER), Act::Close]),
            &[Whole(200), Cut, Is(504)],
            FollowsOutcome,
        )
        .timed(),
        Row::backend(
            "stalled body",
            with(&[Act::write(&ok_head(100)), Act::write(MARKER), Act::Hold]),
            &[Cut, Is(502), Is(504)],
            Moves,
        )
        .timed(),
        Row::backend(
            "close-delimited body",
            answer(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n",
                &[MARKER.as_bytes()],
            ),
            &[Whole(200)],
            Stays,
        ),
        Row::backend(
            "malformed status line",
            answer(
                "HTTP/1.1 two hundred OK\r\nContent-Length: 2\r\n\r\nok",
                &[],
            ),
            &[Is(502)],
            Moves,
        ),
        Row::backend(
            "malformed headers",
            answer(
                "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nthis is no header\r\n\r\nok",
                &[],
            ),
            &[Is(502)],
            Moves,
        ),
        Row::backend(
            "malformed chunks",
            answer(
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nZZ\r\nno chunk\r\n",
                &[],
            ),
            &[Cut, Is(502)],
            Moves,
        ),
        Row::backend(
            "CL+TE",
            answer(&cl_te, &[]),
            &[Whole(200), Is(502)],
            FollowsOutcome,
        ),
        Row::backend(
            "oversized headers (256 KiB)",
            answer(&big, &[]),
            &[Is(502)],
            Moves,
        ),
        converted("deep XML response (20,000) †", &deep(20_000), &[Is(502)]),
        converted(
            "wide XML response (50,000) †",
            &wide(50_000),
            &[Is(200), Is(502)],
        ),
    ]
}

fn client_rows() -> Vec<Row> {
    use ClientFault as C;
    use Want::{Is, Whole};
    let mut deep_json = Row::client("client: deep JSON (10,000)", C::DeepJson, &[Is(400)]).heavy();
    // A SOAP proxy that converts nothing passes JSON through unread.
    deep_json.soap = Some(&[Whole(200), Is(400), Is(415)]);
    let mut wide_json = Row::client(
        "client: wide JSON (50,000)",
        C::WideJson,
        &[Whole(200), Is(400), Is(413)],
    )
    .heavy();
    wide_json.soap = Some(&[Whole(200), Is(400), Is(413), Is(415)]);
    vec![
        Row::client("client: slow body", C::SlowBody, &[Whole(200), Is(408)]).timed(),
        Row::client("client: body cut short", C::CutBody, &[Is(400)]),
        Row::client("client: stalled body", C::StalledBody, &[Is(408)]).timed(),
        Row::client(
            "client: oversized header (100 KiB)",
            C::OversizedHeader,
            &[Is(431)],
        ),
        Row::client("client: garbage request line", C::GarbageLine, &[Is(400)]),
        Row::client("client: deep XML (10,000)", C::DeepXml, &[Is(400)]).heavy(),
        Row::client(
            "client: wide XML (50,000)",
            C::WideXml,
            &[Whole(200), Is(400), Is(413)],
        )
        .heavy(),
        Row::client(
            "client: 20,000 attributes",
            C::ManyAttributes,
            &[Whole(200), Is(400), Is(413)],
        )
        .heavy(),
        deep_json,
        wide_json,
    ]
}

fn grpc_rows() -> Vec<Row> {
    use Want::Grpc;
    let grpc = |name, fault, leaf, health| Row::new(name, Fault::Grpc(fault), leaf, health);
    let mut bad_frames = grpc(
        "gRPC: bad frames",
        GrpcFault::BadFrames,
        &[Grpc(13), Grpc(14)],
        Health::Moves,
    );
    // Nothing the backend could process was sent: failing over is allowed, not required.
    bad_frames.group = Some(&[Grpc(0), Grpc(13), Grpc(14)]);
    vec![
        grpc(
            "gRPC: stream reset",
            GrpcFault::StreamReset,
            &[Grpc(13), Grpc(14)],
            Health::Moves,
        ),
        bad_frames,
        grpc(
            "gRPC: never answers",
            GrpcFault::Silent,
            &[Grpc(4)],
            Health::Moves,
        ),
        grpc(
            "gRPC: client never reads",
            GrpcFault::NoReader,
            &[Grpc(0)],
            Health::Stays,
        ),
    ]
}

// ---------------------------------------------------------------------------------------
// Outcomes as a client sees them.
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    /// A complete response: its (effective) status and body.
    Answer(u16, Vec<u8>),
    /// A head, then the connection ended before the body was complete.
    Cut(u16),
    /// A head, then nothing more until the deadline.
    Stalled(u16),
    /// No response head: `closed`, `reset`, `hung` or `garbled`.
    NoHead(&'static str),
    /// A gRPC status.
    Grpc(u32),
}

impl Outcome {
    fn matches(&self, want: Want) -> bool {
        match (want, self) {
            (Want::Is(s), Outcome::Answer(status, _)) => s == *status,
            (Want::Whole(s), Outcome::Answer(status, body)) => {
                s == *status && find(body, MARKER.as_bytes()).is_some()
            }
            (Want::Cut, Outcome::Cut(_)) => true,
            (Want::Grpc(c), Outcome::Grpc(code)) => c == *code,
            _ => false,
        }
    }

    fn is_success(&self) -> bool {
        match self {
            Outcome::Answer(status, _) => (200..300).contains(status),
            Outcome::Grpc(code) => *code == 0,
            _ => false,
        }
    }

    fn describe(&self) -> String {
        match self {
            Outcome::Answer(status, body) if (200..300).contains(status) => {
                let whole = find(body, MARKER.as_bytes()).is_some();
                format!("{status}{}", if whole { " whole" } else { "" })
            }
            Outcome::Answer(status, _) => status.to_string(),
            Outcome::Cut(status) => format!("{status} cut"),
            Outcome::Stalled(status) => format!("{status} stalled"),
            Outcome::NoHead(why) => (*why).to_owned(),
            Outcome::Grpc(code) => format!("grpc {code}"),
        }
    }
}

fn describe_wants(wants: &[Want]) -> String {
    let each = wants.iter().map(|w| match w {
        Want::Is(s) => s.to_string(),
        Want::Whole(s) => format!("{s} whole"),
        Want::Cut => "cut".to_owned(),
        Want::Grpc(c) => format!("grpc {c}"),
    });
    each.collect::<Vec<_>>().join(" or ")
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// How a response body is delimited.
enum Framing {
    Length(usize),
    Chunked,
    Close,
}

/// A parsed response head: status, length of the head, framing.
fn response_head(bytes: &[u8]) -> Option<(u16, usize, Framing)> {
    let end = find(bytes, b"\r\n\r\n")? + 4;
    let text = String::from_utf8_lossy(&bytes[..end]);
    let status = status_of(text.lines().next()?)?;
    let header = |name: &str| {
        text.lines().skip(1).find_map(|line| {
            let (k, v) = line.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.to_ascii_lowercase())
        })
    };
    let chunked = header("transfer-encoding").is_some_and(|v| v.contains("chunked"));
    let length = header("content-length").is_some();
    let framing = match (chunked, length) {
        (true, _) => Framing::Chunked,
        (false, true) => Framing::Length(content_length(&bytes[..end])),
        _ if status == 204 || status == 304 => Framing::Length(0),
        _ => Framing::Close,
    };
    Some((status, end, framing))
}

/// The body of a complete response; `None` while it is incomplete (or close-delimited).
fn complete_body(bytes: &[u8]) -> Option<Vec<u8>> {
    let (_, end, framing) = response_head(bytes)?;
    let rest = &bytes[end..];
    match framing {
        Framing::Length(n) => (rest.len() >= n).then(|| rest[..n].to_vec()),
        Framing::Chunked => dechunk(rest),
        Framing::Close => None,
    }
}

/// A complete chunked body, decoded; `None` while incomplete or malformed.
fn dechunk(mut rest: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line = find(rest, b"\r\n")?;
        let size = std::str::from_utf8(&rest[..line]).ok()?.split(';').next()?;
        let size = usize::from_str_radix(size.trim(), 16).ok()?;
        rest = &rest[line + 2..];
        if size == 0 {
            return find(rest, b"\r\n").map(|_| out);
        }
        if rest.len() < size + 2 {
            return None;
        }
        out.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

/// A SOAP fault from Axon carries the status a REST client would have got.
fn effective_status(status: u16, body: &[u8]) -> u16 {
    let text = String::from_utf8_lossy(body);
    let Some(at) = text.find("<axon:status>") else {
        return status;
    };
    let digits: String = text[at + 13..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().unwrap_or(status)
}

/// Reads one response and classifies it.
async fn read_outcome(client: &mut RawClient, within: Duration) -> Outcome {
    let (bytes, ending) = client
        .read_while(within, |b| complete_body(b).is_none())
        .await;
    let Some((status, end, framing)) = response_head(&bytes) else {
        return Outcome::NoHead(match ending {
            Ending::Closed if bytes.is_empty() => "closed",
            Ending::Reset if bytes.is_empty() => "reset",
            Ending::Deadline => "hung",
            _ => "garbled",
        });
    };
    match (complete_body(&bytes), ending, framing) {
        (Some(body), _, _) => Outcome::Answer(effective_status(status, &body), body),
        (None, Ending::Closed, Framing::Close) => Outcome::Answer(status, bytes[end..].to_vec()),
        (None, Ending::Deadline, _) => Outcome::Stalled(status),
        _ => Outcome::Cut(status),
    }
}

// ---------------------------------------------------------------------------------------
// HTTP rows: one Axon per row, one API or proxy per column, each over its own backends.
// ---------------------------------------------------------------------------------------

/// A leaf of a column: its endpoint name and backend (`None`: a refusing port).
struct Member {
    name: String,
    port: u16,
    backend: Option<Scripted>,
    healthy: bool,
}

impl Member {
    async fn start(name: String, script: Option<&Vec<Act>>, healthy: bool) -> Member {
        let backend = match script {
            Some(script) => Some(Scripted::start(script.clone()).await),
            None => None,
        };
        let port = backend.as_ref().map_or_else(dead_port, |b| b.port);
        Member {
            name,
            port,
            backend,
            healthy,
        }
    }

    fn heads(&self) -> usize {
        self.backend.as_ref().map_or(0, Scripted::heads)
    }
}

fn code(front: Front, shape: Shape) -> String {
    let f = if front == Front::Rest { "R" } else { "S" };
    let s = match shape {
        Shape::Leaf => "L",
        Shape::Failover => "F",
        Shape::Balance => "B",
    };
    format!("{f}{s}")
}

/// The members of one column: the faulty ones, then (groups) a healthy one.
async fn members(row: &Row, front: Front, shape: Shape) -> Vec<Member> {
    let good = healthy();
    let script = match (&row.fault, front) {
        (Fault::Backend { rest, .. }, Front::Rest) => rest.as_ref(),
        (Fault::Backend { soap, .. }, Front::Soap) => soap.as_ref(),
        _ => Some(&good),
    };
    let name = code(front, shape);
    if shape == Shape::Leaf {
        return vec![Member::start(name, script, false).await];
    }
    vec![
        Member::start(format!("{name}1"), script, false).await,
        Member::start(format!("{name}2"), script, false).await,
        Member::start(format!("{name}H"), Some(&good), true).await,
    ]
}

fn converts(row: &Row) -> bool {
    matches!(row.fault, Fault::Backend { convert: true, .. })
}

/// The mediation files of one column.
fn column_files(
    row: &Row,
    front: Front,
    shape: Shape,
    members: &[Member],
) -> Vec<(String, String)> {
    let name = code(front, shape);
    let format = match (converts(row), front) {
        (false, _) => "",
        (true, Front::Rest) => r#" format="soap11""#,
        (true, Front::Soap) => r#" format="soap12""#,
    };
    let mut files: Vec<(String, String)> = members
        .iter()
        .map(|m| {
            let timeout = if m.healthy { HEAVY_TIMEOUT_MS } else { row.timeout_ms };
            let xml = format!(
                r#"<endpoint name="{}"><address uri="http://127.0.0.1:{}/"{format}><timeout><duration>{timeout}</duration><responseAction>fault</responseAction></timeout></address></endpoint>"#,
                m.name, m.port
            );
            (format!("endpoints/{}.xml", m.name), xml)
        })
        .collect();
    if shape != Shape::Leaf {
        let kind = if shape == Shape::Failover {
            "failover"
        } else {
            "loadbalance"
        };
        let keys: String = members
            .iter()
            .map(|m| format!(r#"<endpoint key="{}"/>"#, m.name))
            .collect();
        let xml = format!(r#"<endpoint name="{name}"><{kind}>{keys}</{kind}></endpoint>"#);
        files.push((format!("endpoints/{name}.xml"), xml));
    }
    let front_xml = match front {
        // The resource reads the payload, so the REST column covers the buffered path.
        Front::Rest => format!(
            r#"<api name="{name}" context="/{}"><resource><inSequence><property name="probe" expression="name($body/*[1])"/><send><endpoint key="{name}"/></send></inSequence></resource></api>"#,
            name.to_ascii_lowercase()
        ),
        Front::Soap => format!(
            r#"<proxy name="{name}" transports="http https"><target endpoint="{name}"/></proxy>"#
        ),
    };
    files.push((format!("fronts/{name}.xml"), front_xml));
    files
}

fn path(front: Front, shape: Shape) -> String {
    match front {
        Front::Rest => format!("/{}", code(front, shape).to_ascii_lowercase()),
        Front::Soap => format!("/services/{}", code(front, shape)),
    }
}

/// A request head for `front` with a body of `len` bytes, plus `extra` header lines.
fn head(front: Front, shape: Shape, content_type: &str, len: usize, extra: &str) -> Vec<u8> {
    let soap_action = if front == Front::Soap {
        "SOAPAction: \"urn:getQuote\"\r\n"
    } else {
        ""
    };
    format!(
        "POST {} HTTP/1.1\r\nHost: axon\r\nContent-Type: {content_type}\r\nContent-Length: {len}\r\n{soap_action}{extra}Connection: close\r\n\r\n",
        path(front, shape)
    )
    .into_bytes()
}

fn envelope(payload: &str) -> String {
    format!(
        r#"<soapenv:Envelope xmlns:soapenv="{S11}"><soapenv:Body>{payload}</soapenv:Body></soapenv:Envelope>"#
    )
}

/// The body a client sends to `front`: (content type, bytes).
fn payload(front: Front, fault: Option<ClientFault>) -> (&'static str, Vec<u8>) {
    use ClientFault as C;
    let xml = match fault {
        Some(C::DeepXml) => deep(10_000),
        Some(C::WideXml) => wide(50_000),
        Some(C::ManyAttributes) => many_attributes(20_000),
        Some(C::DeepJson) => {
            return ("application/json", format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)).into_bytes());
        }
        Some(C::WideJson) => {
            return ("application/json", format!("[{}0]", "0,".repeat(50_000)).into_bytes());
        }
        _ if front == Front::Rest => {
            return ("application/json", br#"{"order":{"id":1,"item":"book"}}"#.to_vec());
        }
        _ => "<ser:getQuote xmlns:ser=\"http://services.samples\"><ser:symbol>IBM</ser:symbol></ser:getQuote>".to_owned(),
    };
    match front {
        Front::Rest => ("application/xml", xml.into_bytes()),
        Front::Soap => ("text/xml; charset=UTF-8", envelope(&xml).into_bytes()),
    }
}

/// One exchange of a cell: the good request (backend rows) or the abuse (client rows).
async fn exchange(port: u16, row: &Row, front: Front, shape: Shape) -> Outcome {
    let fault = match row.fault {
        Fault::Client(fault) => Some(fault),
        _ => None,
    };
    let (content_type, body) = payload(front, fault);
    let mut client = RawClient::connect(port).await;
    let complete = |extra: &str| {
        [
            head(front, shape, content_type, body.len(), extra),
            body.clone(),
        ]
        .concat()
    };
    let sent = match fault {
        None
        | Some(ClientFault::DeepXml | ClientFault::WideXml | ClientFault::ManyAttributes)
        | Some(ClientFault::DeepJson | ClientFault::WideJson) => client.send(&complete("")).await,
        Some(ClientFault::SlowBody) => {
            let (now, later) = body.split_at(body.len() - 20);
            client
                .send(&head(front, shape, content_type, body.len(), ""))
                .await
                && client.send(now).await
                && client.drip(later, Duration::from_millis(50)).await
        }
        Some(ClientFault::CutBody | ClientFault::StalledBody) => {
            let declared = body.len() + 1000;
            let sent = client
                .send(&head(front, shape, content_type, declared, ""))
                .await
                && client.send(&body).await;
            if fault == Some(ClientFault::CutBody) {
                client.finish().await;
            }
            sent
        }
        Some(ClientFault::OversizedHeader) => {
            let big = format!("X-Big: {}\r\n", "h".repeat(100 * 1024));
            client.send(&complete(&big)).await
        }
        Some(ClientFault::GarbageLine) => client.send(b"GARBAGE\r\n\r\n").await,
    };
    // A server that answers early may close while the client still writes: read anyway.
    let _ = sent;
    read_outcome(&mut client, row.deadline()).await
}

/// A health report says the endpoint left ACTIVE or counted a failure.
async fn moved(axon: &TestAxon, name: &str) -> bool {
    let report = axon.endpoint(name).await;
    report["state"] != "ACTIVE" || report["counters"]["failed"].as_u64().unwrap_or(0) > 0
}

/// Polls `check` until it holds or `within` passes.
async fn holds_within<F, Fut>(within: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let until_true = async {
        while !check().await {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(within, until_true).await.is_ok()
}

/// What is wrong with the health of the members of a cell, if anything.
async fn health_problem(
    axon: &TestAxon,
    names: &[(String, bool)],
    rule: Health,
    outcome: &Outcome,
) -> Option<String> {
    for (name, healthy) in names.iter().filter(|(_, h)| *h) {
        let _ = healthy;
        if moved(axon, name).await {
            return Some(format!("healthy member {name} moved"));
        }
    }
    let faulty: Vec<&String> = names.iter().filter(|(_, h)| !h).map(|(n, _)| n).collect();
    let rule = match rule {
        Health::FollowsOutcome if outcome.is_success() => Health::Stays,
        Health::FollowsOutcome => Health::Moves,
        other => other,
    };
    match rule {
        Health::Moves => {
            let any_moved = holds_within(Duration::from_secs(2), || async {
                for name in &faulty {
                    if moved(axon, name).await {
                        return true;
                    }
                }
                false
            })
            .await;
            (!any_moved).then(|| "health did not move".to_owned())
        }
        Health::Stays => {
            for name in &faulty {
                if moved(axon, name).await {
                    return Some(format!("{name} health moved"));
                }
            }
            None
        }
        _ => None,
    }
}

/// How many deliveries of the cell's POST the backends may see.
fn delivered_ok(row: &Row, shape: Shape, delivered: usize) -> bool {
    match row.fault {
        Fault::Backend { reaches: true, .. } => delivered == 1,
        Fault::Backend { .. } if shape == Shape::Leaf => delivered == 0,
        Fault::Backend { .. } => delivered == 1,
        _ => delivered <= 1,
    }
}

/// One cell's result: what the client got, and every rule it broke.
struct Cell {
    outcome: String,
    problems: Vec<String>,
}

impl Cell {
    fn render(&self) -> String {
        if self.problems.is_empty() {
            format!("✅ {}", self.outcome)
        } else {
            format!("❌ {}: {}", self.outcome, self.problems.join("; "))
        }
    }
}

/// A good GET through a healthy API of the row's Axon.
async fn alive(axon: &TestAxon) -> bool {
    let mut client = RawClient::connect(axon.server.http_addr().port()).await;
    client
        .send(b"GET /alive HTTP/1.1\r\nHost: axon\r\nConnection: close\r\n\r\n")
        .await;
    read_outcome(&mut client, CELL_DEADLINE)
        .await
        .matches(Want::Whole(200))
}

async fn run_http_row(row: &Row) -> Vec<Cell> {
    let mut columns = Vec::new();
    let mut files = Vec::new();
    for (front, shape) in COLUMNS {
        let m = members(row, front, shape).await;
        files.extend(column_files(row, front, shape, &m));
        columns.push(m);
    }
    let good = Member::start("Alive".to_owned(), Some(&healthy()), true).await;
    files.push((
        "endpoints/Alive.xml".to_owned(),
        format!(
            r#"<endpoint name="Alive"><address uri="http://127.0.0.1:{}/"/></endpoint>"#,
            good.port
        ),
    ));
    files.push((
        "fronts/Alive.xml".to_owned(),
        r#"<api name="Alive" context="/alive"><resource><inSequence><send><endpoint key="Alive"/></send></inSequence></resource></api>"#.to_owned(),
    ));
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, x)| (p.as_str(), x.as_str()))
        .collect();
    let axon = TestAxon::start_with(&refs, fault_limits(row.heavy)).await;
    let port = axon.server.http_addr().port();
    let outcomes = join_all(COLUMNS.iter().map(|&(f, s)| exchange(port, row, f, s))).await;
    let alive = alive(&axon).await;
    let judged = COLUMNS.iter().zip(outcomes).zip(&columns);
    let cells = join_all(judged.map(|((&(front, shape), outcome), members)| {
        judge_http(&axon, row, (front, shape), outcome, members, alive)
    }))
    .await;
    stop(axon).await;
    cells
}

/// Checks one HTTP cell against every rule.
async fn judge_http(
    axon: &TestAxon,
    row: &Row,
    (front, shape): (Front, Shape),
    outcome: Outcome,
    members: &[Member],
    alive: bool,
) -> Cell {
    let mut problems = Vec::new();
    let wants = row.wants(front, shape);
    if !wants.iter().any(|w| outcome.matches(*w)) {
        problems.push(format!("want {}", describe_wants(wants)));
    }
    let names: Vec<(String, bool)> = members
        .iter()
        .map(|m| (m.name.clone(), m.healthy))
        .collect();
    problems.extend(health_problem(axon, &names, row.health, &outcome).await);
    let delivered: usize = members.iter().map(Member::heads).sum();
    if !delivered_ok(row, shape, delivered) {
        problems.push(format!("delivered {delivered}×"));
    }
    if !alive {
        problems.push("a good request failed afterwards".to_owned());
    }
    Cell {
        outcome: outcome.describe(),
        problems,
    }
}

/// Stops a cell's Axon, so its threads do not outlive the row (bounded: a worker stuck in
/// a cell's work must not hold the matrix).
async fn stop(axon: TestAxon) {
    RSS_AT_STOP.store(rss_kb(), std::sync::atomic::Ordering::SeqCst);
    let TestAxon { server, .. } = axon;
    tokio::time::timeout(Duration::from_secs(2), server.stop(false))
        .await
        .ok();
}

// ---------------------------------------------------------------------------------------
// gRPC rows: one Axon per cell.
// ---------------------------------------------------------------------------------------

/// A gRPC backend of a cell.
enum Peer {
    H2(ScriptedH2),
    Raw(Scripted),
    Good(GrpcBackend),
}

impl Peer {
    async fn start(fault: GrpcFault) -> Peer {
        match fault {
            GrpcFault::StreamReset => {
                Peer::H2(ScriptedH2::start(H2Act::Reset(h2::Reason::INTERNAL_ERROR)).await)
            }
            GrpcFault::Silent => Peer::H2(ScriptedH2::start(H2Act::Hold).await),
            GrpcFault::BadFrames => {
                // An empty SETTINGS frame, then a DATA frame on stream 0: a connection error.
                let settings = vec![0, 0, 0, 4, 0, 0, 0, 0, 0];
                let garbage = b"\x00\x00\x04\x00\x00\x00\x00\x00\x00junk\xff\xfe\xfd".to_vec();
                let pause = Act::ReadFor(Duration::from_millis(100));
                let script = vec![
                    pause.clone(),
                    Act::Write(settings),
                    pause,
                    Act::Write(garbage),
                    Act::Close,
                ];
                Peer::Raw(Scripted::start(script).await)
            }
            GrpcFault::NoReader => Peer::Good(GrpcBackend::start("good").await),
        }
    }

    fn uri(&self) -> String {
        match self {
            Peer::H2(b) => b.uri(),
            Peer::Raw(b) => format!("http://127.0.0.1:{}", b.port),
            Peer::Good(b) => b.uri(),
        }
    }

    /// Calls that reached this backend.
    fn calls(&self) -> usize {
        match self {
            Peer::H2(b) => b.streams(),
            Peer::Raw(_) => 0,
            Peer::Good(b) => b.calls(),
        }
    }
}

fn grpc_status(headers: &http::HeaderMap) -> Option<u32> {
    headers.get("grpc-status")?.to_str().ok()?.parse().ok()
}

/// One gRPC call on a fresh HTTP/2 connection, reading every message: its `grpc-status`,
/// or why there was none.
async fn grpc_call(addr: SocketAddr, path: &str, message: &[u8]) -> Outcome {
    let call = async {
        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|_| "refused")?;
        let (client, conn) = h2::client::handshake(tcp).await.map_err(|_| "no HTTP/2")?;
        actix_rt::spawn(async move { conn.await.ok() });
        let mut client = client.ready().await.map_err(|_| "no HTTP/2")?;
        let request = http::Request::post(format!("http://{addr}{path}"))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(())
            .expect("request");
        let (response, mut send) = client.send_request(request, false).map_err(|_| "reset")?;
        send.send_data(axon::base::grpc::frame(message), true)
            .map_err(|_| "reset")?;
        let response = response.await.map_err(|_| "reset")?;
        if let Some(status) = grpc_status(response.headers()) {
            return Ok(status);
        }
        let mut body = response.into_body();
        while let Some(chunk) = body.data().await {
            let chunk = chunk.map_err(|_| "reset")?;
            body.flow_control().release_capacity(chunk.len()).ok();
        }
        let trailers = body.trailers().await.map_err(|_| "reset")?;
        trailers
            .as_ref()
            .and_then(grpc_status)
            .ok_or("no grpc-status")
    };
    match tokio::time::timeout(CELL_DEADLINE, call).await {
        Ok(Ok(status)) => Outcome::Grpc(status),
        Ok(Err(why)) => Outcome::NoHead(why),
        Err(_) => Outcome::NoHead("hung"),
    }
}

/// A server-streaming request for `count` replies of 64 KiB each.
fn big_stream(count: u32) -> Vec<u8> {
    EchoRequest {
        message: "stream".into(),
        count,
        padding: vec![7u8; 64 * 1024],
        ..EchoRequest::default()
    }
    .encode_to_vec()
}

/// Connections that open server streams and never read them (a zero stream window), kept
/// open until the returned guard is dropped.
async fn unread_streams(addr: SocketAddr, connections: usize, streams: usize) -> Vec<impl Drop> {
    struct Guard {
        task: actix_rt::task::JoinHandle<()>,
        _streams: Vec<h2::client::ResponseFuture>,
    }
    impl Drop for Guard {
        fn drop(&mut self) {
            self.task.abort();
        }
    }
    let mut guards = Vec::new();
    for _ in 0..connections {
        let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let (client, conn) = h2::client::Builder::new()
            .initial_window_size(0)
            .handshake::<_, bytes::Bytes>(tcp)
            .await
            .expect("HTTP/2 handshake");
        let task = actix_rt::spawn(async move {
            conn.await.ok();
        });
        let mut held = Vec::new();
        let mut client = client;
        for _ in 0..streams {
            client = client.ready().await.expect("ready");
            let request = http::Request::post(format!("http://{addr}/axon.test.Echo/ServerStream"))
                .header("content-type", "application/grpc")
                .header("te", "trailers")
                .body(())
                .expect("request");
            let (response, mut send) = client.send_request(request, false).expect("stream");
            send.send_data(axon::base::grpc::frame(&big_stream(100)), true)
                .expect("send");
            held.push(response);
        }
        guards.push(Guard {
            task,
            _streams: held,
        });
    }
    guards
}

async fn run_grpc_cell(row: &Row, shape: Shape) -> Cell {
    let Fault::Grpc(fault) = row.fault else {
        unreachable!("a gRPC row")
    };
    let faulty = Peer::start(fault).await;
    let good = GrpcBackend::start("healthy").await;
    let timeout = match fault {
        GrpcFault::Silent => SHORT_TIMEOUT_MS,
        // The good stream must end within the cell's deadline when it is not starved.
        GrpcFault::NoReader => 4000,
        _ => TIMEOUT_MS,
    };
    let leaf = |name: &str, uri: &str| {
        format!(
            r#"<endpoint name="{name}"><grpc uri="{uri}"><timeout><duration>{timeout}</duration></timeout></grpc></endpoint>"#
        )
    };
    let (endpoint, names) = match shape {
        Shape::Leaf => (leaf("G", &faulty.uri()), vec![("G".to_owned(), false)]),
        _ => (
            format!(
                r#"<endpoint name="G"><failover>{}{}</failover></endpoint>"#,
                leaf("GF1", &faulty.uri()),
                leaf("GFH", &good.uri())
            ),
            vec![("GF1".to_owned(), false), ("GFH".to_owned(), true)],
        ),
    };
    let api = r#"<api name="EchoAPI" context="/axon.test.Echo" transports="grpc"><resource url-mapping="/*"><inSequence><send><endpoint key="G"/></send></inSequence></resource></api>"#;
    let axon = TestAxon::start_with(
        &[("api.xml", api), ("ep.xml", &endpoint)],
        fault_limits(false),
    )
    .await;
    let addr = axon.server.grpc_addr().expect("the gRPC front runs");
    let outcome = if fault == GrpcFault::NoReader {
        let _abusers = unread_streams(addr, 4, 3).await;
        grpc_call(addr, "/axon.test.Echo/ServerStream", &big_stream(20)).await
    } else {
        let message = EchoRequest {
            message: "hi".into(),
            ..EchoRequest::default()
        };
        grpc_call(addr, "/axon.test.Echo/Unary", &message.encode_to_vec()).await
    };
    let mut problems = Vec::new();
    let wants = row.wants(Front::Rest, shape);
    if !wants.iter().any(|w| outcome.matches(*w)) {
        problems.push(format!("want {}", describe_wants(wants)));
    }
    problems.extend(health_problem(&axon, &names, row.health, &outcome).await);
    let delivered = faulty.calls()
        + if shape == Shape::Leaf {
            0
        } else {
            good.calls()
        };
    let exactly_once = matches!(fault, GrpcFault::StreamReset | GrpcFault::Silent);
    if (exactly_once && delivered != 1) || delivered > 1 && fault != GrpcFault::NoReader {
        problems.push(format!("delivered {delivered}×"));
    }
    let health = grpc_call(addr, "/grpc.health.v1.Health/Check", &[]).await;
    if health != Outcome::Grpc(0) {
        problems.push("a good call failed afterwards".to_owned());
    }
    stop(axon).await;
    Cell {
        outcome: outcome.describe(),
        problems,
    }
}

// ---------------------------------------------------------------------------------------
// The run, the table and the memory rule.
// ---------------------------------------------------------------------------------------

/// The RSS when the last cell's Axon was stopped (still running, its work done).
static RSS_AT_STOP: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The process's resident set, in KiB (Axon runs in this process).
fn rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The CPU time this process has used, in clock ticks.
fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces): utime and stime are 14 and 15.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    field(11) + field(12)
}

/// Waits (at most 2 s) until the process is idle: work an earlier row left running on a
/// stopped Axon's threads (a quadratic parse) must not be charged to the next heavy row.
async fn settled() -> bool {
    holds_within(Duration::from_secs(2), || async {
        let before = cpu_ticks();
        tokio::time::sleep(Duration::from_millis(200)).await;
        // Less than a tenth of one core over the window.
        cpu_ticks() - before < 2
    })
    .await
}

/// A row's cells in table order: the HTTP columns, then the gRPC ones.
async fn run_row(row: &Row) -> Vec<Option<Cell>> {
    if matches!(row.fault, Fault::Grpc(_)) {
        let cells = join_all(GRPC_COLUMNS.iter().map(|&s| run_grpc_cell(row, s))).await;
        let mut out: Vec<Option<Cell>> = (0..COLUMNS.len()).map(|_| None).collect();
        out.extend(cells.into_iter().map(Some));
        return out;
    }
    let mut out: Vec<Option<Cell>> = run_http_row(row).await.into_iter().map(Some).collect();
    out.extend(GRPC_COLUMNS.iter().map(|_| None));
    out
}

fn table_line(name: &str, cells: &[Option<Cell>]) -> String {
    let cells: Vec<String> = cells
        .iter()
        .map(|c| c.as_ref().map_or_else(|| "–".to_owned(), Cell::render))
        .collect();
    format!("| {name} | {} |", cells.join(" | "))
}

/// The Markdown matrix of `results`, and how many cells failed.
fn table(results: &[(String, Vec<Option<Cell>>)]) -> (String, usize) {
    let mut table = format!(
        "| fault | {} |\n|---|{}\n",
        TITLES.join(" | "),
        "---|".repeat(TITLES.len())
    );
    let mut failed = 0;
    for (name, cells) in results {
        failed += cells
            .iter()
            .flatten()
            .filter(|c| !c.problems.is_empty())
            .count();
        writeln!(table, "{}", table_line(name, cells)).expect("write");
    }
    (table, failed)
}

type Results = Vec<(String, Vec<Option<Cell>>)>;

/// Runs the light rows, several at once, printing each as it ends.
async fn run_light(rows: Vec<&Row>, started: Instant) -> Results {
    futures_util::stream::iter(rows)
        .map(|row| async move {
            let cells = run_row(row).await;
            let at = started.elapsed().as_secs_f32();
            println!("{} at {at:.1} s", table_line(row.name, &cells));
            (row.name.to_owned(), cells)
        })
        .buffer_unordered(ROWS_AT_ONCE)
        .collect()
        .await
}

/// Runs the heavy rows one at a time, once the process is idle, each with the RSS before
/// it and when it is done: (row, before, after) in KiB.
async fn run_heavy(
    mut rows: Vec<&Row>,
    started: Instant,
    results: &mut Results,
) -> Vec<(&'static str, u64, u64)> {
    // Those that may abort the process (deep nesting) last of all.
    rows.sort_by_key(|r| r.name.contains("deep"));
    let mut memory = Vec::new();
    for row in rows {
        if !settled().await {
            println!(
                "(the process was still busy with an earlier row before `{}`)",
                row.name
            );
        }
        let before = rss_kb();
        let cells = run_row(row).await;
        let after = RSS_AT_STOP.load(std::sync::atomic::Ordering::SeqCst);
        let at = started.elapsed().as_secs_f32();
        println!("{} at {at:.1} s", table_line(row.name, &cells));
        memory.push((row.name, before, after));
        results.push((row.name.to_owned(), cells));
    }
    memory
}

/// The Markdown table of the memory rule, and how many rows broke it.
fn memory_table(memory: &[(&str, u64, u64)]) -> (String, usize) {
    let mut table = format!(
        "| heavy row | RSS before (MiB) | RSS after (MiB) | within +{} MiB |\n|---|---|---|---|\n",
        RSS_BOUND_KB / 1024
    );
    let mut failed = 0;
    for (name, before, after) in memory {
        let within = *after <= before + RSS_BOUND_KB;
        failed += usize::from(!within);
        let mark = if within { "✅" } else { "❌" };
        let (before, after) = (before / 1024, after / 1024);
        writeln!(table, "| {name} | {before} | {after} | {mark} |").expect("write");
    }
    (table, failed)
}

#[actix_rt::test]
async fn every_fault_gets_one_outcome_and_only_the_backends_faults_move_health() {
    // AXON_FAULT_ROWS=<text> runs only the rows whose name contains it.
    let only = std::env::var("AXON_FAULT_ROWS").unwrap_or_default();
    let rows: Vec<Row> = [backend_rows(), client_rows(), grpc_rows()]
        .concat()
        .into_iter()
        .filter(|r| r.name.contains(&only))
        .collect();
    let order: Vec<&str> = rows.iter().map(|r| r.name).collect();
    let in_order = |results: &mut Results| {
        results.sort_by_key(|(name, _)| order.iter().position(|n| n == name));
    };
    let started = Instant::now();
    let (heavy, light): (Vec<&Row>, Vec<&Row>) = rows.iter().partition(|r| r.heavy);
    let mut results = run_light(light, started).await;
    in_order(&mut results);
    // Printed before the heavy rows, one of which may abort the process while the fixes
    // for deep nesting are missing.
    println!("\n{}", table(&results).0);
    let memory = run_heavy(heavy, started, &mut results).await;
    in_order(&mut results);
    let (matrix, failed_cells) = table(&results);
    let (rss, failed_rows) = memory_table(&memory);
    println!("\n## Fault and abuse matrix\n\n{matrix}\n{rss}");
    assert_eq!(
        (failed_cells, failed_rows),
        (0, 0),
        "cells that broke a rule, heavy rows whose memory stayed up: see the matrix above"
    );
}
