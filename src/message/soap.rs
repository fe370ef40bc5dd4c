//! SOAP 1.1 and 1.2 envelopes (reference §4.1): versions, content types and actions,
//! reading an envelope, building one around a payload, converting between versions, and
//! faults of both versions.
//!
//! Everything here works on a body that is already in memory (a conversion reads it once,
//! up to `--max-body-bytes`). Pass-through messages are never parsed into a tree: they are
//! checked chunk by chunk while they stream ([`EnvelopeCheck`]).

use std::fmt::Write as _;

use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};

use crate::base::xml::{
    self as tree, Element, Node, escape_attr_into, escape_text, escape_text_into, xmlns_prefix,
};
use crate::message::xml::XmlLimits;

pub(crate) use crate::base::cause::Malformed;

/// The SOAP 1.1 envelope namespace.
pub(crate) const SOAP11_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// The SOAP 1.2 envelope namespace.
pub(crate) const SOAP12_NS: &str = "http://www.w3.org/2003/05/soap-envelope";
/// The `xsi` namespace (used for `xsi:nil`).
pub(crate) const XSI_NS: &str = "http://www.w3.org/2001/XMLSchema-instance";
/// The header that carries the SOAP 1.1 action.
pub(crate) const SOAP_ACTION: HeaderName = HeaderName::from_static("soapaction");

const ACTOR_NEXT_11: &str = "http://schemas.xmlsoap.org/soap/actor/next";
const ROLE_NEXT_12: &str = "http://www.w3.org/2003/05/soap-envelope/role/next";

/// A SOAP version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SoapVersion {
    /// SOAP 1.1: `text/xml`, `SOAPAction` header.
    V11,
    /// SOAP 1.2: `application/soap+xml` with an `action` parameter.
    V12,
}

/// The standard fault codes of both versions (reference §4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultCode {
    /// The envelope namespace was not the expected one.
    VersionMismatch,
    /// A mandatory header block was not understood.
    MustUnderstand,
    /// SOAP 1.2 only; written as `Client` in SOAP 1.1.
    DataEncodingUnknown,
    /// The sender's fault: `Client` (1.1), `Sender` (1.2).
    Sender,
    /// The receiver's fault: `Server` (1.1), `Receiver` (1.2).
    Receiver,
}

/// A fault to build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fault {
    /// The code.
    pub(crate) code: FaultCode,
    /// `faultstring` (1.1) / `Reason/Text` (1.2).
    pub(crate) reason: String,
    /// `Node` (1.2 only).
    pub(crate) node: Option<String>,
    /// `faultactor` (1.1) / `Role` (1.2).
    pub(crate) role: Option<String>,
    /// The content of `detail` / `Detail`, as XML.
    pub(crate) detail: Option<String>,
}

/// What a received fault says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultInfo {
    /// The code as written (`soapenv:Server`, or the 1.2 `Code/Value`).
    pub(crate) code: String,
    /// The standard code, when the code is one.
    pub(crate) standard: Option<FaultCode>,
    /// `faultstring` / the first `Reason/Text`.
    pub(crate) reason: String,
    /// The content of the detail element, as XML.
    pub(crate) detail: Option<String>,
}

/// An envelope read into memory.
#[derive(Debug)]
pub struct Envelope {
    /// Its version.
    pub(crate) version: SoapVersion,
    root: Element,
}

// === impl SoapVersion ===

impl SoapVersion {
    /// The envelope namespace.
    pub(crate) fn namespace(self) -> &'static str {
        match self {
            SoapVersion::V11 => SOAP11_NS,
            SoapVersion::V12 => SOAP12_NS,
        }
    }

    /// The media type of the `Content-Type`.
    pub(crate) fn media_type(self) -> &'static str {
        match self {
            SoapVersion::V11 => "text/xml",
            SoapVersion::V12 => "application/soap+xml",
        }
    }

    /// The version whose envelope namespace is `ns`.
    pub(crate) fn from_namespace(ns: &str) -> Option<SoapVersion> {
        match ns {
            SOAP11_NS => Some(SoapVersion::V11),
            SOAP12_NS => Some(SoapVersion::V12),
            _ => None,
        }
    }

    /// `SOAP 1.1` / `SOAP 1.2`, for messages.
    pub(crate) fn label(self) -> &'static str {
        match self {
            SoapVersion::V11 => "SOAP 1.1",
            SoapVersion::V12 => "SOAP 1.2",
        }
    }

    /// The `Content-Type` of a message of this version with `action`.
    pub(crate) fn content_type(self, action: Option<&str>) -> String {
        match (self, action) {
            (SoapVersion::V12, Some(a)) if !a.is_empty() => {
                format!("application/soap+xml; charset=UTF-8; action=\"{a}\"")
            }
            _ => format!("{}; charset=UTF-8", self.media_type()),
        }
    }
}

// === impl FaultCode ===

impl FaultCode {
    /// The local name of the code in `version`.
    pub(crate) fn local_name(self, version: SoapVersion) -> &'static str {
        match (self, version) {
            (FaultCode::VersionMismatch, _) => "VersionMismatch",
            (FaultCode::MustUnderstand, _) => "MustUnderstand",
            (FaultCode::DataEncodingUnknown, SoapVersion::V12) => "DataEncodingUnknown",
            (FaultCode::DataEncodingUnknown, SoapVersion::V11) => "Client",
            (FaultCode::Sender, SoapVersion::V11) => "Client",
            (FaultCode::Sender, SoapVersion::V12) => "Sender",
            (FaultCode::Receiver, SoapVersion::V11) => "Server",
            (FaultCode::Receiver, SoapVersion::V12) => "Receiver",
        }
    }

    /// The standard code called `local` (either version's name), and the version the name
    /// belongs to when only one has it (`Client`/`Server` are 1.1, `Sender`/`Receiver`/
    /// `DataEncodingUnknown` are 1.2).
    pub(crate) fn from_local_name(local: &str) -> Option<(FaultCode, Option<SoapVersion>)> {
        Some(match local {
            "VersionMismatch" => (FaultCode::VersionMismatch, None),
            "MustUnderstand" => (FaultCode::MustUnderstand, None),
            "DataEncodingUnknown" => (FaultCode::DataEncodingUnknown, Some(SoapVersion::V12)),
            "Client" => (FaultCode::Sender, Some(SoapVersion::V11)),
            "Server" => (FaultCode::Receiver, Some(SoapVersion::V11)),
            "Sender" => (FaultCode::Sender, Some(SoapVersion::V12)),
            "Receiver" => (FaultCode::Receiver, Some(SoapVersion::V12)),
            _ => return None,
        })
    }
}

// === headers ===

/// The media type of a `Content-Type` value, lowercase, without parameters.
pub(crate) fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// The value of parameter `name` of a `Content-Type`, unquoted.
pub(crate) fn content_type_param(content_type: &str, name: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().trim_matches('"').to_owned())
    })
}

/// The SOAP action of a request: the `SOAPAction` header (1.1, unquoted) or the `action`
/// parameter of the `Content-Type` (1.2). An empty action is `None`.
pub(crate) fn action(headers: &HeaderMap) -> Option<String> {
    let from_header = headers
        .get(SOAP_ACTION)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().trim_matches('"').to_owned());
    let from_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| content_type_param(ct, "action"));
    from_header.or(from_type).filter(|a| !a.is_empty())
}

/// Sets `Content-Type` (and for 1.1 `SOAPAction`, quoted) for a message of `version`.
pub(crate) fn set_transport_headers(
    headers: &mut HeaderMap,
    version: SoapVersion,
    action: Option<&str>,
) {
    if let Ok(v) = HeaderValue::from_str(&version.content_type(action)) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    match version {
        SoapVersion::V11 => {
            let quoted = format!("\"{}\"", action.unwrap_or(""));
            if let Ok(v) = HeaderValue::from_str(&quoted) {
                headers.insert(SOAP_ACTION, v);
            }
        }
        SoapVersion::V12 => {
            headers.remove(SOAP_ACTION);
        }
    }
}

// === reading ===

/// Parses `bytes` as an XML document, within the default [`XmlLimits`].
///
/// # Errors
/// [`Malformed`] with the line and column of the problem.
pub(crate) fn parse_xml(bytes: &[u8]) -> Result<Element, Malformed> {
    parse_xml_with(bytes, XmlLimits::default())
}

/// Parses `bytes` as an XML document, within `limits` and the nesting limit.
///
/// # Errors
/// [`Malformed`] with the line and column of the problem, or the limit crossed.
pub(crate) fn parse_xml_with(bytes: &[u8], limits: XmlLimits) -> Result<Element, Malformed> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| Malformed("the message is not valid UTF-8".into()))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    tree::parse_message(std::sync::Arc::from("message"), text, limits).map_err(|d| {
        Malformed(format!(
            "{} (line {}, column {})",
            d.message, d.loc.line, d.loc.col
        ))
    })
}

/// The root element's namespace and local name, found without reading the whole document
/// (comments, the XML declaration and whitespace are skipped). `None` when the bytes do
/// not start like an XML document.
pub(crate) fn root_name(bytes: &[u8]) -> Option<(Option<String>, String)> {
    let mut reader = quick_xml::NsReader::from_reader(bytes);
    loop {
        match reader.read_resolved_event() {
            Ok((
                ns,
                quick_xml::events::Event::Start(tag) | quick_xml::events::Event::Empty(tag),
            )) => {
                let ns = match ns {
                    quick_xml::name::ResolveResult::Bound(n) => Some(n.into_inner().to_owned()),
                    _ => None,
                };
                let local = tag.local_name().into_inner().to_owned();
                return Some((ns, local));
            }
            Ok((_, quick_xml::events::Event::Eof)) | Err(_) => return None,
            Ok((_, quick_xml::events::Event::Text(t))) if !t.as_ref().trim().is_empty() => {
                return None;
            }
            Ok(_) => {}
        }
    }
}

/// The SOAP version of `bytes` when they start with an envelope.
pub(crate) fn sniff(bytes: &[u8]) -> Option<SoapVersion> {
    let (ns, local) = root_name(bytes)?;
    (local == "Envelope")
        .then(|| ns.as_deref().and_then(SoapVersion::from_namespace))
        .flatten()
}

impl Envelope {
    /// Reads an envelope.
    ///
    /// # Errors
    /// Malformed XML, a root that is not a SOAP envelope, or an envelope without a body.
    pub fn parse(bytes: &[u8]) -> Result<Envelope, Malformed> {
        Self::parse_with(bytes, XmlLimits::default())
    }

    /// As [`Envelope::parse`], within `limits`; an envelope with two Bodies (or two
    /// Headers, or a Header after the Body) is refused.
    ///
    /// # Errors
    /// As [`Envelope::parse`], or a document over one of `limits`.
    pub(crate) fn parse_with(bytes: &[u8], limits: XmlLimits) -> Result<Envelope, Malformed> {
        let root = parse_xml_with(bytes, limits)?;
        let version = match (root.local_name(), root.ns.as_deref()) {
            ("Envelope", Some(ns)) => SoapVersion::from_namespace(ns).ok_or_else(|| {
                Malformed(format!(
                    "the envelope namespace `{ns}` is neither SOAP 1.1 nor SOAP 1.2"
                ))
            })?,
            (local, _) => {
                return Err(Malformed(format!(
                    "the message is not a SOAP envelope (its root element is <{local}>)"
                )));
            }
        };
        let env = Envelope { version, root };
        let ns = Some(version.namespace());
        let count = |local: &str| {
            env.root
                .elements()
                .filter(|el| el.local_name() == local && el.ns.as_deref() == ns)
                .count()
        };
        match (count("Header"), count("Body")) {
            (_, 0) => Err(Malformed("the SOAP envelope has no Body".into())),
            (_, 2..) => Err(Malformed("the SOAP envelope has more than one Body".into())),
            (2.., _) => Err(Malformed(
                "the SOAP envelope has more than one Header".into(),
            )),
            _ => Ok(env),
        }
    }

    fn part(&self, local: &str) -> Option<&Element> {
        let ns = self.version.namespace();
        self.root
            .elements()
            .find(|el| el.local_name() == local && el.ns.as_deref() == Some(ns))
    }

    fn scope_of(&self, part: &Element) -> Vec<(String, String)> {
        let mut scope = declarations(&self.root);
        scope.extend(declarations(part));
        scope
    }

    /// Each header block, as standalone XML.
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn header_blocks(&self) -> Vec<String> {
        let Some(header) = self.part("Header") else {
            return Vec::new();
        };
        let scope = self.scope_of(header);
        header
            .elements()
            .map(|b| standalone(b, &scope, None))
            .collect()
    }

    /// The first child of the body (the payload), as standalone XML.
    pub(crate) fn payload(&self) -> Option<String> {
        let body = self.part("Body")?;
        let scope = self.scope_of(body);
        body.elements().next().map(|p| standalone(p, &scope, None))
    }

    /// The first child of the body, as a tree, with the namespace declarations in scope.
    pub(crate) fn payload_element(&self) -> Option<(&Element, Vec<(String, String)>)> {
        let body = self.part("Body")?;
        let scope = self.scope_of(body);
        body.elements().next().map(|p| (p, scope))
    }

    /// The fault, when the body holds one.
    pub(crate) fn fault(&self) -> Option<FaultInfo> {
        let ns = self.version.namespace();
        let body = self.part("Body")?;
        let fault = body
            .elements()
            .next()
            .filter(|el| el.local_name() == "Fault" && el.ns.as_deref() == Some(ns))?;
        // Borrowed, never cloned: a clone of a deep subtree would recurse.
        fn child<'e>(el: &'e Element, local: &str) -> Option<&'e Element> {
            el.elements().find(|c| c.local_name() == local)
        }
        let scope = self.scope_of(fault);
        let (code, reason, detail) = match self.version {
            SoapVersion::V11 => (
                child(fault, "faultcode")
                    .map(|c| c.text())
                    .unwrap_or_default(),
                child(fault, "faultstring")
                    .map(|c| c.text())
                    .unwrap_or_default(),
                child(fault, "detail"),
            ),
            SoapVersion::V12 => (
                child(fault, "Code")
                    .and_then(|c| child(c, "Value"))
                    .map(|v| v.text())
                    .unwrap_or_default(),
                child(fault, "Reason")
                    .and_then(|r| child(r, "Text"))
                    .map(|t| t.text())
                    .unwrap_or_default(),
                child(fault, "Detail"),
            ),
        };
        let local = code.rsplit(':').next().unwrap_or(&code);
        let detail = detail.map(|d| inner_xml(d, &scope));
        Some(FaultInfo {
            standard: FaultCode::from_local_name(local).map(|(c, _)| c),
            code,
            reason,
            detail,
        })
    }

    /// The envelope in `to`: the same document with the envelope namespace replaced,
    /// header attributes (`actor`/`role`, `mustUnderstand`) translated, and a fault
    /// rebuilt in the other version's structure.
    pub fn convert(&self, to: SoapVersion) -> String {
        if to == self.version {
            return standalone(&self.root, &[], None);
        }
        if let Some(info) = self.fault() {
            let fault = Fault {
                code: info.standard.unwrap_or(FaultCode::Receiver),
                reason: info.reason,
                node: None,
                role: None,
                detail: info.detail,
            };
            return fault_envelope(to, &fault, &self.converted_headers(to));
        }
        standalone(&self.root, &[], Some((self.version, to)))
    }

    /// The header blocks, converted to `to`.
    pub(crate) fn converted_headers(&self, to: SoapVersion) -> Vec<String> {
        let Some(header) = self.part("Header") else {
            return Vec::new();
        };
        let scope = self.scope_of(header);
        header
            .elements()
            .map(|b| standalone(b, &scope, Some((self.version, to))))
            .collect()
    }
}

// === writing ===

/// An envelope of `version` around `payload` (standalone XML, without an XML declaration;
/// empty for an empty body), with `headers` as header blocks.
pub(crate) fn wrap(version: SoapVersion, payload: &str, headers: &[String]) -> String {
    let mut out = String::with_capacity(payload.len() + 256);
    _ = write!(
        out,
        "<soapenv:Envelope xmlns:soapenv=\"{}\">",
        version.namespace()
    );
    if !headers.is_empty() {
        out.push_str("<soapenv:Header>");
        for h in headers {
            out.push_str(h);
        }
        out.push_str("</soapenv:Header>");
    }
    if payload.is_empty() {
        out.push_str("<soapenv:Body/>");
    } else {
        out.push_str("<soapenv:Body>");
        out.push_str(payload);
        out.push_str("</soapenv:Body>");
    }
    out.push_str("</soapenv:Envelope>");
    out
}

/// A fault envelope of `version`.
pub(crate) fn fault_envelope(version: SoapVersion, fault: &Fault, headers: &[String]) -> String {
    let code = format!("soapenv:{}", fault.code.local_name(version));
    let mut body = String::new();
    match version {
        SoapVersion::V11 => {
            _ = write!(
                body,
                "<soapenv:Fault><faultcode>{code}</faultcode><faultstring>{}</faultstring>",
                escape_text(&fault.reason)
            );
            if let Some(role) = &fault.role {
                _ = write!(body, "<faultactor>{}</faultactor>", escape_text(role));
            }
            if let Some(detail) = &fault.detail {
                _ = write!(body, "<detail>{detail}</detail>");
            }
        }
        SoapVersion::V12 => {
            _ = write!(
                body,
                "<soapenv:Fault><soapenv:Code><soapenv:Value>{code}</soapenv:Value></soapenv:Code><soapenv:Reason><soapenv:Text xml:lang=\"en\">{}</soapenv:Text></soapenv:Reason>",
                escape_text(&fault.reason)
            );
            if let Some(node) = &fault.node {
                _ = write!(body, "<soapenv:Node>{}</soapenv:Node>", escape_text(node));
            }
            if let Some(role) = &fault.role {
                _ = write!(body, "<soapenv:Role>{}</soapenv:Role>", escape_text(role));
            }
            if let Some(detail) = &fault.detail {
                _ = write!(body, "<soapenv:Detail>{detail}</soapenv:Detail>");
            }
        }
    }
    body.push_str("</soapenv:Fault>");
    wrap(version, &body, headers)
}

/// The namespace declarations written on `el`, as (prefix, uri).
pub(crate) fn declarations(el: &Element) -> Vec<(String, String)> {
    el.attrs
        .iter()
        .filter_map(|a| xmlns_prefix(&a.name).map(|p| (p.to_owned(), a.value.clone())))
        .collect()
}

/// The children of `el` as standalone XML.
fn inner_xml(el: &Element, outer_scope: &[(String, String)]) -> String {
    let mut scope = outer_scope.to_vec();
    scope.extend(declarations(el));
    let mut out = String::new();
    for n in &el.children {
        match n {
            Node::Element(c) => out.push_str(&standalone(c, &scope, None)),
            Node::Text(t) => escape_text_into(t, &mut out),
        }
    }
    out
}

/// Serialises `el` so that it stands alone: the namespace declarations of `scope` (the
/// ancestors') that it does not redeclare are written on it. A declaration of a SOAP
/// envelope namespace is carried only when the subtree uses its prefix. With `convert`,
/// envelope namespaces and header attributes are translated between versions.
pub(crate) fn standalone(
    el: &Element,
    scope: &[(String, String)],
    convert: Option<(SoapVersion, SoapVersion)>,
) -> String {
    let mut inherited: Vec<(String, String)> = Vec::new();
    let own = declarations(el);
    for (prefix, uri) in scope.iter().rev() {
        if own.iter().any(|(p, _)| p == prefix) || inherited.iter().any(|(p, _)| p == prefix) {
            continue;
        }
        let envelope_ns = SoapVersion::from_namespace(uri).is_some();
        if envelope_ns && !uses_prefix(el, prefix) {
            continue;
        }
        inherited.push((prefix.clone(), uri.clone()));
    }
    inherited.reverse();
    let mut out = String::new();
    write_element(&mut out, el, &inherited, convert, &mut scope.to_vec());
    out
}

/// Whether `el` or an element under it has `prefix` in its name or an attribute's name.
pub(crate) fn uses_prefix(el: &Element, prefix: &str) -> bool {
    fn name_prefix(n: &str) -> &str {
        n.split_once(':').map(|(p, _)| p).unwrap_or("")
    }
    el.descendants().any(|el| {
        name_prefix(&el.name) == prefix
            || el.attrs.iter().any(|a| {
                xmlns_prefix(&a.name).is_none()
                    && a.name.contains(':')
                    && name_prefix(&a.name) == prefix
            })
    })
}

/// What is left to write of a subtree: a node, or the end tag of an element whose
/// children are written (with the scope length to restore).
enum Step<'e> {
    Node(&'e Node),
    Close(&'e Element, usize),
}

/// Writes `el` and its subtree with an explicit stack, so no input depth reaches the
/// call stack.
fn write_element(
    out: &mut String,
    el: &Element,
    extra: &[(String, String)],
    convert: Option<(SoapVersion, SoapVersion)>,
    scope: &mut Vec<(String, String)>,
) {
    let depth = scope.len();
    scope.extend(extra.iter().cloned());
    write_start(out, el, extra, convert, scope);
    let mut stack: Vec<Step<'_>> = Vec::new();
    close_or_descend(out, el, depth, &mut stack, scope);
    while let Some(step) = stack.pop() {
        match step {
            Step::Node(Node::Element(c)) => {
                let mark = scope.len();
                write_start(out, c, &[], convert, scope);
                close_or_descend(out, c, mark, &mut stack, scope);
            }
            Step::Node(Node::Text(t)) => escape_text_into(t, out),
            Step::Close(c, mark) => {
                out.push_str("</");
                out.push_str(&c.name);
                out.push('>');
                scope.truncate(mark);
            }
        }
    }
}

/// Ends the start tag of `el`: `/>` when it is empty, else `>` with its children and its
/// end tag put on `stack`.
fn close_or_descend<'e>(
    out: &mut String,
    el: &'e Element,
    mark: usize,
    stack: &mut Vec<Step<'e>>,
    scope: &mut Vec<(String, String)>,
) {
    if el.children.is_empty() {
        out.push_str("/>");
        scope.truncate(mark);
    } else {
        out.push('>');
        stack.push(Step::Close(el, mark));
        stack.extend(el.children.iter().rev().map(Step::Node));
    }
}

/// Writes `<name` with its declarations and attributes (not the closing `>`), adding the
/// element's own declarations to `scope`.
fn write_start(
    out: &mut String,
    el: &Element,
    extra: &[(String, String)],
    convert: Option<(SoapVersion, SoapVersion)>,
    scope: &mut Vec<(String, String)>,
) {
    scope.extend(declarations(el));
    out.push('<');
    out.push_str(&el.name);
    for (prefix, uri) in extra {
        write_decl(out, prefix, uri, convert);
    }
    for a in &el.attrs {
        if let Some(prefix) = xmlns_prefix(&a.name) {
            write_decl(out, prefix, &a.value, convert);
            continue;
        }
        let (name, value) = match convert {
            Some((from, to)) => convert_attr(&a.name, &a.value, scope, from, to),
            None => (a.name.clone(), a.value.clone()),
        };
        out.push(' ');
        out.push_str(&name);
        out.push_str("=\"");
        escape_attr_into(&value, out);
        out.push('"');
    }
}

fn write_decl(
    out: &mut String,
    prefix: &str,
    uri: &str,
    convert: Option<(SoapVersion, SoapVersion)>,
) {
    let uri = match convert {
        Some((from, to)) if uri == from.namespace() => to.namespace(),
        _ => uri,
    };
    crate::base::xml::write_xmlns(prefix, uri, out);
}

/// Translates an attribute in the envelope namespace: `actor` ↔ `role` (with the "next"
/// URI), `mustUnderstand` `true`/`false` → `1`/`0` for SOAP 1.1.
fn convert_attr(
    name: &str,
    value: &str,
    scope: &[(String, String)],
    from: SoapVersion,
    to: SoapVersion,
) -> (String, String) {
    let Some((prefix, local)) = name.split_once(':') else {
        return (name.to_owned(), value.to_owned());
    };
    let bound = scope
        .iter()
        .rev()
        .find(|(p, _)| p == prefix)
        .map(|(_, u)| u.as_str());
    if bound != Some(from.namespace()) {
        return (name.to_owned(), value.to_owned());
    }
    match (local, to) {
        ("actor", SoapVersion::V12) => {
            let v = if value == ACTOR_NEXT_11 {
                ROLE_NEXT_12
            } else {
                value
            };
            (format!("{prefix}:role"), v.to_owned())
        }
        ("role", SoapVersion::V11) => {
            let v = if value == ROLE_NEXT_12 {
                ACTOR_NEXT_11
            } else {
                value
            };
            (format!("{prefix}:actor"), v.to_owned())
        }
        ("mustUnderstand", SoapVersion::V11) => {
            let v = match value.trim() {
                "true" => "1",
                "false" => "0",
                other => other,
            };
            (name.to_owned(), v.to_owned())
        }
        _ => (name.to_owned(), value.to_owned()),
    }
}

// === streaming check ===

/// Checks, chunk by chunk, that a streamed body is a well-formed SOAP envelope of the
/// expected version: one `Envelope` root, an optional `Header`, then a `Body`. Memory stays
/// bounded whatever the message size (long text is checked in pieces).
pub struct EnvelopeCheck {
    parser: rxml::Parser,
    shape: Shape,
    /// The bytes before the root element, until it starts. The prolog is handled here:
    /// rxml refuses whitespace and comments before the root when there is no XML
    /// declaration, which XML allows and clients send.
    prolog: Option<Prolog>,
}

/// The prolog bytes received so far, and how far they have been scanned: each byte is
/// looked at a bounded number of times however the prolog is split into chunks (a client
/// that sends one byte per packet must not make the scan quadratic).
#[derive(Debug, Default)]
struct Prolog {
    bytes: Vec<u8>,
    /// Where the first token not yet complete starts.
    at: usize,
    /// Where the search for that token's terminator (`?>`, `-->`) goes on.
    search: usize,
    /// How many bytes the terminator searches have read in all.
    #[cfg(test)]
    searched: usize,
}

/// How many bytes the streaming check hands rxml at a time.
const PARSE_PIECE: usize = 4096;

/// Longest prolog (XML declaration, comments, whitespace) accepted before the root.
const MAX_PROLOG: usize = 64 * 1024;

#[derive(Debug)]
struct Shape {
    expected: SoapVersion,
    max_attributes: usize,
    depth: usize,
    seen_header: bool,
    seen_body: bool,
    done: bool,
    problem: Option<Malformed>,
}

impl std::fmt::Debug for EnvelopeCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnvelopeCheck")
            .field("shape", &self.shape)
            .finish_non_exhaustive()
    }
}

impl EnvelopeCheck {
    /// A check for an envelope of `expected`, with the default limits.
    pub fn new(expected: SoapVersion) -> Self {
        Self::with_limits(expected, XmlLimits::default())
    }

    /// A check for an envelope of `expected`, within the nesting limit and `limits`'
    /// attributes per element.
    pub(crate) fn with_limits(expected: SoapVersion, limits: XmlLimits) -> Self {
        use rxml::WithOptions as _;
        let options = rxml::Options {
            comments: rxml::parser::CommentMode::Discard,
            ..rxml::Options::default()
        };
        let mut parser = rxml::Parser::with_options(options);
        parser.set_text_buffering(false);
        EnvelopeCheck {
            parser,
            prolog: Some(Prolog::default()),
            shape: Shape {
                expected,
                max_attributes: limits.max_attributes,
                depth: 0,
                seen_header: false,
                seen_body: false,
                done: false,
                problem: None,
            },
        }
    }

    /// Feeds the next bytes; `at_eof` when they are the last.
    ///
    /// # Errors
    /// The first problem found.
    pub fn feed(&mut self, bytes: &[u8], at_eof: bool) -> Result<(), Malformed> {
        if let Some(p) = &self.shape.problem {
            return Err(p.clone());
        }
        let Some(mut prolog) = self.prolog.take() else {
            return self.parse(bytes, at_eof);
        };
        prolog.bytes.extend_from_slice(bytes);
        match prolog.find_root() {
            Ok(Some(root)) => {
                let buffered = &prolog.bytes;
                let mut start = xml_declaration(buffered).to_vec();
                start.extend_from_slice(&buffered[root..]);
                self.parse(&start, at_eof)
            }
            Ok(None) if at_eof => self.fail(Malformed(
                "the message has no root element (it is empty or holds only a prolog)".into(),
            )),
            Ok(None) if prolog.bytes.len() > MAX_PROLOG => self.fail(Malformed(
                "the XML prolog is too long before the root element".into(),
            )),
            Ok(None) => {
                self.prolog = Some(prolog);
                Ok(())
            }
            Err(p) => self.fail(p),
        }
    }

    fn fail(&mut self, p: Malformed) -> Result<(), Malformed> {
        self.shape.problem = Some(p.clone());
        Err(p)
    }

    /// Parses `bytes` a bounded piece at a time, stopping at the first problem: rxml
    /// reports problems only through the events it emits, and given a whole large buffer it
    /// would go on to its end, at a cost that grows faster than its length (a 700 KB body
    /// nested past the limit took seconds, though the problem lies in its first 4 KB).
    fn parse(&mut self, bytes: &[u8], at_eof: bool) -> Result<(), Malformed> {
        if bytes.is_empty() {
            return self.parse_piece(bytes, at_eof);
        }
        let mut pieces = bytes.chunks(PARSE_PIECE).peekable();
        while let Some(piece) = pieces.next() {
            self.parse_piece(piece, at_eof && pieces.peek().is_none())?;
        }
        Ok(())
    }

    fn parse_piece(&mut self, mut bytes: &[u8], at_eof: bool) -> Result<(), Malformed> {
        use rxml::Parse as _;
        let shape = &mut self.shape;
        let result = self
            .parser
            .parse_all(&mut bytes, at_eof, |event| shape.step(event));
        match result {
            Ok(()) => {}
            Err(rxml::error::EndOrError::NeedMoreData) => {}
            Err(rxml::error::EndOrError::Error(rxml::Error::InvalidEof(_))) => {
                return self.fail(Malformed("the SOAP envelope is incomplete".into()));
            }
            Err(rxml::error::EndOrError::Error(error)) => {
                let p = Malformed(format!("malformed XML: {error}"));
                self.shape.problem = Some(p.clone());
                return Err(p);
            }
        }
        if let Some(p) = &self.shape.problem {
            return Err(p.clone());
        }
        if at_eof && !self.shape.done {
            let p = Malformed("the SOAP envelope is incomplete".into());
            self.shape.problem = Some(p.clone());
            return Err(p);
        }
        Ok(())
    }
}

/// The XML declaration at the very start of `buf` (empty when there is none).
fn xml_declaration(buf: &[u8]) -> &[u8] {
    if buf.starts_with(b"<?xml")
        && let Some(end) = find(buf, b"?>", 5)
    {
        return &buf[..end + 2];
    }
    &[]
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i + from)
}

impl Prolog {
    /// Where the root element starts, skipping the XML declaration, whitespace and
    /// comments; the scan resumes where the previous call stopped. `Ok(None)`: more bytes
    /// are needed.
    ///
    /// # Errors
    /// A document type declaration or a processing instruction (SOAP forbids both).
    fn find_root(&mut self) -> Result<Option<usize>, Malformed> {
        let buf = self.bytes.as_slice();
        if self.at == 0 {
            if buf.len() < 5 && b"<?xml".starts_with(buf) {
                return Ok(None);
            }
            if buf.starts_with(b"<?xml") {
                match self.terminator(b"?>", 5) {
                    Some(end) => self.advance(end + 2),
                    None => return Ok(None),
                }
            }
        }
        loop {
            let buf = self.bytes.as_slice();
            let mut i = self.at;
            while buf.get(i).is_some_and(u8::is_ascii_whitespace) {
                i += 1;
            }
            self.advance(i);
            let rest = &self.bytes[i..];
            if rest.len() < 4 && (b"<!--".starts_with(rest) || b"<!DOCTYPE".starts_with(rest)) {
                return Ok(None);
            }
            if rest.starts_with(b"<!--") {
                match self.terminator(b"-->", i + 4) {
                    Some(end) => self.advance(end + 3),
                    None => return Ok(None),
                }
                continue;
            }
            if rest.starts_with(b"<!") {
                return Err(Malformed(
                    "a document type declaration is not allowed in a SOAP message".into(),
                ));
            }
            if rest.starts_with(b"<?") {
                return Err(Malformed(
                    "a processing instruction is not allowed in a SOAP message".into(),
                ));
            }
            return Ok(Some(i));
        }
    }

    /// The next token starts at `at` (a search already under way for the token at
    /// `at` goes on where it was).
    fn advance(&mut self, at: usize) {
        if at != self.at {
            self.at = at;
            self.search = at;
        }
    }

    /// Where `needle` occurs from `from` on, searching only bytes not searched before;
    /// when absent, remembers how far the search got (keeping a possible partial match).
    fn terminator(&mut self, needle: &[u8], from: usize) -> Option<usize> {
        let start = from.max(self.search);
        #[cfg(test)]
        {
            self.searched += self.bytes.len().saturating_sub(start);
        }
        let found = find(&self.bytes, needle, start);
        if found.is_none() {
            self.search = start.max((self.bytes.len() + 1).saturating_sub(needle.len()));
        }
        found
    }
}

impl Shape {
    fn step(&mut self, event: rxml::Event) {
        if self.problem.is_some() {
            return;
        }
        if let Err(p) = self.check(event) {
            self.problem = Some(p);
        }
    }

    fn check(&mut self, event: rxml::Event) -> Result<(), Malformed> {
        match event {
            rxml::Event::XmlDeclaration(..) => Ok(()),
            rxml::Event::StartElement(_, (ns, local), attrs) => {
                self.depth += 1;
                // Past the limit the check stops at once: rxml's work per element grows
                // with the depth, so a deeper document would cost quadratic time.
                crate::message::xml::Budget::depth(self.depth).map_err(Malformed::from)?;
                if attrs.len() > self.max_attributes {
                    return Err(Malformed(format!(
                        "an element of the SOAP envelope has more than {} attributes (limit --max-xml-attributes)",
                        self.max_attributes
                    )));
                }
                match self.depth {
                    1 => self.check_root(ns.as_str(), local.as_str()),
                    2 => self.check_part(ns.as_str() == self.expected.namespace(), local.as_str()),
                    _ => Ok(()),
                }
            }
            rxml::Event::EndElement(_) => {
                self.depth = self.depth.saturating_sub(1);
                if self.depth == 0 {
                    if !self.seen_body {
                        return Err(Malformed("the SOAP envelope has no Body".into()));
                    }
                    self.done = true;
                }
                Ok(())
            }
            rxml::Event::Text(_, text) => {
                if self.depth <= 1 && !text.trim().is_empty() {
                    return Err(Malformed("text outside the SOAP Header and Body".into()));
                }
                Ok(())
            }
        }
    }

    /// The root element (`local` in namespace `ns`) must be the envelope of the expected
    /// SOAP version.
    fn check_root(&self, ns: &str, local: &str) -> Result<(), Malformed> {
        let expected = self.expected;
        if local != "Envelope" {
            return Err(Malformed(format!(
                "the message is not a SOAP envelope (its root element is <{local}>)"
            )));
        }
        if ns != expected.namespace() {
            return Err(match SoapVersion::from_namespace(ns) {
                Some(v) => Malformed(format!(
                    "SOAP version mismatch: the Content-Type says {} but the envelope is {}",
                    expected.label(),
                    v.label()
                )),
                None => Malformed(format!(
                    "the envelope namespace `{ns}` is not the {} namespace",
                    expected.label()
                )),
            });
        }
        Ok(())
    }

    /// A child of the envelope (`local`, `in_env` when in the envelope's namespace): an
    /// optional Header, then one Body (SOAP 1.1 allows more elements after the Body).
    fn check_part(&mut self, in_env: bool, local: &str) -> Result<(), Malformed> {
        match (in_env, local) {
            (true, "Header") if !self.seen_header && !self.seen_body => {
                self.seen_header = true;
                Ok(())
            }
            (true, "Body") if !self.seen_body => {
                self.seen_body = true;
                Ok(())
            }
            (true, part @ ("Body" | "Header")) => Err(Malformed(format!(
                "the SOAP envelope has a second {part} (or a Header after the Body)"
            ))),
            _ if self.seen_body && self.expected == SoapVersion::V11 => Ok(()),
            (_, other) => Err(Malformed(format!(
                "unexpected element <{other}> in the SOAP envelope (expected an optional Header, then Body)"
            ))),
        }
    }
}

#[cfg(test)]
mod tests;
