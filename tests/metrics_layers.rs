//! The metrics of the bulkhead, retry, timeout and fallback layers after scripted
//! scenarios on tokio's paused clock, and the whole exposition read back by an independent
//! parser of the Prometheus text format.
#![cfg(feature = "metrics")]

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus::Registry;
use tokio::sync::oneshot;
use tokio::time::{advance, sleep};
use tower::{service_fn, BoxError, Layer, Service, ServiceExt};
use tower_breakwater::bulkhead::Bulkhead;
use tower_breakwater::circuit_breaker::CircuitBreaker;
use tower_breakwater::fallback::Fallback;
use tower_breakwater::metrics::Metrics;
use tower_breakwater::retry::{Backoff, Budget, Jitter, RetryLayer};
use tower_breakwater::timeout::TimeoutLayer;
use tower_breakwater::{Error, ErrorKind};

#[path = "support/scrape.rs"]
mod scrape;
use scrape::{render, scrape};

fn expected(samples: &[(&str, f64)]) -> BTreeMap<String, f64> {
    samples.iter().map(|(s, v)| (s.to_string(), *v)).collect()
}

#[tokio::test(start_paused = true)]
async fn bulkhead_in_flight_waiting_and_refusals() {
    let bulkhead = Bulkhead::builder("db")
        .max_concurrent(1)
        .max_waiting(1)
        .max_wait(Duration::from_secs(1))
        .build()
        .unwrap();
    let registry = Registry::new();
    Metrics::new()
        .bulkhead(&bulkhead)
        .register(&registry)
        .unwrap();
    let inner = service_fn(|done: oneshot::Receiver<()>| async move {
        let _ = done.await;
        Ok::<_, BoxError>(())
    });

    // One call in flight, one waiting, one refused at once.
    let (finish, first) = oneshot::channel();
    let running = tokio::spawn(bulkhead.layer().layer(inner).oneshot(first));
    tokio::task::yield_now().await;
    let (_keep, second) = oneshot::channel();
    let waiting = tokio::spawn(bulkhead.layer().layer(inner).oneshot(second));
    tokio::task::yield_now().await;
    let (_keep3, third) = oneshot::channel();
    assert!(bulkhead.layer().layer(inner).oneshot(third).await.is_err());
    assert_eq!(
        scrape(&registry),
        expected(&[
            (r#"bulkhead_in_flight{name="db"}"#, 1.0),
            (r#"bulkhead_max_concurrent{name="db"}"#, 1.0),
            (r#"bulkhead_rejected_total{name="db"}"#, 1.0),
            (r#"bulkhead_waiting{name="db"}"#, 1.0),
        ])
    );

    // The waiter gives up after max_wait; then the first call ends.
    advance(Duration::from_secs(1)).await;
    assert!(waiting.await.unwrap().is_err());
    finish.send(()).unwrap();
    running.await.unwrap().unwrap();
    assert_eq!(
        scrape(&registry),
        expected(&[
            (r#"bulkhead_in_flight{name="db"}"#, 0.0),
            (r#"bulkhead_max_concurrent{name="db"}"#, 1.0),
            (r#"bulkhead_rejected_total{name="db"}"#, 2.0),
            (r#"bulkhead_waiting{name="db"}"#, 0.0),
        ])
    );
}

type Outcome = Result<u32, Error<&'static str, u32>>;

/// What one attempt answers.
#[derive(Clone, Copy)]
enum Step {
    Ok(u32),
    /// An error the retry predicate retries.
    Busy,
    /// One it does not.
    Bad,
}
use Step::{Bad, Busy};

/// An inner service that answers each attempt with the next scripted step.
fn scripted(
    script: Arc<Mutex<VecDeque<Step>>>,
) -> impl Service<u32, Response = u32, Error = Error<&'static str, u32>, Future: Send> + Clone {
    service_fn(move |_: u32| {
        let next: Outcome = match script.lock().unwrap().pop_front().expect("scripted") {
            Step::Ok(n) => Ok(n),
            Busy => Err(Error::Inner("busy")),
            Bad => Err(Error::Inner("bad")),
        };
        async move { next }
    })
}

#[tokio::test(start_paused = true)]
async fn retry_attempts_and_how_retried_calls_ended() {
    let script = Arc::new(Mutex::new(VecDeque::new()));
    let retry = RetryLayer::builder("inventory")
        .max_attempts(3)
        .backoff(Backoff::constant(Duration::from_millis(1)))
        .jitter(Jitter::None)
        .retry_if(|outcome: &Outcome| matches!(outcome, Err(Error::Inner("busy"))))
        .build()
        .unwrap();
    let registry = Registry::new();
    Metrics::new().retry(&retry).register(&registry).unwrap();
    let svc = retry.layer(scripted(script.clone()));

    // How each call ends, as the caller sees it.
    let exhausted = |r: &Outcome| match r {
        Err(Error::RetriesExhausted(gave_up)) => {
            gave_up.attempts() == 3
                && !gave_up.is_budget_empty()
                && matches!(gave_up.last(), Error::Inner("busy"))
        }
        _ => false,
    };
    // A call's steps, and whether its result ended as scripted.
    type Scripted<'a> = (&'a [Step], &'a dyn Fn(&Outcome) -> bool);
    let calls: [Scripted; 4] = [
        // first time: not counted
        (&[Step::Ok(1)], &|r| matches!(r, Ok(1))),
        // recovered after 1 retry
        (&[Busy, Step::Ok(2)], &|r| matches!(r, Ok(2))),
        // exhausted after 2 retries
        (&[Busy, Busy, Busy], &exhausted),
        // failed after 1 retry: the error not retried, as it is
        (&[Busy, Bad], &|r| matches!(r, Err(Error::Inner("bad")))),
    ];
    for (i, (steps, ended_as_scripted)) in calls.into_iter().enumerate() {
        script.lock().unwrap().extend(steps.iter().copied());
        let result = svc.clone().oneshot(0).await;
        assert!(ended_as_scripted(&result), "call {i}: {result:?}");
    }
    assert!(script.lock().unwrap().is_empty());
    assert_eq!(
        scrape(&registry),
        expected(&[
            (r#"retry_attempts_total{name="inventory"}"#, 4.0),
            (
                r#"retry_calls_total{name="inventory",outcome="budget_exhausted"}"#,
                0.0
            ),
            (
                r#"retry_calls_total{name="inventory",outcome="exhausted"}"#,
                1.0
            ),
            (
                r#"retry_calls_total{name="inventory",outcome="failed"}"#,
                1.0
            ),
            (
                r#"retry_calls_total{name="inventory",outcome="recovered"}"#,
                1.0
            ),
        ])
    );
}

#[tokio::test(start_paused = true)]
async fn retry_budget_refusals() {
    let script = Arc::new(Mutex::new(VecDeque::new()));
    // A floor of 2 retries (1 a second over 2 s), nothing from calls.
    let budget = Budget::builder()
        .ratio(0.0)
        .min_per_second(1)
        .window(Duration::from_secs(2))
        .build()
        .unwrap();
    let retry = RetryLayer::builder("search")
        .max_attempts(3)
        .backoff(Backoff::constant(Duration::from_millis(1)))
        .jitter(Jitter::None)
        .budget(budget)
        .build()
        .unwrap();
    let registry = Registry::new();
    Metrics::new().retry(&retry).register(&registry).unwrap();
    let svc = retry.layer(scripted(script.clone()));

    // Two retries spend the budget; the next call's retry is refused.
    script.lock().unwrap().extend([Busy, Busy, Step::Ok(1)]);
    assert_eq!(svc.clone().oneshot(0).await.unwrap(), 1);
    script.lock().unwrap().push_back(Busy);
    let Err(Error::RetriesExhausted(gave_up)) = svc.clone().oneshot(0).await else {
        panic!("expected the budget to refuse");
    };
    assert!(gave_up.is_budget_empty());
    assert_eq!(
        scrape(&registry),
        expected(&[
            (r#"retry_attempts_total{name="search"}"#, 2.0),
            (r#"retry_budget_available{name="search"}"#, 0.0),
            (
                r#"retry_calls_total{name="search",outcome="budget_exhausted"}"#,
                1.0
            ),
            (
                r#"retry_calls_total{name="search",outcome="exhausted"}"#,
                0.0
            ),
            (r#"retry_calls_total{name="search",outcome="failed"}"#, 0.0),
            (
                r#"retry_calls_total{name="search",outcome="recovered"}"#,
                1.0
            ),
        ])
    );
}

#[tokio::test(start_paused = true)]
async fn timeouts_fired() {
    let timeout = TimeoutLayer::new("slow", Duration::from_millis(100)).unwrap();
    let registry = Registry::new();
    Metrics::new()
        .timeout(&timeout)
        .register(&registry)
        .unwrap();
    let svc = timeout.layer(service_fn(|wait_ms: u64| async move {
        sleep(Duration::from_millis(wait_ms)).await;
        Ok::<_, BoxError>(())
    }));
    // A clone of the layer counts into the same series.
    let clone = timeout.clone().layer(*svc.get_ref());

    assert!(svc.clone().oneshot(50).await.is_ok());
    assert!(svc.clone().oneshot(500).await.is_err());
    assert!(clone.oneshot(10_000).await.is_err());
    assert_eq!(timeout.timeouts(), 2);
    assert_eq!(
        scrape(&registry),
        expected(&[
            (r#"timeout_timeouts_total{name="slow"}"#, 2.0),
            (r#"timeout_limit_seconds{name="slow"}"#, 0.1),
        ])
    );
}

#[tokio::test(start_paused = true)]
async fn fallback_answers() {
    let fallback = Fallback::new("payments", |_: Error<&str, u32>, _: Option<u32>| async {
        Ok::<_, Error<&str, u32>>(0)
    })
    .on(ErrorKind::Inner);
    let registry = Registry::new();
    Metrics::new()
        .fallback(&fallback)
        .register(&registry)
        .unwrap();
    let svc = fallback.layer().layer(service_fn(|n: u32| async move {
        if n == 0 {
            Err(Error::Inner("down"))
        } else {
            Ok(n)
        }
    }));
    assert_eq!(svc.clone().oneshot(7).await.unwrap(), 7);
    assert_eq!(svc.clone().oneshot(0).await.unwrap(), 0);
    assert_eq!(svc.clone().oneshot(0).await.unwrap(), 0);
    assert_eq!(
        scrape(&registry),
        expected(&[(r#"circuit_breaker_fallbacks_total{name="payments"}"#, 2.0)])
    );
}

#[tokio::test(start_paused = true)]
async fn every_layer_passes_an_exposition_format_parser() {
    let breaker = CircuitBreaker::builder("payments")
        .consecutive_failures(1)
        .build()
        .unwrap();
    breaker.try_acquire().unwrap().failure();
    let bulkhead = Bulkhead::builder("payments")
        .max_concurrent(4)
        .build()
        .unwrap();
    let retry = RetryLayer::builder("payments")
        .budget(Budget::builder().build().unwrap())
        .build()
        .unwrap();
    let timeout = TimeoutLayer::new("payments", Duration::from_secs(2)).unwrap();
    let fallback = Fallback::new("payments", |e: Error<(), ()>, _: Option<()>| async {
        Err::<(), _>(e)
    });
    let registry = Registry::new();
    Metrics::new()
        .namespace("shop")
        .circuit_breaker(&breaker)
        .bulkhead(&bulkhead)
        .retry(&retry)
        .timeout(&timeout)
        .fallback(&fallback)
        .register(&registry)
        .unwrap();

    let text = render(&registry);
    let parsed = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
        .expect("a valid exposition");
    let ours = scrape(&registry);
    // The parser skips what it cannot read: it must have read every sample line.
    assert_eq!(parsed.samples.len(), ours.len());
    // breaker 12 (5 outcomes, 4 transitions), bulkhead 4, retry 6, timeout 2, fallback 1.
    assert_eq!(ours.len(), 25);
    for sample in &parsed.samples {
        assert!(sample.metric.starts_with("shop_"), "{}", sample.metric);
        assert_eq!(sample.labels.get("name"), Some("payments"));
        assert!(
            parsed.docs.contains_key(&sample.metric),
            "no HELP: {}",
            sample.metric
        );
        let value = match sample.value {
            prometheus_parse::Value::Counter(v) => {
                assert!(sample.metric.ends_with("_total"), "{}", sample.metric);
                v
            }
            prometheus_parse::Value::Gauge(v) => {
                assert!(!sample.metric.ends_with("_total"), "{}", sample.metric);
                v
            }
            ref other => panic!("{}: unexpected {other:?}", sample.metric),
        };
        let mut labels: Vec<_> = sample.labels.iter().collect();
        labels.sort();
        let series = format!(
            "{}{{{}}}",
            sample.metric,
            labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{v}\""))
                .collect::<Vec<_>>()
                .join(",")
        );
        assert_eq!(ours.get(&series), Some(&value), "{series}");
    }
    assert_eq!(ours[r#"shop_circuit_breaker_state{name="payments"}"#], 1.0);
    assert_eq!(
        ours[r#"shop_retry_budget_available{name="payments"}"#],
        100.0
    );
}

#[test]
fn each_kind_refuses_a_second_instance_of_its_name() {
    let registry = Registry::new();
    let bulkhead = Bulkhead::builder("db").max_concurrent(4).build().unwrap();
    let timeout = TimeoutLayer::new("db", Duration::from_secs(1)).unwrap();
    let retry = RetryLayer::builder("db").build().unwrap();
    let fallback = || {
        Fallback::new("db", |e: Error<(), ()>, _: Option<()>| async {
            Err::<(), _>(e)
        })
    };
    // One of each kind may share a name: they are different metrics.
    Metrics::new()
        .bulkhead(&bulkhead)
        .timeout(&timeout)
        .retry(&retry)
        .fallback(&fallback())
        .register(&registry)
        .unwrap();
    let before = render(&registry);
    let other = || {
        Bulkhead::builder("other")
            .max_concurrent(4)
            .build()
            .unwrap()
    };
    let layers = [
        Metrics::new().bulkhead(&Bulkhead::builder("db").max_concurrent(4).build().unwrap()),
        Metrics::new().timeout(&TimeoutLayer::new("db", Duration::from_secs(3)).unwrap()),
        Metrics::new().retry(&retry.clone()),
        Metrics::new().fallback(&fallback()),
        // A new instance listed with a duplicate: all or nothing, the new one is not added.
        Metrics::new().bulkhead(&other()).fallback(&fallback()),
    ];
    let kinds = ["bulkhead", "timeout", "retry", "fallback", "fallback"];
    for (metrics, layer) in layers.iter().zip(kinds) {
        let err = metrics.register(&registry).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("metrics of {layer} 'db' are already registered in this registry")
        );
    }
    assert_eq!(
        render(&registry),
        before,
        "a refused registration adds nothing"
    );
}

/// Every breakwater metric the Grafana dashboard queries is one this crate exports.
#[test]
fn the_dashboard_queries_only_exported_metrics() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/dashboards/breakwater.json");
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("dashboard")).expect("json");
    let registry = Registry::new();
    let retry = RetryLayer::builder("x").build().unwrap();
    Metrics::new()
        .circuit_breaker(&CircuitBreaker::builder("x").build().unwrap())
        .bulkhead(&Bulkhead::builder("x").max_concurrent(1).build().unwrap())
        .retry(&retry)
        .timeout(&TimeoutLayer::new("x", Duration::from_secs(1)).unwrap())
        .fallback(&Fallback::new(
            "x",
            |e: Error<(), ()>, _: Option<()>| async { Err::<(), _>(e) },
        ))
        .register(&registry)
        .unwrap();
    let exported: Vec<String> = registry
        .gather()
        .iter()
        .map(|f| f.name().to_owned())
        .collect();
    let prefixes = ["circuit_breaker_", "bulkhead_", "retry_", "timeout_"];
    let mut queried = 0;
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().expect("expr");
            for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                if prefixes.iter().any(|p| word.starts_with(p)) {
                    queried += 1;
                    assert!(exported.iter().any(|e| e == word), "{word} is not exported");
                }
            }
        }
    }
    assert!(queried > 0);
}
