//! `<healthCheck>`: Axon's optional active health check of a leaf endpoint, one element for
//! every kind of leaf.
//!
//! ```xml
//! <address uri="http://orders-1:8080/api">
//!   <healthCheck path="/health" interval="5000" timeout="1000"
//!                unhealthyThreshold="3" healthyThreshold="2"/>
//! </address>
//! <grpc uri="http://greeter:50051">
//!   <healthCheck service="helloworld.Greeter" interval="5000"/>
//! </grpc>
//! ```

use std::time::Duration;

use super::values;
use super::{Ctx, Element, Target};

/// Probe interval when `interval` is not given.
pub(crate) const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);
/// Probe deadline when `timeout` is not given.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
/// Consecutive passing probes that bring a down leaf back, by default.
pub(crate) const DEFAULT_HEALTHY_THRESHOLD: u32 = 2;
/// Consecutive failing probes that take a leaf down, by default.
pub(crate) const DEFAULT_UNHEALTHY_THRESHOLD: u32 = 3;

/// An active health check of one leaf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HealthCheckSpec {
    /// What a probe asks.
    pub(crate) target: ProbeTarget,
    /// Time between probes (each one jittered by up to ±10%).
    pub(crate) interval: Duration,
    /// Deadline of one probe.
    pub(crate) timeout: Duration,
    /// Consecutive failing probes that take the leaf down.
    pub(crate) unhealthy_threshold: u32,
    /// Consecutive passing probes that make a TIMEOUT or SUSPENDED leaf ACTIVE.
    pub(crate) healthy_threshold: u32,
}

/// What a probe asks, by kind of leaf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ProbeTarget {
    /// HTTP leaves (`<address>`, `<http>`, `<wsdl>`): `GET` this URL; 2xx or 3xx passes.
    Http(String),
    /// `<grpc>` leaves: `grpc.health.v1.Health/Check` for this service (empty: the server
    /// as a whole); SERVING passes.
    Grpc {
        /// The service asked about.
        service: String,
    },
}

/// Parses `<healthCheck>` for the leaf sending to `target` (`None` when the target itself
/// was invalid and already reported).
pub(crate) fn parse(
    el: &Element,
    target: Option<&Target>,
    ctx: &mut Ctx<'_>,
) -> Option<HealthCheckSpec> {
    let grpc = matches!(target, Some(Target::Grpc(_)));
    let what = if grpc { "service" } else { "path" };
    ctx.check_attrs(
        el,
        &[
            what,
            "interval",
            "timeout",
            "unhealthyThreshold",
            "healthyThreshold",
        ],
    );
    ctx.no_children(el);
    let mut ok = true;
    let mut interval = DEFAULT_INTERVAL;
    let mut timeout = DEFAULT_TIMEOUT;
    for (name, field) in [("interval", &mut interval), ("timeout", &mut timeout)] {
        if let Some(a) = el.attr(name) {
            match values::millis(&a.value, &a.loc, name, ctx.diags) {
                Some(d) if !d.is_zero() => *field = d,
                Some(_) => {
                    ctx.error(&a.loc, format!("`{name}` must be at least 1 ms"));
                    ok = false;
                }
                None => ok = false,
            }
        }
    }
    let mut unhealthy_threshold = DEFAULT_UNHEALTHY_THRESHOLD;
    let mut healthy_threshold = DEFAULT_HEALTHY_THRESHOLD;
    for (name, field) in [
        ("unhealthyThreshold", &mut unhealthy_threshold),
        ("healthyThreshold", &mut healthy_threshold),
    ] {
        if let Some(a) = el.attr(name) {
            match values::count(&a.value, &a.loc, name, ctx.diags) {
                Some(n) if n > 0 => *field = n,
                Some(_) => {
                    ctx.error(&a.loc, format!("`{name}` must be at least 1"));
                    ok = false;
                }
                None => ok = false,
            }
        }
    }
    let given = el.attr_value(what).map(str::trim);
    let target = match target? {
        Target::Grpc(_) => ProbeTarget::Grpc {
            service: given.unwrap_or_default().to_owned(),
        },
        other => match probe_url(other, given.unwrap_or("/")) {
            Ok(url) => ProbeTarget::Http(url),
            Err(message) => {
                ctx.error(&el.loc, message.to_string());
                return None;
            }
        },
    };
    ok.then_some(HealthCheckSpec {
        target,
        interval,
        timeout,
        unhealthy_threshold,
        healthy_threshold,
    })
}

/// The probe URL of an HTTP leaf: `path` when it is a whole URL, else the target's scheme
/// and authority followed by `path`.
fn probe_url(target: &Target, path: &str) -> Result<String, ProbeUrlError> {
    let url = if path.starts_with("http://") || path.starts_with("https://") {
        path.to_owned()
    } else {
        let base = match target {
            Target::Address(a) => a.uri.as_str(),
            Target::Wsdl(w) => w.address.uri.as_str(),
            Target::Http(h) => h.template_source.as_str(),
            Target::Prototype(_) => {
                return Err(ProbeUrlError::Prototype);
            }
            Target::Grpc(_) => return Err(ProbeUrlError::Grpc),
        };
        let Some((scheme, rest)) = base.split_once("://") else {
            return Err(ProbeUrlError::NoHost(base.to_owned()));
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
        if authority.is_empty() || authority.contains('{') || authority.contains("${") {
            return Err(ProbeUrlError::ComputedHost(base.to_owned()));
        }
        let slash = if path.starts_with('/') { "" } else { "/" };
        format!("{scheme}://{authority}{slash}{path}")
    };
    match url.parse::<actix_web::http::Uri>() {
        Ok(uri) if uri.host().is_some() => Ok(url),
        _ => Err(ProbeUrlError::Invalid(url)),
    }
}

/// Why an HTTP leaf's health check has no URL to probe.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum ProbeUrlError {
    /// A prototype leaf answers itself.
    #[error("a prototype endpoint has no backend to check")]
    Prototype,
    /// A gRPC leaf is probed by service, not URL.
    #[error("a gRPC endpoint is checked by `service`")]
    Grpc,
    /// The leaf's address has no `scheme://`.
    #[error("cannot take a host from `{0}` for the health check; give `path` as a whole URL")]
    NoHost(String),
    /// The leaf's host is computed per message.
    #[error(
        "the host of `{0}` is computed per message, so the health check needs `path` as a whole URL"
    )]
    ComputedHost(String),
    /// The URL made does not parse, or has no host.
    #[error("`{0}` is not a valid health check URL")]
    Invalid(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AddressSpec;

    fn address(uri: &str) -> Target {
        Target::Address(AddressSpec {
            uri: uri.into(),
            member: false,
        })
    }

    #[test]
    fn probe_urls_take_scheme_and_host_from_the_leaf() {
        assert_eq!(
            probe_url(&address("http://h:8080/svc/orders?x=1"), "/health").as_deref(),
            Ok("http://h:8080/health")
        );
        assert_eq!(
            probe_url(&address("https://h/svc"), "ping").as_deref(),
            Ok("https://h/ping")
        );
        assert_eq!(
            probe_url(&address("http://${host}/svc"), "/health"),
            Err(ProbeUrlError::ComputedHost("http://${host}/svc".into()))
        );
        assert_eq!(
            probe_url(&address("http://${host}/svc"), "http://other:9/h").as_deref(),
            Ok("http://other:9/h")
        );
    }
}
