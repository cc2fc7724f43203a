//! What registering metrics costs a call: the breaker's closed path, one task, with and
//! without its metrics registered (and with a scraper running beside it), plus the timeout
//! and retry success paths that now carry a counter id or a compare for their metrics.
//!
//! Every contender wraps the same inner service: a `service_fn` that is always ready and
//! answers `Ok(x)` at once. One task on a current-thread runtime drives
//! `svc.ready().await?.call(x).await` per iteration (see `benches/common`).
//!
//! - `bare`: the inner service alone.
//! - `breaker`: `consecutive_failures(5)`, metrics not registered.
//! - `breaker_registered`: the same, its metrics registered in a `prometheus::Registry`.
//! - `breaker_registered_durations`: the same, with `call_durations` on (a clock read at
//!   each end of every call and a histogram update).
//! - `breaker_registered_scraped`: the same, while another thread gathers and encodes the
//!   registry every millisecond (a scrape sums the per-thread counters under the breaker's
//!   snapshot lock, which the call path never takes).
//! - `timeout_registered`, `retry_registered`: a 1 s `TimeoutLayer`, a 3-attempt
//!   `RetryLayer`, registered.
//!
//! ```text
//! cargo bench --bench metrics --features metrics -- --warm-up-time 1 --measurement-time 3
//! ```

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use prometheus::{Encoder, Registry, TextEncoder};
use tower::{service_fn, BoxError, Layer};
use tower_breakwater::circuit_breaker::CircuitBreaker;
use tower_breakwater::metrics::Metrics;
use tower_breakwater::retry::RetryLayer;
use tower_breakwater::timeout::TimeoutLayer;
use tower_breakwater::Error;

mod common;

use common::{runtime, time};
use criterion::{criterion_group, criterion_main, Criterion};

fn breaker() -> CircuitBreaker {
    CircuitBreaker::builder("bench")
        .consecutive_failures(5)
        .build()
        .expect("valid")
}

/// Gathers and encodes `registry` every millisecond until dropped.
struct Scraper {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Scraper {
    fn start(registry: Registry) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut text = Vec::new();
            while !stopped.load(Ordering::Relaxed) {
                text.clear();
                TextEncoder::new()
                    .encode(&registry.gather(), &mut text)
                    .expect("encodes");
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        Scraper {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Scraper {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn benches(c: &mut Criterion) {
    let rt = runtime();
    let inner = service_fn(|x: u64| std::future::ready(Ok::<u64, BoxError>(x)));
    let mut group = c.benchmark_group("metrics_closed_1_task");

    let mut bare = inner;
    group.bench_function("bare", |b| b.iter_custom(|n| time(&rt, &mut bare, n)));

    let mut plain = breaker().layer().layer(inner);
    group.bench_function("breaker", |b| b.iter_custom(|n| time(&rt, &mut plain, n)));

    let registered = breaker();
    let registry = Registry::new();
    Metrics::new()
        .circuit_breaker(&registered)
        .register(&registry)
        .expect("registers");
    let mut with_metrics = registered.layer().layer(inner);
    group.bench_function("breaker_registered", |b| {
        b.iter_custom(|n| time(&rt, &mut with_metrics, n))
    });

    let timed_breaker = breaker();
    let timed_registry = Registry::new();
    Metrics::new()
        .circuit_breaker(&timed_breaker)
        .call_durations(prometheus::DEFAULT_BUCKETS)
        .register(&timed_registry)
        .expect("registers");
    let mut with_durations = timed_breaker.layer().layer(inner);
    group.bench_function("breaker_registered_durations", |b| {
        b.iter_custom(|n| time(&rt, &mut with_durations, n))
    });

    let scraped = breaker();
    let scraped_registry = Registry::new();
    Metrics::new()
        .circuit_breaker(&scraped)
        .register(&scraped_registry)
        .expect("registers");
    let mut with_scraper = scraped.layer().layer(inner);
    {
        let _scraper = Scraper::start(scraped_registry.clone());
        group.bench_function("breaker_registered_scraped", |b| {
            b.iter_custom(|n| time(&rt, &mut with_scraper, n))
        });
    }
    assert!(scraped.snapshot().totals.successes > 0);

    let timeout = TimeoutLayer::new("bench", Duration::from_secs(1)).expect("valid");
    let layers = Registry::new();
    let retry = RetryLayer::builder("bench")
        .max_attempts(3)
        .build()
        .expect("valid");
    Metrics::new()
        .timeout(&timeout)
        .retry(&retry)
        .register(&layers)
        .expect("registers");
    let mut timed = timeout.layer(inner);
    group.bench_function("timeout_registered", |b| {
        b.iter_custom(|n| time(&rt, &mut timed, n))
    });
    let retry_inner = service_fn(|x: u64| std::future::ready(Ok::<u64, Error<BoxError, u64>>(x)));
    let mut retried = retry.layer(retry_inner);
    group.bench_function("retry_registered", |b| {
        b.iter_custom(|n| time(&rt, &mut retried, n))
    });

    group.finish();
}

criterion_group!(benches_group, benches);
criterion_main!(benches_group);
