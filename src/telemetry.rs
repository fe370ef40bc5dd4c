//! Logging through `tracing`: one access-log line per message exchange at info level,
//! endpoint state changes at info, failures at warn; at debug, each mediator that runs and
//! each endpoint try. The filter comes from `AXON_LOG` (same syntax as `RUST_LOG`), default
//! `info`: a bare level applies to Axon itself, its dependencies staying at `warn` (so
//! `AXON_LOG=trace` shows Axon's own detail, not the HTTP stack's); a full directive list
//! (`AXON_LOG=info,actix_server=debug`) is taken as written. `AXON_LOG_FORMAT=json` writes
//! one JSON object per line (tracing-subscriber's JSON formatter), fields at the top level.

use tracing_subscriber::EnvFilter;

/// The crate's target, for the directive a bare level becomes.
const CRATE: &str = env!("CARGO_CRATE_NAME");

/// The filter directives `AXON_LOG` asks for.
fn directives(spec: Option<&str>) -> String {
    let spec = spec
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or("info");
    if spec.contains(['=', ',']) {
        spec.to_owned()
    } else {
        format!("warn,{CRATE}={spec}")
    }
}

/// The filter `AXON_LOG` asks for (Axon at info when it cannot be read).
fn filter(spec: Option<&str>) -> EnvFilter {
    EnvFilter::try_new(directives(spec))
        .unwrap_or_else(|_| EnvFilter::new(format!("warn,{CRATE}=info")))
}

/// Installs the global subscriber. Calling it twice is harmless.
pub fn init() {
    let filter = filter(std::env::var("AXON_LOG").ok().as_deref());
    let json = std::env::var("AXON_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let installed = if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .with_target(false)
            .try_init()
    } else {
        let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
        builder
            .with_target(false)
            .with_ansi(ansi)
            .compact()
            .try_init()
    };
    if installed.is_err() {
        tracing::debug!("A tracing subscriber was already installed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_level_applies_to_axon_only() {
        assert_eq!(directives(Some("debug")), format!("warn,{CRATE}=debug"));
        assert_eq!(directives(None), format!("warn,{CRATE}=info"));
        assert_eq!(directives(Some("info,h2=trace")), "info,h2=trace");
        assert_eq!(
            filter(Some("trace")).max_level_hint(),
            Some(tracing::level_filters::LevelFilter::TRACE)
        );
    }
}
