//! The deferred queue on PostgreSQL: the store's promises (the same checks as redb's), a
//! crash while enqueuing, and a fleet of four drainer processes, one killed mid-way.
//!
//! The server is `BREAKWATER_TEST_POSTGRES` (default `postgres://postgres@127.0.0.1:5432/test`);
//! each test works in a schema of its own. Without a server a local run skips these with
//! one line on stderr; under `CI=true` that is a failure.

#[path = "support/deferred_contract.rs"]
mod contract;
#[path = "support/deferred_crash.rs"]
mod crash;
#[path = "support/postgres.rs"]
mod postgres;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use postgres::Pg;
use tower_breakwater::deferred::{DeferredError, PostgresStore, Queue, Store};

macro_rules! store_test {
    ($name:ident, $check:path) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            let Some(pg) = Pg::setup(stringify!($name)).await else {
                return;
            };
            let store = pg.store(4).await;
            store.migrate().await.unwrap();
            $check(&store).await;
            drop(store);
            pg.cleanup().await;
        }
    };
}

store_test!(one_item_per_key, contract::one_item_per_key);
store_test!(
    claims_take_the_oldest_due_first,
    contract::claims_take_the_oldest_due_first
);
store_test!(
    leases_run_out_and_the_item_comes_back,
    contract::leases_run_out_and_the_item_comes_back
);
store_test!(
    dead_letters_are_kept_listed_and_requeued,
    contract::dead_letters_are_kept_listed_and_requeued
);
store_test!(stats_count_each_state, contract::stats_count_each_state);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unmigrated_store_says_so() {
    let Some(pg) = Pg::setup("unmigrated").await else {
        return;
    };
    contract::unmigrated_store_says_so(&pg.store(2).await).await;
    pg.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_claims_never_share_an_item() {
    let Some(pg) = Pg::setup("concurrent").await else {
        return;
    };
    let store = pg.store(8).await;
    store.migrate().await.unwrap();
    contract::concurrent_claims_never_share_an_item(Arc::new(store) as Arc<dyn Store>).await;
    pg.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_settings_and_a_wrong_server_are_errors() {
    let bad = PostgresStore::builder(postgres::url()).table("Robert'); DROP TABLE x;--");
    let err = bad.connect().await.unwrap_err();
    assert!(
        matches!(err, DeferredError::Config(ref e) if e.field() == "table"),
        "{err}"
    );
    let nobody = PostgresStore::builder("postgres://postgres@127.0.0.1:1/test")
        .connect_timeout(Duration::from_millis(500))
        .connect()
        .await
        .unwrap_err();
    assert!(nobody.is_store(), "{nobody}");
}

#[test]
fn crash_child() {
    let Ok(spec) = std::env::var(crash::CHILD) else {
        return;
    };
    let (url, schema) = spec
        .strip_prefix("postgres:")
        .and_then(|s| s.split_once('|'))
        .expect("a postgres spec");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = PostgresStore::builder(url)
            .schema(schema)
            .pool_size(16)
            .connect()
            .await
            .unwrap();
        crash::enqueue_and_acknowledge(store).await;
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enqueue_survives_sigkill() {
    let Some(pg) = Pg::setup("crash").await else {
        return;
    };
    let spec = format!("postgres:{}|{}", pg.url, pg.schema);
    let (acked, kill_after) =
        tokio::task::spawn_blocking(move || crash::run_child_and_kill_it("crash_child", &spec))
            .await
            .unwrap();
    assert!(acked.len() >= kill_after);
    let queue = Queue::builder("crash", pg.store(4).await).build().unwrap();
    crash::check_every_acknowledged_item_is_there_once(&queue, &acked).await;
    drop(queue);
    pg.cleanup().await;
}

/// The environment variable that makes a run of this binary a fleet drainer.
const DRAINER: &str = "BREAKWATER_FLEET_DRAINER";
const FLEET_ITEMS: usize = 10_000;
const DRAINER_CONCURRENCY: usize = 16;

/// A payment service over real HTTP that records every request's idempotency key.
#[derive(Default)]
struct Ledger {
    requests: AtomicU64,
    by_key: Mutex<HashMap<String, u32>>,
    /// Told once a quarter of the items has arrived.
    quarter: tokio::sync::Notify,
}

async fn payment_server(ledger: Arc<Ledger>) -> SocketAddr {
    use axum::http::{HeaderMap, StatusCode};
    let app = axum::Router::new().route(
        "/charge",
        axum::routing::post(move |headers: HeaderMap| {
            let ledger = ledger.clone();
            async move {
                let Some(key) = headers.get("idempotency-key").and_then(|v| v.to_str().ok()) else {
                    return StatusCode::BAD_REQUEST;
                };
                *ledger
                    .by_key
                    .lock()
                    .unwrap()
                    .entry(key.to_owned())
                    .or_default() += 1;
                let seen = ledger.requests.fetch_add(1, Ordering::Relaxed) + 1;
                if seen == (FLEET_ITEMS / 4) as u64 {
                    ledger.quarter.notify_one();
                }
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

#[test]
fn fleet_drainer() {
    let Ok(spec) = std::env::var(DRAINER) else {
        return;
    };
    let parts: Vec<&str> = spec.split('|').collect();
    let [url, schema, addr] = parts[..] else {
        panic!("a drainer spec");
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(drain_until_empty(url, schema, addr.parse().unwrap()));
}

/// One drainer of the fleet: deliver through a breaker and a timeout over HTTP until the
/// shared queue is empty.
async fn drain_until_empty(url: &str, schema: &str, addr: SocketAddr) {
    use bytes::Bytes;
    use http_body_util::Full;
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;
    use tower::{BoxError, Layer};
    use tower_breakwater::circuit_breaker::CircuitBreaker;
    use tower_breakwater::deferred::Replayer;
    use tower_breakwater::Resilience;

    let store = PostgresStore::builder(url)
        .schema(schema)
        .pool_size(4)
        .connect()
        .await
        .unwrap();
    let queue = Queue::builder("fleet", store)
        .visibility_timeout(Duration::from_secs(2))
        .backoff(Duration::from_millis(50), Duration::from_secs(1))
        .build()
        .unwrap();
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let uri = format!("http://{addr}/charge");
    let charge = tower::service_fn(move |key: String| {
        let request = hyper::Request::post(uri.as_str())
            .header("idempotency-key", key)
            .body(Full::new(Bytes::new()))
            .unwrap();
        let sent = client.request(request);
        async move { Ok::<_, BoxError>(sent.await?.status()) }
    });
    let breaker = CircuitBreaker::builder("payments").build().unwrap();
    let stack = Resilience::builder("payments")
        .circuit_breaker(&breaker)
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let replayer = Replayer::builder(&queue, stack.layer(charge), |item| {
        Ok::<_, String>(item.key.clone())
    })
    .breaker(&breaker)
    .concurrency(DRAINER_CONCURRENCY)
    .delivered_if(|status: &hyper::StatusCode| status.is_success())
    .build()
    .unwrap();
    loop {
        replayer.drain().await.unwrap();
        let stats = queue.stats().await.unwrap();
        if stats.ready + stats.leased == 0 {
            return;
        }
        // Items leased by a drainer that died come back when their lease runs out.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_delivers_everything_once_when_a_drainer_is_killed() {
    let Some(pg) = Pg::setup("fleet").await else {
        return;
    };
    let queue = Queue::builder("fleet", pg.store(16).await).build().unwrap();
    queue.migrate().await.unwrap();
    let mut enqueues = tokio::task::JoinSet::new();
    for worker in 0..16 {
        let queue = queue.clone();
        enqueues.spawn(async move {
            for i in (worker..FLEET_ITEMS).step_by(16) {
                queue
                    .enqueue(format!("order-{i:05}"), Vec::new())
                    .await
                    .unwrap();
            }
        });
    }
    enqueues.join_all().await;
    assert_eq!(queue.stats().await.unwrap().ready, FLEET_ITEMS as u64);

    let ledger = Arc::new(Ledger::default());
    let addr = payment_server(ledger.clone()).await;
    let spec = format!("{}|{}|{addr}", pg.url, pg.schema);
    let mut drainers: Vec<Child> = (0..4)
        .map(|_| {
            Command::new(std::env::current_exe().unwrap())
                .args([
                    "--exact",
                    "fleet_drainer",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(DRAINER, &spec)
                .stdout(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    tokio::time::timeout(Duration::from_secs(60), ledger.quarter.notified())
        .await
        .expect("a quarter of the items delivered within a minute");
    drainers[0].kill().unwrap(); // SIGKILL, mid-way
    let finished = tokio::task::spawn_blocking(move || {
        drainers
            .iter_mut()
            .map(|child| child.wait().unwrap())
            .collect::<Vec<_>>()
    });
    let statuses = tokio::time::timeout(Duration::from_secs(120), finished)
        .await
        .expect("the fleet drains the queue")
        .unwrap();
    assert!(statuses[1..].iter().all(|s| s.success()), "{statuses:?}");

    let by_key = ledger.by_key.lock().unwrap().clone();
    let requests = ledger.requests.load(Ordering::Relaxed);
    let sent_twice = by_key.values().filter(|&&n| n > 1).count();
    // Every item delivered...
    assert_eq!(by_key.len(), FLEET_ITEMS, "delivered");
    for i in 0..FLEET_ITEMS {
        assert!(by_key.contains_key(&format!("order-{i:05}")));
    }
    // ...and sent more than once only if the killed drainer had leased it (at-least-once:
    // the receiver's idempotency key absorbs these). SKIP LOCKED leaves live drainers no
    // item to share, so the repeats are bounded by what one drainer holds at a time.
    let repeats = requests - FLEET_ITEMS as u64;
    assert!(
        repeats <= 2 * DRAINER_CONCURRENCY as u64,
        "{repeats} repeats ({sent_twice} keys), more than the killed drainer could hold"
    );
    let stats = queue.stats().await.unwrap();
    assert_eq!((stats.ready, stats.leased, stats.dead), (0, 0, 0));
    eprintln!(
        "fleet: {FLEET_ITEMS} items, {requests} requests, {repeats} repeats of the killed drainer's leased items (one charge each by key)"
    );
    drop(queue);
    pg.cleanup().await;
}
