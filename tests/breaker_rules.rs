//! The circuit breaker's trip and recovery rules, one test per rule, driven through the
//! public API on tokio's paused clock (no real time passes).

use std::time::Duration;

use tokio::time::{advance, sleep, Instant};
use tower_breakwater::circuit_breaker::{CircuitBreaker, Error, State};
use tower_breakwater::classify::Outcome;

const OPEN_FOR: Duration = Duration::from_secs(10);

#[path = "support/breaker.rs"]
mod breaker_support;
use breaker_support::{fail, succeed};

fn ignore(breaker: &CircuitBreaker) {
    breaker.try_acquire().expect("admitted").ignore();
}

/// (calls, failures, slow) in the rate window right now.
fn window(breaker: &CircuitBreaker) -> (u64, u64, u64) {
    let w = breaker.snapshot().window;
    (w.calls, w.failures, w.slow)
}

/// How long from now until an open breaker lets its first trial through.
fn open_left(breaker: &CircuitBreaker) -> Duration {
    let retry_at = breaker.snapshot().retry_at.expect("open with a deadline");
    retry_at - Instant::now()
}

/// A breaker that opens on its first failure, with `permits` trials and `threshold`
/// successes to close.
fn one_strike(permits: u32, threshold: u32) -> CircuitBreaker {
    CircuitBreaker::builder("rules")
        .consecutive_failures(1)
        .open_for(OPEN_FOR)
        .half_open_permits(permits)
        .success_threshold(threshold)
        .build()
        .unwrap()
}

/// Trip `breaker` (a one-strike breaker) and wait out its open period.
async fn trip_and_wait(breaker: &CircuitBreaker) {
    fail(breaker);
    assert_eq!(breaker.state(), State::Open);
    advance(OPEN_FOR).await;
}

// ---------------------------------------------------------------------------------------
// Consecutive failures.
// ---------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn default_rule_opens_on_the_fifth_consecutive_failure() {
    let breaker = CircuitBreaker::builder("rules").build().unwrap();
    for run in 1..=4 {
        fail(&breaker);
        assert_eq!(breaker.state(), State::Closed, "after {run} failures");
        assert_eq!(breaker.snapshot().consecutive_failures, Some(run));
    }
    fail(&breaker);
    assert_eq!(breaker.state(), State::Open);
    assert_eq!(breaker.transitions(State::Closed, State::Open), 1);
    assert_eq!(breaker.snapshot().totals.failures, 5);
}

#[tokio::test(start_paused = true)]
async fn a_success_resets_the_run_of_failures() {
    let breaker = CircuitBreaker::builder("rules").build().unwrap();
    for _ in 0..4 {
        fail(&breaker);
    }
    succeed(&breaker);
    assert_eq!(breaker.snapshot().consecutive_failures, Some(0));
    for _ in 0..4 {
        fail(&breaker);
    }
    // 8 failures out of 9 calls, but never 5 in a row.
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(breaker.snapshot().consecutive_failures, Some(4));
    fail(&breaker);
    assert_eq!(breaker.state(), State::Open);
    let totals = breaker.snapshot().totals;
    assert_eq!((totals.successes, totals.failures), (1, 9));
}

// ---------------------------------------------------------------------------------------
// Failure rate over a count window.
// ---------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn count_window_slides_over_the_last_n_outcomes() {
    let breaker = CircuitBreaker::builder("rules")
        .failure_rate(0.5)
        .count_window(4)
        .minimum_calls(4)
        .build()
        .unwrap();
    for _ in 0..3 {
        fail(&breaker); // below the floor of 4 calls: cannot trip yet
    }
    assert_eq!(window(&breaker), (3, 3, 0));
    for _ in 0..4 {
        succeed(&breaker);
    }
    // The four successes pushed the three early failures out of the window.
    assert_eq!(window(&breaker), (4, 0, 0));

    // 4 failures in 8 calls since the breaker was built (a rate of 0.5) — but only 1 of the
    // last 4: it must not trip.
    fail(&breaker);
    assert_eq!(window(&breaker), (4, 1, 0));
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(breaker.snapshot().totals.failures, 4);

    // 2 of the last 4 reaches the rate.
    fail(&breaker);
    assert_eq!(breaker.state(), State::Open);
    assert_eq!(breaker.transitions(State::Closed, State::Open), 1);
}

#[tokio::test(start_paused = true)]
async fn minimum_calls_floor_keeps_a_small_sample_from_tripping() {
    // Default floor: 10 calls.
    let breaker = CircuitBreaker::builder("rules")
        .failure_rate(0.5)
        .build()
        .unwrap();
    fail(&breaker);
    assert_eq!(breaker.state(), State::Closed, "1 failure of 1 call");
    assert_eq!(breaker.snapshot().window.failure_rate(), 1.0);
    for _ in 0..8 {
        fail(&breaker);
    }
    assert_eq!(breaker.state(), State::Closed, "9 failures of 9 calls");
    assert_eq!(window(&breaker), (9, 9, 0));
    fail(&breaker);
    assert_eq!(
        breaker.state(),
        State::Open,
        "the 10th call reaches the floor"
    );

    // An explicit floor.
    let breaker = CircuitBreaker::builder("rules")
        .count_window(20)
        .minimum_calls(3)
        .build()
        .unwrap();
    fail(&breaker);
    fail(&breaker);
    assert_eq!(breaker.state(), State::Closed);
    fail(&breaker);
    assert_eq!(breaker.state(), State::Open);
}

// ---------------------------------------------------------------------------------------
// Failure rate over a time window.
// ---------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn time_window_buckets_expire_with_time() {
    // 10 s in 10 buckets of 1 s.
    let breaker = CircuitBreaker::builder("rules")
        .failure_rate(0.5)
        .time_window(Duration::from_secs(10), 10)
        .minimum_calls(4)
        .build()
        .unwrap();
    for _ in 0..3 {
        fail(&breaker);
    }
    assert_eq!(window(&breaker), (3, 3, 0));

    // Still in the window 1 ms before its first bucket slides out.
    advance(Duration::from_millis(9_999)).await;
    assert_eq!(window(&breaker), (3, 3, 0));
    advance(Duration::from_millis(1)).await;
    assert_eq!(window(&breaker), (0, 0, 0), "the first bucket slid out");

    // 4 failures in 5 calls since the start, but the window holds only 2 calls: no trip.
    succeed(&breaker);
    fail(&breaker);
    assert_eq!(window(&breaker), (2, 1, 0));
    assert_eq!(breaker.state(), State::Closed);

    fail(&breaker);
    assert_eq!(breaker.state(), State::Closed, "3 calls, below the floor");
    fail(&breaker);
    assert_eq!(breaker.state(), State::Open, "3 failures of 4 calls");
}

#[tokio::test(start_paused = true)]
async fn time_window_slides_one_bucket_at_a_time() {
    let breaker = CircuitBreaker::builder("rules")
        .time_window(Duration::from_secs(10), 10)
        .minimum_calls(10)
        .build()
        .unwrap();
    fail(&breaker); // bucket [0 s, 1 s)
    advance(Duration::from_secs(5)).await;
    fail(&breaker); // bucket [5 s, 6 s)
    succeed(&breaker);
    assert_eq!(window(&breaker), (3, 2, 0));
    advance(Duration::from_secs(5)).await; // t = 10 s: [0 s, 1 s) is out
    assert_eq!(window(&breaker), (2, 1, 0));
    advance(Duration::from_secs(5)).await; // t = 15 s: [5 s, 6 s) is out
    assert_eq!(window(&breaker), (0, 0, 0));
    assert_eq!(breaker.state(), State::Closed);
}

// ---------------------------------------------------------------------------------------
// Slow calls.
// ---------------------------------------------------------------------------------------

/// A call that takes `took` on tokio's clock and succeeds.
async fn timed_call(breaker: &CircuitBreaker, took: Duration) -> Result<(), Error<()>> {
    breaker
        .call(|| async move {
            sleep(took).await;
            Ok(())
        })
        .await
}

fn slow_breaker() -> CircuitBreaker {
    CircuitBreaker::builder("rules")
        .failure_rate(1.0)
        .count_window(4)
        .minimum_calls(4)
        .slow_calls(Duration::from_millis(100), 0.5)
        .open_for(OPEN_FOR)
        .half_open_permits(1)
        .success_threshold(1)
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn slow_call_rate_opens_the_breaker_even_when_every_call_succeeds() {
    let breaker = slow_breaker();
    let (fast, slow) = (Duration::from_millis(50), Duration::from_millis(150));
    timed_call(&breaker, fast).await.unwrap();
    timed_call(&breaker, slow).await.unwrap();
    timed_call(&breaker, fast).await.unwrap();
    assert_eq!(window(&breaker), (3, 0, 1));
    assert_eq!(breaker.state(), State::Closed, "below the floor of 4 calls");
    timed_call(&breaker, slow).await.unwrap();
    assert_eq!(breaker.state(), State::Open, "2 slow of 4 calls");
    let totals = breaker.snapshot().totals;
    assert_eq!((totals.successes, totals.failures, totals.slow), (4, 0, 2));
}

#[tokio::test(start_paused = true)]
async fn a_call_exactly_at_the_slow_threshold_is_not_slow() {
    let breaker = slow_breaker();
    let permit = breaker.try_acquire().unwrap();
    advance(Duration::from_millis(100)).await;
    permit.success();
    let permit = breaker.try_acquire().unwrap();
    advance(Duration::from_millis(101)).await;
    permit.success();
    assert_eq!(breaker.snapshot().totals.slow, 1);
    assert_eq!(window(&breaker), (2, 0, 1));
}

#[tokio::test(start_paused = true)]
async fn a_slow_half_open_trial_counts_as_failed() {
    let breaker = slow_breaker();
    for _ in 0..4 {
        timed_call(&breaker, Duration::from_millis(150))
            .await
            .unwrap();
    }
    assert_eq!(breaker.state(), State::Open);
    advance(OPEN_FOR).await;
    timed_call(&breaker, Duration::from_millis(150))
        .await
        .unwrap();
    assert_eq!(breaker.state(), State::Open);
    assert_eq!(breaker.transitions(State::HalfOpen, State::Open), 1);
    assert_eq!(breaker.transitions(State::HalfOpen, State::Closed), 0);
    // A fast trial closes it.
    advance(OPEN_FOR).await;
    timed_call(&breaker, Duration::from_millis(50))
        .await
        .unwrap();
    assert_eq!(breaker.state(), State::Closed);
}

// ---------------------------------------------------------------------------------------
// Open, then half-open.
// ---------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn open_rejects_for_open_for_then_the_first_call_goes_half_open() {
    let breaker = one_strike(2, 2);
    let tripped_at = Instant::now();
    fail(&breaker);

    let rejected = breaker.try_acquire().unwrap_err();
    assert_eq!(rejected.state(), State::Open);
    assert_eq!(rejected.retry_at(), Some(tripped_at + OPEN_FOR));
    assert_eq!(rejected.retry_after(), Some(OPEN_FOR));

    advance(OPEN_FOR - Duration::from_millis(1)).await;
    let rejected = breaker.try_acquire().unwrap_err();
    assert_eq!(rejected.retry_after(), Some(Duration::from_millis(1)));
    assert_eq!(breaker.snapshot().totals.rejected, 2);

    // The period is over, but nothing moves until a call comes.
    advance(Duration::from_secs(5)).await;
    assert_eq!(breaker.state(), State::Open);
    assert_eq!(breaker.transitions(State::Open, State::HalfOpen), 0);

    let trial = breaker
        .try_acquire()
        .expect("the first call after open_for is a trial");
    assert_eq!(breaker.state(), State::HalfOpen);
    assert_eq!(breaker.transitions(State::Open, State::HalfOpen), 1);
    assert_eq!(breaker.snapshot().half_open_trials, 1);
    trial.success();
}

#[tokio::test(start_paused = true)]
async fn half_open_admits_its_permits_and_rejects_the_next_at_once() {
    let breaker = one_strike(3, 3);
    trip_and_wait(&breaker).await;
    let trials: Vec<_> = (0..3)
        .map(|i| {
            breaker
                .try_acquire()
                .unwrap_or_else(|_| panic!("trial {i}"))
        })
        .collect();
    assert_eq!(breaker.snapshot().half_open_trials, 3);

    let rejected = breaker.try_acquire().unwrap_err();
    assert_eq!(rejected.state(), State::HalfOpen);
    assert_eq!(rejected.retry_at(), None);
    assert_eq!(
        rejected.to_string(),
        "circuit 'rules' is half-open and its trial calls are taken"
    );
    assert_eq!(breaker.snapshot().totals.rejected, 1);
    assert_eq!(breaker.state(), State::HalfOpen);
    for trial in trials {
        trial.success();
    }
    assert_eq!(breaker.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn success_threshold_successes_close_the_breaker() {
    let breaker = one_strike(3, 2);
    trip_and_wait(&breaker).await;
    let (first, second, third) = (
        breaker.try_acquire().unwrap(),
        breaker.try_acquire().unwrap(),
        breaker.try_acquire().unwrap(),
    );
    first.success();
    assert_eq!(breaker.state(), State::HalfOpen);
    assert_eq!(breaker.snapshot().half_open_successes, 1);
    second.success();
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(breaker.transitions(State::HalfOpen, State::Closed), 1);

    // The third trial ends after the close: it belongs to the half-open episode, so its
    // failure cannot trip the new closed period (one failure would, under this rule).
    third.failure();
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(breaker.snapshot().consecutive_failures, Some(0));
}

#[tokio::test(start_paused = true)]
async fn any_trial_failure_reopens() {
    let breaker = one_strike(3, 3);
    trip_and_wait(&breaker).await;
    let (first, second, third) = (
        breaker.try_acquire().unwrap(),
        breaker.try_acquire().unwrap(),
        breaker.try_acquire().unwrap(),
    );
    first.success();
    second.failure();
    assert_eq!(breaker.state(), State::Open);
    assert_eq!(breaker.transitions(State::HalfOpen, State::Open), 1);
    assert_eq!(open_left(&breaker), OPEN_FOR);
    // A success of the old episode cannot count toward anything now.
    third.success();
    assert_eq!(breaker.state(), State::Open);
    assert_eq!(breaker.snapshot().half_open_successes, 0);
}

#[tokio::test(start_paused = true)]
async fn open_for_grows_on_repeated_trips_up_to_its_cap() {
    let breaker = CircuitBreaker::builder("rules")
        .consecutive_failures(1)
        .open_for(OPEN_FOR)
        .open_for_growth(2.0, Duration::from_secs(35))
        .half_open_permits(1)
        .success_threshold(1)
        .build()
        .unwrap();
    fail(&breaker);
    let mut periods = vec![open_left(&breaker)];
    for _ in 0..3 {
        advance(*periods.last().unwrap()).await;
        fail(&breaker); // the trial fails: open again, for longer
        periods.push(open_left(&breaker));
    }
    let secs: Vec<u64> = periods.iter().map(Duration::as_secs).collect();
    assert_eq!(secs, [10, 20, 35, 35]);
    assert!(periods.iter().all(|p| p.subsec_nanos() == 0), "{periods:?}");

    // A successful close starts again from open_for.
    advance(Duration::from_secs(35)).await;
    succeed(&breaker);
    assert_eq!(breaker.state(), State::Closed);
    fail(&breaker);
    assert_eq!(open_left(&breaker), OPEN_FOR);
}

#[tokio::test(start_paused = true)]
async fn jitter_keeps_retry_at_within_plus_or_minus_its_ratio() {
    let breaker = CircuitBreaker::builder("rules")
        .consecutive_failures(1)
        .open_for(OPEN_FOR)
        .jitter(0.2)
        .build()
        .unwrap();
    let (low, high) = (Duration::from_secs(8), Duration::from_secs(12));
    let mut periods = Vec::new();
    for _ in 0..300 {
        breaker.reset();
        let now = Instant::now();
        fail(&breaker);
        let retry_at = breaker.try_acquire().unwrap_err().retry_at().unwrap();
        assert_eq!(breaker.snapshot().retry_at, Some(retry_at));
        let period = retry_at - now;
        assert!(low <= period && period <= high, "{period:?}");
        periods.push(period);
    }
    // Spread, not a constant: 300 uniform draws in [8 s, 12 s) all above 9 s (or all below
    // 11 s) has a chance of 0.75^300.
    let (min, max) = (periods.iter().min().unwrap(), periods.iter().max().unwrap());
    assert!(*min < Duration::from_secs(9), "min {min:?}");
    assert!(*max > Duration::from_secs(11), "max {max:?}");
}

#[tokio::test(start_paused = true)]
async fn no_jitter_means_exactly_open_for() {
    let breaker = one_strike(1, 1);
    for _ in 0..20 {
        breaker.reset();
        fail(&breaker);
        assert_eq!(open_left(&breaker), OPEN_FOR);
    }
}

// ---------------------------------------------------------------------------------------
// Classifying outcomes.
// ---------------------------------------------------------------------------------------

/// A 5xx is a failure, a 404 counts neither way, anything else is a success.
fn by_status(result: &Result<u16, ()>) -> Outcome {
    match result {
        Ok(status) if *status >= 500 => Outcome::Failure,
        Ok(404) => Outcome::Ignored,
        Ok(_) => Outcome::Success,
        Err(()) => Outcome::Failure,
    }
}

async fn status(breaker: &CircuitBreaker, code: u16) -> Result<u16, Error<()>> {
    breaker
        .call_with(&by_status, || async move { Ok(code) })
        .await
}

#[tokio::test(start_paused = true)]
async fn a_custom_classifier_decides_what_fails_and_ignored_counts_neither_way() {
    let breaker = CircuitBreaker::builder("rules")
        .consecutive_failures(2)
        .build()
        .unwrap();
    assert_eq!(status(&breaker, 503).await.unwrap(), 503);
    assert_eq!(breaker.snapshot().consecutive_failures, Some(1));
    // An ignored outcome neither extends nor ends the run.
    assert_eq!(status(&breaker, 404).await.unwrap(), 404);
    assert_eq!(breaker.snapshot().consecutive_failures, Some(1));
    status(&breaker, 200).await.unwrap();
    assert_eq!(breaker.snapshot().consecutive_failures, Some(0));
    status(&breaker, 500).await.unwrap();
    status(&breaker, 404).await.unwrap();
    assert_eq!(breaker.state(), State::Closed);
    status(&breaker, 502).await.unwrap();
    assert_eq!(
        breaker.state(),
        State::Open,
        "503, 404, 502: two failures in a row"
    );
    let totals = breaker.snapshot().totals;
    assert_eq!(
        (totals.successes, totals.failures, totals.ignored),
        (1, 3, 2)
    );
}

#[tokio::test(start_paused = true)]
async fn ignored_outcomes_stay_out_of_a_rate_window() {
    let breaker = CircuitBreaker::builder("rules")
        .count_window(4)
        .minimum_calls(2)
        .failure_rate(0.5)
        .build()
        .unwrap();
    fail(&breaker);
    for _ in 0..6 {
        ignore(&breaker);
    }
    assert_eq!(window(&breaker), (1, 1, 0), "ignored calls take no slot");
    assert_eq!(breaker.state(), State::Closed);
    succeed(&breaker);
    assert_eq!(window(&breaker), (2, 1, 0));
    assert_eq!(breaker.snapshot().totals.ignored, 6);
}

#[tokio::test(start_paused = true)]
async fn an_ignored_trial_gives_its_permit_back() {
    let breaker = one_strike(1, 1);
    trip_and_wait(&breaker).await;
    let trial = breaker.try_acquire().unwrap();
    assert_eq!(
        breaker.try_acquire().unwrap_err().state(),
        State::HalfOpen,
        "the only permit is taken"
    );
    trial.ignore();
    let snap = breaker.snapshot();
    assert_eq!((snap.state, snap.half_open_trials), (State::HalfOpen, 0));
    assert_eq!(snap.half_open_successes, 0);
    // The permit is free again, and the ignored trial did not close the breaker.
    let trial = breaker.try_acquire().expect("permit given back");
    trial.success();
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(breaker.snapshot().totals.ignored, 1);
}

#[tokio::test(start_paused = true)]
async fn a_recovered_breaker_starts_with_an_empty_window() {
    for breaker in [
        CircuitBreaker::builder("rules")
            .time_window(Duration::from_secs(60), 6)
            .minimum_calls(4),
        CircuitBreaker::builder("rules")
            .count_window(8)
            .minimum_calls(4),
    ]
    .map(|b| {
        b.open_for(OPEN_FOR)
            .half_open_permits(1)
            .success_threshold(1)
            .build()
            .unwrap()
    }) {
        for _ in 0..4 {
            fail(&breaker);
        }
        assert_eq!(breaker.state(), State::Open);
        advance(OPEN_FOR).await;
        succeed(&breaker); // the trial closes it
        assert_eq!(breaker.state(), State::Closed);
        // The four failures are 10 s old, inside a 60 s window, but belong to the last
        // closed period.
        assert_eq!(window(&breaker), (0, 0, 0));
        for _ in 0..3 {
            fail(&breaker);
        }
        assert_eq!(window(&breaker), (3, 3, 0));
        assert_eq!(breaker.state(), State::Closed, "below the floor again");
    }
}
