//! The policy for abandoned calls: off by default (an abandoned call counts neither way);
//! on, abandoned calls count as failures while they are at least the chosen share of the
//! calls that ended lately. Paused clock.

use std::future::pending;
use std::time::Duration;

use tower::{service_fn, Layer, Service, ServiceExt};
use tower_breakwater::circuit_breaker::{CircuitBreaker, State};

#[tokio::test(start_paused = true)]
async fn by_default_abandoned_calls_never_trip() {
    let breaker = CircuitBreaker::builder("plain")
        .consecutive_failures(1)
        .build()
        .unwrap();
    for _ in 0..1_000 {
        drop(breaker.try_acquire().unwrap());
    }
    assert_eq!(breaker.state(), State::Closed);
    let totals = breaker.snapshot().totals;
    assert_eq!((totals.cancelled, totals.counted_failures), (1_000, 0));
}

#[tokio::test(start_paused = true)]
async fn above_the_rate_abandoned_calls_count_as_failures() {
    let breaker = CircuitBreaker::builder("abandoning")
        .consecutive_failures(3)
        .abandoned_as_failures_above(0.5)
        .build()
        .unwrap();
    // The first 9 are too few to judge; the 10th, 11th and 12th count as failures.
    for _ in 0..11 {
        drop(breaker.try_acquire().unwrap());
    }
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(breaker.snapshot().consecutive_failures, Some(2));
    drop(breaker.try_acquire().unwrap());
    assert_eq!(breaker.state(), State::Open);
    let totals = breaker.snapshot().totals;
    assert_eq!(
        (totals.cancelled, totals.failures, totals.counted_failures),
        (12, 0, 3),
        "still counted as cancelled; as failures for the rule only"
    );
}

#[tokio::test(start_paused = true)]
async fn below_the_rate_abandoned_calls_still_count_neither_way() {
    let breaker = CircuitBreaker::builder("mostly-fine")
        .consecutive_failures(1)
        .abandoned_as_failures_above(0.5)
        .build()
        .unwrap();
    for _ in 0..1_000 {
        for _ in 0..3 {
            breaker.try_acquire().unwrap().success();
        }
        drop(breaker.try_acquire().unwrap()); // 25% abandoned
    }
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(breaker.snapshot().totals.counted_failures, 0);
}

#[tokio::test(start_paused = true)]
async fn an_abandoned_trial_reopens_when_the_policy_counts_it() {
    let breaker = CircuitBreaker::builder("trial")
        .consecutive_failures(1)
        .open_for(Duration::from_secs(5))
        .abandoned_as_failures_above(0.5)
        .build()
        .unwrap();
    for _ in 0..10 {
        drop(breaker.try_acquire().unwrap());
    }
    assert_eq!(breaker.state(), State::Open, "the 10th counted");
    tokio::time::advance(Duration::from_secs(5)).await;
    drop(breaker.try_acquire().expect("a trial"));
    assert_eq!(breaker.state(), State::Open, "the abandoned trial failed");
    assert_eq!(breaker.transitions(State::HalfOpen, State::Open), 1);
}

#[tokio::test(start_paused = true)]
async fn calls_abandoned_by_a_caller_deadline_trip_a_rate_rule() {
    let breaker = CircuitBreaker::builder("hanging")
        .failure_rate(0.5)
        .count_window(20)
        .minimum_calls(10)
        .abandoned_as_failures_above(0.8)
        .build()
        .unwrap();
    let mut svc = breaker
        .layer()
        .layer(service_fn(|()| pending::<Result<(), std::io::Error>>()));
    let mut attempts = 0;
    while breaker.state() == State::Closed {
        attempts += 1;
        assert!(attempts <= 30, "never tripped");
        let call = svc.ready().await.unwrap().call(());
        assert!(tokio::time::timeout(Duration::from_secs(1), call)
            .await
            .is_err());
    }
    // 9 too few to judge, then 10 abandoned failures fill the window's minimum.
    assert_eq!(attempts, 19);
    assert_eq!(breaker.state(), State::Open);
}
