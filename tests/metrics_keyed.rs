//! A keyed breaker's metrics, scraped as Prometheus does: the cap on `key` series, keys past
//! it and evicted keys folded into `key="other"` without losing a count, exactly one state
//! series per key with series of its own. Time is tokio's paused clock.
#![cfg(feature = "metrics")]

use std::collections::BTreeMap;
use std::time::Duration;

use prometheus::Registry;
use tower_breakwater::circuit_breaker::{CircuitBreaker, KeyedCircuitBreaker};
use tower_breakwater::metrics::Metrics;

#[path = "support/scrape.rs"]
mod scrape;
use scrape::{render, scrape};

const IDLE: Duration = Duration::from_secs(60);

fn setup(max_keys: usize, max_series: usize) -> (KeyedCircuitBreaker<u64>, Registry) {
    let keyed = CircuitBreaker::builder("hosts")
        .consecutive_failures(2)
        .keyed()
        .max_keys(max_keys)
        .idle_for(IDLE)
        .build()
        .unwrap();
    let registry = Registry::new();
    Metrics::new()
        .keyed_circuit_breaker(&keyed, max_series)
        .register(&registry)
        .unwrap();
    (keyed, registry)
}

/// The samples of one family, by their `key` label.
fn by_key(samples: &BTreeMap<String, f64>, family: &str, rest: &str) -> BTreeMap<String, f64> {
    samples
        .iter()
        .filter(|(series, _)| series.starts_with(&format!("{family}{{")) && series.contains(rest))
        .map(|(series, value)| {
            let key = series
                .split("key=\"")
                .nth(1)
                .and_then(|s| s.split('"').next())
                .expect("a key label");
            (key.to_owned(), *value)
        })
        .collect()
}

fn successes(samples: &BTreeMap<String, f64>) -> BTreeMap<String, f64> {
    by_key(
        samples,
        "keyed_circuit_breaker_calls_total",
        "outcome=\"success\"",
    )
}

fn sum(values: &BTreeMap<String, f64>) -> f64 {
    values.values().sum()
}

#[tokio::test(start_paused = true)]
async fn keys_past_the_cap_fold_into_other_and_the_state_gauge_has_one_series_per_key() {
    let (keyed, registry) = setup(1000, 3);
    for key in 0..10u64 {
        for _ in 0..=key {
            keyed.try_acquire(&key).unwrap().success();
        }
    }
    let samples = scrape(&registry);
    let states = by_key(&samples, "keyed_circuit_breaker_state", "");
    assert_eq!(states.len(), 4, "3 keys + other: {}", render(&registry));
    assert!(states.contains_key("other"));
    let calls = successes(&samples);
    assert_eq!(calls.len(), 4);
    assert_eq!(sum(&calls), 55.0, "every call counted once");
    let own: Vec<&String> = calls.keys().filter(|k| *k != "other").collect();
    let own_sum: f64 = own.iter().map(|k| calls[*k]).sum();
    assert_eq!(calls["other"], 55.0 - own_sum);
    assert_eq!(
        samples[r#"keyed_circuit_breaker_keys{name="hosts",state="closed"}"#],
        10.0
    );

    // Trip one key with a series of its own: its gauge says open; still one series per key.
    let tripped: u64 = own[0].parse().unwrap();
    keyed.try_acquire(&tripped).unwrap().failure();
    keyed.try_acquire(&tripped).unwrap().failure();
    let samples = scrape(&registry);
    let states = by_key(&samples, "keyed_circuit_breaker_state", "");
    assert_eq!(states.len(), 4);
    assert_eq!(states[own[0].as_str()], 1.0);
    assert_eq!(
        samples[r#"keyed_circuit_breaker_keys{name="hosts",state="open"}"#],
        1.0
    );
    // The same keys keep their series from scrape to scrape.
    let again = successes(&samples);
    assert_eq!(
        again.keys().collect::<Vec<_>>(),
        calls.keys().collect::<Vec<_>>()
    );
}

#[tokio::test(start_paused = true)]
async fn evicted_keys_lose_their_series_but_not_their_counts() {
    let (keyed, registry) = setup(1000, 100);
    for key in 0..5u64 {
        keyed.try_acquire(&key).unwrap().success();
    }
    keyed.try_acquire(&0).unwrap().failure();
    keyed.try_acquire(&0).unwrap().failure(); // key 0: open, never evicted
    let before = scrape(&registry);
    assert_eq!(by_key(&before, "keyed_circuit_breaker_state", "").len(), 6);
    let total_before = sum(&successes(&before));

    keyed.evict_idle();
    tokio::time::advance(IDLE).await;
    keyed.try_acquire(&4).unwrap().success(); // key 4: used, stays
    assert_eq!(keyed.evict_idle(), 3, "keys 1, 2, 3");

    let after = scrape(&registry);
    let states = by_key(&after, "keyed_circuit_breaker_state", "");
    let mut keys: Vec<&str> = states.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["0", "4", "other"], "no stale series of evicted keys");
    let calls = successes(&after);
    assert_eq!(sum(&calls), total_before + 1.0, "the sum never goes down");
    assert_eq!(calls["other"], 3.0, "keys 1, 2, 3 folded into other");
    assert_eq!(
        after[r#"keyed_circuit_breaker_evicted_keys_total{name="hosts"}"#],
        3.0
    );
    let failures = by_key(&after, "keyed_circuit_breaker_failures_total", "");
    assert_eq!(failures["0"], 2.0);
    let opened = by_key(
        &after,
        "keyed_circuit_breaker_transitions_total",
        r#"from="closed""#,
    );
    assert!(opened.contains_key("0"));
}

#[tokio::test(start_paused = true)]
async fn a_flood_of_random_keys_keeps_the_series_count_bounded() {
    let (keyed, registry) = setup(200, 20);
    let mut rng = fastrand::Rng::with_seed(3);
    let mut calls = 0.0;
    for round in 0..5 {
        for _ in 0..2_000 {
            keyed.try_acquire(&rng.u64(..)).unwrap().success();
            calls += 1.0;
        }
        let samples = scrape(&registry);
        let states = by_key(&samples, "keyed_circuit_breaker_state", "");
        assert_eq!(states.len(), 21, "round {round}: 20 keys + other");
        assert_eq!(sum(&successes(&samples)), calls, "round {round}");
        let series = samples.len();
        assert!(series < 21 * 20, "round {round}: {series} series");
        tokio::time::advance(IDLE).await;
        keyed.evict_idle();
    }
}
