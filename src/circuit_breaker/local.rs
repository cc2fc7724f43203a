//! How a response future finds its breaker again without holding a reference count, and how
//! a thread finds its counters for a breaker.
//!
//! # Why
//! A response future has to reach its breaker when it completes. Holding an `Arc` would
//! cost an atomic increment and decrement per call: 11 ns on the 2-core VM of the README,
//! more than the whole closed path, and on one shared cache line (what collapses peers under
//! two threads). Instead a future carries only the breaker's `id`, and each thread keeps a
//! cache (`LOCAL`), a hash map from id to the breaker and to this thread's [`ThreadBlock`]
//! for it (see `blocks.rs`). A lookup is one hash and one probe whatever the number of
//! breakers the thread uses; the closed-path call then writes only its own thread's block.
//!
//! # Lifetimes
//! - A cache entry keeps its breaker alive. Entries of breakers whose last handle was
//!   dropped are swept whenever the cache is about to grow (so a sweep is paid for by as many
//!   inserts as it looked at), and all of them when the thread exits.
//! - Leaving the cache (swept, or the thread exiting) retires the entry's block: its counts
//!   are folded into the breaker and its memory comes back (`Blocks::retire`).
//! - When the cache cannot be used (the thread is exiting, or a transition callback re-enters
//!   the breaker while the cache is borrowed), a call counts in a block of its own that is
//!   folded into the breaker at once.
//!
//! # The registry
//! A future may complete on a thread that has never seen its breaker. That thread finds the
//! breaker by id in `REGISTRY`, a hash map of every live breaker, locked only on such a
//! first meeting and when a breaker is built or freed: O(1) each, never a scan.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::sync::{Arc, LazyLock, Weak};

use parking_lot::Mutex;

use super::blocks::ThreadBlock;
use super::core::Core;
use super::state::{Ticket, MAX_BREAKER_ID};
use crate::classify::Outcome;

/// Breaker ids are handed out in sequence: a multiplication spreads them over the table.
/// (The id itself as the slot kept breakers built in a row side by side in the table, but
/// let runs of ids pile up behind the slots of earlier ones: per-call time at 100,000
/// breakers then moved from 17 to 202 ns between runs.)
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8 | u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    #[inline]
    fn write_u32(&mut self, id: u32) {
        self.0 = u64::from(id).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

type ById<V> = HashMap<u32, V, BuildHasherDefault<IdHasher>>;

struct Entry {
    core: Arc<Core>,
    block: Arc<ThreadBlock>,
}

/// One thread's cache; its destructor retires every entry when the thread exits.
struct Cache {
    entries: RefCell<ById<Entry>>,
}

impl Drop for Cache {
    fn drop(&mut self) {
        for (_, entry) in self.entries.get_mut().drain() {
            entry.core.retire(&entry.block);
        }
    }
}

thread_local! {
    static LOCAL: Cache = const {
        Cache { entries: RefCell::new(HashMap::with_hasher(BuildHasherDefault::new())) }
    };
}

/// Every live breaker by id (see the module docs).
static REGISTRY: LazyLock<Mutex<ById<Weak<Core>>>> = LazyLock::new(Default::default);

/// Build a breaker with an id no live breaker has, and register it. Ids are 29 bits (they
/// ride in each permit's ticket); after 2^29 breakers they wrap, skipping live ones.
pub(crate) fn register(make: impl FnOnce(u32) -> Core) -> Arc<Core> {
    static NEXT_ID: AtomicU32 = AtomicU32::new(1);
    let mut registry = REGISTRY.lock();
    let id = loop {
        let id = NEXT_ID.fetch_add(1, Relaxed) & MAX_BREAKER_ID;
        if id != 0 && !registry.contains_key(&id) {
            break id;
        }
    };
    let core = Arc::new(make(id));
    registry.insert(id, Arc::downgrade(&core));
    core
}

/// The breaker `core` (with this id) is being freed: forget it, unless its id already
/// went to a new breaker.
pub(crate) fn unregister(id: u32, core: *const Core) {
    let mut registry = REGISTRY.lock();
    if registry.get(&id).is_some_and(|weak| weak.as_ptr() == core) {
        registry.remove(&id);
    }
}

fn find_registered(id: u32) -> Option<Arc<Core>> {
    let weak = REGISTRY.lock().get(&id)?.clone();
    weak.upgrade()
}

/// Run `f` with this thread's block for `core` (the caller holds the breaker).
#[inline]
pub(crate) fn with_block<R>(core: &Arc<Core>, f: impl FnOnce(&ThreadBlock) -> R) -> R {
    let mut f = Some(f);
    let hit = LOCAL.try_with(|cache| {
        let entries = cache.entries.try_borrow().ok()?;
        let entry = entries.get(&core.id)?;
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
    let hit = LOCAL.try_with(|cache| {
        let entries = cache.entries.try_borrow().ok()?;
        let entry = entries.get(&id)?;
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
/// the count itself.
#[inline]
pub(crate) fn record_untimed(ticket: Ticket, outcome: Outcome) {
    let id = ticket.breaker();
    let recorded = LOCAL.try_with(|cache| {
        let Ok(entries) = cache.entries.try_borrow() else {
            return false;
        };
        let Some(entry) = entries.get(&id) else {
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

/// The cache had no entry: make a block, have the breaker read it, and cache it if the cache
/// can be borrowed. If it cannot (a transition callback re-entering the breaker, or the
/// thread exiting), the block serves this one call and is folded into the breaker at once.
#[cold]
fn miss<R>(core: Arc<Core>, f: impl FnOnce(&Arc<Core>, &ThreadBlock) -> R) -> R {
    let cached = LOCAL
        .try_with(|cache| {
            let mut entries = cache.entries.try_borrow_mut().ok()?;
            sweep_before_growing(&mut entries);
            let block = Arc::new(ThreadBlock::new(core.buckets()));
            core.adopt(block.clone());
            let entry = Entry {
                core: core.clone(),
                block: block.clone(),
            };
            // An entry under this id can only be of a breaker freed since (ids are unique
            // among live breakers, and an entry keeps its breaker alive): none in practice.
            if let Some(old) = entries.insert(core.id, entry) {
                old.core.retire(&old.block);
            }
            Some(block)
        })
        .ok()
        .flatten();
    match cached {
        Some(block) => f(&core, &block),
        None => {
            let block = ThreadBlock::new(core.buckets());
            let r = f(&core, &block);
            core.fold(&block);
            r
        }
    }
}

/// Before the cache grows, drop the entries of breakers nobody holds any more (retiring their
/// blocks). Whatever is left, the next sweep is at least as many inserts away as this one
/// looked at, so sweeping costs O(1) per insert.
fn sweep_before_growing(entries: &mut ById<Entry>) {
    if entries.len() < entries.capacity() {
        return;
    }
    entries.retain(|_, entry| {
        let alive = entry.core.is_alive();
        if !alive {
            entry.core.retire(&entry.block);
        }
        alive
    });
    entries.reserve(entries.len().max(1));
}

/// How many breakers this thread's cache holds (for tests: a structural measure of what a
/// thread keeps).
#[cfg(test)]
pub(crate) fn cached() -> usize {
    LOCAL.with(|cache| cache.entries.borrow().len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::circuit_breaker::CircuitBreaker;

    #[test]
    fn a_thread_that_exits_leaves_its_counts_and_takes_its_block() {
        let breaker = CircuitBreaker::builder("exits").build().unwrap();
        breaker.try_acquire().unwrap().success();
        let core = breaker.core().clone();
        assert_eq!(core.live_blocks(), 1);
        for _ in 0..10 {
            let b = breaker.clone();
            std::thread::spawn(move || {
                b.try_acquire().unwrap().success();
                b.try_acquire().unwrap().failure();
            })
            .join()
            .unwrap();
        }
        assert_eq!(core.live_blocks(), 1, "only this thread's block is left");
        let totals = breaker.snapshot().totals;
        assert_eq!((totals.successes, totals.failures), (11, 10));
    }

    #[test]
    fn dropped_breakers_leave_the_cache_before_it_grows() {
        let before = cached();
        for _ in 0..1000 {
            let breaker = CircuitBreaker::builder("gone").build().unwrap();
            breaker.try_acquire().unwrap().success();
        }
        assert!(cached() - before < 64, "{} cached", cached() - before);
    }

    #[test]
    fn ids_are_found_after_many_builds_and_drops() {
        let keep = CircuitBreaker::builder("keep").build().unwrap();
        for _ in 0..1000 {
            drop(CircuitBreaker::builder("churn").build().unwrap());
        }
        let id = keep.core().id;
        assert!(find_registered(id).is_some_and(|c| Arc::ptr_eq(&c, keep.core())));
    }
}
#[cfg(test)]
mod handles {
    use crate::circuit_breaker::CircuitBreaker;
    use tower_layer::Layer;

    /// Thread caches let go of a breaker when it is no longer alive: a breaker held only
    /// by services must stay alive.
    #[test]
    fn breakers_held_by_services_stay_alive_until_the_last_handle() {
        let svc = CircuitBreaker::builder("x")
            .build()
            .unwrap()
            .layer()
            .layer(());
        assert!(svc.breaker().core().is_alive());
        let b = CircuitBreaker::builder("y").build().unwrap();
        let s2 = b.layer().layer(());
        drop(b);
        assert!(s2.breaker().core().is_alive());
        let core = s2.breaker().core().clone();
        drop(s2);
        assert!(!core.is_alive(), "the last handle is gone");
    }
}
