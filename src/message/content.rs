//! What kind of content a message carries (SOAP 1.1/1.2, XML, JSON, ...), and what the
//! client that sent a request speaks, so that its answer can be given in kind.

use actix_web::http::header::{self, HeaderMap};

use super::soap::{self, SoapVersion};

/// The kind of a message's content, from its `Content-Type` (and, for a body already in
/// memory, its first element).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ContentKind {
    /// A SOAP envelope.
    Soap(SoapVersion),
    /// Plain XML (POX).
    Xml,
    /// JSON.
    Json,
    /// `text/plain`.
    Text,
    /// `application/x-www-form-urlencoded`.
    Form,
    /// No body.
    Empty,
    /// Anything else (binary, multipart, ...).
    Other,
}

/// What the client of an exchange speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ClientFormat {
    /// The kind of the request the client sent.
    pub(crate) kind: ContentKind,
    /// For a request without a body: the kind its `Accept` asks for (JSON or XML).
    pub(crate) accept: Option<ContentKind>,
}

// === impl ContentKind ===

impl ContentKind {
    /// The kind announced by `content_type`. `text/xml` is SOAP 1.1 only when `soap_action`
    /// (the request carried a `SOAPAction` header, or it reached a proxy service);
    /// otherwise it is plain XML.
    pub(crate) fn from_content_type(content_type: Option<&str>, soap_action: bool) -> ContentKind {
        let Some(ct) = content_type else {
            return ContentKind::Other;
        };
        // Compared in place, case-insensitively: this runs for every request.
        let media = ct.split(';').next().unwrap_or("").trim();
        let is = |m: &str| media.eq_ignore_ascii_case(m);
        let ends = |suffix: &str| {
            media.len() >= suffix.len()
                && media.as_bytes()[media.len() - suffix.len()..]
                    .eq_ignore_ascii_case(suffix.as_bytes())
        };
        if is("application/soap+xml") {
            ContentKind::Soap(SoapVersion::V12)
        } else if is("text/xml") && soap_action {
            ContentKind::Soap(SoapVersion::V11)
        } else if is("text/plain") {
            ContentKind::Text
        } else if is("application/x-www-form-urlencoded") {
            ContentKind::Form
        } else if ends("/json") || ends("+json") {
            ContentKind::Json
        } else if ends("/xml") || ends("+xml") {
            ContentKind::Xml
        } else {
            ContentKind::Other
        }
    }

    /// The SOAP version, for a SOAP kind.
    pub(crate) fn soap(self) -> Option<SoapVersion> {
        match self {
            ContentKind::Soap(v) => Some(v),
            _ => None,
        }
    }

    /// True for SOAP and plain XML.
    pub(crate) fn is_xml(self) -> bool {
        matches!(self, ContentKind::Soap(_) | ContentKind::Xml)
    }
}

// === impl ClientFormat ===

impl ClientFormat {
    /// What a request with these headers speaks. `soap_service` is true for requests to
    /// proxy services, where `text/xml` always means SOAP 1.1 (as in Axis2).
    pub(crate) fn of_request(
        headers: &HeaderMap,
        has_body: bool,
        soap_service: bool,
    ) -> ClientFormat {
        let soap_action = soap_service || headers.contains_key(soap::SOAP_ACTION);
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        let kind = match content_type {
            None if !has_body => ContentKind::Empty,
            ct => ContentKind::from_content_type(ct, soap_action),
        };
        let accept = headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .and_then(|a| {
                let json = find_ignore_case(a, "json");
                let xml = find_ignore_case(a, "xml");
                match (json, xml) {
                    (Some(j), Some(x)) if x < j => Some(ContentKind::Xml),
                    (Some(_), _) => Some(ContentKind::Json),
                    (None, Some(_)) => Some(ContentKind::Xml),
                    (None, None) => None,
                }
            });
        ClientFormat { kind, accept }
    }

    /// The SOAP version the client speaks, if it speaks SOAP.
    pub(crate) fn soap(&self) -> Option<SoapVersion> {
        self.kind.soap()
    }

    /// The kind a response to this client should have: the request's own kind, or for a
    /// request without a body what `Accept` asks for (plain XML when it says nothing).
    pub(crate) fn reply_kind(&self) -> ContentKind {
        match self.kind {
            ContentKind::Empty | ContentKind::Form | ContentKind::Other => {
                self.accept.unwrap_or(ContentKind::Xml)
            }
            kind => kind,
        }
    }
}

impl Default for ClientFormat {
    fn default() -> Self {
        ClientFormat {
            kind: ContentKind::Empty,
            accept: None,
        }
    }
}

/// Where `needle` (lowercase ASCII) first occurs in `hay`, ignoring ASCII case.
fn find_ignore_case(hay: &str, needle: &str) -> Option<usize> {
    hay.as_bytes()
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderValue;

    #[test]
    fn kinds_ignore_case_and_parameters() {
        let kind = ContentKind::from_content_type;
        assert_eq!(
            kind(Some("Application/SOAP+XML; action=urn:x"), false),
            ContentKind::Soap(SoapVersion::V12)
        );
        assert_eq!(
            kind(Some("TEXT/XML; charset=utf-8"), true),
            ContentKind::Soap(SoapVersion::V11)
        );
        assert_eq!(kind(Some("text/xml"), false), ContentKind::Xml);
        assert_eq!(
            kind(Some("application/problem+JSON"), false),
            ContentKind::Json
        );
        assert_eq!(kind(Some(" text/plain "), false), ContentKind::Text);
        assert_eq!(kind(Some("json"), false), ContentKind::Other);
        assert_eq!(kind(None, false), ContentKind::Other);
    }

    #[test]
    fn accept_picks_the_first_of_json_and_xml() {
        let accept = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::ACCEPT, HeaderValue::from_static(value));
            ClientFormat::of_request(&headers, false, false).accept
        };
        assert_eq!(
            accept("Application/XML, application/json"),
            Some(ContentKind::Xml)
        );
        assert_eq!(
            accept("application/JSON;q=0.9, text/xml"),
            Some(ContentKind::Json)
        );
        assert_eq!(accept("text/html"), None);
    }
}
