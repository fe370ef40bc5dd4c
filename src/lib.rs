//! Axon: a message-mediation engine that runs Synapse-style configurations.
//!
//! # Layout
//!
//! A message goes, in order, through the modules below (see `docs/ARCHITECTURE.md`):
//!
//! - [`front`]: listeners. [`front::http`] turns an HTTP request into a
//!   [`message::MessageContext`] and an engine reply back into a response.
//! - [`engine`]: one live configuration generation ([`engine::Runtime`]); API and resource
//!   dispatch ([`engine::dispatch`]); the sequence interpreter and fault handling.
//! - [`mediators`]: the steps of a sequence, one file each.
//! - [`endpoints`]: where messages go; one actor per leaf owns its health state machine
//!   ([`endpoints::state`]), workers carry the bytes.
//! - [`admin`]: the management API (health of every actor, switches, reload).
//!
//! Around them:
//!
//! - [`config`]: the mediation folder to a validated [`config::Config`], with every problem
//!   reported at `file:line:column`.
//! - [`message`]: the message context, its body (parsed lazily, once) and its properties.
//! - [`expr`]: XPath 1.0 and `json-eval()` expressions, compiled at load.
//! - [`server`]: starting the fronts, the management API and the actors together.
//! - [`grpc`]: gRPC wire facts shared by the gRPC front and gRPC leaves (status codes,
//!   `grpc-timeout`, framing, the health-check messages).
//! - [`cli`], [`telemetry`], [`tls`]: the command line, logging, TLS setup.

pub mod admin;
pub mod base;
pub mod cli;
pub mod config;
pub mod endpoints;
pub mod engine;
pub mod expr;
pub mod front;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod mediators;
pub mod message;
pub mod server;
pub mod telemetry;
