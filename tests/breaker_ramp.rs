//! The half-open ramp: each stage admits its share of the calls for `stage_for`, the
//! breaker closes after the last stage, and a failure on the way reopens it. Paused clock.

use std::time::Duration;

use tower::{service_fn, Layer, Service, ServiceExt};
use tower_breakwater::circuit_breaker::{CircuitBreaker, Error, State};

const STAGE: Duration = Duration::from_secs(10);
const OPEN_FOR: Duration = Duration::from_secs(30);
const SHARES: [f64; 4] = [0.01, 0.05, 0.25, 0.5];

fn ramped() -> CircuitBreaker {
    CircuitBreaker::builder("ramped")
        .consecutive_failures(1)
        .open_for(OPEN_FOR)
        .half_open_ramp(&SHARES, STAGE)
        .build()
        .unwrap()
}

/// Trip, wait out the open period, and make the call that starts the ramp.
async fn start_ramp(breaker: &CircuitBreaker) {
    breaker.try_acquire().unwrap().failure();
    assert_eq!(breaker.state(), State::Open);
    tokio::time::advance(OPEN_FOR).await;
    breaker
        .try_acquire()
        .expect("the first call after open_for")
        .success();
    assert_eq!(breaker.state(), State::HalfOpen);
}

/// `calls` attempts now: how many were admitted (each admitted call succeeds).
fn admitted_of(breaker: &CircuitBreaker, calls: u32) -> u32 {
    let mut admitted = 0;
    for _ in 0..calls {
        match breaker.try_acquire() {
            Ok(permit) => {
                permit.success();
                admitted += 1;
            }
            Err(rejected) => assert_eq!(rejected.state(), State::HalfOpen),
        }
    }
    admitted
}

#[tokio::test(start_paused = true)]
async fn each_stage_admits_its_share_then_the_breaker_closes() {
    let breaker = ramped();
    start_ramp(&breaker).await;
    // 10,000 calls per stage: the admitted count is within 5 standard deviations of
    // share × 10,000 (binomial), far apart from one stage to the next.
    for share in SHARES {
        let admitted = f64::from(admitted_of(&breaker, 10_000));
        let expected = share * 10_000.0;
        let sd = (10_000.0 * share * (1.0 - share)).sqrt();
        assert!(
            (admitted - expected).abs() <= 5.0 * sd,
            "share {share}: {admitted} admitted of 10000"
        );
        assert_eq!(
            breaker.state(),
            State::HalfOpen,
            "successes do not close it"
        );
        tokio::time::advance(STAGE).await;
    }
    // After the last stage, the next call closes the breaker and goes through.
    assert_eq!(admitted_of(&breaker, 100), 100);
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(breaker.transitions(State::HalfOpen, State::Closed), 1);
}

#[tokio::test(start_paused = true)]
async fn a_failure_in_any_stage_reopens_and_the_next_ramp_starts_over() {
    for failing_stage in 0..SHARES.len() as u32 {
        let breaker = ramped();
        start_ramp(&breaker).await;
        tokio::time::advance(STAGE * failing_stage).await;
        let permit = loop {
            if let Ok(permit) = breaker.try_acquire() {
                break permit;
            }
        };
        permit.failure();
        assert_eq!(breaker.state(), State::Open, "stage {failing_stage}");
        let rejected = breaker.try_acquire().unwrap_err();
        assert_eq!(rejected.retry_after(), Some(OPEN_FOR));

        // The next episode starts at the first stage again.
        tokio::time::advance(OPEN_FOR).await;
        breaker.try_acquire().unwrap().success();
        let admitted = admitted_of(&breaker, 10_000);
        assert!(admitted <= 200, "first stage again: {admitted}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_quiet_ramp_closes_at_the_first_call_after_its_last_stage() {
    let breaker = ramped();
    start_ramp(&breaker).await;
    tokio::time::advance(STAGE * 40).await;
    assert_eq!(breaker.state(), State::HalfOpen, "nothing called yet");
    breaker.try_acquire().unwrap().success();
    assert_eq!(breaker.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn the_layer_refuses_what_the_stage_does_not_admit() {
    let breaker = ramped();
    let mut svc = breaker.layer().layer(service_fn(
        |x: u32| async move { Ok::<_, std::io::Error>(x) },
    ));
    start_ramp(&breaker).await;
    let (mut ok, mut refused) = (0, 0);
    for x in 0..2_000 {
        match svc.ready().await.unwrap().call(x).await {
            Ok(_) => ok += 1,
            Err(Error::Rejected(r)) => {
                assert_eq!(r.into_request(), Some(x));
                refused += 1;
            }
            Err(Error::Inner(e)) => panic!("{e}"),
        }
    }
    assert_eq!(ok + refused, 2_000);
    assert!(ok <= 80 && refused >= 1_920, "stage 1 (1%): {ok} passed");
}

#[tokio::test(start_paused = true)]
async fn the_default_half_open_is_unchanged() {
    let breaker = CircuitBreaker::builder("plain")
        .consecutive_failures(1)
        .open_for(OPEN_FOR)
        .build()
        .unwrap();
    breaker.try_acquire().unwrap().failure();
    tokio::time::advance(OPEN_FOR).await;
    let trials = [breaker.try_acquire(), breaker.try_acquire()];
    assert!(trials.iter().all(Result::is_ok), "two trial permits");
    assert!(breaker.try_acquire().is_err(), "a third is refused");
    for trial in trials {
        trial.unwrap().success();
    }
    assert_eq!(breaker.state(), State::Closed, "two successes close it");
}
