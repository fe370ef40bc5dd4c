//! The live web view of the actor graph at `GET /` of the management port.
//!
//! Four static files (HTML, CSS, JavaScript, an icon), embedded in the binary: no build step, no
//! CDN, nothing fetched from elsewhere. The page polls `GET /health/actors` every two
//! seconds and calls the existing routes for the on/off switch and API lifecycle changes,
//! with the token the user typed (kept in `sessionStorage`) when the API needs one. The
//! files carry no data, so they answer without a token (see [`super::auth`]); every call
//! they make is checked like any other. A strict Content-Security-Policy allows scripts,
//! styles and fetches from this origin only.

use actix_web::http::header;
use actix_web::{HttpResponse, web};

/// The page's paths, which answer without a token: they are static and carry no data.
pub(crate) const PATHS: [&str; 4] = ["/", "/web/app.js", "/web/app.css", "/web/icon.svg"];

/// Only this origin: no inline script or style, no frames, no form posts elsewhere.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; \
    frame-ancestors 'none'";

const INDEX: &str = include_str!("web/index.html");
const SCRIPT: &str = include_str!("web/app.js");
const STYLE: &str = include_str!("web/app.css");
const ICON: &str = include_str!("web/icon.svg");

/// Adds the page's routes.
pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(index))
        .route("/web/app.js", web::get().to(script))
        .route("/web/app.css", web::get().to(style))
        .route("/web/icon.svg", web::get().to(icon));
}

async fn index() -> HttpResponse {
    file("text/html; charset=utf-8", INDEX)
}

async fn script() -> HttpResponse {
    file("text/javascript; charset=utf-8", SCRIPT)
}

async fn style() -> HttpResponse {
    file("text/css; charset=utf-8", STYLE)
}

async fn icon() -> HttpResponse {
    file("image/svg+xml", ICON)
}

fn file(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type))
        .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(body)
}
