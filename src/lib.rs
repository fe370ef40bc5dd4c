//! Axon: a message-mediation engine that runs Synapse-style configurations.
//!
//! # Layout
//!
//! The modules stand in layers; each imports only its own layer or lower ones
//! (`docs/ARCHITECTURE.md`, "Layers"; `tests/layers.rs` checks it). Bottom to top:
//!
//! - [`base`]: the ground floor, shared vocabulary that imports nothing of Axon: limits,
//!   the one error classification and the Synapse error codes, header names, the positioned
//!   XML tree, URI templates, lifecycle words, suspension settings, readiness, gRPC wire
//!   facts, TLS setup.
//! - [`config`]: the mediation folder to a validated [`config::Config`], plain data, with
//!   every problem reported at `file:line:column` ([`engine::Mediation::load`] hands it the
//!   mediators' parser).
//! - [`message`]: the message context, its body (parsed lazily, once), its properties and the
//!   conversions between kinds; [`expr`]: XPath 1.0 and `json-eval()` expressions, compiled
//!   at load.
//! - [`endpoints`]: where messages go; one actor per leaf owns its health state machine
//!   ([`endpoints::state`]), workers carry the bytes. [`mediators`]: the steps of a
//!   sequence, one file each.
//! - [`engine`]: one live configuration generation ([`engine::Runtime`], shared through
//!   [`engine::live::Shared`]); API and resource dispatch ([`engine::dispatch`]); the
//!   sequence interpreter and fault handling.
//! - [`front`]: listeners. [`front::http`] turns an HTTP request into a
//!   [`message::MessageContext`] and an engine reply back into a response. [`admin`]: the
//!   management API (health of every actor, switches, reload).
//! - [`server`]: starting the fronts, the management API and the actors together; [`cli`],
//!   [`telemetry`]: the command line and logging.
//!
//! A message goes through them top down: front, engine, mediators and endpoints.

pub(crate) mod admin;
pub mod base;
pub mod cli;
pub mod config;
pub mod endpoints;
pub mod engine;
pub mod expr;
pub(crate) mod front;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod mediators;
pub mod message;
pub mod server;
pub mod telemetry;
