//! [`Queue`]: a store plus the policy (attempts, backoff, visibility timeout, size limits).

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;

use super::counters::Counters;
use super::{DeferredError, Enqueued, Item, Millis, NewItem, Release, Stats, Store, MAX_KEY_LEN};
use crate::config_error::LONGEST;
use crate::{ConfigError, Name};

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
    inner: Arc<Inner>,
}

struct Inner {
    name: Name,
    store: Arc<dyn Store>,
    max_attempts: u32,
    backoff_initial: Duration,
    backoff_max: Duration,
    visibility_timeout: Duration,
    max_payload: usize,
    clock: Clock,
    counters: Counters,
    /// The last count of [`Queue::stats`], for the metrics.
    last_stats: Mutex<Option<Stats>>,
    /// True while a background recount (started by a scrape) runs.
    recounting: AtomicBool,
}

/// What [`Queue::failed`] did with an item.
///
/// ```
/// use tower_breakwater::deferred::Fate;
/// assert_ne!(Fate::Dead, Fate::LeaseLost);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// It will be tried again, not before `at`.
    Retry {
        /// When it is due again.
        at: Millis,
    },
    /// That was its last attempt: it is dead-lettered.
    Dead,
    /// Its lease had run out and another drainer has it (or it is gone): nothing changed.
    LeaseLost,
}

/// Settings of a [`Queue`], checked by [`build`](QueueBuilder::build).
///
/// ```
/// use std::time::Duration;
/// use tower_breakwater::deferred::{Queue, RedbStore};
///
/// # let dir = std::env::temp_dir().join(format!("bw-builder-doc-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir).unwrap();
/// let err = Queue::builder("payments", RedbStore::open(dir.join("q.redb")).unwrap())
///     .max_attempts(0)
///     .build()
///     .unwrap_err();
/// assert_eq!(err.field(), "max_attempts");
/// # std::fs::remove_dir_all(&dir).ok();
/// ```
pub struct QueueBuilder {
    name: Name,
    store: Arc<dyn Store>,
    max_attempts: u32,
    backoff: (Duration, Duration),
    visibility_timeout: Duration,
    max_payload: usize,
}

impl fmt::Debug for QueueBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueueBuilder")
            .field("name", &self.name.as_str())
            .field("store", &self.store.kind())
            .field("max_attempts", &self.max_attempts)
            .field("backoff", &self.backoff)
            .field("visibility_timeout", &self.visibility_timeout)
            .field("max_payload", &self.max_payload)
            .finish()
    }
}

impl QueueBuilder {
    /// Attempts per item before it is dead-lettered (default 10; 1 to 1000).
    ///
    /// ```
    /// # use tower_breakwater::deferred::{Queue, RedbStore};
    /// # let dir = std::env::temp_dir().join(format!("bw-ma-doc-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir).unwrap();
    /// # let store = RedbStore::open(dir.join("q.redb")).unwrap();
    /// let queue = Queue::builder("payments", store).max_attempts(5).build().unwrap();
    /// # drop(queue); std::fs::remove_dir_all(&dir).ok();
    /// ```
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts;
        self
    }

    /// Wait `initial` after a first failed attempt, doubling after each further one, never
    /// more than `max` (default 1 s and 5 min).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tower_breakwater::deferred::{Queue, RedbStore};
    /// # let dir = std::env::temp_dir().join(format!("bw-bo-doc-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir).unwrap();
    /// # let store = RedbStore::open(dir.join("q.redb")).unwrap();
    /// let err = Queue::builder("payments", store)
    ///     .backoff(Duration::from_secs(10), Duration::from_secs(1))
    ///     .build()
    ///     .unwrap_err();
    /// assert_eq!(err.field(), "backoff");
    /// # std::fs::remove_dir_all(&dir).ok();
    /// ```
    pub fn backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.backoff = (initial, max);
        self
    }

    /// How long a claimed item is hidden from other drainers (default 30 s). Longer than a
    /// delivery takes; when it runs out (its drainer crashed) the item comes back.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tower_breakwater::deferred::{Queue, RedbStore};
    /// # let dir = std::env::temp_dir().join(format!("bw-vt-doc-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir).unwrap();
    /// # let store = RedbStore::open(dir.join("q.redb")).unwrap();
    /// let queue = Queue::builder("payments", store)
    ///     .visibility_timeout(Duration::from_secs(60))
    ///     .build()
    ///     .unwrap();
    /// # drop(queue); std::fs::remove_dir_all(&dir).ok();
    /// ```
    pub fn visibility_timeout(mut self, timeout: Duration) -> Self {
        self.visibility_timeout = timeout;
        self
    }

    /// The largest payload accepted, in bytes (default 1 MiB, at most 64 MiB): a larger one
    /// is refused with [`DeferredError::PayloadTooLarge`].
    ///
    /// ```
    /// # use tower_breakwater::deferred::{Queue, RedbStore};
    /// # let dir = std::env::temp_dir().join(format!("bw-mp-doc-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir).unwrap();
    /// # let store = RedbStore::open(dir.join("q.redb")).unwrap();
    /// let queue = Queue::builder("payments", store).max_payload(64 * 1024).build().unwrap();
    /// # drop(queue); std::fs::remove_dir_all(&dir).ok();
    /// ```
    pub fn max_payload(mut self, bytes: usize) -> Self {
        self.max_payload = bytes;
        self
    }

    /// Check the settings and make the queue.
    ///
    /// ```
    /// # use tower_breakwater::deferred::{Queue, RedbStore};
    /// # let dir = std::env::temp_dir().join(format!("bw-build-doc-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir).unwrap();
    /// # let store = RedbStore::open(dir.join("q.redb")).unwrap();
    /// assert!(Queue::builder("", store).build().is_err());
    /// # std::fs::remove_dir_all(&dir).ok();
    /// ```
    pub fn build(self) -> Result<Queue, ConfigError> {
        let name = self.name.as_str();
        ConfigError::check_name(name)?;
        if !(1..=1_000).contains(&self.max_attempts) {
            return Err(ConfigError::new(
                name,
                "max_attempts",
                self.max_attempts,
                "1 to 1000 attempts",
            ));
        }
        let (initial, max) = self.backoff;
        if initial.is_zero() || initial > max || max > LONGEST {
            return Err(ConfigError::new(
                name,
                "backoff",
                self.backoff,
                "0 < initial <= max <= 10 years",
            ));
        }
        if self.visibility_timeout < Duration::from_millis(10) || self.visibility_timeout > LONGEST
        {
            return Err(ConfigError::new(
                name,
                "visibility_timeout",
                self.visibility_timeout,
                "10ms to 10 years",
            ));
        }
        if !(1..=64 << 20).contains(&self.max_payload) {
            return Err(ConfigError::new(
                name,
                "max_payload",
                self.max_payload,
                "1 byte to 64 MiB",
            ));
        }
        Ok(Queue {
            inner: Arc::new(Inner {
                name: self.name,
                store: self.store,
                max_attempts: self.max_attempts,
                backoff_initial: initial,
                backoff_max: max,
                visibility_timeout: self.visibility_timeout,
                max_payload: self.max_payload,
                clock: Clock::new(),
                counters: Counters::default(),
                last_stats: Mutex::new(None),
                recounting: AtomicBool::new(false),
            }),
        })
    }
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
        QueueBuilder {
            name: name.into(),
            store: Arc::new(store),
            max_attempts: 10,
            backoff: (Duration::from_secs(1), Duration::from_secs(300)),
            visibility_timeout: Duration::from_secs(30),
            max_payload: 1 << 20,
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
        self.inner.name.as_str()
    }

    pub(crate) fn name_owned(&self) -> Name {
        self.inner.name.clone()
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
        self.inner.store.kind()
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
        self.inner.store.migrate().await
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
        if item.payload.len() > self.inner.max_payload {
            return Err(DeferredError::PayloadTooLarge {
                len: item.payload.len(),
                max: self.inner.max_payload,
            });
        }
        let enqueued = self.inner.store.enqueue(item, self.now()).await?;
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
        let lease_until = now.saturating_add(millis(self.inner.visibility_timeout));
        self.inner
            .store
            .claim(max.min(MAX_CLAIM), now, lease_until)
            .await
    }

    /// These claimed items were delivered: forget them.
    ///
    /// ```
    /// # use tower_breakwater::deferred::{Queue, RedbStore};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # let dir = std::env::temp_dir().join(format!("bw-del-doc-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir).unwrap();
    /// # let queue = Queue::builder("payments", RedbStore::open(dir.join("q.redb")).unwrap()).build().unwrap();
    /// # queue.migrate().await.unwrap();
    /// queue.enqueue("a", vec![]).await.unwrap();
    /// let leased = queue.claim(1).await.unwrap();
    /// queue.delivered(&leased).await.unwrap();
    /// assert!(queue.find("a").await.unwrap().is_none());
    /// # drop(queue); std::fs::remove_dir_all(&dir).ok();
    /// # }
    /// ```
    pub async fn delivered(&self, items: &[Item]) -> Result<(), DeferredError> {
        if items.is_empty() {
            return Ok(());
        }
        let ids = items.iter().map(|item| item.id).collect();
        self.inner.store.complete(ids).await?;
        self.inner.counters.delivered(items.len());
        Ok(())
    }

    /// This claimed item's attempt failed with `error`: retry it after its backoff, or
    /// dead-letter it if that was its last attempt.
    ///
    /// ```
    /// # use tower_breakwater::deferred::{Fate, Queue, RedbStore};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # let dir = std::env::temp_dir().join(format!("bw-fail-doc-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir).unwrap();
    /// # let queue = Queue::builder("payments", RedbStore::open(dir.join("q.redb")).unwrap()).max_attempts(1).build().unwrap();
    /// # queue.migrate().await.unwrap();
    /// queue.enqueue("a", vec![]).await.unwrap();
    /// let leased = queue.claim(1).await.unwrap();
    /// assert_eq!(queue.failed(&leased[0], "declined").await.unwrap(), Fate::Dead);
    /// assert_eq!(queue.dead_letters(0, 10).await.unwrap()[0].last_error.as_deref(), Some("declined"));
    /// # drop(queue); std::fs::remove_dir_all(&dir).ok();
    /// # }
    /// ```
    pub async fn failed(
        &self,
        item: &Item,
        error: impl fmt::Display,
    ) -> Result<Fate, DeferredError> {
        let error = cut(error.to_string());
        let (release, fate) = if item.attempts >= self.inner.max_attempts {
            (Release::Dead { error }, Fate::Dead)
        } else {
            let at = self
                .now()
                .saturating_add(millis(self.backoff(item.attempts)));
            (Release::Retry { at, error }, Fate::Retry { at })
        };
        if !self
            .inner
            .store
            .release(item.id, item.attempts, release)
            .await?
        {
            return Ok(Fate::LeaseLost);
        }
        self.inner.counters.failed(fate == Fate::Dead);
        Ok(fate)
    }

    /// Dead-letter this claimed item now, whatever its attempts (its payload cannot be
    /// decoded, say). `false` if its lease was lost.
    ///
    /// ```
    /// # use tower_breakwater::deferred::{Queue, RedbStore};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # let dir = std::env::temp_dir().join(format!("bw-dead-doc-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir).unwrap();
    /// # let queue = Queue::builder("payments", RedbStore::open(dir.join("q.redb")).unwrap()).build().unwrap();
    /// # queue.migrate().await.unwrap();
    /// queue.enqueue("a", b"not json".to_vec()).await.unwrap();
    /// let leased = queue.claim(1).await.unwrap();
    /// assert!(queue.dead_letter(&leased[0], "undecodable").await.unwrap());
    /// assert_eq!(queue.stats().await.unwrap().dead, 1);
    /// # drop(queue); std::fs::remove_dir_all(&dir).ok();
    /// # }
    /// ```
    pub async fn dead_letter(
        &self,
        item: &Item,
        error: impl fmt::Display,
    ) -> Result<bool, DeferredError> {
        let release = Release::Dead {
            error: cut(error.to_string()),
        };
        let released = self
            .inner
            .store
            .release(item.id, item.attempts, release)
            .await?;
        if released {
            self.inner.counters.failed(true);
        }
        Ok(released)
    }

    /// This claimed item was never sent (the breaker refused it): make it ready again at
    /// once and give its attempt back. `false` if its lease was lost.
    ///
    /// ```
    /// # use tower_breakwater::deferred::{Queue, RedbStore};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # let dir = std::env::temp_dir().join(format!("bw-unsent-doc-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir).unwrap();
    /// # let queue = Queue::builder("payments", RedbStore::open(dir.join("q.redb")).unwrap()).build().unwrap();
    /// # queue.migrate().await.unwrap();
    /// queue.enqueue("a", vec![]).await.unwrap();
    /// let leased = queue.claim(1).await.unwrap();
    /// assert!(queue.unsent(&leased[0]).await.unwrap());
    /// assert_eq!(queue.claim(1).await.unwrap()[0].attempts, 1); // not 2
    /// # drop(queue); std::fs::remove_dir_all(&dir).ok();
    /// # }
    /// ```
    pub async fn unsent(&self, item: &Item) -> Result<bool, DeferredError> {
        let release = Release::Unsent { at: self.now() };
        let released = self
            .inner
            .store
            .release(item.id, item.attempts, release)
            .await?;
        if released {
            self.inner.counters.refused();
        }
        Ok(released)
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
        self.inner.store.requeue(key, self.now()).await
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
        self.inner.store.find(key).await
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
        let stats = self.inner.store.stats(self.now()).await?;
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

    /// The wait after the `attempts`-th failed attempt.
    fn backoff(&self, attempts: u32) -> Duration {
        let doublings = attempts.saturating_sub(1).min(40);
        self.inner
            .backoff_initial
            .saturating_mul(1 << doublings.min(31))
            .min(self.inner.backoff_max)
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

fn millis(d: Duration) -> Millis {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Cut an error message to `MAX_ERROR_LEN` bytes, on a character boundary.
fn cut(mut text: String) -> String {
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
