//! Axon's integration tests: one binary, real sockets on 127.0.0.1, real backends.

// Test helpers are `pub` inside private modules, which is the point of a test binary.
#![allow(unreachable_pub, missing_debug_implementations)]

mod support;

mod admin;
mod backend_faults;
mod cache;
mod check;
mod client_abuse;
mod compat;
mod eip;
mod expressions;
mod fault_matrix;
mod fixtures;
mod groups;
mod grpc;
mod grpc_abuse;
mod grpc_front_abuse;
mod health_checks;
mod http_proxy;
mod lifecycle;
mod observability;
mod operations;
mod prototype;
mod serve;
mod soap;
mod suspension;
mod throttle;
mod tls;
mod web_view;
mod xml_limits;
