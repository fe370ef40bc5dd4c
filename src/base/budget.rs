//! What one XML document built from a message may cost, counted while it is built: shared by
//! the positioned tree (`xml.rs`), the XPath DOM and the streaming envelope check.

/// Deepest element nesting accepted in a message; deeper documents are refused (XPath
/// over very deep trees is quadratic, every tree walk is bounded by it, and nobody sends
/// them on purpose). It holds on every path that builds a tree from a message: the DOM
/// for mediators, the tree of a format conversion, and the streaming envelope check.
pub(crate) const MAX_DEPTH: usize = 512;

/// What one XML document made from a message may cost (see `docs/reliability.md`). Every
/// parser of message XML counts against these while it builds, and stops at the first
/// one crossed, before the tree grows further.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XmlLimits {
    /// Most nodes (elements, attributes, text, comments) in one document.
    pub max_nodes: usize,
    /// Most attributes (namespace declarations included) on one element.
    pub max_attributes: usize,
    /// Estimated memory of one document's tree, in bytes.
    pub max_memory: usize,
}

impl Default for XmlLimits {
    fn default() -> Self {
        XmlLimits {
            max_nodes: 1_500_000,
            max_attributes: 256,
            max_memory: 320 * 1024 * 1024,
        }
    }
}

/// Estimated heap cost of one node in a message tree, besides its strings (measured on
/// the larger of the two trees, see `docs/reliability.md`).
const NODE_COST: usize = 224;

/// Counts what a parser builds against [`XmlLimits`] and [`MAX_DEPTH`].
#[derive(Debug)]
pub(crate) struct Budget {
    limits: XmlLimits,
    nodes: usize,
    memory: usize,
}

impl Budget {
    pub(crate) fn new(limits: XmlLimits) -> Self {
        Budget {
            limits,
            nodes: 0,
            memory: 0,
        }
    }

    /// An element opened at `depth` (1 for the root).
    pub(crate) fn depth(depth: usize) -> Result<(), LimitError> {
        if depth > MAX_DEPTH {
            return Err(LimitError::Depth);
        }
        Ok(())
    }

    /// One node whose strings take `bytes`.
    pub(crate) fn node(&mut self, bytes: usize) -> Result<(), LimitError> {
        self.nodes += 1;
        self.memory = self.memory.saturating_add(NODE_COST + bytes);
        if self.nodes > self.limits.max_nodes {
            return Err(LimitError::Nodes(self.limits.max_nodes));
        }
        self.check_memory()
    }

    /// `bytes` more in a node already counted (text that continues).
    pub(crate) fn grow(&mut self, bytes: usize) -> Result<(), LimitError> {
        self.memory = self.memory.saturating_add(bytes);
        self.check_memory()
    }

    fn check_memory(&self) -> Result<(), LimitError> {
        if self.memory > self.limits.max_memory {
            return Err(LimitError::Memory(self.limits.max_memory));
        }
        Ok(())
    }

    /// An element with `attributes` attributes.
    pub(crate) fn attributes(&self, attributes: usize) -> Result<(), LimitError> {
        if attributes > self.limits.max_attributes {
            return Err(LimitError::Attributes(self.limits.max_attributes));
        }
        Ok(())
    }
}

/// A limit of [`XmlLimits`] (or the nesting limit) that a document goes beyond.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum LimitError {
    /// Nested deeper than the nesting limit.
    #[error("the XML payload is nested deeper than {MAX_DEPTH} elements")]
    Depth,
    /// More nodes than `--max-xml-nodes`.
    #[error("the XML payload has more than {0} nodes (limit --max-xml-nodes)")]
    Nodes(usize),
    /// A tree larger than `--max-xml-memory` bytes.
    #[error(
        "the XML payload would take more than {0} bytes of memory as a tree (limit --max-xml-memory)"
    )]
    Memory(usize),
    /// An element with more attributes than `--max-xml-attributes`.
    #[error(
        "an element of the XML payload has more than {0} attributes (limit --max-xml-attributes)"
    )]
    Attributes(usize),
}

/// Why the attributes of a start tag are refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(crate) enum AttributeError {
    /// More attributes than the limit.
    #[error(transparent)]
    Limit(#[from] LimitError),
    /// An attribute quick-xml cannot read (its byte offset left out: the diagnostic has
    /// the tag's line and column).
    #[error("malformed XML: {}", without_position(&.0.to_string()))]
    Malformed(#[source] quick_xml::events::attributes::AttrError),
    /// The same attribute name twice on one element.
    #[error("malformed XML: attribute `{0}` is written twice on one element")]
    Duplicate(String),
}

/// quick-xml's message without its leading `position N: `.
fn without_position(message: &str) -> String {
    let stripped = message.strip_prefix("position ").and_then(|rest| {
        let (number, rest) = rest.split_once(": ")?;
        number.bytes().all(|b| b.is_ascii_digit()).then_some(rest)
    });
    stripped.unwrap_or(message).to_owned()
}

/// The attributes of a start tag, at most `max` of them, each name once. Duplicates are
/// found with a hash set beyond a few attributes, so the check stays linear (quick-xml's
/// own check compares each attribute with every earlier one).
pub(crate) fn unique_attributes<'a>(
    tag: &'a quick_xml::events::BytesStart<'_>,
    budget: &Budget,
) -> Result<Vec<quick_xml::events::attributes::Attribute<'a>>, AttributeError> {
    const LINEAR: usize = 8;
    let mut out: Vec<quick_xml::events::attributes::Attribute<'a>> = Vec::new();
    let mut seen: std::collections::HashSet<&str> = std::collections::HashSet::new();
    for attr in tag.attributes().with_checks(false) {
        let attr = attr.map_err(AttributeError::Malformed)?;
        budget.attributes(out.len() + 1)?;
        let duplicate = if out.len() < LINEAR {
            out.iter().any(|a| a.key == attr.key)
        } else {
            if seen.is_empty() {
                seen.extend(out.iter().map(|a| a.key.into_inner()));
            }
            !seen.insert(attr.key.into_inner())
        };
        if duplicate {
            let key: &str = attr.key.as_ref();
            return Err(AttributeError::Duplicate(key.to_owned()));
        }
        out.push(attr);
    }
    Ok(out)
}
