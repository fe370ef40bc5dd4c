//! `<prototype>`: the configuration of a prototype (mock) endpoint, which answers without a
//! backend (reference §6; the guide is `docs/prototyping.md`).
//!
//! ```xml
//! <prototype [openapi="openapi/petstore.yaml"]>
//!   <fault every="5" status="503"/>                          <!-- programmed faults first -->
//!   <fault header="X-Mock-Fault" equals="drop" drop="true"/>
//!   <response method="GET" uri-template="/items/{id}" status="200" delay="20">
//!     <header name="X-Item" value="{uri.var.id}"/>
//!     <body media-type="application/json">{"id": "{uri.var.id}"}</body>
//!   </response>
//! </prototype>
//! ```
//!
//! Everything is checked and compiled here, at load: templates are split into literal and
//! variable parts, URI templates are compiled, and the OpenAPI document is read and turned
//! into a table of ready-to-send examples ([`super::openapi`]).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use regex::Regex;

use super::api::parse_methods;
use super::endpoint::{LeafSpec, Target};
use super::openapi::{self, OpenApiMock};
use super::{Ctx, Element, values};
use crate::base::uri_template::UriTemplate;

/// What a prototype endpoint answers with.
#[derive(Debug, Clone, PartialEq)]
pub struct PrototypeSpec {
    /// Programmed faults, checked in order before any response.
    pub(crate) faults: Vec<FaultRule>,
    /// Inline responses; the first whose method and path match answers.
    pub(crate) responses: Vec<MockResponse>,
    /// Responses generated from an OpenAPI document, used when no inline response matches.
    pub(crate) openapi: Option<Arc<OpenApiMock>>,
}

/// One inline `<response>`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MockResponse {
    /// Methods it answers; empty means every method.
    pub(crate) methods: Vec<Method>,
    /// The path (after the API context) it answers; `None` means every path.
    pub(crate) path: Option<PathPattern>,
    /// The status.
    pub(crate) status: StatusCode,
    /// Headers, with templated values.
    pub(crate) headers: Vec<(HeaderName, Template)>,
    /// The body, if any.
    pub(crate) body: Option<MockBody>,
    /// How long to wait before answering.
    pub(crate) delay: Duration,
}

/// A templated body and its media type.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MockBody {
    /// The `Content-Type`.
    pub(crate) media_type: HeaderValue,
    /// The text, with `{uri.var.*}`, `{query.param.*}` and `{header.*}` placeholders.
    pub(crate) template: Template,
}

/// A programmed `<fault>`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FaultRule {
    /// Which calls it hits.
    pub(crate) when: FaultWhen,
    /// How long to wait first.
    pub(crate) delay: Duration,
    /// What happens after the delay.
    pub(crate) action: FaultAction,
}

/// Which calls a fault hits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FaultWhen {
    /// Every `n`th call of the endpoint (calls `n`, `2n`, ...).
    Every(u32),
    /// Requests carrying this header (with this value, when given).
    Header {
        /// The header.
        name: HeaderName,
        /// The exact value required, if any.
        equals: Option<String>,
    },
    /// Requests carrying this query parameter (with this value, when given).
    Query {
        /// The parameter name.
        name: String,
        /// The exact (decoded) value required, if any.
        equals: Option<String>,
    },
}

/// What a fault does.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum FaultAction {
    /// Only the delay: then the normal answer.
    Delay,
    /// Answer with this status (and these headers and body).
    Status {
        /// The status.
        status: StatusCode,
        /// Extra headers.
        headers: Vec<(HeaderName, Template)>,
        /// The body; `None` gives a JSON error body naming the fault.
        body: Option<MockBody>,
    },
    /// Close the client's connection without an answer.
    Drop,
}

/// A text with placeholders, split at load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template {
    /// The parts, in order.
    pub(crate) parts: Vec<Part>,
    /// How values are escaped when they are inserted.
    pub(crate) escape: Escape,
}

/// One part of a [`Template`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Part {
    /// Text copied as is.
    Literal(String),
    /// `{uri.var.NAME}`: a path variable.
    UriVar(String),
    /// `{query.param.NAME}`: a query parameter.
    QueryParam(String),
    /// `{header.NAME}`: a request header.
    Header(HeaderName),
}

/// How inserted values are escaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Escape {
    /// As is (headers, text bodies).
    None,
    /// As the inside of a JSON string.
    Json,
    /// As XML text.
    Xml,
}

/// A compiled path template (Synapse's inbound `uri-template` matcher), compared by source.
#[derive(Debug, Clone)]
pub(crate) struct PathPattern(pub UriTemplate);

// === impl PathPattern ===

impl PartialEq for PathPattern {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

// === impl FaultWhen ===

impl fmt::Display for FaultWhen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FaultWhen::Every(1) => f.write_str("every call"),
            FaultWhen::Every(n) => {
                let suffix = match (n % 10, n % 100) {
                    (_, 11..=13) => "th",
                    (1, _) => "st",
                    (2, _) => "nd",
                    (3, _) => "rd",
                    _ => "th",
                };
                write!(f, "every {n}{suffix} call")
            }
            FaultWhen::Header { name, equals: None } => write!(f, "header {name}"),
            FaultWhen::Header {
                name,
                equals: Some(v),
            } => write!(f, "header {name}: {v}"),
            FaultWhen::Query { name, equals: None } => write!(f, "query parameter {name}"),
            FaultWhen::Query {
                name,
                equals: Some(v),
            } => write!(f, "query parameter {name}={v}"),
        }
    }
}

// === impl PrototypeSpec ===

impl PrototypeSpec {
    /// What the health API shows as the endpoint's address.
    pub(crate) fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(doc) = &self.openapi {
            parts.push(format!("openapi:{}", doc.file));
        }
        if !self.responses.is_empty() {
            parts.push(format!("{} inline response(s)", self.responses.len()));
        }
        if !self.faults.is_empty() {
            parts.push(format!("{} fault(s)", self.faults.len()));
        }
        parts.join(", ")
    }
}

/// A `{header.*}` placeholder whose name is not a valid header name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a valid header name")]
pub(crate) struct InvalidHeaderName(String);

// === impl Template ===

impl Template {
    /// Splits `text` at its `{uri.var.*}`, `{query.param.*}` and `{header.*}` placeholders.
    /// Other braces (JSON bodies are full of them) are kept as text.
    pub(crate) fn parse(text: &str, escape: Escape) -> Result<Template, InvalidHeaderName> {
        static PLACEHOLDER: std::sync::LazyLock<Regex> = std::sync::LazyLock::new(|| {
            Regex::new(r"\{(uri\.var|query\.param|header)\.([A-Za-z0-9._\-]+)\}")
                .expect("the placeholder pattern is a valid regex")
        });
        let mut parts = Vec::new();
        let mut last = 0;
        for caps in PLACEHOLDER.captures_iter(text) {
            let (Some(whole), Some(kind), Some(name)) = (caps.get(0), caps.get(1), caps.get(2))
            else {
                continue;
            };
            if whole.start() > last {
                parts.push(Part::Literal(text[last..whole.start()].to_owned()));
            }
            let name = name.as_str();
            parts.push(match kind.as_str() {
                "uri.var" => Part::UriVar(name.to_owned()),
                "query.param" => Part::QueryParam(name.to_owned()),
                _ => Part::Header(
                    HeaderName::from_bytes(name.as_bytes())
                        .map_err(|_| InvalidHeaderName(name.to_owned()))?,
                ),
            });
            last = whole.end();
        }
        if last < text.len() {
            parts.push(Part::Literal(text[last..].to_owned()));
        }
        Ok(Template { parts, escape })
    }

    /// The text when it has no placeholders.
    pub(crate) fn as_literal(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [] => Some(""),
            [Part::Literal(s)] => Some(s),
            _ => None,
        }
    }
}

// === impl Escape ===

impl Escape {
    /// The escaping for a body of media type `media`.
    pub(crate) fn for_media_type(media: &str) -> Escape {
        let base = media
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if base.ends_with("json") {
            Escape::Json
        } else if base.ends_with("xml") {
            Escape::Xml
        } else {
            Escape::None
        }
    }
}

/// Parses `<prototype>` into a leaf whose target is the mock.
pub(crate) fn parse(el: &Element, ctx: &mut Ctx<'_>) -> Option<LeafSpec> {
    ctx.check_attrs(el, &["openapi"]);
    ctx.no_text(el);
    let mut ok = true;
    let openapi = match el.attr("openapi") {
        None => None,
        Some(a) if a.value.trim().is_empty() => {
            ctx.error(
                &a.loc,
                "attribute `openapi` of <prototype> must not be empty",
            );
            ok = false;
            None
        }
        Some(a) => {
            let doc = openapi::load(a.value.trim(), &a.loc, ctx);
            ok &= doc.is_some();
            doc.map(Arc::new)
        }
    };
    let mut faults = Vec::new();
    let mut responses = Vec::new();
    for child in ctx.synapse_children(el, &mut ok) {
        match child.local_name() {
            "fault" => match parse_fault(child, ctx) {
                Some(f) => faults.push(f),
                None => ok = false,
            },
            "response" => match parse_response(child, ctx) {
                Some(r) => responses.push(r),
                None => ok = false,
            },
            "description" => {}
            _ => {
                ctx.unknown_child(el, child);
                ok = false;
            }
        }
    }
    if ok && responses.is_empty() && openapi.is_none() {
        ctx.error(
            &el.loc,
            "<prototype> needs an `openapi` document or at least one <response>",
        );
        ok = false;
    }
    ok.then(|| {
        LeafSpec::plain(Target::Prototype(Arc::new(PrototypeSpec {
            faults,
            responses,
            openapi,
        })))
    })
}

fn parse_response(el: &Element, ctx: &mut Ctx<'_>) -> Option<MockResponse> {
    ctx.check_attrs(el, &["method", "uri-template", "status", "delay"]);
    let mut ok = true;
    let methods = match el.attr("method") {
        Some(a) => parse_methods(a, ctx).unwrap_or_else(|| {
            ok = false;
            Vec::new()
        }),
        None => Vec::new(),
    };
    let path = match el.attr("uri-template") {
        None => None,
        Some(a) => match UriTemplate::parse(a.value.trim()) {
            Ok(t) => Some(PathPattern(t)),
            Err(error) => {
                ctx.error(&a.loc, format!("invalid uri-template: {error}"));
                ok = false;
                None
            }
        },
    };
    let status = match el.attr("status") {
        None => Some(StatusCode::OK),
        Some(a) => status(&a.value, &a.loc, ctx),
    };
    let delay = delay(el, ctx);
    let (headers, body) = parse_content(el, ctx);
    let status = status?;
    if let Some(Some(_)) = &body
        && !allows_body(status)
    {
        ctx.error(
            &el.loc,
            format!("a {} response has no body", status.as_u16()),
        );
        ok = false;
    }
    (ok && delay.is_some()).then_some(())?;
    Some(MockResponse {
        methods,
        path,
        status,
        headers: headers?,
        body: body?,
        delay: delay?,
    })
}

fn parse_fault(el: &Element, ctx: &mut Ctx<'_>) -> Option<FaultRule> {
    ctx.check_attrs(
        el,
        &[
            "every", "header", "query", "equals", "status", "delay", "drop",
        ],
    );
    let (when, ok) = parse_fault_when(el, ctx);
    let delay = delay(el, ctx);
    let drop = match el.attr("drop") {
        None => Some(false),
        Some(a) => values::boolean(&a.value, &a.loc, "drop", ctx.diags),
    };
    let status = el.attr("status").map(|a| status(&a.value, &a.loc, ctx));
    let (headers, body) = parse_content(el, ctx);
    let (drop, delay, headers, body) = (drop?, delay?, headers?, body?);
    let action = fault_action(el, status, drop, delay, headers, body, ctx)?;
    ok.then_some(FaultRule {
        when: when?,
        delay,
        action,
    })
}

/// The selector of a `<fault>` (`every`, `header` or `query`, with `equals`), and whether
/// its attributes were consistent.
fn parse_fault_when(el: &Element, ctx: &mut Ctx<'_>) -> (Option<FaultWhen>, bool) {
    let mut ok = true;
    let selectors: Vec<&str> = ["every", "header", "query"]
        .into_iter()
        .filter(|a| el.attr(a).is_some())
        .collect();
    if selectors.len() != 1 {
        ctx.error(
            &el.loc,
            "a <fault> needs exactly one of `every`, `header` or `query`",
        );
        ok = false;
    }
    let equals = el.attr_value("equals").map(str::to_owned);
    if equals.is_some() && el.attr("every").is_some() {
        ctx.error(
            &el.loc,
            "`equals` goes with `header` or `query`, not `every`",
        );
        ok = false;
    }
    let when = if let Some(a) = el.attr("every") {
        match values::count(&a.value, &a.loc, "every", ctx.diags) {
            Some(0) => {
                ctx.error(&a.loc, "`every` must be at least 1");
                None
            }
            Some(n) => Some(FaultWhen::Every(n)),
            None => None,
        }
    } else if let Some(a) = el.attr("header") {
        match HeaderName::from_bytes(a.value.trim().as_bytes()) {
            Ok(name) => Some(FaultWhen::Header { name, equals }),
            Err(_) => {
                ctx.error(
                    &a.loc,
                    format!("`{}` is not a valid header name", a.value.trim()),
                );
                None
            }
        }
    } else {
        el.attr("query").map(|a| FaultWhen::Query {
            name: a.value.trim().to_owned(),
            equals,
        })
    };
    (when, ok)
}

/// What a `<fault>` does: answer a status, drop the connection, or only delay.
fn fault_action(
    el: &Element,
    status: Option<Option<StatusCode>>,
    drop: bool,
    delay: Duration,
    headers: Vec<(HeaderName, Template)>,
    body: Option<MockBody>,
    ctx: &mut Ctx<'_>,
) -> Option<FaultAction> {
    Some(match (status, drop) {
        (Some(_), true) => {
            ctx.error(
                &el.loc,
                "a <fault> either answers a `status` or drops, not both",
            );
            return None;
        }
        (Some(status), false) => {
            let status = status?;
            if body.is_some() && !allows_body(status) {
                ctx.error(
                    &el.loc,
                    format!("a {} response has no body", status.as_u16()),
                );
                return None;
            }
            FaultAction::Status {
                status,
                headers,
                body,
            }
        }
        (None, drop) => {
            if !headers.is_empty() || body.is_some() {
                ctx.error(
                    &el.loc,
                    "<header> and <body> in a <fault> need a `status` to answer with",
                );
                return None;
            }
            if drop {
                FaultAction::Drop
            } else if delay.is_zero() {
                ctx.error(
                    &el.loc,
                    "a <fault> needs a `status`, `drop=\"true\"` or a `delay`",
                );
                return None;
            } else {
                FaultAction::Delay
            }
        }
    })
}

/// The `<header>` and `<body>` children of a `<response>` or `<fault>`.
#[allow(clippy::type_complexity)]
fn parse_content(
    el: &Element,
    ctx: &mut Ctx<'_>,
) -> (
    Option<Vec<(HeaderName, Template)>>,
    Option<Option<MockBody>>,
) {
    ctx.no_text(el);
    let mut ok = true;
    let mut headers = Vec::new();
    let mut body = None;
    for child in ctx.synapse_children(el, &mut ok) {
        match child.local_name() {
            "header" => match parse_header(child, ctx) {
                Some(h) => headers.push(h),
                None => ok = false,
            },
            "body" if body.is_none() => match parse_mock_body(child, ctx) {
                Some(b) => body = Some(b),
                None => ok = false,
            },
            "body" => {
                ctx.error(
                    &child.loc,
                    format!("<{}> takes one <body>", el.local_name()),
                );
                ok = false;
            }
            "description" => {}
            _ => {
                ctx.unknown_child(el, child);
                ok = false;
            }
        }
    }
    if ok {
        (Some(headers), Some(body))
    } else {
        (None, None)
    }
}

/// One `<header name value>` of a mock answer; `None` after reporting a problem.
fn parse_header(child: &Element, ctx: &mut Ctx<'_>) -> Option<(HeaderName, Template)> {
    ctx.check_attrs(child, &["name", "value"]);
    ctx.no_children(child);
    let (Some(name), Some(value)) = (
        ctx.required_attr(child, "name"),
        child.attr("value").or_else(|| {
            ctx.error(&child.loc, "<header> needs a `value`");
            None
        }),
    ) else {
        return None;
    };
    let Ok(header) = HeaderName::from_bytes(name.value.trim().as_bytes()) else {
        ctx.error(
            &name.loc,
            format!("`{}` is not a valid header name", name.value.trim()),
        );
        return None;
    };
    match Template::parse(&value.value, Escape::None) {
        Ok(t) if literals_are_header_safe(&t) => Some((header, t)),
        Ok(_) => {
            ctx.error(
                &value.loc,
                "the header value has characters not allowed in HTTP headers",
            );
            None
        }
        Err(error) => {
            ctx.error(&value.loc, error.to_string());
            None
        }
    }
}

/// The `<body media-type>` of a mock answer; `None` after reporting a problem.
fn parse_mock_body(child: &Element, ctx: &mut Ctx<'_>) -> Option<MockBody> {
    ctx.check_attrs(child, &["media-type"]);
    ctx.no_elements(child);
    let media = child
        .attr_value("media-type")
        .map(str::trim)
        .unwrap_or("application/json");
    let Ok(media_type) = HeaderValue::from_str(media) else {
        ctx.error(&child.loc, format!("`{media}` is not a valid media type"));
        return None;
    };
    match Template::parse(&child.text(), Escape::for_media_type(media)) {
        Ok(template) => Some(MockBody {
            media_type,
            template,
        }),
        Err(error) => {
            ctx.error(&child.loc, error.to_string());
            None
        }
    }
}

fn literals_are_header_safe(t: &Template) -> bool {
    t.parts.iter().all(|p| match p {
        Part::Literal(s) => HeaderValue::from_str(s).is_ok(),
        _ => true,
    })
}

fn status(text: &str, loc: &super::Loc, ctx: &mut Ctx<'_>) -> Option<StatusCode> {
    match text.trim().parse::<u16>() {
        Ok(n) if (200..=599).contains(&n) => StatusCode::from_u16(n).ok(),
        _ => {
            ctx.error(
                loc,
                format!(
                    "`status` must be an HTTP status from 200 to 599, found `{}`",
                    text.trim()
                ),
            );
            None
        }
    }
}

fn delay(el: &Element, ctx: &mut Ctx<'_>) -> Option<Duration> {
    match el.attr("delay") {
        None => Some(Duration::ZERO),
        Some(a) => values::millis(&a.value, &a.loc, "delay", ctx.diags),
    }
}

fn allows_body(status: StatusCode) -> bool {
    !matches!(status.as_u16(), 204 | 205 | 304)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_keep_json_braces_and_split_placeholders() {
        let t = Template::parse(
            r#"{"id": "{uri.var.id}", "q": "{query.param.q}", "rid": "{header.X-Request-Id}", "x": {"y": "{other}"}}"#,
            Escape::Json,
        )
        .unwrap();
        assert_eq!(
            t.parts,
            vec![
                Part::Literal(r#"{"id": ""#.into()),
                Part::UriVar("id".into()),
                Part::Literal(r#"", "q": ""#.into()),
                Part::QueryParam("q".into()),
                Part::Literal(r#"", "rid": ""#.into()),
                Part::Header(HeaderName::from_static("x-request-id")),
                Part::Literal(r#"", "x": {"y": "{other}"}}"#.into()),
            ]
        );
        assert_eq!(
            Template::parse("plain", Escape::None).unwrap().as_literal(),
            Some("plain")
        );
        assert_eq!(
            Template::parse("", Escape::None).unwrap().as_literal(),
            Some("")
        );
    }

    #[test]
    fn escaping_follows_the_media_type() {
        assert_eq!(Escape::for_media_type("application/json"), Escape::Json);
        assert_eq!(
            Escape::for_media_type("application/problem+json; charset=utf-8"),
            Escape::Json
        );
        assert_eq!(Escape::for_media_type("text/xml"), Escape::Xml);
        assert_eq!(Escape::for_media_type("text/plain"), Escape::None);
    }

    #[test]
    fn fault_rules_describe_themselves() {
        assert_eq!(FaultWhen::Every(3).to_string(), "every 3rd call");
        assert_eq!(FaultWhen::Every(12).to_string(), "every 12th call");
        assert_eq!(FaultWhen::Every(22).to_string(), "every 22nd call");
        assert_eq!(FaultWhen::Every(1).to_string(), "every call");
        let h = FaultWhen::Header {
            name: HeaderName::from_static("x-fault"),
            equals: Some("drop".into()),
        };
        assert_eq!(h.to_string(), "header x-fault: drop");
    }
}
