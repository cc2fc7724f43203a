//! The chaos layer's faults, one by one, on the paused clock: what each does to the call
//! and to the inner service, and that its error fits both `BoxError` and
//! `tower_breakwater::Error` stacks.
#![cfg(feature = "chaos")]

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tower::{service_fn, BoxError, Layer, ServiceBuilder, ServiceExt};
use tower_breakwater::chaos::{Chaos, ChaosError, Fault};
use tower_breakwater::timeout::TimeoutLayer;
use tower_breakwater::Error;

/// Counts calls made to it, and answers that were polled to the end, after 10 ms.
fn counted() -> (
    impl tower::Service<u32, Response = u32, Error = BoxError, Future = impl Send> + Clone,
    Arc<AtomicU64>,
    Arc<AtomicU64>,
) {
    let (called, answered) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let (c, a) = (called.clone(), answered.clone());
    let svc = service_fn(move |x: u32| {
        c.fetch_add(1, Relaxed);
        let a = a.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(10)).await;
            a.fetch_add(1, Relaxed);
            Ok::<_, BoxError>(x)
        }
    });
    (svc, called, answered)
}

#[tokio::test(start_paused = true)]
async fn an_injected_error_never_calls_the_service() {
    let chaos = Chaos::builder("db").error_rate(1.0).build().unwrap();
    let (svc, called, _) = counted();
    let err = chaos.layer().layer(svc).oneshot(1).await.unwrap_err();
    let chaos_error = err.downcast_ref::<ChaosError>().expect("a ChaosError");
    assert_eq!(chaos_error.fault(), Fault::Error);
    assert_eq!(called.load(Relaxed), 0);
}

#[tokio::test(start_paused = true)]
async fn latency_delays_the_call_by_exactly_the_delay() {
    let chaos = Chaos::builder("db")
        .latency(1.0, Duration::from_millis(300))
        .build()
        .unwrap();
    let (svc, called, answered) = counted();
    let start = Instant::now();
    assert_eq!(chaos.layer().layer(svc).oneshot(7).await.unwrap(), 7);
    assert_eq!(start.elapsed(), Duration::from_millis(310));
    assert_eq!((called.load(Relaxed), answered.load(Relaxed)), (1, 1));
    assert_eq!(chaos.stats().delays, 1);
}

#[tokio::test(start_paused = true)]
async fn a_hang_is_ended_only_by_a_timeout_above_it() {
    let chaos = Chaos::builder("db").hang_rate(1.0).build().unwrap();
    let (svc, called, _) = counted();
    let svc = ServiceBuilder::new()
        .layer(TimeoutLayer::new("db", Duration::from_secs(2)).unwrap())
        .layer(chaos.layer())
        .service(svc);
    let start = Instant::now();
    let err = svc.oneshot(1).await.unwrap_err();
    assert!(err.is::<tower_breakwater::timeout::Elapsed>(), "{err}");
    assert_eq!(start.elapsed(), Duration::from_secs(2));
    assert_eq!(called.load(Relaxed), 0);
}

#[tokio::test(start_paused = true)]
async fn an_abort_sends_the_request_and_drops_the_answer() {
    let chaos = Chaos::builder("db").abort_rate(1.0).build().unwrap();
    let (svc, called, answered) = counted();
    let err = chaos.layer().layer(svc).oneshot(1).await.unwrap_err();
    assert!(err.downcast_ref::<ChaosError>().unwrap().is_abort());
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(called.load(Relaxed), 1, "the request was sent");
    assert_eq!(answered.load(Relaxed), 0, "its future was dropped");
}

#[tokio::test(start_paused = true)]
async fn switched_off_it_passes_everything_and_on_again_it_resumes() {
    let chaos = Chaos::builder("db")
        .error_rate(1.0)
        .enabled(false)
        .build()
        .unwrap();
    let (svc, _, _) = counted();
    let svc = chaos.layer().layer(svc);
    assert_eq!(svc.clone().oneshot(1).await.unwrap(), 1);
    chaos.enable();
    assert!(svc.clone().oneshot(2).await.is_err());
    chaos.set_error_rate(0.0).unwrap();
    assert_eq!(svc.oneshot(3).await.unwrap(), 3);
    assert_eq!(chaos.stats().calls, 2);
}

#[tokio::test(start_paused = true)]
async fn the_same_seed_replays_the_same_run() {
    async fn run(seed: u64) -> Vec<bool> {
        let chaos = Chaos::builder("db")
            .error_rate(0.3)
            .seed(seed)
            .build()
            .unwrap();
        let (svc, _, _) = counted();
        let svc = chaos.layer().layer(svc);
        let mut outcomes = Vec::new();
        for x in 0..200 {
            outcomes.push(svc.clone().oneshot(x).await.is_ok());
        }
        outcomes
    }
    assert_eq!(run(5).await, run(5).await);
    assert_ne!(run(5).await, run(6).await);
}

#[tokio::test(start_paused = true)]
async fn in_a_breakwater_stack_an_injected_fault_is_an_inner_error() {
    let chaos = Chaos::builder("db").error_rate(1.0).build().unwrap();
    let svc = ServiceBuilder::new()
        .layer(chaos.layer())
        .map_err(Error::<std::io::Error, u32>::Inner)
        .service(service_fn(
            |x: u32| async move { Ok::<_, std::io::Error>(x) },
        ));
    // Error<io::Error, u32> holds it as Inner(io::Error::other(ChaosError)).
    let err = svc.oneshot(1).await.unwrap_err();
    let io = err.into_inner().expect("an inner error");
    assert!(io.get_ref().unwrap().is::<ChaosError>());
}
