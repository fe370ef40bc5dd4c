//! Query strings: decoded `name=value` pairs, for dispatch (`query.param.*`) and for form
//! bodies.

/// Splits a query string into decoded `name=value` pairs (`+` means space).
///
/// # Errors
/// A malformed percent-encoding.
pub fn parse_query(query: Option<&str>) -> Result<Vec<(String, String)>, String> {
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

fn decode_component(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let ok = bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit);
            if !ok {
                return Err(format!(
                    "malformed percent-encoding in query parameter `{s}`"
                ));
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
        .map_err(|_| format!("query parameter `{s}` is not valid UTF-8"))
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
