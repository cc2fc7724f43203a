//! The benchmark's bookkeeping, checked on made-up runs: which phase a moment falls in,
//! percentiles, A's protocol lines, and what a summary makes of breaker transitions.

use std::time::Duration;

use crate::load::{Outcome as Seen, Record, Route};
use crate::run::{Outcome, Sample, Tally};
use crate::scenario::{CallerMode, Health, Scenario};
use crate::stats::{percentile, Summary};

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

fn scenario() -> Scenario {
    Scenario::full(secs(10.0), CallerMode::KeepAlive, None)
}

#[test]
fn phases_follow_the_design_and_scale() {
    let s = scenario();
    let healths: Vec<Health> = s.phases.iter().map(|p| p.health).collect();
    assert_eq!(
        healths,
        [
            Health::Healthy,
            Health::Hanging,
            Health::Errors,
            Health::Slow,
            Health::Healthy
        ]
    );
    assert_eq!(s.total(), secs(25.0));
    assert_eq!(s.outage_start(), secs(3.0));
    assert_eq!(s.recovery_start(), secs(19.0));
    assert_eq!(s.hang(), secs(10.0));
    assert_eq!(s.health_at(secs(12.999)), Health::Hanging);
    assert_eq!(s.health_at(secs(13.0)), Health::Errors);
    assert_eq!(
        s.phase_index(secs(99.0)),
        4,
        "after the end: the last phase"
    );
    assert_eq!(s.phases[4].label(4), "recovered");

    let half = Scenario::new(0.5, [1.0, 12.0, 2.0, 2.0, 2.0], CallerMode::KeepAlive, None);
    assert_eq!(half.total(), secs(9.5));
    assert_eq!(half.slow_answer, secs(1.0));
    assert_eq!(half.scaled(secs(1.0)), secs(0.5));
}

#[test]
fn percentile_is_nearest_rank() {
    let mut values: Vec<Duration> = (1..=100).rev().map(Duration::from_millis).collect();
    assert_eq!(percentile(&mut values, 0.5), Duration::from_millis(50));
    assert_eq!(percentile(&mut values, 0.99), Duration::from_millis(99));
    assert_eq!(percentile(&mut values, 0.999), Duration::from_millis(100));
    assert_eq!(percentile(&mut [], 0.99), Duration::ZERO);
}

#[test]
fn a_tally_line_reads_back() {
    let t = Tally::parse_line(
        "END started=10 charged=3 deferred=5 errors=1 stored=5 deferred_micros=7500",
    )
    .unwrap();
    assert_eq!(
        (t.started, t.charged, t.deferred, t.errors, t.stored),
        (10, 3, 5, 1, 5)
    );
    assert_eq!(t.abandoned(), 1, "one handler dropped before it answered");
    assert_eq!(t.mean_deferral(), Duration::from_micros(1500));
    assert!(Tally::parse_line("END started=ten").is_none());
}

/// A run whose breaker opened during the outage and closed `closed_after` heal.
fn run_with(transitions: &[(f64, &str)]) -> Outcome {
    let scenario = scenario();
    let mut records = Vec::new();
    for i in 0..250 {
        let due = secs(f64::from(i) * 0.1);
        let outage = scenario.health_at(due).is_outage();
        records.push(Record {
            due,
            route: if i % 5 == 0 {
                Route::Checkout
            } else {
                Route::Browse
            },
            outcome: if outage && i % 5 == 0 {
                Seen::Deferred
            } else {
                Seen::Ok
            },
            latency: Duration::from_millis(1),
        });
    }
    let flat = |value| {
        vec![Sample {
            at: secs(5.0),
            value,
        }]
    };
    Outcome {
        config: "made-up".into(),
        records,
        in_flight: flat(7),
        held: flat(5),
        fds: flat(40),
        rss: flat(1_000_000),
        transitions: transitions
            .iter()
            .map(|(at, state)| (secs(*at), state.to_string()))
            .collect(),
        reached: vec![6, 3, 1, 0, 12],
        tally: Tally::default(),
        scenario,
    }
}

#[test]
fn summary_times_the_breaker_from_the_outage_and_from_the_heal() {
    let run = run_with(&[
        (4.0, "Open"),
        (5.0, "HalfOpen"),
        (5.0, "Open"),
        (19.5, "Closed"),
    ]);
    let s = Summary::of(&run);
    assert_eq!(s.opened_after, Some(secs(1.0)));
    assert_eq!(s.closed_after, Some(secs(0.5)));
    assert!(s.has_breaker);
    // 16 s of outage at one checkout per 0.5 s: 32 checkouts, all deferred; 4 reached.
    assert_eq!(s.outage.checkouts, 32);
    assert_eq!(s.outage.deferred, 32);
    assert_eq!(s.outage.reached, 4);
    assert_eq!(s.outage.peak_held, 5);
    assert_eq!(s.recovered().checkouts, 12);
    assert_eq!(s.recovered().not_charged_share(), 0.0);
}

#[test]
fn a_breaker_closed_before_the_heal_took_no_time_and_one_never_closed_has_none() {
    let closed_early = Summary::of(&run_with(&[(4.0, "Open"), (12.0, "Closed")]));
    assert_eq!(closed_early.closed_after, Some(Duration::ZERO));
    let never = Summary::of(&run_with(&[(4.0, "Open")]));
    assert_eq!(never.closed_after, None);
    let no_breaker = Summary::of(&run_with(&[]));
    assert!(!no_breaker.has_breaker);
    assert_eq!(no_breaker.opened_after, None);
}
