//! The JSON ↔ XML mapping used when a JSON message meets a SOAP or XML endpoint, and when
//! the answer goes back to a JSON client (documented in `docs/soap.md`).
//!
//! XML → JSON → XML gives back the same elements, attributes, namespace declarations and
//! text (comments and processing instructions are not kept, nor whitespace between
//! elements). JSON → XML → JSON gives back the same JSON, except that a one-item array
//! comes back as its item, and a string that reads as a JSON number or boolean comes back
//! as that number or boolean: XML carries neither distinction.
//!
//! The rules:
//!
//! - An object with exactly one member, whose name is not `@…`/`#text` and whose value is
//!   not an array, is the document element (`{"getQuote":{…}}` → `<getQuote>…`). Any other
//!   document is wrapped: an object in `<jsonObject>`, an array in `<jsonArray>` (items are
//!   `<jsonElement>`), a scalar in `<jsonValue>`. The wrappers are removed on the way back.
//! - A member `"name": value` is an element `<name>`; an array value repeats the element
//!   once per item; repeated sibling elements become an array.
//! - `"@attr"` members are attributes, `"@xmlns"` and `"@xmlns:p"` namespace declarations,
//!   and `"#text"` the text of an element that also has attributes or children. Names keep
//!   their prefix (`"m:getQuote"`).
//! - Strings, numbers and booleans are text. `null` is an empty element with
//!   `xsi:nil="true"`; an empty element without it is `""`.
//! - Text that is a canonical JSON number, `true` or `false` becomes a number or boolean.
//! - Characters not allowed in XML names are written `_xHHHH_` (hex code point) and decoded
//!   on the way back.

use std::fmt::Write as _;

use serde_json::{Map, Value};

use super::soap::{XSI_NS, declarations, uses_prefix};
use crate::base::xml::{Element, Node, escape_attr, escape_text, escape_text_into, xmlns_prefix};

const OBJECT: &str = "jsonObject";
const ARRAY: &str = "jsonArray";
const ITEM: &str = "jsonElement";
const SCALAR: &str = "jsonValue";

/// The XML document (no declaration) for a JSON value.
pub(crate) fn json_to_xml(json: &Value) -> String {
    let mut out = String::new();
    match json {
        Value::Object(map) => match document_member(map) {
            Some((name, value)) => element(&mut out, name, value),
            None => element(&mut out, OBJECT, json),
        },
        Value::Array(items) => {
            out.push('<');
            out.push_str(ARRAY);
            if items.is_empty() {
                out.push_str("/>");
                return out;
            }
            out.push('>');
            for item in items {
                element(&mut out, ITEM, item);
            }
            _ = write!(out, "</{ARRAY}>");
        }
        scalar => element(&mut out, SCALAR, scalar),
    }
    out
}

/// Checks that the XML form of `json` stays within `limits` before it is written: each
/// value and member becomes at least one node, so a wide JSON document (`[0,0,…]` grows
/// about fourteen times as XML) is refused like a wide XML one. Iterative: serde_json
/// already bounds the nesting at 128.
///
/// # Errors
/// The limit crossed, named as for XML.
pub(crate) fn check_bounds(
    json: &Value,
    limits: crate::message::XmlLimits,
) -> Result<(), crate::message::xml::LimitError> {
    let mut budget = crate::message::xml::Budget::new(limits);
    let mut stack = vec![json];
    while let Some(value) = stack.pop() {
        match value {
            Value::Array(items) => {
                budget.node(0)?;
                stack.extend(items);
            }
            Value::Object(map) => {
                budget.node(0)?;
                for (key, member) in map {
                    budget.grow(key.len())?;
                    stack.push(member);
                }
            }
            Value::String(s) => budget.node(s.len())?,
            _ => budget.node(8)?,
        }
    }
    Ok(())
}

/// The member that is the document element: the only one, not special, not an array.
fn document_member(map: &Map<String, Value>) -> Option<(&String, &Value)> {
    let mut members = map.iter();
    let (name, value) = members.next()?;
    (members.next().is_none() && !is_special(name) && !value.is_array()).then_some((name, value))
}

fn is_special(name: &str) -> bool {
    name.starts_with('@') || name == "#text"
}

fn element(out: &mut String, name: &str, value: &Value) {
    let tag = encode_name(name);
    match value {
        Value::Array(items) => {
            for item in items {
                match item {
                    // An array inside an array: one element holding the inner items.
                    Value::Array(_) => {
                        _ = write!(out, "<{tag}>");
                        for inner in item.as_array().into_iter().flatten() {
                            element(out, ITEM, inner);
                        }
                        _ = write!(out, "</{tag}>");
                    }
                    other => element(out, name, other),
                }
            }
        }
        Value::Null => {
            _ = write!(out, "<{tag} xmlns:xsi=\"{XSI_NS}\" xsi:nil=\"true\"/>");
        }
        Value::Object(map) => {
            out.push('<');
            out.push_str(&tag);
            for (k, v) in map {
                if let Some(attr) = k.strip_prefix('@') {
                    _ = write!(
                        out,
                        " {}=\"{}\"",
                        encode_name(attr),
                        escape_attr(&scalar_text(v))
                    );
                }
            }
            let children: Vec<(&String, &Value)> =
                map.iter().filter(|(k, _)| !k.starts_with('@')).collect();
            if children.is_empty() {
                out.push_str("/>");
                return;
            }
            out.push('>');
            for (k, v) in children {
                if k == "#text" {
                    escape_text_into(&scalar_text(v), out);
                } else {
                    element(out, k, v);
                }
            }
            _ = write!(out, "</{tag}>");
        }
        scalar => {
            let text = scalar_text(scalar);
            if text.is_empty() {
                _ = write!(out, "<{tag}/>");
            } else {
                _ = write!(out, "<{tag}>{}</{tag}>", escape_text(&text));
            }
        }
    }
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The JSON value for an XML document element.
pub(crate) fn xml_to_json(root: &Element) -> Value {
    xml_to_json_with(root, &[])
}

/// As [`xml_to_json`], with `extra` attributes (name, value) written before the root's own.
fn xml_to_json_with(root: &Element, extra: &[(String, String)]) -> Value {
    match root.local_name() {
        OBJECT if root.ns.is_none() => match content(root, extra) {
            Value::String(s) if s.is_empty() => Value::Object(Map::new()),
            other => other,
        },
        ARRAY if root.ns.is_none() => {
            Value::Array(root.elements().map(|c| content(c, &[])).collect())
        }
        SCALAR if root.ns.is_none() => content(root, extra),
        _ => {
            let mut map = Map::new();
            map.insert(decode_name(&root.name), content(root, extra));
            Value::Object(map)
        }
    }
}

/// As [`xml_to_json`] for an element taken out of a larger document: the namespace
/// declarations it inherits (`scope`) are written on it first.
pub(crate) fn xml_to_json_in_scope(el: &Element, scope: &[(String, String)]) -> Value {
    let own = declarations(el);
    let mut inherited: Vec<(String, String)> = Vec::new();
    for (prefix, uri) in scope.iter().rev() {
        let known = own.iter().chain(inherited.iter()).any(|(p, _)| p == prefix);
        if known || !uses_prefix(el, prefix) {
            continue;
        }
        inherited.push((prefix.clone(), uri.clone()));
    }
    let extra: Vec<(String, String)> = inherited
        .into_iter()
        .map(|(prefix, uri)| {
            let name = if prefix.is_empty() {
                "xmlns".to_owned()
            } else {
                format!("xmlns:{prefix}")
            };
            (name, uri)
        })
        .collect();
    xml_to_json_with(el, &extra)
}

/// An element on the way down: its members so far and where its children are.
struct Open<'e> {
    el: &'e Element,
    map: Map<String, Value>,
    /// Member names already turned into arrays (a set: one element may have many).
    arrays: std::collections::HashSet<String>,
    next: usize,
}

/// The JSON value of an element's content, built with an explicit stack (no recursion,
/// whatever the depth).
fn content(root: &Element, extra: &[(String, String)]) -> Value {
    let mut stack = match open(root, extra) {
        Opened::Leaf(value) => return value,
        Opened::Members(top) => vec![top],
    };
    loop {
        let Some(top) = stack.last_mut() else {
            return Value::Null;
        };
        let child = top.el.children[top.next..]
            .iter()
            .position(|n| matches!(n, Node::Element(_)));
        match child.map(|i| top.next + i) {
            Some(i) => {
                top.next = i + 1;
                let Node::Element(child) = &top.el.children[i] else {
                    continue;
                };
                match open(child, &[]) {
                    Opened::Leaf(value) => add_member(top, child, value),
                    Opened::Members(frame) => stack.push(frame),
                }
            }
            None => {
                let Some(done) = stack.pop() else {
                    return Value::Null;
                };
                let (el, value) = (done.el, finish(done));
                match stack.last_mut() {
                    Some(parent) => add_member(parent, el, value),
                    None => return value,
                }
            }
        }
    }
}

/// What opening an element gives: the value of a leaf, or members to fill.
enum Opened<'e> {
    Leaf(Value),
    Members(Open<'e>),
}

/// Opens `el`; `extra` attributes come before its own.
fn open<'e>(el: &'e Element, extra: &[(String, String)]) -> Opened<'e> {
    let attrs = || {
        extra
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .chain(el.attrs.iter().map(|a| (a.name.as_str(), a.value.as_str())))
    };
    let nil = attrs().any(|(name, value)| {
        name.ends_with(":nil") && value.trim() == "true" && xmlns_prefix(name).is_none()
    });
    let has_children = el.elements().next().is_some();
    if nil && !has_children {
        return Opened::Leaf(Value::Null);
    }
    let mut map = Map::new();
    for (name, value) in attrs() {
        let is_nil_decl = nil && (name.ends_with(":nil") || value == XSI_NS);
        if is_nil_decl {
            continue;
        }
        map.insert(
            format!("@{}", decode_name(name)),
            Value::String(value.to_owned()),
        );
    }
    if !has_children && map.is_empty() {
        return Opened::Leaf(scalar(&text_of(el)));
    }
    Opened::Members(Open {
        el,
        map,
        arrays: std::collections::HashSet::new(),
        next: 0,
    })
}

fn text_of(el: &Element) -> String {
    el.children
        .iter()
        .filter_map(|n| match n {
            Node::Text(t) => Some(t.as_str()),
            Node::Element(_) => None,
        })
        .collect()
}

/// Adds a child's value to its parent's members; a repeated name becomes an array.
fn add_member(parent: &mut Open<'_>, child: &Element, value: Value) {
    let key = decode_name(&child.name);
    match parent.map.get_mut(&key) {
        Some(Value::Array(items)) if parent.arrays.contains(&key) => items.push(value),
        Some(existing) => {
            let first = existing.take();
            *existing = Value::Array(vec![first, value]);
            parent.arrays.insert(key);
        }
        None => {
            parent.map.insert(key, value);
        }
    }
}

fn finish(open: Open<'_>) -> Value {
    let mut map = open.map;
    let text = text_of(open.el);
    if !text.trim().is_empty() {
        map.insert("#text".into(), Value::String(text.trim().to_owned()));
    }
    Value::Object(map)
}

fn scalar(text: &str) -> Value {
    match text {
        "true" => return Value::Bool(true),
        "false" => return Value::Bool(false),
        _ => {}
    }
    let looks_numeric = text
        .bytes()
        .next()
        .is_some_and(|b| b == b'-' || b.is_ascii_digit());
    if looks_numeric
        && let Ok(n) = serde_json::from_str::<serde_json::Number>(text)
        && n.to_string() == text
    {
        return Value::Number(n);
    }
    Value::String(text.to_owned())
}

fn name_char_ok(c: char, first: bool) -> bool {
    c.is_alphabetic()
        || c == '_'
        || (!first && (c.is_alphanumeric() || matches!(c, '-' | '.' | ':')))
}

/// Encodes a JSON member name as an XML name.
fn encode_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for (i, (at, c)) in name.char_indices().enumerate() {
        // A literal `_x` would read as an escape on the way back, so its `_` is escaped.
        let literal_escape = c == '_' && name[at..].starts_with("_x");
        if name_char_ok(c, i == 0) && !literal_escape {
            out.push(c);
        } else {
            _ = write!(out, "_x{:04X}_", c as u32);
        }
    }
    if out.is_empty() {
        out.push_str("_x0000_");
    }
    out
}

/// Decodes `_xHHHH_` escapes.
fn decode_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(i) = rest.find("_x") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let decoded = after.find('_').and_then(|end| {
            let hex = &after[..end];
            (hex.len() >= 4 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
                .then(|| u32::from_str_radix(hex, 16).ok())
                .flatten()
                .and_then(char::from_u32)
                .map(|c| (c, end))
        });
        match decoded {
            Some(('\0', end)) if out.is_empty() && after.len() == end + 1 => {
                rest = &after[end + 1..];
            }
            Some((c, end)) => {
                out.push(c);
                rest = &after[end + 1..];
            }
            None => {
                out.push_str("_x");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::soap::parse_xml;
    use serde_json::json;

    fn round_json(v: Value) -> Value {
        let xml = json_to_xml(&v);
        let el = parse_xml(xml.as_bytes()).unwrap_or_else(|e| panic!("{e}: {xml}"));
        xml_to_json(&el)
    }

    #[test]
    fn single_member_object_is_the_document_element() {
        let v = json!({"getQuote": {"@xmlns": "http://services.samples", "request": {"symbol": "IBM"}}});
        assert_eq!(
            json_to_xml(&v),
            r#"<getQuote xmlns="http://services.samples"><request><symbol>IBM</symbol></request></getQuote>"#
        );
        assert_eq!(round_json(v.clone()), v);
    }

    #[test]
    fn wrappers_arrays_types_and_nulls_round_trip() {
        let v = json!({"a": 1, "b": [true, "x", 2.5], "c": null, "d": "", "e": {"@id": "7", "#text": "t"}});
        let xml = json_to_xml(&v);
        assert!(
            xml.starts_with("<jsonObject><a>1</a><b>true</b><b>x</b><b>2.5</b>"),
            "{xml}"
        );
        assert_eq!(round_json(v.clone()), v);
        let arr = json!([{"k": 1}, {"k": 2}]);
        assert_eq!(round_json(arr.clone()), arr);
        assert_eq!(round_json(json!("plain")), json!("plain"));
        assert_eq!(round_json(json!({})), json!({}));
    }

    #[test]
    fn documented_losses_single_item_arrays_and_numeric_strings() {
        assert_eq!(round_json(json!({"a": {"b": [1]}})), json!({"a": {"b": 1}}));
        assert_eq!(
            round_json(json!({"a": {"b": "42"}})),
            json!({"a": {"b": 42}})
        );
        // Non-canonical numbers stay strings.
        assert_eq!(
            round_json(json!({"a": {"b": "007"}})),
            json!({"a": {"b": "007"}})
        );
        assert_eq!(
            round_json(json!({"a": {"b": "1.10"}})),
            json!({"a": {"b": "1.10"}})
        );
    }

    #[test]
    fn xml_round_trips_through_json() {
        let xml =
            r#"<m:r xmlns:m="urn:m" a="1"><m:x>1</m:x><m:x>2</m:x><m:y k="v">t</m:y><m:z/></m:r>"#;
        let el = parse_xml(xml.as_bytes()).unwrap();
        let json = xml_to_json(&el);
        assert_eq!(
            json,
            json!({"m:r": {"@xmlns:m": "urn:m", "@a": "1", "m:x": [1, 2], "m:y": {"@k": "v", "#text": "t"}, "m:z": ""}})
        );
        assert_eq!(json_to_xml(&json), xml);
    }

    #[test]
    fn names_that_are_not_xml_names_are_escaped_reversibly() {
        let v = json!({"first name": {"1st": "a", "x_y": "b"}});
        let xml = json_to_xml(&v);
        assert!(
            xml.starts_with("<first_x0020_name><_x0031_st>a</_x0031_st><x_y>b</x_y>"),
            "{xml}"
        );
        assert_eq!(round_json(v.clone()), v);
        let tricky = json!({"a": {"_x0041_": 1}});
        assert_eq!(round_json(tricky.clone()), tricky);
    }
}
