//! The live configuration generation that the fronts, the management API and reloads share,
//! and the reload that swaps in the next one.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use actix::ArbiterHandle;
use arc_swap::ArcSwap;
use serde::Serialize;

use super::{Mediation, Runtime};
use crate::base::limits::Limits;
use crate::base::readiness::Readiness;
use crate::config::Diagnostics;

/// What the HTTP front, the management API and reloads share.
#[derive(Debug)]
pub struct Shared {
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

// === impl Shared ===

impl Shared {
    /// The generation `runtime`, numbered 1, with what reloads need to build the next ones.
    pub(crate) fn new(
        runtime: Runtime,
        readiness: Readiness,
        control: ArbiterHandle,
        mediation_dir: PathBuf,
        limits: Limits,
    ) -> Self {
        Shared {
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

    /// The limits every generation runs with.
    pub(crate) fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Ends the drain of a graceful stop: exchanges still running answer 503 at once.
    pub(crate) fn end_drain(&self) {
        self.drain_ended.send_replace(true);
    }

    /// The current configuration generation.
    pub fn runtime(&self) -> Arc<Runtime> {
        self.runtime.load_full()
    }

    /// The readiness latch.
    pub fn readiness(&self) -> &Readiness {
        &self.readiness
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
        self.runtime.store(Arc::new(runtime));
        let generation = self.generation.fetch_add(1, Ordering::AcqRel) + 1;
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
