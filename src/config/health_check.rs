//! `<healthCheck>`: Axon's optional active health check of a leaf endpoint.
//!
//! ```xml
//! <address uri="http://orders-1:8080/api">
//!   <healthCheck>
//!     <path>/health</path>                     <!-- or a whole URL -->
//!     <interval>5000</interval>
//!     <timeout>1000</timeout>
//!     <healthyThreshold>2</healthyThreshold>
//!     <unhealthyThreshold>3</unhealthyThreshold>
//!   </healthCheck>
//! </address>
//! ```

use std::time::Duration;

use super::values;
use super::{Ctx, Element, Target};

/// Probe interval when `<interval>` is not given.
pub(crate) const DEFAULT_INTERVAL: Duration = Duration::from_millis(5_000);
/// Probe deadline when `<timeout>` is not given.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_millis(1_000);
/// Consecutive passing probes that bring a suspended leaf back, by default.
pub(crate) const DEFAULT_HEALTHY_THRESHOLD: u32 = 2;
/// Consecutive failing probes that suspend a leaf, by default.
pub(crate) const DEFAULT_UNHEALTHY_THRESHOLD: u32 = 3;

/// An active health check of one leaf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheckSpec {
    /// The URL probed with `GET`: the leaf's scheme and authority plus `<path>`.
    pub url: String,
    /// Time between probes (each one jittered by up to ±10%).
    pub interval: Duration,
    /// Deadline of one probe.
    pub timeout: Duration,
    /// Consecutive passing probes that make a TIMEOUT or SUSPENDED leaf ACTIVE.
    pub healthy_threshold: u32,
    /// Consecutive failing probes that suspend the leaf.
    pub unhealthy_threshold: u32,
}

/// Parses `<healthCheck>` for the leaf sending to `target` (`None` when the target itself
/// was invalid and already reported).
pub(crate) fn parse(
    el: &Element,
    target: Option<&Target>,
    ctx: &mut Ctx<'_>,
) -> Option<HealthCheckSpec> {
    ctx.check_attrs(el, &[]);
    ctx.no_text(el);
    let mut ok = true;
    let mut path = "/".to_owned();
    let mut spec = HealthCheckSpec {
        url: String::new(),
        interval: DEFAULT_INTERVAL,
        timeout: DEFAULT_TIMEOUT,
        healthy_threshold: DEFAULT_HEALTHY_THRESHOLD,
        unhealthy_threshold: DEFAULT_UNHEALTHY_THRESHOLD,
    };
    for child in el.elements() {
        ctx.no_elements(child);
        let text = child.text();
        let local = child.local_name();
        match local {
            "path" => path = text,
            "interval" | "timeout" => match values::millis(&text, &child.loc, local, ctx.diags) {
                Some(d) if d.is_zero() => {
                    ctx.error(&child.loc, format!("`{local}` must be greater than 0"));
                    ok = false;
                }
                Some(d) if local == "interval" => spec.interval = d,
                Some(d) => spec.timeout = d,
                None => ok = false,
            },
            "healthyThreshold" | "unhealthyThreshold" => {
                match values::count(&text, &child.loc, local, ctx.diags) {
                    Some(0) => {
                        ctx.error(&child.loc, format!("`{local}` must be at least 1"));
                        ok = false;
                    }
                    Some(n) if local == "healthyThreshold" => spec.healthy_threshold = n,
                    Some(n) => spec.unhealthy_threshold = n,
                    None => ok = false,
                }
            }
            _ => {
                ctx.unknown_child(el, child);
                ok = false;
            }
        }
    }
    if spec.timeout > spec.interval {
        ctx.error(
            &el.loc,
            "the health check `timeout` must not be longer than its `interval`",
        );
        ok = false;
    }
    let target = target?;
    match probe_url(target, &path) {
        Ok(url) => spec.url = url,
        Err(message) => {
            ctx.error(&el.loc, message);
            ok = false;
        }
    }
    ok.then_some(spec)
}

/// The probe URL: `path` when it is a whole URL, else the target's scheme and authority
/// followed by `path`.
fn probe_url(target: &Target, path: &str) -> Result<String, String> {
    let url = if path.starts_with("http://") || path.starts_with("https://") {
        path.to_owned()
    } else {
        let base = match target {
            Target::Address(a) => a.uri.as_str(),
            Target::Wsdl(w) => w.address.uri.as_str(),
            Target::Http(h) => h.template_source.as_str(),
            Target::Prototype(_) => {
                return Err("a prototype endpoint has no backend to check".into());
            }
        };
        let Some((scheme, rest)) = base.split_once("://") else {
            return Err(format!(
                "cannot take a host from `{base}` for the health check; give <path> as a whole URL"
            ));
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
        if authority.is_empty() || authority.contains('{') || authority.contains("${") {
            return Err(format!(
                "the host of `{base}` is computed per message, so the health check needs <path> as a whole URL"
            ));
        }
        let slash = if path.starts_with('/') { "" } else { "/" };
        format!("{scheme}://{authority}{slash}{path}")
    };
    match url.parse::<actix_web::http::Uri>() {
        Ok(uri) if uri.host().is_some() => Ok(url),
        _ => Err(format!("`{url}` is not a valid health check URL")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AddressSpec;

    fn address(uri: &str) -> Target {
        Target::Address(AddressSpec { uri: uri.into() })
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
        assert!(
            probe_url(&address("http://${host}/svc"), "/health")
                .unwrap_err()
                .contains("computed per message")
        );
        assert_eq!(
            probe_url(&address("http://${host}/svc"), "http://other:9/h").as_deref(),
            Ok("http://other:9/h")
        );
    }
}
