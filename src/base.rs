//! The ground floor: the vocabulary every layer shares. Nothing here imports anything of
//! Axon above it (`tests/layers.rs` checks it), so anything may import it.
//!
//! - [`limits`]: the limits that apply to every message ([`limits::Limits`]), and
//!   [`budget`]: what one XML tree built from a message may cost.
//! - [`error`]: the one classification of endpoint failures and the Synapse error codes;
//!   [`cause`]: the failure causes it finds inside client errors; [`mediation`]: a
//!   mediation failure and the JSON body of Axon's error answers; [`headers`]: the names of
//!   the headers Axon adds.
//! - [`diag`], `xml`: configuration diagnostics at `file:line:column`, and the positioned
//!   XML tree (with escaping) that configuration and format conversions share.
//! - [`uri_template`]: the inbound `uri-template` and `url-mapping` matcher.
//! - [`lifecycle`]: the API lifecycle states, their rules and the live per-API word.
//! - [`suspension`]: an endpoint's suspension settings, as plain data.
//! - [`readiness`]: the latch `/health/ready` reads, counted by listeners and actors.
//! - [`grpc`]: gRPC wire facts (status codes, `grpc-timeout`, framing, health messages).
//! - [`tls`]: TLS setup shared by every client and listener.
//! - [`metrics`]: the Prometheus metric families, recorded where things happen.
//! - `io`: the pass-through half of `AsyncWrite` for stream wrappers that watch the other.

pub mod allow_to;
pub(crate) mod budget;
pub(crate) mod cause;
pub(crate) mod diag;
pub(crate) mod error;
pub mod grpc;
pub(crate) mod headers;
pub(crate) mod io;
pub mod lifecycle;
pub mod limits;
pub(crate) mod mediation;
pub(crate) mod metrics;
pub(crate) mod path;
pub(crate) mod query;
pub(crate) mod readiness;
pub(crate) mod suspension;
pub mod tls;
pub mod uri_template;
pub(crate) mod xml;
