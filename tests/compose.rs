//! The Resilience composer: the order of its layers, seen in behaviour.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use breakwater::circuit_breaker::{CircuitBreaker, State};
use breakwater::fallback::Fallback;
use breakwater::{Error, Resilience};
use tower::{service_fn, Layer, ServiceExt};

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
