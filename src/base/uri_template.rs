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
    pub fn as_str(&self) -> &str {
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
    pub fn parse(s: &str) -> Result<UrlMapping, TemplateError> {
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
    pub fn matches(&self, path: &str) -> Option<MappingRank> {
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
mod tests {
    use super::*;

    fn vars(t: &str, path: &str, query: Option<&str>) -> Option<Vec<(String, String)>> {
        UriTemplate::parse(t).unwrap().matches(path, query)
    }

    fn one(t: &str, path: &str) -> Option<String> {
        vars(t, path, None).map(|v| v.into_iter().map(|(_, v)| v).collect::<Vec<_>>().join("|"))
    }

    #[test]
    fn simple_variables_stop_at_reserved_characters_and_next_literal() {
        assert_eq!(one("/view/{symbol}", "/view/IBM"), Some("IBM".into()));
        assert_eq!(one("/view/{symbol}", "/view/IBM/x"), None);
        assert_eq!(
            one("/orders/{id}/items/{item}", "/orders/42/items/7"),
            Some("42|7".into())
        );
        assert_eq!(
            one("/files/{name}.json", "/files/report.json"),
            Some("report".into())
        );
        assert_eq!(one("/view/{symbol}", "/view/"), None);
        // Percent-decoded after matching, so an encoded slash stays inside the value.
        assert_eq!(
            one("/view/{symbol}", "/view/a%2Fb%20c"),
            Some("a/b c".into())
        );
    }

    #[test]
    fn operators_and_prefixes() {
        assert_eq!(one("/x/{+path}", "/x/a/b/c"), Some("a/b/c".into()));
        assert_eq!(one("/x{/a,b}", "/x/1/2"), Some("1|2".into()));
        assert_eq!(one("/file{.ext}", "/file.txt"), Some("txt".into()));
        assert_eq!(one("/c/{code:3}", "/c/abc"), Some("abc".into()));
        assert_eq!(one("/c/{code:3}", "/c/abcd"), None);
        assert_eq!(one("/p/{a},{b}", "/p/1,2"), Some("1|2".into()));
    }

    #[test]
    fn query_templates_are_literal_and_extra_queries_are_tolerated() {
        let v = vars("/orders?id={id}&x={x}", "/orders", Some("id=42&x=a%20b")).unwrap();
        assert_eq!(
            v,
            vec![("id".into(), "42".into()), ("x".into(), "a b".into())]
        );
        assert!(vars("/orders?id={id}", "/orders", Some("other=1")).is_none());
        assert_eq!(one("/orders/{id}", "/orders/42"), Some("42".into()));
        assert!(vars("/orders/{id}", "/orders/42", Some("verbose=1")).is_some());
    }

    #[test]
    fn trailing_slashes_are_ignored() {
        assert_eq!(one("/orders/{id}/", "/orders/42"), Some("42".into()));
        assert_eq!(one("/orders/{id}", "/orders/42/"), Some("42".into()));
        assert!(vars("/", "/", None).is_some());
    }

    #[test]
    fn invalid_templates_are_rejected() {
        assert_eq!(
            UriTemplate::parse("/a/{id").unwrap_err().to_string(),
            "unclosed `{` in `/a/{id`"
        );
        assert!(matches!(
            UriTemplate::parse("/a{?q}"),
            Err(TemplateError::QueryExpression('?'))
        ));
        assert_eq!(
            UriTemplate::parse("/a/{}").unwrap_err().to_string(),
            "invalid variable name `` in `{}`"
        );
        assert!(UriTemplate::parse("/a/{b c}").is_err());
        assert!(UriTemplate::parse("/a/b}").is_err());
        assert!(UriTemplate::parse("/a/{x:0}").is_err());
    }

    #[test]
    fn wso2_wildcards_take_the_rest_of_the_uri() {
        assert_eq!(one("/view/*", "/view/IBM"), Some(String::new()));
        assert_eq!(one("/view/*", "/view/a/b/c"), Some(String::new()));
        assert_eq!(one("/view/*", "/view/"), Some(String::new()));
        // As in MI: the literal before `*` must be there whole.
        assert_eq!(one("/view/*", "/view"), None);
        assert_eq!(one("/view/*", "/viewer/x"), None);
        assert_eq!(one("/*", "/anything/at/all"), Some(String::new()));
        assert_eq!(one("/orders/{id}/*", "/orders/7"), Some("7".into()));
        assert_eq!(one("/orders/{id}/*", "/orders/7/lines/2"), Some("7".into()));
        assert_eq!(one("/orders/{id}/*", "/orders"), None);
        assert!(vars("/view/*", "/view/x", Some("a=1")).is_some());
        assert!(matches!(
            UriTemplate::parse("/a*{x}"),
            Err(TemplateError::WildcardNotLast(_))
        ));
        // A `*` inside a literal is a character.
        assert_eq!(one("/a*b/{x}", "/a*b/1"), Some("1".into()));
    }

    #[test]
    fn a_repeated_variable_must_hold_one_value() {
        let v = vars("/{id}/copy/{id}", "/7/copy/7", None).unwrap();
        assert_eq!(v, vec![("id".into(), "7".into())]);
        assert!(vars("/{id}/copy/{id}", "/7/copy/8", None).is_none());
    }

    #[test]
    fn query_template_values_may_be_empty() {
        let v = vars(
            "/quote?symbol={symbol}&x={x}",
            "/quote",
            Some("symbol=IBM&x="),
        )
        .unwrap();
        assert_eq!(
            v,
            vec![("symbol".into(), "IBM".into()), ("x".into(), String::new())]
        );
        assert!(vars("/quote/{symbol}", "/quote/", None).is_none());
    }

    #[test]
    fn bad_percent_encoding_does_not_match() {
        assert_eq!(one("/v/{s}", "/v/%FF"), None);
    }

    #[test]
    fn url_mappings_rank_exact_over_prefix_over_extension() {
        let exact = UrlMapping::parse("/a/b").unwrap();
        let prefix = UrlMapping::parse("/a/*").unwrap();
        let all = UrlMapping::parse("/*").unwrap();
        let ext = UrlMapping::parse("*.jsp").unwrap();
        assert_eq!(exact.matches("/a/b/"), Some(MappingRank::Exact));
        assert_eq!(exact.matches("/a/b/c"), None);
        assert_eq!(prefix.matches("/a"), Some(MappingRank::Prefix(2)));
        assert_eq!(prefix.matches("/a/b/c"), Some(MappingRank::Prefix(2)));
        assert_eq!(prefix.matches("/ab"), None);
        assert_eq!(all.matches("/anything"), Some(MappingRank::Prefix(1)));
        assert_eq!(ext.matches("/x/index.jsp"), Some(MappingRank::Extension));
        assert_eq!(ext.matches("/x/jsp"), None);
        assert!(MappingRank::Exact > MappingRank::Prefix(5));
        assert!(MappingRank::Prefix(3) > MappingRank::Prefix(2));
        assert!(MappingRank::Prefix(1) > MappingRank::Extension);
        assert!(UrlMapping::parse("/a*b").is_err());
        assert!(UrlMapping::parse("").is_err());
    }
}
