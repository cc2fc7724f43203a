//! Loom models of the count window's bit rings (`counted_bits.rs`): the real `CountedBits`
//! code over loom's `AtomicU64`. The promise checked: once every writer is done, the count
//! of set bits equals the bits set, whatever the interleaving of setters, clearers (two
//! laps of the ring meeting on one slot) and a whole-ring clear.

use crate::circuit_breaker::counted_bits::CountedBits;
use loom::sync::atomic::AtomicU64;
use loom::sync::Arc;
use loom::thread;

type Bits = CountedBits<AtomicU64>;

use super::model;

/// Run `ops` on their own threads over one `Bits` (after `setup` on the main thread) and
/// check the count against the bits once all are joined.
fn race(setup: fn(&Bits), ops: Vec<fn(&Bits)>) {
    let bits = Arc::new(Bits::new(2));
    setup(&bits);
    let threads: Vec<_> = ops
        .into_iter()
        .map(|op| {
            let bits = bits.clone();
            thread::spawn(move || op(&bits))
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(bits.count(), bits.ones(), "count drifted from the bits");
}

/// One thread sets a bit (a failure) while another clears the same bit (a success of the
/// next lap over that slot).
#[test]
fn a_setter_and_a_clearer_on_one_bit() {
    model(|| race(|_| {}, vec![|b| b.set(0, 1, true), |b| b.set(0, 1, false)]));
}

/// Two setters of one bit: only one of them counts it.
#[test]
fn two_setters_on_one_bit() {
    model(|| race(|_| {}, vec![|b| b.set(0, 1, true), |b| b.set(0, 1, true)]));
}

/// Two clearers of one set bit: only one of them takes it off.
#[test]
fn two_clearers_on_one_bit() {
    model(|| {
        race(
            |b| b.set(0, 1, true),
            vec![|b| b.set(0, 1, false), |b| b.set(0, 1, false)],
        )
    });
}

/// A whole-ring clear (the breaker closing again) racing writers that set and clear bits
/// in both words.
#[test]
fn a_clear_racing_writers() {
    model(|| {
        race(
            |b| b.set(1, 2, true),
            vec![|b| b.clear(), |b| {
                b.set(0, 1, true);
                b.set(1, 2, false);
            }],
        )
    });
}
