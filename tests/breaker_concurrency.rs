//! Thousands of tasks on two worker threads through one breaker, with every kind of outcome
//! (successes, failures, ignored, cancelled mid-flight, rejected) while the breaker trips and
//! recovers under them: afterwards every call is accounted for exactly, the transition
//! counters agree with each other, and no half-open permit is lost.
//!
//! The real clock is used (a multi-thread runtime cannot pause time), but nothing waits on
//! it: `open_for` is 100 µs, far shorter than the run, so the breaker cycles on its own.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use tower::{service_fn, Layer, Service, ServiceExt};
use tower_breakwater::circuit_breaker::{CircuitBreaker, Error, State};
use tower_breakwater::classify::Outcome;

const TASKS: u64 = 4000;
const CALLS_PER_TASK: u64 = 50;
const PERMITS: u32 = 4;
const OPEN_FOR: Duration = Duration::from_micros(100);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Succeed,
    Fail,
    Ignore,
    /// Started, then dropped before it ends.
    Cancel,
}

/// A fixed mix: 60% successes, 20% failures, 10% ignored, 10% cancelled.
fn kind(task: u64, call: u64) -> Kind {
    match (task * 31 + call * 7) % 20 {
        0..=11 => Kind::Succeed,
        12..=15 => Kind::Fail,
        16..=17 => Kind::Ignore,
        _ => Kind::Cancel,
    }
}

/// What the tasks themselves saw.
#[derive(Default)]
struct Observed {
    successes: AtomicU64,
    failures: AtomicU64,
    ignored: AtomicU64,
    rejected: AtomicU64,
    cancelled: AtomicU64,
    attempted: AtomicU64,
}

fn classify(result: &Result<(), &'static str>) -> Outcome {
    match result {
        Ok(()) => Outcome::Success,
        Err("ignore") => Outcome::Ignored,
        Err(_) => Outcome::Failure,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_tasks_through_one_breaker_account_for_every_call() {
    let breaker = CircuitBreaker::builder("crowd")
        .failure_rate(0.5)
        .count_window(20)
        .minimum_calls(10)
        .open_for(OPEN_FOR)
        .half_open_permits(PERMITS)
        .success_threshold(2)
        .build()
        .unwrap();
    // Every other call yields once before it ends, so calls overlap across tasks; a
    // cancelled one always yields, so dropping it after one poll is mid-flight.
    let inner = service_fn(|(kind, pause): (Kind, bool)| async move {
        if pause || kind == Kind::Cancel {
            tokio::task::yield_now().await;
        }
        match kind {
            Kind::Succeed | Kind::Cancel => Ok(()),
            Kind::Fail => Err("fail"),
            Kind::Ignore => Err("ignore"),
        }
    });
    let layer = breaker.layer_with(classify);
    let observed = Arc::new(Observed::default());

    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let mut svc = layer.layer(inner);
            let observed = observed.clone();
            tokio::spawn(async move {
                for call in 0..CALLS_PER_TASK {
                    let kind = kind(task, call);
                    observed.attempted.fetch_add(1, Relaxed);
                    let ready = svc
                        .ready()
                        .await
                        .expect("the inner service is always ready");
                    let future = ready.call((kind, call % 2 == 0));
                    let result = if kind == Kind::Cancel {
                        tokio::select! {
                            biased;
                            result = future => Some(result),
                            () = std::future::ready(()) => None,
                        }
                    } else {
                        Some(future.await)
                    };
                    let counter = match result {
                        None => &observed.cancelled,
                        Some(Ok(())) => &observed.successes,
                        Some(Err(Error::Rejected(_))) => &observed.rejected,
                        Some(Err(Error::Inner("ignore"))) => &observed.ignored,
                        Some(Err(Error::Inner(_))) => &observed.failures,
                    };
                    counter.fetch_add(1, Relaxed);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }

    // Every call the tasks made is counted once, as what the task saw.
    let snap = breaker.snapshot();
    let t = snap.totals;
    let seen = |c: &AtomicU64| c.load(Relaxed);
    assert_eq!(seen(&observed.attempted), TASKS * CALLS_PER_TASK);
    assert_eq!(t.calls(), TASKS * CALLS_PER_TASK);
    assert_eq!(t.successes, seen(&observed.successes));
    assert_eq!(t.failures, seen(&observed.failures));
    assert_eq!(t.ignored, seen(&observed.ignored));
    assert_eq!(t.rejected, seen(&observed.rejected));
    assert_eq!(t.cancelled, seen(&observed.cancelled));
    assert_eq!(t.slow, 0);

    // The run exercised what it meant to: trips, recoveries, rejections, cancellations.
    let tr = |from, to| breaker.transitions(from, to);
    assert!(tr(State::Closed, State::Open) > 0, "{snap:?}");
    assert!(tr(State::HalfOpen, State::Closed) > 0, "{snap:?}");
    assert!(t.rejected > 0 && t.cancelled > 0, "{t:?}");

    // The transition counters balance: every state was entered as often as it was left,
    // plus one for the state it is in now (and closed once more, for the start).
    let now = |s| u64::from(snap.state == s);
    let into_open = tr(State::Closed, State::Open) + tr(State::HalfOpen, State::Open);
    assert_eq!(
        into_open,
        tr(State::Open, State::HalfOpen) + now(State::Open)
    );
    assert_eq!(
        tr(State::Open, State::HalfOpen),
        tr(State::HalfOpen, State::Open)
            + tr(State::HalfOpen, State::Closed)
            + now(State::HalfOpen)
    );
    assert_eq!(
        1 + tr(State::HalfOpen, State::Closed),
        tr(State::Closed, State::Open) + now(State::Closed)
    );
    let all: u64 = State::ALL
        .iter()
        .flat_map(|&from| State::ALL.iter().map(move |&to| (from, to)))
        .map(|(from, to)| tr(from, to))
        .sum();
    assert_eq!(u64::from(snap.generation), all);

    // No permit leaked: with nothing in flight, a half-open episode's issued permits are
    // exactly its successes (a cancelled or ignored trial gave its permit back, and a
    // failed one would have reopened the breaker).
    if snap.state == State::HalfOpen {
        assert_eq!(snap.half_open_trials, snap.half_open_successes, "{snap:?}");
    }
    assert_full_recovery(&breaker).await;
}

/// From whatever state the run left, trip the breaker, let its open period pass, and show a
/// half-open episode admits exactly `PERMITS` trials, rejects the next, and closes.
async fn assert_full_recovery(breaker: &CircuitBreaker) {
    if breaker.state() == State::HalfOpen {
        // Finish this episode first: its remaining permits are all still there.
        let issued = breaker.snapshot().half_open_trials;
        let rest: Vec<_> = (issued..PERMITS)
            .map(|_| breaker.try_acquire().expect("an unleaked permit"))
            .collect();
        assert_eq!(breaker.snapshot().half_open_trials, PERMITS);
        assert_eq!(breaker.try_acquire().unwrap_err().state(), State::HalfOpen);
        drop(rest); // cancelled: permits back
        assert_eq!(breaker.snapshot().half_open_trials, issued);
    }
    // Open (now, or after failing while closed or half-open).
    let mut failures = 0;
    while matches!(breaker.state(), State::Closed | State::HalfOpen) {
        if let Ok(permit) = breaker.try_acquire() {
            permit.failure();
        }
        failures += 1;
        assert!(failures <= 20, "a full window of failures trips");
    }
    assert_eq!(breaker.state(), State::Open);

    // Wait out the 100 µs open period without sleeping: the first admitted call is a trial.
    let first = loop {
        match breaker.try_acquire() {
            Ok(permit) => break permit,
            Err(rejected) => {
                assert_eq!(rejected.state(), State::Open);
                tokio::task::yield_now().await;
            }
        }
    };
    assert_eq!(breaker.state(), State::HalfOpen);
    let rest: Vec<_> = (1..PERMITS)
        .map(|i| {
            breaker
                .try_acquire()
                .unwrap_or_else(|r| panic!("trial {i}: {r}"))
        })
        .collect();
    let snap = breaker.snapshot();
    assert_eq!(
        (snap.half_open_trials, snap.half_open_successes),
        (PERMITS, 0)
    );
    assert_eq!(breaker.try_acquire().unwrap_err().state(), State::HalfOpen);

    first.success();
    assert_eq!(breaker.state(), State::HalfOpen);
    let mut rest = rest.into_iter();
    rest.next().unwrap().success();
    assert_eq!(breaker.state(), State::Closed);
    drop(rest); // trials of a finished episode: nothing to give back
    assert_eq!(breaker.state(), State::Closed);
}
