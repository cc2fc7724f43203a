//! Loom models of the time window's bucket clock (`bucket_clock.rs`): the real `BucketClock`
//! code over loom's `AtomicU64`.

use crate::circuit_breaker::bucket_clock::BucketClock;
use loom::sync::atomic::AtomicU64;
use loom::sync::Arc;
use loom::thread;

type Clock = BucketClock<AtomicU64>;

use super::model;

/// Two callers racing to start a ticker: exactly one becomes it.
#[test]
fn one_ticker_wins_a_race_to_start() {
    model(|| {
        let clock = Arc::new(Clock::new());
        let other = {
            let clock = clock.clone();
            thread::spawn(move || clock.start(5))
        };
        let mine = clock.start(5);
        let theirs = other.join().unwrap();
        assert!(mine.is_some() != theirs.is_some(), "{mine:?} {theirs:?}");
        assert_eq!(clock.epoch(), Some(5));
    });
}

/// A ticker that was stopped (its task dropped) but still acts — a late tick to a later
/// bucket and a second stop — while a new ticker starts and ticks: the stale calls race
/// the new ticker's start and tick, and never touch the new ticker's clock.
#[test]
fn a_stopped_ticker_never_touches_its_successor() {
    model(|| {
        let clock = Arc::new(Clock::new());
        let old = clock.start(1).unwrap();
        assert!(
            clock.tick(old, 2),
            "the old ticker keeps the clock until it stops"
        );
        clock.stop(old);
        assert_eq!(clock.epoch(), None);
        let stale = {
            let clock = clock.clone();
            thread::spawn(move || {
                let still_mine = clock.tick(old, 9);
                clock.stop(old);
                still_mine
            })
        };
        let new = clock
            .start(3)
            .expect("a stale ticker never keeps the clock");
        assert_ne!(new, old);
        assert_eq!(
            clock.epoch(),
            Some(3),
            "the new ticker's clock, as it started"
        );
        assert!(clock.tick(new, 4), "the new ticker still keeps the clock");
        assert_eq!(
            clock.epoch(),
            Some(4),
            "the new ticker's clock, moved by it alone"
        );
        assert!(!stale.join().unwrap(), "the stopped ticker was told to end");
        assert_eq!(clock.epoch(), Some(4), "the new ticker's clock, untouched");
        assert!(clock.tick(new, 5), "the new ticker still keeps the clock");
        assert_eq!(clock.epoch(), Some(5));
    });
}

/// Ticks and catch-ups from any thread only ever move the clock forward.
#[test]
fn the_clock_never_goes_back() {
    model(|| {
        let clock = Arc::new(Clock::new());
        let token = clock.start(1).unwrap();
        let catcher = {
            let clock = clock.clone();
            thread::spawn(move || {
                clock.catch_up(3);
                let seen = clock.epoch().unwrap();
                assert!(seen >= 3);
            })
        };
        assert!(clock.tick(token, 2));
        let seen = clock.epoch().unwrap();
        assert!(seen >= 2);
        catcher.join().unwrap();
        assert_eq!(clock.epoch(), Some(3));
    });
}
