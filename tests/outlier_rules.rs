//! Envoy's outlier rules on the paused clock, each against a hand-computed expectation.
//! Sweeps run every 10 s from the detector's start (t = 10, 20, 30, ...); an ejection ends
//! at the first sweep at or after its end.
#![cfg(feature = "outlier")]

use std::time::Duration;

use tokio::time::{sleep, Instant};
use tower_breakwater::outlier::{Builder, CallOutcome, EjectionReason, Endpoint, OutlierDetector};

use CallOutcome::{GatewayFailure, ServerError, Success};

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

/// Sleep until `t` seconds after `start` (the detector's start).
async fn at(start: Instant, t: f64) {
    tokio::time::sleep_until(start + secs(t)).await;
}

fn fail(endpoint: &Endpoint, n: usize, outcome: CallOutcome) {
    for _ in 0..n {
        endpoint.record(outcome);
    }
}

fn pool(builder: Builder, n: usize) -> (OutlierDetector, Vec<Endpoint>, Instant) {
    let start = Instant::now();
    let detector = builder.build().unwrap();
    let endpoints = (0..n).map(|i| detector.endpoint(format!("e{i}"))).collect();
    (detector, endpoints, start)
}

fn brief() -> Builder {
    OutlierDetector::builder("payments")
        .interval(Duration::from_secs(10))
        .base_ejection_time(Duration::from_secs(30))
        .max_ejection_percent(50)
}

#[tokio::test(start_paused = true)]
async fn five_server_errors_in_a_row_eject_until_the_first_sweep_after_base_time() {
    let (detector, e, start) = pool(brief(), 6);
    at(start, 5.0).await;
    fail(&e[0], 4, ServerError);
    e[0].record(Success); // the streak ends
    fail(&e[0], 4, ServerError);
    assert!(!e[0].is_ejected());
    e[0].record(ServerError); // the fifth in a row
    assert!(e[0].is_ejected());
    assert_eq!(detector.ejections(EjectionReason::Consecutive5xx), 1);
    // Ejected at 5 s for 30 s: ends at 35 s, so at the sweep of 40 s.
    at(start, 39.9).await;
    assert!(e[0].is_ejected());
    assert_eq!(detector.snapshot()[0].ejected_for, Some(Duration::ZERO));
    at(start, 40.1).await;
    assert!(!e[0].is_ejected());
    assert_eq!(detector.ejected(), 0);
}

#[tokio::test(start_paused = true)]
async fn ejection_time_grows_with_ejections_in_a_row_and_is_capped() {
    let builder = brief().max_ejection_time(Duration::from_secs(60));
    let (detector, e, start) = pool(builder, 6);
    at(start, 5.0).await;
    fail(&e[0], 5, ServerError); // 1st: 30 s, until 35 → back at 40
    at(start, 40.1).await;
    assert!(!e[0].is_ejected());
    fail(&e[0], 5, ServerError); // 2nd in a row: 2 × 30 = 60 s, until 100.1 → back at 110
    assert_eq!(detector.snapshot()[0].times_ejected, 2);
    at(start, 109.9).await;
    assert!(e[0].is_ejected());
    at(start, 110.1).await;
    assert!(!e[0].is_ejected());
    fail(&e[0], 5, ServerError); // 3rd: 3 × 30 = 90 s, capped at 60 s: until 170.1 → 180
    assert_eq!(detector.snapshot()[0].ejected_for, Some(secs(60.0)));
    at(start, 179.9).await;
    assert!(e[0].is_ejected());
    at(start, 180.1).await;
    assert!(!e[0].is_ejected());
}

#[tokio::test(start_paused = true)]
async fn the_multiplier_drops_by_one_per_healthy_interval() {
    let (detector, e, start) = pool(brief(), 6);
    at(start, 5.0).await;
    fail(&e[0], 5, ServerError); // back at 40, multiplier 1
    at(start, 40.1).await;
    fail(&e[0], 5, ServerError); // multiplier 2, 60 s: back at 110
    at(start, 110.1).await;
    assert_eq!(detector.snapshot()[0].times_ejected, 2);
    // In the pool for the whole interval 110 → 120: one less at the sweep of 120.
    at(start, 120.1).await;
    assert_eq!(detector.snapshot()[0].times_ejected, 1);
    at(start, 130.1).await;
    assert_eq!(detector.snapshot()[0].times_ejected, 0);
    // So the next ejection is a first one again: 30 s, until 160.1 → back at 170.
    fail(&e[0], 5, ServerError);
    assert_eq!(detector.snapshot()[0].ejected_for, Some(secs(30.0)));
    at(start, 169.9).await;
    assert!(e[0].is_ejected());
    at(start, 170.1).await;
    assert!(!e[0].is_ejected());
}

#[tokio::test(start_paused = true)]
async fn max_ejection_percent_caps_and_the_refused_endpoint_is_ejected_once_room_frees() {
    // 6 endpoints at 50 %: a third ejection makes 3/6 = 50 % (allowed), a fourth 4/6.
    let (detector, e, start) = pool(brief(), 6);
    at(start, 1.0).await;
    for endpoint in &e[..3] {
        fail(endpoint, 5, GatewayFailure);
    }
    assert_eq!(detector.ejected(), 3);
    at(start, 12.0).await;
    fail(&e[3], 5, GatewayFailure);
    assert!(!e[3].is_ejected());
    assert_eq!(detector.cap_refusals(), 1);
    fail(&e[3], 2, GatewayFailure); // each further failure asks again
    assert_eq!(detector.cap_refusals(), 3);
    assert_eq!(detector.ejected(), 3);
    // The three come back at 40 s (ejected at 1 s for 30 s, swept at 40 s).
    at(start, 40.1).await;
    assert_eq!(detector.ejected(), 0);
    e[3].record(GatewayFailure); // its streak is 8: ejected now
    assert!(e[3].is_ejected());
}

#[tokio::test(start_paused = true)]
async fn one_endpoint_may_always_be_ejected() {
    // Envoy's default 10 % of 3 endpoints is 0.3 of one: the first is ejected anyway.
    let (detector, e, _) = pool(OutlierDetector::builder("db"), 3);
    fail(&e[0], 5, ServerError);
    assert!(e[0].is_ejected());
    fail(&e[1], 5, ServerError);
    assert!(!e[1].is_ejected());
    assert_eq!((detector.ejected(), detector.cap_refusals()), (1, 1));
}

#[tokio::test(start_paused = true)]
async fn gateway_rule_is_off_by_default_and_counts_only_gateway_failures() {
    let (detector, e, _) = pool(brief(), 6);
    // 500s end the gateway streak: four 503, a 500, four 503 never reach 5 gateway
    // failures in a row, but are 9 server errors in a row: the 5xx rule ejects at the 5th.
    let builder = brief()
        .consecutive_5xx(5, 0)
        .consecutive_gateway_failure(5, 100)
        .min_health_percent(0);
    let (gw, g, _) = pool(builder, 6);
    fail(&g[0], 4, GatewayFailure);
    g[0].record(ServerError);
    fail(&g[0], 4, GatewayFailure);
    assert!(!g[0].is_ejected());
    // The 5xx rule detected at the 5th in a row (enforced 0 %: not ejected, and not
    // detected again for the same streak).
    assert_eq!(gw.detections(EjectionReason::Consecutive5xx), 1);
    g[0].record(GatewayFailure); // 5 gateway failures in a row
    assert!(g[0].is_ejected());
    assert_eq!(gw.ejections(EjectionReason::ConsecutiveGatewayFailure), 1);
    // By default (gateway rule at 0 %), five 503s eject through the 5xx rule.
    fail(&e[0], 5, GatewayFailure);
    assert_eq!(detector.ejections(EjectionReason::Consecutive5xx), 1);
    assert_eq!(
        detector.ejections(EjectionReason::ConsecutiveGatewayFailure),
        0
    );
    assert_eq!(
        detector.detections(EjectionReason::ConsecutiveGatewayFailure),
        1
    );
}

/// 40 successes and 60 failures, never more than two failures in a row.
fn forty_percent(endpoint: &Endpoint) {
    for _ in 0..20 {
        fail(endpoint, 2, ServerError);
        endpoint.record(Success);
    }
    for _ in 0..20 {
        endpoint.record(ServerError);
        endpoint.record(Success);
    }
}

#[tokio::test(start_paused = true)]
async fn success_rate_below_mean_minus_factor_sigma_is_ejected_at_the_sweep() {
    // Rates 100 ×5 and 40 %: mean 90, σ = √500 = 22.36, threshold 90 − 1.9σ = 47.5.
    let (detector, e, start) = pool(brief(), 6);
    for endpoint in &e[..5] {
        fail(endpoint, 100, Success);
    }
    forty_percent(&e[5]);
    assert!(!e[5].is_ejected());
    at(start, 10.1).await;
    assert!(e[5].is_ejected());
    assert_eq!(detector.ejections(EjectionReason::SuccessRate), 1);
    // The next interval starts from zero: no volume, no success-rate ejection.
    at(start, 20.1).await;
    assert_eq!(detector.detections(EjectionReason::SuccessRate), 1);
}

#[tokio::test(start_paused = true)]
async fn success_rate_needs_five_hosts_with_a_hundred_requests_and_detect_only_ejects_none() {
    let (detector, e, start) = pool(brief(), 6);
    for endpoint in &e[..3] {
        fail(endpoint, 100, Success);
    }
    // One short of the volume: three valid hosts + the bad one, fewer than five.
    fail(&e[3], 99, Success);
    fail(&e[4], 99, Success);
    forty_percent(&e[5]);
    at(start, 10.1).await;
    assert_eq!(detector.detections(EjectionReason::SuccessRate), 0);

    let (detector, e, start) = pool(brief().success_rate(1.9, 5, 100, 0), 6);
    for endpoint in &e[..5] {
        fail(endpoint, 100, Success);
    }
    forty_percent(&e[5]);
    at(start, 10.1).await;
    assert_eq!(detector.detections(EjectionReason::SuccessRate), 1);
    assert_eq!(detector.ejected(), 0);
}

#[tokio::test(start_paused = true)]
async fn failure_percentage_at_the_threshold_is_ejected() {
    let builder = brief()
        .consecutive_5xx(1000, 100)
        .success_rate(1.9, 5, 100, 0)
        .failure_percentage(85, 5, 50, 100);
    let (detector, e, start) = pool(builder, 6);
    for endpoint in &e[..4] {
        fail(endpoint, 50, Success);
    }
    fail(&e[4], 85, ServerError); // 85 %: at the threshold
    fail(&e[4], 15, Success);
    fail(&e[5], 84, ServerError); // 84 %: below
    fail(&e[5], 16, Success);
    at(start, 10.1).await;
    assert!(e[4].is_ejected());
    assert!(!e[5].is_ejected());
    assert_eq!(detector.ejections(EjectionReason::FailurePercentage), 1);
}

#[tokio::test(start_paused = true)]
async fn below_min_health_percent_the_pool_panics_and_ejection_is_ignored() {
    // 4 endpoints, min health 50 %: 2 ejected leave 2/4 = 50 % healthy (no panic), 3
    // ejected leave 25 % (panic).
    let builder = brief().max_ejection_percent(100).min_health_percent(50);
    let (detector, e, start) = pool(builder, 4);
    fail(&e[0], 5, ServerError);
    fail(&e[1], 5, ServerError);
    assert!(!detector.panicking());
    fail(&e[2], 5, ServerError);
    assert!(detector.panicking());
    // At 30 s all three return (swept at 30 s): healthy again.
    at(start, 30.1).await;
    assert!(!detector.panicking());
    assert_eq!(detector.ejected(), 0);
}

#[tokio::test(start_paused = true)]
async fn endpoints_leave_with_their_state() {
    let (detector, mut e, _) = pool(brief(), 6);
    fail(&e[0], 5, ServerError);
    assert_eq!((detector.endpoints(), detector.ejected()), (6, 1));
    e.remove(0);
    assert_eq!((detector.endpoints(), detector.ejected()), (5, 0));
    let again = detector.endpoint("e0");
    assert!(!again.is_ejected());
    assert_eq!(detector.snapshot().len(), 6);
    drop(detector);
    sleep(Duration::from_secs(1)).await;
}
