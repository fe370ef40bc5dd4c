//! Starting and stopping Axon: the HTTP front, the gRPC front, the management API, and the
//! configuration generation they share.
//!
//! [`Server::start`] takes listeners that are already bound (production binds from the
//! command line; tests bind `127.0.0.1:0` and read the address back) and must be called
//! inside an actix `System`.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use actix::{Addr, Arbiter};
use arc_swap::ArcSwap;
use serde::Serialize;

use crate::admin::{self, readiness::Readiness};
use crate::config::{Config, Diagnostics};
use crate::endpoints::actor::registry::{self, GetReports, Registry};
use crate::endpoints::group::NodeReport;
use crate::engine::{Limits, Runtime};
use crate::front;
use crate::front::actor::{Drain, FrontActor, FrontReport, GetFront, Install, Listening};

/// How to run a server.
#[derive(Debug)]
pub struct ServerOptions {
    /// The mediation folder (reloads read it again).
    pub mediation_dir: PathBuf,
    /// Bound listener for traffic.
    pub http: TcpListener,
    /// Bound listener for the management API.
    pub management: TcpListener,
    /// Bound listener for gRPC (`None`: no gRPC front).
    pub grpc: Option<TcpListener>,
    /// TLS for the gRPC listener (`None`: h2c).
    pub grpc_tls: Option<Arc<rustls::ServerConfig>>,
    /// Worker threads for the HTTP front (`None`: one per core).
    pub workers: Option<usize>,
    /// Message limits.
    pub limits: Limits,
    /// Host names the management API answers to besides its bind address and the
    /// loopback names (see [`crate::admin`]).
    pub management_hosts: Vec<String>,
}

/// What the HTTP front, the management API and reloads share.
#[derive(Debug)]
pub struct Shared {
    runtime: ArcSwap<Runtime>,
    readiness: Readiness,
    control: actix::ArbiterHandle,
    mediation_dir: PathBuf,
    limits: Limits,
    generation: AtomicU64,
    reload_lock: tokio::sync::Mutex<()>,
    /// True once the drain of a graceful stop has ended: exchanges still running answer
    /// 503 at once.
    drain_ended: tokio::sync::watch::Sender<bool>,
    /// The root of the endpoint actors.
    registry: Addr<Registry>,
    /// The front actors, told of each generation switch.
    fronts: OnceLock<Vec<Addr<FrontActor>>>,
}

/// What a successful reload did.
#[derive(Debug, Clone, Serialize)]
pub struct ReloadSummary {
    /// The new generation number.
    pub generation: u64,
    /// APIs now served.
    pub apis: usize,
    /// Leaf endpoints whose actor (and health state) was kept.
    pub endpoints_kept: Vec<String>,
    /// Leaf endpoints started fresh.
    pub endpoints_started: Vec<String>,
    /// Warnings, as `file:line:col: warning: message`.
    pub warnings: Vec<String>,
}

/// A running Axon.
#[derive(Debug)]
pub struct Server {
    shared: Arc<Shared>,
    http: Addr<FrontActor>,
    management: Addr<FrontActor>,
    grpc: Option<Addr<FrontActor>>,
    http_addr: SocketAddr,
    management_addr: SocketAddr,
    grpc_addr: Option<SocketAddr>,
    control: Option<Arbiter>,
}

// === impl Shared ===

impl Shared {
    /// The current configuration generation.
    pub fn runtime(&self) -> Arc<Runtime> {
        self.runtime.load_full()
    }

    /// The readiness latch.
    pub fn readiness(&self) -> &Readiness {
        &self.readiness
    }

    /// The report of every endpoint actor, leaves then groups, through the registry
    /// (`None` when it did not answer).
    pub(crate) async fn endpoint_reports(&self) -> Option<Vec<NodeReport>> {
        self.registry.send(GetReports).await.ok()
    }

    /// What each front actor reports (those that answer).
    pub(crate) async fn fronts(&self) -> Vec<FrontReport> {
        let fronts = self.fronts.get().map_or(&[][..], Vec::as_slice);
        let asks = fronts.iter().map(|f| f.send(GetFront));
        let answers = futures_util::future::join_all(asks).await;
        answers.into_iter().filter_map(Result::ok).collect()
    }

    /// Becomes true when the drain of a graceful stop ends.
    pub(crate) fn drain_ended(&self) -> tokio::sync::watch::Receiver<bool> {
        self.drain_ended.subscribe()
    }

    /// The current generation number.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Loads the mediation folder again and, when it is valid, swaps it in. Endpoints whose
    /// configuration did not change keep their actors and health state. On error the
    /// running configuration is kept and every problem is returned.
    ///
    /// # Errors
    /// The diagnostics of the new configuration.
    pub async fn reload(&self) -> Result<ReloadSummary, Diagnostics> {
        let _serial = self.reload_lock.lock().await;
        let dir = self.mediation_dir.clone();
        let loaded = actix_web::rt::task::spawn_blocking(move || Config::load(&dir))
            .await
            .unwrap_or_else(|_| {
                let mut d = Diagnostics::default();
                d.error(
                    &crate::config::Loc::file_start(Arc::from("<reload>")),
                    "configuration loader crashed",
                );
                Err(d)
            })?;
        let old = self.runtime();
        let warnings = loaded.warnings.iter().map(ToString::to_string).collect();
        let runtime = Runtime::build(
            Arc::new(loaded),
            Some(&old),
            &self.control,
            &self.readiness,
            self.limits,
        );
        let mut kept = Vec::new();
        let mut started = Vec::new();
        for leaf in runtime.endpoints.leaves() {
            let same = old
                .endpoints
                .leaf_named(&leaf.name)
                .is_some_and(|o| Arc::ptr_eq(&o.health, &leaf.health));
            if same {
                kept.push(leaf.name.to_string())
            } else {
                started.push(leaf.name.to_string())
            }
        }
        let apis = runtime.config.apis.len();
        // The switch: requests that start from now on get the new generation; those in
        // flight keep the one they started with.
        let members = runtime.endpoints.members();
        self.runtime.store(Arc::new(runtime));
        let generation = self.generation.fetch_add(1, Ordering::AcqRel) + 1;
        self.registry.do_send(registry::Install {
            generation,
            members,
        });
        for front in self.fronts.get().into_iter().flatten() {
            front.do_send(Install { generation });
        }
        tracing::info!(
            generation,
            apis,
            kept = kept.len(),
            started = started.len(),
            "Configuration reloaded"
        );
        Ok(ReloadSummary {
            generation,
            apis,
            endpoints_kept: kept,
            endpoints_started: started,
            warnings,
        })
    }
}

/// Drains one front through its actor.
async fn drain(front: &Addr<FrontActor>, graceful: bool) {
    if let Err(error) = front.send(Drain { graceful }).await {
        tracing::warn!(%error, "A front actor did not drain");
    }
}

// === impl Server ===

impl Server {
    /// Starts the endpoint actors, the HTTP front and the management API.
    ///
    /// # Errors
    /// When a listener cannot be used.
    pub async fn start(config: Config, options: ServerOptions) -> io::Result<Server> {
        crate::tls::install_crypto_provider();
        let readiness = Readiness::new();
        let control = Arbiter::new();
        let runtime = Runtime::build(
            Arc::new(config),
            None,
            &control.handle(),
            &readiness,
            options.limits,
        );
        let registry = Registry::start(&control.handle());
        registry.do_send(registry::Install {
            generation: 1,
            members: runtime.endpoints.members(),
        });
        let shared = Arc::new(Shared {
            runtime: ArcSwap::from_pointee(runtime),
            registry,
            readiness: readiness.clone(),
            control: control.handle(),
            mediation_dir: options.mediation_dir,
            limits: options.limits,
            generation: AtomicU64::new(1),
            reload_lock: tokio::sync::Mutex::new(()),
            drain_ended: tokio::sync::watch::Sender::new(false),
            fronts: OnceLock::new(),
        });
        let http_addr = options.http.local_addr()?;
        let management_addr = options.management.local_addr()?;
        let workers = options
            .workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
        // Each traffic port's share of the descriptors, keeping a reserve for the
        // management API (front::limits).
        let nofile = front::limits::raise_nofile_limit();
        let traffic_ports = 1 + u64::from(options.grpc.is_some());
        let port_cap = front::limits::connection_cap(nofile, traffic_ports);
        let http = front::http::serve(shared.clone(), options.http, workers, port_cap)?;
        let hosts = admin::guard::AllowedHosts::new(&options.management_hosts);
        let management = admin::serve(shared.clone(), options.management, hosts)?;
        let grpc = match options.grpc {
            Some(listener) => Some(front::grpc::serve(
                shared.clone(),
                listener,
                options.grpc_tls,
                workers,
                options.limits,
                options.limits.grpc_max_connections.unwrap_or(port_cap),
            )?),
            None => None,
        };
        let grpc_addr = grpc.as_ref().map(|g| g.addr());
        let http = FrontActor::serve_http("http", http_addr, http);
        let management = FrontActor::serve_http("management", management_addr, management);
        let grpc = grpc
            .zip(grpc_addr)
            .map(|(front, addr)| FrontActor::start("grpc", addr, Listening::Grpc(Some(front))));
        let fronts = [Some(&http), grpc.as_ref(), Some(&management)];
        let fronts = fronts.into_iter().flatten().cloned().collect();
        // Set once, here: the Shared was made just above.
        shared.fronts.get_or_init(|| fronts);
        readiness.listeners_up();
        tracing::info!(%http_addr, %management_addr, ?grpc_addr, workers, "Axon is listening");
        Ok(Server {
            shared,
            http,
            management,
            grpc,
            http_addr,
            management_addr,
            grpc_addr,
            control: Some(control),
        })
    }

    /// The traffic listener's address.
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// The management API's address.
    pub fn management_addr(&self) -> SocketAddr {
        self.management_addr
    }

    /// The gRPC listener's address, when the gRPC front runs.
    pub fn grpc_addr(&self) -> Option<SocketAddr> {
        self.grpc_addr
    }

    /// The shared state (for reloads and tests).
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Stops accepting, drains in-flight exchanges (up to `Limits::drain_timeout` when
    /// `graceful`), stops the actors. An HTTP exchange still running when the drain ends
    /// is answered 503 with `Connection: close` (its backend call is abandoned), so every
    /// client that was accepted gets an answer.
    pub async fn stop(mut self, graceful: bool) {
        // Both traffic fronts stop accepting at once, and drain side by side.
        let grpc = async {
            if let Some(grpc) = &self.grpc {
                drain(grpc, graceful).await;
            }
        };
        let shared = self.shared.clone();
        let drain_timeout = self.shared.limits.drain_timeout;
        let cut = actix_rt::spawn(async move {
            if graceful {
                tokio::time::sleep(drain_timeout).await;
                tracing::warn!(
                    drain_ms = drain_timeout.as_millis() as u64,
                    "The drain ended: exchanges still running are answered 503"
                );
            }
            shared.drain_ended.send_replace(true);
        });
        futures_util::future::join(drain(&self.http, graceful), grpc).await;
        cut.abort();
        drain(&self.management, graceful).await;
        if let Some(control) = self.control.take() {
            control.stop();
        }
    }

    /// Runs until SIGINT/SIGTERM (graceful stop); SIGHUP reloads the configuration.
    pub async fn run_until_signalled(self) {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let mut hup = signal(SignalKind::hangup()).ok();
            let mut term = signal(SignalKind::terminate()).ok();
            loop {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => break,
                    _ = async { match term.as_mut() { Some(s) => { s.recv().await; } None => std::future::pending::<()>().await } } => break,
                    _ = async { match hup.as_mut() { Some(s) => { s.recv().await; } None => std::future::pending::<()>().await } } => {
                        match self.shared.reload().await {
                            Ok(summary) => tracing::info!(generation = summary.generation, "Reloaded on SIGHUP"),
                            Err(diags) => {
                                for d in diags.sorted() {
                                    tracing::error!("{d}");
                                }
                                tracing::error!("Reload failed; the running configuration is kept");
                            }
                        }
                    }
                }
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        tracing::info!("Shutting down");
        self.stop(true).await;
    }
}
