//! Choosing an OpenAPI example for a request: the `Prefer` and `Accept` rules of Choreo
//! Connect's mock implementation (reference §6), as plain functions.
//!
//! 1. `Prefer: code=NNN, example=name` (RFC 7240 syntax; other preferences are ignored). A
//!    code that is not three digits naming an HTTP status is a bad request (400, 900870).
//! 2. With a preferred code: the response `NNN`, else `NNx`, else `Nxx`; none is 501
//!    (900871). The status is the preferred code.
//! 3. Without: the `default` response, with status 200, when there is one; else the first
//!    response in document order, with its code (each `x` read as `0`).
//! 4. Media type: without `Accept`, `application/json` when the response has it, else its
//!    first. With `Accept`, the first media type of the response (in document order) that
//!    matches any of its ranges (`*/*` and `type/*` wildcards; q-values are ignored). No
//!    match is 501.
//! 5. `example=name` picks that example (names compared ignoring case); a missing one is
//!    501. Otherwise the first example, or no body when there is none.
//! 6. The response's example headers are sent. An operation whose responses declare
//!    content but carry no example at all is 501.

use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderName, HeaderValue};
use bytes::Bytes;

use crate::config::{MockedResponse, Operation};

/// Error code of a malformed `Prefer` (Choreo Connect's).
pub(crate) const BAD_PREFERENCE: u32 = 900_870;
/// Error code of a request no example fits (Choreo Connect's).
pub(crate) const NOT_IMPLEMENTED: u32 = 900_871;

/// What the client asked for in `Prefer`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Preference {
    /// `code=`, as written.
    pub(crate) code: Option<String>,
    /// `example=`, as written (quotes removed).
    pub(crate) example: Option<String>,
}

/// Why no example could be chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MockError {
    /// The preference is malformed: 400, code 900870.
    BadPreference(String),
    /// No example fits the request: 501, code 900871.
    NotImplemented(String),
}

/// The chosen answer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Choice<'a> {
    /// The status to answer with.
    pub(crate) status: StatusCode,
    /// The `Content-Type`, when there is a body.
    pub(crate) media_type: Option<String>,
    /// The body.
    pub(crate) body: Option<&'a Bytes>,
    /// Example headers of the response.
    pub(crate) headers: &'a [(HeaderName, HeaderValue)],
    /// What was applied, for `Preference-Applied`.
    pub(crate) applied: Vec<String>,
}

// === impl MockError ===

impl MockError {
    /// The HTTP status, error code and message of the error answer.
    pub(crate) fn status_code_message(&self) -> (StatusCode, u32, &'static str, &str) {
        match self {
            MockError::BadPreference(detail) => (
                StatusCode::BAD_REQUEST,
                BAD_PREFERENCE,
                "Bad Request",
                detail,
            ),
            MockError::NotImplemented(detail) => (
                StatusCode::NOT_IMPLEMENTED,
                NOT_IMPLEMENTED,
                "Not Implemented",
                detail,
            ),
        }
    }
}

/// Reads the `Prefer` header values. The first occurrence of a preference wins (RFC 7240).
pub(crate) fn parse_prefer<'h>(values: impl IntoIterator<Item = &'h str>) -> Preference {
    let mut out = Preference::default();
    for value in values {
        for token in value.split([',', ';']) {
            let Some((key, raw)) = token.split_once('=') else {
                continue;
            };
            let val = raw.trim().trim_matches('"').to_owned();
            match key.trim().to_ascii_lowercase().as_str() {
                "code" if out.code.is_none() => out.code = Some(val),
                "example" if out.example.is_none() => out.example = Some(val),
                _ => {}
            }
        }
    }
    out
}

/// Chooses the answer of `op` (of path `template`) for a request with preference `prefer`
/// and `Accept` header `accept` (the reference's algorithm, module docs).
///
/// # Errors
/// [`MockError`] when the preference is malformed or no example fits.
pub(crate) fn choose<'a>(
    op: &'a Operation,
    template: &str,
    prefer: &Preference,
    accept: Option<&str>,
) -> Result<Choice<'a>, MockError> {
    let mut applied = Vec::new();
    let preferred = preferred_code(prefer)?;
    check_mockable(op, template)?;
    let (response, status) = preferred_response(op, preferred, &mut applied)?;
    if status.is_informational() {
        return Err(MockError::NotImplemented(format!(
            "an informational status ({}) cannot be a mock answer",
            status.as_u16()
        )));
    }
    let (media_type, examples) = media(response, accept)?;
    let body = preferred_example(prefer, examples, &mut applied)?;
    Ok(Choice {
        status,
        media_type,
        body,
        headers: &response.headers,
        applied,
    })
}

/// The `code=` preference and its status (step 1).
fn preferred_code(prefer: &Preference) -> Result<Option<(&str, StatusCode)>, MockError> {
    let Some(code) = prefer.code.as_deref() else {
        return Ok(None);
    };
    let status = (code.len() == 3 && code.bytes().all(|b| b.is_ascii_digit()))
        .then(|| code.parse::<u16>().ok())
        .flatten()
        .filter(|n| (100..=599).contains(n))
        .and_then(|n| StatusCode::from_u16(n).ok());
    match status {
        Some(s) => Ok(Some((code, s))),
        None => Err(MockError::BadPreference(format!(
            "Invalid format for code preference `{code}`: expected a three-digit HTTP status"
        ))),
    }
}

/// Whether `op` (of path `template`) has anything to answer with (step 6).
fn check_mockable(op: &Operation, template: &str) -> Result<(), MockError> {
    let what = || format!("{} {template}", op.method);
    if op.responses.is_empty() {
        return Err(MockError::NotImplemented(format!(
            "{} has no responses in the OpenAPI document",
            what()
        )));
    }
    let has_examples = op
        .responses
        .iter()
        .any(|r| !r.headers.is_empty() || r.content.iter().any(|c| !c.examples.is_empty()));
    let declares_content = op.responses.iter().any(|r| !r.content.is_empty());
    if !has_examples && declares_content {
        return Err(MockError::NotImplemented(format!(
            "{} has no examples in the OpenAPI document",
            what()
        )));
    }
    Ok(())
}

/// The response for the `preferred` code and the status to answer with (steps 2 and 3);
/// an applied preference is added to `applied`. `op` has at least one response.
fn preferred_response<'a>(
    op: &'a Operation,
    preferred: Option<(&str, StatusCode)>,
    applied: &mut Vec<String>,
) -> Result<(&'a MockedResponse, StatusCode), MockError> {
    let Some((code, status)) = preferred else {
        return Ok(match op.responses.iter().find(|r| r.key == "default") {
            Some(r) => (r, StatusCode::OK),
            None => (&op.responses[0], status_of(&op.responses[0].key)),
        });
    };
    let find = |key: &str| op.responses.iter().find(|r| r.key == key);
    let found = find(code)
        .or_else(|| find(&format!("{}x", &code[..2])))
        .or_else(|| find(&format!("{}xx", &code[..1])));
    let Some(r) = found else {
        return Err(MockError::NotImplemented(format!(
            "Preferred code {code} is not supported for this resource"
        )));
    };
    applied.push(format!("code={code}"));
    Ok((r, status))
}

/// The body: the `example=` preference among `examples`, or the first (step 5); an
/// applied preference is added to `applied`.
fn preferred_example<'a>(
    prefer: &Preference,
    examples: Option<&'a Examples>,
    applied: &mut Vec<String>,
) -> Result<Option<&'a Bytes>, MockError> {
    Ok(match (prefer.example.as_deref(), examples) {
        (Some(name), Some(examples)) if !name.is_empty() => {
            let Some((_, body)) = examples.iter().find(|(n, _)| n.eq_ignore_ascii_case(name))
            else {
                return Err(MockError::NotImplemented(format!(
                    "Example preference {name} is not supported for this resource"
                )));
            };
            applied.push(format!("example={name}"));
            Some(body)
        }
        (Some(name), None) if !name.is_empty() => {
            return Err(MockError::NotImplemented(format!(
                "Example preference {name} is not supported for this resource"
            )));
        }
        (_, examples) => examples.and_then(|list| list.first()).map(|(_, body)| body),
    })
}

type Examples = [(String, Bytes)];

/// The status of a response key, each `x` read as `0`.
fn status_of(key: &str) -> StatusCode {
    key.replace('x', "0")
        .parse::<u16>()
        .ok()
        .and_then(|n| StatusCode::from_u16(n).ok())
        .unwrap_or(StatusCode::OK)
}

/// The media type and its examples; `(None, None)` for a response without content.
fn media<'a>(
    response: &'a MockedResponse,
    accept: Option<&str>,
) -> Result<(Option<String>, Option<&'a Examples>), MockError> {
    if response.content.is_empty() {
        return Ok((None, None));
    }
    let ranges = accept.filter(|a| !a.trim().is_empty()).map(accept_ranges);
    let Some(ranges) = ranges else {
        let chosen = response
            .content
            .iter()
            .find(|c| base(&c.media_type) == "application/json")
            .unwrap_or(&response.content[0]);
        return Ok((concrete(&chosen.media_type, None), Some(&chosen.examples)));
    };
    for c in &response.content {
        let media_type = base(&c.media_type);
        if let Some(range) = ranges.iter().find(|r| media_matches(r, &media_type)) {
            return Ok((concrete(&c.media_type, Some(range)), Some(&c.examples)));
        }
    }
    Err(MockError::NotImplemented(format!(
        "Accept type {} is not supported for this resource",
        accept.unwrap_or_default()
    )))
}

/// The media ranges of an `Accept` header, as written (parameters, q-values included, are
/// ignored, as in Choreo Connect).
fn accept_ranges(accept: &str) -> Vec<String> {
    accept
        .split(',')
        .map(|entry| {
            entry
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .filter(|range| !range.is_empty())
        .collect()
}

fn base(media_type: &str) -> String {
    media_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// True when the two media ranges overlap (either side may hold `*`).
fn media_matches(a: &str, b: &str) -> bool {
    let split = |m: &str| -> (String, String) {
        match m.split_once('/') {
            Some((t, s)) => (t.to_owned(), s.to_owned()),
            None if m == "*" => ("*".to_owned(), "*".to_owned()),
            None => (m.to_owned(), String::new()),
        }
    };
    let ((at, asub), (bt, bsub)) = (split(a), split(b));
    let part = |x: &str, y: &str| x == "*" || y == "*" || x == y;
    part(&at, &bt) && part(&asub, &bsub)
}

/// The `Content-Type` to send: the configured type, or the client's when ours is a range.
fn concrete(configured: &str, accepted: Option<&str>) -> Option<String> {
    if !configured.contains('*') {
        return Some(configured.to_owned());
    }
    accepted.filter(|a| !a.contains('*')).map(str::to_owned)
}

#[cfg(test)]
mod tests;
