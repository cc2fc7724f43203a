//! The shared handle: the slots, the waiting room, and the counters an operator reads.

use std::fmt;
use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::task::{ready, Poll};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use super::config::{Builder, Config};
use super::{BulkheadFull, BulkheadLayer};
use crate::Name;

/// A bulkhead: at most `max_concurrent` calls in flight, a bounded waiting room, and a
/// fast [`BulkheadFull`] beyond it. A cheap-to-clone handle: every clone, every layer made
/// from it and every service those wrap share the one limit.
///
/// Build one with [`Bulkhead::builder`], wrap services with [`layer`](Self::layer), read
/// its gauges with [`in_flight`](Self::in_flight), [`waiting`](Self::waiting) and
/// [`rejected`](Self::rejected).
///
/// ```
/// use tower_breakwater::bulkhead::Bulkhead;
///
/// let bulkhead = Bulkhead::builder("inventory").max_concurrent(4).build().unwrap();
/// let same = bulkhead.clone();
/// assert_eq!(same.name(), "inventory");
/// assert_eq!((bulkhead.in_flight(), bulkhead.waiting(), bulkhead.rejected()), (0, 0, 0));
/// ```
#[derive(Clone)]
pub struct Bulkhead {
    shared: Arc<Shared>,
}

struct Shared {
    config: Config,
    /// One permit per slot. tokio's semaphore queues waiters first come first served and
    /// hands a freed permit to the oldest waiter before anyone can take it with
    /// `try_acquire`, so a newcomer never overtakes a waiting caller.
    semaphore: Arc<Semaphore>,
    /// Callers waiting for a permit now. Raised by compare-and-swap, never past
    /// `max_waiting`, when a caller starts to wait; lowered (by [`WaitingGuard`]) when its
    /// wait ends for any reason: a permit, `max_wait`, or the waiting service dropped.
    /// Touched on the contended path only. Relaxed: it is a count, it orders no other
    /// memory (the semaphore synchronises the permits), and the CAS alone keeps the bound.
    waiting: AtomicUsize,
    /// Calls refused so far (a Prometheus counter). Relaxed: a count, read at scrape time.
    rejected: AtomicU64,
}

/// The contended path's wait for a permit, boxed: allocated only when a caller has to
/// wait (it holds tokio's unnameable acquire future and the `max_wait` timer). It ends
/// with a permit, or with how long it waited before `max_wait` ran out.
pub(crate) type Wait =
    Pin<Box<dyn Future<Output = Result<OwnedSemaphorePermit, Duration>> + Send + Sync>>;

/// Lowers the waiting count when a wait ends, however it ends (also when dropped).
struct WaitingGuard(Arc<Shared>);

impl Drop for WaitingGuard {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Relaxed);
    }
}

impl Bulkhead {
    /// Start building a bulkhead named `name` (used in errors and metric labels).
    ///
    /// ```
    /// # use tower_breakwater::bulkhead::Bulkhead;
    /// let bulkhead = Bulkhead::builder("db").max_concurrent(2).build().unwrap();
    /// assert_eq!(bulkhead.name(), "db");
    /// ```
    pub fn builder(name: impl Into<Name>) -> Builder {
        Builder::new(name.into())
    }

    pub(crate) fn from_config(config: Config) -> Self {
        Bulkhead {
            shared: Arc::new(Shared {
                semaphore: Arc::new(Semaphore::new(config.max_concurrent)),
                config,
                waiting: AtomicUsize::new(0),
                rejected: AtomicU64::new(0),
            }),
        }
    }

    /// A layer whose services all share this bulkhead's limit (calling it many times, as
    /// axum does per route, still gives one limit).
    ///
    /// ```
    /// use tower_breakwater::bulkhead::Bulkhead;
    /// use tower::{service_fn, BoxError, ServiceBuilder, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let bulkhead = Bulkhead::builder("db").max_concurrent(2).build().unwrap();
    /// let svc = ServiceBuilder::new()
    ///     .layer(bulkhead.layer())
    ///     .service(service_fn(|x: u32| async move { Ok::<_, BoxError>(x) }));
    /// assert_eq!(svc.oneshot(5).await.unwrap(), 5);
    /// # }
    /// ```
    #[must_use]
    pub fn layer(&self) -> BulkheadLayer {
        BulkheadLayer::new(self.clone())
    }

    /// The bulkhead's name.
    ///
    /// ```
    /// # use tower_breakwater::bulkhead::Bulkhead;
    /// let bulkhead = Bulkhead::builder("db").max_concurrent(2).build().unwrap();
    /// assert_eq!(bulkhead.name(), "db");
    /// ```
    #[must_use]
    pub fn name(&self) -> &str {
        self.shared.config.name.as_str()
    }

    /// How many calls may be in flight at once.
    ///
    /// ```
    /// # use tower_breakwater::bulkhead::Bulkhead;
    /// let bulkhead = Bulkhead::builder("db").max_concurrent(2).build().unwrap();
    /// assert_eq!(bulkhead.max_concurrent(), 2);
    /// ```
    #[must_use]
    pub fn max_concurrent(&self) -> usize {
        self.shared.config.max_concurrent
    }

    /// How many callers may wait for a slot (0: none, refuse at once when full).
    ///
    /// ```
    /// # use tower_breakwater::bulkhead::Bulkhead;
    /// let bulkhead = Bulkhead::builder("db").max_concurrent(2).build().unwrap();
    /// assert_eq!(bulkhead.max_waiting(), 0);
    /// ```
    #[must_use]
    pub fn max_waiting(&self) -> usize {
        self.shared.config.max_waiting
    }

    /// How long a caller waits at most (`None`: until a slot frees).
    ///
    /// ```
    /// # use tower_breakwater::bulkhead::Bulkhead;
    /// let bulkhead = Bulkhead::builder("db").max_concurrent(2).max_waiting(1).build().unwrap();
    /// assert_eq!(bulkhead.max_wait(), None);
    /// ```
    #[must_use]
    pub fn max_wait(&self) -> Option<Duration> {
        self.shared.config.max_wait
    }

    /// Slots taken now: calls in flight, plus slots reserved by a ready service that has
    /// not called yet (or handed to a waiter that has not seen it yet). Computed from the
    /// semaphore: counting costs the calls nothing.
    ///
    /// ```
    /// use tower_breakwater::bulkhead::Bulkhead;
    /// use tower::{service_fn, BoxError, Layer, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let bulkhead = Bulkhead::builder("db").max_concurrent(2).build().unwrap();
    /// let mut svc = bulkhead.layer().layer(service_fn(|()| async { Ok::<_, BoxError>(()) }));
    /// svc.ready().await.unwrap(); // reserves a slot
    /// assert_eq!(bulkhead.in_flight(), 1);
    /// drop(svc); // gives it back
    /// assert_eq!(bulkhead.in_flight(), 0);
    /// # }
    /// ```
    #[must_use]
    pub fn in_flight(&self) -> usize {
        let config = &self.shared.config;
        config
            .max_concurrent
            .saturating_sub(self.shared.semaphore.available_permits())
    }

    /// Callers waiting for a slot now.
    ///
    /// ```
    /// # use tower_breakwater::bulkhead::Bulkhead;
    /// let bulkhead = Bulkhead::builder("db").max_concurrent(2).build().unwrap();
    /// assert_eq!(bulkhead.waiting(), 0);
    /// ```
    #[must_use]
    pub fn waiting(&self) -> usize {
        self.shared.waiting.load(Relaxed)
    }

    /// Calls refused since the bulkhead was built (a counter: it only grows).
    ///
    /// ```
    /// # use tower_breakwater::bulkhead::Bulkhead;
    /// let bulkhead = Bulkhead::builder("db").max_concurrent(2).build().unwrap();
    /// assert_eq!(bulkhead.rejected(), 0);
    /// ```
    #[must_use]
    pub fn rejected(&self) -> u64 {
        self.shared.rejected.load(Relaxed)
    }

    /// The uncontended path: one compare-and-swap on the semaphore, no lock.
    #[inline]
    pub(crate) fn try_acquire(&self) -> Option<OwnedSemaphorePermit> {
        self.shared.semaphore.clone().try_acquire_owned().ok()
    }

    /// Take a place in the waiting room, or `None` when it is full (or there is none).
    pub(crate) fn wait(&self) -> Option<Wait> {
        let shared = &self.shared;
        let max_waiting = shared.config.max_waiting;
        if max_waiting == 0 {
            return None;
        }
        shared
            .waiting
            .fetch_update(Relaxed, Relaxed, |w| (w < max_waiting).then_some(w + 1))
            .ok()?;
        let guard = WaitingGuard(shared.clone());
        let semaphore = shared.semaphore.clone();
        let max_wait = shared.config.max_wait;
        Some(Box::pin(async move {
            let _waiting = guard;
            // The semaphore is never closed; if it were, refusing beats panicking.
            let closed = |_| Duration::ZERO;
            let Some(max_wait) = max_wait else {
                return semaphore.acquire_owned().await.map_err(closed);
            };
            let mut acquire = pin!(semaphore.acquire_owned());
            let mut timer = pin!(tokio::time::sleep(max_wait));
            std::future::poll_fn(|cx| {
                // The permit first: one handed over as the timer fires is taken, not lost
                // (and were it dropped, tokio would give it back to the semaphore).
                if let Poll::Ready(permit) = acquire.as_mut().poll(cx) {
                    return Poll::Ready(permit.map_err(closed));
                }
                ready!(timer.as_mut().poll(cx));
                let started = timer.deadline() - max_wait;
                Poll::Ready(Err(Instant::now().saturating_duration_since(started)))
            })
            .await
        }))
    }

    /// The refusal of a call, counted. `waited`: `None` when refused without waiting.
    #[cold]
    pub(crate) fn refuse(&self, waited: Option<Duration>) -> BulkheadFull {
        self.shared.rejected.fetch_add(1, Relaxed);
        let config = &self.shared.config;
        tracing::debug!(
            name = %config.name,
            max_concurrent = config.max_concurrent,
            ?waited,
            "bulkhead full; call refused"
        );
        BulkheadFull::new(config.name.clone(), config.max_concurrent, waited)
    }
}

impl fmt::Debug for Bulkhead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let config = &self.shared.config;
        f.debug_struct("Bulkhead")
            .field("name", &config.name)
            .field("max_concurrent", &config.max_concurrent)
            .field("max_waiting", &config.max_waiting)
            .field("max_wait", &config.max_wait)
            .field("in_flight", &self.in_flight())
            .field("waiting", &self.waiting())
            .field("rejected", &self.rejected())
            .finish()
    }
}
