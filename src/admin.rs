//! The management API (default `127.0.0.1:9164`): liveness, readiness, the health of every
//! actor, the maintenance switch, and configuration reload.
//!
//! | route | what |
//! |---|---|
//! | `GET /` | the live web view of the actor graph ([`web_view`]) |
//! | `GET /health/live` | 200 while the process runs |
//! | `GET /health/ready` | 200 once listeners and actors are up, else 503 (`draining` from SIGTERM on) |
//! | `GET /metrics` | Prometheus metrics ([`metrics`]) |
//! | `GET /health/actors` | JSON tree: the front actors, APIs and every endpoint actor (with its `restarts` and `last_restart`) |
//! | `GET /health/actors/{name}` | one endpoint (or API) |
//! | `POST /health/actors/{name}/off`, `/on` | manual maintenance switch |
//! | `POST /config/reload` | load `mediation/` again; keeps the old one on error |
//! | `GET /apis/{name}/lifecycle`, `POST /apis/{name}/lifecycle` | an API's lifecycle state ([`lifecycle`]) |
//!
//! Every request passes [`guard`] first: a `Host` Axon does not answer to, or an `Origin`
//! other than the API's own, is refused with 403 (DNS rebinding, cross-site requests).
//! Then, when tokens are configured, [`auth`]: a read token for reads, the write token for
//! changes (docs/operations.md).

pub(crate) mod auth;
pub(crate) mod guard;
pub(crate) mod lifecycle;
pub(crate) mod metrics;
pub(crate) mod web_view;

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{App, HttpResponse, HttpServer, web};
use serde_json::{Value as Json, json};

use crate::config::{ApiConfig, EndpointKind, Mapping, ProxyConfig};
use crate::endpoints::actor::{GetHealth, HealthReport, Switch};
use crate::endpoints::group::{GetGroupHealth, NodeReport};
use crate::engine::Runtime;
use crate::engine::live::Shared;

/// Who may reach the management API, and over what.
#[derive(Debug, Default)]
pub(crate) struct Access {
    /// The names it answers to besides IP literals and `localhost` (see [`guard`]).
    pub(crate) hosts: guard::AllowedHosts,
    /// The tokens requests must carry (see [`auth`]).
    pub(crate) tokens: auth::Tokens,
    /// TLS on its port (`None`: plain HTTP).
    pub(crate) tls: Option<Arc<rustls::ServerConfig>>,
}

/// Starts the management API on `listener` (one worker), guarded by `access`.
///
/// # Errors
/// When the listener cannot be used.
pub(crate) fn serve(
    shared: Arc<Shared>,
    listener: TcpListener,
    access: Access,
) -> std::io::Result<Server> {
    let data = web::Data::from(shared);
    let hosts = web::Data::new(access.hosts);
    let tokens = web::Data::new(access.tokens);
    let server = HttpServer::new(move || {
        // Middleware wraps outwards: the guard runs first, then the token check.
        App::new()
            .app_data(data.clone())
            .app_data(hosts.clone())
            .app_data(tokens.clone())
            .wrap(actix_web::middleware::from_fn(auth::check))
            .wrap(actix_web::middleware::from_fn(guard::check))
            .configure(web_view::routes)
            .route("/health/live", web::get().to(live))
            .route("/health/ready", web::get().to(ready))
            .route("/metrics", web::get().to(metrics::scrape))
            .route("/health/actors", web::get().to(actors))
            .route("/health/actors/{name}", web::get().to(actor))
            .route("/health/actors/{name}/off", web::post().to(switch_off))
            .route("/health/actors/{name}/on", web::post().to(switch_on))
            .route("/config/reload", web::post().to(reload))
            .route("/apis/{name}/lifecycle", web::get().to(lifecycle::get))
            .route("/apis/{name}/lifecycle", web::post().to(lifecycle::change))
    })
    .workers(1)
    .disable_signals();
    let server = match access.tls {
        Some(tls) => server.listen_rustls_0_23(listener, (*tls).clone())?,
        None => server.listen(listener)?,
    };
    Ok(server.run())
}

async fn live() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "live" }))
}

async fn ready(shared: web::Data<Shared>) -> HttpResponse {
    let (started, expected) = shared.readiness().actors();
    let body = json!({
        "status": match (shared.readiness().is_ready(), shared.readiness().is_draining()) {
            (_, true) => "draining",
            (true, false) => "ready",
            (false, false) => "starting",
        },
        "actors_started": started,
        "actors_expected": expected,
        "generation": shared.generation(),
    });
    if shared.readiness().is_ready() {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

async fn actors(shared: web::Data<Shared>) -> HttpResponse {
    let rt = shared.runtime();
    let endpoints = endpoint_reports(&shared, &rt).await;
    let apis: Vec<Json> = rt.config.apis.iter().map(|a| api_json(&rt, a)).collect();
    let proxies: Vec<Json> = rt
        .config
        .proxies
        .iter()
        .map(|p| proxy_json(&rt, p))
        .collect();
    HttpResponse::Ok().json(json!({
        "generation": shared.generation(),
        "ready": shared.readiness().is_ready(),
        "fronts": shared.fronts().await,
        "apis": apis,
        "proxies": proxies,
        "endpoints": endpoints,
        "caches": caches_json(),
    }))
}

/// The `cache` mediators' stores: entries and hit, miss and eviction counts.
fn caches_json() -> Vec<Json> {
    crate::mediators::cache::stats()
        .into_iter()
        .map(|c| {
            json!({ "id": c.name, "entries": c.entries, "max_size": c.max_size,
                "hits": c.hits, "misses": c.misses, "evictions": c.evictions })
        })
        .collect()
}

async fn actor(shared: web::Data<Shared>, name: web::Path<String>) -> HttpResponse {
    let rt = shared.runtime();
    if let Some(leaf) = rt.endpoints.leaf_named(&name) {
        return match leaf.addr.send(GetHealth).await {
            Ok(Some(report)) => HttpResponse::Ok().json(leaf_json(report)),
            _ => unavailable(&name),
        };
    }
    if let Some(group) = rt.endpoints.group_named(&name) {
        return match group.addr.send(GetGroupHealth).await {
            Ok(Some(report)) => HttpResponse::Ok().json(report),
            _ => unavailable(&name),
        };
    }
    if let Some(json) = alias_json(&rt, &name) {
        return HttpResponse::Ok().json(json);
    }
    if let Some(api) = rt.config.apis.iter().find(|a| a.name == *name) {
        return HttpResponse::Ok().json(api_json(&rt, api));
    }
    if let Some(proxy) = rt.config.proxies.iter().find(|p| p.name == *name) {
        return HttpResponse::Ok().json(proxy_json(&rt, proxy));
    }
    not_found(&name)
}

async fn switch_off(shared: web::Data<Shared>, name: web::Path<String>) -> HttpResponse {
    switch(&shared, &name, false).await
}

async fn switch_on(shared: web::Data<Shared>, name: web::Path<String>) -> HttpResponse {
    switch(&shared, &name, true).await
}

async fn switch(shared: &Shared, name: &str, on: bool) -> HttpResponse {
    let rt = shared.runtime();
    let Some(leaf) = rt.endpoints.leaf_named(name) else {
        if rt.endpoints.group_named(name).is_some() {
            return HttpResponse::Conflict().json(json!({
                "error": format!("`{name}` is a group: switch its leaves off or on")
            }));
        }
        return not_found(name);
    };
    match leaf.addr.send(Switch { on }).await {
        Ok(Some(report)) => HttpResponse::Ok().json(leaf_json(report)),
        _ => unavailable(name),
    }
}

async fn reload(shared: web::Data<Shared>) -> HttpResponse {
    match shared.reload().await {
        Ok(summary) => HttpResponse::Ok().json(summary),
        Err(diags) => {
            let errors: Vec<String> = diags
                .sorted()
                .into_iter()
                .map(ToString::to_string)
                .collect();
            HttpResponse::BadRequest().json(json!({
                "status": "rejected",
                "message": "the new configuration has errors; the running configuration is kept",
                "errors": errors,
            }))
        }
    }
}

fn not_found(name: &str) -> HttpResponse {
    HttpResponse::NotFound().json(json!({ "error": format!("no actor named `{name}`") }))
}

fn unavailable(name: &str) -> HttpResponse {
    HttpResponse::ServiceUnavailable()
        .json(json!({ "error": format!("actor `{name}` did not answer") }))
}

async fn endpoint_reports(shared: &Shared, rt: &Runtime) -> Vec<Json> {
    let reports = shared.endpoint_reports().await.unwrap_or_else(|| {
        let names = rt.endpoints.leaves().map(|l| &l.name);
        let names = names.chain(rt.endpoints.groups().map(|g| &g.name));
        let unknown = |name: &Arc<str>| NodeReport::Unknown {
            name: name.to_string(),
            state: "UNKNOWN",
        };
        names.map(unknown).collect()
    });
    let mut out: Vec<Json> = reports
        .into_iter()
        .map(|r| serde_json::to_value(r).unwrap_or(Json::Null))
        .collect();
    for (_, ep) in rt.config.endpoints() {
        if let Some(j) = alias_json(rt, &ep.name) {
            out.push(j);
        }
    }
    out
}

fn leaf_json(report: HealthReport) -> Json {
    serde_json::to_value(report).unwrap_or(Json::Null)
}

fn alias_json(rt: &Runtime, name: &str) -> Option<Json> {
    let id = rt.config.endpoint_named(name)?;
    let EndpointKind::Alias(target) = rt.config.endpoint(id).kind else {
        return None;
    };
    let resolved = rt.config.endpoint(rt.config.resolve_endpoint(target));
    Some(json!({ "name": name, "type": "key", "target": resolved.name }))
}

fn proxy_json(rt: &Runtime, proxy: &ProxyConfig) -> Json {
    let endpoint = proxy.endpoint.map(|id| rt.config.endpoint(id).name.clone());
    json!({
        "name": proxy.name,
        "type": "proxy",
        "path": format!("/services/{}", proxy.name),
        // startOnLoad="false": loaded, not served.
        "state": if proxy.start_on_load { "ACTIVE" } else { "INACTIVE" },
        "endpoint": endpoint,
        "wsdl": proxy.wsdl.is_some(),
    })
}

fn api_json(rt: &Runtime, api: &ApiConfig) -> Json {
    let resources: Vec<Json> = api
        .resources
        .iter()
        .map(|r| {
            let (kind, mapping) = match &r.mapping {
                Mapping::Template(t) => ("uri-template", t.as_str().to_owned()),
                Mapping::Url(_) => ("url-mapping", r.name.clone()),
                Mapping::Default => ("default", String::new()),
            };
            let methods: Vec<&str> = r.methods.iter().map(|m| m.as_str()).collect();
            json!({ "methods": methods, kind: mapping })
        })
        .collect();
    json!({
        "name": api.name,
        "type": "api",
        "context": api.context,
        "state": "ACTIVE",
        "lifecycle": lifecycle::state_json(rt.apis.get(api.id)),
        "resources": resources,
    })
}
