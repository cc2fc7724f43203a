//! User code that panics — a classifier, a fallback function, a retry predicate, the
//! service itself — fails only the call it ran for: the panic propagates to that caller's
//! task (tokio reports it as a `JoinError` that `is_panic()`), and on the way out every
//! permit the call held is given back, as for a cancelled call. Other callers, and the
//! breaker's state, carry on as if the call had been dropped.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::advance;
use tower::{service_fn, Layer, ServiceExt};
use tower_breakwater::bulkhead::Bulkhead;
use tower_breakwater::circuit_breaker::{CircuitBreaker, State};
use tower_breakwater::classify::Outcome;
use tower_breakwater::fallback::Fallback;
use tower_breakwater::retry::RetryLayer;
use tower_breakwater::{Error, Resilience};

const BOOM: u32 = 13;

/// The dependency's error (a plain type: a `&'static str` error trips a known compiler
/// limitation when a classifier function is sent across tasks).
#[derive(Debug)]
struct Down;

/// Panics on the response `BOOM`; otherwise `Err` is a failure.
fn touchy(result: &Result<u32, Down>) -> Outcome {
    match result {
        Ok(BOOM) => panic!("classifier bug on {BOOM}"),
        Ok(_) => Outcome::Success,
        Err(_) => Outcome::Failure,
    }
}

fn breaker(permits: u32) -> CircuitBreaker {
    CircuitBreaker::builder("panics")
        .consecutive_failures(2)
        .open_for(Duration::from_secs(1))
        .half_open_permits(permits)
        .success_threshold(permits)
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_classifier_fails_its_own_caller_only() {
    let breaker = breaker(2);
    let svc = breaker
        .layer_with(touchy)
        .layer(service_fn(|x: u32| async move { Ok::<_, Down>(x) }));
    let mut tasks = Vec::new();
    for req in 0..200u32 {
        let svc = svc.clone();
        tasks.push(tokio::spawn(async move { svc.oneshot(req).await }));
    }
    let mut panicked = 0;
    for (req, task) in tasks.into_iter().enumerate() {
        match task.await {
            Ok(answer) => assert_eq!(answer.unwrap(), req as u32),
            Err(e) => {
                assert!(e.is_panic());
                assert_eq!(req as u32, BOOM);
                panicked += 1;
            }
        }
    }
    assert_eq!(panicked, 1);
    let t = breaker.snapshot().totals;
    assert_eq!(
        (t.successes, t.cancelled, t.failures),
        (199, 1, 0),
        "the panicking call counts as cancelled"
    );
    // The breaker still works: failures open it.
    let failing = breaker
        .layer_with(touchy)
        .layer(service_fn(|_: u32| async { Err::<u32, _>(Down) }));
    for _ in 0..2 {
        assert!(failing.clone().oneshot(1).await.is_err());
    }
    assert_eq!(breaker.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn a_panicking_half_open_trial_gives_its_permit_back() {
    let breaker = breaker(2);
    for _ in 0..2 {
        breaker.try_acquire().unwrap().failure();
    }
    advance(Duration::from_secs(1)).await;
    let svc = breaker
        .layer_with(touchy)
        .layer(service_fn(|x: u32| async move { Ok::<_, Down>(x) }));
    let trial = tokio::spawn(svc.clone().oneshot(BOOM));
    assert!(trial.await.unwrap_err().is_panic());
    let snap = breaker.snapshot();
    assert_eq!(snap.state, State::HalfOpen);
    assert_eq!(snap.half_open_trials, 0, "the permit came back on unwind");
    assert_eq!(snap.totals.cancelled, 1);
    // Both permits are there for the next trials, which close the breaker.
    assert_eq!(svc.clone().oneshot(1).await.unwrap(), 1);
    assert_eq!(svc.oneshot(2).await.unwrap(), 2);
    assert_eq!(breaker.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_panicking_classifier_in_the_library_api_counts_as_cancelled() {
    let breaker = breaker(1);
    let handle = breaker.clone();
    let call = tokio::spawn(async move {
        handle
            .call_with(&touchy, || async { Ok::<_, Down>(BOOM) })
            .await
    });
    assert!(call.await.unwrap_err().is_panic());
    assert_eq!(breaker.snapshot().totals.cancelled, 1);
    assert!(breaker.call(|| async { Ok::<_, ()>(()) }).await.is_ok());
}

#[tokio::test(start_paused = true)]
async fn a_panicking_service_releases_its_slot_and_its_permit() {
    let breaker = breaker(1);
    let bulkhead = Bulkhead::builder("panics")
        .max_concurrent(1)
        .build()
        .unwrap();
    let svc = Resilience::builder("panics")
        .circuit_breaker(&breaker)
        .timeout(Duration::from_secs(1))
        .bulkhead(&bulkhead)
        .build()
        .unwrap()
        .layer(service_fn(|x: u32| async move {
            tokio::task::yield_now().await;
            if x == BOOM {
                panic!("service bug on {x}");
            }
            Ok::<_, std::io::Error>(x)
        }));
    let call = tokio::spawn(svc.clone().oneshot(BOOM));
    assert!(call.await.unwrap_err().is_panic());
    assert_eq!(bulkhead.in_flight(), 0, "the slot came back on unwind");
    assert_eq!(breaker.snapshot().totals.cancelled, 1);
    // The one slot serves the next call.
    assert_eq!(svc.oneshot(1).await.unwrap(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_panicking_fallback_leaves_the_breaker_as_it_was() {
    let breaker = breaker(1);
    let explode = Arc::new(AtomicBool::new(true));
    let fuse = explode.clone();
    let fallback = Fallback::new(
        "panics",
        move |e: Error<std::io::Error, u32>, req: Option<u32>| {
            if fuse.load(Relaxed) {
                panic!("fallback bug");
            }
            async move { req.map(|r| r + 1000).ok_or(e) }
        },
    );
    let svc = Resilience::builder("panics")
        .fallback(&fallback)
        .circuit_breaker(&breaker)
        .build()
        .unwrap()
        .layer(service_fn(
            |x: u32| async move { Ok::<_, std::io::Error>(x) },
        ));
    breaker.force_open();
    let call = tokio::spawn(svc.clone().oneshot(1));
    assert!(call.await.unwrap_err().is_panic());
    let snap = breaker.snapshot();
    assert_eq!(snap.state, State::ForcedOpen);
    assert_eq!((snap.totals.rejected, snap.totals.cancelled), (1, 0));
    // The next caller is served by the (now fixed) fallback, and the breaker closes.
    explode.store(false, Relaxed);
    assert_eq!(svc.clone().oneshot(2).await.unwrap(), 1002);
    breaker.reset();
    assert_eq!(svc.oneshot(3).await.unwrap(), 3);
    assert_eq!(breaker.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_panicking_retry_predicate_releases_what_the_attempt_held() {
    let breaker = breaker(1);
    let bulkhead = Bulkhead::builder("panics")
        .max_concurrent(1)
        .build()
        .unwrap();
    let retry = RetryLayer::builder("panics")
        .retry_if(|_: &Result<u32, Error<std::io::Error, u32>>| -> bool { panic!("predicate bug") })
        .build()
        .unwrap();
    let svc = Resilience::builder("panics")
        .retry(&retry)
        .circuit_breaker(&breaker)
        .bulkhead(&bulkhead)
        .build()
        .unwrap()
        .layer(service_fn(
            |x: u32| async move { Ok::<_, std::io::Error>(x) },
        ));
    let call = tokio::spawn(svc.oneshot(1));
    assert!(call.await.unwrap_err().is_panic());
    // The attempt itself ended (and was counted) before the predicate ran.
    assert_eq!(bulkhead.in_flight(), 0);
    let t = breaker.snapshot().totals;
    assert_eq!((t.successes, t.cancelled), (1, 0));
    assert_eq!(breaker.state(), State::Closed);
}
