//! Threads that come and go: what a breaker keeps of them. Every thread that calls a breaker
//! gets a block of counters for it; when the thread exits the block is folded into the
//! breaker and dropped. So counts stay exact, and what the breaker holds (its live blocks)
//! depends on the threads alive now, never on how many ever called it.
//!
//! Structural measures only (`thread_blocks`, counts), never timings.

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use crate::circuit_breaker::{CircuitBreaker, State, Totals};
use crate::classify::Outcome;
use proptest::prelude::*;

/// A time window too long to slide during a test and a rule that cannot trip: its counts
/// must equal the totals exactly.
fn never_trips() -> CircuitBreaker {
    CircuitBreaker::builder("threads")
        .time_window(Duration::from_secs(3600), 4)
        .failure_rate(1.0)
        .minimum_calls(u32::MAX)
        .build()
        .unwrap()
}

fn call(breaker: &CircuitBreaker, outcome: Outcome) {
    breaker.try_acquire().expect("never trips").record(outcome);
}

#[test]
fn ten_thousand_threads_leave_exact_counts_and_no_blocks() {
    const THREADS: u64 = 10_000;
    const BATCH: u64 = 50;
    let breakers = [
        never_trips(),
        CircuitBreaker::builder("consecutive").build().unwrap(),
        CircuitBreaker::builder("count")
            .count_window(100)
            .build()
            .unwrap(),
    ];
    for b in &breakers {
        call(b, Outcome::Success);
    }
    let mut most_blocks = 0;
    for batch in 0..THREADS / BATCH {
        let threads: Vec<_> = (0..BATCH)
            .map(|i| {
                let breakers = breakers.clone();
                thread::spawn(move || {
                    for b in &breakers {
                        // One failure in ten, never twice in a row: nothing trips.
                        let failed = (batch * BATCH + i) % 10 == 0;
                        call(b, Outcome::Success);
                        call(
                            b,
                            if failed {
                                Outcome::Failure
                            } else {
                                Outcome::Success
                            },
                        );
                        drop(b.try_acquire()); // cancelled
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        for b in &breakers {
            most_blocks = most_blocks.max(b.thread_blocks());
        }
    }
    assert_eq!(most_blocks, 1, "exited threads leave no block behind");
    for b in &breakers {
        let totals = b.snapshot().totals;
        assert_eq!(b.state(), State::Closed);
        assert_eq!(totals.failures, THREADS / 10, "{}", b.name());
        assert_eq!(totals.successes, 1 + 2 * THREADS - THREADS / 10);
        assert_eq!(totals.cancelled, THREADS);
    }
    let window = breakers[0].snapshot().window;
    assert_eq!(
        (window.calls, window.failures),
        (1 + 2 * THREADS, THREADS / 10)
    );
}

#[test]
fn a_thread_keeps_one_block_per_breaker_while_it_lives() {
    let breaker = never_trips();
    let (go, wait) = mpsc::channel::<()>();
    let (ready, started) = mpsc::channel();
    let holder = {
        let breaker = breaker.clone();
        thread::spawn(move || {
            for _ in 0..100 {
                call(&breaker, Outcome::Success);
            }
            ready.send(()).unwrap();
            wait.recv().unwrap();
            call(&breaker, Outcome::Failure);
        })
    };
    started.recv().unwrap();
    assert_eq!(breaker.thread_blocks(), 1, "one block for 100 calls");
    assert_eq!(
        breaker.snapshot().totals.successes,
        100,
        "read while it lives"
    );
    go.send(()).unwrap();
    holder.join().unwrap();
    assert_eq!(breaker.thread_blocks(), 0);
    let snap = breaker.snapshot();
    assert_eq!((snap.totals.successes, snap.totals.failures), (100, 1));
    assert_eq!((snap.window.calls, snap.window.failures), (101, 1));
}

/// What one worker thread is told to do.
#[derive(Debug, Clone, Copy)]
enum Op {
    Call(Outcome),
    Cancel,
    /// Acquire on this worker, record on the next one (a future that moves).
    Handoff(Outcome),
    /// The worker exits; a new one takes its place.
    Exit,
}

fn op() -> impl Strategy<Value = (usize, Op)> {
    let outcome = prop_oneof![
        Just(Outcome::Success),
        Just(Outcome::Failure),
        Just(Outcome::Ignored)
    ];
    let op = prop_oneof![
        4 => outcome.clone().prop_map(Op::Call),
        1 => Just(Op::Cancel),
        1 => outcome.prop_map(Op::Handoff),
        2 => Just(Op::Exit),
    ];
    (0..3usize, op)
}

type Job = Box<dyn FnOnce(&CircuitBreaker) + Send>;

fn worker(breaker: CircuitBreaker) -> (mpsc::Sender<Option<Job>>, thread::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel::<Option<Job>>();
    let handle = thread::spawn(move || {
        while let Ok(Some(job)) = rx.recv() {
            job(&breaker);
        }
    });
    (tx, handle)
}

/// Run `job` on worker `w` and wait for it.
fn run_on(worker: &mpsc::Sender<Option<Job>>, job: Job) {
    let (done, wait) = mpsc::channel();
    worker
        .send(Some(Box::new(move |b: &CircuitBreaker| {
            job(b);
            done.send(()).unwrap();
        })))
        .unwrap();
    wait.recv().unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Calls on three worker threads that exit and are replaced at random, and permits that
    /// move from one thread to another: the totals and the window match a plain count.
    #[test]
    fn counts_stay_exact_across_threads_that_exit(ops in prop::collection::vec(op(), 1..60)) {
        let breaker = never_trips();
        let mut workers: Vec<_> = (0..3).map(|_| worker(breaker.clone())).collect();
        let mut want = Totals::default();
        let (mut window_calls, mut window_failures) = (0, 0);
        for (w, op) in ops {
            match op {
                Op::Call(outcome) | Op::Handoff(outcome) => {
                    match outcome {
                        Outcome::Success => want.successes += 1,
                        Outcome::Failure => {
                            want.failures += 1;
                            want.counted_failures += 1; // all in the one closed period
                        }
                        Outcome::Ignored => want.ignored += 1,
                    }
                    if outcome != Outcome::Ignored {
                        window_calls += 1;
                        window_failures += u64::from(outcome == Outcome::Failure);
                    }
                }
                Op::Cancel => want.cancelled += 1,
                Op::Exit => {}
            }
            match op {
                Op::Call(outcome) => run_on(&workers[w].0, Box::new(move |b| call(b, outcome))),
                Op::Cancel => run_on(&workers[w].0, Box::new(|b| drop(b.try_acquire()))),
                Op::Handoff(outcome) => {
                    let (tx, rx) = mpsc::channel();
                    run_on(&workers[w].0, Box::new(move |b| tx.send(b.try_acquire().unwrap()).unwrap()));
                    let permit = rx.recv().unwrap();
                    run_on(&workers[(w + 1) % 3].0, Box::new(move |_| permit.record(outcome)));
                }
                Op::Exit => {
                    let (tx, handle) = std::mem::replace(&mut workers[w], worker(breaker.clone()));
                    tx.send(None).unwrap();
                    handle.join().unwrap();
                }
            }
            prop_assert!(breaker.thread_blocks() <= 3, "{} blocks", breaker.thread_blocks());
        }
        let snap = breaker.snapshot();
        prop_assert_eq!(snap.totals, want);
        prop_assert_eq!((snap.window.calls, snap.window.failures), (window_calls, window_failures));
        for (tx, handle) in workers {
            tx.send(None).unwrap();
            handle.join().unwrap();
        }
        prop_assert_eq!(breaker.thread_blocks(), 0);
        prop_assert_eq!(breaker.snapshot().totals, want);
    }
}
