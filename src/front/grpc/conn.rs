//! What one gRPC connection may cost: an I/O wrapper under hyper that reads the HTTP/2
//! frame headers going both ways, and the connection's state that the timers of the gRPC
//! front watch.
//!
//! The h2 crate already guards against the known frame-level attacks that grow memory
//! (rapid reset, CONTINUATION floods, HPACK bombs), but some frames cost CPU and nothing
//! else: each `SETTINGS_INITIAL_WINDOW_SIZE` change walks every open stream, and PING,
//! PRIORITY, empty DATA and unknown frames each take a wake-up of the worker thread that
//! also serves every other connection accepted there. So each connection gets a budget of
//! such frames per second; a connection that exceeds it gets GOAWAY ENHANCE_YOUR_CALM and
//! is closed. A PING that follows a frame of data or headers from the server is free: gRPC
//! clients measure the bandwidth-delay product with a PING per burst of data they receive
//! (as grpc-go's server, which counts pings only while it sends nothing).

use std::cell::Cell;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Duration, Instant};

use crate::grpc::h2::{
    DATA, ENHANCE_YOUR_CALM, FLAG_ACK, FLAG_END_STREAM, GOAWAY, HEADER_LEN, HEADERS,
    LAST_KNOWN_TYPE, PING, PRIORITY, SETTINGS,
};

/// Length of the client connection preface (`PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`).
const PREFACE_LEN: u8 = 24;

/// What the gRPC front's timers know of one connection.
#[derive(Debug)]
pub(super) struct ConnState {
    /// The client's preface and first frame header arrived.
    preface: Cell<bool>,
    /// Calls open on the connection.
    open: Cell<usize>,
    /// Since when no call is open.
    idle_since: Cell<Instant>,
}

/// One call's place in its connection's count of open calls (for the idle timeout).
#[derive(Debug)]
pub(super) struct OpenCall(std::rc::Rc<ConnState>);

/// A frame header.
#[derive(Debug, Clone, Copy)]
struct Head {
    len: u32,
    kind: u8,
    flags: u8,
    stream: u32,
}

/// Follows the frame boundaries of one direction of an HTTP/2 connection.
#[derive(Debug, Default)]
struct Cursor {
    /// Bytes of the client preface still expected.
    preface_left: u8,
    header: [u8; HEADER_LEN],
    have: usize,
    payload_left: u32,
    frames: u64,
}

/// How many costly frames a connection sent in the current second.
#[derive(Debug)]
struct Budget {
    per_sec: u32,
    window: Option<Instant>,
    spent: u32,
}

/// An I/O stream under hyper that meters the frames a client sends.
#[derive(Debug)]
pub(super) struct Metered<T> {
    io: T,
    state: std::rc::Rc<ConnState>,
    read: Cursor,
    written: Cursor,
    budget: Budget,
    /// Highest stream the client opened (the GOAWAY's last stream).
    last_stream: u32,
    /// The server sent DATA or HEADERS since the client's last PING.
    sent_since_ping: bool,
    /// Set once the budget is exceeded: the GOAWAY, if it can be sent cleanly.
    tripped: Option<Option<Vec<u8>>>,
}

// === impl ConnState ===

impl ConnState {
    pub(super) fn new() -> std::rc::Rc<ConnState> {
        std::rc::Rc::new(ConnState {
            preface: Cell::new(false),
            open: Cell::new(0),
            idle_since: Cell::new(Instant::now()),
        })
    }

    /// Whether the client sent its preface.
    pub(super) fn has_preface(&self) -> bool {
        self.preface.get()
    }

    /// When the connection will have been idle for `timeout`; `None` while a call is open.
    pub(super) fn idle_deadline(&self, timeout: Duration) -> Option<Instant> {
        (self.open.get() == 0).then(|| self.idle_since.get() + timeout)
    }

    /// Counts a call as open until the returned value is dropped.
    pub(super) fn open_call(self: &std::rc::Rc<Self>) -> OpenCall {
        self.open.set(self.open.get() + 1);
        OpenCall(self.clone())
    }
}

impl Drop for OpenCall {
    fn drop(&mut self) {
        let open = self.0.open.get().saturating_sub(1);
        self.0.open.set(open);
        if open == 0 {
            self.0.idle_since.set(Instant::now());
        }
    }
}

// === impl Cursor ===

impl Cursor {
    fn client_side() -> Cursor {
        Cursor {
            preface_left: PREFACE_LEN,
            ..Cursor::default()
        }
    }

    /// Follows `bytes`, calling `on_head` with each frame header completed.
    fn feed(&mut self, mut bytes: &[u8], mut on_head: impl FnMut(Head)) {
        while !bytes.is_empty() {
            let n = if self.preface_left > 0 {
                let n = bytes.len().min(usize::from(self.preface_left));
                self.preface_left -= n as u8;
                n
            } else if self.payload_left > 0 {
                let n = bytes.len().min(self.payload_left as usize);
                self.payload_left -= n as u32;
                n
            } else {
                let n = bytes.len().min(HEADER_LEN - self.have);
                self.header[self.have..self.have + n].copy_from_slice(&bytes[..n]);
                self.have += n;
                if self.have == HEADER_LEN {
                    self.have = 0;
                    self.frames += 1;
                    let head = Head::parse(&self.header);
                    self.payload_left = head.len;
                    on_head(head);
                }
                n
            };
            bytes = &bytes[n..];
        }
    }

    /// Between two frames (a frame may be inserted here).
    fn at_boundary(&self) -> bool {
        self.preface_left == 0 && self.have == 0 && self.payload_left == 0
    }
}

impl Head {
    fn parse(h: &[u8; HEADER_LEN]) -> Head {
        Head {
            len: u32::from_be_bytes([0, h[0], h[1], h[2]]),
            kind: h[3],
            flags: h[4],
            stream: u32::from_be_bytes([h[5], h[6], h[7], h[8]]) & 0x7fff_ffff,
        }
    }

    /// Frames that cost the server work and carry nothing a call needs.
    fn is_costly(&self) -> bool {
        match self.kind {
            SETTINGS | PING => self.flags & FLAG_ACK == 0,
            PRIORITY => true,
            DATA => self.len == 0 && self.flags & FLAG_END_STREAM == 0,
            kind => kind > LAST_KNOWN_TYPE,
        }
    }
}

// === impl Budget ===

impl Budget {
    /// Spends one frame; false when the second's budget is exceeded.
    fn spend(&mut self) -> bool {
        let now = Instant::now();
        match self.window {
            Some(start) if now.duration_since(start) < Duration::from_secs(1) => {
                self.spent += 1;
            }
            _ => {
                self.window = Some(now);
                self.spent = 1;
            }
        }
        self.spent <= self.per_sec
    }
}

// === impl Metered ===

impl<T> Metered<T> {
    /// Meters `io`, allowing `per_sec` costly frames per second.
    pub(super) fn new(io: T, state: std::rc::Rc<ConnState>, per_sec: u32) -> Metered<T> {
        Metered {
            io,
            state,
            read: Cursor::client_side(),
            written: Cursor::default(),
            budget: Budget {
                per_sec,
                window: None,
                spent: 0,
            },
            last_stream: 0,
            sent_since_ping: false,
            tripped: None,
        }
    }

    /// Follows what the client sent; false when it went over its budget.
    fn follow_read(&mut self, bytes: &[u8]) -> bool {
        let Metered {
            read,
            budget,
            last_stream,
            sent_since_ping,
            ..
        } = self;
        let (mut within, mut opened) = (true, *last_stream);
        read.feed(bytes, |head| {
            if head.kind == HEADERS && head.stream % 2 == 1 {
                opened = opened.max(head.stream);
            }
            let free = head.kind == PING && std::mem::take(sent_since_ping);
            if head.is_costly() && !free && !budget.spend() {
                within = false;
            }
        });
        if read.frames > 0 {
            self.state.preface.set(true);
        }
        // A refused read never reaches hyper: its streams were not processed.
        if within {
            *last_stream = opened;
        }
        within
    }

    /// Follows what the server sent.
    fn follow_written(&mut self, bytes: &[u8]) {
        let sent = &mut self.sent_since_ping;
        self.written.feed(bytes, |head| {
            if head.kind == DATA || head.kind == HEADERS {
                *sent = true;
            }
        });
    }

    /// The GOAWAY ENHANCE_YOUR_CALM to send, when the server's side is between frames.
    fn go_away(&self) -> Option<Vec<u8>> {
        if self.written.frames == 0 || !self.written.at_boundary() {
            return None;
        }
        let debug = b"too many control frames";
        let len = (8 + debug.len()) as u32;
        let mut frame = Vec::with_capacity(HEADER_LEN + len as usize);
        frame.extend_from_slice(&len.to_be_bytes()[1..]);
        frame.extend_from_slice(&[GOAWAY, 0, 0, 0, 0, 0]);
        frame.extend_from_slice(&self.last_stream.to_be_bytes());
        frame.extend_from_slice(&ENHANCE_YOUR_CALM.to_be_bytes());
        frame.extend_from_slice(debug);
        Some(frame)
    }
}

impl<T: AsyncWrite + Unpin> Metered<T> {
    /// Sends the GOAWAY once, as far as the socket takes it without waiting, and fails the
    /// read so that hyper ends the connection.
    fn poll_tripped(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(Some(frame)) = self.tripped.take() {
            let mut sent = 0;
            while sent < frame.len() {
                match Pin::new(&mut self.io).poll_write(cx, &frame[sent..]) {
                    Poll::Ready(Ok(n)) if n > 0 => sent += n,
                    _ => break,
                }
            }
            // Best effort: a peer that does not read gets no GOAWAY, only the close.
            let _flushed = Pin::new(&mut self.io).poll_flush(cx);
        }
        self.tripped = Some(None);
        Poll::Ready(Err(io::Error::other(
            "the client sent too many control frames",
        )))
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncRead for Metered<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.tripped.is_some() {
            return this.poll_tripped(cx);
        }
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.io).poll_read(cx, buf))?;
        if this.follow_read(&buf.filled()[before..]) {
            return Poll::Ready(Ok(()));
        }
        buf.set_filled(before);
        tracing::warn!(
            per_sec = this.budget.per_sec,
            "A gRPC client sent too many SETTINGS, PING or other control frames; closing it"
        );
        this.tripped = Some(this.go_away());
        this.poll_tripped(cx)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Metered<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.tripped.is_some() {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        let n = ready!(Pin::new(&mut this.io).poll_write(cx, buf))?;
        this.follow_written(&buf[..n]);
        Poll::Ready(Ok(n))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.tripped.is_some() {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        let mut left = ready!(Pin::new(&mut this.io).poll_write_vectored(cx, bufs))?;
        let n = left;
        for buf in bufs {
            let take = left.min(buf.len());
            this.follow_written(&buf[..take]);
            left -= take;
            if left == 0 {
                break;
            }
        }
        Poll::Ready(Ok(n))
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let mut f = (payload.len() as u32).to_be_bytes()[1..].to_vec();
        f.extend_from_slice(&[kind, flags]);
        f.extend_from_slice(&stream.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn the_cursor_finds_every_frame_whatever_the_read_sizes() {
        let mut bytes = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        bytes.extend(frame(SETTINGS, 0, 0, &[0, 4, 0, 0, 0, 1]));
        bytes.extend(frame(HEADERS, 4, 1, &[0x82; 20]));
        bytes.extend(frame(DATA, 1, 1, &[7; 300]));
        bytes.extend(frame(PING, 0, 0, &[0; 8]));
        for chunk in [1, 2, 7, 9, 10, 64, bytes.len()] {
            let mut cursor = Cursor::client_side();
            let mut seen = Vec::new();
            for piece in bytes.chunks(chunk) {
                cursor.feed(piece, |h| seen.push((h.kind, h.len, h.stream)));
            }
            assert_eq!(
                seen,
                [
                    (SETTINGS, 6, 0),
                    (HEADERS, 20, 1),
                    (DATA, 300, 1),
                    (PING, 8, 0)
                ],
                "chunks of {chunk}"
            );
            assert!(cursor.at_boundary());
        }
    }

    #[test]
    fn only_frames_that_carry_nothing_for_a_call_cost() {
        let costly = |kind, flags, len| {
            Head {
                len,
                kind,
                flags,
                stream: 0,
            }
            .is_costly()
        };
        assert!(costly(SETTINGS, 0, 6));
        assert!(!costly(SETTINGS, FLAG_ACK, 0));
        assert!(costly(PING, 0, 8));
        assert!(!costly(PING, FLAG_ACK, 8));
        assert!(costly(PRIORITY, 0, 5));
        assert!(costly(DATA, 0, 0));
        assert!(!costly(DATA, FLAG_END_STREAM, 0));
        assert!(!costly(DATA, 0, 10));
        assert!(!costly(HEADERS, 4, 10));
        assert!(costly(0x20, 0, 0));
    }

    #[test]
    fn a_ping_after_data_from_the_server_is_free() {
        let (io, _peer) = tokio::io::duplex(1024);
        let mut metered = Metered::new(io, ConnState::new(), 2);
        let ping = frame(PING, 0, 0, &[0; 8]);
        assert!(metered.follow_read(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"));
        for _ in 0..10 {
            metered.follow_written(&frame(DATA, 0, 1, &[1; 100]));
            assert!(metered.follow_read(&ping), "a ping per burst of data");
        }
        assert!(metered.follow_read(&ping));
        assert!(metered.follow_read(&ping));
        assert!(
            !metered.follow_read(&ping),
            "pings with nothing sent are counted"
        );
    }

    #[tokio::test]
    async fn a_flood_over_the_budget_gets_goaway_enhance_your_calm() {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let (client, server) = tokio::io::duplex(64 * 1024);
        let state = ConnState::new();
        let mut metered = Metered::new(server, state.clone(), 10);
        // The server's own SETTINGS went out: GOAWAY may follow it.
        metered
            .write_all(&frame(SETTINGS, 0, 0, &[]))
            .await
            .unwrap();
        let mut flood = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        flood.extend(frame(HEADERS, 4, 3, &[0x82]));
        let (mut client_read, mut client_write) = tokio::io::split(client);
        client_write.write_all(&flood).await.unwrap();
        let mut buf = [0u8; 1024];
        // The preface and stream 3 arrive first, then the flood.
        let n = metered.read(&mut buf).await.expect("within the budget");
        assert_eq!(n, flood.len());
        let mut flood = Vec::new();
        for _ in 0..11 {
            flood.extend(frame(SETTINGS, 0, 0, &[0, 4, 0, 0, 0, 1]));
        }
        flood.extend(frame(HEADERS, 4, 5, &[0x82]));
        client_write.write_all(&flood).await.unwrap();
        let error = metered.read(&mut buf).await.expect_err("over the budget");
        assert!(error.to_string().contains("too many control frames"));
        assert!(state.has_preface());
        assert!(
            metered.write(b"more").await.is_err(),
            "nothing after GOAWAY"
        );
        let mut got = vec![0u8; HEADER_LEN + HEADER_LEN + 8];
        client_read.read_exact(&mut got).await.unwrap();
        let goaway = &got[HEADER_LEN..];
        assert_eq!(goaway[3], GOAWAY);
        assert_eq!(&goaway[HEADER_LEN..HEADER_LEN + 4], &3u32.to_be_bytes());
        assert_eq!(&goaway[HEADER_LEN + 4..], &ENHANCE_YOUR_CALM.to_be_bytes());
    }
}
