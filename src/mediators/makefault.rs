//! `<makefault>`: replace the message with a SOAP fault (or a POX `<Exception>`)
//! (reference §4.4).
//!
//! ```xml
//! <makefault [version="soap11|soap12|pox"] [response="true|false"]>
//!   <code value="soapenv:Server" | expression="..."/> <reason value="..." | expression="..."/>
//!   <node>uri</node>? <role>uri</role>? <detail [expression="..."]>text or XML</detail>?
//! </makefault>
//! ```
//!
//! Expressions are evaluated per message: a code's local name must be a standard code; a
//! detail expression that selects elements inserts them, otherwise their text.
//!
//! The code is checked at load against the version (as WSO2 Synapse does). Without
//! `version`, the fault takes the SOAP version of the client (1.1 for clients that do not
//! speak SOAP) and a code of either version is translated (`Server` ↔ `Receiver`,
//! `Client` ↔ `Sender`). The fault is not sent: `respond` (or `send` after
//! `response="true"`) does that, with HTTP 500 unless `HTTP_SC` is set or
//! `FAULTS_AS_HTTP_200` (axis2) is `true`.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use bytes::Bytes;

use super::expressions;
use super::{Env, Mediator, Step};
use crate::base::mediation::MediationError;
use crate::base::xml::{escape_text, escape_text_into};
use crate::config::{Attr, Ctx, Element, values};
use crate::expr::{Evaluated, Expression};
use crate::message::soap::{self, Envelope, Fault, FaultCode, SoapVersion};
use crate::message::{Body, MessageContext, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    Soap(SoapVersion),
    Pox,
    /// The client's SOAP version.
    Client,
}

/// A part of the fault: written in the configuration, or computed per message.
#[derive(Debug)]
enum Part<T> {
    Fixed(T),
    Expr(Expression),
}

#[derive(Debug)]
struct MakeFault {
    version: Version,
    code: Part<FaultCode>,
    reason: Part<String>,
    node: Option<String>,
    role: Option<String>,
    /// The detail as XML content (text escaped).
    detail: Option<Part<String>>,
    response: bool,
}

/// Parses `<makefault>`.
pub(super) fn parse(el: &Element, ctx: &mut Ctx<'_>) -> Option<Box<dyn Mediator>> {
    ctx.check_attrs(el, &["version", "response", "description"]);
    ctx.no_text(el);
    let version = parse_version(el, ctx)?;
    let response = match el.attr("response") {
        Some(a) => values::boolean(&a.value, &a.loc, "response", ctx.diags)?,
        None => true,
    };
    let mut ok = true;
    let mut code = None;
    let mut reason = None;
    let mut node = None;
    let mut role = None;
    let mut detail = None;
    for child in ctx.synapse_children(el, &mut ok) {
        match child.local_name() {
            "code" => {
                code = parse_part(child, &mut ok, ctx, |a, ctx| {
                    check_code(a.value.trim(), version, &a.loc, ctx)
                });
            }
            "reason" => reason = parse_part(child, &mut ok, ctx, |a, _| Some(a.value.clone())),
            "node" | "role" => {
                ctx.check_attrs(child, &[]);
                ctx.no_elements(child);
                let text = child.text();
                if child.local_name() == "node" {
                    node = Some(text);
                } else {
                    role = Some(text);
                }
            }
            "detail" => detail = parse_detail(child, &mut ok, ctx),
            _ => {
                ctx.unknown_child(el, child);
                ok = false;
            }
        }
    }
    if version != Version::Pox && ok {
        if code.is_none() {
            ctx.error(&el.loc, "<makefault> needs a <code>");
            ok = false;
        }
        if reason.is_none() {
            ctx.error(&el.loc, "<makefault> needs a <reason>");
            ok = false;
        }
    }
    if !ok {
        return None;
    }
    Some(Box::new(MakeFault {
        version,
        code: code.unwrap_or(Part::Fixed(FaultCode::Receiver)),
        reason: reason.unwrap_or(Part::Fixed(String::new())),
        node,
        role,
        detail,
        response,
    }))
}

/// `version`: soap11, soap12, pox, or (absent) the client's.
fn parse_version(el: &Element, ctx: &mut Ctx<'_>) -> Option<Version> {
    values::keyword(
        el,
        "version",
        Version::Client,
        &[
            ("soap11", Version::Soap(SoapVersion::V11)),
            ("soap12", Version::Soap(SoapVersion::V12)),
            ("pox", Version::Pox),
        ],
        ("makefault version", "soap11, soap12 or pox"),
        ctx.diags,
    )
}

/// A `<code>` or `<reason>`: its `expression`, or its `value` read by `fixed`. A part
/// that is missing or invalid clears `ok`.
fn parse_part<T>(
    child: &Element,
    ok: &mut bool,
    ctx: &mut Ctx<'_>,
    fixed: impl FnOnce(&Attr, &mut Ctx<'_>) -> Option<T>,
) -> Option<Part<T>> {
    ctx.check_attrs(child, &["value", "expression"]);
    ctx.no_children(child);
    let part = if let Some(a) = child.attr("expression") {
        expressions::expression(a, child, ctx.diags).map(Part::Expr)
    } else if let Some(a) = ctx.required_attr(child, "value") {
        fixed(a, ctx).map(Part::Fixed)
    } else {
        None
    };
    *ok &= part.is_some();
    part
}

/// A `<detail>`: its `expression`, or its content as XML (text escaped).
fn parse_detail(child: &Element, ok: &mut bool, ctx: &mut Ctx<'_>) -> Option<Part<String>> {
    ctx.check_attrs(child, &["expression"]);
    if let Some(a) = child.attr("expression") {
        ctx.no_children(child);
        let detail = expressions::expression(a, child, ctx.diags).map(Part::Expr);
        *ok &= detail.is_some();
        return detail;
    }
    let mut xml = String::new();
    for n in &child.children {
        match n {
            crate::base::xml::Node::Element(inner) => xml.push_str(&inner.to_xml()),
            crate::base::xml::Node::Text(t) => escape_text_into(t, &mut xml),
        }
    }
    Some(Part::Fixed(xml.trim().to_owned()))
}

/// Checks `prefix:Local` against the standard codes of the fault's version.
fn check_code(
    value: &str,
    version: Version,
    loc: &crate::config::Loc,
    ctx: &mut Ctx<'_>,
) -> Option<FaultCode> {
    let local = value.rsplit(':').next().unwrap_or(value);
    let Some((code, belongs)) = FaultCode::from_local_name(local) else {
        ctx.error(
            loc,
            format!(
                "makefault code `{value}` is not a standard SOAP fault code (SOAP 1.1: VersionMismatch, MustUnderstand, Client, Server; SOAP 1.2: VersionMismatch, MustUnderstand, DataEncodingUnknown, Sender, Receiver)"
            ),
        );
        return None;
    };
    if let (Version::Soap(v), Some(b)) = (version, belongs)
        && v != b
    {
        ctx.error(
            loc,
            format!(
                "makefault code `{value}` is a {} code but the fault is {} (use `{}`, or set version=\"{}\")",
                b.label(),
                v.label(),
                code.local_name(v),
                if b == SoapVersion::V11 { "soap11" } else { "soap12" }
            ),
        );
        return None;
    }
    Some(code)
}

impl Mediator for MakeFault {
    fn body_use(&self) -> Option<&'static str> {
        fn reads<T>(part: &Part<T>) -> Option<&'static str> {
            match part {
                Part::Expr(expr) => super::reads_payload(expr, "makefault expression"),
                Part::Fixed(_) => None,
            }
        }
        reads(&self.code)
            .or_else(|| reads(&self.reason))
            .or_else(|| self.detail.as_ref().and_then(reads))
    }

    fn mediate<'c>(
        &'c self,
        msg: &mut MessageContext,
        _env: &Env<'c>,
    ) -> Result<Step<'c>, MediationError> {
        // Evaluate first: a payload read restarts this mediator before anything changed.
        let code = match &self.code {
            Part::Fixed(c) => *c,
            Part::Expr(expr) => {
                let text = eval!(expr.string(msg)).unwrap_or_default();
                let local = text.trim().rsplit(':').next().unwrap_or_default();
                FaultCode::from_local_name(local)
                    .map(|(c, _)| c)
                    .ok_or_else(|| {
                        MediationError::Failed(format!(
                            "makefault: `{text}` (from `{expr}`) is not a standard SOAP fault code"
                        ))
                    })?
            }
        };
        let reason = match &self.reason {
            Part::Fixed(r) => r.clone(),
            Part::Expr(expr) => eval!(expr.string(msg)).unwrap_or_default(),
        };
        let detail = match &self.detail {
            None => None,
            Some(Part::Fixed(d)) => Some(d.clone()),
            Some(Part::Expr(expr)) => match eval!(expr.evaluate(msg)) {
                Evaluated::Null => None,
                Evaluated::Xml(x) => Some(x),
                other => Some(escape_text(&other.into_string().unwrap_or_default())),
            },
        };
        let (body, content_type) = self.render(msg, code, reason, detail);
        let content_type = HeaderValue::from_str(&content_type)
            .map_err(|_| MediationError::Failed("invalid content type".into()))?;
        let status = fault_status(msg);
        self.deliver(msg, status, content_type, Body::Full(Bytes::from(body)));
        // The fault is written for the client as it is; nothing converts it back.
        msg.convert_reply = false;
        Ok(Step::Continue)
    }
}

/// `HTTP_SC` when set, else 200 with `FAULTS_AS_HTTP_200`, else 500.
fn fault_status(msg: &MessageContext) -> StatusCode {
    let forced_200 = msg
        .get_axis2("FAULTS_AS_HTTP_200")
        .is_some_and(|v| v.to_string().eq_ignore_ascii_case("true"));
    msg.get_axis2("HTTP_SC")
        .and_then(|v| v.to_string().trim().parse::<u16>().ok())
        .and_then(|c| StatusCode::from_u16(c).ok())
        .unwrap_or(if forced_200 {
            StatusCode::OK
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        })
}

impl MakeFault {
    /// The fault's body and content type, in the version asked for.
    fn render(
        &self,
        msg: &MessageContext,
        code: FaultCode,
        reason: String,
        detail: Option<String>,
    ) -> (String, String) {
        match self.version {
            Version::Pox => {
                let text = match &detail {
                    Some(d) => d.clone(),
                    None => escape_text(&reason),
                };
                (
                    format!("<Exception>{text}</Exception>"),
                    "application/xml".to_owned(),
                )
            }
            Version::Soap(v) => self.soap(v, msg, code, reason, detail),
            Version::Client => {
                let v = msg.client.soap().unwrap_or(SoapVersion::V11);
                self.soap(v, msg, code, reason, detail)
            }
        }
    }

    /// Makes the fault the response (`response="true"`, or already on the response
    /// path), or the request's new body.
    fn deliver(
        &self,
        msg: &mut MessageContext,
        status: StatusCode,
        content_type: HeaderValue,
        body: Body,
    ) {
        if self.response || msg.is_response() {
            let mut headers = HeaderMap::new();
            if !msg.is_response() {
                for (name, value) in msg.headers_set_by_mediation() {
                    headers.insert(name.clone(), value.clone());
                }
            } else {
                headers = msg.headers.clone();
                headers.remove(header::CONTENT_ENCODING);
                headers.remove(header::CONTENT_LENGTH);
            }
            headers.insert(header::CONTENT_TYPE, content_type);
            msg.become_response(status, headers, body);
        } else {
            msg.body = body;
            msg.set_header(header::CONTENT_TYPE, content_type);
            msg.set_axis2("HTTP_SC", Value::Int(i64::from(status.as_u16())));
        }
    }

    fn soap(
        &self,
        version: SoapVersion,
        msg: &MessageContext,
        code: FaultCode,
        reason: String,
        detail: Option<String>,
    ) -> (String, String) {
        // Header blocks of the current envelope are copied when its body has been read.
        let headers = match &msg.body {
            Body::Full(bytes) if soap::sniff(bytes).is_some() => Envelope::parse(bytes)
                .map(|env| env.converted_headers(version))
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        let fault = Fault {
            code,
            reason,
            node: self.node.clone().filter(|_| version == SoapVersion::V12),
            role: self.role.clone(),
            detail,
        };
        (
            soap::fault_envelope(version, &fault, &headers),
            version.content_type(None),
        )
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, Diagnostics};

    fn load(mediator: &str) -> Result<Config, Diagnostics> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("s.xml"),
            format!(r#"<sequence xmlns="http://ws.apache.org/ns/synapse" name="s">{mediator}</sequence>"#),
        )
        .unwrap();
        Config::load_with(dir.path(), &mut super::super::Parser::default())
    }

    #[test]
    fn codes_are_checked_against_the_version() {
        load(r#"<makefault version="soap11"><code xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" value="s:Server"/><reason value="r"/></makefault>"#).unwrap();
        load(r#"<makefault><code value="tns:Receiver"/><reason value="r"/></makefault>"#).unwrap();
        let error = load(r#"<makefault version="soap11"><code value="tns:Receiver"/><reason value="r"/></makefault>"#).unwrap_err().to_string();
        assert!(
            error.contains("is a SOAP 1.2 code but the fault is SOAP 1.1"),
            "{error}"
        );
        let error = load(
            r#"<makefault version="soap12"><code value="x:Oops"/><reason value="r"/></makefault>"#,
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("not a standard SOAP fault code"), "{error}");
        let error = load(r#"<makefault version="soap12"><reason value="r"/></makefault>"#)
            .unwrap_err()
            .to_string();
        assert!(error.contains("needs a <code>"), "{error}");
        load(r#"<makefault><code expression="//x"/><reason expression="$ctx:ERROR_MESSAGE"/><detail expression="//d"/></makefault>"#)
            .unwrap();
        let error =
            load(r#"<makefault><code value="s:Server"/><reason expression="//x["/></makefault>"#)
                .unwrap_err()
                .to_string();
        assert!(error.contains("invalid XPath"), "{error}");
        load(r#"<makefault version="pox"><detail>oops</detail></makefault>"#).unwrap();
    }
}
