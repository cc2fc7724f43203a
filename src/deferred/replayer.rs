//! [`Replayer`]: drains a queue through the same stack, when the breaker closes and on an
//! interval, a few items at a time.

use std::collections::HashMap;
use std::fmt;
use std::future::poll_fn;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use tower_service::Service;

use super::{DeferredError, Item, Queue};
use crate::circuit_breaker::{CircuitBreaker, State};
use crate::{ConfigError, Error};

tokio::task_local! {
    /// Set while a replayer's delivery runs, so a deferring fallback in the same stack
    /// passes the failure on instead of enqueuing the item again (which would read as
    /// delivered and lose it).
    static REPLAYING: ();
}

/// True inside a [`Replayer`]'s delivery.
pub(crate) fn is_replaying() -> bool {
    REPLAYING.try_with(|_| ()).is_ok()
}

type Decode<Req> = Arc<dyn Fn(&Item) -> Result<Req, String> + Send + Sync>;
type Accept<Resp> = Arc<dyn Fn(&Resp) -> bool + Send + Sync>;

/// Sends deferred items through a service (the same stack the fallback sits on) and reports
/// each outcome to the queue:
/// - drains when its breaker closes (it subscribes to the transitions), and every
///   `interval` while the breaker is not open, starting at once;
/// - delivers at most `concurrency` items at a time;
/// - stops a drain as soon as the breaker refuses a call or is seen open: the refused items
///   are ready again with their attempt given back.
///
/// An item is delivered when the service answers `Ok` and
/// [`delivered_if`](ReplayerBuilder::delivered_if) accepts the response (by default every
/// `Ok`); otherwise the attempt failed and the queue retries it after its backoff or
/// dead-letters it. A payload that `decode` refuses is dead-lettered at once.
///
/// Delivery is at least once: the request must carry the item's key (put it in the
/// payload) so the receiver can deduplicate.
///
/// ```
/// use tower_breakwater::circuit_breaker::CircuitBreaker;
/// use tower_breakwater::deferred::{Queue, RedbStore, Replayer};
/// use tower_breakwater::Error;
/// use tower::service_fn;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// # let dir = std::env::temp_dir().join(format!("bw-replayer-doc-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir).unwrap();
/// let queue = Queue::builder("payments", RedbStore::open(dir.join("q.redb")).unwrap())
///     .build()
///     .unwrap();
/// queue.migrate().await.unwrap();
/// queue.enqueue("order-1", b"1".to_vec()).await.unwrap();
///
/// let breaker = CircuitBreaker::builder("payments").build().unwrap();
/// let payments = service_fn(|order: u64| async move { Ok::<_, Error<std::io::Error, u64>>(order) });
/// let replayer = Replayer::builder(&queue, payments, |item| {
///     std::str::from_utf8(&item.payload).ok().and_then(|s| s.parse::<u64>().ok()).ok_or("not a number")
/// })
/// .breaker(&breaker)
/// .concurrency(8)
/// .build()
/// .unwrap();
///
/// let report = replayer.drain().await.unwrap();
/// assert_eq!(report.delivered, 1);
/// assert_eq!(queue.stats().await.unwrap().ready, 0);
/// # drop((replayer, queue)); std::fs::remove_dir_all(&dir).ok();
/// # }
/// ```
pub struct Replayer<S, Req>
where
    S: Service<Req>,
{
    pub(super) queue: Queue,
    service: S,
    decode: Decode<Req>,
    accept: Accept<S::Response>,
    pub(super) breaker: Option<CircuitBreaker>,
    pub(super) interval: Duration,
    concurrency: usize,
}

/// Settings of a [`Replayer`], checked by [`build`](ReplayerBuilder::build).
///
/// ```
/// use std::time::Duration;
/// use tower_breakwater::deferred::{Queue, RedbStore, Replayer};
/// use tower_breakwater::Error;
/// use tower::service_fn;
///
/// # let dir = std::env::temp_dir().join(format!("bw-rb-doc-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir).unwrap();
/// # let queue = Queue::builder("p", RedbStore::open(dir.join("q.redb")).unwrap()).build().unwrap();
/// let svc = service_fn(|()| async { Ok::<_, Error<std::io::Error, ()>>(()) });
/// let err = Replayer::builder(&queue, svc, |_| Ok::<_, String>(())).concurrency(0).build().unwrap_err();
/// assert_eq!(err.field(), "concurrency");
/// # drop(queue); std::fs::remove_dir_all(&dir).ok();
/// ```
pub struct ReplayerBuilder<S, Req>
where
    S: Service<Req>,
{
    replayer: Replayer<S, Req>,
}

/// What one [`drain`](Replayer::drain) did.
///
/// ```
/// use tower_breakwater::deferred::DrainReport;
/// assert_eq!(DrainReport::default().delivered, 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DrainReport {
    /// Items delivered and forgotten.
    pub delivered: u64,
    /// Failed attempts that will be retried after their backoff.
    pub failed: u64,
    /// Items dead-lettered (last attempt failed, or an undecodable payload).
    pub dead: u64,
    /// Items the breaker (or a full bulkhead) refused: ready again, attempt given back.
    pub refused: u64,
    /// The drain stopped because the breaker was open or refused a call.
    pub stopped_by_breaker: bool,
}

impl<S, Req> Replayer<S, Req>
where
    S: Service<Req>,
{
    /// A replayer of `queue` through `service`; `decode` turns a stored payload back into a
    /// request (an error dead-letters the item).
    ///
    /// ```
    /// # use tower_breakwater::deferred::{Queue, RedbStore, Replayer};
    /// # use tower_breakwater::Error;
    /// # use tower::service_fn;
    /// # let dir = std::env::temp_dir().join(format!("bw-rnew-doc-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir).unwrap();
    /// # let queue = Queue::builder("p", RedbStore::open(dir.join("q.redb")).unwrap()).build().unwrap();
    /// let svc = service_fn(|s: String| async move { Ok::<_, Error<std::io::Error, String>>(s.len()) });
    /// let replayer = Replayer::builder(&queue, svc, |item| String::from_utf8(item.payload.clone()))
    ///     .build()
    ///     .unwrap();
    /// # drop((replayer, queue)); std::fs::remove_dir_all(&dir).ok();
    /// ```
    pub fn builder<D, DE>(queue: &Queue, service: S, decode: D) -> ReplayerBuilder<S, Req>
    where
        D: Fn(&Item) -> Result<Req, DE> + Send + Sync + 'static,
        DE: fmt::Display,
    {
        ReplayerBuilder {
            replayer: Replayer {
                queue: queue.clone(),
                service,
                decode: Arc::new(move |item| decode(item).map_err(|e| e.to_string())),
                accept: Arc::new(|_| true),
                breaker: None,
                interval: Duration::from_secs(5),
                concurrency: 8,
            },
        }
    }
}

impl<S, Req> ReplayerBuilder<S, Req>
where
    S: Service<Req>,
{
    /// Drain when this breaker closes, and never while it is open (default: no breaker;
    /// drain on the interval only).
    ///
    /// ```
    /// # use tower_breakwater::circuit_breaker::CircuitBreaker;
    /// # use tower_breakwater::deferred::{Queue, RedbStore, Replayer};
    /// # use tower_breakwater::Error;
    /// # use tower::service_fn;
    /// # let dir = std::env::temp_dir().join(format!("bw-rbr-doc-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir).unwrap();
    /// # let queue = Queue::builder("p", RedbStore::open(dir.join("q.redb")).unwrap()).build().unwrap();
    /// let breaker = CircuitBreaker::builder("p").build().unwrap();
    /// let svc = service_fn(|()| async { Ok::<_, Error<std::io::Error, ()>>(()) });
    /// let replayer = Replayer::builder(&queue, svc, |_| Ok::<_, String>(())).breaker(&breaker).build();
    /// # drop((replayer, queue)); std::fs::remove_dir_all(&dir).ok();
    /// ```
    pub fn breaker(mut self, breaker: &CircuitBreaker) -> Self {
        self.replayer.breaker = Some(breaker.clone());
        self
    }

    /// Drain this often, breaker closed or not (default 5 s; 10 ms to a day).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tower_breakwater::deferred::{Queue, RedbStore, Replayer};
    /// # use tower_breakwater::Error;
    /// # use tower::service_fn;
    /// # let dir = std::env::temp_dir().join(format!("bw-ri-doc-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir).unwrap();
    /// # let queue = Queue::builder("p", RedbStore::open(dir.join("q.redb")).unwrap()).build().unwrap();
    /// let svc = service_fn(|()| async { Ok::<_, Error<std::io::Error, ()>>(()) });
    /// let replayer = Replayer::builder(&queue, svc, |_| Ok::<_, String>(()))
    ///     .interval(Duration::from_secs(30))
    ///     .build();
    /// # drop((replayer, queue)); std::fs::remove_dir_all(&dir).ok();
    /// ```
    pub fn interval(mut self, interval: Duration) -> Self {
        self.replayer.interval = interval;
        self
    }

    /// Deliver at most this many items at once (default 8; 1 to 1024).
    ///
    /// ```
    /// # use tower_breakwater::deferred::{Queue, RedbStore, Replayer};
    /// # use tower_breakwater::Error;
    /// # use tower::service_fn;
    /// # let dir = std::env::temp_dir().join(format!("bw-rc-doc-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir).unwrap();
    /// # let queue = Queue::builder("p", RedbStore::open(dir.join("q.redb")).unwrap()).build().unwrap();
    /// let svc = service_fn(|()| async { Ok::<_, Error<std::io::Error, ()>>(()) });
    /// let replayer = Replayer::builder(&queue, svc, |_| Ok::<_, String>(())).concurrency(32).build();
    /// # drop((replayer, queue)); std::fs::remove_dir_all(&dir).ok();
    /// ```
    pub fn concurrency(mut self, concurrency: usize) -> Self {
        self.replayer.concurrency = concurrency;
        self
    }

    /// Count an `Ok` response as delivered only if `accept` says so (an HTTP client's
    /// `Ok(500)`, say, is a failed attempt).
    ///
    /// ```
    /// # use tower_breakwater::deferred::{Queue, RedbStore, Replayer};
    /// # use tower_breakwater::Error;
    /// # use tower::service_fn;
    /// # let dir = std::env::temp_dir().join(format!("bw-rd-doc-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir).unwrap();
    /// # let queue = Queue::builder("p", RedbStore::open(dir.join("q.redb")).unwrap()).build().unwrap();
    /// let svc = service_fn(|()| async { Ok::<_, Error<std::io::Error, ()>>(200u16) });
    /// let replayer = Replayer::builder(&queue, svc, |_| Ok::<_, String>(()))
    ///     .delivered_if(|status: &u16| (200..300).contains(status))
    ///     .build();
    /// # drop((replayer, queue)); std::fs::remove_dir_all(&dir).ok();
    /// ```
    pub fn delivered_if<F>(mut self, accept: F) -> Self
    where
        F: Fn(&S::Response) -> bool + Send + Sync + 'static,
    {
        self.replayer.accept = Arc::new(accept);
        self
    }

    /// Check the settings and make the replayer.
    ///
    /// ```
    /// # use tower_breakwater::deferred::{Queue, RedbStore, Replayer};
    /// # use tower_breakwater::Error;
    /// # use tower::service_fn;
    /// # let dir = std::env::temp_dir().join(format!("bw-rbu-doc-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir).unwrap();
    /// # let queue = Queue::builder("p", RedbStore::open(dir.join("q.redb")).unwrap()).build().unwrap();
    /// let svc = service_fn(|()| async { Ok::<_, Error<std::io::Error, ()>>(()) });
    /// assert!(Replayer::builder(&queue, svc, |_| Ok::<_, String>(())).build().is_ok());
    /// # drop(queue); std::fs::remove_dir_all(&dir).ok();
    /// ```
    pub fn build(self) -> Result<Replayer<S, Req>, ConfigError> {
        let r = self.replayer;
        let name = r.queue.name();
        if !(1..=1_024).contains(&r.concurrency) {
            return Err(ConfigError::new(
                name,
                "concurrency",
                r.concurrency,
                "1 to 1024 deliveries at once",
            ));
        }
        if r.interval < Duration::from_millis(10) || r.interval > Duration::from_secs(86_400) {
            return Err(ConfigError::new(
                name,
                "interval",
                r.interval,
                "10ms to a day",
            ));
        }
        Ok(r)
    }
}

/// How one delivery ended.
enum Outcome {
    Delivered,
    Failed(String),
    Refused,
}

impl<S, Req, E> Replayer<S, Req>
where
    S: Service<Req, Error = Error<E, Req>> + Clone + Send + 'static,
    S::Future: Send,
    S::Response: Send + 'static,
    Req: Send + 'static,
    E: fmt::Display + Send + 'static,
{
    /// Drain now: claim up to `concurrency` due items, deliver them at once, report, and
    /// again, until nothing is due or the breaker refuses or is open.
    ///
    /// ```
    /// # use tower_breakwater::deferred::{Queue, RedbStore, Replayer};
    /// # use tower_breakwater::Error;
    /// # use tower::service_fn;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # let dir = std::env::temp_dir().join(format!("bw-rdr-doc-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir).unwrap();
    /// # let queue = Queue::builder("p", RedbStore::open(dir.join("q.redb")).unwrap()).build().unwrap();
    /// # queue.migrate().await.unwrap();
    /// let svc = service_fn(|()| async { Ok::<_, Error<std::io::Error, ()>>(()) });
    /// let replayer = Replayer::builder(&queue, svc, |_| Ok::<_, String>(())).build().unwrap();
    /// assert_eq!(replayer.drain().await.unwrap().delivered, 0); // nothing queued
    /// # drop((replayer, queue)); std::fs::remove_dir_all(&dir).ok();
    /// # }
    /// ```
    pub async fn drain(&self) -> Result<DrainReport, DeferredError> {
        let mut report = DrainReport::default();
        loop {
            if self.breaker_open() {
                report.stopped_by_breaker = true;
                break;
            }
            let items = self.queue.claim(self.concurrency).await?;
            if items.is_empty() {
                break;
            }
            if self.deliver_batch(items, &mut report).await? {
                report.stopped_by_breaker = true;
                break;
            }
        }
        tracing::debug!(
            queue = self.queue.name(),
            delivered = report.delivered,
            failed = report.failed,
            dead = report.dead,
            refused = report.refused,
            stopped_by_breaker = report.stopped_by_breaker,
            "deferred queue drained"
        );
        Ok(report)
    }

    fn breaker_open(&self) -> bool {
        self.breaker
            .as_ref()
            .is_some_and(|b| matches!(b.state(), State::Open | State::ForcedOpen))
    }

    /// Deliver `items` concurrently and report them; true if one was refused.
    async fn deliver_batch(
        &self,
        items: Vec<Item>,
        report: &mut DrainReport,
    ) -> Result<bool, DeferredError> {
        let mut running = JoinSet::new();
        let mut by_task = HashMap::with_capacity(items.len());
        let mut outcomes: Vec<Option<Outcome>> = Vec::with_capacity(items.len());
        for (index, item) in items.iter().enumerate() {
            outcomes.push(None);
            let request = match (self.decode)(item) {
                Ok(request) => request,
                Err(e) => {
                    if self
                        .queue
                        .dead_letter(item, format!("payload not decodable: {e}"))
                        .await?
                    {
                        report.dead += 1;
                    }
                    continue;
                }
            };
            // Each concurrent delivery needs its own readied service: a clone per item.
            let service = self.service.clone();
            let accept = self.accept.clone();
            let task = running.spawn(REPLAYING.scope((), deliver(service, request, accept)));
            by_task.insert(task.id(), index);
        }
        while let Some(joined) = running.join_next_with_id().await {
            let (id, outcome) = match joined {
                Ok((id, outcome)) => (id, outcome),
                Err(e) => (e.id(), Outcome::Failed("the delivery panicked".into())),
            };
            outcomes[by_task[&id]] = Some(outcome);
        }
        let mut delivered = Vec::new();
        let mut refused = false;
        for (item, outcome) in items.into_iter().zip(outcomes) {
            match outcome {
                None => {} // dead-lettered above
                Some(Outcome::Delivered) => delivered.push(item),
                Some(Outcome::Refused) => {
                    refused = true;
                    if self.queue.unsent(&item).await? {
                        report.refused += 1;
                    }
                }
                Some(Outcome::Failed(error)) => match self.queue.failed(&item, error).await? {
                    super::Fate::Retry { .. } => report.failed += 1,
                    super::Fate::Dead => report.dead += 1,
                    super::Fate::LeaseLost => {}
                },
            }
        }
        self.queue.delivered(&delivered).await?;
        report.delivered += delivered.len() as u64;
        Ok(refused)
    }
}

async fn deliver<S, Req, E>(mut service: S, request: Req, accept: Accept<S::Response>) -> Outcome
where
    S: Service<Req, Error = Error<E, Req>>,
    E: fmt::Display,
{
    let result = match poll_fn(|cx| service.poll_ready(cx)).await {
        Ok(()) => service.call(request).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(response) if accept(&response) => Outcome::Delivered,
        Ok(_) => Outcome::Failed("the response was not accepted as delivered".into()),
        Err(e) if e.is_rejected() || e.is_bulkhead_full() => Outcome::Refused,
        Err(e) => Outcome::Failed(e.to_string()),
    }
}

impl<S: Service<Req>, Req> fmt::Debug for Replayer<S, Req> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Replayer")
            .field("queue", &self.queue.name())
            .field("interval", &self.interval)
            .field("concurrency", &self.concurrency)
            .finish_non_exhaustive()
    }
}

impl<S: Service<Req>, Req> fmt::Debug for ReplayerBuilder<S, Req> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ReplayerBuilder")
            .field(&self.replayer)
            .finish()
    }
}
