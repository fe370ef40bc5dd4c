//! Fronts: the listeners that turn network requests into messages.
//!
//! - [`http`]: HTTP/1.1 (and h2 over TLS) for REST and SOAP, on actix-web.

pub mod http;
