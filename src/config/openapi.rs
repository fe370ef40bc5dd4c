//! OpenAPI 3 documents for prototype endpoints: read the YAML or JSON file, resolve local
//! `$ref`s, and turn every operation's examples into ready-to-send responses.
//!
//! All of the work is done at load, so a request only picks among prepared bodies
//! (`crate::endpoints::prototype`). What is read from the document, for each operation:
//!
//! - `responses.<code>`: `NNN`, `NNx`, `Nxx` (any case) or `default`, in document order;
//! - `responses.<code>.headers.<name>`: `example`, else the first of `examples`, else
//!   `schema.example`;
//! - `responses.<code>.content.<media type>`: the named `examples` (their `value`), else
//!   `example`, else `schema.example` (both named `example`).
//!
//! Order matters to the mock algorithm ("the first response", "the first example"), so the
//! document is read into an order-preserving tree ([`Node`]), not into a sorted map.

use std::sync::Arc;

use actix_web::http::Method;
use actix_web::http::header::{HeaderName, HeaderValue};
use bytes::Bytes;
use saphyr::{LoadableYamlNode, Scalar, Yaml};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use super::prototype::PathPattern;
use super::{Ctx, Loc};
use crate::base::uri_template::UriTemplate;

/// The examples of one OpenAPI document, ready to send.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct OpenApiMock {
    /// The document as named in `openapi` (relative to the mediation folder).
    pub(crate) file: String,
    /// Its paths: concrete ones first, then templated ones, each in document order.
    pub(crate) paths: Vec<ApiPath>,
}

/// One entry of `paths`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ApiPath {
    /// The path as written (`/pets/{petId}`).
    pub(crate) template: String,
    /// Its matcher.
    pub(crate) pattern: PathPattern,
    /// Its operations, in document order.
    pub(crate) operations: Vec<Operation>,
}

/// One operation (a method of a path).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Operation {
    /// The method.
    pub(crate) method: Method,
    /// Its responses, in document order.
    pub(crate) responses: Vec<MockedResponse>,
}

/// One entry of an operation's `responses`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MockedResponse {
    /// The key, lowercased: `200`, `5xx`, `40x` or `default`.
    pub(crate) key: String,
    /// Example headers.
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
    /// Media types, in document order.
    pub(crate) content: Vec<MediaExamples>,
}

/// The examples of one media type.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MediaExamples {
    /// The media type as written (`application/json`).
    pub(crate) media_type: String,
    /// Named examples, serialised for the media type, in document order.
    pub(crate) examples: Vec<(String, Bytes)>,
}

/// A YAML or JSON value with mapping order kept.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A number.
    Number(serde_json::Number),
    /// A string.
    String(String),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, keys in document order.
    Map(Vec<(String, Node)>),
}

const METHODS: [(&str, Method); 8] = [
    ("get", Method::GET),
    ("put", Method::PUT),
    ("post", Method::POST),
    ("delete", Method::DELETE),
    ("options", Method::OPTIONS),
    ("head", Method::HEAD),
    ("patch", Method::PATCH),
    ("trace", Method::TRACE),
];

/// How many `$ref` hops one value may take (a guard against reference cycles).
const MAX_REF_HOPS: usize = 32;

// === impl Node ===

impl Node {
    fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    fn entries(&self) -> &[(String, Node)] {
        match self {
            Node::Map(entries) => entries,
            _ => &[],
        }
    }

    fn as_str(&self) -> Option<&str> {
        match self {
            Node::String(s) => Some(s),
            _ => None,
        }
    }

    /// Writes the value as compact JSON, keys in document order.
    pub(crate) fn write_json(&self, out: &mut String) {
        match self {
            Node::Null => out.push_str("null"),
            Node::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Node::Number(n) => out.push_str(&n.to_string()),
            Node::String(s) => push_json_string(out, s),
            Node::Seq(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write_json(out);
                }
                out.push(']');
            }
            Node::Map(entries) => {
                out.push('{');
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    push_json_string(out, k);
                    out.push(':');
                    v.write_json(out);
                }
                out.push('}');
            }
        }
    }

    /// The value as text: strings as they are, anything else as JSON.
    fn to_text(&self) -> String {
        match self {
            Node::String(s) => s.clone(),
            other => {
                let mut out = String::new();
                other.write_json(&mut out);
                out
            }
        }
    }
}

fn push_json_string(out: &mut String, s: &str) {
    match serde_json::to_string(s) {
        Ok(quoted) => out.push_str(&quoted),
        Err(_) => out.push_str("\"\""),
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Node, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }

    fn visit_none<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }

    fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
        Ok(Node::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Node::Null, Node::Number))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Node, E> {
        Ok(Node::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Node, E> {
        Ok(Node::String(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries: Vec<(String, Node)> = Vec::new();
        while let Some((k, v)) = map.next_entry::<String, Node>()? {
            // JSON lets a key repeat; the last one wins, as in JavaScript.
            match entries.iter_mut().find(|(key, _)| *key == k) {
                Some(slot) => slot.1 = v,
                None => entries.push((k, v)),
            }
        }
        Ok(Node::Map(entries))
    }
}

/// Parses a document: JSON for `.json` files (or text starting with `{`), YAML otherwise.
///
/// # Errors
/// `(line, column, message)`, 1-based, for a malformed document.
pub(crate) fn parse_document(name: &str, text: &str) -> Result<Node, (u32, u32, String)> {
    let json = name.to_ascii_lowercase().ends_with(".json")
        || (!name.to_ascii_lowercase().ends_with(".yaml")
            && !name.to_ascii_lowercase().ends_with(".yml")
            && text.trim_start().starts_with('{'));
    if json {
        return serde_json::from_str::<Node>(text).map_err(|error| {
            (
                error.line() as u32,
                error.column() as u32,
                format!("malformed JSON: {error}"),
            )
        });
    }
    let docs = Yaml::load_from_str(text).map_err(|error| {
        let mark = error.marker();
        (
            mark.line() as u32,
            mark.col() as u32 + 1,
            format!("malformed YAML: {}", error.info()),
        )
    })?;
    let Some(doc) = docs.into_iter().next() else {
        return Err((1, 1, "the document is empty".to_owned()));
    };
    from_yaml(doc).map_err(|error| (1, 1, error.to_string()))
}

/// A YAML node the document model has no place for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
enum YamlError {
    /// A sequence or mapping used as a key.
    #[error("complex mapping keys are not supported")]
    ComplexKey,
    /// An alias the loader left unresolved.
    #[error("an unresolved YAML alias")]
    Alias,
    /// A value the loader could not read.
    #[error("a YAML value that cannot be read")]
    BadValue,
}

/// Why a `$ref` cannot be followed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum RefError {
    /// `$ref` is not a string.
    #[error("`$ref` must be a string")]
    NotString,
    /// A reference outside the document.
    #[error("external reference `{0}` is not supported (only `#/...` within the document)")]
    External(String),
    /// A pointer to nothing.
    #[error("`$ref` `{0}` points at nothing")]
    Dangling(String),
    /// More hops than allowed.
    #[error("`$ref` chain is too long (a reference cycle?)")]
    TooLong,
}

fn from_yaml(yaml: Yaml<'_>) -> Result<Node, YamlError> {
    Ok(match yaml {
        Yaml::Value(scalar) => match scalar {
            Scalar::Null => Node::Null,
            Scalar::Boolean(b) => Node::Bool(b),
            Scalar::Integer(i) => Node::Number(i.into()),
            Scalar::FloatingPoint(f) => {
                serde_json::Number::from_f64(f.into_inner()).map_or(Node::Null, Node::Number)
            }
            Scalar::String(s) => Node::String(s.into_owned()),
        },
        Yaml::Representation(text, _, _) => Node::String(text.into_owned()),
        Yaml::Sequence(items) => {
            Node::Seq(items.into_iter().map(from_yaml).collect::<Result<_, _>>()?)
        }
        Yaml::Mapping(map) => {
            let mut entries = Vec::with_capacity(map.len());
            for (k, v) in map {
                let key = match from_yaml(k)? {
                    Node::String(s) => s,
                    Node::Null => "null".to_owned(),
                    scalar @ (Node::Bool(_) | Node::Number(_)) => scalar.to_text(),
                    Node::Seq(_) | Node::Map(_) => {
                        return Err(YamlError::ComplexKey);
                    }
                };
                entries.push((key, from_yaml(v)?));
            }
            Node::Map(entries)
        }
        Yaml::Tagged(_, inner) => from_yaml(*inner)?,
        Yaml::Alias(_) => return Err(YamlError::Alias),
        Yaml::BadValue => return Err(YamlError::BadValue),
    })
}

/// Reads and compiles the OpenAPI document `rel` (relative to the mediation folder).
/// Problems are reported at `loc` (the `openapi` attribute), or at the place in the
/// document for a syntax error.
pub(crate) fn load(rel: &str, loc: &Loc, ctx: &mut Ctx<'_>) -> Option<OpenApiMock> {
    let path = ctx.dir.join(rel);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) => {
            ctx.error(
                loc,
                format!("cannot read OpenAPI document `{}`: {error}", path.display()),
            );
            return None;
        }
    };
    let doc = match parse_document(rel, text.strip_prefix('\u{feff}').unwrap_or(&text)) {
        Ok(doc) => doc,
        Err((line, col, message)) => {
            let at = Loc {
                file: Arc::from(path.display().to_string()),
                line,
                col,
            };
            ctx.error(&at, message);
            return None;
        }
    };
    let mut problems = Vec::new();
    let compiled = compile(rel, &doc, &mut problems);
    for (warning, message) in problems {
        let text = format!("in OpenAPI document `{rel}`: {message}");
        if warning {
            ctx.diags.warning(loc, text);
        } else {
            ctx.error(loc, text);
        }
    }
    compiled
}

/// Compiles a parsed document. `problems` collects `(is_warning, message)`; the result is
/// `None` when any problem is an error.
pub(crate) fn compile(
    file: &str,
    doc: &Node,
    problems: &mut Vec<(bool, String)>,
) -> Option<OpenApiMock> {
    let before = problems.iter().filter(|(w, _)| !w).count();
    let mut error = |message: String| problems.push((false, message));
    match (
        doc.get("openapi").map(Node::to_text),
        doc.get("swagger").is_some(),
    ) {
        (Some(v), _) if v.starts_with("3.") => {}
        (Some(v), _) => error(format!(
            "OpenAPI version `{v}` is not supported (expected 3.x)"
        )),
        (None, true) => error(
            "OpenAPI 2 (swagger) documents are not supported; convert the document to OpenAPI 3"
                .to_owned(),
        ),
        (None, false) => error("not an OpenAPI 3 document: it has no `openapi` field".to_owned()),
    }
    let Some(paths) = doc.get("paths").filter(|p| matches!(p, Node::Map(_))) else {
        error("the document has no `paths`".to_owned());
        return None;
    };
    let mut concrete = Vec::new();
    let mut templated = Vec::new();
    for (template, item) in paths.entries() {
        if !template.starts_with('/') {
            problems.push((false, format!("path `{template}` must start with `/`")));
            continue;
        }
        let pattern = match UriTemplate::parse(template) {
            Ok(p) => PathPattern(p),
            Err(message) => {
                problems.push((false, format!("path `{template}`: {message}")));
                continue;
            }
        };
        let item = match resolve(doc, item) {
            Ok(item) => item,
            Err(message) => {
                problems.push((false, format!("path `{template}`: {message}")));
                continue;
            }
        };
        let mut operations = Vec::new();
        for (name, method) in METHODS {
            let Some(op) = item.get(name) else { continue };
            let at = format!("{} {template}", method.as_str());
            operations.push(Operation {
                method,
                responses: responses(doc, op, &at, problems),
            });
        }
        let path = ApiPath {
            template: template.clone(),
            pattern,
            operations,
        };
        if template.contains('{') {
            templated.push(path);
        } else {
            concrete.push(path);
        }
    }
    concrete.extend(templated);
    let errors = problems.iter().filter(|(w, _)| !w).count();
    (errors == before).then(|| OpenApiMock {
        file: file.to_owned(),
        paths: concrete,
    })
}

fn responses(
    doc: &Node,
    op: &Node,
    at: &str,
    problems: &mut Vec<(bool, String)>,
) -> Vec<MockedResponse> {
    let mut out = Vec::new();
    let Some(responses) = op.get("responses") else {
        return out;
    };
    for (key, response) in responses.entries() {
        let lower = key.to_ascii_lowercase();
        if !valid_response_key(&lower) {
            problems.push((
                false,
                format!("{at}: response `{key}` is not a status code, `NNx`, `Nxx` or `default`"),
            ));
            continue;
        }
        let response = match resolve(doc, response) {
            Ok(r) => r,
            Err(message) => {
                problems.push((false, format!("{at} response `{key}`: {message}")));
                continue;
            }
        };
        let mut headers = Vec::new();
        for (name, header) in response.get("headers").map_or(&[][..], Node::entries) {
            if name.eq_ignore_ascii_case("content-type") {
                continue; // OpenAPI ignores a Content-Type header definition
            }
            let example = resolve(doc, header)
                .ok()
                .and_then(|h| first_example(doc, h, at, problems));
            let Some((_, value)) = example else { continue };
            match (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(&value.to_text()),
            ) {
                (Ok(n), Ok(v)) => headers.push((n, v)),
                _ => problems.push((
                    true,
                    format!(
                        "{at} response `{key}`: header `{name}` has no valid example value; skipped"
                    ),
                )),
            }
        }
        let mut content = Vec::new();
        for (media_type, media) in response.get("content").map_or(&[][..], Node::entries) {
            let examples = examples(doc, media, at, problems)
                .into_iter()
                .map(|(name, value)| (name, serialise(media_type, value)))
                .collect();
            content.push(MediaExamples {
                media_type: media_type.clone(),
                examples,
            });
        }
        out.push(MockedResponse {
            key: lower,
            headers,
            content,
        });
    }
    out
}

/// `examples` (each `value`), else `example`, else `schema.example`.
fn examples<'d>(
    doc: &'d Node,
    holder: &'d Node,
    at: &str,
    problems: &mut Vec<(bool, String)>,
) -> Vec<(String, &'d Node)> {
    let mut out = Vec::new();
    if let Some(named) = holder.get("examples") {
        for (name, example) in named.entries() {
            match resolve(doc, example) {
                Ok(example) => match example.get("value") {
                    Some(value) => out.push((name.clone(), value)),
                    None if example.get("externalValue").is_some() => problems.push((
                        true,
                        format!("{at}: example `{name}` uses `externalValue`, which Axon does not fetch; skipped"),
                    )),
                    None => {}
                },
                Err(message) => problems.push((false, format!("{at} example `{name}`: {message}"))),
            }
        }
    }
    if out.is_empty() {
        let schema_example = holder
            .get("schema")
            .and_then(|s| resolve(doc, s).ok())
            .and_then(|s| s.get("example"));
        if let Some(value) = holder.get("example").or(schema_example) {
            out.push(("example".to_owned(), value));
        }
    }
    out
}

fn first_example<'d>(
    doc: &'d Node,
    holder: &'d Node,
    at: &str,
    problems: &mut Vec<(bool, String)>,
) -> Option<(String, &'d Node)> {
    examples(doc, holder, at, problems).into_iter().next()
}

/// Follows local `$ref`s (`#/components/...`).
fn resolve<'d>(doc: &'d Node, mut node: &'d Node) -> Result<&'d Node, RefError> {
    for _ in 0..MAX_REF_HOPS {
        let Some(reference) = node.get("$ref") else {
            return Ok(node);
        };
        let Some(target) = reference.as_str() else {
            return Err(RefError::NotString);
        };
        let Some(pointer) = target.strip_prefix('#') else {
            return Err(RefError::External(target.to_owned()));
        };
        node = pointer
            .split('/')
            .skip(1)
            .try_fold(doc, |at, raw| {
                let decoded = percent_encoding::percent_decode_str(raw).decode_utf8_lossy();
                let token = decoded.replace("~1", "/").replace("~0", "~");
                match at {
                    Node::Map(_) => at.get(&token),
                    Node::Seq(items) => token.parse::<usize>().ok().and_then(|i| items.get(i)),
                    _ => None,
                }
            })
            .ok_or_else(|| RefError::Dangling(target.to_owned()))?;
    }
    Err(RefError::TooLong)
}

fn valid_response_key(key: &str) -> bool {
    if key == "default" {
        return true;
    }
    let b = key.as_bytes();
    b.len() == 3
        && (b'1'..=b'5').contains(&b[0])
        && match (b[1], b[2]) {
            (x, y) if x.is_ascii_digit() && y.is_ascii_digit() => true,
            (x, b'x') if x.is_ascii_digit() => true,
            (b'x', b'x') => true,
            _ => false,
        }
}

/// An example as bytes: JSON for JSON media types, a string as is for the others.
fn serialise(media_type: &str, value: &Node) -> Bytes {
    let base = media_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let json = base.ends_with("json") || base == "*/*";
    match value {
        Node::String(s) if !json => Bytes::from(s.clone()),
        other => {
            let mut out = String::new();
            other.write_json(&mut out);
            Bytes::from(out)
        }
    }
}

#[cfg(test)]
mod tests;
