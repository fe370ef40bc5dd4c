//! XML payloads as a DOM that XPath can walk: parsing (quick-xml events into an
//! `sxd_document` tree) and serialising back to bytes.
//!
//! Every XML payload is seen through a SOAP envelope, as in Synapse: a SOAP 1.1 or 1.2
//! message is its own envelope; any other XML (POX) or text payload is placed inside a
//! virtual SOAP 1.1 `Envelope/Body`, so `$body/*`, `//order` and
//! `/soapenv:Envelope/soapenv:Body/order` mean the same thing for every message. Only the
//! payload itself is written back for a POX message.
//!
//! We parse with quick-xml rather than `sxd_document::parser`: it is several times faster,
//! merges adjacent text (entity references split sxd's text nodes, which breaks `text()`),
//! and lets us bound the nesting depth and refuse DTDs before anything is built.

pub use crate::base::budget::XmlLimits;
pub(crate) use crate::base::budget::{AttributeError, Budget, LimitError, unique_attributes};
use crate::base::xml::{escape_attr_into, escape_text_into};
use sxd_document::dom::{ChildOfElement, ChildOfRoot, Document, Element};
use sxd_document::{Package, QName};

pub(crate) use super::soap::{SOAP11_NS, SOAP12_NS};
/// Namespace of the element that wraps a text payload (Axis2's `text` wrapper).
pub(crate) const TEXT_NS: &str = "http://ws.apache.org/commons/ns/payload";
/// The namespace bound to the `xml` prefix.
const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";

/// Checks, without building anything, that `bytes` would parse within `limits` and the
/// nesting limit (a response is checked so before it is converted for the client).
///
/// # Errors
/// The first limit crossed. Malformed XML is left to the parser that builds the tree.
pub(crate) fn check_bounds(bytes: &[u8], limits: XmlLimits) -> Result<(), XmlError> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_reader(bytes);
    let mut budget = Budget::new(limits);
    let mut depth = 0usize;
    loop {
        let Ok(event) = reader.read_event() else {
            return Ok(());
        };
        let tag = match &event {
            Event::Start(tag) | Event::Empty(tag) => tag,
            Event::End(_) => {
                depth = depth.saturating_sub(1);
                continue;
            }
            Event::Eof => return Ok(()),
            other => {
                budget.node(other.len())?;
                continue;
            }
        };
        Budget::depth(depth + 1)?;
        budget.node(tag.len())?;
        let mut attributes = 0;
        for attr in tag.attributes().with_checks(false).flatten() {
            attributes += 1;
            budget.attributes(attributes)?;
            budget.node(attr.value.len())?;
        }
        if matches!(event, Event::Start(_)) {
            depth += 1;
        }
    }
}

/// What kind of envelope the document has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Envelope {
    /// The payload is a SOAP 1.1 envelope.
    Soap11,
    /// The payload is a SOAP 1.2 envelope.
    Soap12,
    /// Plain XML inside a virtual SOAP 1.1 envelope.
    Pox,
    /// Text inside a virtual envelope, wrapped in `<text xmlns="...payload">`.
    Text,
}

/// A parsed XML payload.
pub(crate) struct XmlDoc {
    package: Package,
    /// The kind of envelope.
    pub(crate) envelope: Envelope,
    /// The payload is JSON seen as XML (Synapse's mapping): edits are written back as JSON.
    pub(crate) from_json: bool,
}

/// Why a payload is not acceptable XML.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(crate) enum XmlError {
    /// The document goes beyond a limit.
    #[error(transparent)]
    Limit(#[from] LimitError),
    /// A start tag's attributes are refused.
    #[error(transparent)]
    Attribute(#[from] AttributeError),
    /// The reader failed at byte `at`.
    #[error("malformed XML at byte {at}: {reason}")]
    Syntax {
        /// The byte offset the reader reports.
        at: u64,
        /// The reader's reason.
        reason: String,
    },
    /// Not well-formed, or not acceptable in a message (Axon's words).
    #[error("{0}")]
    Malformed(String),
}

impl std::fmt::Debug for XmlDoc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XmlDoc")
            .field("envelope", &self.envelope)
            .finish_non_exhaustive()
    }
}

// === impl XmlDoc ===

impl XmlDoc {
    /// Parses an XML payload. A SOAP envelope is kept as is; anything else goes into a
    /// virtual envelope. An empty payload gives an empty virtual envelope.
    ///
    /// # Errors
    /// Malformed XML, a DTD, invalid UTF-8, or nesting deeper than [`MAX_DEPTH`].
    pub(crate) fn parse(bytes: &[u8]) -> Result<XmlDoc, XmlError> {
        Self::parse_with(bytes, XmlLimits::default())
    }

    /// As [`XmlDoc::parse`], within `limits`.
    ///
    /// # Errors
    /// As [`XmlDoc::parse`], or a document over one of `limits`.
    pub(crate) fn parse_with(bytes: &[u8], limits: XmlLimits) -> Result<XmlDoc, XmlError> {
        let text = std::str::from_utf8(bytes)
            .map_err(|_| XmlError::Malformed("the XML payload is not valid UTF-8".into()))?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let package = Package::new();
        let envelope = {
            let doc = package.as_document();
            if text.trim().is_empty() {
                virtual_envelope(doc);
                Envelope::Pox
            } else {
                let nodes = Builder::new(doc, false, limits).parse(text)?;
                let root = nodes.iter().find_map(|n| n.element());
                match root.and_then(soap_version) {
                    Some(version) => {
                        check_parts(root)?;
                        for node in nodes {
                            match node {
                                ChildOfElement::Element(it) => doc.root().append_child(it),
                                ChildOfElement::Comment(c) => doc.root().append_child(c),
                                ChildOfElement::ProcessingInstruction(p) => {
                                    doc.root().append_child(p)
                                }
                                ChildOfElement::Text(_) => {}
                            }
                        }
                        version
                    }
                    None => {
                        let body = virtual_envelope(doc);
                        body.append_children(nodes);
                        Envelope::Pox
                    }
                }
            }
        };
        Ok(XmlDoc {
            package,
            envelope,
            from_json: false,
        })
    }

    /// A text payload, wrapped as Axis2 does: `<text xmlns="...payload">text</text>`.
    pub(crate) fn text(text: &str) -> XmlDoc {
        let package = Package::new();
        {
            let doc = package.as_document();
            let body = virtual_envelope(doc);
            let wrapper = doc.create_element((TEXT_NS, "text"));
            wrapper.append_child(doc.create_text(text));
            body.append_child(wrapper);
        }
        XmlDoc {
            package,
            envelope: Envelope::Text,
            from_json: false,
        }
    }

    /// The document.
    pub(crate) fn document(&self) -> Document<'_> {
        self.package.as_document()
    }

    /// The envelope element.
    pub(crate) fn envelope_element(&self) -> Option<Element<'_>> {
        self.document()
            .root()
            .children()
            .into_iter()
            .find_map(|c| c.element())
    }

    /// The SOAP `Body` element.
    pub(crate) fn body(&self) -> Option<Element<'_>> {
        self.envelope_child("Body")
    }

    /// The SOAP `Header` element, if the envelope has one.
    pub(crate) fn header(&self) -> Option<Element<'_>> {
        self.envelope_child("Header")
    }

    /// The SOAP `Header` element, created (before the Body) when missing.
    pub(crate) fn header_or_create(&self) -> Option<Element<'_>> {
        if let Some(h) = self.header() {
            return Some(h);
        }
        let env = self.envelope_element()?;
        let ns = env.name().namespace_uri().unwrap_or(SOAP11_NS).to_owned();
        let doc = self.document();
        let header = doc.create_element((ns.as_str(), "Header"));
        header.set_preferred_prefix(env.preferred_prefix());
        let children = env.children();
        env.clear_children();
        env.append_child(header);
        env.append_children(children);
        Some(header)
    }

    /// The first element inside the Body: the payload of a POX or SOAP message.
    pub(crate) fn first_body_element(&self) -> Option<Element<'_>> {
        self.body()?
            .children()
            .into_iter()
            .find_map(|c| c.element())
    }

    fn envelope_child(&self, local: &str) -> Option<Element<'_>> {
        let env = self.envelope_element()?;
        let ns = env.name().namespace_uri();
        env.children().into_iter().find_map(|c| {
            c.element()
                .filter(|it| it.name().local_part() == local && it.name().namespace_uri() == ns)
        })
    }

    /// The bytes that go on the wire: the whole envelope for SOAP, the Body's content
    /// for POX, the wrapped text for a text payload.
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let mut out = String::new();
        match self.envelope {
            Envelope::Soap11 | Envelope::Soap12 => {
                for child in self.document().root().children() {
                    match child {
                        ChildOfRoot::Element(it) => {
                            write_element(it, &mut Scope::default(), &mut out)
                        }
                        ChildOfRoot::Comment(c) => write_comment(c.text(), &mut out),
                        ChildOfRoot::ProcessingInstruction(p) => {
                            write_pi(p.target(), p.value(), &mut out)
                        }
                    }
                }
            }
            Envelope::Text => {
                if let Some(body) = self.body() {
                    out.push_str(&string_value_of_element(body));
                }
            }
            Envelope::Pox => {
                if let Some(body) = self.body() {
                    write_children(body, &mut Scope::default(), &mut out);
                }
            }
        }
        out.into_bytes()
    }

    /// Parses `text` as XML content (elements, text) and returns the nodes, created in
    /// this document but not attached anywhere. A bare string that is not XML becomes
    /// one text node.
    ///
    /// # Errors
    /// Malformed XML.
    pub(crate) fn import_fragment<'d>(
        &'d self,
        text: &str,
    ) -> Result<Vec<ChildOfElement<'d>>, XmlError> {
        Builder::new(self.document(), true, XmlLimits::default()).parse(text)
    }
}

/// Builds `<soapenv:Envelope><soapenv:Body/></soapenv:Envelope>` (SOAP 1.1) as the
/// document root and returns the Body.
fn virtual_envelope(doc: Document<'_>) -> Element<'_> {
    let env = doc.create_element((SOAP11_NS, "Envelope"));
    env.set_preferred_prefix(Some("soapenv"));
    let body = doc.create_element((SOAP11_NS, "Body"));
    body.set_preferred_prefix(Some("soapenv"));
    env.append_child(body);
    doc.root().append_child(env);
    body
}

/// One Body, at most one Header: a second one would be ignored by every reader here.
fn check_parts(root: Option<Element<'_>>) -> Result<(), XmlError> {
    let Some(root) = root else { return Ok(()) };
    let ns = root.name().namespace_uri();
    let count = |local: &str| {
        root.children()
            .into_iter()
            .filter_map(|c| c.element())
            .filter(|el| el.name().local_part() == local && el.name().namespace_uri() == ns)
            .count()
    };
    if count("Body") > 1 || count("Header") > 1 {
        return Err(XmlError::Malformed(
            "the SOAP envelope has more than one Body or Header".into(),
        ));
    }
    Ok(())
}

fn soap_version(root: Element<'_>) -> Option<Envelope> {
    if root.name().local_part() != "Envelope" {
        return None;
    }
    match root.name().namespace_uri() {
        Some(SOAP11_NS) => Some(Envelope::Soap11),
        Some(SOAP12_NS) => Some(Envelope::Soap12),
        _ => None,
    }
}

// --- parsing ---

struct Builder<'d> {
    doc: Document<'d>,
    /// True when parsing a fragment (any number of top-level nodes, text allowed).
    fragment: bool,
    /// Open elements, each with the length of `bindings` before its own declarations.
    stack: Vec<(Element<'d>, usize)>,
    /// In-scope namespace bindings (prefix, uri); "" is the default namespace.
    bindings: Vec<(String, String)>,
    text: String,
    /// Top-level nodes, in order.
    out: Vec<ChildOfElement<'d>>,
    roots: usize,
    budget: Budget,
}

impl<'d> Builder<'d> {
    fn new(doc: Document<'d>, fragment: bool, limits: XmlLimits) -> Self {
        Builder {
            budget: Budget::new(limits),
            doc,
            fragment,
            stack: Vec::new(),
            bindings: Vec::new(),
            text: String::new(),
            out: Vec::new(),
            roots: 0,
        }
    }

    /// Parses `src` into unattached nodes. A document must have exactly one root
    /// element; a fragment may hold any number of elements and text.
    fn parse(mut self, src: &str) -> Result<Vec<ChildOfElement<'d>>, XmlError> {
        use quick_xml::events::Event;
        let mut reader = quick_xml::Reader::from_str(src);
        let cfg = reader.config_mut();
        cfg.trim_text(false);
        cfg.check_end_names = true;
        cfg.expand_empty_elements = false;
        loop {
            let event = reader.read_event().map_err(|error| XmlError::Syntax {
                at: reader.error_position(),
                reason: error.to_string(),
            })?;
            if matches!(event, Event::Eof) {
                break;
            }
            self.take(event)?;
        }
        if let Some((el, _)) = self.stack.last() {
            return Err(XmlError::Malformed(format!(
                "malformed XML: element `{}` is never closed",
                el.name().local_part()
            )));
        }
        self.flush_text()?;
        if !self.fragment && self.roots == 0 {
            return Err(XmlError::Malformed(
                "malformed XML: the document has no root element".into(),
            ));
        }
        Ok(self.out)
    }

    /// Adds what one event says to the nodes being built.
    fn take(&mut self, event: quick_xml::events::Event<'_>) -> Result<(), XmlError> {
        use quick_xml::events::Event;
        match event {
            Event::Start(tag) => {
                let opened = self.open_child(&tag)?;
                self.stack.push(opened);
            }
            Event::Empty(tag) => {
                let (el, mark) = self.open_child(&tag)?;
                self.bindings.truncate(mark);
                self.attach(ChildOfElement::Element(el));
            }
            Event::End(_) => {
                self.flush_text()?;
                if let Some((el, mark)) = self.stack.pop() {
                    self.bindings.truncate(mark);
                    self.attach(ChildOfElement::Element(el));
                }
            }
            Event::Text(t) => self.push_text(&t.xml10_content())?,
            Event::CData(c) => self.push_text(&c.xml10_content())?,
            Event::GeneralRef(reference) => self.push_text(&resolve_reference(&reference)?)?,
            Event::Comment(c) => {
                self.flush_text()?;
                self.budget.node(c.len())?;
                let node = self.doc.create_comment(&c);
                self.attach(ChildOfElement::Comment(node));
            }
            Event::PI(pi) => {
                self.flush_text()?;
                self.budget.node(pi.len())?;
                let content = pi.content().trim();
                let value = (!content.is_empty()).then_some(content);
                let node = self.doc.create_processing_instruction(pi.target(), value);
                self.attach(ChildOfElement::ProcessingInstruction(node));
            }
            Event::DocType(_) => {
                return Err(XmlError::Malformed(
                    "a DTD (`<!DOCTYPE`) is not accepted in a message".into(),
                ));
            }
            Event::Decl(_) | Event::Eof => {}
        }
        Ok(())
    }

    /// Opens the element of a start tag in place: the text before it ends, and it counts
    /// as a root or a level of depth.
    fn open_child(
        &mut self,
        tag: &quick_xml::events::BytesStart<'_>,
    ) -> Result<(Element<'d>, usize), XmlError> {
        self.flush_text()?;
        self.count_root()?;
        Budget::depth(self.stack.len() + 1)?;
        self.open(tag)
    }

    fn count_root(&mut self) -> Result<(), XmlError> {
        if self.stack.is_empty() {
            self.roots += 1;
            if !self.fragment && self.roots > 1 {
                return Err(XmlError::Malformed(
                    "malformed XML: more than one root element".into(),
                ));
            }
        }
        Ok(())
    }

    fn push_text(&mut self, content: &str) -> Result<(), XmlError> {
        if self.stack.is_empty() && !self.fragment {
            if content.trim().is_empty() {
                return Ok(());
            }
            return Err(XmlError::Malformed(
                "malformed XML: text outside the root element".into(),
            ));
        }
        self.text.push_str(content);
        Ok(())
    }

    fn flush_text(&mut self) -> Result<(), XmlError> {
        if self.text.is_empty() {
            return Ok(());
        }
        self.budget.node(self.text.len())?;
        let node = self.doc.create_text(&self.text);
        self.text.clear();
        self.attach(ChildOfElement::Text(node));
        Ok(())
    }

    fn attach(&mut self, node: ChildOfElement<'d>) {
        match self.stack.last() {
            Some((parent, _)) => parent.append_child(node),
            None => self.out.push(node),
        }
    }

    fn lookup(&self, prefix: &str) -> Option<&str> {
        if prefix == "xml" {
            return Some(XML_NS);
        }
        self.bindings
            .iter()
            .rev()
            .find(|(p, _)| p == prefix)
            .map(|(_, u)| u.as_str())
            .filter(|u| !u.is_empty())
    }

    /// Creates the element of a start tag; returns it with the length of `bindings`
    /// before its declarations (to restore when it closes).
    fn open(
        &mut self,
        tag: &quick_xml::events::BytesStart<'_>,
    ) -> Result<(Element<'d>, usize), XmlError> {
        let mark = self.bindings.len();
        let name: String = tag.name().as_ref().to_owned();
        self.budget.node(name.len())?;
        let attrs = self.read_attributes(tag)?;
        let (prefix, local) = split_qname(&name);
        let ns = match prefix {
            Some(p) => Some(self.declared(p)?),
            None => self.lookup(""),
        };
        let el = self
            .doc
            .create_element(QName::with_namespace_uri(ns, local));
        el.set_preferred_prefix(prefix);
        // Keep declarations on the element they were written on, so serialising keeps
        // them (QNames in content, such as xsi:type values, need them).
        for (p, u) in &self.bindings[mark..] {
            if p.is_empty() {
                el.set_default_namespace_uri(Some(u.as_str()).filter(|u| !u.is_empty()));
            } else {
                el.register_prefix(p, u);
            }
        }
        for (key, value) in &attrs {
            let (ap, alocal) = split_qname(key);
            let ans = ap.map(|p| self.declared(p)).transpose()?;
            let a = el.set_attribute_value(QName::with_namespace_uri(ans, alocal), value);
            a.set_preferred_prefix(ap);
        }
        Ok((el, mark))
    }

    /// The attributes of a start tag, counted against the budget; its namespace
    /// declarations go to `bindings` instead.
    fn read_attributes(
        &mut self,
        tag: &quick_xml::events::BytesStart<'_>,
    ) -> Result<Vec<(String, String)>, XmlError> {
        let mut attrs: Vec<(String, String)> = Vec::new();
        for attr in unique_attributes(tag, &self.budget)? {
            self.budget
                .node(attr.key.as_ref().len() + attr.value.len())?;
            let key: String = attr.key.as_ref().to_owned();
            let value = attr
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map_err(|error| {
                    XmlError::Malformed(format!("malformed XML: attribute `{key}`: {error}"))
                })?
                .into_owned();
            if key == "xmlns" {
                self.bindings.push((String::new(), value));
            } else if let Some(prefix) = key.strip_prefix("xmlns:") {
                if value.is_empty() {
                    return Err(XmlError::Malformed(format!(
                        "malformed XML: prefix `{prefix}` is bound to an empty namespace"
                    )));
                }
                self.bindings.push((prefix.to_owned(), value));
            } else {
                attrs.push((key, value));
            }
        }
        Ok(attrs)
    }

    /// The namespace `prefix` is bound to; a prefix must be declared.
    fn declared(&self, prefix: &str) -> Result<&str, XmlError> {
        self.lookup(prefix).ok_or_else(|| {
            XmlError::Malformed(format!(
                "malformed XML: namespace prefix `{prefix}` is not declared"
            ))
        })
    }
}

fn split_qname(name: &str) -> (Option<&str>, &str) {
    match name.split_once(':') {
        Some((p, l)) => (Some(p), l),
        None => (None, name),
    }
}

/// The text a character or entity reference stands for.
fn resolve_reference(reference: &quick_xml::events::BytesRef<'_>) -> Result<String, XmlError> {
    Ok(match reference.resolve_char_ref() {
        Ok(Some(ch)) => ch.to_string(),
        Ok(None) => match &**reference {
            "amp" => "&".into(),
            "lt" => "<".into(),
            "gt" => ">".into(),
            "quot" => "\"".into(),
            "apos" => "'".into(),
            other => {
                return Err(XmlError::Malformed(format!(
                    "malformed XML: unknown entity `&{other};`"
                )));
            }
        },
        Err(error) => {
            return Err(XmlError::Malformed(format!("malformed XML: {error}")));
        }
    })
}

// --- serialising ---

/// Namespace bindings already written in the output, innermost last.
#[derive(Default)]
struct Scope {
    bindings: Vec<(String, String)>,
}

impl Scope {
    fn lookup(&self, prefix: &str) -> Option<&str> {
        self.bindings
            .iter()
            .rev()
            .find(|(p, _)| p == prefix)
            .map(|(_, u)| u.as_str())
    }

    fn declare(&mut self, prefix: &str, uri: &str, out: &mut String) {
        crate::base::xml::write_xmlns(prefix, uri, out);
        self.bindings.push((prefix.to_owned(), uri.to_owned()));
    }

    /// A prefix bound to `uri` (not the default namespace), if any.
    fn prefix_for(&self, uri: &str) -> Option<String> {
        self.bindings
            .iter()
            .rev()
            .find(|(p, u)| !p.is_empty() && u == uri)
            .map(|(p, _)| p.clone())
            .filter(|p| self.lookup(p) == Some(uri))
    }
}

/// Serialises one element (and its subtree) so that it stands alone: namespaces it
/// inherits are declared on it.
pub(crate) fn element_to_string(el: Element<'_>) -> String {
    let mut out = String::new();
    write_element(el, &mut Scope::default(), &mut out);
    out
}

/// Serialises any child node so that it stands alone.
pub(crate) fn node_to_string(node: ChildOfElement<'_>) -> String {
    let mut out = String::new();
    write_child(node, &mut Scope::default(), &mut out);
    out
}

fn write_children(el: Element<'_>, scope: &mut Scope, out: &mut String) {
    for child in el.children() {
        write_child(child, scope, out);
    }
}

/// What is left to write of a subtree: a node, or the end tag of an element whose
/// children are written (with the scope length to restore).
enum Step<'d> {
    Node(ChildOfElement<'d>),
    Close(Element<'d>, Option<&'d str>, usize),
}

/// Writes a node and its subtree with an explicit stack: mediators can nest imported
/// fragments, so the depth of a document they edited is not bounded by the parser's.
fn write_child(child: ChildOfElement<'_>, scope: &mut Scope, out: &mut String) {
    let mut stack = vec![Step::Node(child)];
    while let Some(step) = stack.pop() {
        match step {
            Step::Node(ChildOfElement::Element(el)) => {
                let mark = scope.bindings.len();
                let prefix = write_start(el, scope, out);
                let children = el.children();
                if children.is_empty() {
                    out.push_str("/>");
                    scope.bindings.truncate(mark);
                } else {
                    out.push('>');
                    stack.push(Step::Close(el, prefix, mark));
                    stack.extend(children.into_iter().rev().map(Step::Node));
                }
            }
            Step::Node(ChildOfElement::Text(t)) => escape_text_into(t.text(), out),
            Step::Node(ChildOfElement::Comment(c)) => write_comment(c.text(), out),
            Step::Node(ChildOfElement::ProcessingInstruction(p)) => {
                write_pi(p.target(), p.value(), out)
            }
            Step::Close(el, prefix, mark) => {
                out.push_str("</");
                if let Some(p) = prefix {
                    out.push_str(p);
                    out.push(':');
                }
                out.push_str(el.name().local_part());
                out.push('>');
                scope.bindings.truncate(mark);
            }
        }
    }
}

fn write_element(el: Element<'_>, scope: &mut Scope, out: &mut String) {
    write_child(ChildOfElement::Element(el), scope, out);
}

/// Writes the start tag of `el` up to its attributes (not the closing `>`), declaring
/// what the output needs; returns the prefix written.
fn write_start<'d>(el: Element<'d>, scope: &mut Scope, out: &mut String) -> Option<&'d str> {
    let name = el.name();
    let prefix = el
        .preferred_prefix()
        .filter(|_| name.namespace_uri().is_some());
    out.push('<');
    if let Some(p) = prefix {
        out.push_str(p);
        out.push(':');
    }
    out.push_str(name.local_part());
    // The element's own name first, then every other binding in scope in the tree that
    // the output does not have yet (its own declarations, or inherited ones when it is
    // written alone), sorted so the output is stable.
    declare_name(name.namespace_uri(), prefix, scope, out);
    declare_bindings(el, scope, out);
    write_attributes(el, scope, out);
    prefix
}

/// Declares the namespace of an element's own name (`uri`, written with `prefix`) when
/// the output does not have it yet.
fn declare_name(uri: Option<&str>, prefix: Option<&str>, scope: &mut Scope, out: &mut String) {
    match (uri, prefix) {
        (Some(uri), Some(p)) => {
            if p != "xml" && scope.lookup(p) != Some(uri) {
                scope.declare(p, uri, out);
            }
        }
        (Some(uri), None) => {
            if scope.lookup("") != Some(uri) {
                scope.declare("", uri, out);
            }
        }
        (None, _) => {
            if scope.lookup("").is_some_and(|d| !d.is_empty()) {
                scope.declare("", "", out);
            }
        }
    }
}

/// Declares the other bindings in scope of `el` that the output does not have yet.
fn declare_bindings(el: Element<'_>, scope: &mut Scope, out: &mut String) {
    let mut pending: Vec<(&str, &str)> = Vec::new();
    // A binding inherited from an ancestor that was not written (the element is written
    // alone) is carried only when the subtree uses it, QNames in content included.
    let parent = el.parent().and_then(|p| p.element());
    let mut used: Option<Vec<String>> = None;
    for ns in el.namespaces_in_scope() {
        let p = ns.prefix();
        if p == "xml" || pending.iter().any(|(q, _)| *q == p) {
            continue;
        }
        let inherited = parent.is_some_and(|par| par.namespace_uri_for_prefix(p) == Some(ns.uri()));
        if inherited && scope.lookup(p) != Some(ns.uri()) {
            let used = used.get_or_insert_with(|| used_prefixes(el));
            if !used.iter().any(|u| u == p) {
                continue;
            }
        }
        pending.push((p, ns.uri()));
    }
    pending.sort_unstable();
    for (p, uri) in pending {
        if scope.lookup(p) != Some(uri) {
            scope.declare(p, uri, out);
        }
    }
}

/// Writes the attributes of `el`, declaring (or generating) the prefixes they need.
fn write_attributes(el: Element<'_>, scope: &mut Scope, out: &mut String) {
    let mut generated = 0usize;
    for attr in el.attributes() {
        let aname = attr.name();
        out.push(' ');
        if let Some(uri) = aname.namespace_uri() {
            let p = match attr.preferred_prefix() {
                Some("xml") => "xml".to_owned(),
                Some(p) => {
                    if scope.lookup(p) != Some(uri) {
                        // The declaration must come before the attribute is written.
                        out.pop();
                        scope.declare(p, uri, out);
                        out.push(' ');
                    }
                    p.to_owned()
                }
                None => match scope.prefix_for(uri) {
                    Some(p) => p,
                    None => {
                        let p = loop {
                            let candidate = format!("ns{generated}");
                            generated += 1;
                            if scope.lookup(&candidate).is_none() {
                                break candidate;
                            }
                        };
                        out.pop();
                        scope.declare(&p, uri, out);
                        out.push(' ');
                        p
                    }
                },
            };
            out.push_str(&p);
            out.push(':');
        }
        out.push_str(aname.local_part());
        out.push_str("=\"");
        escape_attr_into(attr.value(), out);
        out.push('"');
    }
}

/// Prefixes a subtree uses: in element and attribute names, and as `prefix:` at the start
/// of attribute values and text (QNames in content, such as `xsi:type="xs:int"`).
fn used_prefixes(el: Element<'_>) -> Vec<String> {
    fn content_prefix(text: &str, out: &mut Vec<String>) {
        let t = text.trim();
        if let Some((p, rest)) = t.split_once(':')
            && !p.is_empty()
            && !rest.starts_with("//")
            && p.chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
            && !out.iter().any(|u| u == p)
        {
            out.push(p.to_owned());
        }
    }
    let mut out: Vec<String> = Vec::new();
    let mut stack = vec![el];
    while let Some(el) = stack.pop() {
        if let Some(p) = el.preferred_prefix()
            && !out.iter().any(|u| u == p)
        {
            out.push(p.to_owned());
        }
        for a in el.attributes() {
            if let Some(p) = a.preferred_prefix()
                && !out.iter().any(|u| u == p)
            {
                out.push(p.to_owned());
            }
            content_prefix(a.value(), &mut out);
        }
        for child in el.children() {
            match child {
                ChildOfElement::Element(it) => stack.push(it),
                ChildOfElement::Text(t) => content_prefix(t.text(), &mut out),
                _ => {}
            }
        }
    }
    out
}

fn write_comment(text: &str, out: &mut String) {
    out.push_str("<!--");
    out.push_str(text);
    out.push_str("-->");
}

fn write_pi(target: &str, value: Option<&str>, out: &mut String) {
    out.push_str("<?");
    out.push_str(target);
    if let Some(v) = value {
        out.push(' ');
        out.push_str(v);
    }
    out.push_str("?>");
}

/// XPath's string-value of an element: all descendant text, in document order.
pub(crate) fn string_value_of_element(el: Element<'_>) -> String {
    let mut out = String::new();
    let mut stack: Vec<ChildOfElement<'_>> = el.children().into_iter().rev().collect();
    while let Some(child) = stack.pop() {
        match child {
            ChildOfElement::Text(t) => out.push_str(t.text()),
            ChildOfElement::Element(it) => stack.extend(it.children().into_iter().rev()),
            _ => {}
        }
    }
    out
}

/// The element's own text: its direct text children, concatenated (Axiom's `getText`).
pub(crate) fn own_text(el: Element<'_>) -> String {
    let mut out = String::new();
    for child in el.children() {
        if let ChildOfElement::Text(t) = child {
            out.push_str(t.text());
        }
    }
    out
}

#[cfg(test)]
mod tests;
