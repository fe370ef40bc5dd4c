//! An XPath 1.0 tokenizer, used at load to check and rewrite Synapse expressions before
//! sxd-xpath compiles them: which prefixes name tests use, which functions are called,
//! which `$variables` are read, and whether the expression looks at the payload at all.
//!
//! It follows the lexical rules of XPath 1.0 §3.7, including the disambiguation of `*`
//! and of operator names (`and`, `or`, `div`, `mod`) by the preceding token.

use super::error::CompileError;

/// One token, with its byte range in the source.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    /// What it is.
    pub(crate) kind: Kind,
    /// Byte offset of its first character.
    pub(crate) start: usize,
    /// Byte offset just past it.
    pub(crate) end: usize,
}

/// Token kinds.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Kind {
    /// `(`.
    LParen,
    /// `)`.
    RParen,
    /// `[`.
    LBracket,
    /// `]`.
    RBracket,
    /// `.`.
    Dot,
    /// `..`.
    DotDot,
    /// `@`.
    At,
    /// `,`.
    Comma,
    /// `::`.
    ColonColon,
    /// `/`, `//`, `|`, `+`, `-`, `=`, `!=`, `<`, `<=`, `>`, `>=`, the multiply `*`, and
    /// the operator names `and`, `or`, `div`, `mod`.
    Operator(String),
    /// A string literal (its content).
    Literal(String),
    /// A number.
    Number,
    /// A name test: `local`, `prefix:local`, `prefix:*` or `*`.
    NameTest {
        /// The prefix, if any.
        prefix: Option<String>,
        /// The local part (`*` for a wildcard).
        local: String,
    },
    /// A function name (a QName followed by `(`).
    Function {
        /// The prefix, if any.
        prefix: Option<String>,
        /// The local part.
        local: String,
    },
    /// `comment`, `text`, `processing-instruction` or `node` followed by `(`.
    NodeType(String),
    /// An axis name (followed by `::`).
    Axis(String),
    /// `$name` or `$prefix:name`.
    Variable {
        /// The prefix, if any.
        prefix: Option<String>,
        /// The local part.
        local: String,
    },
}

/// Splits `src` into tokens.
///
/// # Errors
/// An unterminated literal or a character that cannot start a token, with its offset.
pub(crate) fn tokenize(src: &str) -> Result<Vec<Token>, CompileError> {
    let mut out: Vec<Token> = Vec::new();
    let mut i = 0;
    while i < src.len() {
        let c = src[i..].chars().next().unwrap_or(' ');
        if c.is_whitespace() {
            i += c.len_utf8();
            continue;
        }
        let (kind, end) = match symbol(src, i, c, &out) {
            Some(found) => found,
            None => word(src, i, c, &out)?,
        };
        out.push(Token {
            kind,
            start: i,
            end,
        });
        i = end;
    }
    Ok(out)
}

/// Punctuation, operators and `*` at `i` (`c` is the character there).
fn symbol(src: &str, i: usize, c: char, out: &[Token]) -> Option<(Kind, usize)> {
    let rest = &src[i..];
    let op = |s: &str| Some((Kind::Operator(s.into()), i + s.len()));
    let simple = |k: Kind| Some((k, i + 1));
    match c {
        '(' => simple(Kind::LParen),
        ')' => simple(Kind::RParen),
        '[' => simple(Kind::LBracket),
        ']' => simple(Kind::RBracket),
        '@' => simple(Kind::At),
        ',' => simple(Kind::Comma),
        ':' if rest.starts_with("::") => Some((Kind::ColonColon, i + 2)),
        '/' if rest.starts_with("//") => op("//"),
        '!' if rest.starts_with("!=") => op("!="),
        '<' if rest.starts_with("<=") => op("<="),
        '>' if rest.starts_with(">=") => op(">="),
        '/' | '|' | '+' | '-' | '=' | '<' | '>' => op(&rest[..1]),
        '*' if operator_context(out) => op("*"),
        '*' => simple(Kind::NameTest {
            prefix: None,
            local: "*".into(),
        }),
        _ => None,
    }
}

/// Dots, numbers, literals, variables and names at `i`.
fn word(src: &str, i: usize, c: char, out: &[Token]) -> Result<(Kind, usize), CompileError> {
    let bytes = src.as_bytes();
    Ok(match c {
        '.' if src[i..].starts_with("..") => (Kind::DotDot, i + 2),
        '.' if bytes.get(i + 1).is_some_and(u8::is_ascii_digit) => {
            (Kind::Number, scan_number(bytes, i))
        }
        '.' => (Kind::Dot, i + 1),
        '0'..='9' => (Kind::Number, scan_number(bytes, i)),
        '"' | '\'' => {
            let Some(close) = src[i + 1..].find(c) else {
                return Err(CompileError::UnterminatedLiteral { at: i });
            };
            let content = src[i + 1..i + 1 + close].to_owned();
            (Kind::Literal(content), i + close + 2)
        }
        '$' => {
            let (prefix, local, end) =
                scan_qname(src, i + 1).ok_or(CompileError::NoVariableName { at: i })?;
            (Kind::Variable { prefix, local }, end)
        }
        c if is_name_start(c) => {
            let (prefix, local, end) =
                scan_qname(src, i).ok_or(CompileError::UnexpectedCharacter { found: c, at: i })?;
            (classify_name(src, out, prefix, local, end), end)
        }
        other => {
            return Err(CompileError::UnexpectedCharacter {
                found: other,
                at: i,
            });
        }
    })
}

/// True when the previous token makes `*` a multiplication and a name an operator name.
fn operator_context(out: &[Token]) -> bool {
    match out.last().map(|t| &t.kind) {
        None => false,
        Some(Kind::At | Kind::ColonColon | Kind::LParen | Kind::LBracket | Kind::Comma) => false,
        Some(Kind::Operator(_)) => false,
        Some(_) => true,
    }
}

fn classify_name(
    src: &str,
    out: &[Token],
    prefix: Option<String>,
    local: String,
    end: usize,
) -> Kind {
    if prefix.is_none()
        && operator_context(out)
        && matches!(local.as_str(), "and" | "or" | "div" | "mod")
    {
        return Kind::Operator(local);
    }
    let rest = src[end..].trim_start();
    if rest.starts_with('(') {
        if prefix.is_none()
            && matches!(
                local.as_str(),
                "comment" | "text" | "processing-instruction" | "node"
            )
        {
            return Kind::NodeType(local);
        }
        return Kind::Function { prefix, local };
    }
    if prefix.is_none() && rest.starts_with("::") {
        return Kind::Axis(local);
    }
    Kind::NameTest { prefix, local }
}

fn scan_number(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
        i += 1;
    }
    i
}

fn is_name_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '\u{b7}')
}

/// Scans `NCName` or `NCName:NCName` or `NCName:*` from `at`: (prefix, local, end).
fn scan_qname(src: &str, at: usize) -> Option<(Option<String>, String, usize)> {
    let first = scan_ncname(src, at)?;
    let after = at + first.len();
    if src[after..].starts_with(':') && !src[after..].starts_with("::") {
        if src[after + 1..].starts_with('*') {
            return Some((Some(first.to_owned()), "*".into(), after + 2));
        }
        if let Some(local) = scan_ncname(src, after + 1) {
            return Some((
                Some(first.to_owned()),
                local.to_owned(),
                after + 1 + local.len(),
            ));
        }
    }
    Some((None, first.to_owned(), after))
}

fn scan_ncname(src: &str, at: usize) -> Option<&str> {
    let rest = src.get(at..)?;
    let mut chars = rest.char_indices();
    let (_, c) = chars.next()?;
    if !is_name_start(c) {
        return None;
    }
    let end = chars
        .find(|(_, c)| !is_name_char(*c))
        .map(|(i, _)| i)
        .unwrap_or(rest.len());
    Some(&rest[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<Kind> {
        tokenize(src).unwrap().into_iter().map(|t| t.kind).collect()
    }

    fn name(p: Option<&str>, l: &str) -> Kind {
        Kind::NameTest {
            prefix: p.map(str::to_owned),
            local: l.into(),
        }
    }

    #[test]
    fn paths_functions_and_variables() {
        assert_eq!(
            kinds("//m:order[@id = $ctx:uri.var.id]/*"),
            vec![
                Kind::Operator("//".into()),
                name(Some("m"), "order"),
                Kind::LBracket,
                Kind::At,
                name(None, "id"),
                Kind::Operator("=".into()),
                Kind::Variable {
                    prefix: Some("ctx".into()),
                    local: "uri.var.id".into()
                },
                Kind::RBracket,
                Kind::Operator("/".into()),
                name(None, "*"),
            ]
        );
        assert_eq!(
            kinds("get-property('axis2', 'HTTP_SC') * 2"),
            vec![
                Kind::Function {
                    prefix: None,
                    local: "get-property".into()
                },
                Kind::LParen,
                Kind::Literal("axis2".into()),
                Kind::Comma,
                Kind::Literal("HTTP_SC".into()),
                Kind::RParen,
                Kind::Operator("*".into()),
                Kind::Number,
            ]
        );
    }

    #[test]
    fn operator_names_and_node_types_depend_on_context() {
        assert_eq!(
            kinds("and and and"),
            vec![
                name(None, "and"),
                Kind::Operator("and".into()),
                name(None, "and")
            ]
        );
        assert_eq!(
            kinds("child::text() | .. | .5"),
            vec![
                Kind::Axis("child".into()),
                Kind::ColonColon,
                Kind::NodeType("text".into()),
                Kind::LParen,
                Kind::RParen,
                Kind::Operator("|".into()),
                Kind::DotDot,
                Kind::Operator("|".into()),
                Kind::Number,
            ]
        );
        assert_eq!(kinds("p:*")[0], name(Some("p"), "*"));
    }

    #[test]
    fn errors_name_the_offset() {
        assert_eq!(
            tokenize("'open").unwrap_err().to_string(),
            "unterminated string literal at offset 0"
        );
        assert_eq!(
            tokenize("a # b"),
            Err(CompileError::UnexpectedCharacter { found: '#', at: 2 })
        );
        assert_eq!(tokenize("$ x"), Err(CompileError::NoVariableName { at: 0 }));
    }
}
