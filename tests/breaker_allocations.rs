//! The breaker's call paths allocate nothing: a closed call through the tower layer, a
//! rejection while open (with its `Rejected` error and the unsent request handed back), and
//! the library API (`breaker.call`). Counted by `allocation-counter`'s global allocator, on
//! the one thread that runs the current-thread runtime, after a warm-up that makes what is
//! made once (the thread's cache entry, the open period's timer).

use std::time::Duration;

use tower::{service_fn, Layer, Service, ServiceExt};
use tower_breakwater::circuit_breaker::{CircuitBreaker, Error, State};

/// The inner service's error: a unit struct, so failures allocate nothing either.
#[derive(Debug)]
struct Boom;

impl std::fmt::Display for Boom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("boom")
    }
}

impl std::error::Error for Boom {}

/// Answers at once; fails the requests that ask to.
fn inner(
) -> impl Service<bool, Response = (), Error = Boom, Future = std::future::Ready<Result<(), Boom>>> + Clone
{
    service_fn(|fail: bool| std::future::ready(if fail { Err(Boom) } else { Ok(()) }))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
}

fn breaker() -> CircuitBreaker {
    CircuitBreaker::builder("alloc")
        .consecutive_failures(3)
        .open_for(Duration::from_secs(3600))
        .build()
        .unwrap()
}

#[test]
fn closed_calls_allocate_nothing() {
    let rt = runtime();
    let breaker = breaker();
    let mut svc = breaker.layer().layer(inner());
    let mut calls = |n: u32| {
        rt.block_on(async {
            for i in 0..n {
                // A failure now and then, never three in a row: the breaker stays closed.
                let fail = i % 10 == 9;
                let result = svc.ready().await.unwrap().call(fail).await;
                assert_eq!(result.is_err(), fail);
            }
        })
    };
    calls(100);
    let info = allocation_counter::measure(|| calls(1000));
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(info.count_total, 0, "{info:?}");
}

#[test]
fn rejections_allocate_nothing() {
    let rt = runtime();
    let breaker = breaker();
    let mut svc = breaker.layer().layer(inner());
    rt.block_on(async {
        for _ in 0..3 {
            let result = svc.ready().await.unwrap().call(true).await;
            assert!(matches!(result, Err(Error::Inner(Boom))));
        }
    });
    assert_eq!(breaker.state(), State::Open);
    let mut calls = |n: u32| {
        rt.block_on(async {
            for _ in 0..n {
                let result = svc.ready().await.unwrap().call(true).await;
                let Err(Error::Rejected(rejected)) = result else {
                    panic!("open: every call is refused")
                };
                assert_eq!(rejected.into_request(), Some(true));
            }
        })
    };
    // Past the 64 rejections after which a timer ends the open period (made once).
    calls(100);
    let info = allocation_counter::measure(|| calls(1000));
    assert_eq!(info.count_total, 0, "{info:?}");
}

#[test]
fn library_calls_allocate_nothing() {
    let rt = runtime();
    let breaker = breaker();
    let calls = |n: u32| {
        rt.block_on(async {
            for i in 0..n {
                let fail = i % 10 == 9;
                let result = breaker
                    .call(|| std::future::ready(if fail { Err(Boom) } else { Ok(()) }))
                    .await;
                assert_eq!(result.is_err(), fail);
            }
        })
    };
    calls(100);
    let info = allocation_counter::measure(|| calls(1000));
    assert_eq!(info.count_total, 0, "{info:?}");
}

/// A permit is two words (so it travels in registers; see `permit.rs`).
#[test]
fn a_permit_is_two_words() {
    use tower_breakwater::circuit_breaker::Permit;
    assert_eq!(
        std::mem::size_of::<Permit>(),
        2 * std::mem::size_of::<u64>()
    );
}
