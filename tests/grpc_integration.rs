//! The tonic integration over a real socket: `examples/tonic_client.rs`'s client and server
//! on 127.0.0.1 (an ephemeral port), the breaker driven by gRPC statuses.
#![cfg(feature = "grpc")]

#[path = "../examples/tonic_client.rs"]
#[allow(dead_code)] // the example's `main`
mod tonic_client;

use std::sync::atomic::Ordering;
use std::time::Duration;

use tonic_client::{breaker, scenario, start_backend, summary, EXPECTED};
use tower_breakwater::circuit_breaker::State;

/// Every test is bounded: a hung socket fails the test instead of the whole run.
const BOUND: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unavailable_opens_the_breaker_and_a_trial_closes_it() {
    let backend = start_backend(0).await.unwrap();
    let breaker = breaker();
    let steps = tokio::time::timeout(BOUND, scenario(&backend, &breaker))
        .await
        .expect("scenario within the bound")
        .expect("client connected");
    let seen: Vec<_> = steps.iter().map(summary).collect();
    assert_eq!(seen, EXPECTED);

    // The refusals were made on the client, named, and said when to come back.
    let (_, refused) = steps[5].answer.clone().unwrap_err();
    assert!(refused.contains("circuit 'health' is open"), "{refused}");
    // The server's own UNAVAILABLE came through untouched.
    let (_, sick) = steps[2].answer.clone().unwrap_err();
    assert_eq!(sick, "warehouse database down");
    assert_eq!(breaker.transitions(State::Closed, State::Open), 1);
    assert_eq!(breaker.transitions(State::HalfOpen, State::Closed), 1);
    let totals = breaker.snapshot().totals;
    assert_eq!((totals.failures, totals.rejected), (3, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_counts_only_calls_it_received() {
    // The same story against a server that stays sick: after the breaker opens, nothing
    // more reaches it, however many calls the client makes.
    let backend = start_backend(0).await.unwrap();
    backend.sick.store(true, Ordering::Relaxed);
    let breaker = breaker();
    let steps = tokio::time::timeout(BOUND, scenario(&backend, &breaker))
        .await
        .unwrap()
        .unwrap();
    // The scenario heals the server itself after the 6th call; before that the server saw
    // exactly the three calls that opened the breaker.
    assert_eq!(steps[0].breaker, State::Closed);
    assert!(steps[..6].iter().all(|s| s.answer.is_err()));
    assert_eq!(steps[4].server_calls, 3, "{:?}", steps[4]);
    assert_eq!(steps[5].server_calls, 3, "{:?}", steps[5]);
}
