//! The layering rule of `docs/ARCHITECTURE.md`, checked on the source: a module may import
//! only its own layer or lower ones, and no two top-level modules import each other.
//!
//! Every file under `src/` belongs to its top-level module (`src/endpoints/actor/probe.rs` to
//! `endpoints`), and every top-level module has a layer in [`LAYERS`]. The check reads each
//! file, with comments and string literals blanked out, finds every `crate::` and `super::`
//! path (`use` trees included, `super::` resolved against the file's module and its inline
//! `mod` blocks), and fails naming the file, the line and the import that points up.
//!
//! A new top-level module must be placed in [`LAYERS`] before this test passes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, bottom to top. A module may import its own layer or lower ones.
const LAYERS: &[(&str, u8)] = &[
    // 0: the ground floor, shared vocabulary that imports nothing of Axon
    ("base", 0),
    // 1: Synapse XML to plain, validated data
    ("config", 1),
    // 2: the message context, payloads and expressions
    ("message", 2),
    ("expr", 2),
    // 3: where messages go, and the steps of a sequence
    ("endpoints", 3),
    ("mediators", 3),
    // 4: dispatch, the interpreter, building a runtime from a configuration
    ("engine", 4),
    // 5: the listeners and the management API
    ("front", 5),
    ("admin", 5),
    // 6: wiring: the server, the command line, logging, the crate root, fuzz entry points
    ("server", 6),
    ("cli", 6),
    ("telemetry", 6),
    ("fuzzing", 6),
    ("lib", 6),
    ("main", 6),
];

/// Pairs on one layer that must not import each other at all (`from`, `to`, why).
const NEVER: &[(&str, &str, &str)] = &[
    (
        "mediators",
        "endpoints",
        "a mediator names an endpoint by its id; the engine delivers",
    ),
    (
        "endpoints",
        "mediators",
        "an endpoint knows nothing of the sequence that sent to it",
    ),
    (
        "admin",
        "front",
        "the management API reads the runtime, never a listener",
    ),
    (
        "front",
        "admin",
        "a listener serves traffic; the management API is its own front",
    ),
];

/// Arrows that break the rule and are known, each with the work that removes it (from,
/// to, why). The test fails when one of them is gone too, so this list only shrinks. It is
/// empty: keep it so.
const KNOWN: &[(&str, &str, &str)] = &[];

#[test]
fn lower_layers_never_import_higher_ones() {
    let edges = imports();
    let mut problems = String::new();
    for (from, to, _) in KNOWN {
        if !edges.iter().any(|e| e.from == *from && e.to == *to) {
            problems += &format!(
                "`{from}` no longer imports `{to}`: remove the pair from KNOWN in tests/layers.rs\n"
            );
        }
    }
    problems += &upward(&edges);
    assert!(
        problems.is_empty(),
        "imports that break the layers of docs/ARCHITECTURE.md:\n{problems}"
    );
}

/// Each import (not in KNOWN) that points to a higher layer or is a NEVER pair, a line each.
fn upward(edges: &[Edge]) -> String {
    let mut problems = String::new();
    for edge in edges.iter().filter(|edge| !is_known(edge)) {
        let (from, to) = (layer(&edge.from), layer(&edge.to));
        if to > from {
            problems += &format!("{edge} (layers {from} to {to})\n");
        }
        if let Some((_, _, why)) = NEVER.iter().find(|n| n.0 == edge.from && n.1 == edge.to) {
            problems += &format!("{edge} ({why})\n");
        }
    }
    problems
}

#[test]
fn no_two_top_level_modules_import_each_other() {
    let problems = mutual(&imports());
    assert!(problems.is_empty(), "{problems}");
}

/// Each pair of top-level modules (not in KNOWN) that import each other.
fn mutual(edges: &[Edge]) -> String {
    let mut first: BTreeMap<(&str, &str), &Edge> = BTreeMap::new();
    for edge in edges {
        first.entry((&edge.from, &edge.to)).or_insert(edge);
    }
    let mut problems = String::new();
    for (&(a, b), edge) in &first {
        if a < b
            && let Some(back) = first.get(&(b, a))
            && !is_known(edge)
            && !is_known(back)
        {
            problems += &format!("`{a}` and `{b}` import each other:\n  {edge}\n  {back}\n");
        }
    }
    problems
}

/// The rules themselves catch what they are for: fed made-up imports, an upward one, a
/// NEVER pair on one layer and two modules importing each other are each reported, and an
/// import that points down is not.
#[test]
fn the_rules_report_upward_never_and_mutual_imports() {
    let edge = |from: &str, to: &str| Edge {
        file: PathBuf::from(format!("src/{from}.rs")),
        line: 1,
        from: from.to_owned(),
        to: to.to_owned(),
        text: format!("use crate::{to}::X;"),
    };
    assert_eq!(upward(&[edge("engine", "config")]), "");
    let up = upward(&[edge("base", "admin")]);
    assert!(
        up.contains("`base` imports `admin`") && up.contains("layers 0 to 5"),
        "{up}"
    );
    let never = upward(&[edge("endpoints", "mediators")]);
    assert!(never.contains("`endpoints` imports `mediators`"), "{never}");
    let both = [edge("message", "expr"), edge("expr", "message")];
    assert!(
        mutual(&both).contains("`expr` and `message` import each other"),
        "{}",
        mutual(&both)
    );
    assert_eq!(mutual(&[edge("expr", "message")]), "");
}

#[test]
fn every_top_level_module_has_a_layer() {
    let mut missing = BTreeSet::new();
    for file in rust_files(&src()) {
        let top = top_module(&file);
        if !LAYERS.iter().any(|(name, _)| *name == top) {
            missing.insert(top);
        }
    }
    assert!(
        missing.is_empty(),
        "top-level modules without a layer in tests/layers.rs: {missing:?}"
    );
}

/// The parser must see through `use` trees, `super::` and comments, or the check above
/// passes for the wrong reason.
#[test]
fn the_import_finder_reads_trees_and_super_and_skips_comments_and_strings() {
    let text = "\
use crate::{a::{B, c::D}, e};
// use crate::commented::Out;
fn f() { let s = \"crate::in_string::X\"; crate::inline::call(); }
fn g<'a>(_: &'a str) { let q = '\"'; let r = r#\"crate::raw::Y\"#; let e = \"\\\"crate::esc\"; }
mod tests {
    use super::super::sibling::Y;
    use super::*;
}
";
    let found: Vec<(usize, String)> = find_imports(text, &["top".into(), "file".into()])
        .into_iter()
        .map(|(line, path)| (line, path.join("::")))
        .collect();
    assert_eq!(
        found,
        [
            (1, "a".to_owned()),
            (1, "e".to_owned()),
            (3, "inline".to_owned()),
            (6, "top::sibling".to_owned()),
            (7, "top::file".to_owned()),
        ]
    );
}

// === the imports ===

#[derive(Debug)]
struct Edge {
    file: PathBuf,
    line: usize,
    from: String,
    to: String,
    text: String,
}

impl std::fmt::Display for Edge {
    /// `src/config/x.rs:4: `config` imports `engine`: use crate::engine::Thing;`
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}: `{}` imports `{}`: {}",
            self.file.display(),
            self.line,
            self.from,
            self.to,
            self.text
        )
    }
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn is_known(edge: &Edge) -> bool {
    KNOWN
        .iter()
        .any(|(from, to, _)| edge.from == *from && edge.to == *to)
}

fn layer(module: &str) -> u8 {
    LAYERS
        .iter()
        .find(|(name, _)| *name == module)
        .map_or(u8::MAX, |(_, layer)| *layer)
}

/// Every import of one top-level module by another, in file and line order.
fn imports() -> Vec<Edge> {
    let root = src();
    let mut edges = Vec::new();
    for file in rust_files(&root) {
        let from = top_module(&file);
        if from == "main" {
            continue; // the binary crate: its `crate::` is not the library
        }
        let text = std::fs::read_to_string(&file).expect("a source file is readable");
        let lines: Vec<&str> = text.lines().collect();
        for (line, path) in find_imports(&text, &module_path(&file)) {
            let Some(to) = path.first() else { continue };
            if *to == from || !LAYERS.iter().any(|(name, _)| name == to) {
                continue;
            }
            edges.push(Edge {
                file: file
                    .strip_prefix(root.parent().unwrap_or(&root))
                    .unwrap_or(&file)
                    .to_owned(),
                line,
                from: from.clone(),
                to: to.clone(),
                text: lines.get(line - 1).map_or("", |l| l.trim()).to_owned(),
            });
        }
    }
    edges
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("src/ is readable") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// `src/endpoints/actor/probe.rs` → `["endpoints", "actor", "probe"]`; `src/lib.rs` → `[]`.
fn module_path(file: &Path) -> Vec<String> {
    let relative = file.strip_prefix(src()).expect("a file under src/");
    let mut path: Vec<String> = relative
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if path.len() == 1 && (path[0] == "lib" || path[0] == "main") {
        path.clear();
    }
    path
}

fn top_module(file: &Path) -> String {
    let relative = file.strip_prefix(src()).expect("a file under src/");
    let first = relative.components().next().expect("a file name");
    Path::new(first.as_os_str())
        .with_extension("")
        .to_string_lossy()
        .into_owned()
}

// === the finder ===

/// The paths this text names through `crate::` and `super::`, each resolved from the crate
/// root, with its 1-based line (`use crate::{a::B, c}` names `a` and `c`).
fn find_imports(text: &str, module: &[String]) -> Vec<(usize, Vec<String>)> {
    let code = blank_comments_and_strings(text);
    let tokens = tokenize(&code);
    let mut out = Vec::new();
    let mut inline: Vec<(String, usize)> = Vec::new(); // inline `mod name {` and its depth
    let mut depth = 0usize;
    let mut i = 0;
    while i < tokens.len() {
        let (line, tok) = (tokens[i].0, tokens[i].1.as_str());
        match tok {
            "{" => depth += 1,
            "}" => {
                depth = depth.saturating_sub(1);
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
            }
            "mod" if tokens.get(i + 2).is_some_and(|t| t.1 == "{") => {
                inline.push((tokens[i + 1].1.clone(), depth));
            }
            "crate" | "super" if !is_path_tail(&tokens, i) && is_sep(&tokens, i + 1) => {
                let mut base: Vec<String> = Vec::new();
                let mut j = i;
                if tok == "super" {
                    base = module.to_vec();
                    base.extend(inline.iter().map(|(name, _)| name.clone()));
                    while tokens.get(j).is_some_and(|t| t.1 == "super") && is_sep(&tokens, j + 1) {
                        base.pop();
                        j += 3;
                    }
                } else {
                    j += 3;
                }
                for tail in tree_heads(&tokens, j) {
                    let mut path = base.clone();
                    if tail != "self" && tail != "*" {
                        path.push(tail);
                    }
                    if !path.is_empty() {
                        out.push((line, path));
                    }
                }
                i = j;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// True when token `i` follows `::` (as in `foo::crate`), so it does not start a path.
fn is_path_tail(tokens: &[(usize, String)], i: usize) -> bool {
    i >= 2 && tokens[i - 1].1 == ":" && tokens[i - 2].1 == ":"
}

/// True when tokens `i` and `i + 1` are `::`.
fn is_sep(tokens: &[(usize, String)], i: usize) -> bool {
    tokens.get(i).is_some_and(|t| t.1 == ":") && tokens.get(i + 1).is_some_and(|t| t.1 == ":")
}

/// The first segment of each path a `use` tree starting at token `i` names: `a` for `a::B`,
/// `a` and `c` for `{a::B, c}`.
fn tree_heads(tokens: &[(usize, String)], i: usize) -> Vec<String> {
    match tokens.get(i).map(|t| t.1.as_str()) {
        Some("{") => {
            let mut heads = Vec::new();
            let mut depth = 0;
            let mut expect_head = true;
            for (_, tok) in &tokens[i..] {
                match tok.as_str() {
                    "{" => {
                        depth += 1;
                        expect_head = depth == 1;
                    }
                    "}" => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    "," if depth == 1 => expect_head = true,
                    t if expect_head && depth == 1 => {
                        heads.push(t.to_owned());
                        expect_head = false;
                    }
                    _ => {}
                }
            }
            heads
        }
        Some(t) => vec![t.to_owned()],
        None => Vec::new(),
    }
}

/// Identifiers and single punctuation characters, each with its line.
fn tokenize(code: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut line = 1;
    let mut chars = code.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\n' {
            line += 1;
        } else if c.is_alphanumeric() || c == '_' {
            let mut ident = c.to_string();
            while let Some(&n) = chars.peek().filter(|n| n.is_alphanumeric() || **n == '_') {
                ident.push(n);
                chars.next();
            }
            out.push((line, ident));
        } else if !c.is_whitespace() {
            out.push((line, c.to_string()));
        }
    }
    out
}

/// The text with comments, string literals and character literals replaced by spaces
/// (newlines kept, so lines still count).
fn blank_comments_and_strings(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
        } else if c == 'r' && (next == Some('"') || next == Some('#')) && !ident_before(&chars, i) {
            // a raw string: r"..." or r#"..."#
            let mut j = i + 1;
            let mut hashes = 0;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            let close: String = std::iter::once('"')
                .chain(std::iter::repeat_n('#', hashes))
                .collect();
            let rest: String = chars[j + 1..].iter().collect();
            let len = rest
                .find(&close)
                .map_or(rest.chars().count(), |at| rest[..at].chars().count());
            let end = (j + 1 + len + close.chars().count()).min(chars.len());
            out.extend(chars[i..end].iter().map(|&c| blank(c)));
            i = end;
        } else if c == '"' || (c == '\'' && is_char_literal(&chars, i)) {
            i = blank_quoted(&chars, i, &mut out);
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// Blanks the string or character literal that opens at `i` (escapes included) and returns
/// the index after it.
fn blank_quoted(chars: &[char], mut i: usize, out: &mut String) -> usize {
    let quote = chars[i];
    out.push(' ');
    i += 1;
    while i < chars.len() && chars[i] != quote {
        if chars[i] == '\\' {
            out.push(' ');
            i += 1;
        }
        if i < chars.len() {
            out.push(blank(chars[i]));
            i += 1;
        }
    }
    out.push(' ');
    i + 1
}

fn blank(c: char) -> char {
    if c == '\n' { '\n' } else { ' ' }
}

fn ident_before(chars: &[char], i: usize) -> bool {
    i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_')
}

/// `'x'` or `'\n'` rather than a lifetime `'a`.
fn is_char_literal(chars: &[char], i: usize) -> bool {
    match chars.get(i + 1) {
        Some('\\') => true,
        Some(_) => chars.get(i + 2) == Some(&'\''),
        None => false,
    }
}
