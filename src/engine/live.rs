//! The live configuration generation that the fronts, the management API and reloads share,
//! and the reload that swaps in the next one.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use actix::prelude::*;
use actix::{ArbiterHandle, Recipient};
use arc_swap::ArcSwap;
use serde::Serialize;

use super::{Mediation, Runtime};
use crate::base::limits::Limits;
use crate::base::readiness::Readiness;
use crate::config::Diagnostics;
use crate::endpoints::actor::registry::{self, GetReports, Registry};
use crate::endpoints::group::NodeReport;

/// What the HTTP front, the management API and reloads share.
#[derive(Debug)]
pub(crate) struct Shared {
    runtime: ArcSwap<Runtime>,
    readiness: Readiness,
    control: ArbiterHandle,
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
    fronts: OnceLock<Vec<Front>>,
    /// The certificates of the HTTPS listener and of the management API's TLS, read
    /// again together by each reload.
    certificates: OnceLock<Vec<Arc<crate::base::tls::Certificates>>>,
}

/// A front actor as the generation sees it: told of switches, asked for its report.
#[derive(Debug)]
pub(crate) struct Front {
    /// Where a generation switch is told.
    pub(crate) install: Recipient<Install>,
    /// Where its report is asked.
    pub(crate) report: Recipient<GetFront>,
}

/// The generation `generation` is now the one new requests get.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct Install {
    pub(crate) generation: u64,
}

/// Asks a front for its report.
#[derive(Debug, Message)]
#[rtype(result = "FrontReport")]
pub(crate) struct GetFront;

/// What `GET /health/actors` shows of a front.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct FrontReport {
    /// `http`, `grpc` or `management`.
    pub(crate) name: &'static str,
    /// The address it listens on.
    pub(crate) address: String,
    /// The configuration generation new requests get.
    pub(crate) generation: u64,
}

/// What a successful reload did.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ReloadSummary {
    /// The new generation number.
    pub(crate) generation: u64,
    /// APIs now served.
    pub(crate) apis: usize,
    /// Proxy services now served.
    pub(crate) proxies: usize,
    /// Leaf endpoints whose actor (and health state) was kept.
    pub(crate) endpoints_kept: Vec<String>,
    /// Leaf endpoints started fresh.
    pub(crate) endpoints_started: Vec<String>,
    /// Warnings, as `file:line:col: warning: message`.
    pub(crate) warnings: Vec<String>,
}

// === impl Shared ===

impl Shared {
    /// The generation `runtime`, numbered 1, with what reloads need to build the next ones;
    /// its endpoint actors are installed under a new registry on `control`.
    pub(crate) fn new(
        runtime: Runtime,
        readiness: Readiness,
        control: ArbiterHandle,
        mediation_dir: PathBuf,
        limits: Limits,
    ) -> Self {
        let registry = Registry::start(&control);
        registry.do_send(registry::Install {
            generation: 1,
            members: runtime.endpoints.members(),
        });
        Shared {
            registry,
            fronts: OnceLock::new(),
            certificates: OnceLock::new(),
            runtime: ArcSwap::from_pointee(runtime),
            readiness,
            control,
            mediation_dir,
            limits,
            generation: AtomicU64::new(1),
            reload_lock: tokio::sync::Mutex::new(()),
            drain_ended: tokio::sync::watch::Sender::new(false),
        }
    }

    /// Sets the front actors told of generation switches (once, when the fronts started).
    pub(crate) fn set_fronts(&self, fronts: Vec<Front>) {
        self.fronts.get_or_init(|| fronts);
    }

    /// The report of every endpoint actor, leaves then groups, through the registry
    /// (`None` when it did not answer).
    pub(crate) async fn endpoint_reports(&self) -> Option<Vec<NodeReport>> {
        self.registry.send(GetReports).await.ok()
    }

    /// What each front actor reports (those that answer).
    pub(crate) async fn fronts(&self) -> Vec<FrontReport> {
        let fronts = self.fronts.get().map_or(&[][..], Vec::as_slice);
        let asks = fronts.iter().map(|f| f.report.send(GetFront));
        let answers = futures_util::future::join_all(asks).await;
        answers.into_iter().filter_map(Result::ok).collect()
    }

    /// The limits every generation runs with.
    pub(crate) fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Ends the drain of a graceful stop: exchanges still running answer 503 at once.
    pub(crate) fn end_drain(&self) {
        self.drain_ended.send_replace(true);
    }

    /// The current configuration generation.
    pub(crate) fn runtime(&self) -> Arc<Runtime> {
        self.runtime.load_full()
    }

    /// The readiness latch.
    pub(crate) fn readiness(&self) -> &Readiness {
        &self.readiness
    }

    /// Becomes true when the drain of a graceful stop ends.
    pub(crate) fn drain_ended(&self) -> tokio::sync::watch::Receiver<bool> {
        self.drain_ended.subscribe()
    }

    /// Sets the certificates each reload reads again (once, when the fronts started).
    pub(crate) fn set_certificates(&self, certificates: Vec<Arc<crate::base::tls::Certificates>>) {
        self.certificates.get_or_init(|| certificates);
    }

    /// Reads the certificates again (a reload's first step once the folder loaded):
    /// handshakes from now on get the new ones; open connections keep theirs.
    fn reload_certificates(&self) -> Result<(), Diagnostics> {
        let Some(certificates) = self.certificates.get() else {
            return Ok(());
        };
        let sets: Vec<&crate::base::tls::Certificates> =
            certificates.iter().map(|c| &**c).collect();
        crate::base::tls::Certificates::reload_all(&sets).map_err(|error| {
            let mut d = Diagnostics::default();
            d.error(
                &crate::config::Loc::file_start(Arc::from("<tls>")),
                format!("{error:#}; the running certificates and configuration are kept"),
            );
            d
        })
    }

    /// Resolves when the drain of a graceful stop ends (never, if it cannot).
    pub(crate) async fn drain_end(&self) {
        if self.drain_ended().wait_for(|ended| *ended).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// The current generation number.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Loads the mediation folder again and, when it is valid, swaps it in. Endpoints whose
    /// configuration did not change keep their actors and health state; the HTTPS
    /// certificates are read again too. On error the running configuration (and the
    /// certificates) are kept and every problem is returned.
    ///
    /// # Errors
    /// The diagnostics of the new configuration.
    pub(crate) async fn reload(&self) -> Result<ReloadSummary, Diagnostics> {
        let result = self.load_next().await;
        crate::base::metrics::global().reload(result.is_ok());
        if let Err(diags) = &result {
            for d in diags.sorted() {
                tracing::error!("{d}");
            }
            tracing::error!(
                folder = %self.mediation_dir.display(),
                "Reload rejected; the running configuration is kept"
            );
        }
        result
    }

    /// Loads the folder again and installs it, unless it has errors.
    async fn load_next(&self) -> Result<ReloadSummary, Diagnostics> {
        let _serial = self.reload_lock.lock().await;
        let dir = self.mediation_dir.clone();
        let loaded = actix_web::rt::task::spawn_blocking(move || Mediation::load(&dir))
            .await
            .unwrap_or_else(|_| {
                let mut d = Diagnostics::default();
                d.error(
                    &crate::config::Loc::file_start(Arc::from("<reload>")),
                    "configuration loader crashed",
                );
                Err(d)
            })?;
        self.reload_certificates()?;
        let old = self.runtime();
        let warnings = loaded
            .config
            .warnings
            .iter()
            .map(ToString::to_string)
            .collect();
        let runtime = Runtime::build(
            loaded,
            Some(&old),
            &self.control,
            &self.readiness,
            self.limits.clone(),
        );
        let (kept, started) = kept_and_started(&old, &runtime);
        let apis = runtime.config.apis.len();
        let proxies = runtime.config.proxies.len();
        let generation = self.install(runtime);
        tracing::info!(
            generation,
            apis,
            proxies,
            kept = kept.len(),
            started = started.len(),
            "Configuration reloaded"
        );
        Ok(ReloadSummary {
            generation,
            apis,
            proxies,
            endpoints_kept: kept,
            endpoints_started: started,
            warnings,
        })
    }

    /// The switch to `runtime`: requests that start from now on get the new generation
    /// (returned); those in flight keep the one they started with.
    fn install(&self, runtime: Runtime) -> u64 {
        let members = runtime.endpoints.members();
        self.runtime.store(Arc::new(runtime));
        let generation = self.generation.fetch_add(1, Ordering::AcqRel) + 1;
        self.registry.do_send(registry::Install {
            generation,
            members,
        });
        for front in self.fronts.get().into_iter().flatten() {
            front.install.do_send(Install { generation });
        }
        generation
    }
}

/// The names of the leaves of `new` that kept the health state they had in `old`, and of
/// those that started afresh.
fn kept_and_started(old: &Runtime, new: &Runtime) -> (Vec<String>, Vec<String>) {
    let mut kept = Vec::new();
    let mut started = Vec::new();
    for leaf in new.endpoints.leaves() {
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
    (kept, started)
}
