//! The readiness latch: `/health/ready` turns green once every listener is bound and every
//! endpoint actor has started, and red again for good when the process starts draining.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Shared readiness counters. Cloning shares the same latch.
#[derive(Debug, Clone, Default)]
pub(crate) struct Readiness {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    expected: AtomicUsize,
    started: AtomicUsize,
    listeners: AtomicBool,
    draining: AtomicBool,
}

impl Readiness {
    /// A latch that is not ready.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// One more actor must start before the process is ready.
    pub(crate) fn actor_expected(&self) {
        self.inner.expected.fetch_add(1, Ordering::AcqRel);
    }

    /// An actor has started.
    pub(crate) fn actor_started(&self) {
        self.inner.started.fetch_add(1, Ordering::AcqRel);
    }

    /// All listeners are bound and serving.
    pub(crate) fn listeners_up(&self) {
        self.inner.listeners.store(true, Ordering::Release);
    }

    /// The process is shutting down: not ready any more, whatever else happens.
    pub(crate) fn draining(&self) {
        self.inner.draining.store(true, Ordering::Release);
    }

    /// True once [`Readiness::draining`] was called.
    pub(crate) fn is_draining(&self) -> bool {
        self.inner.draining.load(Ordering::Acquire)
    }

    /// True when listeners are up, every expected actor has started, and the process is
    /// not draining.
    pub(crate) fn is_ready(&self) -> bool {
        !self.is_draining()
            && self.inner.listeners.load(Ordering::Acquire)
            && self.inner.started.load(Ordering::Acquire)
                >= self.inner.expected.load(Ordering::Acquire)
    }

    /// (started, expected) actors.
    pub(crate) fn actors(&self) -> (usize, usize) {
        (
            self.inner.started.load(Ordering::Acquire),
            self.inner.expected.load(Ordering::Acquire),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_when_listeners_and_all_actors_are_up() {
        let r = Readiness::new();
        r.actor_expected();
        r.actor_expected();
        assert!(!r.is_ready());
        r.listeners_up();
        r.actor_started();
        assert!(!r.is_ready());
        r.clone().actor_started();
        assert!(r.is_ready());
        r.draining();
        assert!(!r.is_ready());
        r.listeners_up();
        assert!(!r.is_ready(), "draining is for good");
    }
}
