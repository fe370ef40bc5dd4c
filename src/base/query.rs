//! Query strings: decoded `name=value` pairs, for dispatch (`query.param.*`) and for form
//! bodies.

/// Splits a query string into decoded `name=value` pairs (`+` means space).
///
/// # Errors
/// A malformed percent-encoding.
pub(crate) fn parse_query(query: Option<&str>) -> Result<Vec<(String, String)>, QueryError> {
    let Some(q) = query.filter(|q| !q.is_empty()) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for pair in q.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        out.push((decode_component(name)?, decode_component(value)?));
    }
    Ok(out)
}

/// Why a query string is refused (400), with the parameter as it was written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// A `%` not followed by two hex digits.
    #[error("malformed percent-encoding in query parameter `{0}`")]
    PercentEncoding(String),
    /// Decoded bytes that are not UTF-8.
    #[error("query parameter `{0}` is not valid UTF-8")]
    NotUtf8(String),
}

/// A form body (`application/x-www-form-urlencoded`) that is badly encoded is a
/// malformed message.
impl From<QueryError> for super::cause::Malformed {
    fn from(error: QueryError) -> Self {
        super::cause::Malformed(error.to_string())
    }
}

fn decode_component(s: &str) -> Result<String, QueryError> {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let ok = bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit);
            if !ok {
                return Err(QueryError::PercentEncoding(s.to_owned()));
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    let spaced = s.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| QueryError::NotUtf8(s.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_decode_and_reject_bad_encoding() {
        assert_eq!(
            parse_query(Some("q=a+b%21&empty&x=%E2%9C%93")).unwrap(),
            vec![
                ("q".into(), "a b!".into()),
                ("empty".into(), "".into()),
                ("x".into(), "\u{2713}".into())
            ]
        );
        assert!(parse_query(Some("q=%zz")).is_err());
        assert!(parse_query(Some("q=%e")).is_err());
        assert!(parse_query(Some("q=%FF")).is_err());
        assert_eq!(parse_query(None).unwrap(), vec![]);
    }
}
