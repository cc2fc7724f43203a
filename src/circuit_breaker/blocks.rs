//! The counters one thread keeps for one breaker while it lives, and where they go when it
//! exits.
//!
//! # Why per thread
//! A counter that only one thread writes is bumped with a plain load and store (no lock
//! prefix, no cache line shared with another core): that is what keeps the closed path of a
//! busy breaker as cheap as counting in a local variable. A striped counter shared by the
//! threads that hash to it would need an atomic add (4.5 ns on the 2-core VM of the README,
//! half of a whole breaker call).
//!
//! # Why nothing outlives its thread
//! When a thread exits (or stops using a breaker, see `local.rs`), its block is folded into
//! the breaker's `retired` block under the breaker's lock and dropped: counts are never lost,
//! memory comes back, and a snapshot sums the blocks of live threads only. So what a breaker
//! holds, and what reading it costs, depends on the threads using it now, never on how many
//! ever did.
//!
//! # Invariants
//! - A live block has exactly one writer: its thread. So `bump` may be a load + store;
//!   readers (snapshots, scrapes, a time window's trip check) load `Relaxed` and sum.
//! - `retired` is written only under the breaker's `blocks` lock, and a block moves from
//!   `live` to `retired` in one critical section: a reader holding the lock sees every count
//!   exactly once.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use super::state::AtomicWord;

/// Counters of one thread for one breaker. Not aligned to a cache line: what a call writes
/// (`successes`) comes first, and what a neighbouring allocation could share a line with is
/// its cold tail; aligned, a block took 256 bytes instead of 152.
///
/// Generic over the atomic type so that the loom models (`loom/blocks.rs`, built with
/// `--cfg loom`) run this very code; the breaker uses std's `AtomicU64`.
#[derive(Debug)]
#[repr(C)]
pub(crate) struct ThreadBlock<A: AtomicWord = AtomicU64> {
    pub(crate) successes: A,
    pub(crate) failures: A,
    pub(crate) ignored: A,
    pub(crate) rejected: A,
    pub(crate) cancelled: A,
    pub(crate) slow: A,
    /// Failures that counted toward opening (see `Totals::counted_failures`); bumped on the
    /// failure path only.
    pub(crate) counted_failures: A,
    /// Time-window buckets of this thread (empty for other rules).
    pub(crate) buckets: Box<[Bucket<A>]>,
    /// The index in `buckets` this thread counted in last (a hint, checked before use).
    pub(crate) last_bucket: A,
    /// Count-window slots this thread has claimed: `[claim_next, claim_end)` of closed
    /// period `claim_generation`, claimed `claim_batch` at a time (see `window.rs`).
    pub(crate) claim_next: A,
    pub(crate) claim_end: A,
    pub(crate) claim_batch: A,
    pub(crate) claim_generation: A,
    /// Rejections this thread counted in the open period of `open_generation` (to decide
    /// when a timer should end that period; see `Core::count_rejection`).
    pub(crate) open_generation: A,
    pub(crate) open_rejections: A,
    /// Time-window successes this thread put in a bucket by reading the clock (no ticker
    /// kept the bucket clock); every 64th tries to start one (see `Core::record_time`).
    pub(crate) clock_reads: A,
}

/// One slice of a time window, as seen by one thread.
#[derive(Debug)]
pub(crate) struct Bucket<A: AtomicWord = AtomicU64> {
    /// `generation << 32 | clears << 1 | 1` of the closed period it counts, 0 while being
    /// reset (see `TimeWindow::tag`).
    pub(crate) tag: A,
    /// Which slice of time (`now / bucket width`) it counts.
    pub(crate) epoch: A,
    pub(crate) calls: A,
    pub(crate) failures: A,
    pub(crate) slow: A,
}

impl<A: AtomicWord> Default for Bucket<A> {
    fn default() -> Self {
        Bucket {
            tag: A::new(0),
            epoch: A::new(0),
            calls: A::new(0),
            failures: A::new(0),
            slow: A::new(0),
        }
    }
}

/// Add `by` to a counter that only the current thread writes (or that is written under a
/// lock).
#[inline]
pub(crate) fn bump<A: AtomicWord>(counter: &A, by: u64) {
    counter.store(counter.load(Relaxed).wrapping_add(by), Relaxed);
}

impl<A: AtomicWord> ThreadBlock<A> {
    /// A block of zeros with `buckets` time-window buckets.
    pub(crate) fn new(buckets: usize) -> Self {
        let zero = || A::new(0);
        ThreadBlock {
            successes: zero(),
            failures: zero(),
            ignored: zero(),
            rejected: zero(),
            cancelled: zero(),
            slow: zero(),
            counted_failures: zero(),
            buckets: (0..buckets).map(|_| Bucket::default()).collect(),
            last_bucket: zero(),
            claim_next: zero(),
            claim_end: zero(),
            claim_batch: zero(),
            claim_generation: zero(),
            open_generation: zero(),
            open_rejections: zero(),
            clock_reads: zero(),
        }
    }

    /// Count one success, as the block's own thread does (a load and a store).
    #[cfg(all(test, loom))]
    pub(super) fn count_success(&self) {
        bump(&self.successes, 1);
    }

    /// The seven totals, in `Totals` order.
    fn totals(&self) -> [&A; 7] {
        [
            &self.successes,
            &self.failures,
            &self.ignored,
            &self.rejected,
            &self.cancelled,
            &self.slow,
            &self.counted_failures,
        ]
    }
}

/// Every block of one breaker: those of live threads, and the sum of those gone. The breaker
/// keeps it under a lock; every method here runs under that lock. See [`ThreadBlock`] for an
/// example.
#[derive(Debug)]
pub(crate) struct Blocks<A: AtomicWord = AtomicU64> {
    live: Vec<Arc<ThreadBlock<A>>>,
    /// Made by the first fold (a breaker no thread has left yet needs none).
    retired: Option<Box<ThreadBlock<A>>>,
    /// The time-window buckets of a block.
    buckets: usize,
}

impl<A: AtomicWord> Blocks<A> {
    /// No blocks; each will have `buckets` time-window buckets.
    pub(super) fn new(buckets: usize) -> Self {
        Blocks {
            live: Vec::new(),
            retired: None,
            buckets,
        }
    }

    /// Start reading `block` (its thread is about to write it).
    pub(super) fn adopt(&mut self, block: Arc<ThreadBlock<A>>) {
        self.live.push(block);
    }

    /// `block`'s thread is done with it: fold it into `retired` and let it go.
    pub(super) fn retire(&mut self, block: &Arc<ThreadBlock<A>>) {
        if let Some(at) = self.live.iter().position(|b| Arc::ptr_eq(b, block)) {
            self.live.swap_remove(at);
        }
        // After a burst of threads, give the list's memory back too (halving only when a
        // quarter is used keeps this O(1) amortised).
        if self.live.len() * 4 < self.live.capacity() {
            self.live.shrink_to(self.live.len() * 2);
        }
        self.fold(block);
    }

    /// Add the counts of `block` (no longer written) to `retired`.
    pub(super) fn fold(&mut self, block: &ThreadBlock<A>) {
        let buckets = self.buckets;
        let retired = self
            .retired
            .get_or_insert_with(|| Box::new(ThreadBlock::new(buckets)));
        for (sum, part) in retired.totals().into_iter().zip(block.totals()) {
            bump(sum, part.load(Relaxed));
        }
        for (sum, part) in retired.buckets.iter().zip(block.buckets.iter()) {
            fold_bucket(sum, part);
        }
    }

    /// The blocks of live threads, then the retired sum.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &ThreadBlock<A>> {
        self.live
            .iter()
            .map(|b| &**b)
            .chain(self.retired.as_deref())
    }

    /// Blocks of live threads (a structural measure for tests and benches).
    #[cfg(test)]
    pub(super) fn live(&self) -> usize {
        self.live.len()
    }

    /// The sum of one total over every block.
    pub(crate) fn sum(&self, total: fn(&ThreadBlock<A>) -> &A) -> u64 {
        self.iter()
            .map(|b| total(b).load(Relaxed))
            .fold(0, u64::wrapping_add)
    }

    /// Successes counted by every block, live or retired.
    #[cfg(all(test, loom))]
    pub(super) fn successes(&self) -> u64 {
        self.sum(|b| &b.successes)
    }
}

/// Merge one retiring bucket into the retired bucket of the same slot. Both count the same
/// slice of time under the same tag: add. The retiring one is newer (a later closed period,
/// or a later slice in the same slot): it replaces. Older: it is out of every window the
/// retired slot can still be read in, drop it.
fn fold_bucket<A: AtomicWord>(sum: &Bucket<A>, part: &Bucket<A>) {
    let key = |b: &Bucket<A>| (b.tag.load(Relaxed), b.epoch.load(Relaxed));
    let (part_key, sum_key) = (key(part), key(sum));
    if part_key.0 == 0 {
        return; // never used
    }
    let counts = |b: &Bucket<A>| {
        [
            b.calls.load(Relaxed),
            b.failures.load(Relaxed),
            b.slow.load(Relaxed),
        ]
    };
    let [calls, failures, slow] = counts(part);
    match part_key.cmp(&sum_key) {
        std::cmp::Ordering::Equal => {
            bump(&sum.calls, calls);
            bump(&sum.failures, failures);
            bump(&sum.slow, slow);
        }
        std::cmp::Ordering::Greater => {
            sum.tag.store(part_key.0, Relaxed);
            sum.epoch.store(part_key.1, Relaxed);
            sum.calls.store(calls, Relaxed);
            sum.failures.store(failures, Relaxed);
            sum.slow.store(slow, Relaxed);
        }
        std::cmp::Ordering::Less => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(tag: u64, epoch: u64, calls: u64) -> Bucket {
        let b = Bucket::<AtomicU64>::default();
        b.tag.store(tag, Relaxed);
        b.epoch.store(epoch, Relaxed);
        b.calls.store(calls, Relaxed);
        b
    }

    #[test]
    fn retiring_a_block_keeps_every_count_once() {
        let mut blocks = Blocks::<AtomicU64>::new(0);
        let (a, b) = (Arc::new(ThreadBlock::new(0)), Arc::new(ThreadBlock::new(0)));
        blocks.adopt(a.clone());
        blocks.adopt(b.clone());
        bump(&a.successes, 3);
        bump(&b.successes, 4);
        bump(&b.rejected, 1);
        assert_eq!(blocks.sum(|t| &t.successes), 7);
        blocks.retire(&a);
        assert_eq!((blocks.live(), blocks.sum(|t| &t.successes)), (1, 7));
        blocks.retire(&b);
        assert_eq!(blocks.live(), 0);
        assert_eq!(
            blocks.live.capacity(),
            0,
            "the list's memory comes back too"
        );
        assert_eq!(blocks.sum(|t| &t.successes), 7);
        assert_eq!(blocks.sum(|t| &t.rejected), 1);
    }

    #[test]
    fn retired_buckets_add_same_slices_and_keep_the_newest() {
        let sum = bucket(3, 10, 5);
        fold_bucket(&sum, &bucket(3, 10, 2));
        assert_eq!(sum.calls.load(Relaxed), 7, "same slice: added");
        fold_bucket(&sum, &bucket(3, 7, 100));
        assert_eq!(sum.calls.load(Relaxed), 7, "older slice: dropped");
        fold_bucket(&sum, &bucket(3, 13, 1));
        assert_eq!(
            (sum.epoch.load(Relaxed), sum.calls.load(Relaxed)),
            (13, 1),
            "newer slice: replaces"
        );
        fold_bucket(&sum, &bucket(5, 2, 4));
        assert_eq!(
            (sum.tag.load(Relaxed), sum.calls.load(Relaxed)),
            (5, 4),
            "later closed period: replaces"
        );
        fold_bucket(&sum, &bucket(0, 99, 9));
        assert_eq!(sum.calls.load(Relaxed), 4, "an unused bucket: nothing");
    }
}
