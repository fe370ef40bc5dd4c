//! The names of the response headers Axon adds: every layer that writes or reads them uses
//! these.

/// The response header listing every endpoint tried for the message, in order.
pub(crate) const TRACE_HEADER: &str = "x-axon-trace";
/// The response header carrying the Synapse error code of a built-in fault reply.
pub(crate) const ERROR_CODE_HEADER: &str = "x-axon-error-code";
/// The response header of a DEPRECATED API (RFC 9745): `@` and the Unix time of deprecation.
pub(crate) const DEPRECATION_HEADER: &str = "deprecation";
/// The response header carrying the exchange's message id (`urn:uuid:…`), on every answer
/// of the HTTP front; the same id is in error bodies, the exchange's log line and the
/// health API's last error of an endpoint it failed on.
pub(crate) const MESSAGE_ID_HEADER: &str = "x-axon-message-id";
