//! `<api>` artifacts and their `<resource>` children (reference §1.3).

use actix_web::http::Method;
use regex::Regex;

use super::sequence;
use super::{ApiId, Attr, Ctx, Element, Loc, SeqId};
use crate::base::lifecycle::Lifecycle;
use crate::base::uri_template::{UriTemplate, UrlMapping};

/// A REST API: a context and its resources.
#[derive(Debug)]
pub struct ApiConfig {
    /// The API's name.
    pub(crate) name: String,
    /// The effective context (version applied), always starting with `/`.
    pub(crate) context: String,
    /// The context as written.
    #[allow(
        dead_code,
        reason = "configuration as loaded and checked; no runtime step reads it yet"
    )]
    pub(crate) context_as_written: String,
    /// `version`, if any.
    pub(crate) version: Option<String>,
    /// Requests must carry this host name (from `Host`), if set.
    pub(crate) hostname: Option<String>,
    /// Requests must arrive for this port (from `Host`), if set.
    pub(crate) port: Option<u16>,
    /// Resources in declaration order.
    pub(crate) resources: Vec<ResourceConfig>,
    /// `transports="grpc"`: served on the gRPC port, the context is the service name.
    pub(crate) grpc: bool,
    /// Where the API is defined.
    pub(crate) loc: Loc,
    /// Its index in [`crate::config::Config::apis`].
    pub(crate) id: ApiId,
    /// The declared lifecycle state (`lifecycle`, default PUBLISHED).
    pub(crate) lifecycle: Lifecycle,
    /// Where `lifecycle` is written (the API's own place when it is not).
    pub(crate) lifecycle_loc: Loc,
}

/// How a resource matches request paths.
#[derive(Debug, Clone)]
pub(crate) enum Mapping {
    /// `uri-template`.
    Template(UriTemplate),
    /// `url-mapping`.
    Url(UrlMapping),
    /// Neither: the default resource.
    Default,
}

/// Scheme filter of a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    /// Plain HTTP only.
    Http,
    /// HTTPS only.
    Https,
}

/// One `<resource>`.
#[derive(Debug)]
pub struct ResourceConfig {
    /// Accepted methods; empty means every method.
    pub(crate) methods: Vec<Method>,
    /// Path matching.
    pub(crate) mapping: Mapping,
    /// Request-path sequence.
    pub(crate) in_sequence: Option<SeqId>,
    /// Response-path sequence.
    pub(crate) out_sequence: Option<SeqId>,
    /// Fault handler.
    pub(crate) fault_sequence: Option<SeqId>,
    /// Exact `Content-Type` the request must carry (when it has a body).
    pub(crate) content_type: Option<String>,
    /// Regex the `User-Agent` must match in full.
    pub(crate) user_agent: Option<Regex>,
    /// Scheme filter.
    pub(crate) protocol: Option<Protocol>,
    /// A display name: the mapping as written, or `default`.
    pub(crate) name: String,
    /// Where the resource is defined.
    pub(crate) loc: Loc,
}

const METHODS: &[&str] = &["GET", "POST", "PUT", "DELETE", "OPTIONS", "HEAD", "PATCH"];

/// Parses one `<api>` element.
pub(crate) fn parse(el: &Element, ctx: &mut Ctx<'_>) -> Option<ApiConfig> {
    ctx.check_attrs(
        el,
        &[
            "name",
            "context",
            "hostname",
            "port",
            "version",
            "version-type",
            "transports",
            "publishSwagger",
            "lifecycle",
        ],
    );
    ctx.no_text(el);
    let name = ctx
        .required_attr(el, "name")
        .map(|a| a.value.trim().to_owned());
    let context_attr = ctx.required_attr(el, "context");
    if let Some(a) = el.attr("publishSwagger") {
        ctx.unsupported(&a.loc, "attribute `publishSwagger`");
    }
    let grpc = super::grpc::api_transports(el, ctx).unwrap_or(false);
    let version = el
        .attr_value("version")
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned);
    let version_type = el.attr("version-type");
    let context =
        context_attr.and_then(|a| parse_context(a, version.as_deref(), version_type, ctx));
    let hostname = el
        .attr_value("hostname")
        .map(|h| h.trim().to_ascii_lowercase());
    let port = parse_port(el, ctx);
    let lifecycle = parse_lifecycle(el, ctx);
    let lifecycle_loc = el.attr("lifecycle").map_or(&el.loc, |a| &a.loc).clone();
    let resources = parse_resources(el, ctx);
    let (context_as_written, context) = context?;
    Some(ApiConfig {
        name: name?,
        context,
        context_as_written,
        version,
        hostname,
        port,
        resources,
        grpc,
        loc: el.loc.clone(),
        id: ApiId(0),
        lifecycle: lifecycle?,
        lifecycle_loc,
    })
}

/// The context as written and the effective one (with the version), checked.
fn parse_context(
    a: &Attr,
    version: Option<&str>,
    version_type: Option<&Attr>,
    ctx: &mut Ctx<'_>,
) -> Option<(String, String)> {
    let raw = a.value.trim();
    if !raw.starts_with('/') {
        ctx.error(&a.loc, format!("API context `{raw}` must start with `/`"));
        return None;
    }
    if raw.contains('?') || raw.contains('#') {
        ctx.error(&a.loc, format!("API context `{raw}` must be a plain path"));
        return None;
    }
    let base = if raw.len() > 1 {
        raw.trim_end_matches('/')
    } else {
        raw
    };
    let effective = versioned(base, a, version, version_type, ctx);
    Some((raw.to_owned(), effective))
}

/// The context `base` with `version` placed as `version-type` says.
fn versioned(
    base: &str,
    a: &Attr,
    version: Option<&str>,
    version_type: Option<&Attr>,
    ctx: &mut Ctx<'_>,
) -> String {
    match (version, version_type.map(|v| v.value.as_str())) {
        (None, None) => base.to_owned(),
        (None, Some(_)) => {
            if let Some(v) = version_type {
                ctx.error(&v.loc, "`version-type` needs a `version`");
            }
            base.to_owned()
        }
        (Some(v), None | Some("url")) => {
            if base.contains("{version}") {
                ctx.error(
                    &a.loc,
                    "context contains `{version}` but version-type is not `context`",
                );
            }
            format!("{}/{v}", base.trim_end_matches('/'))
        }
        (Some(v), Some("context")) => {
            if !base.contains("{version}") {
                ctx.error(
                    &a.loc,
                    "version-type `context` needs `{version}` in the context",
                );
            }
            base.replace("{version}", v)
        }
        (Some(_), Some(other)) => {
            if let Some(vt) = version_type {
                ctx.error(
                    &vt.loc,
                    format!("unknown version-type `{other}` (expected `context` or `url`)"),
                );
            }
            base.to_owned()
        }
    }
}

/// `port`, when given: a TCP port number.
fn parse_port(el: &Element, ctx: &mut Ctx<'_>) -> Option<u16> {
    el.attr("port")
        .and_then(|a| match a.value.trim().parse::<u16>() {
            Ok(p) if p > 0 => Some(p),
            _ => {
                ctx.error(
                    &a.loc,
                    format!("`port` must be a TCP port number, found `{}`", a.value),
                );
                None
            }
        })
}

/// `lifecycle` (default PUBLISHED); `None` after reporting an unknown state.
fn parse_lifecycle(el: &Element, ctx: &mut Ctx<'_>) -> Option<Lifecycle> {
    match el.attr("lifecycle") {
        None => Some(Lifecycle::Published),
        Some(a) => {
            let parsed = Lifecycle::parse(&a.value);
            if parsed.is_none() {
                ctx.error(
                    &a.loc,
                    format!(
                        "unknown lifecycle state `{}` (expected one of {})",
                        a.value.trim(),
                        Lifecycle::names()
                    ),
                );
            }
            parsed
        }
    }
}

/// The `<resource>` children, with the other children an API may (not) have checked.
fn parse_resources(el: &Element, ctx: &mut Ctx<'_>) -> Vec<ResourceConfig> {
    let mut resources = Vec::new();
    for child in el.elements() {
        match child.local_name() {
            "resource" if child.is_synapse() => {
                if let Some(r) = parse_resource(child, ctx) {
                    resources.push(r);
                }
            }
            "description" if child.is_synapse() => {}
            "handlers" if child.is_synapse() => {
                ctx.unsupported(&child.loc, "API handlers (`<handlers>`)")
            }
            _ => ctx.unknown_child(el, child),
        }
    }
    if resources.is_empty() && !el.elements().any(|c| c.local_name() == "resource") {
        ctx.error(&el.loc, "<api> needs at least one <resource>");
    }
    resources
}

/// Parses a space- or comma-separated method list; `None` (with errors reported) when a
/// method is unknown or listed twice.
pub(crate) fn parse_methods(a: &Attr, ctx: &mut Ctx<'_>) -> Option<Vec<Method>> {
    let mut methods = Vec::new();
    let mut ok = true;
    for m in a
        .value
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|s| !s.is_empty())
    {
        let upper = m.to_ascii_uppercase();
        if !METHODS.contains(&upper.as_str()) {
            ctx.error(
                &a.loc,
                format!(
                    "unknown HTTP method `{m}` (expected one of {})",
                    METHODS.join(", ")
                ),
            );
            ok = false;
            continue;
        }
        let method = Method::from_bytes(upper.as_bytes()).unwrap_or(Method::GET);
        if methods.contains(&method) {
            ctx.error(&a.loc, format!("method `{upper}` is listed twice"));
            ok = false;
            continue;
        }
        methods.push(method);
    }
    ok.then_some(methods)
}

fn parse_resource(el: &Element, ctx: &mut Ctx<'_>) -> Option<ResourceConfig> {
    ctx.check_attrs(
        el,
        &[
            "methods",
            "uri-template",
            "url-mapping",
            "inSequence",
            "outSequence",
            "faultSequence",
            "content-type",
            "user-agent",
            "protocol",
        ],
    );
    ctx.no_text(el);
    let mut ok = true;
    let mut methods = Vec::new();
    if let Some(a) = el.attr("methods") {
        match parse_methods(a, ctx) {
            Some(m) => methods = m,
            None => ok = false,
        }
    }
    let (mapping, name) = parse_mapping(el, ctx)?;
    let user_agent = parse_user_agent(el, &mut ok, ctx);
    let protocol = parse_protocol(el, &mut ok, ctx);
    let content_type = el.attr_value("content-type").map(|c| c.trim().to_owned());

    let flows = parse_flows(el, &name, &mut ok, ctx);
    let [in_sequence, out_sequence, fault_sequence] = flows;
    ok.then(|| ResourceConfig {
        methods,
        mapping,
        in_sequence,
        out_sequence,
        fault_sequence,
        content_type,
        user_agent,
        protocol,
        name,
        loc: el.loc.clone(),
    })
}

/// `url-mapping` or `uri-template` (the first wins), compiled, with the resource's name.
fn parse_mapping(el: &Element, ctx: &mut Ctx<'_>) -> Option<(Mapping, String)> {
    let url_mapping = el
        .attr("url-mapping")
        .filter(|a| !a.value.trim().is_empty());
    let uri_template = el
        .attr("uri-template")
        .filter(|a| !a.value.trim().is_empty());
    Some(match (url_mapping, uri_template) {
        (Some(um), other) => {
            if let Some(t) = other {
                ctx.diags.warning(
                    &t.loc,
                    "both `url-mapping` and `uri-template` are set; `url-mapping` wins",
                );
            }
            match UrlMapping::parse(&um.value) {
                Ok(m) => (Mapping::Url(m), um.value.trim().to_owned()),
                Err(error) => {
                    ctx.error(&um.loc, error.to_string());
                    return None;
                }
            }
        }
        (None, Some(t)) => match UriTemplate::parse(t.value.trim()) {
            Ok(tpl) => (Mapping::Template(tpl), t.value.trim().to_owned()),
            Err(error) => {
                ctx.error(&t.loc, format!("invalid uri-template: {error}"));
                return None;
            }
        },
        (None, None) => (Mapping::Default, "default".to_owned()),
    })
}

/// `user-agent`: a regex the whole header must match.
fn parse_user_agent(el: &Element, ok: &mut bool, ctx: &mut Ctx<'_>) -> Option<Regex> {
    el.attr("user-agent")
        .and_then(|a| match Regex::new(&format!("^(?:{})$", a.value)) {
            Ok(r) => Some(r),
            Err(error) => {
                ctx.error(&a.loc, format!("invalid user-agent regex: {error}"));
                *ok = false;
                None
            }
        })
}

/// `protocol`: http or https.
fn parse_protocol(el: &Element, ok: &mut bool, ctx: &mut Ctx<'_>) -> Option<Protocol> {
    el.attr("protocol").and_then(|a| match a.value.trim() {
        "http" => Some(Protocol::Http),
        "https" => Some(Protocol::Https),
        other => {
            ctx.error(
                &a.loc,
                format!("unknown protocol `{other}` (expected `http` or `https`)"),
            );
            *ok = false;
            None
        }
    })
}

/// The in, out and fault sequences: each a `key` attribute or an inline element, not both.
fn parse_flows(el: &Element, name: &str, ok: &mut bool, ctx: &mut Ctx<'_>) -> [Option<SeqId>; 3] {
    let mut flows = [None, None, None];
    let names = ["inSequence", "outSequence", "faultSequence"];
    for (i, flow) in names.iter().enumerate() {
        if let Some(a) = el.attr(flow) {
            flows[i] = ctx.sequence_ref(a.value.trim(), &a.loc);
            if flows[i].is_none() {
                *ok = false;
            }
        }
    }
    for child in el.elements() {
        let Some(i) = names
            .iter()
            .position(|n| *n == child.local_name())
            .filter(|_| child.is_synapse())
        else {
            if child.local_name() == "description" && child.is_synapse() {
                continue;
            }
            ctx.unknown_child(el, child);
            *ok = false;
            continue;
        };
        if el.attr(names[i]).is_some() {
            ctx.error(
                &child.loc,
                format!(
                    "{} is given both as an attribute and as an element",
                    names[i]
                ),
            );
            *ok = false;
            continue;
        }
        let label = format!("{}[{}].{}", ctx.artifact, name, names[i]);
        let scope = format!("{}/{}", ctx.artifact, name.trim_start_matches('/'));
        let outer = ctx.scope.replace(scope);
        let parsed = sequence::parse_inline(child, label, ctx);
        ctx.scope = outer;
        match parsed {
            Some(id) => flows[i] = Some(id),
            None => *ok = false,
        }
    }
    flows
}
