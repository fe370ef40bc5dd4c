//! SOAP at the front: proxy services at `/services/<name>` (and their `?wsdl`), SOAP faults
//! for SOAP clients, and turning a response back into the kind its client speaks.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, web};
use tokio::time::Instant;

use super::http::{ERROR_CODE_HEADER, finish, into_response, request_body};
use crate::base::limits::Limits;
use crate::base::xml::escape_text;
use crate::config::ProxyConfig;
use crate::engine::{BuiltinFault, Reply, Runtime};
use crate::message::soap::{self, Fault, FaultCode, SoapVersion};
use crate::message::{ClientFormat, MessageContext, Value};

/// The namespace of the error details Axon puts in the faults it makes.
pub(crate) const ERROR_NS: &str = "urn:axon:error";

/// Handles one request to proxy service `proxy`; `tail` is the path after
/// `/services/<name>`.
pub(crate) async fn handle_proxy(
    req: &HttpRequest,
    payload: web::Payload,
    rt: &Runtime,
    proxy: &ProxyConfig,
    tail: &str,
    scheme: &'static str,
    started: Instant,
) -> HttpResponse {
    actix_web::HttpMessage::extensions_mut(req).insert(super::http::ProxyExchange);
    if req.method() == Method::GET && wants_wsdl(req.uri().query()) {
        let response = wsdl_response(req, proxy, scheme);
        return finish(req, started, &proxy.name, "?wsdl", response, None);
    }
    let (body, has_body) = request_body(req.headers(), payload);
    let mut msg = MessageContext::request(
        req.method().clone(),
        req.uri().clone(),
        scheme,
        req.headers().clone(),
        body,
    );
    super::http::correlate(req, &mut msg);
    super::http::note_client(&mut msg, req);
    // A proxy service is a SOAP service: `text/xml` is SOAP 1.1 here (as in Axis2).
    msg.client = ClientFormat::of_request(req.headers(), has_body, true);
    msg.set("proxy.name", proxy.name.as_str());
    msg.engaged_addressing = proxy.addressing;
    let postfix = match req.uri().query() {
        Some(q) => format!("{tail}?{q}"),
        None => tail.to_owned(),
    };
    msg.set_axis2("REST_URL_POSTFIX", Value::Str(postfix));
    let reply = rt
        .run_exchange(
            msg,
            Some(proxy.in_sequence),
            proxy.out_sequence,
            proxy.fault_sequence,
        )
        .await;
    let reply = for_client(reply, &rt.limits).await;
    let (response, attempts) = into_response(reply);
    finish(req, started, &proxy.name, "", response, Some(&attempts))
}

fn wants_wsdl(query: Option<&str>) -> bool {
    query.is_some_and(|q| {
        q.split('&').any(|p| {
            p.split('=')
                .next()
                .is_some_and(|k| k.eq_ignore_ascii_case("wsdl"))
        })
    })
}

/// `GET /services/<name>?wsdl`: the published WSDL, its service addresses set to this
/// proxy's address as the client reached it.
fn wsdl_response(req: &HttpRequest, proxy: &ProxyConfig, scheme: &str) -> HttpResponse {
    let Some(wsdl) = &proxy.wsdl else {
        return HttpResponse::NotFound()
            .content_type("text/plain; charset=utf-8")
            .body(format!(
                "proxy service `{}` publishes no WSDL\n",
                proxy.name
            ));
    };
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .unwrap_or_else(|| req.app_config().host().to_owned());
    let address = format!("{scheme}://{host}/services/{}", proxy.name);
    HttpResponse::Ok()
        .content_type("text/xml; charset=UTF-8")
        .body(wsdl.render(&address))
}

/// Converts a response for its client when an endpoint `format` changed its kind.
pub(crate) async fn for_client(reply: Reply, limits: &Limits) -> Reply {
    match reply {
        Reply::Message(mut msg) => {
            crate::endpoints::format::to_client(&mut msg, limits).await;
            Reply::Message(msg)
        }
        other => other,
    }
}

/// Axon's built-in fault handling, answered to a SOAP client: a fault of its own version.
/// A failure of the client's own request is a Client (1.1) / Sender (1.2) fault, anything
/// else a Server / Receiver fault; the error code, message, detail and the status Axon
/// would otherwise answer are in the detail. HTTP 500, or 400 for a SOAP 1.2 Sender fault
/// (the SOAP 1.2 HTTP binding); a body over the size limit keeps its 413 in both versions,
/// so clients and proxies see why.
pub(crate) fn fault_response(version: SoapVersion, fault: &BuiltinFault) -> HttpResponse {
    let sender = fault.status.is_client_error();
    let detail = format!(
        "<axon:error xmlns:axon=\"{ERROR_NS}\"><axon:code>{}</axon:code><axon:message>{}</axon:message><axon:detail>{}</axon:detail><axon:status>{}</axon:status><axon:messageId>{}</axon:messageId></axon:error>",
        fault.code,
        escape_text(&fault.message),
        escape_text(&fault.detail),
        fault.status.as_u16(),
        escape_text(&fault.message_id)
    );
    let envelope = soap::fault_envelope(
        version,
        &Fault {
            code: if sender {
                FaultCode::Sender
            } else {
                FaultCode::Receiver
            },
            reason: fault.message.clone(),
            node: None,
            role: None,
            detail: Some(detail),
        },
        &[],
    );
    let status = if fault.status == StatusCode::PAYLOAD_TOO_LARGE {
        StatusCode::PAYLOAD_TOO_LARGE
    } else if sender && version == SoapVersion::V12 {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    };
    let mut builder = HttpResponseBuilder::new(status);
    builder.insert_header((ERROR_CODE_HEADER, fault.code.to_string()));
    if let Ok(v) = HeaderValue::from_str(&version.content_type(None)) {
        builder.insert_header((header::CONTENT_TYPE, v));
    }
    builder.body(envelope)
}
