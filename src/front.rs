//! Fronts: the listeners that turn network requests into messages.
//!
//! - [`http`]: HTTP/1.1 (and h2 over TLS) for REST and SOAP, on actix-web.
//! - [`grpc`]: gRPC (h2c, and h2 over TLS), on hyper.

pub mod grpc;
pub mod http;
