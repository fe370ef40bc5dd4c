//! Message bodies: streamed from the socket until something needs the bytes.

use std::cell::Cell;
use std::fmt;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::error::PayloadError;
use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};

pub(crate) use crate::base::cause::BodyError;
use crate::base::cause::BodyTimedOut;

/// A body stream as received from a client or a backend (not `Send`).
pub(crate) type BodyStream = Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>>;

/// A message body.
pub enum Body {
    /// No body.
    Empty,
    /// Not read yet; `length` is the declared `Content-Length`, if any.
    Stream {
        /// The bytes, as they arrive.
        stream: BodyStream,
        /// Declared length.
        length: Option<u64>,
    },
    /// Read into memory (or produced by a mediator).
    Full(Bytes),
}

// === impl Body ===

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Body::Empty => f.write_str("Empty"),
            Body::Stream { length, .. } => write!(f, "Stream(length: {length:?})"),
            Body::Full(b) => write!(f, "Full({} bytes)", b.len()),
        }
    }
}

impl Body {
    /// A streamed body.
    pub(crate) fn stream(stream: BodyStream, length: Option<u64>) -> Self {
        if length == Some(0) {
            return Body::Empty;
        }
        Body::Stream { stream, length }
    }

    /// True for a body known to be empty.
    pub(crate) fn is_empty(&self) -> bool {
        match self {
            Body::Empty => true,
            Body::Full(b) => b.is_empty(),
            Body::Stream { length, .. } => *length == Some(0),
        }
    }

    /// Reads a streamed body into memory (once), up to `limit` bytes, and returns it.
    ///
    /// # Errors
    /// [`BodyError::TooLarge`] past the limit (the body is then lost), or the read error.
    pub(crate) async fn buffer(&mut self, limit: usize) -> Result<Bytes, BodyError> {
        match self {
            Body::Empty => Ok(Bytes::new()),
            Body::Full(b) => Ok(b.clone()),
            Body::Stream { stream, length } => {
                if length.is_some_and(|l| l > limit as u64) {
                    *self = Body::Empty;
                    return Err(BodyError::TooLarge { limit });
                }
                let mut buf = start_buffer(*length);
                while let Some(chunk) = stream.next().await {
                    let chunk = match chunk {
                        Ok(c) => c,
                        Err(error) => {
                            *self = Body::Empty;
                            return Err(BodyError::Read(error));
                        }
                    };
                    if buf.len() + chunk.len() > limit {
                        *self = Body::Empty;
                        return Err(BodyError::TooLarge { limit });
                    }
                    buf.extend_from_slice(&chunk);
                }
                // A peer that closes before its declared length has not sent the body: the
                // stream may end quietly, so the length is checked here.
                if length.is_some_and(|l| l != buf.len() as u64) {
                    *self = Body::Empty;
                    return Err(BodyError::Read(PayloadError::Incomplete(None)));
                }
                let bytes = buf.freeze();
                *self = Body::Full(bytes.clone());
                Ok(bytes)
            }
        }
    }

    /// Reads a streamed body into memory while it stays within `limit` bytes, without
    /// losing any of it: a body that fits becomes `Full` (its declared length checked, as
    /// [`Body::buffer`] does); a larger one stays a stream, with what was read put back in
    /// front of the rest. Used where a body may be kept (for a retry) or looked into (the
    /// start of a response) but must otherwise go on streaming.
    ///
    /// # Errors
    /// The read error, or [`PayloadError::Incomplete`] when the stream ended before its
    /// declared length; the body is then `Empty`.
    pub(crate) async fn buffer_within(&mut self, limit: usize) -> Result<Buffered, BodyError> {
        let (mut stream, length) = match self.take() {
            Body::Stream { stream, length } => (stream, length),
            Body::Empty => return Ok(Buffered::Whole(Bytes::new())),
            Body::Full(bytes) => {
                *self = Body::Full(bytes.clone());
                return Ok(Buffered::Whole(bytes));
            }
        };
        let mut chunks: Vec<Bytes> = Vec::new();
        let mut size = 0usize;
        while size <= limit {
            match stream.next().await {
                Some(Ok(chunk)) => {
                    size += chunk.len();
                    chunks.push(chunk);
                }
                Some(Err(error)) => return Err(BodyError::Read(error)),
                None => {
                    if length.is_some_and(|l| l != size as u64) {
                        return Err(BodyError::Read(PayloadError::Incomplete(None)));
                    }
                    let bytes = concat(chunks, size);
                    *self = Body::Full(bytes.clone());
                    return Ok(Buffered::Whole(bytes));
                }
            }
        }
        let prefix = concat(chunks.clone(), size);
        let read = futures_util::stream::iter(chunks.into_iter().map(Ok));
        *self = Body::Stream {
            stream: Box::pin(read.chain(stream)),
            length,
        };
        Ok(Buffered::Larger(prefix))
    }

    /// Takes the body out, leaving `Empty`.
    pub(crate) fn take(&mut self) -> Body {
        std::mem::replace(self, Body::Empty)
    }
}

/// What [`Body::buffer_within`] found.
#[derive(Debug)]
pub(crate) enum Buffered {
    /// The whole body, now `Full`.
    Whole(Bytes),
    /// The body is larger than the limit and still streams; these are the bytes read
    /// before that was known (the limit and at most one chunk more).
    Larger(Bytes),
}

/// The most a body buffer reserves before any byte arrives: a declared `Content-Length`
/// is a claim, not data, so a client declaring 4 MB and sending 10 bytes costs 10 bytes
/// (and this). The buffer grows with what is actually received.
const FIRST_RESERVE: usize = 16 * 1024;

fn start_buffer(declared: Option<u64>) -> BytesMut {
    let reserve = declared.map_or(0, |l| l.min(FIRST_RESERVE as u64) as usize);
    BytesMut::with_capacity(reserve)
}

/// The chunks as one buffer (without a copy when there is one chunk).
fn concat(mut chunks: Vec<Bytes>, size: usize) -> Bytes {
    match chunks.len() {
        0 => Bytes::new(),
        1 => chunks.pop().unwrap_or_default(),
        _ => {
            let mut all = BytesMut::with_capacity(size);
            for chunk in &chunks {
                all.extend_from_slice(chunk);
            }
            all.freeze()
        }
    }
}

// === the client's side of a request body ===

/// How the reading of a client's request body stands, as the stream that reads it last saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Progress {
    /// Nobody has asked for the body yet.
    Unread,
    /// The last read found nothing: Axon is waiting for the client's next bytes.
    Waiting,
    /// The last read returned bytes; whoever reads next has not asked yet (a backend that
    /// does not take them holds the exchange, not the client).
    Flowing,
    /// The body ended (completely, or with the client's error).
    Ended,
    /// The client sent nothing for the body read timeout.
    TimedOut,
}

/// The client's side of one exchange's request body, shared between the stream that reads
/// it ([`client_stream`]) and whoever must decide whose fault a stalled exchange is (an
/// endpoint deadline that passes while Axon waits for the client's bytes is the client's
/// failure, not the backend's).
///
/// The HTTP front makes one per exchange and runs the exchange inside
/// [`ClientSide::scope`]; the exchange never leaves its task, so the body stream and the
/// endpoint's deadline find it there without threading it through every layer.
#[derive(Debug)]
pub(crate) struct ClientSide {
    idle: Duration,
    progress: Cell<Progress>,
}

tokio::task_local! {
    static CLIENT_SIDE: Rc<ClientSide>;
}

impl ClientSide {
    /// The client's side of a new exchange, whose body may pause at most `idle` between
    /// bytes.
    pub(crate) fn new(idle: Duration) -> Rc<ClientSide> {
        Rc::new(ClientSide {
            idle,
            progress: Cell::new(Progress::Unread),
        })
    }

    /// Runs `exchange` with `side` as its client's side.
    pub(crate) fn scope<F: Future>(
        side: Rc<ClientSide>,
        exchange: F,
    ) -> impl Future<Output = F::Output> {
        CLIENT_SIDE.scope(side, exchange)
    }

    /// True when this exchange's last read of the client's body found nothing yet: Axon
    /// (and so the backend it streams to) is waiting for the client.
    pub(crate) fn waiting_on_client() -> bool {
        CLIENT_SIDE
            .try_with(|side| matches!(side.progress.get(), Progress::Waiting | Progress::TimedOut))
            .unwrap_or(false)
    }
}

/// Wraps a client's request body stream so that it fails with [`BodyTimedOut`] when the
/// client sends nothing for the exchange's body read timeout while Axon waits for it, and
/// records its progress (see [`ClientSide`]). Outside an exchange the stream is returned
/// as it is.
pub(crate) fn client_stream(stream: BodyStream) -> BodyStream {
    match CLIENT_SIDE.try_with(Rc::clone) {
        Ok(side) => Box::pin(ClientBody {
            inner: stream,
            timer: Box::pin(tokio::time::sleep(side.idle)),
            armed: false,
            side,
        }),
        Err(_) => stream,
    }
}

/// A body that fails at once, on purpose, so that the front closes the connection without a
/// response head (a prototype endpoint's programmed "dropped connection").
pub(crate) fn dropped_connection(reason: &'static str) -> BodyStream {
    Box::pin(futures_util::stream::once(async move {
        Err::<Bytes, _>(PayloadError::Io(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            DroppedOnPurpose(reason),
        )))
    }))
}

/// The cause of a [`dropped_connection`] body.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct DroppedOnPurpose(&'static str);

/// True when `error` is the failure of a [`dropped_connection`] body.
pub(crate) fn is_dropped_on_purpose(error: &PayloadError) -> bool {
    matches!(error, PayloadError::Io(io) if io.get_ref().is_some_and(|inner| inner.is::<DroppedOnPurpose>()))
}

struct ClientBody {
    inner: BodyStream,
    /// Armed when a read finds nothing; disarmed by the next bytes.
    timer: Pin<Box<tokio::time::Sleep>>,
    armed: bool,
    side: Rc<ClientSide>,
}

impl Stream for ClientBody {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        match this.side.progress.get() {
            Progress::Ended | Progress::TimedOut => return Poll::Ready(None),
            _ => {}
        }
        match this.inner.as_mut().poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                this.armed = false;
                this.side.progress.set(Progress::Flowing);
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(other) => {
                this.side.progress.set(Progress::Ended);
                Poll::Ready(other)
            }
            Poll::Pending => {
                this.side.progress.set(Progress::Waiting);
                if !this.armed {
                    let at = tokio::time::Instant::now() + this.side.idle;
                    this.timer.as_mut().reset(at);
                    this.armed = true;
                }
                if this.timer.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                this.side.progress.set(Progress::TimedOut);
                let error =
                    std::io::Error::new(std::io::ErrorKind::TimedOut, BodyTimedOut(this.side.idle));
                Poll::Ready(Some(Err(PayloadError::Io(error))))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn streamed(chunks: &[&'static [u8]], length: Option<u64>) -> Body {
        let chunks: Vec<Result<Bytes, PayloadError>> =
            chunks.iter().map(|c| Ok(Bytes::from_static(c))).collect();
        Body::Stream {
            stream: Box::pin(futures_util::stream::iter(chunks)),
            length,
        }
    }

    async fn all(mut body: Body) -> Vec<u8> {
        match body.buffer(usize::MAX).await {
            Ok(bytes) => bytes.to_vec(),
            Err(error) => panic!("{error}"),
        }
    }

    #[actix_rt::test]
    async fn buffer_within_keeps_every_byte_whatever_the_size() {
        let mut full = Body::Full(Bytes::from_static(b"kept"));
        assert!(matches!(full.buffer_within(2).await, Ok(Buffered::Whole(b)) if &b[..] == b"kept"));
        assert_eq!(all(full).await, b"kept", "a body already in memory stays");

        let mut small = streamed(&[b"ab", b"cd"], Some(4));
        assert!(
            matches!(small.buffer_within(4).await, Ok(Buffered::Whole(b)) if &b[..] == b"abcd")
        );
        assert!(matches!(small, Body::Full(_)));

        let mut large = streamed(&[b"abcd", b"efgh", b"ij"], None);
        assert!(
            matches!(large.buffer_within(5).await, Ok(Buffered::Larger(b)) if &b[..] == b"abcdefgh")
        );
        assert_eq!(
            all(large).await,
            b"abcdefghij",
            "what was read goes back in front"
        );

        let mut declared = streamed(&[b"abcdefghij"], Some(10));
        assert!(
            matches!(declared.buffer_within(5).await, Ok(Buffered::Larger(b)) if &b[..] == b"abcdefghij")
        );
        assert_eq!(all(declared).await, b"abcdefghij");
    }

    #[test]
    fn a_declared_length_reserves_nothing_beyond_a_first_chunk() {
        // A client declaring 4 MB and sending 10 bytes must not cost 4 MB.
        assert!(start_buffer(Some(4 * 1024 * 1024)).capacity() <= FIRST_RESERVE);
        assert!(start_buffer(Some(u64::MAX)).capacity() <= FIRST_RESERVE);
        assert_eq!(start_buffer(Some(10)).capacity(), 10);
    }

    #[actix_rt::test]
    async fn a_stalled_client_body_fails_after_the_idle_timeout_and_says_so() {
        let side = ClientSide::new(Duration::from_millis(50));
        let outcome = ClientSide::scope(side, async {
            let chunks = futures_util::stream::iter([Ok(Bytes::from_static(b"ab"))]);
            let stalled = chunks.chain(futures_util::stream::pending());
            let mut body = Body::stream(client_stream(Box::pin(stalled)), Some(10));
            assert!(!ClientSide::waiting_on_client(), "nothing asked yet");
            let error = body.buffer(1024).await.expect_err("a stalled body fails");
            (error.is_timeout(), ClientSide::waiting_on_client())
        })
        .await;
        assert_eq!(outcome, (true, true));
    }

    #[actix_rt::test]
    async fn buffer_within_refuses_a_body_cut_short_of_its_declared_length() {
        let mut cut = streamed(&[b"abc"], Some(10));
        assert!(matches!(
            cut.buffer_within(64).await,
            Err(BodyError::Read(PayloadError::Incomplete(_)))
        ));
    }
}
