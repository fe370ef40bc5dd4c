//! The descriptor budget of the traffic ports.
//!
//! Every connection holds a file descriptor, and so does every backend connection, the
//! management API's, each log or configuration file. When the process runs out, `accept`
//! fails on every port at once: a flood of silent sockets on one traffic port would make
//! `/health/ready` time out too. So at start Axon raises its soft `RLIMIT_NOFILE` to the
//! hard limit (as servers do) and caps each traffic port's connections so that a reserve
//! always remains:
//!
//! ```text
//! reserve  = max(128, limit / 8)                  for the management API, files, timers
//! per port = (limit - reserve) / (2 * traffic ports)
//! ```
//!
//! The factor 2: a front connection may hold one backend connection while it is served.
//! With the common limit of 1,024 and two traffic ports (HTTP and gRPC), each port takes
//! 224 connections; with 65,536, 14,336.

/// Descriptors kept aside whatever the limit.
const MIN_RESERVE: u64 = 128;
/// The limit assumed when the process has none (Linux's default `nr_open`).
const UNLIMITED: u64 = 1 << 20;

/// Raises the soft open-file limit to the hard limit and returns the limit in force.
pub(crate) fn raise_nofile_limit() -> u64 {
    #[cfg(unix)]
    {
        use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
        let Rlimit { current, maximum } = getrlimit(Resource::Nofile);
        let hard = maximum.unwrap_or(UNLIMITED);
        let soft = current.unwrap_or(UNLIMITED);
        if soft >= hard {
            return soft;
        }
        let raised = Rlimit {
            current: Some(hard),
            maximum,
        };
        match setrlimit(Resource::Nofile, raised) {
            Ok(()) => hard,
            Err(error) => {
                tracing::warn!(%error, soft, hard, "The open-file limit cannot be raised");
                soft
            }
        }
    }
    #[cfg(not(unix))]
    {
        UNLIMITED
    }
}

/// The connection cap of each of `traffic_ports` ports under an open-file limit of
/// `nofile` descriptors, keeping the reserve (module documentation).
pub(crate) fn connection_cap(nofile: u64, traffic_ports: u64) -> usize {
    let reserve = (nofile / 8).max(MIN_RESERVE);
    let per_port = nofile.saturating_sub(reserve) / (2 * traffic_ports.max(1));
    usize::try_from(per_port.max(1)).unwrap_or(usize::MAX)
}

/// `configured`, lowered to `allowed` (the port's share of the descriptors) with a warning
/// naming `flag`: a cap the descriptors cannot honour would let a flood starve every port.
pub(crate) fn within_descriptors(configured: usize, allowed: usize, flag: &str) -> usize {
    if configured > allowed {
        tracing::warn!(
            configured,
            allowed,
            "{flag} lowered to this port's share of the open-file limit (a reserve stays for the management API); raise `ulimit -n` to serve more"
        );
        return allowed;
    }
    configured
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_keeps_a_reserve_for_the_management_api() {
        assert_eq!(connection_cap(1024, 2), 224);
        assert_eq!(connection_cap(65_536, 2), 14_336);
        // Both ports full, each with a backend connection, still leaves the reserve.
        for nofile in [256, 1024, 4096, 65_536, 1 << 20] {
            let used = 2 * 2 * connection_cap(nofile, 2) as u64;
            assert!(nofile - used >= MIN_RESERVE.max(nofile / 8), "{nofile}");
        }
        // A tiny limit still lets one connection in.
        assert_eq!(connection_cap(64, 2), 1);
    }

    #[test]
    fn a_configured_cap_above_the_share_is_lowered() {
        assert_eq!(within_descriptors(10_000, 14_336, "--x"), 10_000);
        assert_eq!(within_descriptors(10_000, 224, "--x"), 224);
    }

    #[cfg(unix)]
    #[test]
    fn raising_the_limit_never_lowers_it() {
        let before = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
        let now = raise_nofile_limit();
        assert!(before.is_none_or(|b| now >= b));
    }
}
