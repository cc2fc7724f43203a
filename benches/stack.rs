//! What the whole composed stack costs per call on the success path.
//!
//! One task on a current-thread runtime drives `svc.ready().await?.call(x).await` per
//! iteration through [`Resilience`] around an always-ready inner service that answers with an
//! already-completed `Ok(x)`; requests and responses go through [`black_box`]. Each
//! iteration is one call, timed with `iter_custom` around a batch.
//!
//! - `bare`: the inner service alone, the baseline.
//! - `breakwater_full`: fallback + retry (3 attempts, no budget) + circuit breaker
//!   (consecutive failures) + timeout (1 s) + bulkhead (64 slots).
//! - `breakwater_full_budget`: the same with a retry budget (20 % + 10/s).
//! - `breakwater_breaker_timeout`: only the breaker and the timeout.
//!
//! The issue's target: the full stack's overhead (its time minus `bare`) under 100 ns.
//!
//! ```text
//! cargo bench --bench stack -- --warm-up-time 1 --measurement-time 3
//! ```

use std::time::Duration;

use tower_breakwater::bulkhead::Bulkhead;
use tower_breakwater::circuit_breaker::CircuitBreaker;
use tower_breakwater::fallback::Fallback;
use tower_breakwater::retry::{Budget, RetryLayer};
use tower_breakwater::{Error, Resilience};
mod common;

use common::{runtime, time};
use criterion::{criterion_group, criterion_main, Criterion};
use tower::{service_fn, Layer};

type Failure = Error<std::io::Error, u64>;

fn benches(c: &mut Criterion) {
    let rt = runtime();
    let inner = service_fn(|x: u64| std::future::ready(Ok::<u64, std::io::Error>(x)));
    let mut group = c.benchmark_group("stack_success_1_task");

    let mut bare = inner;
    group.bench_function("bare", |b| b.iter_custom(|n| time(&rt, &mut bare, n)));

    let full = |budget: Option<Budget>| {
        let breaker = CircuitBreaker::builder("bench").build().expect("valid");
        let bulkhead = Bulkhead::builder("bench")
            .max_concurrent(64)
            .build()
            .expect("valid");
        let fallback = Fallback::new("bench", |e: Failure, _: Option<u64>| async move {
            Err::<u64, Failure>(e)
        });
        let mut retry = RetryLayer::builder("bench").max_attempts(3);
        if let Some(budget) = budget {
            retry = retry.budget(budget);
        }
        Resilience::builder("bench")
            .fallback(&fallback)
            .retry(&retry.build().expect("valid"))
            .circuit_breaker(&breaker)
            .timeout(Duration::from_secs(1))
            .bulkhead(&bulkhead)
            .build()
            .expect("valid")
            .layer(inner)
    };
    let mut stack = full(None);
    group.bench_function("breakwater_full", |b| {
        b.iter_custom(|n| time(&rt, &mut stack, n))
    });
    let budget = Budget::builder()
        .ratio(0.2)
        .min_per_second(10)
        .build()
        .expect("valid");
    let mut stack = full(Some(budget));
    group.bench_function("breakwater_full_budget", |b| {
        b.iter_custom(|n| time(&rt, &mut stack, n))
    });

    let breaker = CircuitBreaker::builder("bench").build().expect("valid");
    let mut stack = Resilience::builder("bench")
        .circuit_breaker(&breaker)
        .timeout(Duration::from_secs(1))
        .build()
        .expect("valid")
        .layer(inner);
    group.bench_function("breakwater_breaker_timeout", |b| {
        b.iter_custom(|n| time(&rt, &mut stack, n))
    });
    group.finish();
}

criterion_group!(stack, benches);
criterion_main!(stack);
