//! Misbehaving peers on raw sockets: a scripted HTTP backend that does exactly what its
//! script says, byte by byte (close, reset, stall, drip, malformed framing), and a raw
//! client that writes exactly the bytes it is given.
//!
//! The fault and abuse tests build every bad backend and bad client from these two, so a
//! new fault is a new script, not a new server.

// Some helpers are used only by the fault suite as it grows.
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One step a scripted backend takes on each connection, in order.
#[derive(Debug, Clone)]
pub enum Act {
    /// Read until the end of the request head (`\r\n\r\n`).
    ReadHead,
    /// Read the request body as declared by `Content-Length` (after `ReadHead`).
    ReadBody,
    /// Read whatever arrives for this long (drains a body of unknown length).
    ReadFor(Duration),
    /// Write these bytes.
    Write(Vec<u8>),
    /// Write these bytes one at a time, waiting `gap` between them.
    Drip(Vec<u8>, Duration),
    /// Wait this long.
    Sleep(Duration),
    /// Hold the connection open and do nothing more (until the peer closes it).
    Hold,
    /// Close the connection cleanly (FIN).
    Close,
    /// Close the connection with a TCP reset (RST).
    Reset,
}

impl Act {
    /// Writes `text` (a convenience for ASCII response heads and bodies).
    pub fn write(text: &str) -> Act {
        Act::Write(text.as_bytes().to_vec())
    }
}

/// What a scripted backend saw.
#[derive(Debug, Default)]
struct Seen {
    connections: AtomicUsize,
    /// Requests whose head was read completely.
    heads: AtomicUsize,
    /// Requests whose declared body was read completely.
    bodies: AtomicUsize,
    last_head: Mutex<String>,
}

/// An HTTP backend that runs one script on every connection it accepts.
pub struct Scripted {
    pub port: u16,
    seen: Arc<Seen>,
    task: actix_rt::task::JoinHandle<()>,
}

impl Scripted {
    /// Starts a backend on a fresh port that runs `script` on each connection.
    pub async fn start(script: Vec<Act>) -> Scripted {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let seen = Arc::new(Seen::default());
        let script = Arc::new(script);
        let shared = seen.clone();
        let task = actix_rt::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                shared.connections.fetch_add(1, Ordering::SeqCst);
                let (script, seen) = (script.clone(), shared.clone());
                actix_rt::spawn(async move { run(socket, &script, &seen).await });
            }
        });
        Scripted { port, seen, task }
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.seen.connections.load(Ordering::SeqCst)
    }

    /// Request heads read completely so far: how many requests reached this backend.
    pub fn heads(&self) -> usize {
        self.seen.heads.load(Ordering::SeqCst)
    }

    /// Request bodies read completely so far.
    pub fn bodies(&self) -> usize {
        self.seen.bodies.load(Ordering::SeqCst)
    }

    /// The last request head read, as text.
    pub fn last_head(&self) -> String {
        self.seen.last_head.lock().expect("lock").clone()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }
}

impl Drop for Scripted {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Runs the script on one connection; any I/O error ends it (the peer went away).
async fn run(mut socket: TcpStream, script: &[Act], seen: &Seen) {
    let mut head = Vec::new();
    for act in script {
        let done = match act {
            Act::ReadHead => read_head(&mut socket, &mut head, seen).await,
            Act::ReadBody => read_body(&mut socket, &head, seen).await,
            Act::ReadFor(d) => {
                let mut buf = vec![0u8; 64 * 1024];
                // Running out of time is the point: whatever arrived was drained.
                tokio::time::timeout(*d, async {
                    while let Ok(n) = socket.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                    }
                })
                .await
                .ok();
                true
            }
            Act::Write(bytes) => socket.write_all(bytes).await.is_ok(),
            Act::Drip(bytes, gap) => drip(&mut socket, bytes, *gap).await,
            Act::Sleep(d) => {
                tokio::time::sleep(*d).await;
                true
            }
            Act::Hold => {
                let mut buf = [0u8; 1024];
                while let Ok(n) = socket.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                }
                false
            }
            Act::Close => {
                socket.shutdown().await.ok();
                false
            }
            Act::Reset => {
                // Dropping a socket with a zero linger sends RST instead of FIN.
                socket.set_zero_linger().ok();
                false
            }
        };
        if !done {
            return;
        }
    }
}

async fn read_head(socket: &mut TcpStream, head: &mut Vec<u8>, seen: &Seen) -> bool {
    head.clear();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match socket.read(&mut byte).await {
            Ok(1) => head.push(byte[0]),
            _ => return false,
        }
    }
    seen.heads.fetch_add(1, Ordering::SeqCst);
    *seen.last_head.lock().expect("lock") = String::from_utf8_lossy(head).into_owned();
    true
}

async fn read_body(socket: &mut TcpStream, head: &[u8], seen: &Seen) -> bool {
    let mut left = content_length(head);
    let mut buf = vec![0u8; 64 * 1024];
    while left > 0 {
        match socket.read(&mut buf[..left.min(64 * 1024)]).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => left -= n,
        }
    }
    seen.bodies.fetch_add(1, Ordering::SeqCst);
    true
}

async fn drip(socket: &mut TcpStream, bytes: &[u8], gap: Duration) -> bool {
    for b in bytes {
        if socket.write_all(std::slice::from_ref(b)).await.is_err() {
            return false;
        }
        tokio::time::sleep(gap).await;
    }
    true
}

/// The `Content-Length` of a request head (0 when absent).
pub fn content_length(head: &[u8]) -> usize {
    String::from_utf8_lossy(head)
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.trim()
                .eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0)
}

/// A client that writes exactly the bytes it is given.
pub struct RawClient {
    socket: TcpStream,
}

impl RawClient {
    /// Connects to `127.0.0.1:port`.
    pub async fn connect(port: u16) -> RawClient {
        let socket = TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect");
        socket.set_nodelay(true).expect("nodelay");
        RawClient { socket }
    }

    /// Connects to `127.0.0.1:port` from the loopback address `source` (any of
    /// 127.0.0.0/8 on Linux), so that one test can play several clients.
    pub async fn connect_from(source: std::net::Ipv4Addr, port: u16) -> RawClient {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket
            .bind((source, 0).into())
            .expect("bind the source address");
        let socket = socket
            .connect(([127, 0, 0, 1], port).into())
            .await
            .expect("connect");
        socket.set_nodelay(true).expect("nodelay");
        RawClient { socket }
    }

    /// Writes `bytes`; false once the server has closed the connection.
    pub async fn send(&mut self, bytes: &[u8]) -> bool {
        self.socket.write_all(bytes).await.is_ok()
    }

    /// Closes the sending half (FIN): whatever was not sent never will be; answers can
    /// still be read.
    pub async fn close_write(&mut self) {
        self.socket.shutdown().await.ok();
    }

    /// Reads until the server closes the connection or `within` passes; returns what
    /// arrived, and whether the connection was closed by the server in that time.
    pub async fn read_until_close(&mut self, within: Duration) -> (Vec<u8>, bool) {
        let mut out = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        let closed = tokio::time::timeout(within, async {
            loop {
                match self.socket.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => out.extend_from_slice(&buf[..n]),
                }
            }
        })
        .await
        .is_ok();
        (out, closed)
    }

    /// Reads one response head (to `\r\n\r\n`) within `within`; `None` when the server
    /// closed or nothing complete arrived in time.
    pub async fn read_head(&mut self, within: Duration) -> Option<String> {
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        tokio::time::timeout(within, async {
            while !head.ends_with(b"\r\n\r\n") {
                match self.socket.read(&mut byte).await {
                    Ok(1) => head.push(byte[0]),
                    _ => return None,
                }
            }
            Some(String::from_utf8_lossy(&head).into_owned())
        })
        .await
        .ok()
        .flatten()
    }
}

/// The status code of a response head such as `HTTP/1.1 408 Request Timeout`.
pub fn status_of(head: &str) -> Option<u16> {
    head.split_whitespace().nth(1)?.parse().ok()
}

/// How a [`RawClient::read_while`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// `more` said the bytes so far are enough.
    Done,
    /// The server closed the connection (FIN).
    Closed,
    /// The connection failed (a reset).
    Reset,
    /// `within` passed first.
    Deadline,
}

impl RawClient {
    /// Closes the writing half (FIN): a body cut short of its declared length.
    pub async fn finish(&mut self) {
        self.socket.shutdown().await.ok();
    }

    /// Writes `bytes` one at a time, `gap` apart; false once the server closed.
    pub async fn drip(&mut self, bytes: &[u8], gap: Duration) -> bool {
        drip(&mut self.socket, bytes, gap).await
    }

    /// Reads while `more(bytes so far)` is true, the connection is open and `within`
    /// has not passed; returns what arrived and why reading stopped.
    pub async fn read_while(
        &mut self,
        within: Duration,
        more: impl Fn(&[u8]) -> bool,
    ) -> (Vec<u8>, Ending) {
        let mut out = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        let ending = tokio::time::timeout(within, async {
            loop {
                if !more(&out) {
                    return Ending::Done;
                }
                match self.socket.read(&mut buf).await {
                    Ok(0) => return Ending::Closed,
                    Ok(n) => out.extend_from_slice(&buf[..n]),
                    Err(_) => return Ending::Reset,
                }
            }
        })
        .await
        .unwrap_or(Ending::Deadline);
        (out, ending)
    }
}

/// What a scripted HTTP/2 backend does with each stream it accepts.
#[derive(Debug, Clone, Copy)]
pub enum H2Act {
    /// Reset the stream (RST_STREAM) with this reason once its headers arrived.
    Reset(h2::Reason),
    /// Take the stream and never answer it (the connection stays served).
    Hold,
}

/// An HTTP/2 (gRPC) backend on raw frames: a real h2 server that misbehaves per stream.
pub struct ScriptedH2 {
    pub port: u16,
    streams: Arc<AtomicUsize>,
    task: actix_rt::task::JoinHandle<()>,
}

impl ScriptedH2 {
    /// Starts a backend on a fresh port that does `act` with every stream.
    pub async fn start(act: H2Act) -> ScriptedH2 {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let streams = Arc::new(AtomicUsize::new(0));
        let count = streams.clone();
        let task = actix_rt::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let count = count.clone();
                actix_rt::spawn(async move { serve_h2(socket, act, &count).await });
            }
        });
        ScriptedH2 {
            port,
            streams,
            task,
        }
    }

    /// Streams (calls) whose headers arrived so far.
    pub fn streams(&self) -> usize {
        self.streams.load(Ordering::SeqCst)
    }

    pub fn uri(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for ScriptedH2 {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve_h2(socket: TcpStream, act: H2Act, streams: &AtomicUsize) {
    let Ok(mut conn) = h2::server::handshake(socket).await else {
        return;
    };
    // Held streams stay here until the connection ends, so they are never answered.
    let mut held = Vec::new();
    while let Some(Ok((request, mut respond))) = conn.accept().await {
        streams.fetch_add(1, Ordering::SeqCst);
        match act {
            H2Act::Reset(reason) => respond.send_reset(reason),
            H2Act::Hold => held.push((request, respond)),
        }
    }
}
