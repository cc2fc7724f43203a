//! Breakers by the thousand: what a call, a build, a breaker and an exited thread cost when
//! there are many of them, for breakwater and its peers in the same run.
//!
//! # What is measured
//! - `per call`: round robin over K breakers (K = 1, 100, 10,000, 100,000), each in front of
//!   the same always-ready inner service, closed path. From one thread (a current-thread
//!   runtime), and from 64 tasks on a 2-worker runtime (each task goes round the K breakers
//!   from its own starting point; the time is the aggregate ns per call of the whole batch).
//!   Contenders: `bare` (the inner service alone), two yardsticks that are not breakers
//!   (`floor_one_line`: a state word loaded and a count bumped in one allocation per
//!   breaker; `floor_two_lines`: the count in an allocation of its own, as a thread's
//!   counters are; `floor_lookup`: that count found by the breaker's id in a thread-local
//!   hash map, as breakwater finds a thread's counters), `breakwater_layer` (a Vec of K tower
//!   services made by `breaker.layer()`, `ready().await` then `call` in the runtime's task,
//!   one thread only: 64 tasks would need 64 clones of every service),
//!   `breakwater_layer_by_hand` (the same services polled by hand with a no-op waker, no
//!   runtime: at K = 100,000 the task's loop above costs 2 to 3 times as much, for reasons
//!   of the driving loop, not of the breaker's memory), `breakwater_call` (`breaker.call(|| inner.call(x))` over a shared Vec,
//!   driven as the peers are), `recloser` (1.4, `AsyncRecloser`) and `failsafe` (1.3, futures
//!   API), K instances in a Vec.
//! - `build`: building 100,000 breakers, per breaker.
//! - `memory per breaker`: heap bytes still allocated after building 100,000 breakers and
//!   calling each once from this thread, per breaker (a counting allocator; RSS besides).
//! - `exited threads`: one breaker called once by each of 10,000 then 100,000 short-lived
//!   threads (spawned 64 at a time): heap bytes left per exited thread and `snapshot()`
//!   time against the same breaker before the threads.
//!
//! Each per-call figure is the least of 5 runs of at least 1,000,000 calls (3 rounds over the
//! K breakers) after one warm-up round over all K breakers; build and snapshot figures are
//! the least of 5 runs too. Run with `cargo bench --bench scale` (about two minutes); it
//! prints markdown tables.

#[path = "scale/contenders.rs"]
mod contenders;
#[path = "scale/memory.rs"]
mod memory;

use std::future::Future;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use failsafe::futures::CircuitBreaker as _;
use tokio::runtime::Runtime;
use tower::{Layer, Service, ServiceExt};
use tower_breakwater::circuit_breaker::{CircuitBreaker, CircuitBreakerService};
use tower_breakwater::classify::FailOnError;

use contenders::*;
use memory::held_by;

fn current_thread() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

fn two_workers() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
}

/// The least ns per call of [`RUNS`] runs of `run(calls)`, after one warm-up run of `warm`
/// calls. The least, not the median: on a shared machine a run only gets slower when another
/// process takes the core, never faster.
fn least_ns(calls: usize, warm: usize, mut run: impl FnMut(usize) -> Duration) -> f64 {
    run(warm);
    (0..RUNS)
        .map(|_| run(calls).as_nanos() as f64 / calls as f64)
        .fold(f64::INFINITY, f64::min)
}

/// ns per call, round robin over `breakers` from one task.
fn one_thread<S: Shared>(rt: &Runtime, breakers: &S, k: usize) -> f64 {
    let calls = MIN_CALLS.max(3 * k);
    least_ns(calls, k, |calls| {
        rt.block_on(async {
            let start = Instant::now();
            for i in 0..calls {
                assert!(breakers.call(i % k, black_box(i as u64)).await);
            }
            start.elapsed()
        })
    })
}

/// Aggregate ns per call, round robin over `breakers` from [`TASKS`] tasks.
fn many_tasks<S: Shared>(rt: &Runtime, breakers: Arc<S>, k: usize) -> f64 {
    let calls = MIN_CALLS.max(3 * k);
    least_ns(calls, k.max(TASKS), |calls| {
        let breakers = breakers.clone();
        rt.block_on(async move {
            let start = Instant::now();
            let tasks: Vec<_> = (0..TASKS)
                .map(|task| {
                    let breakers = breakers.clone();
                    tokio::spawn(async move {
                        let first = task * k / TASKS;
                        for i in 0..calls / TASKS {
                            let x = black_box(i as u64);
                            assert!(breakers.call((first + i) % k, x).await);
                            if i % 256 == 255 {
                                tokio::task::yield_now().await;
                            }
                        }
                    })
                })
                .collect();
            for task in tasks {
                task.await.expect("a bench task panicked");
            }
            start.elapsed()
        })
    })
}

/// ns per call, round robin over K tower services from one task.
fn one_thread_layer(
    rt: &Runtime,
    services: &mut [CircuitBreakerService<Inner, FailOnError>],
) -> f64 {
    let k = services.len();
    let calls = MIN_CALLS.max(3 * k);
    least_ns(calls, k, |calls| {
        rt.block_on(async {
            let start = Instant::now();
            for i in 0..calls {
                let svc = services[i % k].ready().await.expect("ready");
                assert!(svc.call(black_box(i as u64)).await.is_ok());
            }
            start.elapsed()
        })
    })
}

/// Run `f` on a thread of its own, so that no contender inherits another's thread caches (or
/// the tombstones of a hash map they emptied).
fn fresh_thread<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| s.spawn(f).join().expect("a bench thread panicked"))
}

/// ns per call, round robin over K tower services, driven by hand with a no-op waker (no
/// runtime; every future here is ready at once).
fn by_hand_layer(services: &mut [CircuitBreakerService<Inner, FailOnError>]) -> f64 {
    let k = services.len();
    let calls = MIN_CALLS.max(3 * k);
    let mut cx = Context::from_waker(std::task::Waker::noop());
    least_ns(calls, k, |calls| {
        let start = Instant::now();
        for i in 0..calls {
            let svc = &mut services[i % k];
            assert!(svc.poll_ready(&mut cx).is_ready());
            let mut future = std::pin::pin!(svc.call(black_box(i as u64)));
            assert!(matches!(future.as_mut().poll(&mut cx), Poll::Ready(Ok(_))));
        }
        start.elapsed()
    })
}

fn per_call() {
    println!("\n### ns per call, round robin over K breakers (closed)\n");
    println!("| contender | K=1 | K=100 | K=10,000 | K=100,000 | 64 tasks: K=1 | K=100 | K=10,000 | K=100,000 |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    fn row<S: Shared>(name: &str, make: impl Fn(usize) -> S + Sync) {
        if !wanted(name) {
            return;
        }
        let cells: Vec<f64> = fresh_thread(|| {
            let (single, multi) = (current_thread(), two_workers());
            let (mut a, mut b) = (Vec::new(), Vec::new());
            for k in KS {
                let breakers = Arc::new(make(k));
                a.push(one_thread(&single, &*breakers, k));
                b.push(many_tasks(&multi, breakers, k));
            }
            a.into_iter().chain(b).collect()
        });
        let cells: Vec<String> = cells.iter().map(|ns| format!("{ns:.1}")).collect();
        println!("| `{name}` | {} |", cells.join(" | "));
    }
    row("bare", |k| vec![Inner; k]);
    row("floor_one_line", |k| {
        let one = || {
            Arc::new(OneLine {
                state: AtomicU64::new(0),
                count: AtomicU64::new(0),
            })
        };
        (0..k).map(|_| one()).collect::<Vec<_>>()
    });
    row("floor_two_lines", |k| {
        let states: Vec<_> = (0..k).map(|_| Arc::new(AtomicU64::new(0))).collect();
        let counts: Vec<_> = (0..k).map(|_| Arc::new(AtomicU64::new(0))).collect();
        let pair = |(state, count)| TwoLines { state, count };
        states.into_iter().zip(counts).map(pair).collect::<Vec<_>>()
    });
    row("floor_lookup", |k| {
        static NEXT_ID: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let one = |_| {
            let id = NEXT_ID.fetch_add(1, Relaxed);
            (id, Arc::new(AtomicU64::new(0)))
        };
        Lookup((0..k).map(one).collect())
    });
    let layer: Vec<String> = fresh_thread(|| {
        if !wanted("breakwater_layer") {
            return Vec::new();
        }
        let single = current_thread();
        KS.iter()
            .map(|&k| {
                let mut services: Vec<_> =
                    (0..k).map(|_| breakwater().layer().layer(Inner)).collect();
                format!("{:.1}", one_thread_layer(&single, &mut services))
            })
            .collect()
    });
    if !layer.is_empty() {
        println!(
            "| `breakwater_layer` | {} | – | – | – | – |",
            layer.join(" | ")
        );
    }
    let by_hand: Vec<String> = fresh_thread(|| {
        if !wanted("breakwater_layer_by_hand") {
            return Vec::new();
        }
        KS.iter()
            .map(|&k| {
                let mut services: Vec<_> =
                    (0..k).map(|_| breakwater().layer().layer(Inner)).collect();
                format!("{:.1}", by_hand_layer(&mut services))
            })
            .collect()
    });
    if !by_hand.is_empty() {
        println!(
            "| `breakwater_layer_by_hand` | {} | – | – | – | – |",
            by_hand.join(" | ")
        );
    }
    row("breakwater_call", |k| {
        (0..k).map(|_| breakwater()).collect::<Vec<_>>()
    });
    row("recloser", |k| {
        (0..k).map(|_| recloser()).collect::<Vec<_>>()
    });
    row("failsafe", |k| {
        (0..k).map(|_| failsafe()).collect::<Vec<_>>()
    });
}

/// ns per breaker to build `n`, least of 5 runs; the breakers are dropped untimed.
fn build_ns<T>(n: usize, make: impl Fn() -> T) -> f64 {
    least_ns(n, n, |n| {
        let start = Instant::now();
        let built: Vec<T> = (0..n).map(|_| make()).collect();
        let took = start.elapsed();
        drop(black_box(built));
        took
    })
}

fn builds_and_memory() {
    const N: usize = 100_000;
    println!("\n### Building 100,000 breakers; memory per breaker (each called once)\n");
    println!("| contender | build, ns per breaker | heap bytes per breaker | resident bytes per breaker |");
    println!("|---|---:|---:|---:|");
    // Each row on a thread of its own, so that no row inherits another's thread cache.
    fn row<T>(name: &str, make: impl Fn() -> T + Sync, call: impl Fn(&T) -> bool + Sync) {
        let (build, heap, rss) = std::thread::scope(|s| {
            s.spawn(|| {
                let build = build_ns(N, &make);
                let (kept, heap, rss) = held_by(|| {
                    let breakers: Vec<T> = (0..N).map(|_| make()).collect();
                    assert!(breakers.iter().all(&call));
                    breakers
                });
                drop(kept);
                (build, heap / N as i64, rss / N as i64)
            })
            .join()
            .expect("a bench thread panicked")
        });
        println!("| `{name}` | {build:.0} | {heap} | {rss} |");
    }
    let once = |b: &CircuitBreaker| b.try_acquire().map(|p| p.success()).is_ok();
    row("breakwater", breakwater, once);
    let count_window = || {
        CircuitBreaker::builder("b")
            .count_window(100)
            .open_for(OPEN_FOR)
            .build()
            .expect("valid config")
    };
    row("breakwater, count window of 100", count_window, once);
    row("recloser", recloser, |r| ready(r.call(Inner.call(0))));
    row("failsafe", failsafe, |f| ready(f.call(Inner.call(0))));
}

/// Whether a future that is ready at once (the inner service answers at once) succeeded.
fn ready<T, E>(future: impl Future<Output = Result<T, E>>) -> bool {
    let mut future = std::pin::pin!(future);
    let mut cx = Context::from_waker(std::task::Waker::noop());
    matches!(future.as_mut().poll(&mut cx), Poll::Ready(Ok(_)))
}

fn snapshot_ns(breaker: &CircuitBreaker) -> f64 {
    least_ns(100_000, 1000, |n| {
        let start = Instant::now();
        for _ in 0..n {
            black_box(breaker.snapshot());
        }
        start.elapsed()
    })
}

fn exited_threads() {
    println!("\n### One breaker after many short-lived threads (each called it once)\n");
    println!("| threads exited | heap bytes left per exited thread | resident bytes per exited thread | `snapshot()` ns (fresh breaker: same row, 0 threads) |");
    println!("|---:|---:|---:|---:|");
    let breaker = breakwater();
    breaker.try_acquire().expect("closed").success();
    println!("| 0 | – | – | {:.0} |", snapshot_ns(&breaker));
    let mut exited = 0;
    for target in [10_000, 100_000] {
        let batch = (target - exited) / 64 * 64;
        let ((), heap, rss) = held_by(|| {
            for _ in 0..batch / 64 {
                let threads: Vec<_> = (0..64)
                    .map(|_| {
                        let b = breaker.clone();
                        std::thread::spawn(move || b.try_acquire().expect("closed").success())
                    })
                    .collect();
                for t in threads {
                    t.join().expect("a thread panicked");
                }
            }
        });
        exited += batch;
        let totals = breaker.snapshot().totals;
        assert_eq!(totals.successes, 1 + exited as u64, "no count lost");
        println!(
            "| {exited} | {:.1} | {:.1} | {:.0} |",
            heap as f64 / batch as f64,
            rss as f64 / batch as f64,
            snapshot_ns(&breaker)
        );
    }
}

/// Whether the command line names contender `name`, or no contender at all.
fn wanted(name: &str) -> bool {
    let rows = [
        "bare",
        "floor_one_line",
        "floor_two_lines",
        "floor_lookup",
        "breakwater_layer",
        "breakwater_layer_by_hand",
        "breakwater_call",
        "recloser",
        "failsafe",
    ];
    let named: Vec<String> = std::env::args()
        .filter(|a| rows.contains(&a.as_str()))
        .collect();
    named.is_empty() || named.iter().any(|n| n == name)
}

/// `cargo bench --bench scale [-- builds|threads|calls ... bare|breakwater_layer|...]`: the
/// sections named (or all), with the contenders named (or all).
fn main() {
    let started = Instant::now();
    // Per call first: measured on a heap not yet fragmented by the other sections.
    let sections: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let run = |name: &str| sections.is_empty() || sections.iter().any(|s| s == name);
    if run("calls") {
        per_call();
    }
    if run("builds") {
        builds_and_memory();
    }
    if run("threads") {
        exited_threads();
    }
    println!("\n(whole run: {:.0} s)", started.elapsed().as_secs_f64());
}
