//! The Prometheus metric families Axon records where things happen, and the handles the
//! request path uses so that recording costs a few atomic adds.
//!
//! The families live in one process-wide [`Metrics`] ([`global`]); `GET /metrics` registers
//! them, with what it reads from the health snapshot at scrape time (endpoint states and try
//! counters, the configuration generation), in a registry made for that scrape.
//!
//! Every label value is bounded by the configuration or by a fixed vocabulary: API,
//! resource, proxy, endpoint and group names, status classes, Synapse error codes, endpoint
//! states, front names. Nothing a client chooses (a URL, an address, a header) becomes a
//! label: requests that match no API are counted under `api=""` with `kind="none"`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

/// What served an exchange: an API resource, a proxy service, a gRPC API, or nothing
/// (`main`, a 404, a refusal before routing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum RouteKind {
    Api,
    Proxy,
    Grpc,
    None,
}

impl RouteKind {
    fn as_str(self) -> &'static str {
        match self {
            RouteKind::Api => "api",
            RouteKind::Proxy => "proxy",
            RouteKind::Grpc => "grpc",
            RouteKind::None => "none",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The labels of an exchange's route.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RouteLabels {
    kind: &'static str,
    api: String,
    resource: String,
}

/// A route's labels with the answer's status class.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ExchangeLabels {
    kind: &'static str,
    api: String,
    resource: String,
    class: &'static str,
}

/// One endpoint (leaf or group).
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(crate) struct EndpointLabels {
    pub(crate) endpoint: String,
}

/// A leaf's failure, by Synapse error code.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct FailureLabels {
    endpoint: String,
    code: u32,
}

/// A state change of a leaf.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct TransitionLabels {
    endpoint: String,
    from: &'static str,
    to: &'static str,
}

/// Something a group did, with a word from a fixed vocabulary.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct GroupLabels {
    group: String,
    reason: &'static str,
}

/// An active health check's result.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ProbeLabels {
    endpoint: String,
    result: &'static str,
}

/// A listener.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct FrontLabels {
    front: &'static str,
}

/// A reload's result.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ReloadLabels {
    result: &'static str,
}

/// A `cache` mediator's lookup or eviction.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct CacheLabels {
    cache: String,
    result: &'static str,
}

/// One `cache` mediator's series of `axon_cache_total`.
#[derive(Debug, Clone)]
pub(crate) struct CacheCounters {
    pub(crate) hit: Counter,
    pub(crate) miss: Counter,
    pub(crate) eviction: Counter,
}

/// The families recorded while Axon runs.
#[derive(Debug)]
pub(crate) struct Metrics {
    requests: Family<ExchangeLabels, Counter>,
    duration: Family<RouteLabels, Histogram, fn() -> Histogram>,
    request_bytes: Family<RouteLabels, Counter>,
    response_bytes: Family<RouteLabels, Counter>,
    failures: Family<FailureLabels, Counter>,
    transitions: Family<TransitionLabels, Counter>,
    suspensions: Family<EndpointLabels, Histogram, fn() -> Histogram>,
    failovers: Family<GroupLabels, Counter>,
    not_retried: Family<GroupLabels, Counter>,
    probes: Family<ProbeLabels, Counter>,
    connections: Family<FrontLabels, Gauge>,
    reloads: Family<ReloadLabels, Counter>,
    cache: Family<CacheLabels, Counter>,
    started: std::time::SystemTime,
}

/// The process's metrics.
pub(crate) fn global() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

/// Exchange latency buckets, in seconds: 1 ms to 60 s.
fn latency_histogram() -> Histogram {
    Histogram::new([
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    ])
}

/// Suspension length buckets, in seconds: 100 ms to 1 h.
fn suspension_histogram() -> Histogram {
    Histogram::new([0.1, 0.5, 1.0, 5.0, 15.0, 30.0, 60.0, 300.0, 900.0, 3600.0])
}

/// The status classes, `other` for a status outside 100..=599.
const CLASSES: [&str; 6] = ["1xx", "2xx", "3xx", "4xx", "5xx", "other"];

/// The index in [`CLASSES`] of an HTTP status.
fn class_index(status: u16) -> usize {
    match status / 100 {
        c @ 1..=5 => usize::from(c - 1),
        _ => CLASSES.len() - 1,
    }
}

impl Metrics {
    fn new() -> Self {
        Metrics {
            requests: Family::default(),
            duration: Family::new_with_constructor(latency_histogram as fn() -> Histogram),
            request_bytes: Family::default(),
            response_bytes: Family::default(),
            failures: Family::default(),
            transitions: Family::default(),
            suspensions: Family::new_with_constructor(suspension_histogram as fn() -> Histogram),
            failovers: Family::default(),
            not_retried: Family::default(),
            probes: Family::default(),
            connections: Family::default(),
            reloads: Family::default(),
            cache: Family::default(),
            started: std::time::SystemTime::now(),
        }
    }

    /// Registers every family in `registry` (made for one scrape; the families are shared).
    pub(crate) fn register(&self, registry: &mut Registry) {
        registry.register(
            "requests",
            "Exchanges answered, by route and status class",
            self.requests.clone(),
        );
        registry.register_with_unit(
            "request_duration",
            "Time from the request's arrival to its answer's head",
            Unit::Seconds,
            self.duration.clone(),
        );
        registry.register_with_unit(
            "request",
            "Request body bytes (as declared by Content-Length)",
            Unit::Bytes,
            self.request_bytes.clone(),
        );
        registry.register_with_unit(
            "response",
            "Response body bytes of answers of known length",
            Unit::Bytes,
            self.response_bytes.clone(),
        );
        registry.register(
            "endpoint_failures",
            "Failed tries of a leaf endpoint, by Synapse error code",
            self.failures.clone(),
        );
        registry.register(
            "endpoint_transitions",
            "State changes of a leaf endpoint",
            self.transitions.clone(),
        );
        registry.register_with_unit(
            "endpoint_suspension",
            "Lengths of the suspensions a leaf endpoint entered",
            Unit::Seconds,
            self.suspensions.clone(),
        );
        self.register_groups_and_process(registry);
    }

    fn register_groups_and_process(&self, registry: &mut Registry) {
        registry.register(
            "cache",
            "Cache mediator lookups and evictions, by cache id and result (hit, miss, eviction)",
            self.cache.clone(),
        );
        registry.register(
            "group_failovers",
            "Messages a group sent on to another child, by cause (error or status)",
            self.failovers.clone(),
        );
        registry.register(
            "group_not_retried",
            "Failures a group did not retry, by reason",
            self.not_retried.clone(),
        );
        registry.register(
            "endpoint_probes",
            "Active health check results of a leaf endpoint",
            self.probes.clone(),
        );
        registry.register(
            "front_open_connections",
            "Client connections open on a listener",
            self.connections.clone(),
        );
        registry.register(
            "config_reloads",
            "Configuration reloads, by result",
            self.reloads.clone(),
        );
    }

    /// Seconds since the process's metrics started.
    pub(crate) fn uptime(&self) -> Duration {
        self.started.elapsed().unwrap_or_default()
    }

    /// A leaf's failed try with Synapse error `code`.
    pub(crate) fn endpoint_failure(&self, endpoint: &str, code: u32) {
        let labels = FailureLabels {
            endpoint: endpoint.to_owned(),
            code,
        };
        self.failures.get_or_create(&labels).inc();
    }

    /// A leaf went from state `from` to `to`; `suspended_for` is the suspension it entered.
    pub(crate) fn endpoint_transition(
        &self,
        endpoint: &str,
        from: &'static str,
        to: &'static str,
        suspended_for: Option<Duration>,
    ) {
        let labels = TransitionLabels {
            endpoint: endpoint.to_owned(),
            from,
            to,
        };
        self.transitions.get_or_create(&labels).inc();
        if let Some(length) = suspended_for {
            let labels = EndpointLabels {
                endpoint: labels.endpoint,
            };
            let histogram = self.suspensions.get_or_create(&labels);
            histogram.observe(length.as_secs_f64());
        }
    }

    /// Group `group` sent a message on to another child (`cause`: `error` or `status`).
    pub(crate) fn failover(&self, group: &str, cause: &'static str) {
        let labels = GroupLabels {
            group: group.to_owned(),
            reason: cause,
        };
        self.failovers.get_or_create(&labels).inc();
    }

    /// Group `group` did not retry a failure, for `reason`.
    pub(crate) fn not_retried(&self, group: &str, reason: &'static str) {
        let labels = GroupLabels {
            group: group.to_owned(),
            reason,
        };
        self.not_retried.get_or_create(&labels).inc();
    }

    /// An active health check of `endpoint` passed or failed.
    pub(crate) fn probe(&self, endpoint: &str, ok: bool) {
        let labels = ProbeLabels {
            endpoint: endpoint.to_owned(),
            result: if ok { "up" } else { "down" },
        };
        self.probes.get_or_create(&labels).inc();
    }

    /// The counters of the `cache` mediator `cache`, taken once when its store is made so
    /// that a lookup counts with one atomic add.
    pub(crate) fn cache(&self, cache: &str) -> CacheCounters {
        let counter = |result| {
            let labels = CacheLabels {
                cache: cache.to_owned(),
                result,
            };
            self.cache.get_or_create(&labels).clone()
        };
        CacheCounters {
            hit: counter("hit"),
            miss: counter("miss"),
            eviction: counter("eviction"),
        }
    }

    /// A reload succeeded or was rejected.
    pub(crate) fn reload(&self, ok: bool) {
        let labels = ReloadLabels {
            result: if ok { "ok" } else { "failed" },
        };
        self.reloads.get_or_create(&labels).inc();
    }

    /// A client connection opened on `front`; it counts until the guard is dropped.
    pub(crate) fn connection(&self, front: &'static str) -> ConnectionGuard {
        let gauge = self
            .connections
            .get_or_create(&FrontLabels { front })
            .clone();
        gauge.inc();
        ConnectionGuard(gauge)
    }

    /// The handles of one route, made once per worker thread.
    fn route(&self, kind: RouteKind, api: &str, resource: &str) -> RouteHandles {
        let labels = RouteLabels {
            kind: kind.as_str(),
            api: api.to_owned(),
            resource: resource.to_owned(),
        };
        let by_class = CLASSES.map(|class| {
            let labels = ExchangeLabels {
                kind: labels.kind,
                api: labels.api.clone(),
                resource: labels.resource.clone(),
                class,
            };
            self.requests.get_or_create(&labels).clone()
        });
        RouteHandles {
            by_class,
            duration: self.duration.get_or_create(&labels).clone(),
            request_bytes: self.request_bytes.get_or_create(&labels).clone(),
            response_bytes: self.response_bytes.get_or_create(&labels).clone(),
        }
    }
}

/// Holds one open connection in `front_open_connections`.
#[derive(Debug)]
pub(crate) struct ConnectionGuard(Gauge);

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// The metrics of one route, shared with the families (clones of their atomics).
#[derive(Debug, Clone)]
struct RouteHandles {
    by_class: [Counter; 6],
    duration: Histogram,
    request_bytes: Counter,
    response_bytes: Counter,
}

/// Names to handles, hashed with foldhash (the names are the configuration's, not a
/// client's).
type ByName<V> = HashMap<Box<str>, V, foldhash::fast::RandomState>;

/// Per route kind: API (or proxy) name, then resource name, to its handles.
type RouteCache = [ByName<ByName<RouteHandles>>; 4];

thread_local! {
    /// Each worker's own handles: looked up by name without a lock or an allocation.
    static ROUTES: RefCell<RouteCache> = RefCell::new(Default::default());
}

/// One answered exchange, as the front saw it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Exchange<'a> {
    pub(crate) kind: RouteKind,
    pub(crate) api: &'a str,
    pub(crate) resource: &'a str,
    pub(crate) status: u16,
    pub(crate) elapsed: Duration,
    pub(crate) request_bytes: Option<u64>,
    pub(crate) response_bytes: Option<u64>,
}

/// Records `exchange` in the route's families.
pub(crate) fn record_exchange(exchange: &Exchange<'_>) {
    ROUTES.with_borrow_mut(|cache| {
        let by_api = &mut cache[exchange.kind.index()];
        match by_api
            .get(exchange.api)
            .and_then(|r| r.get(exchange.resource))
        {
            Some(handles) => handles.observe(exchange),
            None => {
                let handles = global().route(exchange.kind, exchange.api, exchange.resource);
                handles.observe(exchange);
                by_api
                    .entry(exchange.api.into())
                    .or_default()
                    .insert(exchange.resource.into(), handles);
            }
        }
    });
}

impl RouteHandles {
    fn observe(&self, exchange: &Exchange<'_>) {
        let handles = self;
        handles.by_class[class_index(exchange.status)].inc();
        handles.duration.observe(exchange.elapsed.as_secs_f64());
        if let Some(n) = exchange.request_bytes {
            handles.request_bytes.inc_by(n);
        }
        if let Some(n) = exchange.response_bytes {
            handles.response_bytes.inc_by(n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_classes_cover_every_status() {
        let class = |status| CLASSES[class_index(status)];
        assert_eq!(class(204), "2xx");
        assert_eq!(class(503), "5xx");
        assert_eq!(class(0), "other");
        assert_eq!(class(999), "other");
    }

    #[test]
    fn an_exchange_is_counted_under_its_route_and_class() {
        let exchange = Exchange {
            kind: RouteKind::Api,
            api: "MetricsUnitApi",
            resource: "/r",
            status: 404,
            elapsed: Duration::from_millis(3),
            request_bytes: Some(10),
            response_bytes: None,
        };
        record_exchange(&exchange);
        record_exchange(&exchange);
        let mut registry = Registry::default();
        global().register(&mut registry);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("encodes");
        assert!(
            text.contains(
                r#"requests_total{kind="api",api="MetricsUnitApi",resource="/r",class="4xx"} 2"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                r#"request_bytes_total{kind="api",api="MetricsUnitApi",resource="/r"} 20"#
            ),
            "{text}"
        );
    }
}
