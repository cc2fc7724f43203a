//! What the layers tell `tracing`: a debug event for each timeout, bulkhead refusal, retry
//! (attempt, delay, why) and fallback; a `retry_attempt` span per retry, a child of the
//! caller's span, with its decisions as fields.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tower::{service_fn, Layer, ServiceExt};
use tower_breakwater::retry::{Backoff, Jitter};
use tower_breakwater::{Error, Resilience};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// One event or span, as the collector saw it.
#[derive(Debug, Clone, Default)]
struct Seen {
    name: String,
    parent: Option<String>,
    fields: BTreeMap<String, String>,
}

#[derive(Clone, Default)]
struct Collector {
    events: Arc<Mutex<Vec<Seen>>>,
    spans: Arc<Mutex<Vec<Seen>>>,
}

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_string(), value.to_string());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().to_string(), format!("{value:?}"));
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> tracing_subscriber::Layer<S> for Collector {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut seen = Seen {
            name: attrs.metadata().name().to_string(),
            parent: ctx
                .span(id)
                .and_then(|span| span.parent())
                .map(|parent| parent.name().to_string()),
            ..Seen::default()
        };
        attrs.record(&mut Fields(&mut seen.fields));
        seen.fields.insert("id".into(), id.into_u64().to_string());
        self.spans.lock().unwrap().push(seen);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _: Context<'_, S>) {
        let mut spans = self.spans.lock().unwrap();
        let id = id.into_u64().to_string();
        if let Some(seen) = spans.iter_mut().find(|s| s.fields["id"] == id) {
            values.record(&mut Fields(&mut seen.fields));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut seen = Seen {
            parent: ctx.event_span(event).map(|span| span.name().to_string()),
            ..Seen::default()
        };
        event.record(&mut Fields(&mut seen.fields));
        seen.name = seen.fields.remove("message").unwrap_or_default();
        self.events.lock().unwrap().push(seen);
    }
}

impl Collector {
    fn events(&self, message: &str) -> Vec<Seen> {
        let events = self.events.lock().unwrap();
        events
            .iter()
            .filter(|e| e.name == message)
            .cloned()
            .collect()
    }

    fn spans(&self, name: &str) -> Vec<Seen> {
        let spans = self.spans.lock().unwrap();
        spans.iter().filter(|s| s.name == name).cloned().collect()
    }
}

fn collect() -> (Collector, tracing::subscriber::DefaultGuard) {
    let collector = Collector::default();
    let subscriber = tracing_subscriber::registry().with(collector.clone());
    (collector, tracing::subscriber::set_default(subscriber))
}

#[tokio::test(start_paused = true)]
async fn each_retry_is_a_span_under_the_callers_with_its_decisions() {
    let (seen, _guard) = collect();
    let stack = Resilience::builder("payments")
        .with_retry(|r| {
            r.max_attempts(3)
                .backoff(Backoff::constant(Duration::from_millis(100)))
                .jitter(Jitter::None)
        })
        .with_circuit_breaker(|b| b.consecutive_failures(2))
        .build()
        .unwrap();
    let svc = stack.layer(service_fn(|_: u32| async { Err::<(), _>("down") }));

    let caller = tracing::info_span!("checkout");
    let error = tracing::Instrument::instrument(svc.oneshot(1), caller)
        .await
        .unwrap_err();
    assert!(error.is_rejected(), "{error:?}");

    // Attempt 1 fails (inner), attempt 2 fails (inner) and trips the breaker, attempt 3
    // is refused by the open breaker, and a refusal is not retried: it is the answer.
    let retrying = seen.events("retrying");
    assert_eq!(retrying.len(), 2, "{retrying:?}");
    assert_eq!(retrying[0].fields["attempt"], "2");
    assert_eq!(retrying[0].fields["wait"], "100ms");
    assert_eq!(retrying[0].fields["reason"], "inner");
    assert_eq!(retrying[0].parent.as_deref(), Some("checkout"));
    assert_eq!(retrying[1].fields["attempt"], "3");

    let attempts = seen.spans("retry_attempt");
    assert_eq!(attempts.len(), 2, "one span per retry: {attempts:?}");
    for span in &attempts {
        assert_eq!(span.parent.as_deref(), Some("checkout"), "{span:?}");
        assert_eq!(span.fields["name"], "payments");
        assert_eq!(span.fields["max_attempts"], "3");
        assert_eq!(span.fields["backoff"], "100ms");
    }
    assert_eq!(attempts[0].fields["attempt"], "2");
    assert_eq!(attempts[0].fields["outcome"], "inner");
    assert_eq!(attempts[1].fields["attempt"], "3");
    assert_eq!(attempts[1].fields["outcome"], "rejected");
    assert_eq!(attempts[1].fields["breaker_state"], "open");

    assert!(seen.events("giving up").is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_timeout_a_full_bulkhead_and_a_fallback_each_say_so() {
    let (seen, _guard) = collect();
    let stack = Resilience::builder("quotes")
        .with_fallback(
            |e: Error<&'static str, u32>, request: Option<u32>| async move { request.ok_or(e) },
        )
        .timeout(Duration::from_millis(50))
        .with_bulkhead(|b| b.max_concurrent(1).max_waiting(0))
        .build()
        .unwrap();
    let svc = stack.layer(service_fn(|n: u32| async move {
        tokio::time::sleep(Duration::from_millis(if n == 0 { 1_000 } else { 1 })).await;
        Ok::<_, &str>(n)
    }));

    // One call hangs past the limit; while it holds the only slot, another is refused and
    // the fallback answers it with its own request.
    let hanging = tokio::spawn(svc.clone().oneshot(0));
    tokio::task::yield_now().await;
    assert_eq!(stack.bulkhead().in_flight(), 1);
    assert_eq!(svc.clone().oneshot(7).await.unwrap(), 7);
    assert!(hanging.await.unwrap().unwrap_err().is_timeout());

    let refused = seen.events("bulkhead full; call refused");
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].fields["name"], "quotes");
    assert_eq!(refused[0].fields["max_concurrent"], "1");
    let answered = seen.events("fallback answers");
    assert_eq!(answered.len(), 1);
    assert_eq!(answered[0].fields["error"], "bulkhead_full");
    assert_eq!(answered[0].fields["request"], "true");
    let timed_out = seen.events("timed out; the attempt is dropped");
    assert_eq!(timed_out.len(), 1);
    assert_eq!(timed_out[0].fields["limit"], "50ms");
    assert_eq!(timed_out[0].fields["elapsed"], "50ms");
}

#[tokio::test(start_paused = true)]
async fn a_first_attempt_that_succeeds_makes_no_span_and_no_event() {
    let (seen, _guard) = collect();
    let stack = Resilience::builder("payments")
        .with_retry(|r| r.max_attempts(3))
        .with_circuit_breaker(|b| b)
        .timeout(Duration::from_secs(1))
        .with_bulkhead(|b| b.max_concurrent(4))
        .build()
        .unwrap();
    let svc = stack.layer(service_fn(|n: u32| async move { Ok::<_, &str>(n) }));
    for n in 0..10 {
        assert_eq!(svc.clone().oneshot(n).await.unwrap(), n);
    }
    assert!(seen.spans.lock().unwrap().is_empty());
    assert!(seen.events.lock().unwrap().is_empty());
}

/// A refused request deferred by `Fallback::defer` is a debug event with the queue, the
/// key and why; a drain reports what it did.
#[cfg(feature = "deferred")]
#[tokio::test]
async fn a_deferral_and_a_drain_are_debug_events() {
    use tower_breakwater::circuit_breaker::CircuitBreaker;
    use tower_breakwater::deferred::{NewItem, Queue, RedbStore, Replayer};
    use tower_breakwater::fallback::Fallback;

    let dir = std::env::temp_dir().join(format!("bw-tracing-defer-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let queue = Queue::builder("payments", RedbStore::open(dir.join("q.redb")).unwrap())
        .build()
        .unwrap();
    queue.migrate().await.unwrap();

    let (seen, _guard) = collect();
    let breaker = CircuitBreaker::builder("payments").build().unwrap();
    let encode = |order: &u64| NewItem::new(format!("order-{order}"), order.to_le_bytes().into());
    let fallback = Fallback::defer(&queue, encode, |order: u64, _| order);
    let stack = Resilience::builder("payments")
        .fallback(&fallback)
        .circuit_breaker(&breaker)
        .build()
        .unwrap();
    let payments = stack.layer(service_fn(
        |o: u64| async move { Ok::<_, std::io::Error>(o) },
    ));
    breaker.force_open();
    assert_eq!(payments.clone().oneshot(7).await.unwrap(), 7);

    let deferred = seen.events("deferred a refused request");
    assert_eq!(deferred.len(), 1, "{deferred:?}");
    assert_eq!(deferred[0].fields["queue"], "payments");
    assert_eq!(deferred[0].fields["key"], "order-7");
    assert_eq!(deferred[0].fields["reason"], "Rejected");
    assert_eq!(deferred[0].fields["duplicate"], "false");

    breaker.reset();
    let decode = |item: &tower_breakwater::deferred::Item| -> Result<u64, String> {
        Ok(u64::from_le_bytes(
            item.payload[..8].try_into().map_err(|_| "short")?,
        ))
    };
    let replayer = Replayer::builder(&queue, payments, decode).build().unwrap();
    let report = replayer.drain().await.unwrap();
    assert_eq!(report.delivered, 1);
    let drained = seen.events("deferred queue drained");
    assert_eq!(drained.len(), 1, "{drained:?}");
    assert_eq!(drained[0].fields["delivered"], "1");
    assert_eq!(drained[0].fields["stopped_by_breaker"], "false");
    drop(queue);
    std::fs::remove_dir_all(&dir).ok();
}
