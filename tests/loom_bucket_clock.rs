//! Loom models of the time window's bucket clock (`bucket_clock.rs`): the real `BucketClock`
//! code over loom's `AtomicU64`.
//!
//! Run with `cargo test --all-features --test loom_bucket_clock`.
#![cfg(feature = "loom")]

use breakwater::circuit_breaker::BucketClock;
use loom::sync::atomic::AtomicU64;
use loom::sync::Arc;
use loom::thread;

type Clock = BucketClock<AtomicU64>;

#[path = "support/loom_model.rs"]
mod loom_model;
use loom_model::model;

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

/// A ticker being stopped (its task dropped) while a new one starts and ticks: the old
/// ticker's stop and its late tick never touch the new ticker's clock.
#[test]
fn a_stopped_ticker_never_touches_its_successor() {
    model(|| {
        let clock = Arc::new(Clock::new());
        let old = clock.start(1).unwrap();
        let stopper = {
            let clock = clock.clone();
            thread::spawn(move || {
                let still_mine = clock.tick(old, 2);
                clock.stop(old);
                still_mine
            })
        };
        let new = loop {
            if let Some(token) = clock.start(3) {
                break token;
            }
            loom::thread::yield_now();
        };
        assert!(clock.tick(new, 4));
        stopper.join().unwrap();
        assert!(!clock.tick(old, 9), "the old ticker was told to end");
        assert_eq!(clock.epoch(), Some(4), "the new ticker's clock, untouched");
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
