//! Words of bits that know how many of their bits are set, exactly, without a lock: the
//! count window's rings of failed and slow calls (see `window.rs`).
//!
//! # Why
//! A count window that is full and has no bit set is *settled*: a success then need not
//! touch it at all. Deciding that must not mean counting every bit on every call, so the
//! number of set bits is kept beside them.
//!
//! # How it stays exact
//! Every change of a bit is a read-modify-write (`fetch_or`, `fetch_and`, `swap`) whose
//! previous value says whether *this* call changed it, and only that call adds or takes
//! one from the count. Two writers racing on one bit (claims of two laps of a ring can
//! meet) or a clear racing a writer each see the transition they made, so once the writers
//! are done the count equals the bits set. In between it may be off for a moment (a bit
//! set but not yet counted, or counted down before counted up, which wraps); readers treat
//! it as a hint that only decides whether to do the full work. The loom models in
//! `loom/counted_bits.rs` (built with `--cfg loom`) check this.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::state::AtomicWord;

/// Words of bits and the number of them set (see the module docs).
#[derive(Debug)]
pub(crate) struct CountedBits<A: AtomicWord = AtomicU64> {
    words: Box<[A]>,
    /// On a line of its own: read by every success of a busy breaker, written only when a
    /// failure or slow call comes or ages out.
    set: Padded<A>,
}

#[derive(Debug)]
#[repr(align(128))]
struct Padded<A>(A);

impl<A: AtomicWord> CountedBits<A> {
    /// `words` words of bits, all clear.
    pub(super) fn new(words: usize) -> Self {
        CountedBits {
            words: (0..words).map(|_| A::new(0)).collect(),
            set: Padded(A::new(0)),
        }
    }

    /// Set (`on`) or clear `bit` of word `word`; writes only if the bit changes, so the
    /// common success-over-success case writes nothing.
    #[inline]
    pub(super) fn set(&self, word: usize, bit: u64, on: bool) {
        let word = &self.words[word];
        if (word.load(Relaxed) & bit != 0) == on {
            return;
        }
        if on {
            if word.fetch_or(bit, Relaxed) & bit == 0 {
                self.set.0.fetch_add(1, Relaxed);
            }
        } else if word.fetch_and(!bit, Relaxed) & bit != 0 {
            self.set.0.fetch_sub(1, Relaxed);
        }
    }

    /// How many bits are set, as counted (exact once writers are done).
    #[inline]
    pub(super) fn count(&self) -> u64 {
        self.set.0.load(Relaxed)
    }

    /// How many bits are set, counted bit by bit now.
    #[cfg(test)]
    pub(super) fn ones(&self) -> u64 {
        self.words
            .iter()
            .map(|w| u64::from(w.load(Relaxed).count_ones()))
            .sum()
    }

    /// How many bits of the words in `words` are set, counted now.
    pub(super) fn ones_in(&self, words: std::ops::Range<usize>) -> u64 {
        self.words[words]
            .iter()
            .map(|w| u64::from(w.load(Relaxed).count_ones()))
            .sum()
    }

    /// Clear every bit. Words are swapped out, not stored over: the bits a racing writer set
    /// (and counted) are taken off exactly as many times as they are found set.
    pub(super) fn clear(&self) {
        let cleared: u64 = self
            .words
            .iter()
            .map(|w| u64::from(w.swap(0, Relaxed).count_ones()))
            .sum();
        if cleared != 0 {
            self.set.0.fetch_sub(cleared, Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bit_is_counted_once_and_cleared_with_the_rest() {
        let bits: CountedBits = CountedBits::new(2);
        bits.set(1, 1 << 5, true);
        bits.set(1, 1 << 5, true); // already set: no change, no count
        assert_eq!((bits.count(), bits.ones()), (1, 1));
        bits.set(0, 1, true);
        assert_eq!((bits.count(), bits.ones_in(0..1)), (2, 1));
        bits.clear();
        assert_eq!((bits.count(), bits.ones()), (0, 0));
    }
}
