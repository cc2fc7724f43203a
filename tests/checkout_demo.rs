//! The checkout demo's scenario, smaller and faster, with its tally checked: the payment
//! service (real HTTP on 127.0.0.1) fails with 500s, then hangs, then recovers; every order
//! is accepted, nothing is lost, and the durable queue drains once the breaker closes.

// Parts only the example's command line uses (the default script, its printing) are unused here.
#[allow(dead_code)]
#[path = "../examples/checkout/demo/mod.rs"]
mod demo;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use demo::script::Script;
use demo::{Config, Observer, OrderOutcome, StoreChoice};
use tower_breakwater::circuit_breaker::State;

#[derive(Default)]
struct Record {
    outcomes: Mutex<Vec<OrderOutcome>>,
}

impl Observer for Record {
    fn order(&self, outcome: OrderOutcome) {
        self.outcomes.lock().unwrap().push(outcome);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payments_survive_an_outage_and_none_is_lost() {
    let dir = std::env::temp_dir().join(format!("breakwater-demo-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let record = Arc::new(Record::default());
    let config = Config {
        orders: 120,
        script: Script::parse("healthy=600ms,errors=800ms,hanging=800ms,healthy=1500ms").unwrap(),
        store: StoreChoice::Redb(dir.join("queue.redb")),
        drain_deadline: Duration::from_secs(10),
        metrics_port: 0,
    };
    let tally = tokio::time::timeout(Duration::from_secs(30), demo::run(config, record.clone()))
        .await
        .expect("the scenario ends on its own")
        .expect("the scenario runs");
    std::fs::remove_dir_all(&dir).ok();

    assert_eq!(
        record.outcomes.lock().unwrap().len(),
        120,
        "every order reported"
    );
    assert_eq!(tally.lost, 0, "{tally:?}");
    assert_eq!(tally.charged_twice, 0, "{tally:?}");
    assert_eq!(tally.refused, 0, "{tally:?}");
    assert_eq!(tally.accepted, 120, "{tally:?}");
    assert_eq!(
        tally.still_queued, 0,
        "the queue drains after recovery: {tally:?}"
    );
    assert_eq!(
        tally.ledger, 120,
        "every order in the ledger once (repeats absorbed by the idempotency key): {tally:?}"
    );
    assert!(tally.balanced(), "{tally:?}");
    // The story really happened: some charged at once, some deferred by the open breaker
    // and charged later from the queue.
    assert!(tally.charged_at_once > 0, "{tally:?}");
    assert!(tally.deferred_breaker_open > 0, "{tally:?}");
    assert!(tally.charged_later > 0, "{tally:?}");
    assert_eq!(
        tally.charged_at_once + tally.charged_later,
        120,
        "{tally:?}"
    );
    // Every order deferred by the open breaker was one of its rejections.
    assert!(
        tally.breaker_rejections >= tally.deferred_breaker_open,
        "{tally:?}"
    );
    // The /metrics it served agrees with the books.
    let metric = |line: &str| tally.breaker_metrics.iter().any(|l| l == line);
    let rejected = format!(
        r#"circuit_breaker_calls_total{{name="payments",outcome="rejected"}} {}"#,
        tally.breaker_rejections
    );
    assert!(metric(&rejected), "{:#?}", tally.breaker_metrics);
    assert!(
        metric(r#"circuit_breaker_state{name="payments"} 0"#),
        "{:#?}",
        tally.breaker_metrics
    );
    let transitions: Vec<_> = tally.transitions.iter().map(|&(_, f, t)| (f, t)).collect();
    assert_eq!(
        transitions.first(),
        Some(&(State::Closed, State::Open)),
        "{transitions:?}"
    );
    assert_eq!(
        transitions.last(),
        Some(&(State::HalfOpen, State::Closed)),
        "{transitions:?}"
    );
}

#[test]
fn scripts_are_validated() {
    assert!(Script::parse("healthy=1s,errors=2s,healthy=500ms").is_ok());
    for bad in [
        "",
        "healthy",
        "sick=1s",
        "healthy=0s",
        "healthy=1s,errors=1s",
        "healthy=1h",
    ] {
        assert!(Script::parse(bad).is_err(), "{bad:?} should be refused");
    }
}
