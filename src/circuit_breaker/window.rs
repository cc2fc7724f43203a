//! What a closed breaker remembers of recent outcomes, one kind per trip rule.
//!
//! - [`Consecutive`]: the current run of failures. A success writes only if the run was
//!   non-zero, so a healthy service writes nothing shared.
//! - [`CountWindow`]: the last `n` outcomes, as two rings of bits (failed, slow). A bit is
//!   written only when it changes, so successes over successes write nothing. Slots are
//!   numbered by a shared cursor; a thread claims them `batch` at a time. The batch stays 1
//!   while a thread's claims follow each other (one caller, or callers taking turns), which
//!   keeps the window exactly the last `n` calls; when another thread claimed in between,
//!   the batch doubles (up to `n / 16`), so contended callers touch the shared cursor once
//!   per batch instead of once per call. The price under contention: up to one batch per
//!   thread of the window may be claimed but not yet filled (holding older outcomes).
//!   Rates are counted (popcount) only when a failure or slow call asks whether to trip.
//!   A full window with no bit set is *settled*: a success then skips the ring altogether
//!   (nothing to change, see [`CountWindow::settled`]), so a healthy busy breaker claims
//!   nothing and writes nothing shared; from a failure until it ages out, successes take
//!   slots again.
//! - Time window: buckets per thread (in [`ThreadBlock`]), tagged with the closed period's
//!   generation and their slice of time; summed over the live threads' blocks and the
//!   retired sum of those gone (see `blocks.rs`) when asked. Which slice
//!   "now" is in comes from the clock, or for successes of a busy breaker from its
//!   [`BucketClock`], kept by a timer (see `bucket_clock.rs`).
//!
//! Concurrency: counts are statistics. A reader may see a bucket or a bit that another thread
//! is writing half-way; the worst it can do is shift a rate by one call for one evaluation.
//! Nothing here is used for the state machine's own invariants (those live in `state.rs`).

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};

use super::blocks::{bump, Blocks, Bucket, ThreadBlock};
use super::bucket_clock::BucketClock;
use super::config::{RateRule, Rule, WindowSpec};
use super::counted_bits::CountedBits;

/// What a window holds right now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) calls: u64,
    pub(crate) failures: u64,
    pub(crate) slow: u64,
}

/// The trip rule with what it remembers: one enum, so the rule's numbers are found where
/// its window is.
///
/// The count window is boxed: its cursor and bit count sit on lines of their own (written by
/// contended callers), and unboxed their alignment would pad every breaker's `Core`.
// `repr(C)`: the tag then the variant, so a consecutive rule's run sits at a fixed place
// within the first cache line of the `Core` (see there).
#[derive(Debug)]
#[repr(C)]
pub(crate) enum Window {
    Consecutive(Consecutive),
    Count(Box<CountWindow>, RateRule),
    Time(TimeWindow, RateRule),
}

impl Window {
    pub(crate) fn new(rule: &Rule) -> Window {
        match *rule {
            Rule::ConsecutiveFailures(threshold) => Window::Consecutive(Consecutive {
                run: AtomicU32::new(0),
                threshold,
            }),
            Rule::Rate(rate) => match rate.window {
                WindowSpec::Count(n) => Window::Count(Box::new(CountWindow::new(n)), rate),
                WindowSpec::Time { length, buckets } => Window::Time(
                    TimeWindow::new(
                        (length.as_nanos() / u128::from(buckets)) as u64,
                        u64::from(buckets),
                    ),
                    rate,
                ),
            },
        }
    }

    /// How many buckets a thread's block needs (0 but for a time window).
    pub(crate) fn buckets(&self) -> usize {
        match self {
            Window::Time(t, _) => t.buckets as usize,
            _ => 0,
        }
    }

    /// Forget everything (on entering closed).
    pub(crate) fn clear(&self) {
        match self {
            Window::Consecutive(c) => c.run.store(0, Relaxed),
            Window::Count(c, _) => c.clear(),
            // Buckets are tagged with the closed period's generation and the number of
            // clears: a new period, or a reset of this one, starts empty.
            Window::Time(t, _) => {
                t.clears.fetch_add(1, Relaxed);
            }
        }
    }
}

/// The current run of failures, and how long a run trips the breaker.
#[derive(Debug)]
pub(crate) struct Consecutive {
    run: AtomicU32,
    pub(crate) threshold: u32,
}

impl Consecutive {
    /// Record a success: end the run (a write only if there was a run).
    #[inline]
    pub(crate) fn success(&self) {
        if self.run.load(Relaxed) != 0 {
            self.run.store(0, Relaxed);
        }
    }

    /// Record a failure; returns the length of the run it extends.
    pub(crate) fn failure(&self) -> u32 {
        self.run.fetch_add(1, Relaxed).saturating_add(1)
    }

    #[inline]
    pub(crate) fn run(&self) -> u32 {
        self.run.load(Relaxed)
    }
}

/// The last `size` outcomes, as rings of bits.
#[derive(Debug)]
pub(crate) struct CountWindow {
    size: u64,
    /// The largest claim a contended thread makes at once.
    max_batch: u64,
    /// Calls recorded since the last clear; the slot of a call is `cursor % size`.
    cursor: CachePadded,
    /// The failed ring (words `0..words`) then the slow ring (`words..2 * words`), with
    /// the number of bits set in both.
    bits: CountedBits,
    words: usize,
    /// Bumped by every `clear` and part of every claim's tag, so slots claimed before a clear
    /// are void even when the generation stays (a reset of a closed breaker).
    clears: AtomicU64,
}

#[derive(Debug, Default)]
#[repr(align(128))]
struct CachePadded(AtomicU64);

impl CountWindow {
    fn new(size: u32) -> Self {
        let words = (size as usize).div_ceil(64);
        CountWindow {
            size: u64::from(size),
            max_batch: u64::from(size / 16).max(1),
            cursor: CachePadded::default(),
            bits: CountedBits::new(2 * words),
            words,
            clears: AtomicU64::new(0),
        }
    }

    /// What a claim of closed period `generation` is tagged with, since the last clear.
    fn claim_tag(&self, generation: u32) -> u64 {
        u64::from(generation) | self.clears.load(Relaxed) << 32
    }

    /// Whether a success may skip the ring: it is full (it holds `size` calls) and every
    /// call in it succeeded in time. Then writing a success over the oldest slot changes
    /// nothing but which slot is the oldest, and slots are only numbers: the window after
    /// the skipped success is the window before it. So a healthy, busy breaker's successes
    /// write nothing shared, and claim no slots (the claims' shared cursor was the one
    /// contended write of this window). Two loads of lines that only change when a failure
    /// or slow call comes or ages out.
    ///
    /// Races: the count of set bits may read 0 while another thread has just set its bit but not yet
    /// counted it; the skipped success then acts as if it came just before that failure.
    /// A moment's non-zero reading only means the success takes a slot as before.
    #[inline]
    pub(crate) fn settled(&self) -> bool {
        self.bits.count() == 0 && self.cursor.0.load(Relaxed) >= self.size
    }

    /// Put one outcome of closed period `generation` in the ring, over the oldest, in a slot
    /// claimed by the calling thread's `block`.
    #[inline]
    pub(crate) fn record(&self, block: &ThreadBlock, generation: u32, failed: bool, slow: bool) {
        let next = block.claim_next.load(Relaxed);
        let tag = self.claim_tag(generation);
        let slot = if next < block.claim_end.load(Relaxed)
            && block.claim_generation.load(Relaxed) == tag
        {
            next
        } else {
            self.claim(block, tag)
        };
        block.claim_next.store(slot + 1, Relaxed);
        let slot = slot % self.size;
        let (word, bit) = ((slot / 64) as usize, 1u64 << (slot % 64));
        self.bits.set(word, bit, failed);
        self.bits.set(self.words + word, bit, slow);
    }

    /// Claim the next slots for this thread; returns the first. Only `block`'s own thread
    /// calls this, so its claim fields are written with plain stores.
    #[cold]
    fn claim(&self, block: &ThreadBlock, tag: u64) -> u64 {
        let batch = block.claim_batch.load(Relaxed).clamp(1, self.max_batch);
        let start = self.cursor.0.fetch_add(batch, Relaxed);
        let same_period = block.claim_generation.load(Relaxed) == tag;
        let contended = same_period && start != block.claim_end.load(Relaxed);
        let next_batch = if contended { batch * 2 } else { batch / 2 };
        block
            .claim_batch
            .store(next_batch.clamp(1, self.max_batch), Relaxed);
        block.claim_generation.store(tag, Relaxed);
        block.claim_end.store(start + batch, Relaxed);
        start
    }

    pub(crate) fn counts(&self) -> Counts {
        Counts {
            calls: self.cursor.0.load(Relaxed).min(self.size),
            failures: self.bits.ones_in(0..self.words),
            slow: self.bits.ones_in(self.words..2 * self.words),
        }
    }

    fn clear(&self) {
        self.bits.clear();
        self.cursor.0.store(0, Relaxed);
        self.clears.fetch_add(1, Relaxed);
    }
}

/// The shortest bucket kept by a [`BucketClock`]. Its ticker is late after each boundary by
/// tokio's timer resolution (1 ms) plus scheduling, so below this the delay would be a
/// sizeable part of a bucket (and the ticker would wake too often to pay for itself);
/// shorter buckets read the clock on every call.
pub(crate) const MIN_TICKED_BUCKET_NANOS: u64 = 100_000_000;

/// The last `buckets × bucket_nanos` of outcomes, bucketed per thread.
#[derive(Debug)]
pub(crate) struct TimeWindow {
    pub(crate) bucket_nanos: u64,
    pub(crate) buckets: u64,
    /// Bumped by every `clear` (part of the bucket tags).
    pub(crate) clears: AtomicU64,
    /// The current bucket, while a ticker keeps it (never when `bucket_nanos` is below
    /// [`MIN_TICKED_BUCKET_NANOS`]).
    pub(crate) clock: BucketClock,
    /// Set when a ticker ended before its first tick (no time driver): start no more.
    pub(crate) no_ticker: AtomicBool,
}

impl TimeWindow {
    pub(crate) fn new(bucket_nanos: u64, buckets: u64) -> Self {
        TimeWindow {
            bucket_nanos,
            buckets,
            clears: AtomicU64::new(0),
            clock: BucketClock::new(),
            no_ticker: AtomicBool::new(false),
        }
    }

    /// Which bucket `now` (nanoseconds on the breaker's clock) falls in.
    #[inline]
    pub(crate) fn epoch(&self, now: u64) -> u64 {
        now / self.bucket_nanos
    }

    /// Whether a ticker may keep this window's [`BucketClock`].
    pub(crate) fn may_tick(&self) -> bool {
        self.bucket_nanos >= MIN_TICKED_BUCKET_NANOS
    }

    /// Count one outcome at `now` in the calling thread's `block`, for closed period
    /// `generation`.
    #[cfg(test)]
    pub(crate) fn record(
        &self,
        block: &ThreadBlock,
        generation: u32,
        now: u64,
        failed: bool,
        slow: bool,
    ) {
        self.record_in(block, generation, self.epoch(now), failed, slow)
    }

    /// Count one outcome in bucket `epoch` of the calling thread's `block`, for closed
    /// period `generation`.
    #[inline]
    pub(crate) fn record_in(
        &self,
        block: &ThreadBlock,
        generation: u32,
        epoch: u64,
        failed: bool,
        slow: bool,
    ) {
        let tag = self.tag(generation);
        let bucket = match last_bucket_if(block, tag, epoch) {
            Some(bucket) => bucket,
            None => {
                let index = (epoch % self.buckets) as usize;
                block.last_bucket.store(index as u64, Relaxed);
                let bucket = &block.buckets[index];
                if bucket.tag.load(Relaxed) != tag || bucket.epoch.load(Relaxed) != epoch {
                    self.renew(block, tag, epoch)
                } else {
                    bucket
                }
            }
        };
        bump(&bucket.calls, 1);
        if failed {
            bump(&bucket.failures, 1);
        }
        if slow {
            bump(&bucket.slow, 1);
        }
    }

    /// Count a success of closed period `generation` in bucket `epoch` if that is the bucket
    /// the calling thread used last (the usual case); false, with nothing counted, if not.
    ///
    /// This asks nothing of the breaker's state: an outcome of an earlier closed period can
    /// only match a bucket tagged with that period, which no reader counts any more.
    #[inline]
    pub(crate) fn count_success_in_last_bucket(
        &self,
        block: &ThreadBlock,
        generation: u32,
        epoch: u64,
    ) -> bool {
        match last_bucket_if(block, self.tag(generation), epoch) {
            Some(bucket) => {
                bump(&bucket.calls, 1);
                true
            }
            None => false,
        }
    }

    /// The bucket an outcome of bucket `epoch` goes to when its slot holds another: the slot,
    /// emptied for `epoch`; or, if the slot already moved on to a later bucket of the same
    /// period (an `epoch` from a ticker late by a whole window, see `bucket_clock.rs`), that
    /// later bucket, so a late outcome never wipes newer ones.
    #[cold]
    fn renew<'b>(&self, block: &'b ThreadBlock, tag: u64, epoch: u64) -> &'b Bucket {
        let bucket = &block.buckets[(epoch % self.buckets) as usize];
        if bucket.tag.load(Relaxed) == tag && bucket.epoch.load(Relaxed) > epoch {
            return bucket;
        }
        // Only this thread writes this bucket: reset it, hiding it from readers meanwhile.
        bucket.tag.store(0, Relaxed);
        bucket.calls.store(0, Relaxed);
        bucket.failures.store(0, Relaxed);
        bucket.slow.store(0, Relaxed);
        bucket.epoch.store(epoch, Relaxed);
        bucket.tag.store(tag, Relaxed);
        bucket
    }

    /// Sum every thread's buckets of closed period `generation` that are still in the
    /// window at `now`.
    pub(crate) fn counts(&self, blocks: &Blocks, generation: u32, now: u64) -> Counts {
        let newest = self.epoch(now);
        let oldest = newest.saturating_sub(self.buckets - 1);
        let tag = self.tag(generation);
        let mut counts = Counts::default();
        for bucket in blocks.iter().flat_map(|b| b.buckets.iter()) {
            let epoch = bucket.epoch.load(Relaxed);
            if bucket.tag.load(Relaxed) == tag && (oldest..=newest).contains(&epoch) {
                counts.calls += bucket.calls.load(Relaxed);
                counts.failures += bucket.failures.load(Relaxed);
                counts.slow += bucket.slow.load(Relaxed);
            }
        }
        counts
    }
}

/// The bucket `block`'s thread used last, if it counts `epoch` under `tag`. It nearly always
/// does (a bucket lasts 100 ms or more): looking there first spares a division by the
/// bucket count per call.
#[inline]
fn last_bucket_if(block: &ThreadBlock, tag: u64, epoch: u64) -> Option<&Bucket> {
    let bucket = block
        .buckets
        .get(block.last_bucket.load(Relaxed) as usize)?;
    (bucket.epoch.load(Relaxed) == epoch && bucket.tag.load(Relaxed) == tag).then_some(bucket)
}

impl TimeWindow {
    /// The tag of buckets of closed period `generation` since the last clear: never 0 (the
    /// tag of a bucket being reset).
    fn tag(&self, generation: u32) -> u64 {
        u64::from(generation) << 32 | (self.clears.load(Relaxed) & 0x7fff_ffff) << 1 | 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn count_window_really_slides() {
        let w = CountWindow::new(4);
        let b = ThreadBlock::new(0);
        for failed in [true, true, false, false] {
            w.record(&b, 0, failed, false);
        }
        assert_eq!(w.counts().failures, 2);
        w.record(&b, 0, false, false); // pushes out the first failure
        w.record(&b, 0, false, true); // pushes out the second
        let c = w.counts();
        assert_eq!((c.calls, c.failures, c.slow), (4, 0, 1));
        w.clear();
        assert_eq!(w.counts(), Counts::default());
    }

    #[test]
    fn a_full_clean_window_is_settled_until_a_failure_ages_out() {
        let w = CountWindow::new(10);
        let b = ThreadBlock::new(0);
        for _ in 0..9 {
            w.record(&b, 0, false, false);
            assert!(!w.settled(), "not full yet: successes still count calls");
        }
        w.record(&b, 0, false, false);
        assert!(w.settled());
        // A failure unsettles it; the nine successes after it keep it in the window and
        // the tenth pushes it out.
        w.record(&b, 0, true, false);
        assert_eq!(w.bits.count(), 1);
        for _ in 0..9 {
            assert!(!w.settled());
            w.record(&b, 0, false, false);
        }
        assert_eq!(w.counts().failures, 1);
        w.record(&b, 0, false, false);
        assert_eq!((w.counts().failures, w.bits.count()), (0, 0));
        assert!(w.settled());
        // A slow success unsettles it too; a clear empties it (and it is no longer full).
        w.record(&b, 0, false, true);
        assert!(!w.settled());
        w.clear();
        assert_eq!(w.bits.count(), 0);
        assert!(!w.settled());
    }

    #[test]
    fn the_set_bit_count_is_exact_under_racing_writers_and_clears() {
        let w = Arc::new(CountWindow::new(96));
        let stop = Arc::new(AtomicBool::new(false));
        let writers: Vec<_> = (0..4u64)
            .map(|t| {
                let w = w.clone();
                std::thread::spawn(move || {
                    let b = ThreadBlock::new(0);
                    let mut x = t.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
                    for _ in 0..100_000 {
                        // xorshift: a mix of failures, slow calls and successes.
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        w.record(&b, 0, x % 5 == 0, x % 7 == 0);
                    }
                })
            })
            .collect();
        let clearer = {
            let (w, stop) = (w.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Relaxed) {
                    w.clear();
                    std::thread::yield_now();
                }
            })
        };
        for writer in writers {
            writer.join().unwrap();
        }
        stop.store(true, Relaxed);
        clearer.join().unwrap();
        assert_eq!(w.bits.count(), w.bits.ones());
    }

    #[test]
    fn count_window_spans_words() {
        let w = CountWindow::new(130);
        let b = ThreadBlock::new(0);
        for i in 0..260 {
            w.record(&b, 0, i % 2 == 0, false);
        }
        assert_eq!(w.counts().calls, 130);
        assert_eq!(w.counts().failures, 65);
    }

    #[test]
    fn interleaved_threads_claim_bigger_batches_and_one_thread_stays_exact() {
        let w = CountWindow::new(160); // batches of up to 10
        let (a, b) = (ThreadBlock::new(0), ThreadBlock::new(0));
        for _ in 0..50 {
            w.record(&a, 0, false, false);
            w.record(&b, 0, false, false);
        }
        assert!(a.claim_batch.load(Relaxed) > 1 && b.claim_batch.load(Relaxed) > 1);
        // One thread alone again: its claims become contiguous and shrink back to one slot.
        for _ in 0..40 {
            w.record(&a, 0, true, false);
        }
        assert_eq!(a.claim_batch.load(Relaxed), 1);
        // A new closed period starts from a fresh claim.
        w.clear();
        w.record(&a, 1, true, false);
        assert_eq!(
            w.counts(),
            Counts {
                calls: 1,
                failures: 1,
                slow: 0
            }
        );
    }

    #[test]
    fn time_window_forgets_old_buckets_and_old_generations() {
        let w = TimeWindow::new(10, 3);
        let block = Arc::new(ThreadBlock::new(3));
        w.record(&block, 0, 0, true, false);
        w.record(&block, 0, 15, false, false);
        w.record(&block, 0, 25, false, true);
        let mut blocks = Blocks::new(3);
        blocks.adopt(block.clone());
        let c = w.counts(&blocks, 0, 29);
        assert_eq!((c.calls, c.failures, c.slow), (3, 1, 1));
        // At 30 the bucket [0, 10) has slid out.
        assert_eq!(w.counts(&blocks, 0, 30).failures, 0);
        assert_eq!(w.counts(&blocks, 0, 30).calls, 2);
        // A new closed period sees nothing of the old one.
        assert_eq!(w.counts(&blocks, 1, 29), Counts::default());
        // The thread goes: its buckets still count.
        blocks.retire(&block);
        assert_eq!(w.counts(&blocks, 0, 29), c);
    }

    #[test]
    fn buckets_of_exited_threads_add_up_with_live_ones() {
        let w = TimeWindow::new(10, 3);
        let mut blocks = Blocks::new(3);
        let live = Arc::new(ThreadBlock::new(3));
        blocks.adopt(live.clone());
        w.record(&live, 0, 21, true, false);
        for t in 0..5u64 {
            let gone = Arc::new(ThreadBlock::new(3));
            blocks.adopt(gone.clone());
            // Thread t counts one success at 3 + t and one at 21, then exits.
            w.record(&gone, 0, 3 + t, false, false);
            w.record(&gone, 0, 21, false, false);
            blocks.retire(&gone);
        }
        let c = w.counts(&blocks, 0, 29);
        assert_eq!((c.calls, c.failures), (11, 1), "the window [0, 30)");
        let c = w.counts(&blocks, 0, 39);
        assert_eq!((c.calls, c.failures), (6, 1), "the window [10, 40)");
    }

    #[test]
    fn a_late_outcome_never_wipes_a_newer_bucket() {
        let w = TimeWindow::new(10, 3);
        let block = Arc::new(ThreadBlock::new(3));
        w.record_in(&block, 0, 5, true, false);
        // Bucket 2 shares bucket 5's slot; an outcome that comes a whole window late (a
        // ticker starved that long) joins bucket 5 instead of resetting it.
        w.record_in(&block, 0, 2, false, false);
        let mut blocks = Blocks::new(3);
        blocks.adopt(block);
        let c = w.counts(&blocks, 0, 59);
        assert_eq!((c.calls, c.failures), (2, 1));
    }
}
