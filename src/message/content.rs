//! What kind of content a message carries (SOAP 1.1/1.2, XML, JSON, ...), and what the
//! client that sent a request speaks, so that its answer can be given in kind.

use actix_web::http::header::{self, HeaderMap};

use super::soap::{self, SoapVersion};

/// The kind of a message's content, from its `Content-Type` (and, for a body already in
/// memory, its first element).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentKind {
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
pub struct ClientFormat {
    /// The kind of the request the client sent.
    pub kind: ContentKind,
    /// For a request without a body: the kind its `Accept` asks for (JSON or XML).
    pub accept: Option<ContentKind>,
}

// === impl ContentKind ===

impl ContentKind {
    /// The kind announced by `content_type`. `text/xml` is SOAP 1.1 only when `soap_action`
    /// (the request carried a `SOAPAction` header, or it reached a proxy service);
    /// otherwise it is plain XML.
    pub fn from_content_type(content_type: Option<&str>, soap_action: bool) -> ContentKind {
        let Some(ct) = content_type else {
            return ContentKind::Other;
        };
        let media = soap::media_type(ct);
        match media.as_str() {
            "application/soap+xml" => ContentKind::Soap(SoapVersion::V12),
            "text/xml" if soap_action => ContentKind::Soap(SoapVersion::V11),
            "text/plain" => ContentKind::Text,
            "application/x-www-form-urlencoded" => ContentKind::Form,
            m if m.ends_with("/json") || m.ends_with("+json") => ContentKind::Json,
            m if m.ends_with("/xml") || m.ends_with("+xml") => ContentKind::Xml,
            _ => ContentKind::Other,
        }
    }

    /// The SOAP version, for a SOAP kind.
    pub fn soap(self) -> Option<SoapVersion> {
        match self {
            ContentKind::Soap(v) => Some(v),
            _ => None,
        }
    }

    /// True for SOAP and plain XML.
    pub fn is_xml(self) -> bool {
        matches!(self, ContentKind::Soap(_) | ContentKind::Xml)
    }
}

// === impl ClientFormat ===

impl ClientFormat {
    /// What a request with these headers speaks. `soap_service` is true for requests to
    /// proxy services, where `text/xml` always means SOAP 1.1 (as in Axis2).
    pub fn of_request(headers: &HeaderMap, has_body: bool, soap_service: bool) -> ClientFormat {
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
                let a = a.to_ascii_lowercase();
                let json = a.find("json");
                let xml = a.find("xml");
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
    pub fn soap(&self) -> Option<SoapVersion> {
        self.kind.soap()
    }

    /// The kind a response to this client should have: the request's own kind, or for a
    /// request without a body what `Accept` asks for (plain XML when it says nothing).
    pub fn reply_kind(&self) -> ContentKind {
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
