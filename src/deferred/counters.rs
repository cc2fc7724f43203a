//! What one process's queue handle counts (for `deferred_enqueued_total` and
//! `deferred_replayed_total`). Written once per enqueue or per reported item, beside a
//! commit that costs milliseconds: a shared atomic is free at that scale.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::Enqueued;

/// The outcomes of `deferred_replayed_total`, in the order of [`Counters::replayed`].
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
pub(crate) const REPLAY_OUTCOMES: [&str; 4] = ["delivered", "failed", "dead", "refused"];

#[derive(Debug, Default)]
pub(crate) struct Counters {
    enqueued: AtomicU64,
    delivered: AtomicU64,
    failed: AtomicU64,
    dead: AtomicU64,
    refused: AtomicU64,
}

impl Counters {
    pub(crate) fn enqueued(&self, enqueued: Enqueued) {
        if enqueued == Enqueued::Added {
            self.enqueued.fetch_add(1, Relaxed);
        }
    }

    pub(crate) fn delivered(&self, items: usize) {
        self.delivered.fetch_add(items as u64, Relaxed);
    }

    /// A failed attempt: retried later, or (`dead`) dead-lettered.
    pub(crate) fn failed(&self, dead: bool) {
        match dead {
            true => self.dead.fetch_add(1, Relaxed),
            false => self.failed.fetch_add(1, Relaxed),
        };
    }

    pub(crate) fn refused(&self) {
        self.refused.fetch_add(1, Relaxed);
    }

    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    /// Items this handle added (duplicates are not counted).
    pub(crate) fn enqueued_total(&self) -> u64 {
        self.enqueued.load(Relaxed)
    }

    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    /// Reported items by outcome, in the order of [`REPLAY_OUTCOMES`].
    pub(crate) fn replayed(&self) -> [u64; 4] {
        [
            self.delivered.load(Relaxed),
            self.failed.load(Relaxed),
            self.dead.load(Relaxed),
            self.refused.load(Relaxed),
        ]
    }
}
