//! Inbound matching of resource `uri-template` and `url-mapping` (reference §1.3).
//!
//! This is Synapse's own matcher, not RFC 6570 expansion: a template is compiled once, at
//! load, into an anchored regular expression, and a match yields the `uri.var.*` values,
//! percent-decoded.

use regex::Regex;

/// Characters a simple `{var}` never spans (RFC 3986 gen-delims and sub-delims).
const RESERVED: &str = ":/?#[]@!$&'()*+,;=";

/// A compiled resource `uri-template`.
#[derive(Debug, Clone)]
pub struct UriTemplate {
    source: String,
    regex: Regex,
    vars: Vec<String>,
    has_query: bool,
    /// Ends in WSO2's `*` wildcard: the request path is matched as sent (not trimmed),
    /// as MI does, so `/view/*` takes `/view/` and below but not `/view`.
    wildcard: bool,
    /// A variable appears twice: both places must hold the same value.
    repeats: bool,
}

/// A compiled resource `url-mapping` (servlet style).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlMapping {
    /// `/a/b`: the path, trailing slash trimmed, must be equal.
    Exact(String),
    /// `/a/b/*`: the path must be `/a/b` or below it.
    Prefix(String),
    /// `/*`: everything.
    All,
    /// `*.ext`: the last segment ends with `.ext`.
    Extension(String),
}

/// How well a url-mapping matched, for choosing among several (higher wins).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MappingRank {
    /// Extension match.
    Extension,
    /// Prefix match of this many segments (`/*` is 1).
    Prefix(usize),
    /// Exact match.
    Exact,
}

/// Why a `uri-template` or `url-mapping` is refused (the text of its load diagnostic).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TemplateError {
    /// A `{` with no `}` after it, in the template.
    #[error("unclosed `{{` in `{0}`")]
    Unclosed(String),
    /// A `}` with no `{` before it, in the template.
    #[error("unmatched `}}` in `{0}`")]
    Unmatched(String),
    /// A query-style expression (`{?x}`, `{&x}`, `{;x}`), by its operator.
    #[error(
        "`{{{0}...}}` expressions are not supported in resource templates; write the query as a literal, for example `/orders?id={{id}}`"
    )]
    QueryExpression(char),
    /// A prefix length (`{x:3}`) that is not a positive number, in the expression.
    #[error("invalid prefix length in `{{{0}}}`")]
    PrefixLength(String),
    /// An empty or invalid variable name.
    #[error("invalid variable name `{name}` in `{{{expression}}}`")]
    VariableName {
        /// The name.
        name: String,
        /// The expression that holds it, without braces.
        expression: String,
    },
    /// An operator the matcher has no rule for.
    #[error("unsupported operator `{0}`")]
    UnsupportedOperator(char),
    /// The pattern made from the template does not compile.
    #[error("cannot compile template: {0}")]
    Regex(#[source] regex::Error),
    /// An empty `url-mapping`.
    #[error("url-mapping must not be empty")]
    EmptyMapping,
    /// A `*` wildcard that is not at the end of the template.
    #[error("invalid uri-template `{0}`: the `*` wildcard only at the end")]
    WildcardNotLast(String),
    /// An extension mapping (`*.ext`) with no extension, or a `/` or `*` in it.
    #[error("invalid extension mapping `{0}`")]
    Extension(String),
    /// A prefix mapping with a `*` before its last segment.
    #[error("invalid url-mapping `{0}`: `*` only as the last segment")]
    StarBeforeLast(String),
    /// A `*` inside a segment.
    #[error("invalid url-mapping `{0}`: `*` only as the last segment or in `*.ext`")]
    StarInside(String),
}

// === impl UriTemplate ===

impl UriTemplate {
    /// Compiles a template.
    ///
    /// # Errors
    /// A description of the first problem: an unclosed `{`, an empty or invalid variable
    /// name, or a query-style expression (`{?x}`, `{&x}`, `{;x}`).
    pub fn parse(source: &str) -> Result<UriTemplate, TemplateError> {
        let (path_part, query_part) = match source.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (source, None),
        };
        let has_query = query_part.is_some();
        let trimmed = match query_part {
            Some(q) => format!("{}?{q}", trim_path(path_part)),
            None => trim_path(path_part).to_owned(),
        };
        let tokens = tokenize(&trimmed)?;
        let wildcard = wildcard_at_end(&tokens, source)?;
        let mut pattern = String::from("^");
        let mut vars = Vec::new();
        let mut in_query = false;
        for (i, token) in tokens.iter().enumerate() {
            match token {
                Token::Literal(lit) if wildcard && i + 1 == tokens.len() => {
                    push_wildcard(&mut pattern, lit, i > 0);
                }
                Token::Literal(lit) => {
                    in_query |= lit.contains('?');
                    pattern.push_str(&regex::escape(lit));
                }
                Token::Expr { op, vars: specs } => {
                    push_expr(&mut pattern, &tokens, i, *op, specs, in_query)?;
                    vars.extend(specs.iter().map(|(name, _)| name.clone()));
                }
            }
        }
        pattern.push('$');
        let regex = Regex::new(&pattern).map_err(TemplateError::Regex)?;
        let repeats = has_repeats(&vars);
        Ok(UriTemplate {
            source: source.to_owned(),
            regex,
            vars,
            has_query,
            wildcard,
            repeats,
        })
    }

    /// The template as written.
    pub(crate) fn as_str(&self) -> &str {
        &self.source
    }

    /// Matches a request sub-path (after the API context) and its raw query string.
    /// Returns the variables, percent-decoded, or `None` when the template does not match
    /// or a value is not valid percent-encoded UTF-8.
    pub fn matches(&self, path: &str, query: Option<&str>) -> Option<Vec<(String, String)>> {
        let path = if self.wildcard { path } else { trim_path(path) };
        let owned;
        let subject = match (self.has_query, query) {
            (true, Some(q)) => {
                owned = format!("{path}?{q}");
                owned.as_str()
            }
            _ => path,
        };
        let caps = self.regex.captures(subject)?;
        let mut out: Vec<(String, String)> = Vec::with_capacity(self.vars.len());
        for (i, name) in self.vars.iter().enumerate() {
            let raw = caps.get(i + 1).map(|m| m.as_str()).unwrap_or("");
            let value = percent_encoding::percent_decode_str(raw)
                .decode_utf8()
                .ok()?;
            if self.repeats
                && let Some((_, first)) = out.iter().find(|(n, _)| n == name)
            {
                if *first != value {
                    return None;
                }
                continue;
            }
            out.push((name.clone(), value.into_owned()));
        }
        Some(out)
    }
}

/// The pattern of one `{...}` expression at `tokens[i]`. Inside the query part a simple
/// `{var}` may be empty (`?a=&b=1`), as MI allows.
fn push_expr(
    pattern: &mut String,
    tokens: &[Token],
    i: usize,
    op: Option<char>,
    specs: &[(String, Option<usize>)],
    in_query: bool,
) -> Result<(), TemplateError> {
    let next_char = tokens.get(i + 1).and_then(|t| match t {
        Token::Literal(l) => l.chars().next(),
        Token::Expr { .. } => None,
    });
    let mut stop = String::from(RESERVED);
    if let Some(c) = next_char {
        stop.push(c);
    }
    let class = format!("[^{}]", regex::escape(&stop).replace('-', "\\-"));
    let (lead, sep) = match op {
        None | Some('+') => ("", ","),
        Some('#') => ("#", ","),
        Some('.') => (".", "."),
        Some('/') => ("/", "/"),
        Some(other) => return Err(TemplateError::UnsupportedOperator(other)),
    };
    pattern.push_str(&regex::escape(lead));
    for (j, (_, prefix)) in specs.iter().enumerate() {
        if j > 0 {
            pattern.push_str(&regex::escape(sep));
        }
        let unit = match op {
            Some('+') | Some('#') => ".".to_owned(),
            Some('.') => format!("[^{}.]", regex::escape(&stop)),
            _ => class.clone(),
        };
        let reps = match prefix {
            Some(n) => format!("{{1,{n}}}"),
            None if matches!(op, Some('+') | Some('#')) => "+?".to_owned(),
            None if op.is_none() && in_query => "*".to_owned(),
            None => "+".to_owned(),
        };
        pattern.push_str(&format!("({unit}{reps})"));
    }
    Ok(())
}

/// Whether the template ends in WSO2's wildcard (a last literal ending in `*`); a literal
/// ending in `*` anywhere else is refused, since it would swallow what follows.
fn wildcard_at_end(tokens: &[Token], source: &str) -> Result<bool, TemplateError> {
    let ends = |t: &Token| matches!(t, Token::Literal(l) if l.ends_with('*'));
    let Some((last, rest)) = tokens.split_last() else {
        return Ok(false);
    };
    if rest.iter().any(ends) {
        return Err(TemplateError::WildcardNotLast(source.to_owned()));
    }
    Ok(ends(last))
}

/// The wildcard literal: its text before `*`, then anything (query included). Right after
/// a variable, a `/*` may also match nothing (`/orders/{id}/*` takes `/orders/7`), as in MI.
fn push_wildcard(pattern: &mut String, literal: &str, after_expr: bool) {
    let prefix = &literal[..literal.len() - 1];
    if after_expr && prefix == "/" {
        pattern.push_str("(?:/(?s:.*))?");
    } else {
        pattern.push_str(&regex::escape(prefix));
        pattern.push_str("(?s:.*)");
    }
}

fn has_repeats(vars: &[String]) -> bool {
    vars.iter().enumerate().any(|(i, v)| vars[..i].contains(v))
}

/// Drops trailing slashes from a path, keeping a lone `/`.
fn trim_path(path: &str) -> &str {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() { "/" } else { trimmed }
}

#[derive(Debug)]
enum Token {
    Literal(String),
    Expr {
        op: Option<char>,
        vars: Vec<(String, Option<usize>)>,
    },
}

fn tokenize(s: &str) -> Result<Vec<Token>, TemplateError> {
    let mut tokens = Vec::new();
    let mut rest = s;
    while !rest.is_empty() {
        match rest.find('{') {
            Some(0) => {
                let end = rest
                    .find('}')
                    .ok_or_else(|| TemplateError::Unclosed(s.to_owned()))?;
                let body = &rest[1..end];
                tokens.push(parse_expr(body)?);
                rest = &rest[end + 1..];
            }
            Some(i) => {
                tokens.push(Token::Literal(rest[..i].to_owned()));
                rest = &rest[i..];
            }
            None => {
                if rest.contains('}') {
                    return Err(TemplateError::Unmatched(s.to_owned()));
                }
                tokens.push(Token::Literal(rest.to_owned()));
                rest = "";
            }
        }
    }
    Ok(tokens)
}

fn parse_expr(body: &str) -> Result<Token, TemplateError> {
    let mut chars = body.chars();
    let op = match chars.clone().next() {
        Some(c @ ('+' | '#' | '.' | '/')) => {
            chars.next();
            Some(c)
        }
        Some(c @ ('?' | '&' | ';')) => {
            return Err(TemplateError::QueryExpression(c));
        }
        _ => None,
    };
    let list: String = chars.collect();
    let mut vars = Vec::new();
    for spec in list.split(',') {
        let (name, prefix) = match spec.split_once(':') {
            Some((n, p)) => {
                let len = p
                    .parse::<usize>()
                    .map_err(|_| TemplateError::PrefixLength(body.to_owned()))?;
                if len == 0 {
                    return Err(TemplateError::PrefixLength(body.to_owned()));
                }
                (n, Some(len))
            }
            None => (spec, None),
        };
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        {
            return Err(TemplateError::VariableName {
                name: name.to_owned(),
                expression: body.to_owned(),
            });
        }
        vars.push((name.to_owned(), prefix));
    }
    Ok(Token::Expr { op, vars })
}

// === impl UrlMapping ===

impl UrlMapping {
    /// Parses a `url-mapping` value.
    ///
    /// # Errors
    /// When the value is empty or mixes `*` into a segment (`/a*b`).
    pub(crate) fn parse(s: &str) -> Result<UrlMapping, TemplateError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(TemplateError::EmptyMapping);
        }
        if s == "/*" || s == "*" {
            return Ok(UrlMapping::All);
        }
        if let Some(ext) = s.strip_prefix("*.") {
            if ext.is_empty() || ext.contains('/') || ext.contains('*') {
                return Err(TemplateError::Extension(s.to_owned()));
            }
            return Ok(UrlMapping::Extension(ext.to_owned()));
        }
        if let Some(prefix) = s.strip_suffix("/*") {
            if prefix.contains('*') {
                return Err(TemplateError::StarBeforeLast(s.to_owned()));
            }
            return Ok(UrlMapping::Prefix(normalise(prefix)));
        }
        if s.contains('*') {
            return Err(TemplateError::StarInside(s.to_owned()));
        }
        Ok(UrlMapping::Exact(normalise(s)))
    }

    /// Matches a sub-path (query already removed). Returns the rank of the match.
    pub(crate) fn matches(&self, path: &str) -> Option<MappingRank> {
        let path = normalise(path);
        match self {
            UrlMapping::Exact(p) => (*p == path).then_some(MappingRank::Exact),
            UrlMapping::All => Some(MappingRank::Prefix(1)),
            UrlMapping::Prefix(p) => {
                let inside = path == *p
                    || (path.starts_with(p.as_str())
                        && path.as_bytes().get(p.len()) == Some(&b'/'))
                    || p == "/";
                inside.then(|| {
                    MappingRank::Prefix(p.split('/').filter(|s| !s.is_empty()).count() + 1)
                })
            }
            UrlMapping::Extension(ext) => {
                let last = path.rsplit('/').next().unwrap_or("");
                (last.len() > ext.len() + 1
                    && last.ends_with(ext.as_str())
                    && last[..last.len() - ext.len()].ends_with('.'))
                .then_some(MappingRank::Extension)
            }
        }
    }
}

fn normalise(path: &str) -> String {
    let t = path.trim_end_matches('/');
    if t.is_empty() {
        "/".to_owned()
    } else if t.starts_with('/') {
        t.to_owned()
    } else {
        format!("/{t}")
    }
}

#[cfg(test)]
mod tests;
