//! Logging through `tracing`: one line per message exchange at info level, endpoint state
//! changes at info, failures at warn. The filter comes from `AXON_LOG` (same syntax as
//! `RUST_LOG`), default `info`.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. Calling it twice is harmless.
pub fn init() {
    let filter = EnvFilter::try_from_env("AXON_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let installed = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .compact()
        .try_init();
    if installed.is_err() {
        tracing::debug!("A tracing subscriber was already installed");
    }
}
