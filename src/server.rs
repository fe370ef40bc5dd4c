//! Starting and stopping Axon: the HTTP front, the gRPC front, the management API, and the
//! configuration generation they share.
//!
//! [`Server::start`] takes listeners that are already bound (production binds from the
//! command line; tests bind `127.0.0.1:0` and read the address back) and must be called
//! inside an actix `System`.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;

use actix::{Addr, Arbiter};

use crate::admin;
use crate::base::limits::Limits;
use crate::base::readiness::Readiness;
use crate::engine::live::{Front, Shared};
use crate::engine::{Mediation, Runtime};
use crate::front;
use crate::front::actor::{Drain, FrontActor, Listening};

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
    /// Bound listener for HTTPS traffic and what it serves (`None`: no HTTPS listener).
    pub https: Option<(TcpListener, crate::base::tls::ServerTls)>,
    /// Worker threads for the HTTP front (`None`: one per core).
    pub workers: Option<usize>,
    /// Message limits.
    pub limits: Limits,
    /// Host names the management API answers to besides its bind address and the
    /// loopback names (see [`crate::admin`]).
    pub management_hosts: Vec<String>,
    /// Tokens and TLS of the management API (default: none, for a loopback bind).
    pub management_access: ManagementAccess,
}

/// Who may use the management API beyond its `Host`/`Origin` guard (docs/operations.md).
#[derive(Clone, Default)]
pub struct ManagementAccess {
    /// The token that may read (`GET`), at least 16 characters.
    pub read_token: Option<String>,
    /// The token that may read and change (switches, lifecycles, reload).
    pub write_token: Option<String>,
    /// TLS on the management port, its certificate read again on each reload.
    pub tls: Option<crate::base::tls::ServerTls>,
}

impl std::fmt::Debug for ManagementAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the tokens themselves.
        f.debug_struct("ManagementAccess")
            .field("read_token", &self.read_token.is_some())
            .field("write_token", &self.write_token.is_some())
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

impl ManagementAccess {
    /// The management API's guard from these and `hosts`, with the certificates of its
    /// TLS (which reloads read again).
    ///
    /// # Errors
    /// A token that is too short, the same token for reading and writing, or a TLS file
    /// that cannot be used.
    pub(crate) fn access(
        &self,
        hosts: &[String],
    ) -> Result<(admin::Access, Option<Arc<crate::base::tls::Certificates>>), String> {
        let tls = match &self.tls {
            Some(tls) => {
                let (mut config, certificates) = tls
                    .config()
                    .map_err(|error| format!("management TLS: {error:#}"))?;
                config.alpn_protocols = vec![b"http/1.1".to_vec()];
                Some((Arc::new(config), certificates))
            }
            None => None,
        };
        let (tls, certificates) = tls.unzip();
        let access = admin::Access {
            hosts: admin::guard::AllowedHosts::new(hosts),
            tokens: admin::auth::Tokens::new(self.read_token.clone(), self.write_token.clone())?,
            tls,
        };
        Ok((access, certificates))
    }
}

/// A running Axon.
#[derive(Debug)]
pub struct Server {
    shared: Arc<Shared>,
    http: Addr<FrontActor>,
    management: Addr<FrontActor>,
    grpc: Option<Addr<FrontActor>>,
    http_addr: SocketAddr,
    https_addr: Option<SocketAddr>,
    management_addr: SocketAddr,
    grpc_addr: Option<SocketAddr>,
    control: Option<Arbiter>,
}

/// Drains one front through its actor.
async fn drain(front: &Addr<FrontActor>, graceful: bool) {
    if let Err(error) = front.send(Drain { graceful }).await {
        tracing::warn!(%error, "A front actor did not drain");
    }
}

/// Each traffic port's share of the descriptors, keeping a reserve for the management
/// API (front::limits); the gRPC port, when there is one, is the second.
fn port_cap(grpc: bool) -> usize {
    let nofile = front::limits::raise_nofile_limit();
    let traffic_ports = 1 + u64::from(grpc);
    front::limits::connection_cap(nofile, traffic_ports)
}

/// Tells `shared` the front actors that take new configurations and reports.
fn set_fronts(shared: &Shared, fronts: [Option<&Addr<FrontActor>>; 3]) {
    shared.set_fronts(
        fronts
            .into_iter()
            .flatten()
            .map(|f| Front {
                install: f.clone().recipient(),
                report: f.clone().recipient(),
            })
            .collect(),
    );
}

/// The allow-list of `To` addresses, never allowing the management API's port.
fn guard_management(
    list: Arc<crate::base::allow_to::AllowTo>,
    management: &TcpListener,
) -> io::Result<Arc<crate::base::allow_to::AllowTo>> {
    if list.is_empty() {
        return Ok(list);
    }
    let port = management.local_addr()?.port();
    Ok(Arc::new((*list).clone().without_port(port)))
}

/// The HTTPS listener's server configuration; its certificates join `reloaded`, which
/// each reload reads again.
fn https_front(
    https: Option<(TcpListener, crate::base::tls::ServerTls)>,
    reloaded: &mut Vec<Arc<crate::base::tls::Certificates>>,
) -> io::Result<Option<(TcpListener, rustls::ServerConfig)>> {
    let Some((listener, tls)) = https else {
        return Ok(None);
    };
    let (config, certificates) = tls
        .config()
        .map_err(|error| io::Error::new(io::ErrorKind::InvalidInput, format!("{error:#}")))?;
    reloaded.push(certificates);
    Ok(Some((listener, config)))
}

// === impl Server ===

impl Server {
    /// Starts the endpoint actors, the HTTP front and the management API.
    ///
    /// # Errors
    /// When a listener cannot be used.
    pub async fn start(mediation: Mediation, options: ServerOptions) -> io::Result<Server> {
        crate::base::tls::install_crypto_provider();
        let readiness = Readiness::new();
        let control = Arbiter::new();
        let mut options = options;
        options.limits.allow_to =
            guard_management(options.limits.allow_to.clone(), &options.management)?;
        let runtime = Runtime::build(
            mediation,
            None,
            &control.handle(),
            &readiness,
            options.limits.clone(),
        );
        let shared = Arc::new(Shared::new(
            runtime,
            readiness.clone(),
            control.handle(),
            options.mediation_dir,
            options.limits.clone(),
        ));
        let http_addr = options.http.local_addr()?;
        let management_addr = options.management.local_addr()?;
        let workers = options
            .workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
        let port_cap = port_cap(options.grpc.is_some());
        let https_addr = match &options.https {
            Some((listener, _)) => Some(listener.local_addr()?),
            None => None,
        };
        let mut reloaded = Vec::new();
        let https = https_front(options.https, &mut reloaded)?;
        let http = front::http::serve(shared.clone(), options.http, https, workers, port_cap)?;
        let (access, management_certificates) = options
            .management_access
            .access(&options.management_hosts)
            .map_err(|why| io::Error::new(io::ErrorKind::InvalidInput, why))?;
        reloaded.extend(management_certificates);
        shared.set_certificates(reloaded);
        let management = admin::serve(shared.clone(), options.management, access)?;
        let grpc = match options.grpc {
            Some(listener) => Some(front::grpc::serve(
                shared.clone(),
                listener,
                options.grpc_tls,
                workers,
                options.limits.clone(),
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
        set_fronts(&shared, [Some(&http), grpc.as_ref(), Some(&management)]);
        readiness.listeners_up();
        let off = |addr: Option<std::net::SocketAddr>| {
            addr.map_or_else(|| "off".to_owned(), |a| a.to_string())
        };
        tracing::info!(%http_addr, https_addr = %off(https_addr), %management_addr, grpc_addr = %off(grpc_addr), workers, "Axon is listening");
        Ok(Server {
            shared,
            http,
            management,
            grpc,
            http_addr,
            https_addr,
            management_addr,
            grpc_addr,
            control: Some(control),
        })
    }

    /// The traffic listener's address.
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// The HTTPS listener's address, when one runs.
    pub fn https_addr(&self) -> Option<SocketAddr> {
        self.https_addr
    }

    /// The management API's address.
    pub fn management_addr(&self) -> SocketAddr {
        self.management_addr
    }

    /// The gRPC listener's address, when the gRPC front runs.
    pub fn grpc_addr(&self) -> Option<SocketAddr> {
        self.grpc_addr
    }

    /// Test hook: makes the handler of endpoint `name`'s actor (a leaf or a group) panic, as a
    /// bug would, so that tests can watch its supervisor restart it. False when no endpoint has
    /// that name. Only with the `test-hooks` feature, which release builds never enable.
    #[cfg(feature = "test-hooks")]
    #[doc(hidden)]
    pub fn panic_endpoint_actor(&self, name: &str) -> bool {
        use crate::endpoints::actor::{Panic, Report};
        let rt = self.shared.runtime();
        if let Some(leaf) = rt.endpoints.leaf_named(name) {
            leaf.addr.do_send(Report::Panic { trial: false });
        } else if let Some(group) = rt.endpoints.group_named(name) {
            group.addr.do_send(Panic);
        } else {
            return false;
        }
        true
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
        let drain_timeout = self.shared.limits().drain_timeout;
        let cut = actix_rt::spawn(async move {
            if graceful {
                tokio::time::sleep(drain_timeout).await;
                tracing::warn!(
                    drain_ms = drain_timeout.as_millis() as u64,
                    "The drain ended: exchanges still running are answered 503"
                );
            }
            shared.end_drain();
        });
        futures_util::future::join(drain(&self.http, graceful), grpc).await;
        cut.abort();
        drain(&self.management, graceful).await;
        if let Some(control) = self.control.take() {
            control.stop();
        }
    }

    /// Runs until SIGINT/SIGTERM, then shuts down gracefully (see [`Server::shut_down`]);
    /// SIGHUP reloads the configuration.
    pub(crate) async fn run_until_signalled(self, delay: std::time::Duration) {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let mut hup = signal(SignalKind::hangup()).ok();
            let mut term = signal(SignalKind::terminate()).ok();
            loop {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => break,
                    _ = next(&mut term) => break,
                    _ = next(&mut hup) => self.reload_on_signal().await,
                }
            }
            self.shut_down(delay, async {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = next(&mut term) => {}
                }
            })
            .await;
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            self.shut_down(delay, std::future::pending()).await;
        }
    }

    /// The shutdown an orchestrator expects: `/health/ready` answers 503 at once, new
    /// connections are still accepted for `delay` (load balancers notice the probe and stop
    /// sending; `again`, a second signal, cuts it short), then the listeners close and
    /// in-flight exchanges have `Limits::drain_timeout` to finish ([`Server::stop`]).
    pub(crate) async fn shut_down(
        self,
        delay: std::time::Duration,
        again: impl Future<Output = ()>,
    ) {
        self.shared.readiness().draining();
        tracing::info!(
            delay_ms = delay.as_millis() as u64,
            grace_ms = self.shared.limits().drain_timeout.as_millis() as u64,
            "Shutting down: not ready; still accepting during the delay"
        );
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = again => tracing::info!("Second signal: the shutdown delay is cut short"),
        }
        tracing::info!("Closing the listeners and draining in-flight exchanges");
        self.stop(true).await;
        tracing::info!("Axon stopped");
    }

    #[cfg(unix)]
    async fn reload_on_signal(&self) {
        // A rejected reload is logged by Shared::reload, with each error.
        if let Ok(summary) = self.shared.reload().await {
            tracing::info!(generation = summary.generation, "Reloaded on SIGHUP");
        }
    }
}

/// The next delivery of `signal`; never, when it could not be installed.
#[cfg(unix)]
async fn next(signal: &mut Option<tokio::signal::unix::Signal>) {
    match signal.as_mut() {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending::<()>().await,
    }
}
