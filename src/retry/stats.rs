//! What a retry layer counts for its operators (read by `tower_breakwater::metrics`).
//!
//! Only events on the retry path are counted: a retry sent, and the end of a call that
//! wanted one. A call that succeeds first time (the common case) touches none of these, so
//! counting costs the success path nothing. Relaxed: each is its own counter, read at
//! scrape time; they order no other memory.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// The counters of one retry layer, shared by every service and future made from it.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    /// Attempts after the first, sent.
    pub(crate) retries: AtomicU64,
    /// Calls that were retried and ended with an `Ok` the predicate accepted.
    pub(crate) recovered: AtomicU64,
    /// Calls that were retried and ended with an error the predicate does not retry.
    pub(crate) failed: AtomicU64,
    /// Calls that gave up because no attempt was left (or the request could not be copied
    /// again).
    pub(crate) exhausted: AtomicU64,
    /// Calls that gave up because the budget could not pay for a retry.
    pub(crate) budget_exhausted: AtomicU64,
}

impl Stats {
    pub(crate) fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Relaxed);
    }

    /// The end of a call that was retried at least once and whose last outcome was not
    /// retried.
    #[cold]
    pub(crate) fn retried_call_ended(&self, ok: bool) {
        Self::count(if ok { &self.recovered } else { &self.failed });
    }
}
