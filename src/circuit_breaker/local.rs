//! Per-thread counters, and how a response future finds its breaker again without holding a
//! reference count.
//!
//! # Why
//! A response future has to reach its breaker when it completes. Holding an `Arc` would
//! cost an atomic increment and decrement on one shared cache line per call, which is what
//! collapses peers under two threads. Instead a future carries only the breaker's `id`, and
//! each thread keeps a small cache (`LOCAL`) from id to the breaker and to a [`ThreadBlock`]
//! of counters that only this thread writes. The closed-path call therefore writes only its
//! own thread's cache line, with plain loads and stores (no lock prefix).
//!
//! # Invariants
//! - A `ThreadBlock` has exactly one writer: the thread whose `LOCAL` holds it (or, on the
//!   rare re-entrant path, one call that made a fresh block for itself). So `bump` may be a
//!   load + store; readers (snapshots, scrapes) load `Relaxed` and sum every block.
//! - Every block is registered in its breaker's `blocks` list before it is written, so no
//!   count is ever lost, even after its thread exits.
//! - A cache entry keeps its breaker alive; entries of breakers whose last handle was dropped
//!   are evicted the next time the thread misses its cache.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use super::core::Core;
use super::state::{Ticket, MAX_BREAKER_ID};
use crate::classify::Outcome;

/// Counters of one thread for one breaker. Aligned to keep threads off each other's lines.
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct ThreadBlock {
    pub(crate) successes: AtomicU64,
    pub(crate) failures: AtomicU64,
    pub(crate) ignored: AtomicU64,
    pub(crate) rejected: AtomicU64,
    pub(crate) cancelled: AtomicU64,
    pub(crate) slow: AtomicU64,
    /// Failures that counted toward opening (see `Totals::counted_failures`); bumped on the
    /// failure path only.
    pub(crate) counted_failures: AtomicU64,
    /// Time-window buckets of this thread (empty for other rules).
    pub(crate) buckets: Box<[Bucket]>,
    /// The index in `buckets` this thread counted in last (a hint, checked before use).
    pub(crate) last_bucket: AtomicU64,
    /// Count-window slots this thread has claimed: `[claim_next, claim_end)` of closed
    /// period `claim_generation`, claimed `claim_batch` at a time (see `window.rs`).
    pub(crate) claim_next: AtomicU64,
    pub(crate) claim_end: AtomicU64,
    pub(crate) claim_batch: AtomicU64,
    pub(crate) claim_generation: AtomicU64,
    /// Rejections this thread counted in the open period of `open_generation` (to decide
    /// when a timer should end that period; see `Core::count_rejection`).
    pub(crate) open_generation: AtomicU64,
    pub(crate) open_rejections: AtomicU64,
    /// Time-window successes this thread put in a bucket by reading the clock (no ticker
    /// kept the bucket clock); every 64th tries to start one (see `Core::record_closed`).
    pub(crate) clock_reads: AtomicU64,
}

/// One slice of a time window, as seen by one thread.
#[derive(Debug, Default)]
pub(crate) struct Bucket {
    /// `generation << 32 | 1` of the closed period it counts, 0 while being reset.
    pub(crate) tag: AtomicU64,
    /// Which slice of time (`now / bucket width`) it counts.
    pub(crate) epoch: AtomicU64,
    pub(crate) calls: AtomicU64,
    pub(crate) failures: AtomicU64,
    pub(crate) slow: AtomicU64,
}

/// Add `by` to a counter that only the current thread writes.
#[inline]
pub(crate) fn bump(counter: &AtomicU64, by: u64) {
    counter.store(counter.load(Relaxed).wrapping_add(by), Relaxed);
}

impl ThreadBlock {
    pub(crate) fn new(buckets: usize) -> Self {
        ThreadBlock {
            buckets: (0..buckets).map(|_| Bucket::default()).collect(),
            ..ThreadBlock::default()
        }
    }
}

struct Entry {
    /// `core.id`, kept here so the search reads only the cache's own memory.
    id: u32,
    core: Arc<Core>,
    block: Arc<ThreadBlock>,
}

thread_local! {
    static LOCAL: RefCell<Vec<Entry>> = const { RefCell::new(Vec::new()) };
}

/// Every live breaker by id, for a future that completes on a thread that has not seen its
/// breaker yet. Locked only on such a cache miss (once per thread and breaker).
static REGISTRY: Mutex<Vec<Weak<Core>>> = Mutex::new(Vec::new());

/// Build a breaker with an id no live breaker has, and register it. Ids are 29 bits (they
/// ride in each permit's ticket); after 2^29 breakers they wrap, skipping live ones.
pub(crate) fn register(make: impl FnOnce(u32) -> Core) -> Arc<Core> {
    static NEXT_ID: AtomicU32 = AtomicU32::new(1);
    let mut registry = REGISTRY.lock();
    registry.retain(|weak| weak.strong_count() > 0);
    let in_use = |id: u32| {
        registry
            .iter()
            .any(|w| w.upgrade().is_some_and(|c| c.id == id))
    };
    let id = loop {
        let id = NEXT_ID.fetch_add(1, Relaxed) & MAX_BREAKER_ID;
        if id != 0 && !in_use(id) {
            break id;
        }
    };
    let core = Arc::new(make(id));
    registry.push(Arc::downgrade(&core));
    core
}

fn find_registered(id: u32) -> Option<Arc<Core>> {
    REGISTRY
        .lock()
        .iter()
        .filter_map(Weak::upgrade)
        .find(|core| core.id == id)
}

/// Run `f` with this thread's block for `core` (the caller holds the breaker).
#[inline]
pub(crate) fn with_block<R>(core: &Arc<Core>, f: impl FnOnce(&ThreadBlock) -> R) -> R {
    let mut f = Some(f);
    let hit = LOCAL.try_with(|cell| {
        let entries = cell.try_borrow().ok()?;
        let entry = entries.iter().find(|e| Arc::ptr_eq(&e.core, core))?;
        Some((f.take().expect("called once"))(&entry.block))
    });
    match hit {
        Ok(Some(r)) => r,
        _ => miss(core.clone(), |_, block| {
            (f.take().expect("called once"))(block)
        }),
    }
}

/// Run `f` with the breaker `id` and this thread's block for it; `None` if that breaker no
/// longer exists (then there is nobody left to tell).
#[inline]
pub(crate) fn with_core<R>(id: u32, f: impl FnOnce(&Arc<Core>, &ThreadBlock) -> R) -> Option<R> {
    let mut f = Some(f);
    let hit = LOCAL.try_with(|cell| {
        let entries = cell.try_borrow().ok()?;
        let entry = entries.iter().find(|e| e.id == id)?;
        Some((f.take().expect("called once"))(&entry.core, &entry.block))
    });
    match hit {
        Ok(Some(r)) => Some(r),
        _ => {
            let core = find_registered(id)?;
            Some(miss(core, |core, block| {
                (f.take().expect("called once"))(core, block)
            }))
        }
    }
}

/// Record the end of an untimed call of the breaker `ticket` names.
///
/// A success that changes nothing but this thread's count (see
/// `Core::record_quiet_success`), the whole closed path of a healthy breaker, is done here;
/// anything else goes to `Core::record`, out of line but under the same lookup. With all of
/// `record` inline here, its register saves and the branches of every rule cost more than
/// the count itself. callgrind, one tower call in a poll loop under the consecutive rule:
/// 136 → 125 instructions (a count window at 1% failures, never settled: 269 → 249).
#[inline]
pub(crate) fn record_untimed(ticket: Ticket, outcome: Outcome) {
    let id = ticket.breaker();
    let recorded = LOCAL.try_with(|cell| {
        let Ok(entries) = cell.try_borrow() else {
            return false;
        };
        let Some(entry) = entries.iter().find(|e| e.id == id) else {
            return false;
        };
        let quiet =
            outcome == Outcome::Success && entry.core.record_quiet_success(&entry.block, ticket);
        if !quiet {
            record_in_full(&entry.core, &entry.block, ticket, outcome);
        }
        true
    });
    if recorded != Ok(true) {
        record_after_miss(ticket, outcome);
    }
}

#[inline(never)]
fn record_in_full(core: &Arc<Core>, block: &ThreadBlock, ticket: Ticket, outcome: Outcome) {
    core.record(block, ticket, outcome, None);
}

/// [`record_untimed`] on a thread whose cache has no entry for the breaker (or cannot be
/// borrowed right now).
#[cold]
#[inline(never)]
fn record_after_miss(ticket: Ticket, outcome: Outcome) {
    with_core(ticket.breaker(), |core, block| {
        core.record(block, ticket, outcome, None)
    });
}

/// The cache had no entry: make a block, register it with the breaker, and cache it if the
/// cache can be borrowed (it cannot while a transition callback re-enters the breaker, or
/// while the thread is exiting; then the block serves this one call).
#[cold]
fn miss<R>(core: Arc<Core>, f: impl FnOnce(&Arc<Core>, &ThreadBlock) -> R) -> R {
    let block = Arc::new(ThreadBlock::new(core.buckets()));
    core.blocks.lock().push(block.clone());
    // Not cached (thread exiting, or the cache borrowed): the block still counts, once.
    let _ = LOCAL.try_with(|cell| {
        if let Ok(mut entries) = cell.try_borrow_mut() {
            entries.retain(|e| e.core.is_alive());
            entries.push(Entry {
                id: core.id,
                core: core.clone(),
                block: block.clone(),
            });
        }
    });
    f(&core, &block)
}
