//! The time window's bucket clock: a busy breaker buckets its successes by a tokio timer
//! instead of reading the clock on each call. These tests start that timer (64 successes on
//! one thread; it stops after a bucket without calls, so they keep it busy) and check that
//! outcomes land in the same buckets as with a clock read, that the timer ends with the
//! breaker or when idle, and that a breaker whose timer's runtime is gone reads the clock
//! again. Driven by tokio's paused clock.

use std::sync::Arc;
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::sync::Barrier;
use tokio::task::yield_now;
use tokio::time::advance;
use tower_breakwater::circuit_breaker::{CircuitBreaker, State};

/// Successes on one thread after which its breaker starts a ticker (`TICK_AFTER_CLOCK_READS`).
const START_TICKER: usize = 64;

/// 10 s in 10 buckets of 1 s (the benchmark's window).
fn busy_breaker() -> CircuitBreaker {
    CircuitBreaker::builder("bucket-clock")
        .failure_rate(0.5)
        .time_window(Duration::from_secs(10), 10)
        .minimum_calls(4)
        .build()
        .unwrap()
}

fn succeed(breaker: &CircuitBreaker, times: usize) {
    for _ in 0..times {
        breaker.try_acquire().expect("admitted").success();
    }
}

fn fail(breaker: &CircuitBreaker) {
    breaker.try_acquire().expect("admitted").failure();
}

fn calls(breaker: &CircuitBreaker) -> u64 {
    breaker.snapshot().window.calls
}

fn tasks() -> usize {
    Handle::current().metrics().num_alive_tasks()
}

/// Let the clock move by `d` and the ticker run (as a real runtime would, within about a
/// millisecond of each boundary).
async fn pass(d: Duration) {
    advance(d).await;
    yield_now().await;
}

#[tokio::test(start_paused = true)]
async fn a_busy_window_buckets_successes_by_its_ticker_exactly() {
    let breaker = busy_breaker();
    succeed(&breaker, START_TICKER - 1);
    assert_eq!(tasks(), 0, "a quiet breaker starts no timer");
    succeed(&breaker, 1);
    assert_eq!(tasks(), 1, "the ticker");
    succeed(&breaker, 1);
    assert_eq!(calls(&breaker), 65);

    // One success per bucket from 1 s to 9 s, bucketed by the ticker alone (no snapshot or
    // failure reads the clock in between).
    for _ in 1..10 {
        pass(Duration::from_secs(1)).await;
        assert_eq!(tasks(), 1, "busy: still ticking");
        succeed(&breaker, 1);
    }
    // At 10 s the first bucket (65 calls) slides out, and then one bucket per second.
    pass(Duration::from_secs(1)).await;
    assert_eq!(calls(&breaker), 9);
    pass(Duration::from_millis(999)).await;
    assert_eq!(calls(&breaker), 9);
    pass(Duration::from_millis(1)).await;
    assert_eq!(calls(&breaker), 8);
    pass(Duration::from_secs(7)).await;
    assert_eq!(calls(&breaker), 1, "only the success at 9 s is left");
    pass(Duration::from_secs(1)).await;
    assert_eq!(calls(&breaker), 0);
}

#[tokio::test(start_paused = true)]
async fn after_a_long_quiet_spell_the_ticker_jumps_to_the_right_bucket() {
    let breaker = busy_breaker();
    succeed(&breaker, START_TICKER + 1);
    pass(Duration::from_secs(3600)).await; // one wake, not 3600
    assert_eq!(tasks(), 1);
    succeed(&breaker, 1); // bucket 3600
    pass(Duration::from_secs(9)).await;
    assert_eq!(calls(&breaker), 1);
    pass(Duration::from_secs(1)).await;
    assert_eq!(calls(&breaker), 0);
}

#[tokio::test(start_paused = true)]
async fn a_late_ticker_puts_successes_in_the_bucket_before_never_after() {
    let breaker = busy_breaker();
    succeed(&breaker, START_TICKER + 1);
    // `advance` resumes this test before the ticker runs: a ticker late past the boundary.
    advance(Duration::from_secs(1)).await;
    succeed(&breaker, 1); // bucketed in [0 s, 1 s), as if it had come that much earlier
    yield_now().await;
    assert_eq!(tasks(), 1);
    succeed(&breaker, 1); // [1 s, 2 s)
    pass(Duration::from_secs(9)).await; // 10 s: [0 s, 1 s) slid out
    assert_eq!(calls(&breaker), 1);

    // A failure reads the clock and catches the bucket clock up for the successes after it.
    advance(Duration::from_secs(1)).await; // 11 s, the ticker not run yet
    assert_eq!(tasks(), 1);
    fail(&breaker);
    succeed(&breaker, 1);
    pass(Duration::from_secs(9)).await; // 20 s: everything before 11 s slid out
    assert_eq!(calls(&breaker), 2, "{:?}", breaker.snapshot().window);
}

#[tokio::test(start_paused = true)]
async fn the_failure_rate_trips_as_with_clock_reads() {
    let breaker = busy_breaker();
    succeed(&breaker, START_TICKER + 1);
    pass(Duration::from_secs(10)).await; // the 65 successes slide out
    assert_eq!(tasks(), 1);
    succeed(&breaker, 2);
    fail(&breaker);
    assert_eq!(breaker.state(), State::Closed, "1 failure in 3 calls");
    fail(&breaker);
    assert_eq!(breaker.state(), State::Open, "2 failures in 4 calls");
}

#[tokio::test(start_paused = true)]
async fn an_idle_ticker_stops_and_traffic_starts_a_new_one() {
    let breaker = busy_breaker();
    succeed(&breaker, START_TICKER);
    assert_eq!(tasks(), 1);
    pass(Duration::from_secs(1)).await; // a whole bucket without a call
    assert_eq!(tasks(), 0, "idle: stopped");
    succeed(&breaker, 1); // read from the clock: bucket 1
    succeed(&breaker, START_TICKER - 1);
    assert_eq!(tasks(), 1, "busy again");
    succeed(&breaker, 1); // bucket 1, by the new ticker (and keeps it busy past 2 s)
    pass(Duration::from_secs(1)).await; // 2 s: the new ticker moves to bucket 2
    assert_eq!(tasks(), 1, "the new ticker, still busy");
    succeed(&breaker, 1); // by the new ticker: [2 s, 3 s)
    assert_eq!(
        calls(&breaker),
        2 * START_TICKER as u64 + 2,
        "buckets 0, 1 and 2"
    );
    pass(Duration::from_secs(9)).await; // 11 s: everything from 0 s and 1 s slid out
    assert_eq!(calls(&breaker), 1, "the success at 2 s, in its own bucket");
    pass(Duration::from_millis(999)).await;
    assert_eq!(calls(&breaker), 1);
    pass(Duration::from_millis(1)).await; // 12 s
    assert_eq!(calls(&breaker), 0, "[2 s, 3 s) slid out");
}

#[tokio::test(start_paused = true)]
async fn the_ticker_ends_with_the_breaker() {
    let breaker = busy_breaker();
    let clone = breaker.clone();
    succeed(&breaker, START_TICKER + 1);
    assert_eq!(tasks(), 1);
    drop(breaker);
    pass(Duration::from_secs(1)).await;
    assert_eq!(tasks(), 1, "a clone still holds the breaker");
    succeed(&clone, 1); // busy: only the drop can end it
    drop(clone);
    pass(Duration::from_secs(1)).await;
    assert_eq!(
        tasks(),
        0,
        "gone at the first boundary after the last handle"
    );
}

#[test]
fn a_breaker_outliving_its_tickers_runtime_reads_the_clock_again() {
    let breaker = busy_breaker();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    runtime.block_on(async {
        succeed(&breaker, START_TICKER + 1);
        // The paused clock runs ahead of the real one; so does the bucket clock.
        pass(Duration::from_secs(55)).await;
        assert_eq!(tasks(), 1);
        succeed(&breaker, 1); // in bucket 55, out of the real clock's window
    });
    drop(runtime);
    // No runtime now: the real clock, about 55 s behind the dropped runtime's. Successes must
    // land in its bucket 0 (with the first 65), not in the dead ticker's bucket 55.
    succeed(&breaker, 3);
    let window = breaker.snapshot().window;
    assert_eq!(window.calls, START_TICKER as u64 + 1 + 3, "{window:?}");

    // A new runtime starts a new ticker.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    runtime.block_on(async {
        succeed(&breaker, START_TICKER);
        assert_eq!(tasks(), 1);
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_on_two_workers_share_one_ticker() {
    let breaker = busy_breaker();
    // Workers stay alive (parked on `done`) while the tasks are counted.
    let (busy, done) = (Arc::new(Barrier::new(5)), Arc::new(Barrier::new(5)));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (breaker, busy, done) = (breaker.clone(), busy.clone(), done.clone());
            tokio::spawn(async move {
                for _ in 0..4 {
                    succeed(&breaker, START_TICKER);
                    yield_now().await;
                }
                busy.wait().await;
                done.wait().await;
            })
        })
        .collect();
    busy.wait().await;
    assert_eq!(tasks(), 4 + 1, "one ticker however many threads asked");
    done.wait().await;
    for worker in workers {
        worker.await.unwrap();
    }
    // Real time: all within the window.
    assert_eq!(calls(&breaker), 16 * START_TICKER as u64);
}

#[tokio::test(start_paused = true)]
async fn short_buckets_read_the_clock_and_start_no_ticker() {
    // 10 ms buckets: under tokio's 1 ms timer resolution a ticker would be too coarse.
    let breaker = CircuitBreaker::builder("fine")
        .failure_rate(0.5)
        .time_window(Duration::from_millis(100), 10)
        .build()
        .unwrap();
    succeed(&breaker, 4 * START_TICKER);
    assert_eq!(tasks(), 0);
    advance(Duration::from_millis(10)).await;
    succeed(&breaker, 1);
    advance(Duration::from_millis(90)).await;
    assert_eq!(calls(&breaker), 1);
}

#[tokio::test(start_paused = true)]
async fn a_success_from_an_earlier_closed_period_stays_out_of_the_ticked_bucket() {
    let breaker = busy_breaker();
    succeed(&breaker, START_TICKER);
    assert_eq!(tasks(), 1, "the ticker");
    let earlier = breaker.try_acquire().expect("admitted");
    // A new closed period, within the same bucket of time.
    breaker.force_open();
    breaker.reset();
    succeed(&breaker, 3);
    assert_eq!(calls(&breaker), 3);
    // The bucket this thread used last is this period's, for this very bucket of time: the
    // earlier call must not land in it.
    earlier.success();
    assert_eq!(
        calls(&breaker),
        3,
        "an earlier period's outcome counts nowhere"
    );
    assert_eq!(
        breaker.snapshot().totals.successes,
        START_TICKER as u64 + 4,
        "though it is a success in the totals"
    );
}
