//! Message bodies: streamed from the socket until something needs the bytes.

use std::fmt;
use std::pin::Pin;

use actix_web::error::PayloadError;
use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};

/// A body stream as received from a client or a backend (not `Send`).
pub type BodyStream = Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>>;

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

/// Why a body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// The body is larger than the configured limit.
    #[error("the message body is larger than the limit of {limit} bytes")]
    TooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// The peer failed while sending the body.
    #[error("reading the message body failed: {0}")]
    Read(#[source] PayloadError),
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
    pub fn stream(stream: BodyStream, length: Option<u64>) -> Self {
        if length == Some(0) {
            return Body::Empty;
        }
        Body::Stream { stream, length }
    }

    /// True for a body known to be empty.
    pub fn is_empty(&self) -> bool {
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
    pub async fn buffer(&mut self, limit: usize) -> Result<Bytes, BodyError> {
        match self {
            Body::Empty => Ok(Bytes::new()),
            Body::Full(b) => Ok(b.clone()),
            Body::Stream { stream, length } => {
                if length.is_some_and(|l| l > limit as u64) {
                    *self = Body::Empty;
                    return Err(BodyError::TooLarge { limit });
                }
                let mut buf = BytesMut::with_capacity(length.unwrap_or(0) as usize);
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
    pub async fn buffer_within(&mut self, limit: usize) -> Result<Buffered, BodyError> {
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
    pub fn take(&mut self) -> Body {
        std::mem::replace(self, Body::Empty)
    }
}

/// What [`Body::buffer_within`] found.
#[derive(Debug)]
pub enum Buffered {
    /// The whole body, now `Full`.
    Whole(Bytes),
    /// The body is larger than the limit and still streams; these are the bytes read
    /// before that was known (the limit and at most one chunk more).
    Larger(Bytes),
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

    #[actix_rt::test]
    async fn buffer_within_refuses_a_body_cut_short_of_its_declared_length() {
        let mut cut = streamed(&[b"abc"], Some(10));
        assert!(matches!(
            cut.buffer_within(64).await,
            Err(BodyError::Read(PayloadError::Incomplete(_)))
        ));
    }
}
