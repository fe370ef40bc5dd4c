//! A shim under awc's HTTP/1 codec so that it reads response bodies delimited by the close
//! of the connection.
//!
//! RFC 9112 §6.3 (rule 8): a response with neither `Content-Length` nor `Transfer-Encoding`
//! (and a status that has a body, to a request other than HEAD) ends when the server closes
//! the connection. actix-http's client decoder (`h1/decoder.rs`, `ResponseHead::decode`)
//! applies this rule to HTTP/1.0 responses only: for HTTP/1.1 it decides "no body", so the
//! client got a 200 with an empty body and the bytes were dropped with the connection.
//!
//! The shim sits between awc and the TCP stream of plain-HTTP connections. awc sends one
//! request at a time on a connection and reads its response only once the request is
//! written, so the first bytes read after a write begin a response head. The shim reads
//! them into awc's buffer; a head that arrives whole is looked at there, one split over
//! reads is held back until complete (at most [`MAX_HEAD`]). When the head declares no
//! framing, awc gets the same head with its version changed from `HTTP/1.1` to `HTTP/1.0`
//! (one byte). actix-http then reads the body to the connection's end, and closes
//! the connection afterwards, which a close-delimited response requires anyway.
//!
//! It also follows a chunked body to its last chunk: actix-http ends a chunked body cleanly
//! when the connection closes between two chunks (its decoder has nothing left to decode),
//! which would hand the client a short body with a proper end. A close before the last
//! chunk is turned into an `UnexpectedEof` read error instead, which the body's watcher
//! ([`super::watched`]) reports. Every byte passes through unchanged but the one version
//! digit.
//!
//! Over TLS the shim is below the encryption and cannot see the head: there it passes
//! everything through, and [`super::send`] fails such a response visibly instead (see
//! [`unframed`]).

use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use actix_rt::net::{ActixStream, Ready, TcpStream};
use actix_service::Service;
use actix_tls::connect::{ConnectError, ConnectInfo, Connection, ConnectorService};
use actix_web::http::{StatusCode, Uri, Version};
use bytes::{Buf, BytesMut};
use futures_util::future::LocalBoxFuture;
use futures_util::ready;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The largest response head the shim holds back: actix-http's own limit for a head
/// (`MAX_BUFFER_SIZE`), past which it refuses the response anyway.
const MAX_HEAD: usize = 128 * 1024;

/// Where the connection is in its current exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// awc is writing a request (or has not used the connection yet).
    Request,
    /// The response head is being read and held back.
    Head,
    /// Everything else: bytes pass through.
    Through,
}

/// A plain TCP stream with the shim (see the module documentation).
pub(crate) struct Framed {
    io: TcpStream,
    /// False for a connection that will carry TLS: the shim then does nothing.
    plain: bool,
    phase: Phase,
    /// The current request is a HEAD (its response never has a body).
    head_request: bool,
    /// Bytes read but not yet handed to awc (the held head, and what followed it).
    held: BytesMut,
    /// While a chunked body is read: how far it is (`None` otherwise).
    chunks: Option<Chunks>,
}

impl fmt::Debug for Framed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Framed")
            .field("plain", &self.plain)
            .field("phase", &self.phase)
            .finish_non_exhaustive()
    }
}

impl Framed {
    fn new(io: TcpStream, plain: bool) -> Framed {
        Framed {
            io,
            plain,
            phase: Phase::Through,
            head_request: false,
            held: BytesMut::new(),
            chunks: None,
        }
    }

    /// Reads the response head into `buf` (awc's buffer) and fixes it there when it arrives
    /// whole in one read, the usual case: no copy. A head split over reads is held back in
    /// `held` until complete, and then handed out from there. `Ready` once there is something
    /// to hand out (or the stream ended).
    fn poll_head(&mut self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        loop {
            let before = buf.filled().len();
            ready!(Pin::new(&mut self.io).poll_read(cx, buf))?;
            if buf.filled().len() == before {
                // The stream ended inside the head: hand over what there is.
                self.phase = Phase::Through;
                return Poll::Ready(Ok(()));
            }
            if self.held.is_empty() {
                let read = &mut buf.filled_mut()[before..];
                if let Some(chunks) = settle_head(read, self.head_request) {
                    self.chunks = chunks;
                    self.phase = Phase::Through;
                    return Poll::Ready(Ok(()));
                }
            }
            self.held.extend_from_slice(&buf.filled()[before..]);
            buf.set_filled(before);
            if let Some(chunks) = settle_head(&mut self.held, self.head_request) {
                self.chunks = chunks;
                self.phase = Phase::Through;
                return Poll::Ready(Ok(()));
            }
            if self.held.len() >= MAX_HEAD {
                self.phase = Phase::Through;
                return Poll::Ready(Ok(()));
            }
        }
    }
}

/// When `bytes` start with a complete head: fixes it in place (`HTTP/1.1` → `HTTP/1.0`,
/// byte 7, for a close-delimited body) and returns where a chunked body after it stands.
fn settle_head(bytes: &mut [u8], head_request: bool) -> Option<Option<Chunks>> {
    let end = head_end(bytes)?;
    Some(match body_framing(&bytes[..end], head_request) {
        BodyFraming::CloseDelimited => {
            bytes[7] = b'0';
            None
        }
        BodyFraming::Chunked => Some(Chunks::START.feed(&bytes[end..])),
        BodyFraming::Other => None,
    })
}

/// The length of the head at the start of `bytes` (through its blank line), once complete.
fn head_end(bytes: &[u8]) -> Option<usize> {
    // The first `\r\n\r\n` ends at the first line feed with `\r\n\r` before it.
    memchr::memchr_iter(b'\n', bytes)
        .find(|&lf| lf >= 3 && &bytes[lf - 3..lf] == b"\r\n\r")
        .map(|lf| lf + 1)
}

/// How the body of a response is delimited, as far as the shim cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyFraming {
    /// No body, a `Content-Length` body, or not an HTTP/1.1 head: nothing to do.
    Other,
    /// Neither `Content-Length` nor `Transfer-Encoding`: the body runs to the close.
    CloseDelimited,
    /// Chunked: the body ends with its last chunk, and a close before that cuts it short.
    Chunked,
}

/// How the body after `head`, a complete HTTP/1.1 response head, is delimited (RFC 9112
/// §6.3). A response to HEAD, or with a status that never has a body, has none.
fn body_framing(head: &[u8], head_request: bool) -> BodyFraming {
    let Some(status) = head
        .strip_prefix(b"HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| std::str::from_utf8(code).ok())
        .and_then(|code| code.parse::<u16>().ok())
        .and_then(|code| StatusCode::from_u16(code).ok())
    else {
        return BodyFraming::Other;
    };
    if head_request || !unframed_status_has_body(status) {
        return BodyFraming::Other;
    }
    let (mut length, mut chunked, mut encoded) = (false, false, false);
    let mut start = 0;
    for lf in memchr::memchr_iter(b'\n', head) {
        let (line, status_line) = (&head[start..lf], start == 0);
        start = lf + 1;
        if status_line {
            continue;
        }
        let (name, value) = match memchr::memchr(b':', line) {
            Some(colon) => (line[..colon].trim_ascii(), &line[colon + 1..]),
            None => continue,
        };
        if name.eq_ignore_ascii_case(b"content-length") {
            length = true;
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            encoded = true;
            chunked |= value.trim_ascii().eq_ignore_ascii_case(b"chunked");
        }
    }
    match (length, encoded, chunked) {
        // A `Transfer-Encoding` without `chunked` (`identity`, which actix-http accepts)
        // frames nothing either (RFC 9112 §6.3, rule 7).
        (false, _, false) => BodyFraming::CloseDelimited,
        (false, true, true) => BodyFraming::Chunked,
        _ => BodyFraming::Other,
    }
}

/// Where a chunked body is, to know whether it has ended (RFC 9112 §7.1). It only looks for
/// the end: checking the framing is actix-http's job, and a malformed body fails there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunks {
    /// In a chunk-size line: the size so far, and whether its digits are over (an
    /// extension or the line's end follows).
    Size { size: u64, digits_done: bool },
    /// Inside a chunk's data: the bytes left.
    Data(u64),
    /// After a chunk's data, up to the end of its line.
    DataEnd,
    /// In the trailer section (after the last chunk): whether the current line is blank.
    Trailer { blank: bool },
    /// The body is complete.
    Done,
}

impl Chunks {
    const START: Chunks = Chunks::Size {
        size: 0,
        digits_done: false,
    };

    /// The state after `bytes`.
    fn feed(mut self, bytes: &[u8]) -> Chunks {
        let mut rest = bytes;
        while let Some((&byte, tail)) = rest.split_first() {
            if let Chunks::Data(left) = self {
                let n = (left as usize).min(rest.len());
                rest = &rest[n..];
                let left = left - n as u64;
                self = if left == 0 {
                    Chunks::DataEnd
                } else {
                    Chunks::Data(left)
                };
                continue;
            }
            rest = tail;
            self = self.step(byte);
        }
        self
    }

    fn step(self, byte: u8) -> Chunks {
        match self {
            Chunks::Size { size, .. } if byte == b'\n' => match size {
                0 => Chunks::Trailer { blank: true },
                size => Chunks::Data(size),
            },
            Chunks::Size {
                size,
                digits_done: false,
            } if byte.is_ascii_hexdigit() => {
                let digit = u64::from((byte as char).to_digit(16).unwrap_or(0));
                Chunks::Size {
                    size: size.saturating_mul(16).saturating_add(digit),
                    digits_done: false,
                }
            }
            Chunks::Size { size, .. } => Chunks::Size {
                size,
                digits_done: true,
            },
            Chunks::DataEnd if byte == b'\n' => Chunks::START,
            Chunks::Trailer { blank: true } if byte == b'\n' => Chunks::Done,
            Chunks::Trailer { .. } if byte == b'\n' => Chunks::Trailer { blank: true },
            Chunks::Trailer { blank } if byte == b'\r' => Chunks::Trailer { blank },
            Chunks::Trailer { .. } => Chunks::Trailer { blank: false },
            other => other,
        }
    }
}

/// Whether a response with `status` carries a body when nothing frames it (RFC 9112 §6.3).
fn unframed_status_has_body(status: StatusCode) -> bool {
    !(status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED)
}

/// Whether a response awc has decoded lost a close-delimited body: an HTTP/1.1 response with
/// a status that has a body, to a request other than HEAD, without `Content-Length` or a
/// chunked `Transfer-Encoding`. Only a TLS connection (where the shim cannot act) gives one.
pub(crate) fn unframed(
    version: Version,
    status: StatusCode,
    headers: &actix_web::http::header::HeaderMap,
    head_request: bool,
) -> bool {
    use actix_web::http::header;
    version == Version::HTTP_11
        && !head_request
        && unframed_status_has_body(status)
        && !headers.contains_key(header::CONTENT_LENGTH)
        && !headers
            .get(header::TRANSFER_ENCODING)
            .is_some_and(|te| te.as_bytes().trim_ascii().eq_ignore_ascii_case(b"chunked"))
}

impl AsyncRead for Framed {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.plain && this.phase == Phase::Request {
            this.phase = Phase::Head;
            this.held.clear();
        }
        if this.phase == Phase::Head && buf.remaining() > 0 {
            let before = buf.filled().len();
            ready!(this.poll_head(cx, buf))?;
            if buf.filled().len() > before {
                return Poll::Ready(Ok(()));
            }
        }
        if !this.held.is_empty() {
            let n = this.held.len().min(buf.remaining());
            buf.put_slice(&this.held[..n]);
            this.held.advance(n);
            return Poll::Ready(Ok(()));
        }
        let Some(chunks) = this.chunks else {
            return Pin::new(&mut this.io).poll_read(cx, buf);
        };
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.io).poll_read(cx, buf))?;
        let read = &buf.filled()[before..];
        if read.is_empty() && buf.remaining() > 0 {
            // A close before the last chunk cuts the body short; actix-http would end the
            // body as if complete, so the shim says what happened.
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the backend closed the connection inside a chunked body, before its last chunk",
            )));
        }
        this.chunks = Some(chunks.feed(read)).filter(|c| *c != Chunks::Done);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Framed {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.plain && this.phase != Phase::Request {
            // The first write of a new exchange starts with the request line.
            this.phase = Phase::Request;
            this.head_request = buf.starts_with(b"HEAD ");
            this.chunks = None;
        }
        Pin::new(&mut this.io).poll_write(cx, buf)
    }

    crate::base::io::forward_flush_shutdown!(io);
}

impl ActixStream for Framed {
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<Ready>> {
        if self.held.is_empty() {
            ActixStream::poll_read_ready(&self.io, cx)
        } else {
            Poll::Ready(Ok(Ready::READABLE))
        }
    }

    fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<Ready>> {
        ActixStream::poll_write_ready(&self.io, cx)
    }
}

/// awc's default TCP connector (resolve, connect), with the shim on each new connection.
#[derive(Clone, Default)]
pub(crate) struct Connector(ConnectorService);

impl Service<ConnectInfo<Uri>> for Connector {
    type Response = Connection<Uri, Framed>;
    type Error = ConnectError;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    actix_service::always_ready!();

    fn call(&self, req: ConnectInfo<Uri>) -> Self::Future {
        let connecting = self.0.call(req);
        Box::pin(async move {
            let connection = connecting.await?;
            let plain = connection.request().scheme_str() != Some("https");
            let (io, connection) = connection.replace_io(());
            Ok(connection.replace_io(Framed::new(io, plain)).1)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_are_told_apart_by_how_their_bodies_end() {
        let unframed = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n";
        assert_eq!(body_framing(unframed, false), BodyFraming::CloseDelimited);
        assert_eq!(
            body_framing(unframed, true),
            BodyFraming::Other,
            "a HEAD's response"
        );
        let identity = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\n\r\n";
        assert_eq!(body_framing(identity, false), BodyFraming::CloseDelimited);
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding : Chunked\r\n\r\n";
        assert_eq!(body_framing(chunked, false), BodyFraming::Chunked);
        for other in [
            &b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n"[..],
            b"HTTP/1.1 204 No Content\r\n\r\n",
            b"HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"HTTP/1.1 100 Continue\r\n\r\n",
            b"HTTP/1.0 200 OK\r\n\r\n",
            b"garbage\r\n\r\n",
        ] {
            let text = String::from_utf8_lossy(other);
            assert_eq!(body_framing(other, false), BodyFraming::Other, "{text}");
        }
    }

    #[test]
    fn a_decoded_http11_response_without_framing_lost_its_body() {
        use actix_web::http::header::{HeaderMap, HeaderValue, TRANSFER_ENCODING};
        let ok = StatusCode::OK;
        let mut headers = HeaderMap::new();
        assert!(unframed(Version::HTTP_11, ok, &headers, false));
        assert!(!unframed(Version::HTTP_11, ok, &headers, true));
        assert!(
            !unframed(Version::HTTP_10, ok, &headers, false),
            "read to the end"
        );
        assert!(!unframed(Version::HTTP_2, ok, &headers, false));
        assert!(!unframed(
            Version::HTTP_11,
            StatusCode::NO_CONTENT,
            &headers,
            false
        ));
        headers.insert(TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
        assert!(!unframed(Version::HTTP_11, ok, &headers, false));
    }

    #[test]
    fn the_end_of_a_chunked_body_is_found_whatever_the_reads() {
        let body = b"5;ext=1\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-T: 1\r\n\r\n";
        assert_eq!(Chunks::START.feed(body), Chunks::Done);
        let byte_by_byte = body.iter().fold(Chunks::START, |c, b| c.feed(&[*b]));
        assert_eq!(byte_by_byte, Chunks::Done);
        for cut in 1..body.len() {
            assert_ne!(
                Chunks::START.feed(&body[..cut]),
                Chunks::Done,
                "cut at {cut}"
            );
        }
        assert_eq!(Chunks::START.feed(b"0\r\n\r\n"), Chunks::Done);
    }
}
