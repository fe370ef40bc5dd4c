//! Request paths: the one rule for dot segments, shared by every leaf's outgoing request
//! and the `--allow-to` check of a bare send's `To` address.

/// Whether `path` has a `.` or `..` segment, literal or percent-encoded (`%2e`): a backend
/// would resolve it (RFC 3986 §5.2.4) and a request for `/api/../admin` would leave the
/// endpoint's base path. Axon refuses such a request (400) rather than normalising it: no
/// client that means well sends one (browsers and HTTP libraries remove them).
pub(crate) fn has_dot_segment(path: &str) -> bool {
    path.split('/').any(is_dot_segment)
}

/// `.` or `..`, each dot possibly written `%2e` or `%2E` (read without allocating: every
/// request's path goes through here).
fn is_dot_segment(segment: &str) -> bool {
    let mut rest = segment.as_bytes();
    let mut dots = 0;
    while !rest.is_empty() {
        rest = match rest {
            [b'.', tail @ ..] => tail,
            [b'%', b'2', b'e' | b'E', tail @ ..] => tail,
            _ => return false,
        };
        dots += 1;
    }
    matches!(dots, 1 | 2)
}

#[cfg(test)]
mod tests {
    use super::has_dot_segment;

    #[test]
    fn dot_segments_are_found_literal_or_encoded_but_not_dots_in_names() {
        for path in [
            "/a/..",
            "/a/../b",
            "/./b",
            "/a/%2e%2E/b",
            "/a/.%2e",
            "/a/%2E",
        ] {
            assert!(has_dot_segment(path), "{path}");
        }
        for path in [
            "/",
            "/a/b",
            "/v1.2/x",
            "/..a/b",
            "/a/.../b",
            "/a/%2e%2e%2e",
            "/a/b.",
        ] {
            assert!(!has_dot_segment(path), "{path}");
        }
    }
}
