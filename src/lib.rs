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
//!   `engine::live::Shared`); API and resource dispatch ([`engine::dispatch`]); the
//!   sequence interpreter and fault handling.
//! - `front`: listeners. `front::http` turns an HTTP request into a
//!   [`message::MessageContext`] and an engine reply back into a response. `admin`: the
//!   management API (health of every actor, switches, reload).
//! - [`server`]: starting the fronts, the management API and the actors together; [`cli`],
//!   [`telemetry`]: the command line and logging.
//!
//! A message goes through them top down: front, engine, mediators and endpoints.
//!
//! # Public surface
//!
//! Everything is `pub(crate)` unless the binary, the integration tests (`tests/it`), the
//! benches or the fuzz targets name it; `unreachable_pub` (Cargo.toml, denied in CI through
//! clippy's `-D warnings`) keeps it that way. Items keep their module paths, so a name reads
//! the same inside and outside the crate:
//!
//! - Running Axon: [`cli::Cli`], [`cli::Command`], [`cli::check`], [`cli::serve`],
//!   [`telemetry::init`]; [`engine::Mediation::load`] and [`server::Server`] with
//!   [`server::ServerOptions`], the limits they take ([`base::limits::Limits`],
//!   [`message::XmlLimits`]) and TLS setup ([`base::tls::install_crypto_provider`],
//!   [`base::tls::server_config`], the HTTPS listener's [`base::tls::ServerTls`] and the
//!   backends' [`base::tls::BackendTls`]).
//! - gRPC wire helpers the tests' own clients and backends use:
//!   [`base::grpc::frame`], [`base::grpc::first_message`], [`base::grpc::decode_message`],
//!   [`base::grpc::parse_timeout`], [`base::grpc::LocalExec`].
//! - The building blocks the criterion benches in `benches/` time directly: routing
//!   ([`engine::dispatch::Router`], [`base::uri_template::UriTemplate`]), the message
//!   ([`message::MessageContext`], [`message::Body`], [`message::soap::Envelope`]),
//!   expressions and steps ([`expr::Expression`], [`mediators::Step`]), endpoint health and
//!   selection ([`endpoints::state::HealthMachine`], [`endpoints::health::Health`],
//!   [`endpoints::select::SmoothWeighted`]), addresses and mocks
//!   ([`endpoints::address::resolve`], [`endpoints::prototype::plan`]), the configuration
//!   they are built from ([`config::Config`]) and API lifecycles
//!   ([`base::lifecycle::Lifecycle`]). They are public for the benches, not a stable API.
//! - With the `fuzzing` feature, `fuzzing`: one entry function per fuzz target in `fuzz/`.
//!   With the `test-hooks` feature (tests only), [`server::Server`] gains a hook that makes
//!   an endpoint actor panic, for the supervision tests.

// The module docs are written for contributors and link to crate-private items; read them with
// `cargo doc --document-private-items`. Without it those links render as plain text.
#![allow(rustdoc::private_intra_doc_links)]

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
