//! One cache's entries: bounded, least recently used evicted first, expiring `timeout`
//! after they were written; with the hit, miss and eviction counts.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::HeaderMap;
use bytes::Bytes;
use tokio::time::Instant;

use super::Settings;
use crate::base::metrics::CacheCounters;

#[derive(Debug)]
pub(super) struct Store {
    /// The registry key (artifact, id, settings): what a finder marks the message with.
    pub(super) key: String,
    id: Option<String>,
    pub(super) settings: Settings,
    entries: Mutex<Entries>,
    hits: AtomicU64,
    misses: AtomicU64,
    evictions: AtomicU64,
    /// The same counts in the process's metrics (`axon_cache_total`, by `id`).
    metrics: CacheCounters,
}

#[derive(Debug, Default)]
struct Entries {
    by_hash: HashMap<String, Entry>,
    /// Use ticks to hashes: the first is the least recently used.
    by_use: BTreeMap<u64, String>,
    tick: u64,
}

#[derive(Debug)]
struct Entry {
    response: Arc<Response>,
    written: Instant,
    used: u64,
}

/// A stored response: shared, so that a hit takes it out of the lock with one count.
#[derive(Debug)]
pub(super) struct Response {
    pub(super) status: StatusCode,
    pub(super) headers: HeaderMap,
    pub(super) body: Bytes,
}

/// A stored response, as a hit hands it out.
#[derive(Debug)]
pub(super) struct Stored {
    pub(super) response: Arc<Response>,
    pub(super) age: Duration,
}

/// One cache's counts, for the health API.
#[derive(Debug)]
pub(crate) struct Stats {
    /// The cache `id` (empty for a cache without one).
    pub(crate) name: String,
    pub(crate) entries: usize,
    pub(crate) max_size: usize,
    pub(crate) hits: u64,
    pub(crate) misses: u64,
    pub(crate) evictions: u64,
}

impl Store {
    pub(super) fn new(key: String, id: Option<String>, settings: Settings) -> Store {
        let metrics = crate::base::metrics::global().cache(id.as_deref().unwrap_or_default());
        Store {
            key,
            metrics,
            id,
            settings,
            entries: Mutex::default(),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
        }
    }

    /// The fresh entry for `hash` (counted as a hit), or `None` (a miss).
    pub(super) fn find(&self, hash: &str) -> Option<Stored> {
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let fresh = entries
            .by_hash
            .get(hash)
            .map(|entry| now.duration_since(entry.written) < self.settings.timeout);
        let found = match fresh {
            Some(true) => entries.touch(hash).map(|entry| Stored {
                response: Arc::clone(&entry.response),
                age: now.duration_since(entry.written),
            }),
            Some(false) => {
                entries.remove(hash);
                None
            }
            None => None,
        };
        drop(entries);
        let (counter, metric) = match found {
            Some(_) => (&self.hits, &self.metrics.hit),
            None => (&self.misses, &self.metrics.miss),
        };
        counter.fetch_add(1, Ordering::Relaxed);
        metric.inc();
        found
    }

    /// Stores a response, evicting the least recently used entries past `maxSize`.
    pub(super) fn put(&self, hash: &str, status: StatusCode, headers: HeaderMap, body: Bytes) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.remove(hash);
        while entries.by_hash.len() >= self.settings.max_size {
            let Some((_, oldest)) = entries.by_use.pop_first() else {
                break;
            };
            entries.by_hash.remove(&oldest);
            self.evictions.fetch_add(1, Ordering::Relaxed);
            self.metrics.eviction.inc();
        }
        entries.tick += 1;
        let used = entries.tick;
        entries.by_use.insert(used, hash.to_owned());
        let entry = Entry {
            response: Arc::new(Response {
                status,
                headers,
                body,
            }),
            written: Instant::now(),
            used,
        };
        entries.by_hash.insert(hash.to_owned(), entry);
    }

    pub(super) fn stats(&self) -> Stats {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        Stats {
            name: self.id.clone().unwrap_or_default(),
            entries: entries.by_hash.len(),
            max_size: self.settings.max_size,
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
        }
    }
}

impl Entries {
    /// Marks `hash` as just used and returns its entry.
    fn touch(&mut self, hash: &str) -> Option<&Entry> {
        self.tick += 1;
        let tick = self.tick;
        let entry = self.by_hash.get_mut(hash)?;
        self.by_use.remove(&entry.used);
        entry.used = tick;
        self.by_use.insert(tick, hash.to_owned());
        Some(entry)
    }

    fn remove(&mut self, hash: &str) {
        if let Some(old) = self.by_hash.remove(hash) {
            self.by_use.remove(&old.used);
        }
    }
}
