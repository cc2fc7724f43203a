//! What a retry layer costs per call when the call succeeds first time, for breakwater and
//! tower, around the same always-ready inner service.
//!
//! # What is measured
//! One group, `success_1_task`: one task on a current-thread runtime makes one
//! `ServiceExt::ready().await` + `call(x).await` per iteration. The inner service is a
//! `service_fn` answering `Ok(x)` at once (a `std::future::Ready`), with breakwater's error
//! type `tower_breakwater::Error<Boom, u64>`, so every contender wraps the very same service.
//!
//! - `bare`: the inner service alone, the baseline.
//! - `breakwater`: `RetryLayer` with `max_attempts(3)`, no budget (defaults otherwise).
//! - `breakwater_budget`: the same with the default `Budget` (ratio 0.2, 10/s, 10 s).
//! - `tower`: tower 0.5's `Retry` with a three-attempt policy whose `clone_request` clones
//!   the request, as breakwater does for a call that may be retried.
//!
//! Each iteration is one call, timed with `iter_custom` around a whole batch (one
//! `block_on` per batch). Requests and responses go through [`std::hint::black_box`], and
//! every contender is checked to answer `Ok(x)` before it is measured. A layer's overhead
//! is its time minus `bare` in the same run.
//!
//! ```text
//! cargo bench --bench retry -- --warm-up-time 1 --measurement-time 3
//! ```

use std::future::Ready;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use tokio::runtime::Runtime;
use tower::{service_fn, Layer, Service, ServiceExt};
use tower_breakwater::retry::{Budget, RetryLayer};
use tower_breakwater::Error;

/// The inner service's own error (never produced here).
#[derive(Debug, Clone, Copy)]
struct Boom;

type Reply = Result<u64, Error<Boom, u64>>;

fn inner(
) -> impl Service<u64, Response = u64, Error = Error<Boom, u64>, Future = Ready<Reply>> + Clone {
    service_fn(|x: u64| std::future::ready(Ok(x)))
}

/// tower's `Retry` policy: up to three attempts, retrying any error, cloning the request.
#[derive(Clone, Copy)]
struct Attempts(u32);

impl<Res, E> tower::retry::Policy<u64, Res, E> for Attempts {
    type Future = Ready<()>;

    fn retry(&mut self, _: &mut u64, result: &mut Result<Res, E>) -> Option<Self::Future> {
        match result {
            Err(_) if self.0 > 1 => {
                self.0 -= 1;
                Some(std::future::ready(()))
            }
            _ => None,
        }
    }

    fn clone_request(&mut self, request: &u64) -> Option<u64> {
        Some(*request)
    }
}

/// Make `iters` calls and return the wall time they took.
fn time<S>(rt: &Runtime, svc: &mut S, iters: u64) -> Duration
where
    S: Service<u64, Response = u64>,
    S::Error: std::fmt::Debug,
{
    rt.block_on(async {
        let start = Instant::now();
        for i in 0..iters {
            let ready = svc.ready().await.expect("always ready");
            black_box(ready.call(black_box(i)).await.expect("always Ok"));
        }
        start.elapsed()
    })
}

fn bench<S>(
    c: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    rt: &Runtime,
    name: &str,
    mut svc: S,
) where
    S: Service<u64, Response = u64>,
    S::Error: std::fmt::Debug,
{
    let answers: Vec<u64> = rt.block_on(async {
        let mut answers = Vec::new();
        for i in 0..100 {
            answers.push(svc.ready().await.unwrap().call(i).await.unwrap());
        }
        answers
    });
    assert_eq!(
        answers,
        (0..100).collect::<Vec<_>>(),
        "{name} answers wrong"
    );
    c.bench_function(name, |b| b.iter_custom(|iters| time(rt, &mut svc, iters)));
}

fn success_1_task(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime");
    let mut g = c.benchmark_group("success_1_task");
    g.warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);

    bench(&mut g, &rt, "bare", inner());
    let retry = RetryLayer::builder("bench")
        .max_attempts(3)
        .build()
        .expect("valid config");
    bench(&mut g, &rt, "breakwater", retry.layer(inner()));
    let budget = Budget::builder().build().expect("valid budget");
    let retry = RetryLayer::builder("bench")
        .max_attempts(3)
        .budget(budget)
        .build()
        .expect("valid config");
    bench(&mut g, &rt, "breakwater_budget", retry.layer(inner()));
    bench(
        &mut g,
        &rt,
        "tower",
        tower::retry::RetryLayer::new(Attempts(3)).layer(inner()),
    );
    g.finish();
}

criterion_group!(benches, success_1_task);
criterion_main!(benches);
