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

    /// Takes the body out, leaving `Empty`.
    pub fn take(&mut self) -> Body {
        std::mem::replace(self, Body::Empty)
    }
}
