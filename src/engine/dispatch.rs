//! Choosing the API and the resource for a request, and the properties that dispatch sets
//! (reference §1.3).

use actix_web::http::Method;

use crate::base::query::parse_query;
use crate::base::uri_template::MappingRank;
use crate::config::{ApiConfig, Config, Mapping, Protocol, ResourceConfig};

/// The facts of a request that dispatch looks at.
#[derive(Debug, Clone, Copy)]
pub struct RequestHead<'a> {
    /// Method.
    pub method: &'a Method,
    /// Raw (percent-encoded) path.
    pub path: &'a str,
    /// Raw query string, without `?`.
    pub query: Option<&'a str>,
    /// `Host` header (host and optional port).
    pub host: Option<&'a str>,
    /// `http` or `https`.
    pub scheme: &'a str,
    /// `Content-Type`.
    pub content_type: Option<&'a str>,
    /// Whether the request has a body.
    pub has_body: bool,
    /// `User-Agent`.
    pub user_agent: Option<&'a str>,
}

/// Where a request goes.
#[derive(Debug)]
pub enum Route<'c> {
    /// A resource matched.
    Resource {
        /// The API.
        api: &'c ApiConfig,
        /// The resource.
        resource: &'c ResourceConfig,
        /// `uri.var.*` values (names without the prefix), decoded.
        vars: Vec<(String, String)>,
        /// `query.param.*` values, decoded.
        params: Vec<(String, String)>,
        /// The path after the context (`/` when empty).
        sub_path: String,
    },
    /// No API serves this path.
    NoApi,
    /// The API matched but no resource matches the path: 404.
    NotFound(&'c ApiConfig),
    /// A resource matches the path but not the method: 405.
    MethodNotAllowed {
        /// The API.
        api: &'c ApiConfig,
        /// Methods the matching resources accept.
        allow: Vec<Method>,
    },
    /// OPTIONS on a path whose resources do not list OPTIONS: answered by Axon.
    Options {
        /// The API.
        api: &'c ApiConfig,
        /// Methods the matching resources accept.
        allow: Vec<Method>,
    },
    /// Path and method matched, but a content-type, user-agent or protocol filter refused,
    /// or the query string is malformed: 400.
    BadRequest {
        /// The API.
        api: &'c ApiConfig,
        /// Why.
        reason: String,
    },
}

/// The APIs of one configuration, ordered for matching.
#[derive(Debug)]
pub struct Router {
    /// Indexes into `config.apis`, longest context first; constrained (host/port) first
    /// among equal contexts.
    order: Vec<usize>,
}

// === impl Route ===

impl<'c> Route<'c> {
    /// The API the request went to, if any.
    pub(crate) fn api(&self) -> Option<&'c ApiConfig> {
        match self {
            Route::Resource { api, .. }
            | Route::NotFound(api)
            | Route::MethodNotAllowed { api, .. }
            | Route::Options { api, .. }
            | Route::BadRequest { api, .. } => Some(api),
            Route::NoApi => None,
        }
    }
}

// === impl Router ===

impl Router {
    /// Builds the router of the HTTP front for `config` (every API but gRPC ones).
    pub fn new(config: &Config) -> Router {
        Self::build(config, false)
    }

    /// Builds the router of the gRPC front for `config` (only gRPC APIs).
    pub(crate) fn grpc(config: &Config) -> Router {
        Self::build(config, true)
    }

    fn build(config: &Config, grpc: bool) -> Router {
        let mut order: Vec<usize> = (0..config.apis.len())
            .filter(|&i| config.apis[i].grpc == grpc)
            .collect();
        order.sort_by_key(|&i| {
            let api = &config.apis[i];
            let constrained = api.hostname.is_some() || api.port.is_some();
            (std::cmp::Reverse(api.context.len()), !constrained)
        });
        Router { order }
    }

    /// Finds where `req` goes.
    pub fn route<'c>(&self, config: &'c Config, req: &RequestHead<'_>) -> Route<'c> {
        self.route_where(config, req, |_| true)
    }

    /// Finds where `req` goes among the APIs for which `deployed` holds (an API that is not
    /// deployed is skipped, as if it did not exist).
    pub(crate) fn route_where<'c>(
        &self,
        config: &'c Config,
        req: &RequestHead<'_>,
        deployed: impl Fn(&ApiConfig) -> bool,
    ) -> Route<'c> {
        let Some((api, sub_path)) = self.find_api(config, req, deployed) else {
            return Route::NoApi;
        };
        let params = match parse_query(req.query) {
            Ok(p) => p,
            Err(error) => {
                return Route::BadRequest {
                    api,
                    reason: error.to_string(),
                };
            }
        };
        let candidates = candidates(api, &sub_path, req.query);
        choose(api, candidates, req, params, sub_path)
    }

    /// The first deployed API (longest context first) whose host, port and context take
    /// `req`, with the sub-path after its context.
    fn find_api<'c>(
        &self,
        config: &'c Config,
        req: &RequestHead<'_>,
        deployed: impl Fn(&ApiConfig) -> bool,
    ) -> Option<(&'c ApiConfig, String)> {
        let (host, port) = split_host(req.host);
        self.order.iter().map(|&i| &config.apis[i]).find_map(|api| {
            if !deployed(api) {
                return None;
            }
            if let Some(h) = &api.hostname
                && host.is_none_or(|x| !x.eq_ignore_ascii_case(h))
            {
                return None;
            }
            if let Some(p) = api.port {
                let effective = port.unwrap_or(if req.scheme == "https" { 443 } else { 80 });
                if effective != p {
                    return None;
                }
            }
            context_match(&api.context, req.path).map(|sub| (api, sub))
        })
    }
}

/// Resources whose mapping matches the path, in dispatcher order: url-mappings by rank,
/// then uri-templates in declaration order, then default resources.
fn candidates<'c>(
    api: &'c ApiConfig,
    sub_path: &str,
    query: Option<&str>,
) -> impl Iterator<Item = (&'c ResourceConfig, Vec<(String, String)>)> + use<'c> {
    let mut url_matches: Vec<(MappingRank, usize, &ResourceConfig)> = Vec::new();
    let mut template_matches: Vec<(&ResourceConfig, Vec<(String, String)>)> = Vec::new();
    let mut defaults: Vec<&ResourceConfig> = Vec::new();
    for (i, r) in api.resources.iter().enumerate() {
        match &r.mapping {
            Mapping::Url(m) => {
                if let Some(rank) = m.matches(sub_path) {
                    url_matches.push((rank, i, r));
                }
            }
            Mapping::Template(t) => {
                if let Some(vars) = t.matches(sub_path, query) {
                    template_matches.push((r, vars));
                }
            }
            Mapping::Default => defaults.push(r),
        }
    }
    url_matches.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    url_matches
        .into_iter()
        .map(|(_, _, r)| (r, Vec::new()))
        .chain(template_matches)
        .chain(defaults.into_iter().map(|r| (r, Vec::new())))
}

/// The first candidate whose method and filters take `req`; else 404, 400, OPTIONS or 405.
fn choose<'c>(
    api: &'c ApiConfig,
    candidates: impl Iterator<Item = (&'c ResourceConfig, Vec<(String, String)>)>,
    req: &RequestHead<'_>,
    params: Vec<(String, String)>,
    sub_path: String,
) -> Route<'c> {
    let mut allow: Vec<Method> = Vec::new();
    let mut path_matched = false;
    let mut filtered: Option<String> = None;
    for (resource, vars) in candidates {
        path_matched = true;
        let method_ok = resource.methods.is_empty() || resource.methods.contains(req.method);
        if !method_ok {
            for m in &resource.methods {
                if !allow.contains(m) {
                    allow.push(m.clone());
                }
            }
            continue;
        }
        if let Some(reason) = filter(resource, req) {
            filtered.get_or_insert(reason);
            continue;
        }
        return Route::Resource {
            api,
            resource,
            vars,
            params,
            sub_path,
        };
    }
    if !path_matched {
        return Route::NotFound(api);
    }
    if let Some(reason) = filtered {
        return Route::BadRequest { api, reason };
    }
    if req.method == Method::OPTIONS {
        return Route::Options { api, allow };
    }
    Route::MethodNotAllowed { api, allow }
}

/// The sub-path when `path` is inside `context` (segment boundary), `/` when empty.
fn context_match(context: &str, path: &str) -> Option<String> {
    if context == "/" {
        return Some(if path.is_empty() {
            "/".to_owned()
        } else {
            path.to_owned()
        });
    }
    let rest = path.strip_prefix(context)?;
    if rest.is_empty() {
        Some("/".to_owned())
    } else if rest.starts_with('/') {
        Some(rest.to_owned())
    } else {
        None
    }
}

fn split_host(host: Option<&str>) -> (Option<&str>, Option<u16>) {
    let Some(h) = host else { return (None, None) };
    if h.starts_with('[') {
        // IPv6 literal: [::1]:8080
        return match h.rsplit_once("]:") {
            Some((addr, port)) => (Some(&addr[1..]), port.parse().ok()),
            None => (Some(h.trim_start_matches('[').trim_end_matches(']')), None),
        };
    }
    match h.rsplit_once(':') {
        Some((name, port)) => (Some(name), port.parse().ok()),
        None => (Some(h), None),
    }
}

/// Content-type, user-agent and protocol filters; `Some(reason)` when the resource refuses.
fn filter(resource: &ResourceConfig, req: &RequestHead<'_>) -> Option<String> {
    if let Some(p) = resource.protocol {
        let wanted = match p {
            Protocol::Http => "http",
            Protocol::Https => "https",
        };
        if req.scheme != wanted {
            return Some(format!("this resource accepts only {wanted} requests"));
        }
    }
    if let (Some(expected), true) = (&resource.content_type, req.has_body) {
        let actual = req.content_type.unwrap_or("");
        let base = actual.split(';').next().unwrap_or("").trim();
        if !base.eq_ignore_ascii_case(expected) && !actual.eq_ignore_ascii_case(expected) {
            return Some(format!(
                "this resource accepts only Content-Type `{expected}`"
            ));
        }
    }
    if let Some(ua) = &resource.user_agent
        && !ua.is_match(req.user_agent.unwrap_or(""))
    {
        return Some("the User-Agent is not accepted by this resource".to_owned());
    }
    None
}

/// The properties dispatch sets on a message routed to `resource` of `api`, the same for
/// every front (Synapse's names): the API, its context and version, the resource, the
/// paths, the method and each `uri.var.*`. Fronts add what only they know.
pub(crate) fn set_api_properties(
    msg: &mut crate::message::MessageContext,
    api: &ApiConfig,
    resource: &str,
    vars: &[(String, String)],
    sub_path: &str,
    full_path: &str,
) {
    msg.set("SYNAPSE_REST_API", api.name.as_str());
    msg.set("REST_API_CONTEXT", api.context.as_str());
    if let Some(v) = &api.version {
        msg.set("SYNAPSE_REST_API_VERSION", v.as_str());
    }
    msg.set("REST_SUB_REQUEST_PATH", sub_path);
    msg.set("REST_FULL_REQUEST_PATH", full_path);
    msg.set("REST_METHOD", msg.method.as_str().to_owned());
    msg.set("SYNAPSE_RESOURCE", resource);
    for (name, value) in vars {
        msg.set(format!("uri.var.{name}"), value.as_str());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_matching_respects_segment_boundaries() {
        assert_eq!(context_match("/shop", "/shop").as_deref(), Some("/"));
        assert_eq!(
            context_match("/shop", "/shop/items/1").as_deref(),
            Some("/items/1")
        );
        assert_eq!(context_match("/shop", "/shopping"), None);
        assert_eq!(
            context_match("/", "/anything").as_deref(),
            Some("/anything")
        );
    }

    #[test]
    fn host_header_parsing() {
        assert_eq!(
            split_host(Some("example.com:8080")),
            (Some("example.com"), Some(8080))
        );
        assert_eq!(split_host(Some("example.com")), (Some("example.com"), None));
        assert_eq!(split_host(Some("[::1]:9")), (Some("::1"), Some(9)));
    }
}
