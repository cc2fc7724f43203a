//! A busy open breaker hands the end of its open period to a timer, so rejections stop
//! reading the clock. These tests show it changes nothing a caller can see: the breaker
//! still goes half-open when `open_for` is over, operators still win, and a timer that dies
//! with its runtime does not leave the breaker stuck open.

use std::time::Duration;

use tower_breakwater::circuit_breaker::{CircuitBreaker, State};

const OPEN_FOR: Duration = Duration::from_secs(10);

fn tripped() -> CircuitBreaker {
    let breaker = CircuitBreaker::builder("timer")
        .consecutive_failures(1)
        .open_for(OPEN_FOR)
        .half_open_permits(2)
        .success_threshold(1)
        .build()
        .unwrap();
    breaker.try_acquire().unwrap().failure();
    assert_eq!(breaker.state(), State::Open);
    breaker
}

/// Enough rejections on this thread to arm the timer (it arms after 64).
fn hammer(breaker: &CircuitBreaker, times: u32) {
    for _ in 0..times {
        let rejected = breaker.try_acquire().unwrap_err();
        assert_eq!(rejected.state(), State::Open);
    }
}

#[tokio::test(start_paused = true)]
async fn a_busy_open_breaker_still_goes_half_open_when_open_for_is_over() {
    let breaker = tripped();
    let deadline = breaker.snapshot().retry_at.unwrap();
    hammer(&breaker, 500);
    // Every armed rejection still names the deadline.
    assert_eq!(
        breaker.try_acquire().unwrap_err().retry_at(),
        Some(deadline)
    );

    tokio::time::sleep(OPEN_FOR - Duration::from_millis(1)).await;
    hammer(&breaker, 100);
    assert_eq!(breaker.state(), State::Open);

    // Just past the deadline (the timer fires at it): the next call is a trial.
    tokio::time::sleep(Duration::from_millis(2)).await;
    let trial = breaker.try_acquire().expect("half-open after open_for");
    assert_eq!(breaker.state(), State::HalfOpen);
    trial.success();
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(breaker.snapshot().totals.rejected, 601);
}

#[tokio::test(start_paused = true)]
async fn a_second_busy_open_period_arms_its_own_timer() {
    let breaker = tripped();
    hammer(&breaker, 100);
    tokio::time::sleep(OPEN_FOR + Duration::from_millis(1)).await;
    // The trial fails: open again, for a new period with a new deadline.
    breaker.try_acquire().unwrap().failure();
    assert_eq!(breaker.state(), State::Open);
    hammer(&breaker, 100);
    tokio::time::sleep(OPEN_FOR - Duration::from_millis(1)).await;
    hammer(&breaker, 10);
    tokio::time::sleep(Duration::from_millis(2)).await;
    assert!(
        breaker.try_acquire().is_ok(),
        "half-open after the second period"
    );
    assert_eq!(breaker.transitions(State::Open, State::HalfOpen), 2);
}

#[tokio::test(start_paused = true)]
async fn an_operator_reset_of_an_armed_breaker_closes_it_and_the_old_timer_is_harmless() {
    let breaker = tripped();
    hammer(&breaker, 100);
    assert_eq!(breaker.reset(), Some(State::Open));
    assert!(breaker.try_acquire().is_ok());
    // Trip again at 5 s (a new generation, open until 15 s), busy enough to arm its own
    // timer; the first period's timer fires at 10 s and must not touch the new period.
    tokio::time::sleep(OPEN_FOR / 2).await;
    breaker.try_acquire().unwrap().failure();
    hammer(&breaker, 100);
    tokio::time::sleep(OPEN_FOR / 2 + Duration::from_millis(1)).await;
    assert_eq!(
        breaker.try_acquire().unwrap_err().state(),
        State::Open,
        "at 10 s the new period has 5 s left"
    );
    tokio::time::sleep(OPEN_FOR / 2).await;
    assert!(breaker.try_acquire().is_ok(), "half-open after 15 s");
}

#[test]
fn a_timer_dropped_with_its_runtime_disarms_the_breaker() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    let breaker = runtime.block_on(async {
        let breaker = tripped();
        hammer(&breaker, 100);
        breaker
    });
    // The runtime goes away with the timer task unfinished.
    drop(runtime);
    // Rejections read the clock again (nothing is stuck armed): under a new paused clock,
    // the deadline passes and the breaker goes half-open.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    runtime.block_on(async {
        let deadline = breaker.snapshot().retry_at.unwrap();
        tokio::time::sleep_until(deadline + Duration::from_millis(1)).await;
        assert!(
            breaker.try_acquire().is_ok(),
            "half-open after the deadline"
        );
    });
}
