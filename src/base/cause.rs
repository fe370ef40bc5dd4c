//! Failure causes that cross layers: a body that could not be read, a client that stalled,
//! a message that is not what it claims to be. The one classification (`error.rs`) finds them
//! inside the errors of the HTTP client, so they live below everything that makes or reads
//! them.

use std::time::Duration;

use actix_web::error::PayloadError;

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

impl BodyError {
    /// True when the client stalled: it sent nothing for the body read timeout.
    pub(crate) fn is_timeout(&self) -> bool {
        matches!(self, BodyError::Read(cause) if is_body_timeout(cause))
    }
}

/// The error a client's body fails with when it stalls (inside [`PayloadError::Io`], kind
/// `TimedOut`; see [`is_body_timeout`]).
#[derive(Debug, thiserror::Error)]
#[error("the client sent no request body bytes for {} ms", .0.as_millis())]
pub(crate) struct BodyTimedOut(pub(crate) Duration);

/// True when `error` (from a body stream, possibly boxed by the HTTP client) is a client's
/// stalled body.
pub(crate) fn is_body_timeout(error: &(dyn std::error::Error + 'static)) -> bool {
    match error.downcast_ref::<PayloadError>() {
        Some(PayloadError::Io(io)) => io.get_ref().is_some_and(|inner| inner.is::<BodyTimedOut>()),
        _ => false,
    }
}

/// A message that is not what it claims to be (malformed XML, not an envelope, wrong
/// version). Clients get a Client (1.1) / Sender (1.2) fault for it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Malformed(pub String);

impl From<super::budget::LimitError> for Malformed {
    fn from(error: super::budget::LimitError) -> Self {
        Malformed(error.to_string())
    }
}

/// The envelope problem behind a failed request body, if that is what failed it.
pub(crate) fn malformed_cause<'e>(
    error: &'e (dyn std::error::Error + 'static),
) -> Option<&'e Malformed> {
    let payload = error.downcast_ref::<PayloadError>()?;
    match payload {
        PayloadError::Io(io) => io.get_ref()?.downcast_ref::<Malformed>(),
        _ => None,
    }
}
