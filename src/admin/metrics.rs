//! `GET /metrics`: the families Axon records as things happen ([`crate::base::metrics`]),
//! with what the scrape reads from the live generation: each endpoint's state and try
//! counters (the health snapshot the health API shows), the configuration generation and
//! the uptime. Prometheus text format by default, OpenMetrics when the scraper asks for it
//! in `Accept`.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};

use crate::endpoints::group::NodeReport;
use crate::endpoints::state::EndpointState;
use crate::engine::live::Shared;

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Every state an endpoint may be in, for the state gauge (one series per state, 1 for
/// the current one).
const STATES: [EndpointState; 4] = [
    EndpointState::Active,
    EndpointState::Timeout,
    EndpointState::Suspended,
    EndpointState::Off,
];

/// An endpoint's state series.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct StateLabels {
    endpoint: String,
    /// `leaf` or `group`.
    node: &'static str,
    state: &'static str,
}

/// A leaf's try counter by outcome.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct OutcomeLabels {
    endpoint: String,
    outcome: &'static str,
}

/// The families read from the health snapshot at each scrape.
#[derive(Default)]
struct Snapshot {
    state: Family<StateLabels, Gauge>,
    tries: Family<crate::base::metrics::EndpointLabels, Counter>,
    outcomes: Family<OutcomeLabels, Counter>,
}

pub(crate) async fn scrape(req: HttpRequest, shared: web::Data<Shared>) -> HttpResponse {
    let mut registry = Registry::with_prefix("axon");
    let metrics = crate::base::metrics::global();
    metrics.register(&mut registry);
    let snapshot = Snapshot::default();
    for report in shared.endpoint_reports().await.unwrap_or_default() {
        snapshot.add(&report);
    }
    snapshot.register(&mut registry);
    let generation = Gauge::<i64>::default();
    generation.set(i64::try_from(shared.generation()).unwrap_or(i64::MAX));
    registry.register(
        "config_generation",
        "The configuration generation new requests get (1 at start, +1 per reload)",
        generation,
    );
    let uptime = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
    uptime.set(metrics.uptime().as_secs_f64());
    registry.register_with_unit("uptime", "Time since Axon started", Unit::Seconds, uptime);
    encode(&req, &registry)
}

/// The registry in the format `req` accepts.
fn encode(req: &HttpRequest, registry: &Registry) -> HttpResponse {
    let openmetrics = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("application/openmetrics-text"));
    let mut text = String::new();
    let (encoded, content_type) = if openmetrics {
        let result = prometheus_client::encoding::text::encode(&mut text, registry);
        (result, OPENMETRICS)
    } else {
        let result = prometheus_client::encoding::prometheus_text::encode(&mut text, registry);
        (result, PROMETHEUS_TEXT)
    };
    match encoded {
        Ok(()) => HttpResponse::Ok().content_type(content_type).body(text),
        Err(_) => HttpResponse::InternalServerError().finish(),
    }
}

impl Snapshot {
    fn add(&self, report: &NodeReport) {
        let (name, node, state) = match report {
            NodeReport::Leaf(leaf) => {
                let endpoint = crate::base::metrics::EndpointLabels {
                    endpoint: leaf.name.clone(),
                };
                let counters = &leaf.counters;
                self.tries.get_or_create(&endpoint).inc_by(counters.sent);
                for (outcome, n) in [
                    ("response", counters.succeeded),
                    ("failure", counters.failed),
                ] {
                    let labels = OutcomeLabels {
                        endpoint: leaf.name.clone(),
                        outcome,
                    };
                    self.outcomes.get_or_create(&labels).inc_by(n);
                }
                (&leaf.name, "leaf", leaf.state)
            }
            NodeReport::Group(group) => (&group.name, "group", group.state),
            NodeReport::Unknown { .. } => return,
        };
        for s in STATES {
            let labels = StateLabels {
                endpoint: name.clone(),
                node,
                state: s.as_str(),
            };
            self.state.get_or_create(&labels).set(i64::from(s == state));
        }
    }

    fn register(self, registry: &mut Registry) {
        registry.register(
            "endpoint_state",
            "1 for the state a leaf or group endpoint is in, 0 for the others",
            self.state,
        );
        registry.register(
            "endpoint_tries",
            "Requests sent to a leaf endpoint (since its actor started)",
            self.tries,
        );
        registry.register(
            "endpoint_outcomes",
            "Tries of a leaf endpoint that got a response or failed",
            self.outcomes,
        );
    }
}
