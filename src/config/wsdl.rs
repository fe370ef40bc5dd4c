//! WSDL 1.1 documents: loading them at load time (a file relative to the mediation folder,
//! a URL, or inline), and reading a port's address (reference §1.9, §4.5).
//!
//! A WSDL is read once, when the configuration loads. Problems in the document are
//! reported at the document's own `file:line:col`; a missing service or port names the
//! WSDL and lists what it has.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::Resource;
use super::endpoint::{AddressSpec, EndpointFormat, WsdlSpec};
use super::{Ctx, Loc};
use crate::base::xml::{self, Element};

/// The WSDL 1.1 namespace.
pub(crate) const WSDL11_NS: &str = "http://schemas.xmlsoap.org/wsdl/";
const WSDL20_NS: &str = "http://www.w3.org/ns/wsdl";
const SOAP11_BINDING_NS: &str = "http://schemas.xmlsoap.org/wsdl/soap/";
const SOAP12_BINDING_NS: &str = "http://schemas.xmlsoap.org/wsdl/soap12/";
const HTTP_BINDING_NS: &str = "http://schemas.xmlsoap.org/wsdl/http/";

/// How long fetching a WSDL URL at load may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest WSDL document accepted.
const MAX_WSDL_BYTES: usize = 16 * 1024 * 1024;

/// A WSDL 1.1 document, read.
#[derive(Debug, Clone)]
pub(crate) struct WsdlDocument {
    /// Its `<wsdl:definitions>`.
    pub(crate) root: Element,
    /// Where it came from, for messages.
    pub(crate) source: String,
}

/// Reads `<wsdl uri service port>` (or an inline `<wsdl:definitions>`) into the port's
/// address and the format its binding implies.
pub(crate) fn parse_endpoint(
    el: &Element,
    ctx: &mut Ctx<'_>,
) -> Option<(WsdlSpec, EndpointFormat)> {
    let service = ctx
        .required_attr(el, "service")
        .map(|a| a.value.trim().to_owned());
    let port = ctx
        .required_attr(el, "port")
        .map(|a| a.value.trim().to_owned());
    if let (Some(_), Some(key)) = (el.attr("uri"), el.attr("key")) {
        ctx.error(&key.loc, "<wsdl> takes either `uri` or `key`, not both");
        return None;
    }
    let doc = document(el, ctx)?;
    let (service, port) = (service?, port?);
    match doc.port_address(&service, &port) {
        Ok((uri, format)) => Some((
            WsdlSpec {
                address: AddressSpec { uri, member: false },
                wsdl: doc.source.clone(),
                service,
                port,
            },
            format,
        )),
        Err(message) => {
            ctx.error(&el.loc, message.to_string());
            None
        }
    }
}

/// The WSDL that `el` names with `uri`, or holds inline (exactly one of the two).
pub(crate) fn document(el: &Element, ctx: &mut Ctx<'_>) -> Option<WsdlDocument> {
    let inline = el
        .elements()
        .find(|c| c.local_name() == "definitions" || c.local_name() == "description");
    match (el.attr("uri").or_else(|| el.attr("key")), inline) {
        (Some(a), None) => load(a.value.trim(), &a.loc, ctx),
        (None, Some(def)) => inline_document(def, ctx),
        (Some(_), Some(_)) => {
            let what = format!(
                "<{}> takes either `uri` or an inline WSDL, not both",
                el.local_name()
            );
            ctx.error(&el.loc, what);
            None
        }
        (None, None) => {
            let what = format!(
                "<{}> needs attribute `uri` or an inline <wsdl:definitions>",
                el.local_name()
            );
            ctx.error(&el.loc, what);
            None
        }
    }
}

/// The WSDL at a local entry or registry key, when `uri` is one: `Some(None)` when the key
/// holds something that is not a WSDL (reported).
fn keyed(uri: &str, loc: &Loc, ctx: &mut Ctx<'_>) -> Option<Option<WsdlDocument>> {
    let keys = ctx.keys;
    let found = match keys.resource(uri) {
        Some(Resource::Xml(root)) => {
            let doc = WsdlDocument {
                root: root.clone(),
                source: uri.to_owned(),
            };
            check_version(&doc, loc, ctx).then_some(doc)
        }
        Some(Resource::Src(src)) if keys.resource(src).is_none() => load(src, loc, ctx),
        Some(Resource::Src(src)) => {
            ctx.error(loc, format!("key `{uri}` points at another key, `{src}`"));
            None
        }
        Some(Resource::Text) => {
            ctx.error(loc, format!("key `{uri}` holds text, not a WSDL document"));
            None
        }
        None if uri.starts_with("gov:") || uri.starts_with("conf:") => {
            ctx.error(loc, format!("registry resource `{uri}` does not exist"));
            None
        }
        None => return None,
    };
    Some(found)
}

/// Takes an inline `<wsdl:definitions>` as a document.
pub(crate) fn inline_document(def: &Element, ctx: &mut Ctx<'_>) -> Option<WsdlDocument> {
    let doc = WsdlDocument {
        root: def.clone(),
        source: format!("inline WSDL at {}", def.loc),
    };
    check_version(&doc, &def.loc, ctx).then_some(doc)
}

/// Loads the WSDL at `uri`: `http(s)://` is fetched now; `file:` and plain paths are read
/// relative to the mediation folder.
pub(crate) fn load(uri: &str, loc: &Loc, ctx: &mut Ctx<'_>) -> Option<WsdlDocument> {
    if let Some(found) = keyed(uri, loc, ctx) {
        return found;
    }
    let (text, shown) = if uri.starts_with("http://") || uri.starts_with("https://") {
        match fetch(uri) {
            Ok(text) => (text, uri.to_owned()),
            Err(error) => {
                ctx.error(loc, format!("cannot fetch WSDL `{uri}`: {error}"));
                return None;
            }
        }
    } else if uri.contains("://") {
        let scheme = uri.split(':').next().unwrap_or(uri);
        ctx.unsupported(loc, format!("loading a WSDL over `{scheme}`"));
        return None;
    } else {
        let path = uri
            .strip_prefix("file://")
            .or_else(|| uri.strip_prefix("file:"))
            .unwrap_or(uri);
        let full = resolve_path(ctx.dir, path);
        match std::fs::read_to_string(&full) {
            Ok(text) => (text, full.display().to_string()),
            Err(error) => {
                ctx.error(
                    loc,
                    format!("cannot read WSDL `{}`: {error}", full.display()),
                );
                return None;
            }
        }
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let root = match xml::parse(Arc::from(shown.as_str()), text) {
        Ok(root) => root,
        Err(diag) => {
            ctx.error(&diag.loc, format!("in WSDL `{shown}`: {}", diag.message));
            ctx.error(loc, format!("WSDL `{shown}` is not well-formed XML"));
            return None;
        }
    };
    let doc = WsdlDocument {
        root,
        source: shown,
    };
    check_version(&doc, loc, ctx).then_some(doc)
}

fn resolve_path(dir: &Path, path: &str) -> std::path::PathBuf {
    let p = Path::new(path);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        dir.join(p)
    }
}

fn check_version(doc: &WsdlDocument, loc: &Loc, ctx: &mut Ctx<'_>) -> bool {
    match (doc.root.local_name(), doc.root.ns.as_deref()) {
        ("definitions", Some(WSDL11_NS)) => true,
        (_, Some(WSDL20_NS)) => {
            ctx.unsupported(loc, format!("WSDL 2.0 (`{}`)", doc.source));
            false
        }
        (local, ns) => {
            ctx.error(
                loc,
                format!(
                    "`{}` is not a WSDL 1.1 document: its root is <{local}> in namespace `{}`",
                    doc.source,
                    ns.unwrap_or("")
                ),
            );
            false
        }
    }
}

/// GETs `url` on a thread of its own (loading is synchronous and may run inside or
/// outside an actix system).
fn fetch(url: &str) -> Result<String, FetchError> {
    let url = url.to_owned();
    let worker = std::thread::Builder::new()
        .name("axon-wsdl-fetch".into())
        .spawn(move || {
            let system = actix_rt::System::new();
            system.block_on(async move {
                crate::base::tls::install_crypto_provider();
                let client = awc::Client::builder().timeout(FETCH_TIMEOUT).finish();
                let mut response = client
                    .get(&url)
                    .send()
                    .await
                    // awc's error is not Send: its words cross the thread.
                    .map_err(|error| FetchError::Send(error.to_string()))?;
                if !response.status().is_success() {
                    return Err(FetchError::Status(response.status()));
                }
                let body = response
                    .body()
                    .limit(MAX_WSDL_BYTES)
                    .await
                    .map_err(FetchError::Body)?;
                String::from_utf8(body.to_vec()).map_err(|_| FetchError::NotUtf8)
            })
        })
        .map_err(FetchError::Thread)?;
    worker.join().unwrap_or(Err(FetchError::ThreadFailed))
}

/// Why a WSDL could not be fetched.
#[derive(Debug, thiserror::Error)]
enum FetchError {
    /// The request failed (awc's words).
    #[error("{0}")]
    Send(String),
    /// The server answered with an error status.
    #[error("the server answered {0}")]
    Status(actix_web::http::StatusCode),
    /// The body could not be read whole, or was too large.
    #[error(transparent)]
    Body(awc::error::PayloadError),
    /// The body is not UTF-8 text.
    #[error("the WSDL is not UTF-8")]
    NotUtf8,
    /// The fetch thread could not be started.
    #[error(transparent)]
    Thread(std::io::Error),
    /// The fetch thread panicked.
    #[error("the fetch thread failed")]
    ThreadFailed,
}

/// What a WSDL lacks for a `<wsdl>` endpoint's service and port.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PortError {
    /// No service of that name.
    #[error(
        "WSDL `{wsdl}` has no service `{service}` in namespace `{namespace}` (services: {services}){}",
        if *imports { "; imported WSDL documents are not read" } else { "" }
    )]
    NoService {
        /// The WSDL as shown.
        wsdl: String,
        /// The service asked for.
        service: String,
        /// The WSDL's target namespace.
        namespace: String,
        /// The services it has, listed.
        services: String,
        /// Whether it imports other documents (which are not read).
        imports: bool,
    },
    /// No port of that name in the service.
    #[error("WSDL `{wsdl}`: service `{service}` has no port `{port}` (ports: {ports})")]
    NoPort {
        /// The WSDL as shown.
        wsdl: String,
        /// The service.
        service: String,
        /// The port asked for.
        port: String,
        /// The ports it has, listed.
        ports: String,
    },
    /// The port's address is not an http or https URL.
    #[error(
        "WSDL `{wsdl}`: port `{port}` has address `{location}`, which is not an http or https URL"
    )]
    NotHttp {
        /// The WSDL as shown.
        wsdl: String,
        /// The port.
        port: String,
        /// Its address.
        location: String,
    },
    /// The port's address does not parse as a URL.
    #[error("WSDL `{wsdl}`: port `{port}` has address `{location}`, which is not a valid URL")]
    InvalidUrl {
        /// The WSDL as shown.
        wsdl: String,
        /// The port.
        port: String,
        /// Its address.
        location: String,
    },
    /// The port has no address element Axon reads.
    #[error(
        "WSDL `{wsdl}`: port `{port}` of service `{service}` has no soap:address, soap12:address or http:address, so Axon cannot retrieve the endpoint address from the WSDL"
    )]
    NoAddress {
        /// The WSDL as shown.
        wsdl: String,
        /// The service.
        service: String,
        /// The port.
        port: String,
    },
}

// === impl WsdlDocument ===

impl WsdlDocument {
    fn target_namespace(&self) -> &str {
        self.root.attr_value("targetNamespace").unwrap_or("")
    }

    fn wsdl_children<'a>(&'a self, local: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.root
            .elements()
            .filter(move |el| el.local_name() == local && el.ns.as_deref() == Some(WSDL11_NS))
    }

    /// The address of `service`/`port` and the format its extensibility element implies:
    /// `soap:address` → soap11, `soap12:address` → soap12, `http:address` → rest (get when
    /// the binding's verb is GET).
    ///
    /// # Errors
    /// What is missing, naming the WSDL and what it has.
    pub(crate) fn port_address(
        &self,
        service: &str,
        port: &str,
    ) -> Result<(String, EndpointFormat), PortError> {
        let services: Vec<&Element> = self.wsdl_children("service").collect();
        let Some(svc) = services
            .iter()
            .find(|s| s.attr_value("name") == Some(service))
        else {
            let names: Vec<&str> = services
                .iter()
                .filter_map(|s| s.attr_value("name"))
                .collect();
            let imports = self.wsdl_children("import").count();
            return Err(PortError::NoService {
                wsdl: self.source.clone(),
                service: service.to_owned(),
                namespace: self.target_namespace().to_owned(),
                services: list(&names),
                imports: imports > 0,
            });
        };
        let ports: Vec<&Element> = svc
            .elements()
            .filter(|p| p.local_name() == "port" && p.ns.as_deref() == Some(WSDL11_NS))
            .collect();
        let Some(p) = ports.iter().find(|p| p.attr_value("name") == Some(port)) else {
            let names: Vec<&str> = ports.iter().filter_map(|p| p.attr_value("name")).collect();
            return Err(PortError::NoPort {
                wsdl: self.source.clone(),
                service: service.to_owned(),
                port: port.to_owned(),
                ports: list(&names),
            });
        };
        for ext in p.elements() {
            if ext.local_name() != "address" {
                continue;
            }
            let Some(location) = ext.attr_value("location").map(str::trim) else {
                continue;
            };
            let format = match ext.ns.as_deref() {
                Some(SOAP11_BINDING_NS) => EndpointFormat::Soap11,
                Some(SOAP12_BINDING_NS) => EndpointFormat::Soap12,
                Some(HTTP_BINDING_NS) if self.http_verb(p) == Some("GET") => EndpointFormat::Get,
                Some(HTTP_BINDING_NS) => EndpointFormat::Rest,
                _ => continue,
            };
            if !(location.starts_with("http://") || location.starts_with("https://")) {
                return Err(PortError::NotHttp {
                    wsdl: self.source.clone(),
                    port: port.to_owned(),
                    location: location.to_owned(),
                });
            }
            if location.parse::<actix_web::http::Uri>().is_err() {
                return Err(PortError::InvalidUrl {
                    wsdl: self.source.clone(),
                    port: port.to_owned(),
                    location: location.to_owned(),
                });
            }
            return Ok((location.to_owned(), format));
        }
        Err(PortError::NoAddress {
            wsdl: self.source.clone(),
            service: service.to_owned(),
            port: port.to_owned(),
        })
    }

    fn http_verb(&self, port: &Element) -> Option<&str> {
        let binding = port.attr_value("binding")?;
        let local = binding.rsplit(':').next().unwrap_or(binding);
        let b = self
            .wsdl_children("binding")
            .find(|b| b.attr_value("name") == Some(local))?;
        b.elements()
            .find(|el| el.local_name() == "binding" && el.ns.as_deref() == Some(HTTP_BINDING_NS))
            .and_then(|el| el.attr_value("verb"))
    }
}

fn list(names: &[&str]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}
