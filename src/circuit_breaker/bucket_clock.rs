//! A time window's coarse clock: which bucket "now" is in, kept by a timer so that a success
//! need not read the clock (a read costs ~26 ns here, more than the rest of the call).
//!
//! # Why
//! A success only needs to know which bucket of the time window it belongs to. The bucket
//! changes once per bucket width (100 ms or more when this clock is used), so a tokio task
//! that wakes at each bucket boundary and writes the new bucket number into one shared word
//! lets every success find its bucket with one `Relaxed` load of a word that is written once
//! per bucket width. Without a ticker (no tokio runtime, a quiet breaker, a runtime that shut
//! down) callers read the clock as before.
//!
//! # Exactness
//! The ticker reads the clock after its timer fires and timers never fire early, so the
//! word is never ahead of the real bucket: an outcome lands in its own bucket, or, for as
//! long as the ticker is late after a boundary, in the one before (as if it had completed
//! that much earlier). Callers that read the clock anyway (failures, slow calls, snapshots)
//! move the word forward too ([`catch_up`](BucketClock::catch_up)), which ends such a delay
//! at once.
//!
//! # Layout of the word (`u64`)
//!
//! ```text
//! bit   0      ticking: a ticker keeps `epoch` current; when clear, readers read the clock
//! bits  1..16  token of the latest ticker started (15 bits, wrapping, never 0 once started)
//! bits 16..64  epoch: the current bucket number (time since the breaker's origin / width)
//! ```
//!
//! # Who may do what
//! - [`start`](BucketClock::start) sets `ticking` with a fresh token and the current epoch in
//!   one CAS, and only from a word that is not ticking: at most one ticker at a time.
//! - [`tick`](BucketClock::tick) and [`stop`](BucketClock::stop) act only while the word
//!   still carries the caller's token and is ticking: a ticker that was stopped (its task
//!   dropped) can never stop or move the clock of the ticker that replaced it.
//! - `epoch` never goes back while ticking ([`tick`](BucketClock::tick) and
//!   [`catch_up`](BucketClock::catch_up) take the maximum), and a new ticker starts from a
//!   fresh clock read, so a stale epoch is never resurrected.
//!
//! All orderings are `Relaxed`: the word publishes nothing but itself (bucket counts are
//! statistics, see `window.rs`), and every change is a CAS on this one word, whose
//! modification order alone carries the protocol above.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::state::AtomicWord;

const TICKING: u64 = 1;
const TOKEN_SHIFT: u32 = 1;
const TOKEN_MASK: u64 = (1 << 15) - 1;
const EPOCH_SHIFT: u32 = 16;

/// The current bucket of a time window, when a ticker keeps it (see the module docs).
#[derive(Debug)]
pub(crate) struct BucketClock<A: AtomicWord = AtomicU64> {
    word: A,
}

impl<A: AtomicWord> Default for BucketClock<A> {
    fn default() -> Self {
        Self::new()
    }
}

impl<A: AtomicWord> BucketClock<A> {
    /// A clock no ticker keeps: [`epoch`](Self::epoch) says `None`.
    pub(super) fn new() -> Self {
        BucketClock { word: A::new(0) }
    }

    /// The current bucket if a ticker keeps it; `None`: read the clock. One load.
    #[inline]
    pub(super) fn epoch(&self) -> Option<u64> {
        let word = self.word.load(Relaxed);
        (word & TICKING != 0).then_some(word >> EPOCH_SHIFT)
    }

    /// Become the ticker, the clock being at bucket `epoch` (just read from the clock).
    /// Returns the ticker's token, or `None` if another ticker already keeps the clock.
    pub(super) fn start(&self, epoch: u64) -> Option<u32> {
        let mut current = self.word.load(Relaxed);
        loop {
            if current & TICKING != 0 {
                return None;
            }
            let token = ((current >> TOKEN_SHIFT) & TOKEN_MASK) % TOKEN_MASK + 1;
            let new = epoch << EPOCH_SHIFT | token << TOKEN_SHIFT | TICKING;
            match self.word.compare_exchange(current, new, Relaxed, Relaxed) {
                Ok(_) => return Some(token as u32),
                Err(actual) => current = actual,
            }
        }
    }

    /// Ticker `token` says the clock is at bucket `epoch` (moves it forward only). Returns
    /// false if `token` no longer keeps the clock: that ticker should end.
    pub(super) fn tick(&self, token: u32, epoch: u64) -> bool {
        let mine = u64::from(token) << TOKEN_SHIFT | TICKING;
        self.update(|word| {
            (word & (TOKEN_MASK << TOKEN_SHIFT | TICKING) == mine)
                .then_some(word.max(epoch << EPOCH_SHIFT | mine))
        })
        .is_some()
    }

    /// Someone read the clock at bucket `epoch`: move a ticking clock forward to it, so a
    /// late ticker delays nobody else. Does nothing (and writes nothing) otherwise.
    #[inline]
    pub(super) fn catch_up(&self, epoch: u64) {
        let word = self.word.load(Relaxed);
        if word & TICKING != 0 && word >> EPOCH_SHIFT < epoch {
            self.update(|word| {
                (word & TICKING != 0 && word >> EPOCH_SHIFT < epoch)
                    .then_some(epoch << EPOCH_SHIFT | (word & ((1 << EPOCH_SHIFT) - 1)))
            });
        }
    }

    /// Ticker `token` is gone: readers go back to the clock, unless another ticker already
    /// replaced it.
    pub(super) fn stop(&self, token: u32) {
        let mine = u64::from(token) << TOKEN_SHIFT | TICKING;
        self.update(|word| {
            (word & (TOKEN_MASK << TOKEN_SHIFT | TICKING) == mine).then_some(word & !TICKING)
        });
    }

    /// CAS `change(word)` into the word until it sticks; `None` (no write) when `change`
    /// declines.
    fn update(&self, mut change: impl FnMut(u64) -> Option<u64>) -> Option<u64> {
        let mut current = self.word.load(Relaxed);
        loop {
            let new = change(current)?;
            if new == current {
                return Some(new);
            }
            match self.word.compare_exchange(current, new, Relaxed, Relaxed) {
                Ok(_) => return Some(new),
                Err(actual) => current = actual,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_ticker_at_a_time_and_an_old_one_cannot_touch_its_successor() {
        let clock = BucketClock::<AtomicU64>::new();
        assert_eq!(clock.epoch(), None, "no ticker: read the clock");
        let first = clock.start(7).unwrap();
        assert_eq!(clock.start(7), None, "already ticking");
        assert_eq!(clock.epoch(), Some(7));
        assert!(clock.tick(first, 9));
        assert!(clock.tick(first, 8), "still the ticker");
        assert_eq!(clock.epoch(), Some(9), "never back");
        clock.catch_up(11);
        clock.catch_up(10);
        assert_eq!(clock.epoch(), Some(11));
        clock.stop(first);
        assert_eq!(clock.epoch(), None);
        clock.catch_up(20);
        assert_eq!(clock.epoch(), None, "catch_up does not restart a clock");
        let second = clock.start(12).unwrap();
        assert_ne!(first, second);
        assert!(!clock.tick(first, 30));
        clock.stop(first);
        assert_eq!(clock.epoch(), Some(12), "the old ticker's stop is void");
    }

    #[test]
    fn tokens_wrap_without_reaching_zero() {
        let clock = BucketClock::<AtomicU64>::new();
        for _ in 0..=TOKEN_MASK + 2 {
            let token = clock.start(0).unwrap();
            assert!(token != 0 && u64::from(token) <= TOKEN_MASK);
            clock.stop(token);
        }
    }
}
