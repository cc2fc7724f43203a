//! Soak: a million calls from 64 tasks on a two-worker runtime through one composed stack
//! (fallback → breaker → timeout → bulkhead → chaos → service), with faults injected at
//! random and outages switched on and off while the calls run. Afterwards every count
//! adds up across the layers, no permit is left behind, the breaker can still close, and
//! the process's resident memory did not grow after warm-up.
//!
//! The real clock is used (a multi-thread runtime cannot pause time), but nothing sleeps:
//! the only waits are the injected 1 ms delays and the 20 ms timeouts that end injected
//! hangs, a few hundred of each spread over 64 tasks.
#![cfg(feature = "chaos")]

use std::io;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tower::{service_fn, Layer, Service, ServiceExt};
use tower_breakwater::bulkhead::Bulkhead;
use tower_breakwater::chaos::{Chaos, ChaosError};
use tower_breakwater::circuit_breaker::{CircuitBreaker, State};
use tower_breakwater::fallback::Fallback;
use tower_breakwater::{Error, ErrorKind, Resilience};

const TASKS: u64 = 64;
const CALLS: u64 = 1_000_000;
const WARM_UP: u64 = CALLS / 10;
/// Every this many calls the injected error rate switches between quiet and outage.
const PHASE: u64 = 25_000;
const QUIET_ERRORS: f64 = 0.02;
const OUTAGE_ERRORS: f64 = 0.7;
const PERMITS: u32 = 4;
/// What the fallback answers for a refused call.
const FALLBACK: u64 = u64::MAX;

/// What the callers and the inner service saw.
#[derive(Default)]
struct Seen {
    calls: AtomicU64,
    ok: AtomicU64,
    /// Errors from below the breaker: injected by the chaos layer, or the service's own.
    injected: AtomicU64,
    own_failures: AtomicU64,
    timeouts: AtomicU64,
    /// Refusals the fallback answered, by kind.
    rejected: AtomicU64,
    bulkhead_full: AtomicU64,
    /// Calls that reached the service.
    reached: AtomicU64,
}

fn n(counter: &AtomicU64) -> u64 {
    counter.load(Relaxed)
}

/// Resident memory of this process, from `/proc/self/statm` (pages of 4 KiB).
fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("Linux /proc");
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_calls_through_one_stack_account_for_everything() {
    let started = Instant::now();
    let breaker = CircuitBreaker::builder("soak")
        .failure_rate(0.5)
        .count_window(50)
        .minimum_calls(20)
        .open_for(Duration::from_micros(200))
        .half_open_permits(PERMITS)
        .success_threshold(2)
        .build()
        .unwrap();
    let bulkhead = Bulkhead::builder("soak")
        .max_concurrent(8)
        .max_waiting(4)
        .max_wait(Duration::from_millis(1))
        .build()
        .unwrap();
    let chaos = Chaos::builder("soak")
        .error_rate(QUIET_ERRORS)
        .abort_rate(0.01)
        .hang_rate(0.00005)
        .latency(0.002, Duration::from_millis(1))
        .seed(6)
        .build()
        .unwrap();
    let seen = Arc::new(Seen::default());
    let fallback = {
        let seen = seen.clone();
        Fallback::new(
            "soak",
            move |e: Error<io::Error, u64>, _req: Option<u64>| {
                let counter = match e.kind() {
                    ErrorKind::Rejected => &seen.rejected,
                    ErrorKind::BulkheadFull => &seen.bulkhead_full,
                    other => panic!("the fallback runs on refusals only, not {other:?}"),
                };
                counter.fetch_add(1, Relaxed);
                async { Ok(FALLBACK) }
            },
        )
    };
    let service = {
        let seen = seen.clone();
        service_fn(move |req: u64| {
            seen.reached.fetch_add(1, Relaxed);
            // The dependency's own failures, besides the injected ones.
            async move {
                match req % 97 {
                    0 => Err(io::Error::other("own failure")),
                    _ => Ok(req),
                }
            }
        })
    };
    let stack = Resilience::builder("soak")
        .fallback(&fallback)
        .circuit_breaker(&breaker)
        .timeout(Duration::from_millis(20))
        .bulkhead(&bulkhead)
        .build()
        .unwrap()
        .layer(chaos.layer().layer(service));

    let run = |from: u64, to: u64| {
        let tasks: Vec<_> = (0..TASKS)
            .map(|task| {
                let mut svc = stack.clone();
                let seen = seen.clone();
                let chaos = chaos.clone();
                tokio::spawn(async move {
                    for req in (from..to).filter(|r| r % TASKS == task) {
                        let made = seen.calls.fetch_add(1, Relaxed) + 1;
                        if made % PHASE == 0 {
                            // Outages come and go while the calls run.
                            let outage = (made / PHASE) % 4 == 1;
                            let rate = if outage { OUTAGE_ERRORS } else { QUIET_ERRORS };
                            chaos.set_error_rate(rate).unwrap();
                        }
                        let result = svc.ready().await.unwrap().call(req).await;
                        // A caller does other work between calls; without this yield, a
                        // task whose calls are refused at once would never give its worker
                        // thread back, and the calls holding the bulkhead's slots (waiting
                        // on a timer) would not be polled until it finished.
                        tokio::task::yield_now().await;
                        let counter = match result {
                            Ok(FALLBACK) => continue, // counted by the fallback
                            Ok(answer) => {
                                assert_eq!(answer, req);
                                &seen.ok
                            }
                            Err(Error::Inner(e)) => match e.get_ref() {
                                Some(e) if e.is::<ChaosError>() => &seen.injected,
                                _ => &seen.own_failures,
                            },
                            Err(Error::Timeout(_)) => &seen.timeouts,
                            Err(other) => panic!("unexpected: {other:?}"),
                        };
                        counter.fetch_add(1, Relaxed);
                    }
                })
            })
            .collect::<Vec<_>>();
        async move {
            for task in tasks {
                task.await.unwrap();
            }
        }
    };

    run(0, WARM_UP).await;
    let after_warm_up = resident_bytes();
    run(WARM_UP, CALLS).await;
    let after_run = resident_bytes();
    let wall = started.elapsed();

    let t = breaker.snapshot().totals;
    let stats = chaos.stats();
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    println!(
        "soak: {CALLS} calls in {wall:.2?}; caller saw ok {} injected errors {} own failures {} \
         timeouts {} rejected {} bulkhead full {}; breaker {t:?}, transitions closed->open {} half-open->open {} half-open->closed {}; \
         chaos {stats:?} ({} faults); service reached {}; \
         resident memory after 10%: {:.1} MiB, after the run: {:.1} MiB",
        n(&seen.ok),
        n(&seen.injected),
        n(&seen.own_failures),
        n(&seen.timeouts),
        n(&seen.rejected),
        n(&seen.bulkhead_full),
        breaker.transitions(State::Closed, State::Open),
        breaker.transitions(State::HalfOpen, State::Open),
        breaker.transitions(State::HalfOpen, State::Closed),
        stats.faults(),
        n(&seen.reached),
        mib(after_warm_up),
        mib(after_run),
    );

    // Every call ended exactly one way, and each layer counted it the same way.
    let refused = n(&seen.rejected) + n(&seen.bulkhead_full);
    assert_eq!(n(&seen.calls), CALLS);
    assert_eq!(
        n(&seen.ok) + n(&seen.injected) + n(&seen.own_failures) + n(&seen.timeouts) + refused,
        CALLS
    );
    assert_eq!(fallback.count(), refused);
    assert_eq!(t.calls(), CALLS, "the breaker saw every call once");
    assert_eq!(t.successes, n(&seen.ok));
    assert_eq!(
        t.failures,
        n(&seen.injected) + n(&seen.own_failures) + n(&seen.timeouts)
    );
    assert_eq!(t.rejected, n(&seen.rejected));
    assert_eq!(
        t.ignored,
        n(&seen.bulkhead_full),
        "a full bulkhead is ignored"
    );
    assert_eq!(t.cancelled, 0);
    assert_eq!(bulkhead.rejected(), n(&seen.bulkhead_full));
    // Calls the breaker admitted and the bulkhead let through all drew a fault (or none).
    assert_eq!(stats.calls, t.successes + t.failures);
    // Injected errors never reach the service; hangs neither; the rest do.
    assert_eq!(n(&seen.reached), stats.calls - stats.errors - stats.hangs);
    assert_eq!(n(&seen.injected), stats.errors + stats.aborts);
    assert!(n(&seen.own_failures) > 0);
    // Every hang ended in a timeout; a delayed call on a busy machine may time out too.
    assert!(n(&seen.timeouts) >= stats.hangs);
    assert!(n(&seen.timeouts) <= stats.hangs + stats.delays);

    // The run did what it meant to: faults of every kind, trips and recoveries, refusals.
    assert!(stats.errors > 0 && stats.aborts > 0 && stats.hangs > 0 && stats.delays > 0);
    assert!(breaker.transitions(State::Closed, State::Open) > 0);
    assert!(breaker.transitions(State::HalfOpen, State::Closed) > 0);
    assert!(n(&seen.rejected) > 0);

    // Nothing is left behind: no slot held, nobody waiting, the breaker can still close.
    assert_eq!((bulkhead.in_flight(), bulkhead.waiting()), (0, 0));
    chaos.disable();
    recover(&breaker).await;

    // Memory: what warm-up allocated is reused; a leak of even 8 bytes a call would show
    // as 7 MiB here.
    assert!(
        after_run <= after_warm_up + 4 * 1024 * 1024,
        "resident memory grew from {:.1} MiB to {:.1} MiB",
        mib(after_warm_up),
        mib(after_run)
    );
}

/// From whatever state the run left, show that the breaker still works end to end: if
/// half-open, its remaining permits are all there; once open, its period ends, exactly
/// `PERMITS` trials are admitted, and two successes close it.
async fn recover(breaker: &CircuitBreaker) {
    if breaker.state() == State::HalfOpen {
        let issued = breaker.snapshot().half_open_trials;
        let rest: Vec<_> = (issued..PERMITS)
            .map(|_| breaker.try_acquire().expect("an unleaked permit"))
            .collect();
        assert!(breaker.try_acquire().is_err());
        drop(rest);
    }
    while breaker.state() != State::Open {
        if let Ok(permit) = breaker.try_acquire() {
            permit.failure();
        }
    }
    // Wait out the 200 µs open period without sleeping.
    let first = loop {
        match breaker.try_acquire() {
            Ok(permit) => break permit,
            Err(_) => tokio::task::yield_now().await,
        }
    };
    let rest: Vec<_> = (1..PERMITS)
        .map(|_| breaker.try_acquire().unwrap())
        .collect();
    assert!(breaker.try_acquire().is_err(), "exactly {PERMITS} trials");
    first.success();
    rest.into_iter().next().unwrap().success();
    assert_eq!(breaker.state(), State::Closed);
}
