//! The checkout scenario, shared by `examples/checkout` and its test (`tests/checkout_demo.rs`).
//!
//! Orders arrive at a steady pace while the payment service follows its fault script. Each
//! order calls payments through the breakwater stack (see `client.rs`); whatever cannot be
//! charged now is accepted as "pending payment" and its payment is deferred to a durable
//! queue (`tower_breakwater::deferred`: redb on disk, or PostgreSQL). A `Replayer` drains
//! the queue through the same client each time the breaker closes and on an interval; at the
//! end the demo waits for the queue to empty.

pub mod client;
pub mod metrics_server;
pub mod payment_server;
pub mod script;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::{Instant, MissedTickBehavior};
use tower::{BoxError, ServiceExt};
use tower_breakwater::circuit_breaker::{CircuitBreaker, State};
use tower_breakwater::deferred::{PostgresStore, Queue, RedbStore, Replayer};

use client::{PaymentClient, DEFERRED};
use payment_server::PaymentServer;
use script::{Health, Script};

/// A payment the order service owes the payment service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Payment {
    pub order: u64,
    pub cents: u64,
}

/// Where the deferred payments are kept.
#[derive(Debug, Clone)]
pub enum StoreChoice {
    /// An embedded redb file (nothing to install).
    Redb(PathBuf),
    /// A PostgreSQL server: `url`, and the schema of this run's table.
    Postgres { url: String, schema: String },
}

impl std::fmt::Display for StoreChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreChoice::Redb(path) => write!(f, "redb file {}", path.display()),
            StoreChoice::Postgres { url, schema } => {
                write!(f, "postgres {url}, table {schema}.breakwater_deferred")
            }
        }
    }
}

impl StoreChoice {
    /// The queue of deferred payments, its schema created.
    pub async fn open(&self) -> Result<Queue, BoxError> {
        let builder = match self {
            StoreChoice::Redb(path) => Queue::builder("payments", RedbStore::open(path)?),
            StoreChoice::Postgres { url, schema } => {
                let store = PostgresStore::builder(url).schema(schema).connect().await?;
                Queue::builder("payments", store)
            }
        };
        let queue = builder.build()?;
        queue.migrate().await?;
        Ok(queue)
    }
}

pub struct Config {
    pub orders: u64,
    pub script: Script,
    /// Where the durable queue lives.
    pub store: StoreChoice,
    /// How long the final drain may take once the orders are in.
    pub drain_deadline: Duration,
    /// Where `/metrics` is served on 127.0.0.1 (0: any free port).
    pub metrics_port: u16,
}

/// What became of one order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderOutcome {
    /// The payment service charged it during the order.
    Charged,
    /// Accepted without calling payments: the breaker was open.
    DeferredBreakerOpen,
    /// Accepted after the call failed (timeout, 5xx after retries): the payment is queued.
    DeferredAfterFailure,
    /// Not accepted: the payment could not even be queued.
    Refused,
}

/// Hooks for showing progress; every method has a do-nothing default.
pub trait Observer: Send + Sync + 'static {
    fn serving_metrics(&self, _addr: SocketAddr) {}
    fn phase(&self, _at: Duration, _health: Health) {}
    fn transition(&self, _at: Duration, _from: State, _to: State) {}
    fn order(&self, _outcome: OrderOutcome) {}
    fn drained(&self, _at: Duration, _charged: u64, _still_queued: u64) {}
}

/// The end of the story.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    pub orders: u64,
    pub accepted: u64,
    pub refused: u64,
    pub charged_at_once: u64,
    pub deferred_breaker_open: u64,
    pub deferred_after_failure: u64,
    pub charged_later: u64,
    pub still_queued: u64,
    /// Orders neither charged (by the payment service's own ledger) nor queued on disk.
    pub lost: u64,
    /// Charges in the payment service's ledger.
    pub ledger: u64,
    /// Requests that reached the payment service.
    pub server_requests: u64,
    /// Payments sent again after they had been charged (absorbed by the idempotency key).
    pub duplicates: u64,
    /// Orders the payment service charged more than once.
    pub charged_twice: u64,
    pub breaker_rejections: u64,
    pub transitions: Vec<(Duration, State, State)>,
    pub wall_time: Duration,
    /// The breaker's lines of a last scrape of `/metrics`.
    pub breaker_metrics: Vec<String>,
}

impl Tally {
    /// True when nothing was lost and every charge is accounted for exactly once.
    pub fn balanced(&self) -> bool {
        self.lost == 0
            && self.charged_twice == 0
            && self.refused == 0
            && self.charged_at_once + self.charged_later == self.ledger
            && self.ledger + self.still_queued == self.orders
    }
}

pub async fn run(config: Config, observer: Arc<dyn Observer>) -> Result<Tally, BoxError> {
    let (server, addr) = PaymentServer::start().await?;
    let queue = config.store.open().await?;
    let breaker = client::breaker()?;
    let registry = prometheus::Registry::new();
    let client = client::payment_client(addr, &breaker, &queue, &registry)?;
    let metrics = metrics_server::serve(registry, config.metrics_port).await?;
    observer.serving_metrics(metrics);
    let started = Instant::now();

    tokio::spawn(follow_script(
        config.script.clone(),
        server.clone(),
        started,
        observer.clone(),
    ));
    let timeline = Arc::new(Mutex::new(Vec::new()));
    let transitions = tokio::spawn(watch_breaker(
        breaker.clone(),
        timeline.clone(),
        started,
        observer.clone(),
    ));
    // Queued payments go back through the same client when the breaker closes (and every
    // half second while it is not open), eight at a time.
    let charged_later = Arc::new(AtomicU64::new(0));
    let replayer = Replayer::builder(&queue, client.clone(), client::decode)
        .breaker(&breaker)
        .interval(Duration::from_millis(500))
        .concurrency(8)
        .delivered_if({
            let charged_later = charged_later.clone();
            move |response: &client::PaymentResponse| {
                let charged =
                    response.status().is_success() && !response.headers().contains_key(DEFERRED);
                if charged {
                    charged_later.fetch_add(1, Ordering::Relaxed);
                }
                charged
            }
        })
        .build()?
        .spawn();

    let counts = Arc::new(Counts::default());
    let interval = config.script.total().div_f64(config.orders.max(1) as f64);
    let mut pace = tokio::time::interval(interval);
    pace.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut orders = Vec::with_capacity(config.orders as usize);
    for order in 0..config.orders {
        pace.tick().await;
        let payment = Payment {
            order,
            cents: 1_000 + order % 9_000,
        };
        orders.push(tokio::spawn(take_order(
            client.clone(),
            queue.clone(),
            payment,
            counts.clone(),
            observer.clone(),
        )));
    }
    for order in orders {
        order.await?;
    }

    // The script ends healthy: let it get there, then let the replayer empty the queue.
    tokio::time::sleep_until(started + config.script.total()).await;
    let deadline = Instant::now() + config.drain_deadline;
    let mut pending = queue.stats().await?;
    while pending.ready + pending.leased > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        pending = queue.stats().await?;
    }
    replayer.shutdown().await;
    let still_queued = pending.ready + pending.leased + pending.dead;
    observer.drained(
        started.elapsed(),
        charged_later.load(Ordering::Relaxed),
        still_queued,
    );

    let snapshot = breaker.snapshot();
    let mut tally = Tally {
        orders: config.orders,
        accepted: counts.charged.load(Ordering::Relaxed)
            + counts.deferred_open.load(Ordering::Relaxed)
            + counts.deferred_failure.load(Ordering::Relaxed),
        refused: counts.refused.load(Ordering::Relaxed),
        charged_at_once: counts.charged.load(Ordering::Relaxed),
        deferred_breaker_open: counts.deferred_open.load(Ordering::Relaxed),
        deferred_after_failure: counts.deferred_failure.load(Ordering::Relaxed),
        charged_later: charged_later.load(Ordering::Relaxed),
        still_queued,
        ledger: server.charged() as u64,
        server_requests: server.requests(),
        duplicates: server.duplicates(),
        charged_twice: server.charged_twice() as u64,
        breaker_rejections: snapshot.totals.rejected,
        wall_time: started.elapsed(),
        ..Tally::default()
    };
    for order in 0..config.orders {
        if !server.is_charged(order) && queue.find(&order.to_string()).await?.is_none() {
            tally.lost += 1;
        }
    }
    transitions.abort();
    tally.transitions = timeline.lock().await.clone();
    tally.breaker_metrics = metrics_server::scrape(metrics)
        .await?
        .lines()
        .filter(|line| line.starts_with("circuit_breaker_") || line.starts_with("deferred_"))
        .map(str::to_owned)
        .collect();
    Ok(tally)
}

#[derive(Default)]
struct Counts {
    charged: AtomicU64,
    deferred_open: AtomicU64,
    deferred_failure: AtomicU64,
    refused: AtomicU64,
}

async fn take_order(
    client: PaymentClient,
    queue: Queue,
    payment: Payment,
    counts: Arc<Counts>,
    observer: Arc<dyn Observer>,
) {
    let outcome = match client.oneshot(payment).await {
        Ok(response) if response.status().is_success() => {
            match response.headers().get(DEFERRED).map(|v| v.as_bytes()) {
                None => OrderOutcome::Charged,
                Some(b"breaker-open") => OrderOutcome::DeferredBreakerOpen,
                Some(_) => OrderOutcome::DeferredAfterFailure,
            }
        }
        // Sent, and still a 5xx after the retries: defer it ourselves.
        Ok(_) => match queue.enqueue_item(client::encode(&payment)).await {
            Ok(_) => OrderOutcome::DeferredAfterFailure,
            Err(_) => OrderOutcome::Refused,
        },
        // The fallback could not queue it: the order is turned away, never silently dropped.
        Err(_) => OrderOutcome::Refused,
    };
    let counter = match outcome {
        OrderOutcome::Charged => &counts.charged,
        OrderOutcome::DeferredBreakerOpen => &counts.deferred_open,
        OrderOutcome::DeferredAfterFailure => &counts.deferred_failure,
        OrderOutcome::Refused => &counts.refused,
    };
    counter.fetch_add(1, Ordering::Relaxed);
    observer.order(outcome);
}

async fn follow_script(
    script: Script,
    server: Arc<PaymentServer>,
    started: Instant,
    observer: Arc<dyn Observer>,
) {
    let mut begins = started;
    for (health, length) in script.phases {
        tokio::time::sleep_until(begins).await;
        server.set_health(health);
        observer.phase(begins - started, health);
        begins += length;
    }
}

async fn watch_breaker(
    breaker: CircuitBreaker,
    timeline: Arc<Mutex<Vec<(Duration, State, State)>>>,
    started: Instant,
    observer: Arc<dyn Observer>,
) {
    let mut transitions = breaker.subscribe();
    drop(breaker);
    while let Ok(t) = transitions.recv().await {
        let at = t.at.duration_since(started);
        observer.transition(at, t.from, t.to);
        timeline.lock().await.push((at, t.from, t.to));
    }
}
