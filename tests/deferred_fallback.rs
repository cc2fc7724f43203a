//! `Fallback::defer` and the `Replayer`: a refused request is answered only once it is
//! durable; replays go through the same stack, stop when the breaker opens, keep to their
//! concurrency cap, and are never deferred a second time.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tower::{service_fn, Layer, ServiceExt};
use tower_breakwater::circuit_breaker::{CircuitBreaker, State};
use tower_breakwater::deferred::{
    DeferredError, Enqueued, Item, Millis, NewItem, Queue, RedbStore, Release, Stats, Store,
    StoreFuture,
};
use tower_breakwater::fallback::Fallback;
use tower_breakwater::{Error, ErrorKind, Resilience};

fn redb(test: &str) -> RedbStore {
    let dir = std::env::temp_dir().join(format!("bw-deferred-fb-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    RedbStore::open(dir.join("q.redb")).unwrap()
}

async fn queue_on(store: impl Store) -> Queue {
    let queue = Queue::builder("payments", store)
        .max_attempts(3)
        .backoff(Duration::from_secs(1), Duration::from_secs(10))
        .build()
        .unwrap();
    queue.migrate().await.unwrap();
    queue
}

/// A store whose enqueues wait for a gate, then fail or pass on to redb.
struct GatedStore {
    inner: RedbStore,
    gate: Arc<Notify>,
    fail: bool,
}

impl Store for GatedStore {
    fn kind(&self) -> &'static str {
        "gated"
    }
    fn migrate(&self) -> StoreFuture<'_, ()> {
        self.inner.migrate()
    }
    fn enqueue(&self, item: NewItem, now: Millis) -> StoreFuture<'_, Enqueued> {
        Box::pin(async move {
            self.gate.notified().await;
            if self.fail {
                return Err(DeferredError::Store {
                    store: "gated",
                    message: "disk full".into(),
                });
            }
            self.inner.enqueue(item, now).await
        })
    }
    fn claim(&self, max: usize, now: Millis, lease_until: Millis) -> StoreFuture<'_, Vec<Item>> {
        self.inner.claim(max, now, lease_until)
    }
    fn complete(&self, ids: Vec<u64>) -> StoreFuture<'_, ()> {
        self.inner.complete(ids)
    }
    fn release(&self, id: u64, attempt: u32, release: Release) -> StoreFuture<'_, bool> {
        self.inner.release(id, attempt, release)
    }
    fn dead_letters(&self, after: u64, limit: usize) -> StoreFuture<'_, Vec<Item>> {
        self.inner.dead_letters(after, limit)
    }
    fn requeue(&self, key: &str, now: Millis) -> StoreFuture<'_, bool> {
        self.inner.requeue(key, now)
    }
    fn find(&self, key: &str) -> StoreFuture<'_, Option<Item>> {
        self.inner.find(key)
    }
    fn stats(&self, now: Millis) -> StoreFuture<'_, Stats> {
        self.inner.stats(now)
    }
}

fn encode(order: &u64) -> NewItem {
    NewItem::new(format!("order-{order}"), order.to_le_bytes().to_vec())
}

fn decode(item: &Item) -> Result<u64, String> {
    <[u8; 8]>::try_from(item.payload.as_slice())
        .map(u64::from_le_bytes)
        .map_err(|_| format!("{} bytes, not 8", item.payload.len()))
}

#[tokio::test]
async fn the_answer_waits_until_the_item_is_durable() {
    let gate = Arc::new(Notify::new());
    let queue = queue_on(GatedStore {
        inner: redb("gate"),
        gate: gate.clone(),
        fail: false,
    })
    .await;
    let breaker = CircuitBreaker::builder("payments").build().unwrap();
    let fallback = Fallback::defer(&queue, encode, |order, deferral| {
        format!("order {order} pending ({:?})", deferral.reason())
    });
    let stack = Resilience::builder("payments")
        .fallback(&fallback)
        .circuit_breaker(&breaker)
        .build()
        .unwrap();
    let payments = stack.layer(service_fn(|o: u64| async move {
        Ok::<_, std::io::Error>(format!("charged {o}"))
    }));
    breaker.force_open();
    let mut answer = tokio::spawn(payments.oneshot(7));
    // The enqueue has not returned: no answer yet.
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert!(
        futures_poll_once(&mut answer).await.is_none(),
        "answered before durable"
    );
    assert!(queue.find("order-7").await.unwrap().is_none());
    gate.notify_one();
    let answer = answer.await.unwrap().unwrap();
    assert_eq!(answer, "order 7 pending (Rejected)");
    assert_eq!(
        queue.find("order-7").await.unwrap().unwrap().payload,
        7u64.to_le_bytes()
    );
    assert_eq!(fallback.count(), 1);
}

/// `Some(output)` if `handle` is finished after one poll.
async fn futures_poll_once<T>(handle: &mut tokio::task::JoinHandle<T>) -> Option<T> {
    let mut handle = std::pin::Pin::new(handle);
    std::future::poll_fn(|cx| match handle.as_mut().poll(cx) {
        std::task::Poll::Ready(out) => std::task::Poll::Ready(Some(out.unwrap())),
        std::task::Poll::Pending => std::task::Poll::Ready(None),
    })
    .await
}

use std::future::Future;

#[tokio::test]
async fn a_failed_enqueue_answers_with_the_original_error() {
    let gate = Arc::new(Notify::new());
    gate.notify_one(); // a permit: the one enqueue does not wait
    let queue = queue_on(GatedStore {
        inner: redb("fail"),
        gate,
        fail: true,
    })
    .await;
    let breaker = CircuitBreaker::builder("payments").build().unwrap();
    let fallback = Fallback::defer(&queue, encode, |order, _| order);
    let stack = Resilience::builder("payments")
        .fallback(&fallback)
        .circuit_breaker(&breaker)
        .build()
        .unwrap();
    let payments = stack.layer(service_fn(
        |o: u64| async move { Ok::<_, std::io::Error>(o) },
    ));
    breaker.force_open();
    let err = payments.oneshot(9).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Rejected, "not accepted: not on disk");
}

#[tokio::test(start_paused = true)]
async fn a_failed_replay_is_retried_from_the_queue_not_deferred_again() {
    let queue = queue_on(redb("replay")).await;
    let breaker = CircuitBreaker::builder("payments")
        .consecutive_failures(100)
        .build()
        .unwrap();
    // Defers sent calls that fail too: a replay that fails must not be queued again (the
    // duplicate key would read as delivered and the item would be lost).
    let fallback = Fallback::defer(&queue, encode, |order, _| order)
        .on(ErrorKind::Inner)
        .copy_request();
    let stack = Resilience::builder("payments")
        .fallback(&fallback)
        .circuit_breaker(&breaker)
        .build()
        .unwrap();
    let payments = stack.layer(service_fn(|_: u64| async {
        Err::<u64, _>(std::io::Error::other("card processor down"))
    }));
    // A live call that fails is deferred (answered 5: "pending").
    assert_eq!(payments.clone().oneshot(5).await.unwrap(), 5);
    let replayer = tower_breakwater::deferred::Replayer::builder(&queue, payments, decode)
        .breaker(&breaker)
        .build()
        .unwrap();
    let report = replayer.drain().await.unwrap();
    assert_eq!((report.delivered, report.failed), (0, 1));
    let item = queue.find("order-5").await.unwrap().expect("still queued");
    assert_eq!(item.attempts, 1);
    assert!(item.last_error.unwrap().contains("card processor down"));
    assert_eq!(
        fallback.count(),
        2,
        "the fallback saw the replay, and passed it on"
    );
}

#[tokio::test(start_paused = true)]
async fn a_drain_stops_when_the_breaker_opens_and_gives_refused_attempts_back() {
    let queue = queue_on(redb("stops")).await;
    for order in 0..6u64 {
        queue.enqueue_item(encode(&order)).await.unwrap();
    }
    let breaker = CircuitBreaker::builder("payments").build().unwrap();
    let stack = Resilience::builder("payments")
        .circuit_breaker(&breaker)
        .build()
        .unwrap();
    let tripper = breaker.clone();
    let payments = stack.layer(service_fn(move |order: u64| {
        // The dependency falls over right after the first delivery.
        tripper.force_open();
        async move { Ok::<_, std::io::Error>(order) }
    }));
    let replayer = tower_breakwater::deferred::Replayer::builder(&queue, payments, decode)
        .breaker(&breaker)
        .concurrency(4)
        .build()
        .unwrap();
    let report = replayer.drain().await.unwrap();
    assert_eq!((report.delivered, report.refused), (1, 3), "{report:?}");
    assert!(report.stopped_by_breaker);
    let stats = queue.stats().await.unwrap();
    assert_eq!(
        stats.ready, 5,
        "two never claimed, three refused and ready again"
    );
    let again = queue.claim(10).await.unwrap();
    assert!(
        again.iter().all(|i| i.attempts == 1),
        "refusals gave their attempt back"
    );
}

#[tokio::test(start_paused = true)]
async fn the_background_replayer_drains_when_the_breaker_closes() {
    let queue = queue_on(redb("closes")).await;
    for order in 0..20u64 {
        queue.enqueue_item(encode(&order)).await.unwrap();
    }
    let breaker = CircuitBreaker::builder("payments").build().unwrap();
    breaker.force_open();
    let delivered = Arc::new(AtomicUsize::new(0));
    let (in_flight, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let stack = Resilience::builder("payments")
        .circuit_breaker(&breaker)
        .build()
        .unwrap();
    let payments = stack.layer(service_fn({
        let (delivered, most) = (delivered.clone(), most.clone());
        move |order: u64| {
            let (delivered, in_flight, most) = (delivered.clone(), in_flight.clone(), most.clone());
            async move {
                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(5)).await;
                in_flight.fetch_sub(1, Ordering::SeqCst);
                delivered.fetch_add(1, Ordering::SeqCst);
                Ok::<_, std::io::Error>(order)
            }
        }
    }));
    let task = tower_breakwater::deferred::Replayer::builder(&queue, payments, decode)
        .breaker(&breaker)
        .interval(Duration::from_secs(3_600))
        .concurrency(3)
        .build()
        .unwrap()
        .spawn();
    // Open: the first tick's drain sends nothing.
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
    assert_eq!(delivered.load(Ordering::SeqCst), 0);
    assert_eq!(queue.stats().await.unwrap().ready, 20);
    breaker.reset(); // forced-open -> closed: the replayer drains
    let mut waited = 0;
    while queue.stats().await.unwrap().ready > 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
        waited += 1;
        assert!(waited < 1_000, "drained");
    }
    task.shutdown().await;
    assert_eq!(delivered.load(Ordering::SeqCst), 20);
    assert_eq!(
        most.load(Ordering::SeqCst),
        3,
        "the concurrency cap, reached and kept"
    );
    assert_eq!(breaker.state(), State::Closed);
}

#[tokio::test]
async fn an_undecodable_payload_is_dead_lettered_at_once() {
    let queue = queue_on(redb("poison")).await;
    queue.enqueue("poison", b"xyz".to_vec()).await.unwrap();
    let payments = service_fn(|o: u64| async move { Ok::<_, Error<std::io::Error, u64>>(o) });
    let replayer = tower_breakwater::deferred::Replayer::builder(&queue, payments, decode)
        .build()
        .unwrap();
    let report = replayer.drain().await.unwrap();
    assert_eq!(report.dead, 1);
    let dead = queue.dead_letters(0, 10).await.unwrap();
    assert_eq!(dead[0].attempts, 1);
    assert!(dead[0]
        .last_error
        .as_ref()
        .unwrap()
        .contains("3 bytes, not 8"));
}

#[tokio::test]
async fn metrics_show_counts_and_the_oldest_age() {
    let queue = queue_on(redb("metrics")).await;
    let registry = prometheus::Registry::new();
    tower_breakwater::metrics::Metrics::new()
        .deferred(&queue)
        .register(&registry)
        .unwrap();
    for order in 0..3u64 {
        queue.enqueue_item(encode(&order)).await.unwrap();
    }
    queue.enqueue_item(encode(&0)).await.unwrap(); // a duplicate: not counted
    let leased = queue.claim(2).await.unwrap();
    queue.delivered(&leased[..1]).await.unwrap();
    queue.failed(&leased[1], "503").await.unwrap();
    queue.stats().await.unwrap(); // the count a scrape's recount would make
    let text = render(&registry);
    for line in [
        r#"deferred_enqueued_total{name="payments"} 3"#,
        r#"deferred_replayed_total{name="payments",outcome="delivered"} 1"#,
        r#"deferred_replayed_total{name="payments",outcome="failed"} 1"#,
        r#"deferred_replayed_total{name="payments",outcome="dead"} 0"#,
        r#"deferred_replayed_total{name="payments",outcome="refused"} 0"#,
        r#"deferred_items{name="payments",state="ready"} 2"#,
        r#"deferred_items{name="payments",state="leased"} 0"#,
        r#"deferred_items{name="payments",state="dead"} 0"#,
    ] {
        assert!(text.contains(line), "{line} in\n{text}");
    }
    assert!(text.contains(r#"deferred_oldest_age_seconds{name="payments"}"#));
    // A scrape also recounts in the background: a later one sees the third delivered (the
    // failed one backs off, still ready).
    let rest = queue.claim(10).await.unwrap();
    assert_eq!(rest.len(), 1);
    queue.delivered(&rest).await.unwrap();
    let mut tries = 0;
    while !render(&registry).contains(r#"deferred_items{name="payments",state="ready"} 1"#) {
        tokio::task::yield_now().await;
        tries += 1;
        assert!(tries < 100_000, "the recount lands");
    }
}

fn render(registry: &prometheus::Registry) -> String {
    use prometheus::Encoder;
    let mut text = Vec::new();
    prometheus::TextEncoder::new()
        .encode(&registry.gather(), &mut text)
        .unwrap();
    String::from_utf8(text).unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_replay_whose_fallback_runs_in_another_task_is_not_lost() {
    let queue = queue_on(redb("other-task")).await;
    let breaker = CircuitBreaker::builder("payments")
        .consecutive_failures(100)
        .build()
        .unwrap();
    let fallback = Fallback::defer(&queue, encode, |order, _| order)
        .on(ErrorKind::Inner)
        .copy_request();
    let stack = Resilience::builder("payments")
        .fallback(&fallback)
        .circuit_breaker(&breaker)
        .build()
        .unwrap()
        .layer(service_fn(|_: u64| async {
            Err::<u64, _>(std::io::Error::other("card processor down"))
        }));
    // Each call runs in a task of its own, as behind a Buffer: the replayer's task-local
    // mark does not reach the fallback.
    let elsewhere = service_fn(move |order: u64| {
        let stack = stack.clone();
        async move { tokio::spawn(stack.oneshot(order)).await.unwrap() }
    });
    assert_eq!(elsewhere.clone().oneshot(8).await.unwrap(), 8); // deferred
    let replayer = tower_breakwater::deferred::Replayer::builder(&queue, elsewhere, decode)
        .build()
        .unwrap();
    let report = replayer.drain().await.unwrap();
    assert_eq!((report.delivered, report.failed), (0, 1), "{report:?}");
    let item = queue
        .find("order-8")
        .await
        .unwrap()
        .expect("still queued, not lost");
    assert_eq!(item.attempts, 1);
}
