//! The count of timeouts a layer's calls hit, reached by id from the response future.
//!
//! # Why by id
//! A future that held an `Arc` of the counter would pay a shared reference-count write on
//! every call (two atomic read-modify-writes, 11 ns on the 2-core VM of the README, 40 % of
//! a timeout's call; and a service holding one would pay it on every clone, which axum makes
//! per request). Services and futures carry only the counter's id, a plain copy. A timeout
//! that fires (the rare path: it already armed a tokio timer) finds its counter in a global
//! hash map under a lock and adds one.
//!
//! # Invariants
//! - Ids are never reused (a `u64` that only grows); 0 means "not counted".
//! - The map holds `Weak`s: a counter lives as long as its layer or a metrics collector
//!   holds it, and leaves the map when it is freed. A timeout that fires after that counts
//!   nothing (nobody can read it any more).
//! - Building a layer, freeing its counter and a firing timeout are each O(1): the map is
//!   never scanned.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, LazyLock, Weak};

use parking_lot::Mutex;

/// Every live counter by id. Locked when a layer is built, when its counter is freed and when
/// a timeout fires.
static LIVE: LazyLock<Mutex<HashMap<u64, Weak<Fired>>>> = LazyLock::new(Default::default);

/// The timeouts of one layer (and every service made from it).
#[derive(Debug)]
pub(crate) struct Fired {
    pub(crate) id: u64,
    count: AtomicU64,
}

impl Fired {
    /// A new counter, listed so that futures can find it by id.
    pub(crate) fn new() -> Arc<Fired> {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        let fired = Arc::new(Fired {
            id: NEXT_ID.fetch_add(1, Relaxed),
            count: AtomicU64::new(0),
        });
        LIVE.lock().insert(fired.id, Arc::downgrade(&fired));
        fired
    }

    /// Timeouts so far. Relaxed: a count, read at scrape time.
    pub(crate) fn count(&self) -> u64 {
        self.count.load(Relaxed)
    }
}

/// Count one timeout for the counter `id` (0, or a counter nobody holds any more: nothing).
#[cold]
pub(crate) fn fired(id: u64) {
    if id == 0 {
        return;
    }
    let weak = LIVE.lock().get(&id).cloned();
    if let Some(fired) = weak.and_then(|weak| weak.upgrade()) {
        fired.count.fetch_add(1, Relaxed);
    }
}

impl Drop for Fired {
    fn drop(&mut self) {
        LIVE.lock().remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_id_and_forgets_dropped_counters() {
        let a = Fired::new();
        let b = Fired::new();
        fired(a.id);
        fired(a.id);
        fired(b.id);
        fired(0);
        assert_eq!((a.count(), b.count()), (2, 1));
        let gone = b.id;
        drop(b);
        fired(gone); // nobody to tell; must not panic
        assert_eq!(a.count(), 2);
        let c = Fired::new();
        let listed = |id: u64| LIVE.lock().contains_key(&id);
        assert!(!listed(gone), "the dropped counter is forgotten");
        assert!(listed(a.id) && listed(c.id), "the live ones stay listed");
    }
}
