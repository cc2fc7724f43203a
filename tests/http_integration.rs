//! The axum integration over a real socket: `examples/axum_server.rs`'s app on 127.0.0.1
//! (an ephemeral port), each refusal checked as a client sees it.
#![cfg(feature = "http")]

#[path = "../examples/axum_server.rs"]
#[allow(dead_code)] // the example's `main` and printing helpers
mod axum_server;

use std::time::Duration;

use axum_server::{
    app, get_path, limits, scenario, serve, EXPECTED, EXPECTED_SERIES, MAX_IN_FLIGHT,
};
use tower_breakwater::circuit_breaker::State;

/// Every test is bounded: a hung socket fails the test instead of the whole run.
const BOUND: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_refusal_becomes_its_response() {
    let (breaker, bulkhead) = limits();
    let addr = serve(0, app(&breaker, &bulkhead)).await.unwrap();
    let steps = tokio::time::timeout(BOUND, scenario(addr, &bulkhead))
        .await
        .expect("scenario within the bound")
        .expect("every request answered");

    let statuses: Vec<u16> = steps.iter().map(|(_, answer)| answer.status).collect();
    assert_eq!(statuses, EXPECTED);
    let answer = |i: usize| &steps[i].1;
    // Generic bodies: the client learns the status, not the breaker's name.
    assert_eq!(answer(1).body, "too many requests");
    assert_eq!(answer(4).body, "gateway timeout");
    assert_eq!(answer(4).retry_after, None);
    // The open breaker says when to come back: its remaining open time, rounded up.
    assert_eq!(answer(7).body, "service unavailable");
    assert_eq!(answer(7).retry_after.as_deref(), Some("1"));
    assert!(steps.iter().all(|(_, a)| !a.body.contains("quotes")));
    let scrape = get_path(addr, "/metrics").await.unwrap();
    assert_eq!(scrape.status, 200);
    for series in EXPECTED_SERIES {
        assert!(scrape.body.contains(series), "{series} in {}", scrape.body);
    }
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(breaker.transitions(State::Closed, State::Open), 1);
    // The full bulkhead was this server's own limit: it neither tripped the breaker nor
    // counted as a call of the handler.
    assert_eq!(bulkhead.rejected(), 1);
    assert_eq!(breaker.snapshot().totals.failures, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forced_open_is_503_without_retry_after() {
    let (breaker, bulkhead) = limits();
    let addr = serve(0, app(&breaker, &bulkhead)).await.unwrap();
    breaker.force_open();
    let refused = tokio::time::timeout(BOUND, get_path(addr, "/quote/ok"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(refused.status, 503);
    // An operator holds it open: no time to promise.
    assert_eq!(refused.retry_after, None);
    assert_eq!(refused.body, "service unavailable");
    let health = tokio::time::timeout(BOUND, get_path(addr, "/health"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(health.status, 200);
    breaker.reset();
    let served = tokio::time::timeout(BOUND, get_path(addr, "/quote/ok"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(served.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_is_served_or_refused_and_never_trips() {
    let (breaker, bulkhead) = limits();
    let addr = serve(0, app(&breaker, &bulkhead)).await.unwrap();
    // Two slow calls take both slots (each holds its slot for 250 ms)...
    let holders: Vec<_> = (0..MAX_IN_FLIGHT)
        .map(|_| tokio::spawn(get_path(addr, "/quote/busy")))
        .collect();
    tokio::time::timeout(BOUND, async {
        while bulkhead.in_flight() < MAX_IN_FLIGHT {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await
    .expect("both slow calls hold their slot within the bound");
    // ...so the rest of the burst, arriving meanwhile, is refused at once.
    let rest: Vec<_> = (0..6)
        .map(|_| tokio::spawn(get_path(addr, "/quote/busy")))
        .collect();
    let mut refused = Vec::new();
    for call in rest {
        let answer = tokio::time::timeout(BOUND, call)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        refused.push(answer.status);
    }
    assert_eq!(refused, [429; 6], "the bulkhead was full");
    let mut served = Vec::new();
    for call in holders {
        let answer = tokio::time::timeout(BOUND, call)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        served.push(answer.status);
    }
    assert_eq!(served, [200; MAX_IN_FLIGHT]);
    assert_eq!(bulkhead.rejected(), 6);
    // Refusals by our own bulkhead are not the handler's failures: the breaker counted
    // the two served calls as successes and the six refusals as ignored, no failure.
    let totals = breaker.snapshot().totals;
    assert_eq!(
        (
            totals.successes,
            totals.failures,
            totals.ignored,
            totals.rejected
        ),
        (MAX_IN_FLIGHT as u64, 0, 6, 0),
        "{totals:?}"
    );
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(bulkhead.in_flight(), 0);
}
