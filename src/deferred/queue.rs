//! [`Queue`]: a store plus the policy (attempts, backoff, visibility timeout, size limits).

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;

use super::counters::Counters;
use super::{
    DeferredError, Enqueued, Item, Millis, NewItem, QueueBuilder, Stats, Store, MAX_KEY_LEN,
};
use crate::Name;

/// The most items one claim leases, whatever is asked.
const MAX_CLAIM: usize = 10_000;

/// The longest `last_error` kept with an item, in bytes.
const MAX_ERROR_LEN: usize = 1_024;

/// A durable queue of deferred requests: a [`Store`] and the rules for draining it.
/// Cheap to clone (clones share everything). See the [module docs](super) for the promises.
///
/// ```
/// use std::time::Duration;
/// use tower_breakwater::deferred::{Fate, Queue, RedbStore};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// # let dir = std::env::temp_dir().join(format!("bw-queue-doc-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir).unwrap();
/// let queue = Queue::builder("payments", RedbStore::open(dir.join("q.redb")).unwrap())
///     .max_attempts(3)
///     .backoff(Duration::from_secs(1), Duration::from_secs(60))
///     .visibility_timeout(Duration::from_secs(30))
///     .build()
///     .unwrap();
/// queue.migrate().await.unwrap();
/// queue.enqueue("order-1", b"1700".to_vec()).await.unwrap();
///
/// // A drainer of your own: claim, deliver, report.
/// let leased = queue.claim(10).await.unwrap();
/// let fate = queue.failed(&leased[0], "payments answered 503").await.unwrap();
/// assert!(matches!(fate, Fate::Retry { .. }));
/// # drop(queue);
/// # std::fs::remove_dir_all(&dir).ok();
/// # }
/// ```
#[derive(Clone)]
pub struct Queue {
    pub(super) inner: Arc<Inner>,
}

/// What a [`QueueBuilder`] checked.
pub(super) struct Settings {
    pub(super) name: Name,
    pub(super) store: Arc<dyn Store>,
    pub(super) max_attempts: u32,
    pub(super) backoff_initial: Duration,
    pub(super) backoff_max: Duration,
    pub(super) visibility_timeout: Duration,
    pub(super) max_payload: usize,
}

pub(super) struct Inner {
    pub(super) settings: Settings,
    clock: Clock,
    pub(super) counters: Counters,
    /// The last count of [`Queue::stats`], for the metrics.
    last_stats: Mutex<Option<Stats>>,
    /// True while a background recount (started by a scrape) runs.
    recounting: AtomicBool,
}

impl Queue {
    /// A queue called `name` (its label in metrics and logs) over `store`.
    ///
    /// ```
    /// # use tower_breakwater::deferred::{Queue, RedbStore};
    /// # let dir = std::env::temp_dir().join(format!("bw-new-doc-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir).unwrap();
    /// let queue = Queue::builder("payments", RedbStore::open(dir.join("q.redb")).unwrap())
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(queue.name(), "payments");
    /// # drop(queue); std::fs::remove_dir_all(&dir).ok();
    /// ```
    pub fn builder(name: impl Into<Name>, store: impl Store) -> QueueBuilder {
        QueueBuilder::new(name.into(), Arc::new(store))
    }

    /// A queue with settings [`QueueBuilder`] has checked.
    pub(super) fn with_settings(settings: Settings) -> Queue {
        Queue {
            inner: Arc::new(Inner {
                settings,
                clock: Clock::new(),
                counters: Counters::default(),
                last_stats: Mutex::new(None),
                recounting: AtomicBool::new(false),
            }),
        }
    }

    /// The queue's name.
    ///
    /// ```
    /// # use tower_breakwater::deferred::{Queue, RedbStore};
    /// # let dir = std::env::temp_dir().join(format!("bw-name-doc-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir).unwrap();
    /// # let queue = Queue::builder("payments", RedbStore::open(dir.join("q.redb")).unwrap()).build().unwrap();
    /// assert_eq!(queue.name(), "payments");
    /// # drop(queue); std::fs::remove_dir_all(&dir).ok();
    /// ```
    pub fn name(&self) -> &str {
        self.inner.settings.name.as_str()
    }

    pub(crate) fn name_owned(&self) -> Name {
        self.inner.settings.name.clone()
    }

    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    pub(crate) fn counters(&self) -> &Counters {
        &self.inner.counters
    }

    /// The store's kind: `"redb"` or `"postgres"`.
    ///
    /// ```
    /// # use tower_breakwater::deferred::{Queue, RedbStore};
    /// # let dir = std::env::temp_dir().join(format!("bw-kind-doc-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir).unwrap();
    /// # let queue = Queue::builder("payments", RedbStore::open(dir.join("q.redb")).unwrap()).build().unwrap();
    /// assert_eq!(queue.store_kind(), "redb");
    /// # drop(queue); std::fs::remove_dir_all(&dir).ok();
    /// ```
    pub fn store_kind(&self) -> &'static str {
        self.inner.settings.store.kind()
    }

    /// The queue's clock, in milliseconds since the Unix epoch: the wall clock when the
    /// queue was built, advanced by tokio's clock since (so a test with a paused clock
    /// controls it).
    ///
    /// ```
    /// # use tower_breakwater::deferred::{Queue, RedbStore};
    /// # let dir = std::env::temp_dir().join(format!("bw-now-doc-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir).unwrap();
    /// # let queue = Queue::builder("payments", RedbStore::open(dir.join("q.redb")).unwrap()).build().unwrap();
    /// assert!(queue.now() > 1_600_000_000_000); // after September 2020
    /// # drop(queue); std::fs::remove_dir_all(&dir).ok();
    /// ```
    pub fn now(&self) -> Millis {
        self.inner.clock.now()
    }

    /// Create the store's schema if it is missing. Safe to call from every instance at
    /// start-up.
    ///
    /// ```
    /// # use tower_breakwater::deferred::{Queue, RedbStore};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # let dir = std::env::temp_dir().join(format!("bw-mig-doc-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir).unwrap();
    /// # let queue = Queue::builder("payments", RedbStore::open(dir.join("q.redb")).unwrap()).build().unwrap();
    /// assert!(queue.stats().await.is_err()); // no schema yet
    /// queue.migrate().await.unwrap();
    /// assert_eq!(queue.stats().await.unwrap().ready, 0);
    /// # drop(queue); std::fs::remove_dir_all(&dir).ok();
    /// # }
    /// ```
    pub async fn migrate(&self) -> Result<(), DeferredError> {
        self.inner.settings.store.migrate().await
    }

    /// Store a request under its idempotency key. When this returns `Ok` the item is on
    /// disk (committed and fsync'd): answer "accepted" only then. A key already held keeps
    /// its one item ([`Enqueued::Duplicate`]).
    ///
    /// ```
    /// # use tower_breakwater::deferred::{Enqueued, Queue, RedbStore};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # let dir = std::env::temp_dir().join(format!("bw-enq-doc-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir).unwrap();
    /// # let queue = Queue::builder("payments", RedbStore::open(dir.join("q.redb")).unwrap()).build().unwrap();
    /// # queue.migrate().await.unwrap();
    /// assert_eq!(queue.enqueue("order-1", vec![1]).await.unwrap(), Enqueued::Added);
    /// assert_eq!(queue.enqueue("order-1", vec![2]).await.unwrap(), Enqueued::Duplicate);
    /// assert_eq!(queue.find("order-1").await.unwrap().unwrap().payload, [1]);
    /// # drop(queue); std::fs::remove_dir_all(&dir).ok();
    /// # }
    /// ```
    pub async fn enqueue(
        &self,
        key: impl Into<String>,
        payload: Vec<u8>,
    ) -> Result<Enqueued, DeferredError> {
        self.enqueue_item(NewItem::new(key, payload)).await
    }

    /// [`enqueue`](Queue::enqueue) an item built beforehand.
    ///
    /// ```
    /// # use tower_breakwater::deferred::{DeferredError, NewItem, Queue, RedbStore};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # let dir = std::env::temp_dir().join(format!("bw-enqi-doc-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir).unwrap();
    /// # let queue = Queue::builder("payments", RedbStore::open(dir.join("q.redb")).unwrap()).build().unwrap();
    /// # queue.migrate().await.unwrap();
    /// let err = queue.enqueue_item(NewItem::new("", vec![])).await.unwrap_err();
    /// assert_eq!(err, DeferredError::InvalidKey { len: 0 });
    /// # drop(queue); std::fs::remove_dir_all(&dir).ok();
    /// # }
    /// ```
    pub async fn enqueue_item(&self, item: NewItem) -> Result<Enqueued, DeferredError> {
        if item.key.is_empty() || item.key.len() > MAX_KEY_LEN {
            return Err(DeferredError::InvalidKey {
                len: item.key.len(),
            });
        }
        if item.payload.len() > self.inner.settings.max_payload {
            return Err(DeferredError::PayloadTooLarge {
                len: item.payload.len(),
                max: self.inner.settings.max_payload,
            });
        }
        let enqueued = self.inner.settings.store.enqueue(item, self.now()).await?;
        self.inner.counters.enqueued(enqueued);
        Ok(enqueued)
    }

    /// Lease up to `max` due items (oldest first; at most 10,000 at a time) for the
    /// visibility timeout. Report each
    /// with [`delivered`](Queue::delivered), [`failed`](Queue::failed) or
    /// [`unsent`](Queue::unsent); one that is not reported comes back when its lease runs
    /// out.
    ///
    /// ```
    /// # use tower_breakwater::deferred::{Queue, RedbStore};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # let dir = std::env::temp_dir().join(format!("bw-claim-doc-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir).unwrap();
    /// # let queue = Queue::builder("payments", RedbStore::open(dir.join("q.redb")).unwrap()).build().unwrap();
    /// # queue.migrate().await.unwrap();
    /// queue.enqueue("a", vec![]).await.unwrap();
    /// queue.enqueue("b", vec![]).await.unwrap();
    /// let leased = queue.claim(10).await.unwrap();
    /// assert_eq!(leased.iter().map(|i| i.key.as_str()).collect::<Vec<_>>(), ["a", "b"]);
    /// assert!(queue.claim(10).await.unwrap().is_empty()); // leased, hidden from others
    /// # drop(queue); std::fs::remove_dir_all(&dir).ok();
    /// # }
    /// ```
    pub async fn claim(&self, max: usize) -> Result<Vec<Item>, DeferredError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let now = self.now();
        let lease_until = now.saturating_add(millis(self.inner.settings.visibility_timeout));
        self.inner
            .settings
            .store
            .claim(max.min(MAX_CLAIM), now, lease_until)
            .await
    }

    /// Dead items with an id above `after` (0 for the first page), oldest first, at most
    /// `limit` (capped at 10,000).
    ///
    /// ```
    /// # use tower_breakwater::deferred::{Queue, RedbStore};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # let dir = std::env::temp_dir().join(format!("bw-dl-doc-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir).unwrap();
    /// # let queue = Queue::builder("payments", RedbStore::open(dir.join("q.redb")).unwrap()).build().unwrap();
    /// # queue.migrate().await.unwrap();
    /// assert!(queue.dead_letters(0, 100).await.unwrap().is_empty());
    /// # drop(queue); std::fs::remove_dir_all(&dir).ok();
    /// # }
    /// ```
    pub async fn dead_letters(&self, after: u64, limit: usize) -> Result<Vec<Item>, DeferredError> {
        self.inner
            .settings
            .store
            .dead_letters(after, limit.min(10_000))
            .await
    }

    /// Give the dead item with this key a fresh start: ready now, attempts back to zero.
    /// `false` if no dead item has this key.
    ///
    /// ```
    /// # use tower_breakwater::deferred::{ItemState, Queue, RedbStore};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # let dir = std::env::temp_dir().join(format!("bw-rq-doc-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir).unwrap();
    /// # let queue = Queue::builder("payments", RedbStore::open(dir.join("q.redb")).unwrap()).build().unwrap();
    /// # queue.migrate().await.unwrap();
    /// queue.enqueue("a", vec![]).await.unwrap();
    /// let leased = queue.claim(1).await.unwrap();
    /// queue.dead_letter(&leased[0], "card expired").await.unwrap();
    /// assert!(queue.requeue("a").await.unwrap());
    /// assert_eq!(queue.find("a").await.unwrap().unwrap().state, ItemState::Ready);
    /// # drop(queue); std::fs::remove_dir_all(&dir).ok();
    /// # }
    /// ```
    pub async fn requeue(&self, key: &str) -> Result<bool, DeferredError> {
        self.inner.settings.store.requeue(key, self.now()).await
    }

    /// The item with this key, if the queue holds it.
    ///
    /// ```
    /// # use tower_breakwater::deferred::{Queue, RedbStore};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # let dir = std::env::temp_dir().join(format!("bw-find-doc-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir).unwrap();
    /// # let queue = Queue::builder("payments", RedbStore::open(dir.join("q.redb")).unwrap()).build().unwrap();
    /// # queue.migrate().await.unwrap();
    /// assert!(queue.find("nope").await.unwrap().is_none());
    /// # drop(queue); std::fs::remove_dir_all(&dir).ok();
    /// # }
    /// ```
    pub async fn find(&self, key: &str) -> Result<Option<Item>, DeferredError> {
        self.inner.settings.store.find(key).await
    }

    /// Items by state and the oldest live item's enqueue time, now.
    ///
    /// ```
    /// # use tower_breakwater::deferred::{Queue, RedbStore};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # let dir = std::env::temp_dir().join(format!("bw-stats-doc-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir).unwrap();
    /// # let queue = Queue::builder("payments", RedbStore::open(dir.join("q.redb")).unwrap()).build().unwrap();
    /// # queue.migrate().await.unwrap();
    /// queue.enqueue("a", vec![]).await.unwrap();
    /// let stats = queue.stats().await.unwrap();
    /// assert_eq!((stats.ready, stats.leased, stats.dead), (1, 0, 0));
    /// # drop(queue); std::fs::remove_dir_all(&dir).ok();
    /// # }
    /// ```
    pub async fn stats(&self) -> Result<Stats, DeferredError> {
        let stats = self.inner.settings.store.stats(self.now()).await?;
        *self.inner.last_stats.lock() = Some(stats);
        Ok(stats)
    }

    /// The last count [`stats`](Queue::stats) made, if any.
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    pub(crate) fn last_stats(&self) -> Option<Stats> {
        *self.inner.last_stats.lock()
    }

    /// Start a count on `runtime` unless one is running (a scrape cannot wait for it).
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    pub(crate) fn recount_in_background(&self, runtime: &tokio::runtime::Handle) {
        if self.inner.recounting.swap(true, Ordering::AcqRel) {
            return;
        }
        let queue = self.clone();
        runtime.spawn(async move {
            if let Err(e) = queue.stats().await {
                tracing::warn!(queue = queue.name(), error = %e, "deferred queue count failed");
            }
            queue.inner.recounting.store(false, Ordering::Release);
        });
    }
}

impl fmt::Debug for Queue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queue")
            .field("name", &self.name())
            .field("store", &self.store_kind())
            .finish_non_exhaustive()
    }
}

/// Wall-clock milliseconds, advanced by tokio's clock: real time in production, the paused
/// clock in tests.
struct Clock {
    wall_at_start: Millis,
    start: tokio::time::Instant,
}

impl Clock {
    fn new() -> Self {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Clock {
            wall_at_start: millis(wall),
            start: tokio::time::Instant::now(),
        }
    }

    fn now(&self) -> Millis {
        self.wall_at_start
            .saturating_add(millis(self.start.elapsed()))
    }
}

pub(super) fn millis(d: Duration) -> Millis {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Cut an error message to `MAX_ERROR_LEN` bytes, on a character boundary.
pub(super) fn cut(mut text: String) -> String {
    if text.len() > MAX_ERROR_LEN {
        let mut end = MAX_ERROR_LEN;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_cut_on_a_character_boundary() {
        assert_eq!(cut("short".into()), "short");
        let long = "é".repeat(MAX_ERROR_LEN); // two bytes each
        let cut = cut(long);
        assert_eq!(cut.len(), MAX_ERROR_LEN);
        assert!(cut.chars().all(|c| c == 'é'));
    }
}
