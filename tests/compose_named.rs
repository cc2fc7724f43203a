//! The composer names the parts it builds after the stack, reports their bad values from
//! `build`, and hands back the handles of what it built.

use std::time::Duration;

use tower::{service_fn, Layer, ServiceExt};
use tower_breakwater::circuit_breaker::State;
use tower_breakwater::retry::{Backoff, RetryLayer};
use tower_breakwater::{Error, Resilience};

#[tokio::test(start_paused = true)]
async fn every_part_built_by_the_composer_takes_the_stacks_name() {
    let stack = Resilience::builder("payments")
        .with_fallback(|e: Error<&'static str, u32>, _: Option<u32>| async move { Err::<(), _>(e) })
        .with_retry(|r| {
            r.max_attempts(2)
                .backoff(Backoff::constant(Duration::from_millis(1)))
        })
        .with_circuit_breaker(|b| b.consecutive_failures(2))
        .timeout(Duration::from_secs(1))
        .with_bulkhead(|b| b.max_concurrent(4))
        .build()
        .unwrap();
    assert_eq!(stack.circuit_breaker().name(), "payments");
    assert_eq!(stack.bulkhead().name(), "payments");
    assert_eq!(stack.retry_layer().name(), "payments");
    assert_eq!(stack.timeout_layer().name(), "payments");

    let svc = stack.layer(service_fn(|_: u32| async { Err::<(), _>("down") }));
    // Two attempts fail and trip the breaker: the retry layer gives up, under its name.
    let gave_up = svc.clone().oneshot(1).await.unwrap_err();
    match &gave_up {
        Error::RetriesExhausted(r) => assert_eq!(r.name(), "payments"),
        other => panic!("expected RetriesExhausted, got {other:?}"),
    }
    assert_eq!(stack.circuit_breaker().state(), State::Open);
    // The next call is refused by the breaker, under its name; the fallback (refusals
    // only) answers with the error it was given.
    match svc.oneshot(2).await.unwrap_err() {
        Error::Rejected(r) => assert_eq!(r.name(), "payments"),
        other => panic!("expected Rejected, got {other:?}"),
    }
}

#[test]
fn a_bad_value_in_a_built_part_is_the_builds_error() {
    let breaker = Resilience::builder("payments")
        .with_circuit_breaker(|b| b.minimum_calls(0).failure_rate(0.5))
        .build()
        .unwrap_err();
    assert_eq!(breaker.field(), "minimum_calls");

    let bulkhead = Resilience::builder("payments")
        .with_bulkhead(|b| b)
        .build()
        .unwrap_err();
    assert_eq!(bulkhead.field(), "max_concurrent", "no default limit");

    let retry = Resilience::builder("payments")
        .with_retry(|r| r.max_attempts(0))
        .build()
        .unwrap_err();
    assert_eq!(retry.field(), "max_attempts");

    // The first bad part is the one reported.
    let first = Resilience::builder("payments")
        .with_retry(|r| r.max_attempts(0))
        .timeout(Duration::ZERO)
        .build()
        .unwrap_err();
    assert_eq!(first.field(), "max_attempts");
}

#[tokio::test(start_paused = true)]
async fn a_retry_layer_handed_in_by_reference_is_shared_with_the_one_kept() {
    let retry = RetryLayer::builder("payments")
        .max_attempts(3)
        .backoff(Backoff::constant(Duration::from_millis(1)))
        .build()
        .unwrap();
    let stack = Resilience::builder("payments")
        .retry(&retry)
        .build()
        .unwrap();
    let svc = stack.layer(service_fn(|_: u32| async { Err::<(), _>("down") }));
    assert!(svc.oneshot(1).await.unwrap_err().is_retries_exhausted());

    #[cfg(feature = "metrics")]
    {
        // The kept handle counts the stack's retries: register it, not a clone of it.
        let registry = prometheus::Registry::new();
        tower_breakwater::metrics::Metrics::new()
            .retry(&retry)
            .register(&registry)
            .unwrap();
        let text = prometheus::TextEncoder::new()
            .encode_to_string(&registry.gather())
            .unwrap();
        assert!(
            text.contains("retry_attempts_total{name=\"payments\"} 2"),
            "{text}"
        );
    }
}
