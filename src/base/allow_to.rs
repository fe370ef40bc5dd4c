//! The allow-list of `To` addresses a bare `<send/>` may go to (`axon serve --allow-to`).
//!
//! A message's `To` comes from the client (a `wsa:To` header, or a `header` mediator over
//! its payload), so sending to it unchecked would make Axon an open proxy. An address is
//! allowed only when it is an http or https URL with the scheme and host (and port) of one
//! entry and a path that starts with the entry's path; it is never the management port.
//! The default list is empty: nothing is allowed.

use actix_web::http::Uri;

use super::path::has_dot_segment;

/// The longest `To` address considered, in bytes (as the WS-Addressing fields).
const MAX_TO: usize = 2048;

/// The allow-list: one entry per `--allow-to`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowTo {
    entries: Vec<Entry>,
    /// The management API's port, never allowed.
    management_port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    scheme: String,
    authority: String,
    /// The port of `authority` (the scheme's default when it names none).
    port: u16,
    path: String,
}

/// An entry that is no http or https URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an http or https URL prefix (for example http://backend:9000/services/)")]
pub struct BadEntry(String);

impl AllowTo {
    /// The list of `entries` (URL prefixes).
    ///
    /// # Errors
    /// An entry that is no http or https URL.
    pub fn new<S: AsRef<str>>(entries: &[S]) -> Result<AllowTo, BadEntry> {
        let entries = entries
            .iter()
            .map(|entry| {
                let entry = entry.as_ref();
                Entry::parse(entry).ok_or_else(|| BadEntry(entry.to_owned()))
            })
            .collect::<Result<_, _>>()?;
        Ok(AllowTo {
            entries,
            management_port: None,
        })
    }

    /// The same list, refusing every address on the management API's `port`.
    pub(crate) fn without_port(mut self, port: u16) -> AllowTo {
        self.management_port = Some(port);
        self
    }

    /// Whether the list allows anything.
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether a bare `<send/>` may go to `to`.
    pub(crate) fn permits(&self, to: &str) -> bool {
        if to.len() > MAX_TO || to.contains("${") {
            return false;
        }
        let Some(wanted) = Entry::parse(to) else {
            return false;
        };
        if Some(wanted.port) == self.management_port || has_dot_segment(&wanted.path) {
            return false;
        }
        self.entries.iter().any(|entry| entry.covers(&wanted))
    }
}

impl Entry {
    fn parse(text: &str) -> Option<Entry> {
        let uri: Uri = text.trim().parse().ok()?;
        let scheme = uri.scheme_str()?.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return None;
        }
        let authority = uri.authority()?;
        if authority.as_str().contains('@') {
            return None;
        }
        let port = authority
            .port_u16()
            .unwrap_or(if scheme == "https" { 443 } else { 80 });
        Some(Entry {
            authority: format!("{}:{port}", authority.host().to_ascii_lowercase()),
            scheme,
            port,
            path: uri.path().to_owned(),
        })
    }

    fn covers(&self, wanted: &Entry) -> bool {
        self.scheme == wanted.scheme
            && self.authority == wanted.authority
            && within(&wanted.path, &self.path)
    }
}

/// Whether `path` is `prefix` or below it, segment by segment (`/services` covers
/// `/services/x`, never `/servicesX`).
fn within(path: &str, prefix: &str) -> bool {
    match path.strip_prefix(prefix) {
        Some(rest) => prefix.ends_with('/') || rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::AllowTo;

    #[test]
    fn nothing_is_allowed_by_default() {
        assert!(!AllowTo::default().permits("http://127.0.0.1:9000/x"));
    }

    #[test]
    fn an_entry_allows_its_host_and_path_prefix_only() {
        let list = AllowTo::new(&["http://Backend:9000/services/"]).unwrap();
        assert!(list.permits("http://backend:9000/services/Stock"));
        assert!(!list.permits("http://backend:9000/admin"));
        assert!(!list.permits("http://backend.evil:9000/services/Stock"));
        assert!(!list.permits("https://backend:9000/services/Stock"));
        assert!(!list.permits("http://backend:9001/services/Stock"));
        assert!(!list.permits("http://user@backend:9000/services/Stock"));
        assert!(!list.permits("http://backend:9000/services/${x}"));
        assert!(!list.permits("ftp://backend:9000/services/"));
        // A backend resolves dot segments: they could leave the allowed path.
        assert!(!list.permits("http://backend:9000/services/../admin"));
        assert!(!list.permits("http://backend:9000/services/%2e%2E/admin"));
        let bare = AllowTo::new(&["http://backend:9000/services"]).unwrap();
        assert!(bare.permits("http://backend:9000/services"));
        assert!(bare.permits("http://backend:9000/services/Stock"));
        assert!(!bare.permits("http://backend:9000/servicesX"));
    }

    #[test]
    fn default_ports_and_the_management_port() {
        let list = AllowTo::new(&["http://h/", "http://h:9164/"]).unwrap();
        assert!(list.permits("http://h:80/a"));
        assert!(list.permits("http://h:9164/a"));
        assert!(!list.clone().without_port(9164).permits("http://h:9164/a"));
        let long = format!("http://h/{}", "a".repeat(3000));
        assert!(!list.permits(&long));
    }

    #[test]
    fn an_entry_that_is_no_http_url_is_refused() {
        assert!(AllowTo::new(&["backend:9000"]).is_err());
        assert!(AllowTo::new(&["file:///etc"]).is_err());
    }
}
