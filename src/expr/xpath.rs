//! XPath 1.0 expressions with Synapse's variables and functions, on sxd-xpath.
//!
//! At load, [`compile`] tokenizes the expression, checks every prefix, function and
//! variable, rewrites `get-property(...)` calls and `$ctx:`-style variables into plain
//! variables (resolved in Rust per message) and `$body`/`$header` into paths, then lets
//! sxd-xpath parse the result so syntax errors are reported at load.
//!
//! sxd-xpath's compiled `XPath` and its `Context` are neither `Send` nor `Sync`, and the
//! configuration is shared by every worker. So the configuration keeps the checked source
//! and each worker thread compiles it once, on first use, into a thread-local cache keyed
//! by that source: after the first message on a thread, evaluating costs no parsing and no
//! lock.

use std::cell::RefCell;
use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use sxd_document::Package;
use sxd_xpath::nodeset::Node;
use sxd_xpath::{Context, Factory, Value as XValue, XPath};

use super::error::{CompileError, XPathError};
use super::lexer::{self, Kind, Token};
use super::sequence::{self, Replacements};
use super::synapse::{self, Source};
use super::xpath2;
use crate::message::MessageContext;
use crate::message::xml::XmlDoc;

/// A checked XPath, ready to be compiled on any thread.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct XPathExpr {
    /// The expression sxd-xpath compiles (Synapse forms rewritten).
    compiled: String,
    /// Per-thread cache key: the compiled text and the namespace bindings.
    key: Arc<str>,
    /// Prefix bindings in scope where the expression was written.
    namespaces: Vec<(String, String)>,
    /// Variables to set before each evaluation: `(name, where its value comes from)`.
    reads: Vec<(String, Source)>,
    /// False when the expression only reads properties (no path, no `$body`).
    needs_payload: bool,
}

/// Most compiled expressions one worker keeps; past it the cache starts over (reloads
/// can leave old expressions behind).
const CACHE_LIMIT: usize = 4096;

struct Compiled {
    xpath: XPath,
    context: Context<'static>,
}

thread_local! {
    static CACHE: RefCell<HashMap<Arc<str>, Compiled>> = RefCell::new(HashMap::new());
    /// An empty document, for expressions that do not read the payload.
    static EMPTY: Package = Package::new();
}

/// Checks `source` and prepares it for evaluation. `namespaces` are the prefix bindings in
/// scope of the configuration element that holds it.
///
/// # Errors
/// A syntax error, an undeclared prefix, an unknown function or variable, or a
/// `get-property()` with computed arguments, as a message for a diagnostic.
pub(crate) fn compile(
    source: &str,
    namespaces: &[(String, String)],
) -> Result<XPathExpr, CompileError> {
    let trimmed = source.trim();
    if trimmed.is_empty() {
        return Err(CompileError::Empty);
    }
    if trimmed.starts_with("${") {
        return Err(CompileError::SynapseExpression);
    }
    let tokens = lexer::tokenize(trimmed)?;
    let mut rewrite = Rewrite {
        src: trimmed,
        out: String::with_capacity(trimmed.len() + 16),
        copied: 0,
        reads: Vec::new(),
        needs_payload: false,
        pending: Vec::new(),
    };
    let mut i = 0;
    while i < tokens.len() {
        i = rewrite.token(&tokens, i, namespaces)?;
    }
    let Rewrite {
        mut out,
        copied,
        reads,
        needs_payload,
        ..
    } = rewrite;
    out.push_str(&trimmed[copied..]);
    // Let sxd-xpath judge the syntax now, so errors are load errors.
    match Factory::new().build(&out) {
        Ok(Some(_)) => {}
        Ok(None) => return Err(CompileError::Empty),
        Err(error) => {
            return Err(CompileError::XPathSyntax(describe(
                &error.to_string(),
                &out,
            )));
        }
    }
    let mut namespaces: Vec<(String, String)> = namespaces.to_vec();
    namespaces.sort();
    namespaces.dedup_by(|a, b| a.0 == b.0);
    let mut key = out.clone();
    for (p, u) in &namespaces {
        key.push('\0');
        key.push_str(p);
        key.push('=');
        key.push_str(u);
    }
    Ok(XPathExpr {
        compiled: out,
        key: Arc::from(key),
        namespaces,
        reads,
        needs_payload,
    })
}

/// The expression being checked and rewritten into what sxd-xpath compiles.
struct Rewrite<'s> {
    src: &'s str,
    out: String,
    /// How much of `src` is already in `out`.
    copied: usize,
    reads: Vec<(String, Source)>,
    needs_payload: bool,
    /// Tokens still to be replaced (the predicates of sequence calls).
    pending: Replacements,
}

impl Rewrite<'_> {
    /// Writes `with` in place of `src[start..end]`.
    fn replace(&mut self, start: usize, end: usize, with: &str) {
        self.out.push_str(&self.src[self.copied..start]);
        self.out.push_str(with);
        self.copied = end;
    }

    /// Checks and rewrites `tokens[i]`; returns the index of the next token to look at.
    fn token(
        &mut self,
        tokens: &[Token],
        i: usize,
        namespaces: &[(String, String)],
    ) -> Result<usize, CompileError> {
        if let Some(k) = self.pending.iter().position(|(first, ..)| *first == i) {
            let (first, last, text) = self.pending.swap_remove(k);
            self.replace(tokens[first].start, tokens[last].end, text);
            return Ok(last + 1);
        }
        let token = &tokens[i];
        match &token.kind {
            Kind::Function {
                prefix: None,
                local,
            } if local == "get-property" => {
                let (args, end) = literal_args(self.src, tokens, i)?;
                let name = variable_for(&mut self.reads, synapse::get_property(&args)?);
                self.replace(token.start, tokens[end].end, &format!("${name}"));
                return Ok(end + 1);
            }
            Kind::Function { prefix, local } => {
                self.function(tokens, i, prefix.as_deref(), local, namespaces)?;
            }
            Kind::Variable { prefix, local } => self.variable(token, prefix.as_deref(), local)?,
            Kind::NameTest { prefix, .. } => {
                self.needs_payload = true;
                if let Some(p) = prefix
                    && !namespaces.iter().any(|(q, _)| q == p)
                {
                    return Err(CompileError::UndeclaredPrefix(p.clone()));
                }
            }
            Kind::NodeType(_) | Kind::Axis(_) | Kind::Dot | Kind::DotDot | Kind::At => {
                self.needs_payload = true;
            }
            Kind::Operator(op) if op == "/" || op == "//" => self.needs_payload = true,
            _ => {}
        }
        Ok(i + 1)
    }

    /// A function call at `tokens[i]`: known, with the right arity; `fn:` dropped.
    fn function(
        &mut self,
        tokens: &[Token],
        i: usize,
        prefix: Option<&str>,
        local: &str,
        namespaces: &[(String, String)],
    ) -> Result<(), CompileError> {
        let arity = arity(tokens, i);
        check_function(prefix, local, arity, namespaces)?;
        check_literal_regex(tokens, i, local)?;
        if let Some(plan) = sequence::plan(tokens, i, local)? {
            let (start, end) = (tokens[i].start, tokens[i].end);
            self.replace(start, start, plan.before);
            self.replace(start, end, &plan.name);
            self.pending.extend(plan.predicate);
        } else if let Some(p) = prefix {
            // `fn:name`: sxd-xpath knows the functions by their local names.
            let start = tokens[i].start;
            self.replace(start, start + p.len() + 1, "");
        }
        if arity == 0 && synapse::CONTEXT_FUNCTIONS.contains(&local) {
            self.needs_payload = true;
        }
        Ok(())
    }

    /// `$body`, `$header` (paths into the envelope) or a Synapse `$prefix:name` (a read).
    fn variable(
        &mut self,
        token: &Token,
        prefix: Option<&str>,
        local: &str,
    ) -> Result<(), CompileError> {
        let Some(prefix) = prefix else {
            let path = match local {
                "body" => "(/*[local-name()='Envelope']/*[local-name()='Body'])",
                "header" => "(/*[local-name()='Envelope']/*[local-name()='Header'])",
                other => return Err(CompileError::UnknownVariable(other.to_owned())),
            };
            self.needs_payload = true;
            self.replace(token.start, token.end, path);
            return Ok(());
        };
        let name = variable_for(&mut self.reads, synapse::variable(prefix, local)?);
        self.replace(token.start, token.end, &format!("${name}"));
        Ok(())
    }
}

/// sxd-xpath reports errors as variant names; say them in words. It reports a `[` left
/// open at the end of `source` as an empty predicate: that one is said as it is.
fn describe(raw: &str, source: &str) -> String {
    let unclosed = source.matches('[').count() > source.matches(']').count();
    let words = match raw {
        "EmptyPredicate" | "RanOutOfInput" if unclosed => {
            "an unterminated predicate: a `[` has no `]`"
        }
        "EmptyPredicate" => "an empty predicate `[]`",
        "ExtraUnparsedTokens" => "unexpected text after the end of the expression",
        "RanOutOfInput" => "the expression ends too early",
        "TrailingSlash" => "a path ends with `/`",
        "RightHandSideExpressionMissing" => "an operator is missing its right-hand side",
        "ArgumentMissing" => "a function argument is missing",
        "UnexpectedToken" => "an unexpected token",
        _ => return raw.to_owned(),
    };
    words.to_owned()
}

/// The arguments of a `get-property(` call at `tokens[at]`, which must be literals, and
/// the index of its closing parenthesis.
fn literal_args(
    src: &str,
    tokens: &[Token],
    at: usize,
) -> Result<(Vec<String>, usize), CompileError> {
    let mut args = Vec::new();
    let mut i = at + 1;
    if tokens.get(i).map(|t| &t.kind) != Some(&Kind::LParen) {
        return Err(CompileError::GetPropertyNoArguments);
    }
    i += 1;
    loop {
        match tokens.get(i).map(|t| &t.kind) {
            Some(Kind::Literal(text)) => {
                args.push(text.clone());
                i += 1;
            }
            Some(Kind::RParen) if args.is_empty() => {
                return Err(CompileError::GetPropertyNoName);
            }
            _ => {
                let shown = tokens.get(i).map(|t| &src[t.start..]).unwrap_or("");
                return Err(CompileError::GetPropertyComputed(
                    shown.chars().take(24).collect(),
                ));
            }
        }
        match tokens.get(i).map(|t| &t.kind) {
            Some(Kind::Comma) => i += 1,
            Some(Kind::RParen) => return Ok((args, i)),
            _ => return Err(CompileError::GetPropertyNotClosed),
        }
    }
}

/// The number of arguments of the call whose name is `tokens[at]`.
fn arity(tokens: &[Token], at: usize) -> usize {
    let mut depth = 0usize;
    let mut commas = 0usize;
    let mut empty = true;
    for t in &tokens[at + 1..] {
        match t.kind {
            Kind::LParen | Kind::LBracket => {
                depth += 1;
                if depth == 1 {
                    continue;
                }
            }
            Kind::RParen | Kind::RBracket => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    break;
                }
            }
            Kind::Comma if depth == 1 => commas += 1,
            _ => {}
        }
        if depth >= 1 {
            empty = false;
        }
    }
    if empty { 0 } else { commas + 1 }
}

fn check_function(
    prefix: Option<&str>,
    local: &str,
    arity: usize,
    namespaces: &[(String, String)],
) -> Result<(), CompileError> {
    let core = synapse::CORE.iter().chain(xpath2::FUNCTIONS);
    let known = match prefix {
        Some(p) => {
            let uri = namespaces
                .iter()
                .find(|(q, _)| q == p)
                .map(|(_, u)| u.as_str());
            // `fn` is predeclared in XPath 2.0; MI's configurations usually declare it too.
            if uri.unwrap_or(if p == "fn" { xpath2::FN_NAMESPACE } else { "" })
                != xpath2::FN_NAMESPACE
            {
                return Err(CompileError::ForeignFunction {
                    prefix: p.to_owned(),
                    local: local.to_owned(),
                });
            }
            let mut core = core;
            core.find(|(name, _, _)| *name == local)
                .ok_or_else(|| CompileError::UnsupportedXPath2(local.to_owned()))?
        }
        None => core
            .chain(synapse::EXTENSIONS)
            .find(|(name, _, _)| *name == local)
            .ok_or_else(|| CompileError::UnknownFunction(local.to_owned()))?,
    };
    let (_, min, max) = known;
    if arity < *min || arity > *max {
        let expected = if min == max {
            format!("{min}")
        } else if *max == usize::MAX {
            format!("at least {min}")
        } else {
            format!("{min} to {max}")
        };
        return Err(CompileError::Arity {
            function: local.to_owned(),
            expected,
            found: arity,
        });
    }
    Ok(())
}

/// Compiles at load the pattern of a `matches()` or `replace()` written as a literal (with
/// literal or absent flags), so a bad one is a load error.
fn check_literal_regex(tokens: &[Token], at: usize, local: &str) -> Result<(), CompileError> {
    let flags_at = match local {
        "matches" | "tokenize" => 2,
        "replace" => 3,
        _ => return Ok(()),
    };
    let (Some(Some(pattern)), Some(flags)) = (
        literal_arg(tokens, at, 1),
        literal_arg(tokens, at, flags_at),
    ) else {
        return Ok(());
    };
    match xpath2::compile_regex(pattern, flags.unwrap_or("")) {
        Ok(_) => Ok(()),
        Err(reason) => Err(CompileError::Regex {
            function: local.to_owned(),
            reason,
        }),
    }
}

/// Argument `n` of the call whose name is `tokens[at]`: `Some(Some(text))` when it is one
/// literal, `Some(None)` when the call has fewer arguments, `None` when it is computed.
fn literal_arg(tokens: &[Token], at: usize, n: usize) -> Option<Option<&str>> {
    let mut depth = 0usize;
    let mut index = 0usize;
    let mut found: Vec<&Kind> = Vec::new();
    for t in &tokens[at + 1..] {
        match t.kind {
            Kind::LParen | Kind::LBracket => depth += 1,
            Kind::RParen | Kind::RBracket => depth = depth.saturating_sub(1),
            Kind::Comma if depth == 1 => {
                index += 1;
                continue;
            }
            _ => {}
        }
        if depth == 0 {
            break;
        }
        if index == n && !(depth == 1 && t.kind == Kind::LParen && found.is_empty() && n == 0) {
            found.push(&t.kind);
        }
    }
    if index < n {
        return Some(None);
    }
    match found.as_slice() {
        [Kind::Literal(text)] => Some(Some(text.as_str())),
        _ => None,
    }
}

/// The variable that holds `src`, added to `reads` when new.
fn variable_for(reads: &mut Vec<(String, Source)>, src: Source) -> String {
    if let Some((name, _)) = reads.iter().find(|(_, s)| *s == src) {
        return name.clone();
    }
    let name = format!("axon.p{}", reads.len());
    reads.push((name.clone(), src));
    name
}

// === impl XPathExpr ===

impl XPathExpr {
    /// Whether evaluating needs the message's payload.
    pub(crate) fn needs_payload(&self) -> bool {
        self.needs_payload
    }

    /// The property the expression reads when it is nothing but that read
    /// (`get-property('p')`, `$ctx:p`): its value keeps its type (XML, JSON).
    pub(crate) fn lone_read(&self) -> Option<&Source> {
        match self.reads.as_slice() {
            [(name, src)] if self.compiled.strip_prefix('$') == Some(name.as_str()) => Some(src),
            _ => None,
        }
    }

    /// The expression as sxd-xpath sees it (for tests and diagnostics).
    #[cfg(test)]
    pub(crate) fn compiled(&self) -> &str {
        &self.compiled
    }

    /// The template parameters the expression reads (`$func:`, `get-property('func', ..)`).
    pub(crate) fn func_reads(&self) -> impl Iterator<Item = &str> {
        self.reads.iter().filter_map(|(_, s)| match s {
            Source::Func(name) => Some(name.as_str()),
            _ => None,
        })
    }

    /// Evaluates against `doc` (context node: the envelope element, as in Synapse).
    ///
    /// # Errors
    /// A failure inside the evaluation (for example a function given a bad argument).
    pub(crate) fn select<'d>(
        &self,
        doc: &'d XmlDoc,
        msg: &MessageContext,
    ) -> Result<XValue<'d>, XPathError> {
        let node: Node<'d> = match doc.envelope_element() {
            Some(env) => env.into(),
            None => doc.document().root().into(),
        };
        self.run(node, msg)
    }

    /// Evaluates and converts the result with `convert` (which sees the payload, or an
    /// empty document when the expression does not need one).
    ///
    /// # Errors
    /// As [`XPathExpr::select`].
    pub(crate) fn evaluate<R>(
        &self,
        doc: Option<&XmlDoc>,
        msg: &MessageContext,
        convert: impl for<'d> FnOnce(XValue<'d>) -> R,
    ) -> Result<R, XPathError> {
        match doc {
            Some(doc) => self.select(doc, msg).map(convert),
            None => EMPTY.with(|package| {
                let root = package.as_document().root();
                self.run(root.into(), msg).map(convert)
            }),
        }
    }

    fn run<'d>(&self, node: Node<'d>, msg: &MessageContext) -> Result<XValue<'d>, XPathError> {
        let values: Vec<String> = self
            .reads
            .iter()
            .map(|(_, src)| synapse::resolve(src, msg))
            .collect();
        CACHE.with(|cache| {
            let mut cache = cache.borrow_mut();
            if !cache.contains_key(&self.key) {
                if cache.len() >= CACHE_LIMIT {
                    cache.clear();
                }
                let compiled = self.build()?;
                cache.insert(self.key.clone(), compiled);
            }
            let Some(entry) = cache.get_mut(&self.key) else {
                return Err(XPathError::CacheLost);
            };
            for ((name, _), value) in self.reads.iter().zip(values) {
                entry.context.set_variable(name.as_str(), value);
            }
            let Compiled { xpath, context } = &*entry;
            // sxd-xpath has a few internal `expect`s; a message must never take the
            // worker down, so a panic becomes an evaluation error.
            let result = catch_unwind(AssertUnwindSafe(|| xpath.evaluate(context, node)));
            match result {
                Ok(Ok(value)) => Ok(value),
                Ok(Err(error)) => Err(XPathError::Failed {
                    xpath: self.compiled.clone(),
                    reason: error.to_string(),
                }),
                Err(_) => Err(XPathError::Panicked(self.compiled.clone())),
            }
        })
    }

    fn build(&self) -> Result<Compiled, CompileError> {
        let xpath = match Factory::new().build(&self.compiled) {
            Ok(Some(x)) => x,
            Ok(None) => return Err(CompileError::Empty),
            Err(error) => return Err(CompileError::XPathSyntax(error.to_string())),
        };
        let mut context = Context::new();
        for (p, u) in &self.namespaces {
            context.set_namespace(p, u);
        }
        context.set_function("base64Encode", synapse::BASE64_ENCODE);
        context.set_function("base64Decode", synapse::BASE64_DECODE);
        context.set_function("url-encode", synapse::URL_ENCODE);
        xpath2::register(&mut context);
        Ok(Compiled { xpath, context })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns() -> Vec<(String, String)> {
        vec![("m".into(), "urn:m".into())]
    }

    #[test]
    fn synapse_forms_are_rewritten_and_property_reads_need_no_payload() {
        let x = compile("get-property('uri.var.id')", &ns()).unwrap();
        assert_eq!(x.compiled(), "$axon.p0");
        assert!(!x.needs_payload());
        let x = compile(
            "concat($ctx:a, get-property('axis2','HTTP_SC'), $ctx:a)",
            &ns(),
        )
        .unwrap();
        assert_eq!(x.compiled(), "concat($axon.p0, $axon.p1, $axon.p0)");
        assert!(!x.needs_payload());
        let x = compile("$body/m:order/@id", &ns()).unwrap();
        assert!(x.needs_payload());
        assert!(x.compiled().starts_with("(/*[local-name()='Envelope']"));
        assert!(compile("string-length()", &ns()).unwrap().needs_payload());
        assert!(
            !compile("string-length('abc') > 2", &ns())
                .unwrap()
                .needs_payload()
        );
    }

    #[test]
    fn sequence_calls_compile_into_their_consumers() {
        let c = |src: &str| compile(src, &ns()).unwrap().compiled().to_owned();
        assert_eq!(
            c("fn:string-join(fn:tokenize($ctx:s, ','), '|')"),
            "axon-seq-string-join(axon-tokenize($axon.p0, ','), '|')"
        );
        assert_eq!(
            c("count(distinct-values(tokenize('a', ',')))"),
            "axon-seq-count(axon-seq-distinct-values(axon-tokenize('a', ',')))"
        );
        assert_eq!(
            c("tokenize('a/b', '/')[2]"),
            "axon-seq-item(axon-tokenize('a/b', '/'), 2)"
        );
        assert_eq!(
            c("fn:tokenize('a/b', '/')[fn:last()]"),
            "axon-seq-last(axon-tokenize('a/b', '/'))"
        );
        assert_eq!(c("count(//m:a)"), "count(//m:a)");
    }

    #[test]
    fn load_errors_are_specific() {
        let err = |src: &str| compile(src, &ns()).unwrap_err().to_string();
        assert!(err("//x:order").contains("prefix `x` is not declared"));
        assert!(err("xs:string('a')").contains("not available"));
        assert!(err("fn:tokenize('a', ',')").contains("returns a sequence of strings"));
        assert!(err("upper-kase('a')").contains("unknown function"));
        assert!(err("concat('a')").contains("at least 2"));
        assert!(err("$nope").contains("unknown variable"));
        assert!(err("$zz:a").contains("unknown variable"));
        assert!(err("get-property(concat('a','b'))").contains("literal"));
        assert!(err("get-property('registry', 'x')").contains("not supported"));
        assert!(err("//a[").contains("invalid XPath"));
        assert!(err("'unterminated").contains("unterminated"));
        assert!(err("${payload.x}").contains("Synapse expression `${...}` must"));
        assert!(err("  ").contains("empty"));
    }
}
