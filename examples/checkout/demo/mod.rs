//! The checkout scenario, shared by `examples/checkout` and its test (`tests/checkout_demo.rs`).
//!
//! Orders arrive at a steady pace while the payment service follows its fault script. Each
//! order calls payments through the breakwater stack (see `client.rs`); whatever cannot be
//! charged now is accepted as "pending payment" and its payment is queued on disk. Each time
//! the breaker closes, and once more at the end, the queue is drained through the same client.

pub mod client;
pub mod metrics_server;
pub mod payment_server;
pub mod queue;
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

use client::{PaymentClient, DEFERRED};
use payment_server::PaymentServer;
use queue::DurableQueue;
use script::{Health, Script};

/// A payment the order service owes the payment service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Payment {
    pub order: u64,
    pub cents: u64,
}

pub struct Config {
    pub orders: u64,
    pub script: Script,
    /// Where the durable queue lives.
    pub db: PathBuf,
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
    fn drained(&self, _charged: u64, _still_queued: u64) {}
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
            && self.refused == 0
            && self.charged_at_once + self.charged_later == self.ledger
            && self.ledger + self.still_queued == self.orders
    }
}

pub async fn run(config: Config, observer: Arc<dyn Observer>) -> Result<Tally, BoxError> {
    let (server, addr) = PaymentServer::start().await?;
    let queue = DurableQueue::open(&config.db)?;
    let breaker = client::breaker()?;
    let registry = prometheus::Registry::new();
    let client = client::payment_client(addr, &breaker, queue.clone(), &registry)?;
    let metrics = metrics_server::serve(registry, config.metrics_port).await?;
    observer.serving_metrics(metrics);
    let started = Instant::now();

    tokio::spawn(follow_script(
        config.script.clone(),
        server.clone(),
        started,
        observer.clone(),
    ));
    let drainer = Arc::new(Drainer::new(
        client.clone(),
        queue.clone(),
        observer.clone(),
    ));
    let transitions = tokio::spawn(watch_breaker(
        breaker.clone(),
        drainer.clone(),
        started,
        observer.clone(),
    ));

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

    // The script ends healthy: let it get there, then drain what is left.
    tokio::time::sleep_until(started + config.script.total()).await;
    let deadline = Instant::now() + config.drain_deadline;
    while queue.len()? > 0 && Instant::now() < deadline {
        if drainer.drain().await? == 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

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
        charged_later: drainer.charged.load(Ordering::Relaxed),
        still_queued: queue.len()?,
        ledger: server.charged() as u64,
        server_requests: server.requests(),
        duplicates: server.duplicates(),
        breaker_rejections: snapshot.totals.rejected,
        wall_time: started.elapsed(),
        ..Tally::default()
    };
    for order in 0..config.orders {
        if !server.is_charged(order) && !queue.contains(order)? {
            tally.lost += 1;
        }
    }
    transitions.abort();
    tally.transitions = drainer.timeline.lock().await.clone();
    tally.breaker_metrics = metrics_server::scrape(metrics)
        .await?
        .lines()
        .filter(|line| line.starts_with("circuit_breaker_"))
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
    queue: DurableQueue,
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
        // Sent, and still a 5xx after the retries: queue it ourselves.
        Ok(_) => match queue.push(payment).await {
            Ok(()) => OrderOutcome::DeferredAfterFailure,
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
    drainer: Arc<Drainer>,
    started: Instant,
    observer: Arc<dyn Observer>,
) {
    let mut transitions = breaker.subscribe();
    drop(breaker);
    while let Ok(t) = transitions.recv().await {
        let at = t.at.duration_since(started);
        observer.transition(at, t.from, t.to);
        drainer.timeline.lock().await.push((at, t.from, t.to));
        if t.to == State::Closed {
            let drainer = drainer.clone();
            tokio::spawn(async move { drainer.drain().await });
        }
    }
}

/// Sends queued payments through the same client, one drain at a time.
struct Drainer {
    client: PaymentClient,
    queue: DurableQueue,
    observer: Arc<dyn Observer>,
    /// One drain at a time, so a payment is never sent twice by two drains.
    running: Mutex<()>,
    charged: AtomicU64,
    timeline: Mutex<Vec<(Duration, State, State)>>,
}

impl Drainer {
    fn new(client: PaymentClient, queue: DurableQueue, observer: Arc<dyn Observer>) -> Self {
        Drainer {
            client,
            queue,
            observer,
            running: Mutex::new(()),
            charged: AtomicU64::new(0),
            timeline: Mutex::new(Vec::new()),
        }
    }

    /// Charge queued payments, oldest first, until one does not go through: it stays
    /// queued (the fallback puts back a refused one), and so does everything after it.
    async fn drain(&self) -> Result<u64, BoxError> {
        let _one_at_a_time = self.running.lock().await;
        let mut charged = 0;
        for payment in self.queue.all()? {
            match self.client.clone().oneshot(payment).await {
                Ok(response)
                    if response.status().is_success()
                        && !response.headers().contains_key(DEFERRED) =>
                {
                    self.queue.remove(payment.order).await?;
                    charged += 1;
                }
                _ => break,
            }
        }
        self.charged.fetch_add(charged, Ordering::Relaxed);
        self.observer.drained(charged, self.queue.len()?);
        Ok(charged)
    }
}
