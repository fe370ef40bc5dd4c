//! Who may use the management API: bearer tokens, a read token and a write token.
//!
//! Without tokens the API trusts whoever reaches it (on loopback, or through the TLS
//! handshake when client certificates are required), which is why it binds loopback by
//! default and `serve` refuses another bind without a token or client certificates. With
//! tokens every request carries `Authorization: Bearer <token>`:
//!
//! - a request that only reads (`GET`, `HEAD`: `/health/*`, `/metrics`, any route added
//!   later) takes the read token or the write token;
//! - anything else (switching an endpoint off or on, a lifecycle change, a reload) takes
//!   the write token.
//!
//! The probes `/health/live` and `/health/ready` answer without a token: an orchestrator's
//! probe carries no secret, and they say nothing but "up" and "ready". No token, or a wrong
//! one, is answered 401 with `WWW-Authenticate`; the read token on a write route 403. Tokens
//! are compared in constant time. The web view's static files (`/`, `/web/*`) answer
//! without a token too: they carry no data, and the page asks for the token itself.

use actix_web::body::BoxBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, header};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};
use serde_json::json;

/// The shortest token accepted: a guessable token is no guard.
pub(crate) const MIN_TOKEN_LEN: usize = 16;

/// The routes that answer without a token (the orchestrator's probes).
const PROBES: [&str; 2] = ["/health/live", "/health/ready"];

/// The tokens the management API takes (none: every request is let through).
#[derive(Clone, Default)]
pub(crate) struct Tokens {
    read: Option<Vec<u8>>,
    write: Option<Vec<u8>>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the tokens themselves: this may be logged.
        f.debug_struct("Tokens")
            .field("read", &self.read.is_some())
            .field("write", &self.write.is_some())
            .finish()
    }
}

/// What a request may do, by its credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Grant {
    Write,
    Read,
    None,
}

impl Tokens {
    /// The read and the write token (either may be absent).
    ///
    /// # Errors
    /// A token shorter than [`MIN_TOKEN_LEN`], or the same token for both.
    pub(crate) fn new(read: Option<String>, write: Option<String>) -> Result<Tokens, String> {
        for (what, token) in [("read", &read), ("write", &write)] {
            if let Some(token) = token
                && token.len() < MIN_TOKEN_LEN
            {
                return Err(format!(
                    "the management {what} token is shorter than {MIN_TOKEN_LEN} characters"
                ));
            }
        }
        if read.is_some() && read == write {
            return Err("the management read and write tokens are the same".into());
        }
        Ok(Tokens {
            read: read.map(String::into_bytes),
            write: write.map(String::into_bytes),
        })
    }

    /// True when requests must carry a token.
    pub(crate) fn required(&self) -> bool {
        self.read.is_some() || self.write.is_some()
    }

    fn grant(&self, presented: Option<&[u8]>) -> Grant {
        let Some(presented) = presented else {
            return Grant::None;
        };
        let matches = |token: &Option<Vec<u8>>| {
            token
                .as_deref()
                .is_some_and(|token| constant_time_eq(token, presented))
        };
        // Both are compared, whichever matches, so the time says nothing of which.
        let (write, read) = (matches(&self.write), matches(&self.read));
        match (write, read) {
            (true, _) => Grant::Write,
            (false, true) => Grant::Read,
            _ => Grant::None,
        }
    }

    /// The refusal of a request by `method` to `path` with the `Authorization` header
    /// `authorization`, if it is refused.
    fn refusal(
        &self,
        method: &Method,
        path: &str,
        authorization: Option<&[u8]>,
    ) -> Option<HttpResponse> {
        if !self.required() || PROBES.contains(&path) || super::web_view::PATHS.contains(&path) {
            return None;
        }
        let reads = method == Method::GET || method == Method::HEAD;
        match (self.grant(authorization.and_then(bearer)), reads) {
            (Grant::Write, _) | (Grant::Read, true) => None,
            (Grant::Read, false) => Some(HttpResponse::Forbidden().json(json!({
                "error": "the read token cannot change anything: use the write token"
            }))),
            (Grant::None, _) => Some(
                HttpResponse::Unauthorized()
                    .insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"axon-management\""))
                    .json(json!({
                        "error": "the management API needs a bearer token (Authorization: Bearer <token>)"
                    })),
            ),
        }
    }
}

/// The token of an `Authorization: Bearer <token>` value.
fn bearer(value: &[u8]) -> Option<&[u8]> {
    let scheme = value.get(..7)?;
    scheme
        .eq_ignore_ascii_case(b"bearer ")
        .then(|| value[7..].trim_ascii())
}

/// Equality whose time depends only on the lengths, never on where the bytes differ.
fn constant_time_eq(expected: &[u8], presented: &[u8]) -> bool {
    let mut diff = u8::from(expected.len() != presented.len());
    for (i, byte) in expected.iter().enumerate() {
        diff |= byte ^ presented.get(i).copied().unwrap_or(!byte);
    }
    diff == 0
}

/// The middleware: refuses what [`Tokens`] refuses, and logs it.
pub(crate) async fn check(
    req: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let refusal = req.app_data::<web::Data<Tokens>>().and_then(|tokens| {
        let authorization = req
            .headers()
            .get(header::AUTHORIZATION)
            .map(|v| v.as_bytes());
        tokens.refusal(req.method(), req.path(), authorization)
    });
    match refusal {
        None => next.call(req).await,
        Some(response) => {
            tracing::warn!(
                method = %req.method(),
                path = %req.path(),
                peer = req.peer_addr().map(tracing::field::display),
                status = response.status().as_u16(),
                "Management request refused: no valid token"
            );
            Ok(req.into_response(response))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const READ: &str = "read-token-0123456789";
    const WRITE: &str = "write-token-0123456789";

    fn status(tokens: &Tokens, method: Method, path: &str, auth: Option<&str>) -> u16 {
        tokens
            .refusal(&method, path, auth.map(str::as_bytes))
            .map_or(200, |r| r.status().as_u16())
    }

    #[test]
    fn the_web_views_static_files_need_no_token_but_its_data_does() {
        let tokens = Tokens::new(Some(READ.into()), Some(WRITE.into())).unwrap();
        for path in super::super::web_view::PATHS {
            assert_eq!(status(&tokens, Method::GET, path, None), 200, "{path}");
        }
        assert_eq!(status(&tokens, Method::GET, "/health/actors", None), 401);
        assert_eq!(status(&tokens, Method::GET, "/web/other", None), 401);
    }

    #[test]
    fn read_and_write_tokens_are_separated() {
        let tokens = Tokens::new(Some(READ.into()), Some(WRITE.into())).unwrap();
        let read = format!("Bearer {READ}");
        let write = format!("bearer {WRITE}");
        assert_eq!(
            status(&tokens, Method::GET, "/health/actors", Some(&read)),
            200
        );
        assert_eq!(status(&tokens, Method::GET, "/metrics", Some(&read)), 200);
        assert_eq!(
            status(&tokens, Method::GET, "/health/actors", Some(&write)),
            200
        );
        assert_eq!(
            status(&tokens, Method::POST, "/config/reload", Some(&read)),
            403
        );
        assert_eq!(
            status(&tokens, Method::POST, "/config/reload", Some(&write)),
            200
        );
        assert_eq!(status(&tokens, Method::GET, "/health/actors", None), 401);
        assert_eq!(status(&tokens, Method::POST, "/config/reload", None), 401);
        let wrong = format!("Bearer {READ}x");
        assert_eq!(
            status(&tokens, Method::GET, "/health/actors", Some(&wrong)),
            401
        );
        assert_eq!(
            status(&tokens, Method::GET, "/health/actors", Some(READ)),
            401
        );
        assert_eq!(status(&tokens, Method::GET, "/health/ready", None), 200);
        assert_eq!(status(&tokens, Method::GET, "/health/live", None), 200);
    }

    #[test]
    fn without_tokens_everything_passes_and_weak_tokens_are_refused() {
        let none = Tokens::default();
        assert!(!none.required());
        assert_eq!(status(&none, Method::POST, "/config/reload", None), 200);
        assert!(Tokens::new(Some("short".into()), None).is_err());
        assert!(Tokens::new(Some(WRITE.into()), Some(WRITE.into())).is_err());
        let write_only = Tokens::new(None, Some(WRITE.into())).unwrap();
        let read = format!("Bearer {READ}");
        assert_eq!(
            status(&write_only, Method::GET, "/health/actors", Some(&read)),
            401
        );
    }

    #[test]
    fn constant_time_equality() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"", b"a"));
    }
}
