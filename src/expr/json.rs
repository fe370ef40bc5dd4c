//! `json-eval(<JSONPath>)`: JSONPath over JSON payloads (serde_json_path, RFC 9535), with
//! the Jayway forms Synapse users write: `?(@.x > 1)` filters and a trailing `.length()`.
//!
//! Like Jayway (the library behind Synapse's `json-eval`), a *definite* path (no wildcard,
//! deep scan, filter, slice or union) gives its one value, and an *indefinite* one gives
//! the array of every match.

use serde_json::Value as Json;
use serde_json_path::JsonPath;

use super::error::CompileError;

/// A compiled JSONPath.
#[derive(Debug, Clone)]
pub(crate) struct JsonExpr {
    /// The path as written (without `.length()`).
    source: String,
    path: JsonPath,
    /// The path ends in Jayway's `.length()`.
    length: bool,
    /// The path can match more than one node.
    indefinite: bool,
}

impl PartialEq for JsonExpr {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source && self.length == other.length
    }
}

/// Compiles the path inside `json-eval(...)`.
///
/// # Errors
/// A syntax error, as a message for a diagnostic.
pub(crate) fn compile(path: &str) -> Result<JsonExpr, CompileError> {
    let mut source = path.trim().to_owned();
    let length = match source.strip_suffix(".length()") {
        Some(base) => {
            source = base.to_owned();
            true
        }
        None => false,
    };
    if !source.starts_with('$') {
        return Err(CompileError::JsonPathNotRooted(source));
    }
    let parsed = parse_path(&source)?;
    let indefinite = is_indefinite(&source);
    Ok(JsonExpr {
        source,
        path: parsed,
        length,
        indefinite,
    })
}

/// Parses a JSONPath. serde_json_path 0.7 panics on an unfinished `\\u` escape in a quoted
/// name ("we do not use streaming parsers"; found by fuzzing), so such a path is refused
/// before the parser sees it, and any other panic of the parser becomes the path's syntax
/// error too: never a dead `check`, start-up or reload.
fn parse_path(source: &str) -> Result<JsonPath, CompileError> {
    let refused = |reason: &str| CompileError::JsonPathSyntax {
        path: source.to_owned(),
        reason: reason.to_owned(),
    };
    if has_unfinished_unicode_escape(source) {
        return Err(refused("a `\\u` escape needs four hexadecimal digits"));
    }
    match std::panic::catch_unwind(|| JsonPath::parse(source)) {
        Ok(Ok(path)) => Ok(path),
        Ok(Err(error)) => Err(refused(&syntax_reason(source, &error))),
        Err(_) => Err(refused("the JSONPath parser could not read it")),
    }
}

/// True when a backslash-`u` in the path is not followed by four hexadecimal digits.
fn has_unfinished_unicode_escape(source: &str) -> bool {
    let bytes = source.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            if bytes.get(i + 1) == Some(&b'u') {
                let digits = bytes.get(i + 2..i + 6);
                if !digits.is_some_and(|d| d.iter().all(u8::is_ascii_hexdigit)) {
                    return true;
                }
            }
            i += 2;
        } else {
            i += 1;
        }
    }
    false
}

/// What is wrong with a JSONPath, in words: where (the character, 1-based, and itself) and
/// what the parser was reading there, instead of its bare "parser error".
fn syntax_reason(source: &str, error: &serde_json_path::ParseError) -> String {
    let at = error.position();
    let context = error
        .message()
        .trim_end_matches("parser error")
        .trim_end_matches([',', ' '])
        .replace("long-hand segment", "a bracketed selector `[...]`")
        .replace("short-hand segment", "a dotted name `.name`");
    // `get`: a position inside a character (never expected) reads as the end.
    let mut rest = source.get(at..).unwrap_or_default().chars();
    let what = match (rest.next(), rest.next()) {
        (Some(c), None) if "[(.,:?".contains(c) => {
            format!("the path ends too early after `{c}`")
        }
        (Some(c), _) => format!("`{c}` is not expected at character {}", at + 1),
        (None, _) => "the path ends too early".to_owned(),
    };
    match context.is_empty() {
        true => what,
        false => format!("{what}, {context}"),
    }
}

/// Jayway's rule: a path with `..`, `*`, a filter `?`, a slice `:` or a union `,` (outside
/// quoted names) may match several nodes.
fn is_indefinite(path: &str) -> bool {
    let mut quote: Option<char> = None;
    let mut depth = 0usize;
    let mut prev = '\0';
    for c in path.chars() {
        match quote {
            Some(q) => {
                if c == q && prev != '\\' {
                    quote = None;
                }
            }
            None => match c {
                '\'' | '"' => quote = Some(c),
                '[' => depth += 1,
                ']' => depth = depth.saturating_sub(1),
                '*' | '?' => return true,
                '.' if prev == '.' => return true,
                ':' | ',' if depth > 0 => return true,
                _ => {}
            },
        }
        prev = c;
    }
    false
}

// === impl JsonExpr ===

impl JsonExpr {
    /// The path as written.
    pub(crate) fn source(&self) -> &str {
        &self.source
    }

    /// Evaluates against `doc`: `None` when a definite path matches nothing.
    pub(crate) fn evaluate(&self, doc: &Json) -> Option<Json> {
        let nodes = self.path.query(doc);
        let result = if self.indefinite {
            Json::Array(nodes.all().into_iter().cloned().collect())
        } else {
            nodes.all().first().map(|v| (*v).clone())?
        };
        if self.length {
            let n = match &result {
                Json::Array(a) => a.len(),
                Json::Object(o) => o.len(),
                Json::String(s) => s.chars().count(),
                _ => return None,
            };
            return Some(Json::from(n));
        }
        Some(result)
    }

    /// JSON pointers to every node the path matches, in document order (for edits).
    pub(crate) fn pointers(&self, doc: &Json) -> Vec<String> {
        self.path
            .query_located(doc)
            .locations()
            .map(|p| p.to_json_pointer())
            .collect()
    }

    /// True when the path ends in `.length()` (such a path cannot be a target).
    pub(crate) fn is_length(&self) -> bool {
        self.length
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn eval(path: &str, doc: &Json) -> Option<Json> {
        compile(path).unwrap().evaluate(doc)
    }

    #[test]
    fn a_path_the_parser_panics_on_is_refused_before_it() {
        // Found by fuzzing: serde_json_path panics on an unfinished `\u` escape. The
        // fuzzer aborts on any panic, even a caught one, so the path must never reach it.
        for path in [
            r#"$["w]ird key\u"#,
            r#"$['a\u'"#,
            r#"$["\u12"]"#,
            r#"$["\u12G4"]"#,
        ] {
            match compile(path) {
                Err(CompileError::JsonPathSyntax { reason, .. }) => {
                    assert!(
                        reason.contains("four hexadecimal digits"),
                        "{path}: {reason}"
                    );
                }
                other => panic!("{path}: {other:?}"),
            }
        }
        let doc = serde_json::json!({"A": 1});
        assert_eq!(eval(r#"$["\u0041"]"#, &doc), Some(serde_json::json!(1)));
    }

    #[test]
    fn definite_paths_give_values_and_indefinite_ones_arrays() {
        let doc =
            json!({"order": {"id": 7, "items": [{"sku": "a", "qty": 1}, {"sku": "b", "qty": 5}]}});
        assert_eq!(eval("$.order.id", &doc), Some(json!(7)));
        assert_eq!(eval("$.order.items[1].sku", &doc), Some(json!("b")));
        assert_eq!(eval("$.order.missing", &doc), None);
        assert_eq!(eval("$.order.items[*].sku", &doc), Some(json!(["a", "b"])));
        assert_eq!(eval("$..sku", &doc), Some(json!(["a", "b"])));
        assert_eq!(
            eval("$.order.items[?(@.qty > 3)].sku", &doc),
            Some(json!(["b"]))
        );
        assert_eq!(
            eval("$.order.items[?@.qty > 3].sku", &doc),
            Some(json!(["b"]))
        );
        assert_eq!(eval("$['order']['id']", &doc), Some(json!(7)));
        assert_eq!(eval("$.order.items[-1].qty", &doc), Some(json!(5)));
    }

    #[test]
    fn jayway_length_is_understood() {
        let doc = json!({"items": [1, 2, 3], "name": "héllo", "o": {"a": 1}});
        assert_eq!(eval("$.items.length()", &doc), Some(json!(3)));
        assert_eq!(eval("$.name.length()", &doc), Some(json!(5)));
        assert_eq!(eval("$.o.length()", &doc), Some(json!(1)));
        assert_eq!(eval("$.missing.length()", &doc), None);
    }

    #[test]
    fn syntax_errors_are_reported() {
        assert_eq!(
            compile("order.id").unwrap_err().to_string(),
            "a JSONPath starts with `$`, found `order.id`"
        );
        assert!(matches!(
            compile("$.items["),
            Err(CompileError::JsonPathSyntax { path, .. }) if path == "$.items["
        ));
    }

    #[test]
    fn pointers_locate_matches() {
        let doc = json!({"a": [{"b": 1}, {"b": 2}]});
        assert_eq!(
            compile("$.a[*].b").unwrap().pointers(&doc),
            vec!["/a/0/b", "/a/1/b"]
        );
    }
}
