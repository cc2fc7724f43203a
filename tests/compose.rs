//! The Resilience composer: the order of its layers, seen in behaviour.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tower::{service_fn, Layer, ServiceExt};
use tower_breakwater::circuit_breaker::{CircuitBreaker, State};
use tower_breakwater::fallback::Fallback;
use tower_breakwater::{Error, Resilience};

#[tokio::test]
async fn inner_errors_are_lifted_and_trip_the_breaker() {
    let breaker = CircuitBreaker::builder("payments")
        .consecutive_failures(2)
        .build()
        .unwrap();
    let sent = Arc::new(AtomicUsize::new(0));
    let counter = sent.clone();
    let svc = Resilience::builder("payments")
        .circuit_breaker(&breaker)
        .build()
        .unwrap()
        .layer(service_fn(move |_: u32| {
            counter.fetch_add(1, Ordering::Relaxed);
            async { Err::<(), _>("down") }
        }));
    for _ in 0..2 {
        let error: Error<&str, u32> = svc.clone().oneshot(1).await.unwrap_err();
        assert_eq!(error.into_inner(), Some("down"));
    }
    assert_eq!(breaker.state(), State::Open);
    let mut refused = svc.oneshot(3).await.unwrap_err();
    assert!(refused.is_rejected());
    assert_eq!(
        refused.take_request(),
        Some(3),
        "the unsent request comes back"
    );
    assert_eq!(sent.load(Ordering::Relaxed), 2);
}

#[tokio::test]
async fn the_fallback_sits_above_the_breaker() {
    let breaker = CircuitBreaker::builder("payments").build().unwrap();
    let fallback = Fallback::new(
        "payments",
        |e: Error<&'static str, u32>, order: Option<u32>| async move {
            order.map(|o| o + 1000).ok_or(e)
        },
    );
    let svc = Resilience::builder("payments")
        .fallback(&fallback)
        .circuit_breaker(&breaker)
        .build()
        .unwrap()
        .layer(service_fn(|order: u32| async move { Ok::<_, &str>(order) }));
    assert_eq!(svc.clone().oneshot(1).await.unwrap(), 1);
    breaker.force_open();
    assert_eq!(svc.oneshot(2).await.unwrap(), 1002);
    assert_eq!(fallback.count(), 1);
    assert_eq!(breaker.snapshot().totals.rejected, 1);
}

#[tokio::test(start_paused = true)]
async fn a_timeout_below_the_breaker_trips_it() {
    use std::time::Duration;
    let breaker = CircuitBreaker::builder("payments")
        .consecutive_failures(2)
        .build()
        .unwrap();
    let svc = Resilience::builder("payments")
        .circuit_breaker(&breaker)
        .timeout(Duration::from_millis(100))
        .build()
        .unwrap()
        .layer(service_fn(|_: u32| async {
            std::future::pending::<Result<(), &'static str>>().await
        }));
    let started = tokio::time::Instant::now();
    for _ in 0..2 {
        let error = svc.clone().oneshot(1).await.unwrap_err();
        assert!(error.is_timeout(), "{error:?}");
    }
    assert_eq!(started.elapsed(), Duration::from_millis(200));
    assert_eq!(breaker.state(), State::Open);
    assert!(svc.oneshot(2).await.unwrap_err().is_rejected());
    assert_eq!(breaker.snapshot().totals.failures, 2);
}

#[tokio::test]
async fn a_full_bulkhead_does_not_trip_the_breaker() {
    use tower::Service;
    use tower_breakwater::bulkhead::Bulkhead;
    let breaker = CircuitBreaker::builder("payments")
        .consecutive_failures(1)
        .build()
        .unwrap();
    let bulkhead = Bulkhead::builder("payments")
        .max_concurrent(1)
        .build()
        .unwrap();
    let stack = Resilience::builder("payments")
        .circuit_breaker(&breaker)
        .bulkhead(&bulkhead)
        .build()
        .unwrap();
    let inner =
        service_fn(|_: u32| async { std::future::pending::<Result<(), &'static str>>().await });
    let mut first = stack.layer(inner);
    let mut second = first.clone();
    let _in_flight = first.ready().await.unwrap().call(1);
    let mut refused = second.ready().await.unwrap().call(2).await.unwrap_err();
    assert!(refused.is_bulkhead_full());
    assert_eq!(refused.take_request(), Some(2));
    assert_eq!(
        breaker.state(),
        State::Closed,
        "our own limit is not the dependency failing"
    );
    assert_eq!(breaker.snapshot().totals.ignored, 1);
}

#[test]
fn a_bad_part_fails_the_build_with_its_field() {
    use std::time::Duration;
    let error = Resilience::builder("payments")
        .timeout(Duration::ZERO)
        .build()
        .unwrap_err();
    assert_eq!((error.field(), error.value()), ("limit", "0ns"));
}

#[tokio::test(start_paused = true)]
async fn retries_stop_at_an_open_breaker_and_a_rejection_is_not_retried() {
    use std::time::Duration;
    use tower_breakwater::retry::{Backoff, RetryLayer};
    let breaker = CircuitBreaker::builder("payments")
        .consecutive_failures(2)
        .build()
        .unwrap();
    let sent = Arc::new(AtomicUsize::new(0));
    let counter = sent.clone();
    let retry = RetryLayer::builder("payments")
        .max_attempts(5)
        .backoff(Backoff::constant(Duration::from_millis(10)))
        .build()
        .unwrap();
    let svc = Resilience::builder("payments")
        .retry(&retry)
        .circuit_breaker(&breaker)
        .build()
        .unwrap()
        .layer(service_fn(move |_: u32| {
            counter.fetch_add(1, Ordering::Relaxed);
            async { Err::<(), _>("down") }
        }));
    // Attempt 1 and 2 fail and trip the breaker; attempt 3 is rejected, and a rejection is
    // not retried: the caller gets it at once, with its request.
    let mut error = svc.clone().oneshot(7).await.unwrap_err();
    assert!(error.is_rejected(), "{error:?}");
    assert_eq!(error.take_request(), Some(7));
    assert_eq!(
        sent.load(Ordering::Relaxed),
        2,
        "nothing hammers the open breaker"
    );
    assert_eq!(breaker.snapshot().totals.rejected, 1);
}

#[tokio::test(start_paused = true)]
async fn a_timeout_from_below_counts_as_slow_whatever_the_threshold() {
    use std::time::Duration;
    use tower_breakwater::timeout::Elapsed;
    let breaker = CircuitBreaker::builder("payments")
        .failure_rate(1.0)
        .count_window(10)
        .minimum_calls(10)
        .slow_calls(Duration::from_secs(60), 1.0)
        .build()
        .unwrap();
    // The inner service reports a timeout at once: no real minute went by, yet it is slow.
    let svc = breaker.layer().flat().layer(service_fn(|_: u32| async {
        let limit = Duration::from_millis(100);
        Err::<(), Error<&str, u32>>(Elapsed::new("payments", limit, limit).into())
    }));
    assert!(svc.clone().oneshot(1).await.unwrap_err().is_timeout());
    let totals = breaker.snapshot().totals;
    assert_eq!((totals.failures, totals.slow), (1, 1));

    let plain = breaker.layer().flat().layer(service_fn(|_: u32| async {
        Err::<(), Error<&str, u32>>(Error::Inner("down"))
    }));
    assert!(plain.oneshot(2).await.is_err());
    assert_eq!(
        breaker.snapshot().totals.slow,
        1,
        "a fast inner error is not slow"
    );
}

/// A timeout layer built elsewhere (as `StackConfig` builds one) and handed to the composer
/// is the one the stack uses: the handle kept outside counts the stack's timeouts.
#[tokio::test(start_paused = true)]
async fn a_timeout_layer_handed_in_counts_the_stacks_timeouts() {
    use std::time::Duration;
    use tower_breakwater::timeout::TimeoutLayer;

    let timeout = TimeoutLayer::new("db", Duration::from_millis(100)).unwrap();
    let stack = Resilience::builder("db")
        .timeout_layer(&timeout)
        .build()
        .unwrap();
    let hangs = stack.layer(service_fn(|()| async {
        std::future::pending::<Result<(), std::io::Error>>().await
    }));
    let err: Error<std::io::Error, ()> = hangs.clone().oneshot(()).await.unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert_eq!(timeout.timeouts(), 1);
    assert_eq!(stack.timeout_layer().timeouts(), 1);
}
