//! Correlation and the access log: the message id taken from a client's `X-Request-ID`
//! (when it is short and plain enough to log and forward), and the one access-log line per
//! exchange with the fields the operator chose (`--access-log`).

use actix_web::http::header::{HeaderMap, HeaderName};

use crate::base::limits::AccessLog;
use crate::message::MessageId;

/// The header a client (or a proxy in front of Axon) names its request with; Axon sends it
/// to backends and back to the client.
pub(crate) const REQUEST_ID_HEADER: &str = "x-request-id";

/// [`REQUEST_ID_HEADER`] as a header name: looking a header up by `&str` parses the name
/// and, for a custom one, allocates it on every request.
pub(crate) const REQUEST_ID: HeaderName = HeaderName::from_static(REQUEST_ID_HEADER);

/// The longest `X-Request-ID` taken as the message id.
const MAX_REQUEST_ID: usize = 128;

/// The exchange's message id: the client's `X-Request-ID` when it is 1 to 128 characters
/// of letters, digits and `-._:/+=@~`, else a fresh one.
pub(crate) fn message_id(headers: &HeaderMap) -> MessageId {
    headers
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|id| acceptable(id))
        .map_or_else(MessageId::next, MessageId::given)
}

/// True for an id safe to log, forward and echo: bounded, no spaces, quotes or controls.
fn acceptable(id: &str) -> bool {
    (1..=MAX_REQUEST_ID).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._:/+=@~".contains(&b))
}

/// One answered exchange, for the access log.
#[derive(Debug)]
pub(crate) struct AccessLine<'a> {
    pub(crate) client: Option<std::net::SocketAddr>,
    pub(crate) method: &'a str,
    pub(crate) path: &'a str,
    pub(crate) api: &'a str,
    pub(crate) resource: &'a str,
    pub(crate) status: u16,
    pub(crate) bytes_in: Option<u64>,
    pub(crate) bytes_out: Option<u64>,
    pub(crate) latency_ms: f64,
    pub(crate) endpoint: &'a str,
    pub(crate) error_code: Option<&'a str>,
    pub(crate) message_id: &'a str,
}

/// Writes `line` at info level with the fields `fields` selects (an unselected field, or
/// one without a value, is left out of the line).
pub(crate) fn log<'a>(fields: AccessLog, line: &AccessLine<'a>) {
    if fields.is_off() {
        return;
    }
    let on = |field| fields.has(field);
    let text = |field, value: &'a str| (on(field) && !value.is_empty()).then_some(value);
    tracing::info!(
        message_id = text(AccessLog::MESSAGE_ID, line.message_id),
        client = on(AccessLog::CLIENT)
            .then_some(line.client)
            .flatten()
            .map(tracing::field::display),
        method = text(AccessLog::METHOD, line.method),
        path = text(AccessLog::PATH, line.path),
        api = text(AccessLog::API, line.api),
        resource = text(AccessLog::API, line.resource),
        status = on(AccessLog::STATUS).then_some(line.status),
        bytes_in = on(AccessLog::BYTES).then_some(line.bytes_in).flatten(),
        bytes_out = on(AccessLog::BYTES).then_some(line.bytes_out).flatten(),
        latency_ms = on(AccessLog::LATENCY).then_some(line.latency_ms),
        endpoint = text(AccessLog::ENDPOINT, line.endpoint),
        error_code = on(AccessLog::ERROR_CODE)
            .then_some(line.error_code)
            .flatten(),
        "Exchange completed"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderValue;

    fn id_of(value: &str) -> String {
        let mut headers = HeaderMap::new();
        headers.insert(
            actix_web::http::header::HeaderName::from_static(REQUEST_ID_HEADER),
            HeaderValue::from_str(value).expect("a header value"),
        );
        message_id(&headers).to_string()
    }

    #[test]
    fn a_plain_request_id_becomes_the_message_id() {
        assert_eq!(id_of("req-42.a:b/c+d=e@f~g_h"), "req-42.a:b/c+d=e@f~g_h");
    }

    #[test]
    fn an_unsafe_or_long_request_id_is_replaced() {
        for hostile in ["a b", "a\"b", "<script>", "", &"x".repeat(129)] {
            let id = id_of(hostile);
            assert!(id.starts_with("urn:uuid:"), "{hostile:?} gave {id}");
        }
        assert_eq!(id_of(&"x".repeat(128)).len(), 128);
    }
}
