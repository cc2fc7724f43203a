//! What a bulkhead costs per call on the uncontended path, for breakwater and tower.
//!
//! Every contender wraps the same inner service: a `service_fn` that is always ready and
//! answers with an already-completed future (`Ok(x)`, error type `BoxError`). One task on
//! a current-thread runtime drives `svc.ready().await?.call(x).await` per iteration, so a
//! slot is always free; requests and responses go through [`black_box`]. Each iteration
//! is one call, timed with `iter_custom` around a batch (one `block_on` per batch).
//!
//! - `bare`: the inner service alone, the baseline.
//! - `breakwater`: [`Bulkhead`] with `max_concurrent(64)` (default `max_waiting(0)`).
//! - `tower`: `tower::limit::ConcurrencyLimitLayer::new(64)`.
//!
//! A layer's overhead is its time minus `bare` in the same run.
//!
//! ```text
//! cargo bench --bench bulkhead -- --warm-up-time 1 --measurement-time 3
//! ```

use tower_breakwater::bulkhead::Bulkhead;
mod common;

use common::{runtime, time};
use criterion::{criterion_group, criterion_main, Criterion};
use tower::{service_fn, BoxError, Layer};

const MAX_CONCURRENT: usize = 64;

fn benches(c: &mut Criterion) {
    let rt = runtime();
    let inner = service_fn(|x: u64| std::future::ready(Ok::<u64, BoxError>(x)));
    let mut group = c.benchmark_group("bulkhead_uncontended_1_task");

    let mut bare = inner;
    group.bench_function("bare", |b| b.iter_custom(|n| time(&rt, &mut bare, n)));

    let bulkhead = Bulkhead::builder("b")
        .max_concurrent(MAX_CONCURRENT)
        .build()
        .unwrap();
    let mut breakwater = bulkhead.layer().layer(inner);
    group.bench_function("breakwater", |b| {
        b.iter_custom(|n| time(&rt, &mut breakwater, n))
    });
    assert_eq!((bulkhead.in_flight(), bulkhead.rejected()), (0, 0));

    let mut tower = tower::limit::ConcurrencyLimitLayer::new(MAX_CONCURRENT).layer(inner);
    group.bench_function("tower", |b| b.iter_custom(|n| time(&rt, &mut tower, n)));

    group.finish();
}

criterion_group!(benches_group, benches);
criterion_main!(benches_group);
