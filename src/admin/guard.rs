//! The management API's guard against browsers: every request must name Axon by an
//! expected `Host`, and a request with an `Origin` must come from that same origin.
//!
//! The API listens on loopback by default, but a browser on the same machine reaches
//! loopback too. A page elsewhere can POST to it (a `text/plain` form needs no CORS
//! preflight), and a name the attacker controls can be rebound to 127.0.0.1 (DNS
//! rebinding) so that the page's own origin reads the answers. Both carry a name Axon
//! does not answer to: the page's origin in `Origin`, the rebound name in `Host`. Refused
//! with 403 and a JSON error, on every route (reads leak health and addresses).
//!
//! Accepted `Host` names: IP literals (a rebinding attack needs a name), `localhost` and
//! `*.localhost` (RFC 6761: always loopback), and the names configured with
//! `--management-host`. A request without `Host` (HTTP/1.0 tools) is accepted; browsers
//! always send one.

use actix_web::body::BoxBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};
use serde_json::json;

/// The names the management API answers to, besides IP literals and `localhost`.
#[derive(Debug, Clone, Default)]
pub(crate) struct AllowedHosts {
    names: Vec<String>,
}

impl AllowedHosts {
    /// Also accepts `names` (case-insensitive, without port).
    pub(crate) fn new(names: &[String]) -> Self {
        AllowedHosts {
            names: names
                .iter()
                .map(|n| n.trim().to_ascii_lowercase())
                .filter(|n| !n.is_empty())
                .collect(),
        }
    }

    /// Why a request with these headers is refused, if it is.
    pub(crate) fn refusal(&self, headers: &HeaderMap) -> Option<String> {
        let host = match headers.get(header::HOST).map(|h| h.to_str()) {
            None => None,
            Some(Ok(host)) => Some(host.trim()),
            Some(Err(_)) => return Some("the Host header is not readable".into()),
        };
        if let Some(host) = host
            && !self.accepts(host_name(host))
        {
            return Some(format!(
                "the management API does not answer to the host `{host}` (allow it with --management-host)"
            ));
        }
        let origin = headers.get(header::ORIGIN)?;
        let origin = origin.to_str().unwrap_or("?");
        let same = host.is_some_and(|host| {
            origin
                .strip_prefix("http://")
                .or_else(|| origin.strip_prefix("https://"))
                .is_some_and(|authority| authority.eq_ignore_ascii_case(host))
        });
        (!same).then(|| {
            format!("cross-origin requests are refused: Origin `{origin}` is not this API's origin")
        })
    }

    fn accepts(&self, name: &str) -> bool {
        let name = name.to_ascii_lowercase();
        let literal = name.trim_start_matches('[').trim_end_matches(']');
        literal.parse::<std::net::IpAddr>().is_ok()
            || name == "localhost"
            || name.ends_with(".localhost")
            || self.names.contains(&name)
    }
}

/// The name part of a `Host` value: without its port, an IPv6 literal kept in brackets.
fn host_name(host: &str) -> &str {
    if host.starts_with('[') {
        return host.find(']').map_or(host, |end| &host[..=end]);
    }
    host.rsplit_once(':').map_or(host, |(name, _)| name)
}

/// The middleware: refuses what [`AllowedHosts::refusal`] refuses.
pub(crate) async fn check(
    req: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let refusal = req
        .app_data::<web::Data<AllowedHosts>>()
        .and_then(|allowed| allowed.refusal(req.headers()));
    match refusal {
        None => next.call(req).await,
        Some(why) => {
            tracing::warn!(
                path = %req.path(),
                peer = req.peer_addr().map(tracing::field::display),
                reason = %why,
                "Management request refused"
            );
            let response = HttpResponse::Forbidden().json(json!({ "error": why }));
            Ok(req.into_response(response))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderValue;

    fn refused(allowed: &AllowedHosts, host: Option<&str>, origin: Option<&str>) -> bool {
        let mut headers = HeaderMap::new();
        if let Some(host) = host {
            headers.insert(header::HOST, HeaderValue::from_str(host).unwrap());
        }
        if let Some(origin) = origin {
            headers.insert(header::ORIGIN, HeaderValue::from_str(origin).unwrap());
        }
        allowed.refusal(&headers).is_some()
    }

    #[test]
    fn hosts_and_origins() {
        let allowed = AllowedHosts::new(&["Axon.internal".into()]);
        for host in [
            "127.0.0.1:9164",
            "localhost:9164",
            "LOCALHOST",
            "api.localhost:1",
            "[::1]:9164",
            "10.1.2.3",
            "axon.internal:9164",
        ] {
            assert!(!refused(&allowed, Some(host), None), "{host}");
        }
        assert!(!refused(&allowed, None, None), "HTTP/1.0 without Host");
        for host in [
            "attacker.example:9164",
            "localhost.attacker.example",
            "axon",
        ] {
            assert!(refused(&allowed, Some(host), None), "{host}");
        }
        let host = Some("127.0.0.1:9164");
        assert!(!refused(&allowed, host, Some("http://127.0.0.1:9164")));
        for origin in [
            "http://attacker.example",
            "null",
            "http://127.0.0.1:8080",
            "http://127.0.0.1:9164.attacker.example",
        ] {
            assert!(refused(&allowed, host, Some(origin)), "{origin}");
        }
        assert!(refused(&allowed, None, Some("http://127.0.0.1:9164")));
    }
}
