//! A small XML tree that remembers where every element and attribute was written.
//!
//! Configuration files are parsed into this tree first (quick-xml events), so that every
//! later check can name `file:line:column`. Namespaces are resolved while parsing; the
//! Synapse namespace may be present or omitted.

use std::collections::HashMap;
use std::sync::Arc;

use quick_xml::Reader;
use quick_xml::events::{BytesRef, BytesStart, Event};

use super::budget::{AttributeError, Budget, LimitError, XmlLimits, unique_attributes};
use super::diag::{Diagnostic, Loc, Severity};

/// The Synapse configuration namespace.
pub(crate) const SYNAPSE_NS: &str = "http://ws.apache.org/ns/synapse";

/// An element with its attributes, children and position.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Element {
    /// The name as written, with its prefix (`soapenv:Body`).
    pub(crate) name: String,
    /// The namespace URI the prefix resolves to, if any.
    pub(crate) ns: Option<String>,
    /// Attributes in document order, `xmlns` declarations included.
    pub(crate) attrs: Vec<Attr>,
    /// Child nodes in document order.
    pub(crate) children: Vec<Node>,
    /// Where the start tag begins.
    pub(crate) loc: Loc,
    /// Prefixed namespace bindings in scope here (declared on this element or an
    /// ancestor), for expressions written on it; shared with ancestors when unchanged.
    pub(crate) namespaces: Arc<[(String, String)]>,
}

/// An attribute with its unescaped value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Attr {
    /// The name as written.
    pub(crate) name: String,
    /// The value, entities resolved.
    pub(crate) value: String,
    /// Where the attribute name begins.
    pub(crate) loc: Loc,
}

/// A child of an element.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    /// A nested element.
    Element(Element),
    /// Character data (text or CDATA), entities resolved.
    Text(String),
}

// === impl Element ===

impl Element {
    /// The name without its prefix.
    pub(crate) fn local_name(&self) -> &str {
        self.name.rsplit(':').next().unwrap_or(&self.name)
    }

    /// True when the element is in the Synapse namespace or in no namespace.
    pub(crate) fn is_synapse(&self) -> bool {
        match &self.ns {
            None => true,
            Some(ns) => ns == SYNAPSE_NS,
        }
    }

    /// The attribute called `name`, if present.
    pub(crate) fn attr(&self, name: &str) -> Option<&Attr> {
        self.attrs.iter().find(|a| a.name == name)
    }

    /// The value of attribute `name`, if present.
    pub(crate) fn attr_value(&self, name: &str) -> Option<&str> {
        self.attr(name).map(|a| a.value.as_str())
    }

    /// This element and every element under it (depth first, with an explicit stack: no
    /// recursion, whatever the depth).
    pub(crate) fn descendants(&self) -> impl Iterator<Item = &Element> {
        let mut stack = vec![self];
        std::iter::from_fn(move || {
            let el = stack.pop()?;
            stack.extend(el.elements());
            Some(el)
        })
    }

    /// Child elements, in order.
    pub(crate) fn elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|n| match n {
            Node::Element(child) => Some(child),
            Node::Text(_) => None,
        })
    }

    /// The first child element with this local name.
    #[cfg(test)]
    pub(crate) fn child(&self, local: &str) -> Option<&Element> {
        self.elements().find(|it| it.local_name() == local)
    }

    /// Concatenated text of the direct text children, trimmed.
    pub(crate) fn text(&self) -> String {
        let mut out = String::new();
        for n in &self.children {
            if let Node::Text(t) = n {
                out.push_str(t);
            }
        }
        out.trim().to_owned()
    }

    /// True when some direct text child holds more than whitespace.
    pub(crate) fn has_text(&self) -> bool {
        self.children
            .iter()
            .any(|n| matches!(n, Node::Text(t) if !t.trim().is_empty()))
    }

    /// Serialises this element (and its subtree) back to XML text.
    ///
    /// Namespace declarations inherited from ancestors are added on this element when a
    /// prefix used in the subtree is not declared inside it, so the result stands alone.
    pub(crate) fn to_xml(&self) -> String {
        let mut out = String::new();
        let mut needed: Vec<(String, String)> = Vec::new();
        self.collect_undeclared(&mut Vec::new(), &mut needed);
        self.write_xml(&mut out, &needed);
        out
    }

    /// Serialises message content written inside a configuration (a payload template,
    /// an inline value) back to XML text. Namespace declarations inherited from ancestors
    /// are added on this element when the subtree uses their prefix, so the result stands
    /// alone; unprefixed elements that are in the Synapse namespace only because the
    /// configuration declares it as default have no namespace, as in Synapse.
    pub(crate) fn to_content_xml(&self) -> String {
        let mut out = String::new();
        let mut needed: Vec<(String, String)> = Vec::new();
        self.collect_undeclared(&mut Vec::new(), &mut needed);
        needed.retain(|(p, u)| !(p.is_empty() && u == SYNAPSE_NS));
        self.without_synapse_default().write_xml(&mut out, &needed);
        out
    }

    fn without_synapse_default(&self) -> Element {
        let mut el = self.clone();
        el.strip_synapse_default();
        el
    }

    fn strip_synapse_default(&mut self) {
        self.attrs
            .retain(|a| !(a.name == "xmlns" && a.value == SYNAPSE_NS));
        if !self.name.contains(':') && self.ns.as_deref() == Some(SYNAPSE_NS) {
            self.ns = None;
        }
        for child in &mut self.children {
            if let Node::Element(it) = child {
                it.strip_synapse_default();
            }
        }
    }

    fn collect_undeclared(&self, scope: &mut Vec<String>, needed: &mut Vec<(String, String)>) {
        let declared_here: Vec<String> = self
            .attrs
            .iter()
            .filter_map(|a| xmlns_prefix(&a.name).map(str::to_owned))
            .collect();
        let depth = scope.len();
        scope.extend(declared_here);
        let prefix = self.name.split_once(':').map(|(p, _)| p).unwrap_or("");
        let in_scope = scope.iter().any(|p| p == prefix);
        if let Some(ns) = &self.ns
            && !in_scope
            && !needed.iter().any(|(p, _)| p == prefix)
        {
            needed.push((prefix.to_owned(), ns.clone()));
        }
        for child in self.elements() {
            child.collect_undeclared(scope, needed);
        }
        scope.truncate(depth);
    }

    fn write_xml(&self, out: &mut String, extra_ns: &[(String, String)]) {
        out.push('<');
        out.push_str(&self.name);
        for (prefix, uri) in extra_ns {
            write_xmlns(prefix, uri, out);
        }
        for a in &self.attrs {
            out.push(' ');
            out.push_str(&a.name);
            out.push_str("=\"");
            escape_attr_into(&a.value, out);
            out.push('"');
        }
        if self.children.is_empty() {
            out.push_str("/>");
            return;
        }
        out.push('>');
        for n in &self.children {
            match n {
                Node::Element(child) => child.write_xml(out, &[]),
                Node::Text(t) => escape_text_into(t, out),
            }
        }
        out.push_str("</");
        out.push_str(&self.name);
        out.push('>');
    }
}

/// `Some(prefix)` for `xmlns:prefix`, `Some("")` for `xmlns`, `None` otherwise.
pub(crate) fn xmlns_prefix(attr_name: &str) -> Option<&str> {
    if attr_name == "xmlns" {
        Some("")
    } else {
        attr_name.strip_prefix("xmlns:")
    }
}

/// Writes a namespace declaration (` xmlns="uri"` or ` xmlns:prefix="uri"`).
pub(crate) fn write_xmlns(prefix: &str, uri: &str, out: &mut String) {
    if prefix.is_empty() {
        out.push_str(" xmlns=\"");
    } else {
        out.push_str(" xmlns:");
        out.push_str(prefix);
        out.push_str("=\"");
    }
    escape_attr_into(uri, out);
    out.push('"');
}

/// Escapes text for an XML element body.
pub(crate) fn escape_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    escape_text_into(s, &mut out);
    out
}

/// Escapes text for a double-quoted XML attribute.
pub(crate) fn escape_attr(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    escape_attr_into(s, &mut out);
    out
}

/// Escapes text content into `out` (one pass; `\r` as a character reference, so it
/// survives end-of-line normalisation).
pub(crate) fn escape_text_into(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
}

/// Escapes a double-quoted attribute value into `out` (whitespace characters as
/// references, so attribute-value normalisation keeps them).
pub(crate) fn escape_attr_into(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c => out.push(c),
        }
    }
}

/// Maps byte offsets of one source text to 1-based lines and columns.
#[derive(Debug)]
pub(crate) struct LineIndex<'a> {
    src: &'a str,
    starts: Vec<usize>,
    file: Arc<str>,
    /// The last position asked for (offset, line index, column in chars): positions are
    /// asked for in increasing order, so columns are counted from there, which keeps a
    /// long line (a whole message on one line) linear instead of quadratic.
    cursor: std::cell::Cell<(usize, usize, usize)>,
}

impl<'a> LineIndex<'a> {
    pub(crate) fn new(file: Arc<str>, src: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(src.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex {
            src,
            starts,
            file,
            cursor: std::cell::Cell::new((0, 0, 0)),
        }
    }

    pub(crate) fn loc(&self, offset: usize) -> Loc {
        let offset = offset.min(self.src.len());
        let line = match self.starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        let start = self.starts[line];
        let (last_offset, last_line, last_col) = self.cursor.get();
        let (from, base) = if last_line == line && last_offset >= start && last_offset <= offset {
            (last_offset, last_col)
        } else {
            (start, 0)
        };
        let col = base
            + self
                .src
                .get(from..offset)
                .map(|s| s.chars().count())
                .unwrap_or(0);
        self.cursor.set((offset, line, col));
        Loc {
            file: self.file.clone(),
            line: line as u32 + 1,
            col: col as u32 + 1,
        }
    }
}

/// Parses one document into its root element.
///
/// # Errors
/// A malformed document gives one diagnostic at the place the parser stopped.
pub(crate) fn parse(file: Arc<str>, src: &str) -> Result<Element, Diagnostic> {
    parse_bounded(file, src, None)
}

/// Parses a message (not a configuration file) into its root element, within `limits`
/// and [`super::budget::MAX_DEPTH`]: the tree that format conversions walk.
///
/// # Errors
/// As [`parse`], or a document over one of the limits.
pub(crate) fn parse_message(
    file: Arc<str>,
    src: &str,
    limits: XmlLimits,
) -> Result<Element, Diagnostic> {
    parse_bounded(file, src, Some(Budget::new(limits)))
}

fn parse_bounded(file: Arc<str>, src: &str, budget: Option<Budget>) -> Result<Element, Diagnostic> {
    // quick-xml skips a leading byte-order mark and counts its positions after it: unless
    // every leading mark goes here too, offsets point three bytes early (inside a
    // character, which panicked when sliced).
    let src = src.trim_start_matches('\u{feff}');
    let index = LineIndex::new(file.clone(), src);
    let mut reader = Reader::from_str(src);
    let cfg = reader.config_mut();
    cfg.trim_text(false);
    cfg.check_end_names = true;
    cfg.expand_empty_elements = false;

    let mut tree = Tree::new(budget);
    let fail = |offset: u64, message: String| Diagnostic {
        loc: index.loc(offset as usize),
        severity: Severity::Error,
        message,
    };
    loop {
        let start = reader.buffer_position();
        let event = match reader.read_event() {
            Ok(Event::Eof) => break,
            Ok(event) => event,
            Err(error) => {
                return Err(fail(
                    reader.error_position(),
                    format!("malformed XML: {error}"),
                ));
            }
        };
        tree.take(event, start as usize, (src, &index))
            .map_err(|error| fail(start, error.to_string()))?;
    }
    tree.finish(&index)
}

/// A document being built: its open elements (each with the namespaces it declares), its
/// finished root, and a message's budget (none for a configuration).
struct Tree {
    stack: Vec<(Element, HashMap<String, String>)>,
    root: Option<Element>,
    ns_scopes: Vec<HashMap<String, String>>,
    no_namespaces: Arc<[(String, String)]>,
    budget: Option<Budget>,
}

impl Tree {
    fn new(budget: Option<Budget>) -> Self {
        Self {
            stack: Vec::new(),
            root: None,
            ns_scopes: Vec::new(),
            no_namespaces: Arc::from(Vec::new()),
            budget,
        }
    }

    /// Adds what one event (read at `start`) says to the tree.
    fn take(
        &mut self,
        event: Event<'_>,
        start: usize,
        src: (&str, &LineIndex<'_>),
    ) -> Result<(), SyntaxError> {
        match event {
            Event::Start(_) | Event::Empty(_) if self.root.is_some() && self.stack.is_empty() => {
                Err(SyntaxError::SecondRoot)
            }
            Event::Start(ref tag) => self.open(tag, start, src, true),
            Event::Empty(ref tag) => self.open(tag, start, src, false),
            Event::End(_) => {
                self.ns_scopes.pop();
                if let Some((el, _)) = self.stack.pop() {
                    attach(&mut self.stack, &mut self.root, el);
                }
                Ok(())
            }
            Event::Text(text) => {
                let content = text.xml10_content();
                let inside = self.root.is_some() || !self.stack.is_empty();
                push_text(&mut self.stack, &content, inside, self.budget.as_mut())
            }
            Event::CData(cdata) => {
                let content = cdata.xml10_content();
                push_text(&mut self.stack, &content, true, self.budget.as_mut())
            }
            Event::GeneralRef(reference) => {
                let resolved = resolve_reference(&reference)?;
                push_text(&mut self.stack, &resolved, true, self.budget.as_mut())
            }
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) | Event::Eof => {
                Ok(())
            }
        }
    }

    /// Opens the element `tag`; one that is `open` stays on the stack for its children.
    fn open(
        &mut self,
        tag: &BytesStart<'_>,
        start: usize,
        src: (&str, &LineIndex<'_>),
        open: bool,
    ) -> Result<(), SyntaxError> {
        let depth = self.stack.len() + 1;
        match self.budget {
            Some(_) => Budget::depth(depth).map_err(SyntaxError::from),
            None => config_depth(depth),
        }?;
        let inherited = self
            .stack
            .last()
            .map_or(&self.no_namespaces, |(p, _)| &p.namespaces);
        let (el, decls) = open_element(
            tag,
            start,
            src,
            &self.ns_scopes,
            inherited,
            self.budget.as_mut(),
        )?;
        if open {
            self.ns_scopes.push(decls.clone());
            self.stack.push((el, decls));
        } else {
            attach(&mut self.stack, &mut self.root, el);
        }
        Ok(())
    }

    /// The root element, once every element is closed.
    fn finish(self, index: &LineIndex<'_>) -> Result<Element, Diagnostic> {
        if let Some((el, _)) = self.stack.last() {
            return Err(Diagnostic {
                loc: el.loc.clone(),
                severity: Severity::Error,
                message: format!("malformed XML: element `{}` is never closed", el.name),
            });
        }
        self.root.ok_or_else(|| Diagnostic {
            loc: index.loc(0),
            severity: Severity::Error,
            message: "malformed XML: the document has no root element".into(),
        })
    }
}

/// The text a character or entity reference stands for.
fn resolve_reference(reference: &BytesRef<'_>) -> Result<String, SyntaxError> {
    match reference.resolve_char_ref() {
        Ok(Some(ch)) => Ok(ch.to_string()),
        Ok(None) => match predefined_entity(reference) {
            Some(s) => Ok(s.to_owned()),
            None => Err(SyntaxError::UnknownEntity((**reference).to_owned())),
        },
        Err(error) => Err(SyntaxError::Reference(error.to_string())),
    }
}

fn predefined_entity(name: &str) -> Option<&'static str> {
    Some(match name {
        "amp" => "&",
        "lt" => "<",
        "gt" => ">",
        "quot" => "\"",
        "apos" => "'",
        _ => return None,
    })
}

fn attach(
    stack: &mut [(Element, HashMap<String, String>)],
    root: &mut Option<Element>,
    el: Element,
) {
    match stack.last_mut() {
        Some((parent, _)) => parent.children.push(Node::Element(el)),
        None => *root = Some(el),
    }
}

fn push_text(
    stack: &mut [(Element, HashMap<String, String>)],
    content: &str,
    inside: bool,
    budget: Option<&mut Budget>,
) -> Result<(), SyntaxError> {
    match stack.last_mut() {
        Some((parent, _)) => {
            if let Some(Node::Text(prev)) = parent.children.last_mut() {
                if let Some(b) = budget {
                    b.grow(content.len())?;
                }
                prev.push_str(content);
            } else {
                if let Some(b) = budget {
                    b.node(content.len())?;
                }
                parent.children.push(Node::Text(content.to_owned()));
            }
            Ok(())
        }
        None if content.trim().is_empty() => Ok(()),
        None if inside => Err(SyntaxError::TextAfterRoot),
        None => Err(SyntaxError::TextBeforeRoot),
    }
}

fn open_element(
    tag: &BytesStart<'_>,
    offset: usize,
    (src, index): (&str, &LineIndex<'_>),
    scopes: &[HashMap<String, String>],
    inherited: &Arc<[(String, String)]>,
    budget: Option<&mut Budget>,
) -> Result<(Element, HashMap<String, String>), SyntaxError> {
    let name: String = tag.name().as_ref().to_owned();
    let parsed = checked_attributes(tag, &name, budget)?;
    let (attrs, decls) = read_attributes(parsed, offset + 1 + name.len(), offset, (src, index))?;
    let prefix = name.split_once(':').map(|(p, _)| p).unwrap_or("");
    let ns = decls
        .get(prefix)
        .cloned()
        .or_else(|| scopes.iter().rev().find_map(|s| s.get(prefix).cloned()))
        .filter(|uri| !uri.is_empty());
    if !prefix.is_empty() && ns.is_none() {
        return Err(SyntaxError::UndeclaredPrefix(prefix.to_owned()));
    }
    let namespaces = namespaces_in_scope(inherited, &decls);
    Ok((
        Element {
            name,
            ns,
            attrs,
            children: Vec::new(),
            loc: index.loc(offset),
            namespaces,
        },
        decls,
    ))
}

/// A start tag's attributes, each checked as it is read.
type Attrs<'t> = Box<
    dyn Iterator<Item = Result<quick_xml::events::attributes::Attribute<'t>, SyntaxError>> + 't,
>;

/// The attributes of `tag` (named `name`). A configuration keeps quick-xml's own checks,
/// one attribute at a time as before (the same errors in the same order); a message is
/// counted against its budget and checked for duplicates in linear time.
fn checked_attributes<'t>(
    tag: &'t BytesStart<'_>,
    name: &str,
    budget: Option<&mut Budget>,
) -> Result<Attrs<'t>, SyntaxError> {
    Ok(match budget {
        Some(b) => {
            b.node(name.len())?;
            let all = unique_attributes(tag, b)?;
            for a in &all {
                b.node(a.key.as_ref().len() + a.value.len())?;
            }
            Box::new(all.into_iter().map(Ok))
        }
        None => {
            let mut all = tag.attributes();
            all.with_checks(true);
            Box::new(all.map(|a| a.map_err(|error| AttributeError::Malformed(error).into())))
        }
    })
}

/// The attributes of the start tag at `offset`, with their positions (found by searching
/// the raw tag for each name in order, from `cursor`), and the namespaces they declare.
fn read_attributes(
    parsed: Attrs<'_>,
    mut cursor: usize,
    offset: usize,
    (src, index): (&str, &LineIndex<'_>),
) -> Result<(Vec<Attr>, HashMap<String, String>), SyntaxError> {
    let mut attrs = Vec::new();
    let mut decls = HashMap::new();
    let tag_end = src
        .get(offset..)
        .and_then(|rest| rest.find('>'))
        .map_or(src.len(), |i| offset + i);
    for attr in parsed {
        let attr = attr?;
        let key: String = attr.key.as_ref().to_owned();
        let value = attr
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|error| SyntaxError::AttributeValue {
                key: key.clone(),
                reason: error.to_string(),
            })?
            .into_owned();
        let at = find_attr(src, cursor, tag_end, &key).unwrap_or(offset);
        cursor = at + key.len();
        if let Some(prefix) = xmlns_prefix(&key) {
            decls.insert(prefix.to_owned(), value.clone());
        }
        attrs.push(Attr {
            name: key,
            value,
            loc: index.loc(at),
        });
    }
    Ok((attrs, decls))
}

/// The namespaces in scope of an element that declares `decls` inside `inherited`: the
/// parent's own list (shared) when it declares no prefix.
fn namespaces_in_scope(
    inherited: &Arc<[(String, String)]>,
    decls: &HashMap<String, String>,
) -> Arc<[(String, String)]> {
    if decls.keys().all(String::is_empty) {
        return inherited.clone();
    }
    let mut all: Vec<(String, String)> = inherited
        .iter()
        .filter(|(p, _)| !decls.contains_key(p))
        .cloned()
        .collect();
    all.extend(
        decls
            .iter()
            .filter(|(p, u)| !p.is_empty() && !u.is_empty())
            .map(|(p, u)| (p.clone(), u.clone())),
    );
    all.sort();
    Arc::from(all)
}

/// A configuration file nested deeper than a message may be is refused: no Synapse
/// artifact comes near it, and the tree must stay shallow enough to walk and drop.
fn config_depth(depth: usize) -> Result<(), SyntaxError> {
    if depth > super::budget::MAX_DEPTH {
        return Err(SyntaxError::TooDeep);
    }
    Ok(())
}

/// Why a document does not parse, before the place is added (see [`Diagnostic`]).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
enum SyntaxError {
    /// A message over one of its limits.
    #[error(transparent)]
    Limit(#[from] LimitError),
    /// A start tag's attributes are refused.
    #[error(transparent)]
    Attribute(#[from] AttributeError),
    /// An attribute value that does not normalise (a bad reference in it).
    #[error("malformed XML: attribute `{key}`: {reason}")]
    AttributeValue {
        /// The attribute.
        key: String,
        /// The reader's reason.
        reason: String,
    },
    /// An element whose prefix is not declared.
    #[error("malformed XML: namespace prefix `{0}` is not declared")]
    UndeclaredPrefix(String),
    /// A configuration nested deeper than a message may be.
    #[error(
        "malformed XML: nested deeper than {} elements",
        super::budget::MAX_DEPTH
    )]
    TooDeep,
    /// Text after the root element.
    #[error("malformed XML: text after the root element")]
    TextAfterRoot,
    /// Text before the root element.
    #[error("malformed XML: text before the root element")]
    TextBeforeRoot,
    /// A second root element.
    #[error("malformed XML: more than one root element")]
    SecondRoot,
    /// An entity that is neither a character reference nor predefined.
    #[error("malformed XML: unknown entity `&{0};`")]
    UnknownEntity(String),
    /// A character reference that does not resolve.
    #[error("malformed XML: {0}")]
    Reference(String),
}

fn find_attr(src: &str, from: usize, to: usize, key: &str) -> Option<usize> {
    let hay = src.get(from..to)?;
    let mut search = 0;
    while let Some(i) = hay[search..].find(key) {
        let at = search + i;
        let before_ok = at == 0 || hay[..at].ends_with(|c: char| c.is_whitespace());
        let after = hay[at + key.len()..].trim_start();
        if before_ok && after.starts_with('=') {
            return Some(from + at);
        }
        search = at + key.len();
    }
    None
}

#[cfg(test)]
mod tests;
