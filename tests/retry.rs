//! The retry layer's behaviour, on tokio's paused clock: waits, attempts, what is retried,
//! what is copied, what a dropped call leaves behind, and (feature `http`) `Retry-After`.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use proptest::prelude::*;
use tokio::time::Instant;
use tower::{service_fn, Layer, Service, ServiceExt};
use tower_breakwater::bulkhead::BulkheadFull;
use tower_breakwater::circuit_breaker::CircuitBreaker;
use tower_breakwater::retry::{Backoff, Budget, Jitter, RetriesExhausted, RetryLayer};
use tower_breakwater::timeout::Elapsed;
use tower_breakwater::{Error, ErrorKind};

const MS: Duration = Duration::from_millis(1);

// ---------------------------------------------------------------------------------------
// A request that counts its copies and how many of it are alive.

#[derive(Default)]
struct Counts {
    copies: AtomicUsize,
    live: AtomicUsize,
}

struct Order {
    id: u32,
    counts: Arc<Counts>,
}

impl Order {
    fn new(id: u32, counts: &Arc<Counts>) -> Self {
        counts.live.fetch_add(1, Ordering::SeqCst);
        Order {
            id,
            counts: counts.clone(),
        }
    }
}

impl Clone for Order {
    fn clone(&self) -> Self {
        self.counts.copies.fetch_add(1, Ordering::SeqCst);
        Order::new(self.id, &self.counts)
    }
}

impl Drop for Order {
    fn drop(&mut self) {
        self.counts.live.fetch_sub(1, Ordering::SeqCst);
    }
}

impl std::fmt::Debug for Order {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Order({})", self.id)
    }
}

// ---------------------------------------------------------------------------------------
// An inner service that logs when each attempt starts, counts its clones, and answers as
// its script says for attempt n (0-based).

type Reply = Result<u32, Error<String, Order>>;
type ReplyFuture = Pin<Box<dyn Future<Output = Reply> + Send>>;
type Script = Arc<dyn Fn(usize, Order) -> ReplyFuture + Send + Sync>;

#[derive(Default)]
struct Log {
    starts: Mutex<Vec<Instant>>,
    clones: AtomicUsize,
    live_clones: AtomicUsize,
}

impl Log {
    fn calls(&self) -> usize {
        self.starts.lock().unwrap().len()
    }

    /// The waits between attempts.
    fn gaps(&self) -> Vec<Duration> {
        let starts = self.starts.lock().unwrap();
        starts.windows(2).map(|w| w[1] - w[0]).collect()
    }
}

struct Probe {
    log: Arc<Log>,
    script: Script,
    clone: bool,
}

impl Probe {
    fn new(
        script: impl Fn(usize, Order) -> ReplyFuture + Send + Sync + 'static,
    ) -> (Self, Arc<Log>) {
        let log = Arc::new(Log::default());
        let probe = Probe {
            log: log.clone(),
            script: Arc::new(script),
            clone: false,
        };
        (probe, log)
    }
}

impl Clone for Probe {
    fn clone(&self) -> Self {
        self.log.clones.fetch_add(1, Ordering::SeqCst);
        self.log.live_clones.fetch_add(1, Ordering::SeqCst);
        Probe {
            log: self.log.clone(),
            script: self.script.clone(),
            clone: true,
        }
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        if self.clone {
            self.log.live_clones.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

impl Service<Order> for Probe {
    type Response = u32;
    type Error = Error<String, Order>;
    type Future = ReplyFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, order: Order) -> ReplyFuture {
        let n = {
            let mut starts = self.log.starts.lock().unwrap();
            starts.push(Instant::now());
            starts.len() - 1
        };
        (self.script)(n, order)
    }
}

fn fail(n: usize) -> ReplyFuture {
    Box::pin(async move { Err(Error::Inner(format!("attempt {n} failed"))) })
}

fn ok(value: u32) -> ReplyFuture {
    Box::pin(async move { Ok(value) })
}

/// Fails every attempt.
fn always_failing() -> (Probe, Arc<Log>) {
    Probe::new(|n, _| fail(n))
}

/// Fails the first `failures` attempts, then answers with the order's id.
fn failing_first(failures: usize) -> (Probe, Arc<Log>) {
    Probe::new(move |n, order| if n < failures { fail(n) } else { ok(order.id) })
}

fn layer(max_attempts: u32, backoff: Backoff) -> RetryLayer {
    RetryLayer::builder("orders")
        .max_attempts(max_attempts)
        .backoff(backoff)
        .jitter(Jitter::None)
        .build()
        .unwrap()
}

async fn call<S>(svc: &mut S, order: Order) -> Result<S::Response, S::Error>
where
    S: Service<Order>,
{
    svc.ready().await?.call(order).await
}

fn exhausted(result: Reply) -> RetriesExhausted<String, Order> {
    match result {
        Err(Error::RetriesExhausted(gave_up)) => gave_up,
        other => panic!("expected RetriesExhausted, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// Waits.

#[tokio::test(start_paused = true)]
async fn exponential_backoff_waits_exactly_then_holds_at_the_cap() {
    let (probe, log) = always_failing();
    let mut svc = layer(5, Backoff::exponential(MS * 100, 2.0, MS * 350)).layer(probe);
    let counts = Arc::default();
    let started = Instant::now();
    let gave_up = exhausted(call(&mut svc, Order::new(1, &counts)).await);
    assert_eq!(log.gaps(), [MS * 100, MS * 200, MS * 350, MS * 350]);
    assert_eq!(started.elapsed(), MS * 1000);
    assert_eq!(gave_up.attempts(), 5);
    assert!(!gave_up.is_budget_empty());
    assert!(matches!(gave_up.last(), Error::Inner(e) if e == "attempt 4 failed"));
}

#[tokio::test(start_paused = true)]
async fn constant_backoff_waits_the_same_each_time() {
    let (probe, log) = failing_first(3);
    let mut svc = layer(4, Backoff::constant(MS * 250)).layer(probe);
    let counts = Arc::default();
    assert_eq!(call(&mut svc, Order::new(9, &counts)).await.unwrap(), 9);
    assert_eq!(log.gaps(), [MS * 250; 3]);
}

#[tokio::test(start_paused = true)]
async fn a_zero_backoff_retries_at_once() {
    let (probe, log) = failing_first(2);
    let mut svc = layer(3, Backoff::constant(Duration::ZERO)).layer(probe);
    let counts = Arc::default();
    assert_eq!(call(&mut svc, Order::new(4, &counts)).await.unwrap(), 4);
    assert_eq!(log.gaps(), [Duration::ZERO; 2]);
}

/// Gaps seen on the paused clock: tokio's timer has millisecond ticks, so a wait of `w`
/// shows as `w` rounded up to the next millisecond.
async fn jittered_gaps(backoff: Backoff, jitter: Option<Jitter>, calls: u32) -> Vec<Vec<Duration>> {
    let mut builder = RetryLayer::builder("orders")
        .max_attempts(4)
        .backoff(backoff);
    if let Some(jitter) = jitter {
        builder = builder.jitter(jitter);
    }
    let retry = builder.build().unwrap();
    let counts = Arc::default();
    let mut all = Vec::new();
    for id in 0..calls {
        let (probe, log) = always_failing();
        let mut svc = retry.layer(probe);
        let _ = call(&mut svc, Order::new(id, &counts)).await;
        all.push(log.gaps());
    }
    all
}

#[tokio::test(start_paused = true)]
async fn full_jitter_waits_between_zero_and_the_delay() {
    let d = MS * 100;
    let gaps: Vec<Duration> = jittered_gaps(Backoff::constant(d), Some(Jitter::Full), 60)
        .await
        .concat();
    assert_eq!(gaps.len(), 180);
    assert!(gaps.iter().all(|g| *g <= d), "{gaps:?}");
    assert!(
        gaps.iter().any(|g| *g < d * 2 / 10),
        "not spread low: {gaps:?}"
    );
    assert!(
        gaps.iter().any(|g| *g > d * 8 / 10),
        "not spread high: {gaps:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn full_jitter_is_the_default() {
    let d = MS * 100;
    let gaps = jittered_gaps(Backoff::constant(d), None, 30).await.concat();
    assert!(gaps.iter().all(|g| *g <= d));
    assert!(gaps.iter().any(|g| *g < d / 2));
}

#[tokio::test(start_paused = true)]
async fn equal_jitter_waits_between_half_and_the_whole_delay() {
    let d = MS * 100;
    let gaps = jittered_gaps(Backoff::constant(d), Some(Jitter::Equal), 60)
        .await
        .concat();
    assert!(gaps.iter().all(|g| *g >= d / 2 && *g <= d), "{gaps:?}");
    assert!(gaps.iter().any(|g| *g < d * 6 / 10));
    assert!(gaps.iter().any(|g| *g > d * 9 / 10));
}

#[tokio::test(start_paused = true)]
async fn decorrelated_waits_stay_between_base_and_three_times_the_last() {
    let (base, cap) = (MS * 10, MS * 200);
    for gaps in jittered_gaps(Backoff::decorrelated(base, cap), None, 60).await {
        let mut prev = base;
        for gap in gaps {
            // Rounded up to the millisecond tick, hence the `+ MS` on the upper bound.
            assert!(
                gap >= base && gap <= cap.min(prev * 3) + MS,
                "{gap:?} after {prev:?}"
            );
            prev = gap;
        }
    }
}

// ---------------------------------------------------------------------------------------
// Attempts and outcomes.

#[tokio::test(start_paused = true)]
async fn max_attempts_counts_the_first_attempt() {
    for max in [1, 2, 4] {
        let (probe, log) = always_failing();
        let mut svc = layer(max, Backoff::constant(MS)).layer(probe);
        let gave_up = exhausted(call(&mut svc, Order::new(1, &Arc::default())).await);
        assert_eq!(log.calls(), max as usize);
        assert_eq!(gave_up.attempts(), max);
    }
}

#[tokio::test(start_paused = true)]
async fn a_retry_that_succeeds_returns_the_response() {
    let (probe, log) = failing_first(2);
    let mut svc = layer(3, Backoff::constant(MS)).layer(probe);
    assert_eq!(
        call(&mut svc, Order::new(77, &Arc::default()))
            .await
            .unwrap(),
        77
    );
    assert_eq!(log.calls(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_response_it_would_retry_comes_back_as_is_when_attempts_run_out() {
    let (probe, log) = Probe::new(|_, _| ok(503));
    let mut svc = RetryLayer::builder("orders")
        .max_attempts(3)
        .backoff(Backoff::constant(MS))
        .retry_if(|outcome: &Reply| matches!(outcome, Ok(503)))
        .build()
        .unwrap()
        .layer(probe);
    assert_eq!(
        call(&mut svc, Order::new(1, &Arc::default()))
            .await
            .unwrap(),
        503
    );
    assert_eq!(log.calls(), 3);
}

#[tokio::test(start_paused = true)]
async fn the_predicate_decides_which_errors_are_retried() {
    // Retry only "attempt 0 failed"; the second failure is returned unchanged.
    let (probe, log) = always_failing();
    let mut svc = RetryLayer::builder("orders")
        .max_attempts(5)
        .backoff(Backoff::constant(MS))
        .retry_if(
            |outcome: &Reply| matches!(outcome, Err(Error::Inner(e)) if e.starts_with("attempt 0")),
        )
        .build()
        .unwrap()
        .layer(probe);
    let result = call(&mut svc, Order::new(1, &Arc::default())).await;
    assert!(matches!(result, Err(Error::Inner(e)) if e == "attempt 1 failed"));
    assert_eq!(log.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn timeouts_are_retried_by_default() {
    let (probe, log) = Probe::new(|n, order| {
        if n == 0 {
            Box::pin(async { Err(Elapsed::new("orders", MS * 50, MS * 50).into()) })
        } else {
            ok(order.id)
        }
    });
    let mut svc = layer(2, Backoff::constant(MS)).layer(probe);
    assert_eq!(
        call(&mut svc, Order::new(5, &Arc::default()))
            .await
            .unwrap(),
        5
    );
    assert_eq!(log.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn an_open_breaker_is_never_retried_and_hands_the_request_back() {
    let breaker = CircuitBreaker::builder("orders").build().unwrap();
    breaker.force_open();
    let (probe, log) = always_failing();
    let counts = Arc::default();
    let mut svc = layer(5, Backoff::constant(MS)).layer(breaker.layer().flat().layer(probe));
    let started = Instant::now();
    let mut error = call(&mut svc, Order::new(31, &counts)).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Rejected);
    assert_eq!(log.calls(), 0, "the breaker did not call the inner service");
    assert_eq!(started.elapsed(), Duration::ZERO, "no backoff wait");
    assert_eq!(error.take_request().map(|o| o.id), Some(31));
    // One copy was made for a possible retry (the breaker refuses after `call`), no more.
    assert_eq!(counts.copies.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn a_full_bulkhead_is_never_retried_and_hands_the_request_back() {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let full = service_fn(move |order: Order| {
        seen.fetch_add(1, Ordering::SeqCst);
        async move {
            Err::<u32, _>(Error::<String, Order>::from(
                BulkheadFull::new("orders", 8, None).with_request(order),
            ))
        }
    });
    let mut svc = layer(5, Backoff::constant(MS)).layer(full);
    let mut error = call(&mut svc, Order::new(8, &Arc::default()))
        .await
        .unwrap_err();
    assert!(error.is_bulkhead_full());
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(error.take_request().map(|o| o.id), Some(8));
}

#[tokio::test(start_paused = true)]
async fn retries_exhausted_below_is_not_retried_again() {
    let (probe, log) = Probe::new(|_, _| {
        Box::pin(async {
            Err(RetriesExhausted::new("below", 3, false, Error::Inner("x".to_string())).into())
        })
    });
    let mut svc = layer(5, Backoff::constant(MS)).layer(probe);
    let gave_up = exhausted(call(&mut svc, Order::new(1, &Arc::default())).await);
    assert_eq!(gave_up.name(), "below");
    assert_eq!(log.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_request_that_cannot_be_replayed_is_sent_once_and_its_error_is_unchanged() {
    let (probe, log) = always_failing();
    let counts = Arc::default();
    let mut svc = RetryLayer::builder("orders")
        .copy_request(|_: &Order| None)
        .build()
        .unwrap()
        .layer(probe);
    let result = call(&mut svc, Order::new(1, &counts)).await;
    assert!(matches!(result, Err(Error::Inner(e)) if e == "attempt 0 failed"));
    assert_eq!(log.calls(), 1);
    assert_eq!(log.clones.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn a_copier_that_refuses_later_stops_with_retries_exhausted() {
    // Only the first copy is allowed: attempt 2 runs, then there is nothing to replay.
    let copies = Arc::new(AtomicUsize::new(0));
    let (probe, log) = always_failing();
    let mut svc = RetryLayer::builder("orders")
        .max_attempts(5)
        .backoff(Backoff::constant(MS))
        .copy_request(move |o: &Order| {
            (copies.fetch_add(1, Ordering::SeqCst) == 0).then(|| o.clone())
        })
        .build()
        .unwrap()
        .layer(probe);
    let gave_up = exhausted(call(&mut svc, Order::new(1, &Arc::default())).await);
    assert_eq!((gave_up.attempts(), log.calls()), (2, 2));
}

#[tokio::test(start_paused = true)]
async fn a_service_clone_that_fails_readiness_ends_the_call_with_that_error() {
    #[derive(Clone)]
    struct Broken {
        original: bool,
    }
    impl Service<Order> for Broken {
        type Response = u32;
        type Error = Error<String, Order>;
        type Future = ReplyFuture;
        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(if self.original {
                Ok(())
            } else {
                Err(Error::Inner("clone not ready".into()))
            })
        }
        fn call(&mut self, _: Order) -> ReplyFuture {
            self.original = false; // the clone made after this call is the broken one
            fail(0)
        }
    }
    let mut svc = layer(3, Backoff::constant(MS)).layer(Broken { original: true });
    let result = call(&mut svc, Order::new(1, &Arc::default())).await;
    assert!(matches!(result, Err(Error::Inner(e)) if e == "clone not ready"));
}

// ---------------------------------------------------------------------------------------
// Copies: only when a retry could really happen.

#[tokio::test(start_paused = true)]
async fn one_attempt_means_no_copy_and_no_service_clone() {
    let (probe, log) = always_failing();
    let counts = Arc::default();
    let mut svc = layer(1, Backoff::constant(MS)).layer(probe);
    let gave_up = exhausted(call(&mut svc, Order::new(1, &counts)).await);
    assert_eq!(gave_up.attempts(), 1);
    assert_eq!(counts.copies.load(Ordering::SeqCst), 0);
    assert_eq!(log.clones.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn a_first_time_success_costs_one_copy_and_one_clone_and_frees_both() {
    let (probe, log) = failing_first(0);
    let counts = Arc::default();
    let mut svc = layer(3, Backoff::constant(MS)).layer(probe);
    assert_eq!(call(&mut svc, Order::new(1, &counts)).await.unwrap(), 1);
    assert_eq!(counts.copies.load(Ordering::SeqCst), 1);
    assert_eq!(counts.live.load(Ordering::SeqCst), 0);
    assert_eq!(log.clones.load(Ordering::SeqCst), 1);
    assert_eq!(log.live_clones.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn the_last_attempt_is_never_copied_for() {
    for max in [2u32, 3, 5] {
        let (probe, log) = always_failing();
        let counts = Arc::default();
        let mut svc = layer(max, Backoff::constant(MS)).layer(probe);
        exhausted(call(&mut svc, Order::new(1, &counts)).await);
        assert_eq!(log.calls(), max as usize);
        assert_eq!(counts.copies.load(Ordering::SeqCst), max as usize - 1);
        assert_eq!(
            log.clones.load(Ordering::SeqCst),
            1,
            "one service clone per call"
        );
        assert_eq!(counts.live.load(Ordering::SeqCst), 0);
        assert_eq!(log.live_clones.load(Ordering::SeqCst), 0);
    }
}

#[tokio::test(start_paused = true)]
async fn an_empty_budget_means_no_copy_and_budget_empty() {
    let budget = Budget::builder()
        .ratio(0.0)
        .min_per_second(1)
        .window(Duration::from_secs(1))
        .build()
        .unwrap();
    assert!(budget.try_withdraw(), "take the one retry of the floor");
    let (probe, log) = always_failing();
    let counts = Arc::default();
    let mut svc = RetryLayer::builder("orders")
        .budget(budget)
        .build()
        .unwrap()
        .layer(probe);
    let gave_up = exhausted(call(&mut svc, Order::new(1, &counts)).await);
    assert_eq!(gave_up.attempts(), 1);
    assert!(gave_up.is_budget_empty());
    assert_eq!(counts.copies.load(Ordering::SeqCst), 0);
    assert_eq!(log.clones.load(Ordering::SeqCst), 0);
}

// ---------------------------------------------------------------------------------------
// Dropped calls.

#[tokio::test(start_paused = true)]
async fn dropping_the_call_during_a_backoff_wait_leaks_nothing() {
    let (probe, log) = always_failing();
    let counts: Arc<Counts> = Arc::default();
    let mut svc = layer(3, Backoff::constant(Duration::from_secs(10))).layer(probe);
    let outcome = tokio::time::timeout(
        Duration::from_secs(1),
        call(&mut svc, Order::new(1, &counts)),
    )
    .await;
    assert!(outcome.is_err(), "still waiting to retry");
    assert_eq!(log.calls(), 1);
    assert_eq!(
        counts.live.load(Ordering::SeqCst),
        0,
        "the copy was dropped"
    );
    assert_eq!(
        log.live_clones.load(Ordering::SeqCst),
        0,
        "the service clone was dropped"
    );
    // The service is still usable.
    let (probe, _) = failing_first(0);
    *svc.get_mut() = probe;
    assert_eq!(call(&mut svc, Order::new(2, &counts)).await.unwrap(), 2);
}

#[tokio::test(start_paused = true)]
async fn dropping_the_call_mid_attempt_leaks_nothing() {
    // The second attempt never answers.
    let (probe, log) = Probe::new(|n, order| {
        if n == 0 {
            fail(n)
        } else {
            Box::pin(async move {
                let _held = order;
                std::future::pending::<()>().await;
                unreachable!()
            })
        }
    });
    let counts: Arc<Counts> = Arc::default();
    let mut svc = layer(4, Backoff::constant(MS * 10)).layer(probe);
    let outcome = tokio::time::timeout(
        Duration::from_secs(1),
        call(&mut svc, Order::new(1, &counts)),
    )
    .await;
    assert!(outcome.is_err());
    assert_eq!(log.calls(), 2);
    assert_eq!(counts.live.load(Ordering::SeqCst), 0);
    assert_eq!(log.live_clones.load(Ordering::SeqCst), 0);
}

// ---------------------------------------------------------------------------------------
// Config.

proptest! {
    #[test]
    fn building_never_panics(
        max_attempts in prop_oneof![any::<u32>(), 0u32..5],
        kind in 0u8..3,
        base_ns in prop_oneof![Just(0u64), any::<u64>(), 0u64..10_000_000_000],
        cap_ns in prop_oneof![Just(0u64), any::<u64>(), 0u64..10_000_000_000],
        factor in prop_oneof![any::<f64>(), 0.0f64..10.0],
        jitter in prop_oneof![Just(None), Just(Some(Jitter::None)), Just(Some(Jitter::Full)), Just(Some(Jitter::Equal))],
        max_retry_after_ns in prop_oneof![any::<u64>(), 0u64..100_000_000_000_000],
        ratio in prop_oneof![any::<f64>(), -0.5f64..1.5],
        min_per_second in any::<u32>(),
        window_ms in prop_oneof![any::<u64>(), 0u64..100_000],
    ) {
        let (base, cap) = (Duration::from_nanos(base_ns), Duration::from_nanos(cap_ns));
        let backoff = match kind {
            0 => Backoff::constant(base),
            1 => Backoff::exponential(base, factor, cap),
            _ => Backoff::decorrelated(base, cap),
        };
        let budget = Budget::builder()
            .ratio(ratio)
            .min_per_second(min_per_second)
            .window(Duration::from_millis(window_ms))
            .build();
        let budget_ok = budget.is_ok();
        let mut builder = RetryLayer::builder("p")
            .max_attempts(max_attempts)
            .backoff(backoff)
            .max_retry_after(Duration::from_nanos(max_retry_after_ns));
        if let Some(jitter) = jitter {
            builder = builder.jitter(jitter);
        }
        if let Ok(budget) = budget {
            builder = builder.budget(budget);
        }
        match builder.build() {
            Ok(layer) => {
                prop_assert!(max_attempts >= 1);
                prop_assert!(budget_ok || layer.budget().is_none());
                // A valid layer's waits are computable without panicking.
                let _: Vec<_> = backoff.delays(jitter.unwrap_or_default(), 1).take(64).collect();
            }
            Err(e) => {
                prop_assert!(["max_attempts", "backoff", "jitter", "max_retry_after"].contains(&e.field()));
                prop_assert!(e.to_string().starts_with("invalid config for 'p': "));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// HTTP.

#[cfg(feature = "http")]
mod http_retry_after {
    use super::*;
    use http::{Request, Response};
    use tower_breakwater::retry::http::RetryOnStatus;

    type HttpReply = Result<Response<()>, Error<String, Request<()>>>;

    /// Answers the first attempt with `status` and `retry_after`, then 200; logs starts.
    #[derive(Clone)]
    struct Server {
        status: u16,
        retry_after: Option<String>,
        log: Arc<Log>,
    }

    impl Service<Request<()>> for Server {
        type Response = Response<()>;
        type Error = Error<String, Request<()>>;
        type Future = std::future::Ready<HttpReply>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, _: Request<()>) -> Self::Future {
            let first = {
                let mut starts = self.log.starts.lock().unwrap();
                starts.push(Instant::now());
                starts.len() == 1
            };
            let mut response = Response::builder().status(if first { self.status } else { 200 });
            if let (true, Some(value)) = (first, &self.retry_after) {
                response = response.header("retry-after", value.as_str());
            }
            std::future::ready(Ok(response.body(()).unwrap()))
        }
    }

    fn server(status: u16, retry_after: Option<String>) -> (Server, Arc<Log>) {
        let log = Arc::new(Log::default());
        let server = Server {
            status,
            retry_after,
            log: log.clone(),
        };
        (server, log)
    }

    fn retry() -> tower_breakwater::retry::Builder<RetryOnStatus> {
        RetryLayer::builder("api")
            .retry_if(RetryOnStatus)
            .backoff(Backoff::constant(MS * 100))
            .jitter(Jitter::None)
    }

    async fn get<S: Service<Request<()>>>(svc: S) -> Result<S::Response, S::Error> {
        svc.oneshot(Request::get("/").body(()).unwrap()).await
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_seconds_sets_the_wait() {
        let (svc, log) = server(503, Some("7".into()));
        let response = get(retry().build().unwrap().layer(svc)).await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(log.gaps(), [Duration::from_secs(7)]);
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_date_sets_the_wait() {
        // HTTP dates have whole seconds and the system clock runs on: 119 s < wait <= 120 s.
        let date = httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(120));
        let (svc, log) = server(429, Some(date));
        let layer = retry()
            .max_retry_after(Duration::from_secs(600))
            .build()
            .unwrap();
        get(layer.layer(svc)).await.unwrap();
        let gap = log.gaps()[0];
        assert!(
            gap > Duration::from_secs(118) && gap <= Duration::from_secs(120),
            "{gap:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_is_capped_by_max_retry_after() {
        let (svc, log) = server(503, Some("3600".into()));
        let layer = retry()
            .max_retry_after(Duration::from_secs(5))
            .build()
            .unwrap();
        get(layer.layer(svc)).await.unwrap();
        assert_eq!(log.gaps(), [Duration::from_secs(5)]);
    }

    #[tokio::test(start_paused = true)]
    async fn without_retry_after_the_backoff_waits() {
        for (status, header) in [(503, None), (502, Some("9".to_string())), (504, None)] {
            let (svc, log) = server(status, header);
            get(retry().build().unwrap().layer(svc)).await.unwrap();
            assert_eq!(log.gaps(), [MS * 100], "status {status}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn other_statuses_are_not_retried() {
        let (svc, log) = server(500, Some("1".into()));
        let response = get(retry().build().unwrap().layer(svc)).await.unwrap();
        assert_eq!(response.status(), 500);
        assert_eq!(log.calls(), 1);
    }
}
