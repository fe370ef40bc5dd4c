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

    crate::base::io::forward_flush_shutdown!(io);
}

#[cfg(test)]
mod tests;
