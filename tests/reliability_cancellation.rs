//! Cancellation storm: calls through a whole stack dropped at every point of their life —
//! before their first poll, while waiting for a bulkhead slot, mid-call, during a retry's
//! backoff, during a half-open trial — and afterwards nothing is held, nothing is counted
//! twice, and the breaker still closes. All on tokio's paused clock: no real time passes.
#![cfg(feature = "chaos")]

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use tokio::time::{advance, sleep, timeout};
use tower::{service_fn, BoxError, Layer, Service, ServiceExt};
use tower_breakwater::bulkhead::Bulkhead;
use tower_breakwater::chaos::Chaos;
use tower_breakwater::circuit_breaker::{CircuitBreaker, State};
use tower_breakwater::retry::{Backoff, Jitter, RetryLayer};
use tower_breakwater::{Error, Resilience};

const MS: Duration = Duration::from_millis(1);

/// Poll a future exactly once (boxed futures are used so that `drop` really drops them).
async fn poll_once<F: Future>(future: std::pin::Pin<&mut F>) -> Poll<F::Output> {
    let mut future = future;
    std::future::poll_fn(|cx| Poll::Ready(future.as_mut().poll(cx))).await
}

type Req = u64;
type Stack = tower::util::BoxCloneService<Req, Req, Error<BoxError, Req>>;

struct Parts {
    breaker: CircuitBreaker,
    bulkhead: Bulkhead,
    chaos: Chaos,
    /// Calls the inner service started and finished.
    started: Arc<AtomicU64>,
    finished: Arc<AtomicU64>,
    stack: Stack,
}

/// retry (3 attempts, 50 ms apart) → breaker → timeout (100 ms) → bulkhead (2 slots, 4
/// may wait 30 ms) → chaos (10% errors, 5% hangs, 5% aborts, 10% 80 ms late) → a service that takes `req % 60` ms and fails when
/// `req % 5 == 0`.
fn parts(seed: u64) -> Parts {
    let breaker = CircuitBreaker::builder("storm")
        .failure_rate(0.5)
        .count_window(20)
        .minimum_calls(10)
        .open_for(Duration::from_millis(200))
        .half_open_permits(3)
        .success_threshold(2)
        .build()
        .unwrap();
    let bulkhead = Bulkhead::builder("storm")
        .max_concurrent(2)
        .max_waiting(4)
        .max_wait(30 * MS)
        .build()
        .unwrap();
    let chaos = Chaos::builder("storm")
        .error_rate(0.1)
        .hang_rate(0.05)
        .abort_rate(0.05)
        .latency(0.1, 80 * MS)
        .seed(seed)
        .build()
        .unwrap();
    let retry = RetryLayer::builder("storm")
        .max_attempts(3)
        .backoff(Backoff::constant(50 * MS))
        .jitter(Jitter::None)
        .build()
        .unwrap();
    let started = Arc::new(AtomicU64::new(0));
    let finished = Arc::new(AtomicU64::new(0));
    let (s, f) = (started.clone(), finished.clone());
    let service = service_fn(move |req: Req| {
        s.fetch_add(1, Relaxed);
        let f = f.clone();
        async move {
            sleep(Duration::from_millis(req % 60)).await;
            f.fetch_add(1, Relaxed);
            match req % 5 {
                0 => Err(BoxError::from("own failure")),
                _ => Ok(req),
            }
        }
    });
    let stack = Resilience::builder("storm")
        .retry(&retry)
        .circuit_breaker(&breaker)
        .timeout(100 * MS)
        .bulkhead(&bulkhead)
        .build()
        .unwrap()
        .layer(chaos.layer().layer(service));
    Parts {
        breaker,
        bulkhead,
        chaos,
        started,
        finished,
        stack: tower::util::BoxCloneService::new(stack),
    }
}

/// Nothing is held: no slot, no waiter, no trial permit beyond the trials that succeeded.
fn assert_nothing_held(p: &Parts) {
    assert_eq!((p.bulkhead.in_flight(), p.bulkhead.waiting()), (0, 0));
    let snap = p.breaker.snapshot();
    if snap.state == State::HalfOpen {
        assert_eq!(snap.half_open_trials, snap.half_open_successes, "{snap:?}");
    }
}

/// With the faults off and the dependency healthy, the breaker closes again (within a few
/// open periods) and calls succeed.
async fn assert_recovers(p: &Parts) {
    p.chaos.disable();
    for _ in 0..20 {
        if p.breaker.state() == State::Closed {
            break;
        }
        // Requests that the service answers at once and successfully.
        let _ = p.stack.clone().oneshot(1).await;
        sleep(50 * MS).await;
    }
    assert_eq!(
        p.breaker.state(),
        State::Closed,
        "{:?}",
        p.breaker.snapshot()
    );
    assert_eq!(p.stack.clone().oneshot(61).await.unwrap(), 61);
}

#[tokio::test(start_paused = true)]
async fn a_storm_of_drops_at_random_points_leaves_everything_consistent() {
    let p = parts(2024);
    let mut rng = fastrand::Rng::with_seed(7);
    let dropped_unpolled = Arc::new(AtomicU64::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for req in 0..3000u64 {
        let arrival = Duration::from_millis(rng.u64(0..20_000));
        let how = rng.u8(0..4);
        let patience = Duration::from_millis(rng.u64(0..400));
        let mut svc = p.stack.clone();
        let dropped_unpolled = dropped_unpolled.clone();
        tasks.spawn(async move {
            sleep(arrival).await;
            match how {
                // Dropped before its first poll (after `call`: the breaker and bulkhead
                // have admitted it).
                0 => {
                    let future = svc.ready().await.unwrap().call(req);
                    drop(future);
                    dropped_unpolled.fetch_add(1, Relaxed);
                }
                // Dropped after a random time: waiting for a slot, mid-call, in a backoff,
                // or as a half-open trial, whichever it was doing then.
                1 | 2 => {
                    let _ = timeout(patience, svc.oneshot(req)).await;
                }
                // Run to the end.
                _ => {
                    let _ = svc.oneshot(req).await;
                }
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }

    let snap = p.breaker.snapshot();
    println!(
        "storm: breaker {snap:?}; chaos {:?}; service started {} finished {}; \
         dropped before first poll {}",
        p.chaos.stats(),
        p.started.load(Relaxed),
        p.finished.load(Relaxed),
        dropped_unpolled.load(Relaxed),
    );
    assert_nothing_held(&p);
    let t = snap.totals;
    assert!(t.cancelled > 0 && t.rejected > 0 && t.failures > 0, "{t:?}");
    assert!(p.breaker.transitions(State::Closed, State::Open) > 0);
    assert_recovers(&p).await;
}

#[tokio::test(start_paused = true)]
async fn dropped_before_the_first_poll() {
    let p = parts(1);
    p.chaos.disable();
    let mut svc = p.stack.clone();
    let future = svc.ready().await.unwrap().call(7);
    assert_eq!(p.bulkhead.in_flight(), 1, "the call holds its slot");
    drop(future);
    assert_eq!(p.breaker.snapshot().totals.cancelled, 1);
    assert_eq!(p.started.load(Relaxed), 1, "`call` reached the service...");
    assert_eq!(p.finished.load(Relaxed), 0, "...but it never ran");
    assert_nothing_held(&p);
}

#[tokio::test(start_paused = true)]
async fn dropped_while_waiting_for_a_bulkhead_slot() {
    let p = parts(1);
    p.chaos.disable();
    let mut holders = Vec::new();
    for req in [51, 52] {
        let mut svc = p.stack.clone();
        holders.push(svc.ready().await.unwrap().call(req));
    }
    let mut waiter = p.stack.clone();
    {
        let mut ready = pin!(waiter.ready());
        assert!(poll_once(ready.as_mut()).await.is_pending());
    }
    // The wait belongs to the service (tower's readiness), not to the `ready` future.
    assert_eq!(p.bulkhead.waiting(), 1);
    drop(waiter);
    assert_eq!(p.bulkhead.waiting(), 0, "a dropped waiter leaves the room");
    for holder in holders {
        assert!(holder.await.is_ok());
    }
    assert_nothing_held(&p);
    let t = p.breaker.snapshot().totals;
    assert_eq!((t.successes, t.cancelled, t.ignored), (2, 0, 0));
}

#[tokio::test(start_paused = true)]
async fn dropped_mid_call() {
    let p = parts(1);
    p.chaos.disable();
    let mut call = Box::pin(p.stack.clone().oneshot(59));
    assert!(poll_once(call.as_mut()).await.is_pending());
    advance(10 * MS).await;
    assert!(poll_once(call.as_mut()).await.is_pending());
    assert_eq!(p.bulkhead.in_flight(), 1);
    drop(call);
    assert_eq!(p.breaker.snapshot().totals.cancelled, 1);
    assert_eq!(p.finished.load(Relaxed), 0);
    assert_nothing_held(&p);
}

#[tokio::test(start_paused = true)]
async fn dropped_during_a_retry_backoff() {
    let p = parts(1);
    p.chaos.disable();
    // Fails at once (req % 5 == 0, 0 ms), then waits 50 ms before the retry.
    let mut call = Box::pin(p.stack.clone().oneshot(0));
    assert!(poll_once(call.as_mut()).await.is_pending());
    assert_eq!(p.finished.load(Relaxed), 1);
    advance(20 * MS).await;
    assert!(
        poll_once(call.as_mut()).await.is_pending(),
        "in its backoff"
    );
    drop(call);
    advance(Duration::from_secs(1)).await;
    assert_eq!(p.started.load(Relaxed), 1, "no attempt after the drop");
    let t = p.breaker.snapshot().totals;
    assert_eq!(
        (t.failures, t.cancelled),
        (1, 0),
        "the failed attempt counts once"
    );
    assert_nothing_held(&p);
}

#[tokio::test(start_paused = true)]
async fn dropped_during_a_half_open_trial() {
    let p = parts(1);
    p.chaos.disable();
    for _ in 0..10 {
        if let Ok(permit) = p.breaker.try_acquire() {
            permit.failure();
        }
    }
    assert_eq!(p.breaker.state(), State::Open);
    advance(200 * MS).await;
    // Two trials start (40 ms each: one per bulkhead slot); the first is dropped mid-call.
    let mut first = Box::pin(p.stack.clone().oneshot(40));
    assert!(poll_once(first.as_mut()).await.is_pending());
    let mut svc = p.stack.clone();
    let second = svc.ready().await.unwrap().call(41);
    assert_eq!(p.breaker.snapshot().half_open_trials, 2);
    drop(first);
    let snap = p.breaker.snapshot();
    assert_eq!(
        snap.half_open_trials, 1,
        "the dropped trial gave its permit back"
    );
    assert_eq!(snap.totals.cancelled, 1);
    // Its permit and its slot serve the next trial; two successes close the breaker.
    let mut svc = p.stack.clone();
    let third = svc.ready().await.unwrap().call(42);
    assert_eq!(p.breaker.snapshot().half_open_trials, 2);
    assert_eq!(second.await.unwrap(), 41);
    assert_eq!(third.await.unwrap(), 42);
    assert_eq!(p.breaker.state(), State::Closed);
    assert_nothing_held(&p);
}
