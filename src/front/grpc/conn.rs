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
//!
//! The wrapper also reads the first bytes of each HEADERS frame: a header block that starts
//! with an HPACK dynamic table size update above the size the server allows gets GOAWAY
//! COMPRESSION_ERROR (RFC 7541 §4.2, RFC 9113 §4.3), where h2 would answer PROTOCOL_ERROR.
//! The read that completes those bytes is refused, so hyper never holds the whole frame.

use std::cell::Cell;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Duration, Instant};

use crate::base::grpc::h2::{
    COMPRESSION_ERROR, DATA, ENHANCE_YOUR_CALM, FLAG_ACK, FLAG_END_STREAM, FLAG_PADDED,
    FLAG_PRIORITY, GOAWAY, HEADER_LEN, HEADER_TABLE_SIZE, HEADERS, LAST_KNOWN_TYPE, PING, PRIORITY,
    SETTINGS,
};

/// Length of the client connection preface (`PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`).
const PREFACE_LEN: u8 = 24;
/// The bytes of a HEADERS payload read before its header block is judged: pad length,
/// priority fields and two table size updates of at most 5 bytes each (h2's longest integer).
const LEAD_LEN: usize = 1 + 5 + 5 + 5;

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

/// What a cursor came across.
enum Seen<'a> {
    /// A frame header.
    Head(Head),
    /// The first `LEAD_LEN` bytes of a HEADERS frame's payload (all of it when shorter).
    Lead(Head, &'a [u8]),
}

/// The start of the HEADERS frame's payload being read.
#[derive(Debug, Default)]
struct Lead {
    head: Option<Head>,
    bytes: [u8; LEAD_LEN],
    have: usize,
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
    lead: Lead,
}

/// Why a connection is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// Over the budget of costly frames.
    Flood,
    /// A header block's table size update exceeds the size the server allows.
    TableSize,
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
    /// Set once the client is at fault: the connection ends.
    tripped: Option<Fault>,
    /// The GOAWAY still to send, when it could be sent cleanly.
    goaway: Option<Vec<u8>>,
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

    /// Follows `bytes`, telling `on_seen` of each frame header and HEADERS lead completed.
    fn feed(&mut self, mut bytes: &[u8], mut on_seen: impl FnMut(Seen<'_>)) {
        while !bytes.is_empty() {
            let n = if self.preface_left > 0 {
                let n = bytes.len().min(usize::from(self.preface_left));
                self.preface_left -= n as u8;
                n
            } else if self.payload_left > 0 {
                let n = bytes.len().min(self.payload_left as usize);
                self.payload_left -= n as u32;
                self.lead.add(&bytes[..n], &mut on_seen);
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
                    on_seen(Seen::Head(head));
                    if head.kind == HEADERS && head.len > 0 {
                        self.lead = Lead {
                            head: Some(head),
                            ..Lead::default()
                        };
                    }
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

impl Lead {
    /// Keeps the payload bytes the lead still lacks, telling `on_seen` once it is complete.
    fn add(&mut self, bytes: &[u8], on_seen: &mut impl FnMut(Seen<'_>)) {
        let Some(head) = self.head else { return };
        let want = LEAD_LEN.min(head.len as usize);
        let n = bytes.len().min(want - self.have);
        self.bytes[self.have..self.have + n].copy_from_slice(&bytes[..n]);
        self.have += n;
        if self.have == want {
            self.head = None;
            on_seen(Seen::Lead(head, &self.bytes[..want]));
        }
    }
}

/// The largest HPACK dynamic table size update (RFC 7541 §6.3) among the two that may
/// start the header block of a HEADERS frame, from the lead of its payload. `None` when
/// there is none, or when the block is malformed (h2 finds that out).
fn table_size_update(head: Head, lead: &[u8]) -> Option<u64> {
    let mut start = 0;
    let mut end = head.len as usize;
    if head.flags & FLAG_PADDED != 0 {
        end = end.checked_sub(usize::from(*lead.first()?))?;
        start = 1;
    }
    if head.flags & FLAG_PRIORITY != 0 {
        start += 5;
    }
    let mut block = lead.get(start..end.min(lead.len()))?;
    let mut largest = None;
    for _ in 0..2 {
        match block.first() {
            Some(byte) if byte & 0xe0 == 0x20 => {}
            _ => break,
        }
        let (size, used) = hpack_int(block, 5)?;
        largest = largest.max(Some(size));
        block = &block[used..];
    }
    largest
}

/// An HPACK integer with a `prefix`-bit prefix (RFC 7541 §5.1) and the bytes it took; at
/// most 5 bytes, as h2 reads them. `None` when it is cut short or longer.
fn hpack_int(bytes: &[u8], prefix: u8) -> Option<(u64, usize)> {
    let mask = (1u8 << prefix) - 1;
    let mut value = u64::from(bytes.first()? & mask);
    if value < u64::from(mask) {
        return Some((value, 1));
    }
    for (i, byte) in bytes.iter().enumerate().take(5).skip(1) {
        value += u64::from(byte & 0x7f) << (7 * (i - 1));
        if byte & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

impl Fault {
    fn code(self) -> u32 {
        match self {
            Fault::Flood => ENHANCE_YOUR_CALM,
            Fault::TableSize => COMPRESSION_ERROR,
        }
    }

    fn message(self) -> &'static str {
        match self {
            Fault::Flood => "too many control frames",
            Fault::TableSize => "HPACK table size update over the limit",
        }
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
            goaway: None,
        }
    }

    /// Follows what the client sent; the fault when the read must be refused.
    fn follow_read(&mut self, bytes: &[u8]) -> Result<(), Fault> {
        let Metered {
            read,
            budget,
            last_stream,
            sent_since_ping,
            ..
        } = self;
        let (mut fault, mut opened) = (None, *last_stream);
        read.feed(bytes, |seen| match seen {
            Seen::Head(head) => {
                let free = head.kind == PING && std::mem::take(sent_since_ping);
                if head.is_costly() && !free && !budget.spend() {
                    fault = fault.or(Some(Fault::Flood));
                }
            }
            Seen::Lead(head, lead) => {
                if table_size_update(head, lead).is_some_and(|size| size > HEADER_TABLE_SIZE) {
                    fault = fault.or(Some(Fault::TableSize));
                } else if head.stream % 2 == 1 {
                    opened = opened.max(head.stream);
                }
            }
        });
        if read.frames > 0 {
            self.state.preface.set(true);
        }
        // A refused read never reaches hyper: its streams were not processed.
        match fault {
            None => {
                *last_stream = opened;
                Ok(())
            }
            Some(fault) => Err(fault),
        }
    }

    /// Follows what the server sent.
    fn follow_written(&mut self, bytes: &[u8]) {
        let sent = &mut self.sent_since_ping;
        self.written.feed(bytes, |seen| {
            if let Seen::Head(head) = seen
                && (head.kind == DATA || head.kind == HEADERS)
            {
                *sent = true;
            }
        });
    }

    /// The GOAWAY for `fault` to send, when the server's side is between frames.
    fn go_away(&self, fault: Fault) -> Option<Vec<u8>> {
        if self.written.frames == 0 || !self.written.at_boundary() {
            return None;
        }
        let debug = fault.message().as_bytes();
        let len = (8 + debug.len()) as u32;
        let mut frame = Vec::with_capacity(HEADER_LEN + len as usize);
        frame.extend_from_slice(&len.to_be_bytes()[1..]);
        frame.extend_from_slice(&[GOAWAY, 0, 0, 0, 0, 0]);
        frame.extend_from_slice(&self.last_stream.to_be_bytes());
        frame.extend_from_slice(&fault.code().to_be_bytes());
        frame.extend_from_slice(debug);
        Some(frame)
    }
}

impl<T: AsyncWrite + Unpin> Metered<T> {
    /// Sends the GOAWAY once, as far as the socket takes it without waiting, and fails the
    /// read so that hyper ends the connection.
    fn poll_tripped(&mut self, cx: &mut Context<'_>, fault: Fault) -> Poll<io::Result<()>> {
        if let Some(frame) = self.goaway.take() {
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
        Poll::Ready(Err(io::Error::other(format!(
            "the client sent {}",
            fault.message()
        ))))
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncRead for Metered<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(fault) = this.tripped {
            return this.poll_tripped(cx, fault);
        }
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.io).poll_read(cx, buf))?;
        let Err(fault) = this.follow_read(&buf.filled()[before..]) else {
            return Poll::Ready(Ok(()));
        };
        buf.set_filled(before);
        match fault {
            Fault::Flood => tracing::warn!(
                per_sec = this.budget.per_sec,
                "A gRPC client sent too many SETTINGS, PING or other control frames; closing it"
            ),
            Fault::TableSize => tracing::debug!(
                "A gRPC client's HPACK table size update exceeds the advertised size; closing it"
            ),
        }
        this.tripped = Some(fault);
        this.goaway = this.go_away(fault);
        this.poll_tripped(cx, fault)
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
                cursor.feed(piece, |s| {
                    if let Seen::Head(h) = s {
                        seen.push((h.kind, h.len, h.stream));
                    }
                });
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
    fn table_size_updates_are_read_past_padding_and_priority() {
        let (padded, priority) = (FLAG_PADDED, FLAG_PRIORITY);
        let prio = [0u8, 0, 0, 3, 15];
        let cases: &[(u8, Vec<u8>, Option<u64>)] = &[
            (4, vec![0x82, 0x86], None),
            (4, vec![0x3f, 0xe1, 0x3f], Some(8192)),
            (4, vec![0x3f, 0xe1, 0x1f, 0x82], Some(4096)),
            (4, vec![0x20, 0x82], Some(0)),
            (4, vec![0x3e, 0x82], Some(30)),
            (4, vec![0x20, 0x3f, 0xe2, 0x1f], Some(4097)),
            (4, vec![0x20, 0x20, 0x3f, 0xe2, 0x1f], Some(0)),
            (4, vec![0x3f, 0xe1], None),
            (4, vec![0x3f, 0x80, 0x80, 0x80, 0x80, 0x01], None),
            (
                padded,
                [&[2u8][..], &[0x3f, 0xe1, 0x3f], &[0, 0]].concat(),
                Some(8192),
            ),
            (padded, vec![2, 0x3f, 0xe1, 0x3f], None),
            (padded, vec![2, 0x3e, 0xe1, 0x3f], Some(30)),
            (padded, vec![9, 0x3f], None),
            (
                priority,
                [&prio[..], &[0x3f, 0xe1, 0x3f]].concat(),
                Some(8192),
            ),
            (priority, vec![0x3f, 0xe1, 0x3f], None),
            (
                padded | priority,
                [&[1u8][..], &prio, &[0x3f, 0xe1, 0x3f, 0]].concat(),
                Some(8192),
            ),
        ];
        for (flags, payload, want) in cases {
            let head = Head {
                len: payload.len() as u32,
                kind: HEADERS,
                flags: *flags,
                stream: 1,
            };
            let lead = &payload[..payload.len().min(LEAD_LEN)];
            assert_eq!(table_size_update(head, lead), *want, "{payload:x?}");
        }
    }

    #[test]
    fn an_oversized_table_update_is_refused_whatever_the_read_sizes() {
        let mut bytes = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        bytes.extend(frame(HEADERS, 4, 1, &[0x3f, 0xe1, 0x1f, 0x82]));
        let ok = bytes.len();
        bytes.extend(frame(HEADERS, 4, 3, &[0x3f, 0xe1, 0x3f, 0x82, 0x86]));
        for chunk in [1, 2, 5, bytes.len()] {
            let (io, _peer) = tokio::io::duplex(1024);
            let mut metered = Metered::new(io, ConnState::new(), 100);
            let mut fed = 0;
            let verdict = bytes.chunks(chunk).find_map(|piece| {
                fed += piece.len();
                metered.follow_read(piece).err()
            });
            assert_eq!(verdict, Some(Fault::TableSize), "chunks of {chunk}");
            assert!(fed > ok, "the good frame passed");
            assert!(metered.last_stream < 3, "stream 3 was never processed");
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
        assert!(
            metered
                .follow_read(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
                .is_ok()
        );
        for _ in 0..10 {
            metered.follow_written(&frame(DATA, 0, 1, &[1; 100]));
            assert!(metered.follow_read(&ping).is_ok(), "a ping per burst");
        }
        assert!(metered.follow_read(&ping).is_ok());
        assert!(metered.follow_read(&ping).is_ok());
        assert_eq!(
            metered.follow_read(&ping),
            Err(Fault::Flood),
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
