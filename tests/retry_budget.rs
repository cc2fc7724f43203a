//! The retry budget in front of a service that is down: retries stay within the budget's
//! share of the calls plus its floor, alone, concurrent, spread over time, and shared.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tower::{service_fn, Layer, Service, ServiceExt};
use tower_breakwater::retry::{Backoff, Budget, Jitter, RetryLayer};
use tower_breakwater::Error;

type Reply = Result<(), Error<&'static str, u32>>;

/// An inner service that is down: every attempt fails. Counts attempts.
fn outage(
    attempts: &Arc<AtomicU64>,
) -> impl Service<
    u32,
    Response = (),
    Error = Error<&'static str, u32>,
    Future = std::future::Ready<Reply>,
> + Clone {
    let attempts = attempts.clone();
    service_fn(move |_: u32| {
        attempts.fetch_add(1, Ordering::Relaxed);
        std::future::ready(Err(Error::Inner("down")))
    })
}

fn budget(ratio: f64, min_per_second: u32, window_secs: u64) -> Budget {
    Budget::builder()
        .ratio(ratio)
        .min_per_second(min_per_second)
        .window(Duration::from_secs(window_secs))
        .build()
        .unwrap()
}

fn retry(budget: Option<Budget>, backoff: Backoff) -> RetryLayer {
    let builder = RetryLayer::builder("outage")
        .max_attempts(3)
        .backoff(backoff)
        .jitter(Jitter::None);
    match budget {
        Some(budget) => builder.budget(budget).build().unwrap(),
        None => builder.build().unwrap(),
    }
}

/// How the calls ended: (gave up with the budget empty, gave up with attempts out).
#[derive(Debug, Default)]
struct Ends {
    budget_empty: u64,
    attempts_out: u64,
}

impl Ends {
    fn count(&mut self, reply: Reply) {
        match reply {
            Err(Error::RetriesExhausted(gave_up)) if gave_up.is_budget_empty() => {
                self.budget_empty += 1
            }
            Err(Error::RetriesExhausted(gave_up)) => {
                assert_eq!(gave_up.attempts(), 3);
                self.attempts_out += 1
            }
            other => panic!("unexpected end: {other:?}"),
        }
    }
}

const CALLS: u64 = 1000;

#[tokio::test(start_paused = true)]
async fn without_a_budget_an_outage_triples_the_load() {
    // The control: what the budget below prevents.
    let attempts = Arc::new(AtomicU64::new(0));
    let mut svc = retry(None, Backoff::constant(Duration::ZERO)).layer(outage(&attempts));
    for i in 0..CALLS as u32 {
        let _ = svc.ready().await.unwrap().call(i).await;
    }
    assert_eq!(attempts.load(Ordering::Relaxed), 3 * CALLS);
}

#[tokio::test(start_paused = true)]
async fn in_an_outage_retries_stay_within_ratio_of_calls_plus_floor() {
    // Ratio 0.2 and 1 retry/s over a 10 s window; all calls in one instant.
    let attempts = Arc::new(AtomicU64::new(0));
    let mut svc =
        retry(Some(budget(0.2, 1, 10)), Backoff::constant(Duration::ZERO)).layer(outage(&attempts));
    let mut ends = Ends::default();
    for i in 0..CALLS as u32 {
        ends.count(svc.ready().await.unwrap().call(i).await);
    }
    let retries = attempts.load(Ordering::Relaxed) - CALLS;
    // 0.2 × 1000 calls + 1/s × 10 s; every call deposits before its own retries, so the
    // budget is spent exactly.
    assert_eq!(retries, 200 + 10);
    assert!(ends.budget_empty > 800, "{ends:?}");
    assert_eq!(ends.budget_empty + ends.attempts_out, CALLS);
}

#[tokio::test(start_paused = true)]
async fn concurrent_calls_in_an_outage_stay_within_the_budget() {
    let attempts = Arc::new(AtomicU64::new(0));
    let svc = retry(
        Some(budget(0.2, 1, 10)),
        Backoff::constant(Duration::from_millis(50)),
    )
    .layer(outage(&attempts));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..CALLS as u32 {
        let svc = svc.clone();
        tasks.spawn(async move { svc.oneshot(i).await });
    }
    let mut ends = Ends::default();
    while let Some(reply) = tasks.join_next().await {
        ends.count(reply.unwrap());
    }
    let retries = attempts.load(Ordering::Relaxed) - CALLS;
    assert!(retries <= 200 + 10, "{retries} retries");
    // All 1000 calls deposit before the first retry withdraws (they start together), so
    // the budget is spent in full.
    assert_eq!(retries, 210);
    assert_eq!(ends.budget_empty + ends.attempts_out, CALLS);
}

#[tokio::test(start_paused = true)]
async fn an_outage_spread_over_time_stays_within_ratio_plus_floor_per_window() {
    // One call every 50 ms for 50 s, 10 ms between attempts. Any window holds at most
    // 0.2 × its calls + 1/s × 10 s retries; over the whole run that is at most
    // 0.2 × 1000 + 1/s × (50 s + 10 s).
    let attempts = Arc::new(AtomicU64::new(0));
    let mut svc = retry(
        Some(budget(0.2, 1, 10)),
        Backoff::constant(Duration::from_millis(10)),
    )
    .layer(outage(&attempts));
    let started = Instant::now();
    let mut ends = Ends::default();
    for i in 0..CALLS as u32 {
        tokio::time::sleep_until(started + Duration::from_millis(50) * i).await;
        ends.count(svc.ready().await.unwrap().call(i).await);
    }
    let retries = attempts.load(Ordering::Relaxed) - CALLS;
    assert!(retries <= 200 + 60, "{retries} retries");
    // The budget is no tighter than its ratio: at least 0.2 of the calls were retried.
    assert!(retries >= 200, "{retries} retries");
    assert!(ends.budget_empty > 0 && ends.attempts_out > 0, "{ends:?}");
}

#[tokio::test(start_paused = true)]
async fn the_budget_refills_once_the_outage_has_left_the_window() {
    let attempts = Arc::new(AtomicU64::new(0));
    let shared = budget(0.0, 1, 5);
    let mut svc =
        retry(Some(shared.clone()), Backoff::constant(Duration::ZERO)).layer(outage(&attempts));
    for i in 0..10 {
        let _ = svc.ready().await.unwrap().call(i).await;
    }
    assert_eq!(
        attempts.load(Ordering::Relaxed),
        10 + 5,
        "the floor: 5 retries"
    );
    assert_eq!(shared.available(), 0);
    tokio::time::advance(Duration::from_secs(5)).await;
    assert_eq!(shared.available(), 5);
}

#[tokio::test(start_paused = true)]
async fn layers_sharing_a_budget_share_its_limit() {
    let shared = budget(0.1, 1, 10);
    let (a_attempts, b_attempts) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut a =
        retry(Some(shared.clone()), Backoff::constant(Duration::ZERO)).layer(outage(&a_attempts));
    let mut b =
        retry(Some(shared.clone()), Backoff::constant(Duration::ZERO)).layer(outage(&b_attempts));
    for i in 0..500 {
        let _ = a.ready().await.unwrap().call(i).await;
        let _ = b.ready().await.unwrap().call(i).await;
    }
    let retries = a_attempts.load(Ordering::Relaxed) + b_attempts.load(Ordering::Relaxed) - CALLS;
    // 0.1 × (500 + 500) + 1/s × 10 s, for both together.
    assert_eq!(retries, 100 + 10);
}

/// One step of the property test below.
#[derive(Debug, Clone)]
enum Step {
    /// This many calls go out (each deposits the ratio).
    Calls(u32),
    /// This many retries are asked for.
    Retries(u32),
    /// Time moves on.
    Wait(Duration),
}

fn step() -> impl proptest::strategy::Strategy<Value = Step> {
    use proptest::prelude::*;
    prop_oneof![
        (1u32..300).prop_map(Step::Calls),
        (1u32..40).prop_map(Step::Retries),
        (1u64..3_000).prop_map(|ms| Step::Wait(Duration::from_millis(ms))),
    ]
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

    /// Against the budget's promise, over random traffic on the paused clock:
    /// - safety: at every granted retry, the retries granted within the last window (less
    ///   one slice, the budget's granularity) are at most the floor plus `ratio` of the
    ///   calls of the last window;
    /// - liveness: a retry is never refused while fewer retries than the floor were granted
    ///   within the last window (whatever the calls did).
    #[test]
    fn retries_stay_within_the_promise_and_the_floor_is_always_there(
        ratio in proptest::sample::select(vec![0.0, 0.05, 0.2, 0.5, 1.0]),
        min_per_second in 1u32..20,
        steps in proptest::collection::vec(step(), 1..60),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        let window = Duration::from_secs(2);
        let slice = window / 10;
        let floor = u64::from(min_per_second) * 2;
        rt.block_on(async {
            let budget = Budget::builder()
                .ratio(ratio)
                .min_per_second(min_per_second)
                .window(window)
                .build()
                .unwrap();
            let mut calls: Vec<Instant> = Vec::new();
            let mut granted: Vec<Instant> = Vec::new();
            for step in steps {
                match step {
                    Step::Calls(n) => {
                        for _ in 0..n {
                            budget.deposit();
                            calls.push(Instant::now());
                        }
                    }
                    Step::Retries(n) => {
                        for _ in 0..n {
                            let now = Instant::now();
                            let recent = |times: &[Instant], since: Duration| {
                                times.iter().filter(|t| now.duration_since(**t) < since).count() as u64
                            };
                            let granted_in_window = recent(&granted, window);
                            let ok = budget.try_withdraw();
                            if granted_in_window < floor {
                                proptest::prop_assert!(
                                    ok,
                                    "refused with {granted_in_window} of a floor of {floor} granted"
                                );
                            }
                            if ok {
                                granted.push(now);
                                let granted_live = recent(&granted, window - slice);
                                let allowed = floor as f64 + ratio * recent(&calls, window) as f64;
                                proptest::prop_assert!(
                                    granted_live as f64 <= allowed + 1e-6,
                                    "{granted_live} retries granted, {allowed} allowed"
                                );
                            }
                        }
                    }
                    Step::Wait(d) => tokio::time::advance(d).await,
                }
            }
            Ok(())
        })?;
    }
}
