//! gRPC configuration: the `<grpc>` leaf endpoint (its `<healthCheck>` is every leaf's, see
//! `health_check.rs`), and the load-time
//! checks that keep gRPC APIs and gRPC endpoints together (see `docs/grpc.md`).
//!
//! An `<api>` is a gRPC API when its `transports` attribute is `grpc`. Its `context` is the
//! fully qualified service name (`/helloworld.Greeter`) and its resources select methods
//! (`uri-template="/SayHello"`) or take them all (`url-mapping="/*"`). gRPC messages are
//! passed through as bytes, so everything a gRPC API runs must leave the body alone, and
//! its messages can only go to `<grpc>` endpoints; HTTP APIs cannot send to `<grpc>`
//! endpoints. [`check`] reports every violation with its place.

use std::collections::HashSet;

use super::Reference;
use super::{ApiConfig, Ctx, Diagnostics, Element, EndpointConfig, EndpointId, Loc, SeqId};
use super::{EndpointKind, Mapping, ResourceConfig, SequenceConfig, StepConfig, Target};

/// `<grpc uri>`: a gRPC backend reached over HTTP/2 (h2c for `http://`, TLS for `https://`).
#[derive(Debug, Clone, PartialEq)]
pub struct GrpcSpec {
    /// The URI as written.
    pub(crate) uri: String,
    /// True for `https://` (TLS with ALPN `h2`, server certificate checked against the
    /// web PKI roots).
    pub(crate) tls: bool,
    /// `host:port`, the port made explicit.
    pub(crate) authority: String,
    /// The host name (for TLS server name indication and certificate checks).
    pub(crate) host: String,
    /// A path prefix put before `/package.Service/Method` (empty for none).
    pub(crate) path_prefix: String,
    /// `caCertificate`: the only certificates trusted for this backend's TLS (a private
    /// CA); empty means the web PKI roots.
    pub(crate) trusted: Vec<rustls::pki_types::CertificateDer<'static>>,
    /// `hostnameVerifier="AllowAll"`: the backend's certificate is not checked against
    /// its host name.
    pub(crate) any_host: bool,
}

/// Something a sequence reaches while it runs, found by [`walk`].
enum Reached<'c> {
    Mediator(&'c StepConfig, &'c SequenceConfig),
    Endpoint(EndpointId, &'c SequenceConfig),
}

/// Parses `<grpc uri>` (its QoS children, `<healthCheck>` included, are parsed with those
/// of every leaf).
pub(crate) fn parse_target(el: &Element, ctx: &mut Ctx<'_>) -> Option<Target> {
    let a = ctx.required_attr(el, "uri")?;
    let raw = a.value.trim();
    let spec = match parse_uri(raw) {
        Ok(spec) => spec,
        Err(why) => {
            ctx.error(&a.loc, format!("invalid gRPC endpoint uri `{raw}`: {why}"));
            return None;
        }
    };
    let mut ok = true;
    let mut trusted = Vec::new();
    if let Some(ca) = el.attr("caCertificate") {
        match read_certificates(ca.value.trim(), &ca.loc) {
            Ok(_) if !spec.tls => {
                ctx.error(&ca.loc, "`caCertificate` needs an https:// uri");
                ok = false;
            }
            Ok(certs) => trusted = certs,
            Err(why) => {
                ctx.error(&ca.loc, why.to_string());
                ok = false;
            }
        }
    }
    ok.then_some(Target::Grpc(GrpcSpec { trusted, ..spec }))
}

/// Reads the PEM certificates of `caCertificate`; a relative path is taken from the folder
/// of the file that names it.
pub(crate) fn read_certificates(
    path: &str,
    loc: &Loc,
) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, impl std::fmt::Display> {
    use rustls::pki_types::pem::PemObject as _;
    let file = std::path::Path::new(&*loc.file)
        .parent()
        .map_or_else(|| std::path::PathBuf::from(path), |dir| dir.join(path));
    let certs = rustls::pki_types::CertificateDer::pem_file_iter(&file)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|source| GrpcUriError::Certificates {
            file: file.clone(),
            source,
        })?;
    if certs.is_empty() {
        return Err(GrpcUriError::NoCertificate(file));
    }
    Ok(certs)
}

fn parse_uri(raw: &str) -> Result<GrpcSpec, GrpcUriError> {
    if raw.contains("${") {
        return Err(GrpcUriError::Substitution);
    }
    let uri: http::Uri = raw.parse()?;
    let tls = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        Some(other) => return Err(GrpcUriError::Scheme(other.to_owned())),
        None => return Err(GrpcUriError::NoScheme),
    };
    let Some(authority) = uri.authority() else {
        return Err(GrpcUriError::NoHost);
    };
    if authority.as_str().contains('@') {
        return Err(GrpcUriError::Credentials);
    }
    if uri.query().is_some() {
        return Err(GrpcUriError::Query);
    }
    let host = authority.host().to_owned();
    let port = authority.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let path_prefix = uri.path().trim_end_matches('/').to_owned();
    Ok(GrpcSpec {
        uri: raw.to_owned(),
        tls,
        authority: format!("{host}:{port}"),
        host: host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned(),
        path_prefix,
        trusted: Vec::new(),
        any_host: false,
    })
}

/// Why a `<grpc>` endpoint's `uri` or `caCertificate` is refused.
#[derive(Debug, thiserror::Error)]
enum GrpcUriError {
    /// `${...}` in the URI.
    #[error("property substitution is not supported in gRPC endpoint URIs")]
    Substitution,
    /// Not a URI at all.
    #[error(transparent)]
    Syntax(#[from] http::uri::InvalidUri),
    /// A scheme other than http and https.
    #[error("scheme `{0}` (expected http or https)")]
    Scheme(String),
    /// No scheme.
    #[error("it needs a scheme: http:// (h2c) or https:// (TLS)")]
    NoScheme,
    /// No host.
    #[error("it needs a host")]
    NoHost,
    /// `user@` in the authority.
    #[error("credentials in the URI are not supported")]
    Credentials,
    /// A query string.
    #[error("a gRPC endpoint URI takes no query")]
    Query,
    /// The certificate file cannot be read or holds bad PEM.
    #[error("cannot read certificates from `{}`: {source}", file.display())]
    Certificates {
        /// The file.
        file: std::path::PathBuf,
        /// Why.
        source: rustls::pki_types::pem::Error,
    },
    /// The certificate file holds no certificate.
    #[error("`{}` holds no PEM certificate", .0.display())]
    NoCertificate(std::path::PathBuf),
}

/// Reads `transports` of an `<api>`: `Some(true)` for a gRPC API, `Some(false)` for an
/// HTTP one, `None` (after reporting) when it is invalid.
pub(crate) fn api_transports(el: &Element, ctx: &mut Ctx<'_>) -> Option<bool> {
    let Some(a) = el.attr("transports") else {
        return Some(false);
    };
    let mut grpc = false;
    let mut http = false;
    for t in a.value.split_whitespace() {
        match t {
            "http" | "https" => http = true,
            "grpc" => grpc = true,
            other => {
                ctx.error(
                    &a.loc,
                    format!("unknown transport `{other}` (expected `http`, `https` or `grpc`)"),
                );
                return None;
            }
        }
    }
    if grpc && http {
        ctx.error(
            &a.loc,
            "a gRPC API is served only on the gRPC port: `transports` cannot mix `grpc` with `http`/`https`",
        );
        return None;
    }
    Some(grpc)
}

/// True when `context` is `/` followed by a fully qualified gRPC service name.
fn is_service_name(context: &str) -> bool {
    let Some(name) = context.strip_prefix('/') else {
        return false;
    };
    !name.is_empty()
        && name.split('.').all(|part| {
            part.chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

/// Checks every API against the gRPC rules (see the module documentation).
pub(crate) fn check(
    apis: &[ApiConfig],
    sequences: &[SequenceConfig],
    endpoints: &[EndpointConfig],
    diags: &mut Diagnostics,
) {
    let global_fault = sequences
        .iter()
        .position(|s| s.named && s.name == "fault")
        .map(|i| SeqId(i as u32));
    let mut reported: HashSet<String> = HashSet::new();
    let mut report = |diags: &mut Diagnostics, loc: &Loc, message: String| {
        if reported.insert(format!("{loc}{message}")) {
            diags.error(loc, message);
        }
    };
    for api in apis {
        check_api_transport(api, diags);
        for resource in &api.resources {
            let starts = resource_starts(api, resource, global_fault);
            walk(
                &starts,
                sequences,
                endpoints,
                &mut |reached| match reached {
                    Reached::Mediator(m, seq) if api.grpc => {
                        if let Some(what) = m.body_use() {
                            report(
                                diags,
                                &seq.loc,
                                format!(
                                    "<{what}> in sequence `{}` needs the message body, but gRPC API `{}` passes messages through without parsing them; only mediators that touch metadata and properties can run on gRPC messages",
                                    seq.name, api.name
                                ),
                            );
                        }
                    }
                    Reached::Mediator(..) => {}
                    Reached::Endpoint(id, seq) => {
                        for leaf_id in leaves(endpoints, id) {
                            let ep = &endpoints[leaf_id.0 as usize];
                            if let Some(message) = transport_mismatch(api, ep, seq) {
                                report(diags, &seq.loc, message);
                            }
                        }
                    }
                },
            );
        }
    }
}

/// A gRPC API's shape; for any other API, a warning when its context looks like a gRPC
/// service name.
fn check_api_transport(api: &ApiConfig, diags: &mut Diagnostics) {
    if api.grpc {
        check_grpc_api_shape(api, diags);
    } else if is_service_name(&api.context) && api.context.contains('.') {
        diags.warning(
            &api.loc,
            format!(
                "API `{}` has context `{}`, which looks like a gRPC service name; add transports=\"grpc\" to serve it on the gRPC port",
                api.name, api.context
            ),
        );
    }
}

/// Where a resource's flows start: its sequences, and for a gRPC API without a fault
/// sequence the global `fault` sequence.
fn resource_starts(
    api: &ApiConfig,
    resource: &ResourceConfig,
    global_fault: Option<SeqId>,
) -> Vec<SeqId> {
    let mut starts: Vec<SeqId> = [
        resource.in_sequence,
        resource.out_sequence,
        resource.fault_sequence,
    ]
    .into_iter()
    .flatten()
    .collect();
    if api.grpc
        && resource.fault_sequence.is_none()
        && let Some(fault) = global_fault
    {
        starts.push(fault);
    }
    starts
}

/// The error when `seq` of `api` sends to leaf `ep` of the other transport.
fn transport_mismatch(
    api: &ApiConfig,
    ep: &EndpointConfig,
    seq: &SequenceConfig,
) -> Option<String> {
    let EndpointKind::Leaf(leaf) = &ep.kind else {
        return None;
    };
    let is_grpc = matches!(leaf.target, Target::Grpc(_));
    if api.grpc && !is_grpc {
        Some(format!(
            "gRPC API `{}` sends to endpoint `{}` from sequence `{}`, but only <grpc> endpoints can carry gRPC calls",
            api.name, ep.name, seq.name
        ))
    } else if !api.grpc && is_grpc {
        Some(format!(
            "API `{}` sends to gRPC endpoint `{}` from sequence `{}`, but <grpc> endpoints carry only the calls of gRPC APIs (transports=\"grpc\")",
            api.name, ep.name, seq.name
        ))
    } else {
        None
    }
}

fn check_grpc_api_shape(api: &ApiConfig, diags: &mut Diagnostics) {
    if !is_service_name(&api.context) {
        diags.error(
            &api.loc,
            format!(
                "gRPC API `{}` needs the fully qualified service name as its context (like `/helloworld.Greeter`), found `{}`",
                api.name, api.context
            ),
        );
    }
    if api.version.is_some() {
        diags.error(
            &api.loc,
            format!(
                "gRPC API `{}` cannot have a `version`: the context is the service name",
                api.name
            ),
        );
    }
    for r in &api.resources {
        if r.methods.iter().any(|m| m != actix_web::http::Method::POST) {
            diags.error(
                &r.loc,
                "gRPC calls are HTTP/2 POSTs: a gRPC resource takes no `methods` other than POST",
            );
        }
        if r.content_type.is_some() {
            diags.error(
                &r.loc,
                "`content-type` does not apply to a gRPC resource (every call is application/grpc)",
            );
        }
        if let Mapping::Template(t) = &r.mapping
            && t.as_str().trim_start_matches('/').contains('/')
        {
            diags.error(
                &r.loc,
                format!(
                    "a gRPC resource selects one method (`uri-template=\"/SayHello\"`), found `{}`",
                    t.as_str()
                ),
            );
        }
    }
}

/// The leaves sending to `id` may reach: itself, or through `key` aliases and groups.
fn leaves(endpoints: &[EndpointConfig], id: EndpointId) -> Vec<EndpointId> {
    let mut seen: HashSet<EndpointId> = HashSet::new();
    let mut stack = vec![id];
    let mut out = Vec::new();
    while let Some(cur) = stack.pop() {
        if !seen.insert(cur) {
            continue;
        }
        match &endpoints[cur.0 as usize].kind {
            EndpointKind::Alias(target) => stack.push(*target),
            EndpointKind::Group(group) => stack.extend(group.children.iter().map(|c| c.id)),
            EndpointKind::Leaf(_) => out.push(cur),
        }
    }
    out
}

/// Visits every mediator and endpoint reachable from `starts`: through `<sequence key>`
/// calls, `onError` handlers of sequences and endpoints, and mediators' own references.
fn walk<'c>(
    starts: &[SeqId],
    sequences: &'c [SequenceConfig],
    endpoints: &'c [EndpointConfig],
    visit: &mut dyn FnMut(Reached<'c>),
) {
    let mut seen: HashSet<SeqId> = HashSet::new();
    let mut stack: Vec<SeqId> = starts.to_vec();
    while let Some(id) = stack.pop() {
        if !seen.insert(id) {
            continue;
        }
        let Some(seq) = sequences.get(id.0 as usize) else {
            continue;
        };
        stack.extend(seq.on_error);
        for m in &seq.mediators {
            visit(Reached::Mediator(m, seq));
            m.references(&mut |r| match r {
                Reference::Sequence(s) | Reference::Receive(s) => stack.push(s),
                Reference::Endpoint(endpoint) => {
                    visit(Reached::Endpoint(endpoint, seq));
                    let mut cur = endpoint;
                    // The onError handlers of the endpoint and of every alias on the way.
                    for _ in 0..=endpoints.len() {
                        let ep = &endpoints[cur.0 as usize];
                        stack.extend(ep.on_error);
                        match ep.kind {
                            EndpointKind::Alias(next) => cur = next,
                            // A group's children's handlers do not run (the group retries).
                            EndpointKind::Leaf(_) | EndpointKind::Group(_) => break,
                        }
                    }
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_make_the_authority_explicit_and_reject_what_cannot_work() {
        let s = parse_uri("http://backend:50051").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (s.tls, s.authority.as_str(), s.path_prefix.as_str()),
            (false, "backend:50051", "")
        );
        let s = parse_uri("https://api.example.com/prefix/").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (
                s.tls,
                s.authority.as_str(),
                s.host.as_str(),
                s.path_prefix.as_str()
            ),
            (true, "api.example.com:443", "api.example.com", "/prefix")
        );
        let s = parse_uri("http://[::1]:9000").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (s.authority.as_str(), s.host.as_str()),
            ("[::1]:9000", "::1")
        );
        for bad in [
            "backend:50051",
            "grpc://h:1",
            "http://h:1/?q=1",
            "http://${host}:1",
            "http://u:p@h:1",
        ] {
            assert!(parse_uri(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn service_names_are_dotted_identifiers() {
        assert!(is_service_name("/helloworld.Greeter"));
        assert!(is_service_name("/Greeter"));
        assert!(is_service_name("/a.b_c.D1"));
        for bad in [
            "/",
            "/a/b",
            "/a..b",
            "/.a",
            "/a.",
            "/1a.B",
            "/a-b.C",
            "helloworld.Greeter",
        ] {
            assert!(!is_service_name(bad), "{bad}");
        }
    }
}
