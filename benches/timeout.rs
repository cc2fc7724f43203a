//! What a timeout costs per call on the success path, for breakwater and tower.
//!
//! Every contender wraps the same inner service: a `service_fn` that is always ready and
//! answers with an already-completed future (`Ok(x)`, error type `BoxError`). One task on
//! a current-thread runtime (timer enabled) drives `svc.ready().await?.call(x).await` per
//! iteration; requests and responses go through [`black_box`]. Each iteration is one call,
//! timed with `iter_custom` around a batch (one `block_on` per batch).
//!
//! - `bare`: the inner service alone, the baseline.
//! - `breakwater`: [`TimeoutLayer`] with a 1 s limit.
//! - `tower`: `tower::timeout::TimeoutLayer` with a 1 s limit.
//!
//! A layer's overhead is its time minus `bare` in the same run. Note: the dev build of
//! tokio has `test-util` on (for the paused-clock tests), which makes every
//! `tokio::time::Instant::now()` take a mutex; both timeouts read the clock once per call,
//! so both pay it alike.
//!
//! ```text
//! cargo bench --bench timeout -- --warm-up-time 1 --measurement-time 3
//! ```

use std::time::Duration;

use tower_breakwater::timeout::TimeoutLayer;
mod common;

use common::{runtime, time};
use criterion::{criterion_group, criterion_main, Criterion};
use tower::{service_fn, BoxError, Layer};

const LIMIT: Duration = Duration::from_secs(1);

fn benches(c: &mut Criterion) {
    let rt = runtime();
    let inner = service_fn(|x: u64| std::future::ready(Ok::<u64, BoxError>(x)));
    let mut group = c.benchmark_group("timeout_success_1_task");

    let mut bare = inner;
    group.bench_function("bare", |b| b.iter_custom(|n| time(&rt, &mut bare, n)));

    let mut breakwater = TimeoutLayer::new("b", LIMIT).unwrap().layer(inner);
    group.bench_function("breakwater", |b| {
        b.iter_custom(|n| time(&rt, &mut breakwater, n))
    });

    let mut tower = tower::timeout::TimeoutLayer::new(LIMIT).layer(inner);
    group.bench_function("tower", |b| b.iter_custom(|n| time(&rt, &mut tower, n)));

    group.finish();
}

criterion_group!(benches_group, benches);
criterion_main!(benches_group);
