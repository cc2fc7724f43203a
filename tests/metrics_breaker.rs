//! The circuit breaker's metrics across a trip and a recovery, scraped as Prometheus does:
//! rendered by the text encoder, then read back, value by value. Time is tokio's paused
//! clock.
#![cfg(feature = "metrics")]

use std::collections::BTreeMap;
use std::time::Duration;

use prometheus::Registry;
use tokio::time::advance;
use tower_breakwater::circuit_breaker::CircuitBreaker;
use tower_breakwater::metrics::{Error, Metrics};

#[path = "support/scrape.rs"]
mod scrape;
use scrape::{render, scrape};

/// The breaker's whole set of series, named `payments`, as expected.
struct Expected {
    state: f64,
    seconds: f64,
    calls: [f64; 5],
    failures: f64,
    transitions: Vec<(&'static str, &'static str, f64)>,
}

impl Expected {
    fn series(&self) -> BTreeMap<String, f64> {
        let mut map = BTreeMap::new();
        map.insert(
            r#"circuit_breaker_state{name="payments"}"#.to_owned(),
            self.state,
        );
        map.insert(
            r#"circuit_breaker_state_seconds{name="payments"}"#.to_owned(),
            self.seconds,
        );
        let outcomes = ["success", "failure", "rejected", "ignored", "cancelled"];
        for (outcome, value) in outcomes.into_iter().zip(self.calls) {
            map.insert(
                format!(r#"circuit_breaker_calls_total{{name="payments",outcome="{outcome}"}}"#),
                value,
            );
        }
        map.insert(
            r#"circuit_breaker_failures_total{name="payments"}"#.to_owned(),
            self.failures,
        );
        for (from, to, value) in &self.transitions {
            map.insert(
                format!(
                    r#"circuit_breaker_transitions_total{{from="{from}",name="payments",to="{to}"}}"#
                ),
                *value,
            );
        }
        map
    }
}

/// The four automatic transitions, with counts; operator moves appended by the caller.
fn automatic(
    closed_open: f64,
    open_half: f64,
    half_closed: f64,
    half_open: f64,
) -> Vec<(&'static str, &'static str, f64)> {
    vec![
        ("closed", "open", closed_open),
        ("open", "half_open", open_half),
        ("half_open", "closed", half_closed),
        ("half_open", "open", half_open),
    ]
}

#[track_caller]
fn assert_scrape(registry: &Registry, expected: Expected) {
    assert_eq!(scrape(registry), expected.series());
}

#[tokio::test(start_paused = true)]
async fn counts_and_state_across_a_trip_and_a_recovery() {
    let breaker = CircuitBreaker::builder("payments")
        .consecutive_failures(2)
        .open_for(Duration::from_secs(10))
        .half_open_permits(1)
        .success_threshold(1)
        .build()
        .unwrap();
    let registry = Registry::new();
    Metrics::new()
        .circuit_breaker(&breaker)
        .register(&registry)
        .unwrap();

    // Before any call: every series there, at zero (so `rate()` sees the first increment).
    assert_scrape(
        &registry,
        Expected {
            state: 0.0,
            seconds: 0.0,
            calls: [0.0; 5],
            failures: 0.0,
            transitions: automatic(0.0, 0.0, 0.0, 0.0),
        },
    );

    // Closed: success, ignored, cancelled, failure, success (ends the run), two failures
    // (the second trips it).
    breaker.try_acquire().unwrap().success();
    breaker.try_acquire().unwrap().ignore();
    drop(breaker.try_acquire().unwrap());
    breaker.try_acquire().unwrap().failure();
    breaker.try_acquire().unwrap().success();
    advance(Duration::from_secs(3)).await;
    breaker.try_acquire().unwrap().failure();
    breaker.try_acquire().unwrap().failure();
    advance(Duration::from_secs(4)).await;
    assert_scrape(
        &registry,
        Expected {
            state: 1.0,
            seconds: 4.0,
            calls: [2.0, 3.0, 0.0, 1.0, 1.0],
            failures: 3.0,
            transitions: automatic(1.0, 0.0, 0.0, 0.0),
        },
    );

    // Open: rejected.
    assert!(breaker.try_acquire().is_err());
    assert!(breaker.try_acquire().is_err());
    // After open_for: one trial; a second caller is rejected; the trial fails.
    advance(Duration::from_secs(6)).await;
    let trial = breaker.try_acquire().expect("the trial");
    assert!(breaker.try_acquire().is_err());
    advance(Duration::from_millis(1500)).await;
    assert_scrape(
        &registry,
        Expected {
            state: 2.0,
            seconds: 1.5,
            calls: [2.0, 3.0, 3.0, 1.0, 1.0],
            failures: 3.0,
            transitions: automatic(1.0, 1.0, 0.0, 0.0),
        },
    );
    trial.failure();
    assert_scrape(
        &registry,
        Expected {
            state: 1.0,
            seconds: 0.0,
            calls: [2.0, 4.0, 3.0, 1.0, 1.0],
            failures: 4.0,
            transitions: automatic(1.0, 1.0, 0.0, 1.0),
        },
    );

    // Recovery: the next trial succeeds and closes it.
    advance(Duration::from_secs(10)).await;
    breaker.try_acquire().expect("the trial").success();
    advance(Duration::from_secs(60)).await;
    assert_scrape(
        &registry,
        Expected {
            state: 0.0,
            seconds: 60.0,
            calls: [3.0, 4.0, 3.0, 1.0, 1.0],
            failures: 4.0,
            transitions: automatic(1.0, 2.0, 1.0, 1.0),
        },
    );
}

#[tokio::test(start_paused = true)]
async fn operator_states_and_failures_that_do_not_count_toward_opening() {
    let breaker = CircuitBreaker::builder("payments").build().unwrap();
    let registry = Registry::new();
    Metrics::new()
        .circuit_breaker(&breaker)
        .register(&registry)
        .unwrap();

    breaker.force_open();
    assert!(breaker.try_acquire().is_err());
    let forced = scrape(&registry);
    assert_eq!(forced[r#"circuit_breaker_state{name="payments"}"#], 3.0);

    breaker.disable();
    breaker.try_acquire().unwrap().failure(); // disabled: a failure, but not toward opening
    advance(Duration::from_secs(2)).await;
    let mut transitions = automatic(0.0, 0.0, 0.0, 0.0);
    transitions.push(("closed", "forced_open", 1.0));
    transitions.push(("forced_open", "disabled", 1.0));
    assert_scrape(
        &registry,
        Expected {
            state: 4.0,
            seconds: 2.0,
            calls: [0.0, 1.0, 1.0, 0.0, 0.0],
            failures: 0.0,
            transitions: transitions.clone(),
        },
    );

    breaker.reset();
    transitions.push(("disabled", "closed", 1.0));
    assert_scrape(
        &registry,
        Expected {
            state: 0.0,
            seconds: 0.0,
            calls: [0.0, 1.0, 1.0, 0.0, 0.0],
            failures: 0.0,
            transitions,
        },
    );
}

#[test]
fn namespace_prefixes_every_name() {
    let breaker = CircuitBreaker::builder("payments").build().unwrap();
    let registry = Registry::new();
    Metrics::new()
        .namespace("shop")
        .circuit_breaker(&breaker)
        .register(&registry)
        .unwrap();
    let names: Vec<String> = registry
        .gather()
        .iter()
        .map(|f| f.name().to_owned())
        .collect();
    assert_eq!(
        names,
        [
            "shop_circuit_breaker_calls_total",
            "shop_circuit_breaker_failures_total",
            "shop_circuit_breaker_state",
            "shop_circuit_breaker_state_seconds",
            "shop_circuit_breaker_transitions_total",
        ]
    );
}

#[test]
fn two_breakers_share_the_families_one_series_each() {
    let registry = Registry::new();
    let db = CircuitBreaker::builder("db").build().unwrap();
    let cache = CircuitBreaker::builder("cache").build().unwrap();
    Metrics::new()
        .circuit_breaker(&db)
        .register(&registry)
        .unwrap();
    Metrics::new()
        .circuit_breaker(&cache)
        .register(&registry)
        .unwrap();
    cache.force_open();
    let samples = scrape(&registry);
    assert_eq!(samples[r#"circuit_breaker_state{name="db"}"#], 0.0);
    assert_eq!(samples[r#"circuit_breaker_state{name="cache"}"#], 3.0);
    let states = samples
        .keys()
        .filter(|series| series.starts_with("circuit_breaker_state{"))
        .count();
    assert_eq!(states, 2, "exactly one state series per breaker");
}

#[tokio::test(start_paused = true)]
async fn registering_a_name_twice_is_an_error_and_adds_nothing() {
    let registry = Registry::new();
    let breaker = CircuitBreaker::builder("payments").build().unwrap();
    Metrics::new()
        .circuit_breaker(&breaker)
        .register(&registry)
        .unwrap();
    let before = render(&registry);

    // The same handle again.
    let again = Metrics::new()
        .circuit_breaker(&breaker)
        .register(&registry)
        .unwrap_err();
    assert!(again.is_already_registered());
    assert_eq!(
        again.to_string(),
        "metrics of circuit breaker 'payments' are already registered in this registry"
    );

    // Another breaker with the same name, listed after a new one: neither goes in.
    let fresh = CircuitBreaker::builder("fresh").build().unwrap();
    let twin = CircuitBreaker::builder("payments").build().unwrap();
    let err = Metrics::new()
        .circuit_breaker(&fresh)
        .circuit_breaker(&twin)
        .register(&registry)
        .unwrap_err();
    assert!(
        matches!(&err, Error::AlreadyRegistered { layer: "circuit breaker", name } if name == "payments")
    );
    assert_eq!(render(&registry), before, "all or nothing");

    // The rolled-back one can still be registered on its own.
    Metrics::new()
        .circuit_breaker(&fresh)
        .register(&registry)
        .unwrap();

    // Twice in one list is the same error.
    let other = Registry::new();
    let err = Metrics::new()
        .circuit_breaker(&breaker)
        .circuit_breaker(&breaker)
        .register(&other)
        .unwrap_err();
    assert!(err.is_already_registered());
    assert!(other.gather().is_empty());
}

#[test]
fn a_bad_namespace_is_an_error() {
    let breaker = CircuitBreaker::builder("payments").build().unwrap();
    for bad in ["", "my-app", "1st", "a:b"] {
        let err = Metrics::new()
            .namespace(bad)
            .circuit_breaker(&breaker)
            .register(&Registry::new())
            .unwrap_err();
        assert!(
            matches!(&err, Error::InvalidNamespace(ns) if ns == bad),
            "{bad}: {err}"
        );
    }
}

/// Call durations, asked for: the admitted calls that finished are timed, failures
/// included; rejected and cancelled calls are not.
#[tokio::test(start_paused = true)]
async fn call_durations_time_the_calls_that_finished() {
    use tower::{service_fn, Layer, Service, ServiceExt};

    let breaker = CircuitBreaker::builder("payments")
        .consecutive_failures(1)
        .open_for(Duration::from_secs(10))
        .build()
        .unwrap();
    let registry = Registry::new();
    Metrics::new()
        .circuit_breaker(&breaker)
        .call_durations(&[0.05, 0.5])
        .register(&registry)
        .unwrap();
    let mut svc = breaker.layer().layer(service_fn(|ms: u64| async move {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        match ms {
            100 => Err("slow and failed"),
            _ => Ok(ms),
        }
    }));

    // Cancelled after 30 ms: not timed.
    let call = svc.ready().await.unwrap().call(1_000);
    let cancelled = tokio::time::timeout(Duration::from_millis(30), call).await;
    assert!(
        cancelled.is_err(),
        "the 1 s call was cut at 30 ms: {cancelled:?}"
    );
    // 10 ms success, then a 100 ms failure that opens the breaker.
    svc.ready().await.unwrap().call(10).await.unwrap();
    svc.ready().await.unwrap().call(100).await.unwrap_err();
    // Rejected: not timed.
    svc.ready().await.unwrap().call(10).await.unwrap_err();

    let samples = scrape(&registry);
    let series = |s: &str| samples.get(s).copied();
    assert_eq!(
        series(r#"circuit_breaker_call_duration_seconds_count{name="payments"}"#),
        Some(2.0)
    );
    assert_eq!(
        series(r#"circuit_breaker_call_duration_seconds_bucket{name="payments",le="0.05"}"#),
        Some(1.0)
    );
    assert_eq!(
        series(r#"circuit_breaker_call_duration_seconds_bucket{name="payments",le="0.5"}"#),
        Some(2.0)
    );
    let sum = series(r#"circuit_breaker_call_duration_seconds_sum{name="payments"}"#).unwrap();
    assert!((sum - 0.11).abs() < 1e-9, "{sum}");
}

#[test]
fn call_durations_are_off_unless_asked_for_and_bad_buckets_are_an_error() {
    let breaker = CircuitBreaker::builder("payments").build().unwrap();
    let registry = Registry::new();
    Metrics::new()
        .circuit_breaker(&breaker)
        .register(&registry)
        .unwrap();
    breaker.try_acquire().unwrap().success();
    assert!(!render(&registry).contains("duration"));

    let other = CircuitBreaker::builder("db").build().unwrap();
    let err = Metrics::new()
        .circuit_breaker(&other)
        .call_durations(&[1.0, 0.5])
        .register(&Registry::new())
        .unwrap_err();
    assert!(matches!(err, Error::Prometheus(_)), "{err}");
}
