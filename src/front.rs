//! Fronts: the listeners that turn network requests into messages.
//!
//! - [`http`]: HTTP/1.1 (and h2 over TLS) for REST and SOAP, on actix-web.
//! - [`soap`]: proxy services at `/services/<name>` (with `?wsdl`), SOAP faults for SOAP
//!   clients, and answering each client in the kind it speaks.
//! - [`grpc`]: gRPC (h2c, and h2 over TLS), on hyper.
//! - `access`: the message id from `X-Request-ID`, and the access-log line.
//! - `limits`: the descriptor budget that caps each traffic port's connections.
//! - `actor`: the front actor of each listener (binding, draining, generation switches).

pub(crate) mod access;
pub(crate) mod actor;
pub(crate) mod grpc;
pub(crate) mod http;
pub(crate) mod limits;
pub(crate) mod soap;
