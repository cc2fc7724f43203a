//! [`OutlierDetector`]: the pool's one shared decider. Calls update their endpoint's atomic
//! counters and eject on a failure streak; a sweep task, every `interval`, runs the
//! statistical rules and ends ejections. The registry of endpoints is locked only by the
//! sweep, by discovery adding or removing an endpoint, and by a snapshot.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;

use super::config::{Builder, Config};
use super::endpoint::{EjectionReason, EndpointHealth};
use super::load::PeakEwma;
use super::membership::{Endpoint, Holder, Membership};
use crate::Name;

/// Decides ejections for one pool of endpoints (Envoy's outlier detection), shared by
/// every endpoint's [`OutlierService`](super::OutlierService). Cheap to clone.
///
/// ```
/// use tower_breakwater::outlier::OutlierDetector;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let detector = OutlierDetector::builder("payments").build().unwrap();
/// assert_eq!(detector.endpoints(), 0);
/// assert_eq!(detector.ejected(), 0);
/// # }
/// ```
#[derive(Clone)]
pub struct OutlierDetector {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for OutlierDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutlierDetector")
            .field("name", &self.name())
            .field("endpoints", &self.endpoints())
            .field("ejected", &self.ejected())
            .finish()
    }
}

impl std::fmt::Debug for super::membership::Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("label", &&*self.0.health.label)
            .field("ejected", &self.is_ejected())
            .finish()
    }
}

pub(crate) struct Shared {
    pub(crate) config: Config,
    epoch: Instant,
    /// Every endpoint's membership; weak, so that dropping its last service drops it.
    pub(crate) registry: Mutex<Vec<Weak<Membership>>>,
    /// Endpoints in the pool (registered, not removed).
    pub(crate) total: AtomicUsize,
    /// Endpoints ejected now; raised only through the cap check in `try_eject`.
    pub(crate) ejected: AtomicUsize,
    /// Fewer than `min_health_percent` healthy: every gate lets calls through.
    pub(crate) panicking: AtomicBool,
    pub(crate) ejections: [AtomicU64; 4],
    pub(crate) detections: [AtomicU64; 4],
    pub(crate) cap_refusals: AtomicU64,
    /// The latest clock reading of a finished call or a sweep, in ms since `epoch`: what
    /// `Load::load` decays estimates to, so that P2C's comparisons read no clock. Written
    /// at most once a millisecond (only when it moves), so it stays shared in caches.
    recent_ms: AtomicU64,
}

/// One endpoint as [`OutlierDetector::snapshot`] saw it.
///
/// ```
/// # use tower_breakwater::outlier::OutlierDetector;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let detector = OutlierDetector::builder("db").build().unwrap();
/// assert!(detector.snapshot().is_empty());
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointSnapshot {
    /// The endpoint's label (its discovery key, as text).
    pub label: String,
    /// How long its ejection still lasts (it ends at the first sweep after that), or
    /// `None` in the pool.
    pub ejected_for: Option<Duration>,
    /// Times ejected in a row (the multiplier of its next ejection time, minus one).
    pub times_ejected: u32,
}

impl OutlierDetector {
    /// A builder with Envoy's defaults (see [`Builder`]).
    ///
    /// ```
    /// # use tower_breakwater::outlier::OutlierDetector;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let detector = OutlierDetector::builder("db").build().unwrap();
    /// # }
    /// ```
    pub fn builder(name: impl Into<Name>) -> Builder {
        Builder::new(name.into())
    }

    pub(crate) fn start(config: Config, runtime: &tokio::runtime::Handle) -> Self {
        let interval = config.interval;
        let shared = Arc::new(Shared {
            config,
            epoch: Instant::now(),
            registry: Mutex::new(Vec::new()),
            total: AtomicUsize::new(0),
            ejected: AtomicUsize::new(0),
            panicking: AtomicBool::new(false),
            ejections: Default::default(),
            detections: Default::default(),
            cap_refusals: AtomicU64::new(0),
            recent_ms: AtomicU64::new(0),
        });
        runtime.spawn(super::ejection::sweep_every(
            Arc::downgrade(&shared),
            interval,
        ));
        OutlierDetector { shared }
    }

    /// The name it was built with.
    ///
    /// ```
    /// # use tower_breakwater::outlier::OutlierDetector;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// assert_eq!(OutlierDetector::builder("db").build().unwrap().name(), "db");
    /// # }
    /// ```
    pub fn name(&self) -> &str {
        self.shared.config.name.as_str()
    }

    /// Endpoints in the pool now.
    ///
    /// ```
    /// # use tower_breakwater::outlier::OutlierDetector;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// assert_eq!(OutlierDetector::builder("db").build().unwrap().endpoints(), 0);
    /// # }
    /// ```
    pub fn endpoints(&self) -> usize {
        self.shared.total.load(Relaxed)
    }

    /// Endpoints ejected now.
    ///
    /// ```
    /// # use tower_breakwater::outlier::OutlierDetector;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// assert_eq!(OutlierDetector::builder("db").build().unwrap().ejected(), 0);
    /// # }
    /// ```
    pub fn ejected(&self) -> usize {
        self.shared.ejected.load(Relaxed)
    }

    /// Ejections made so far for `reason`.
    ///
    /// ```
    /// # use tower_breakwater::outlier::{EjectionReason, OutlierDetector};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let detector = OutlierDetector::builder("db").build().unwrap();
    /// assert_eq!(detector.ejections(EjectionReason::Consecutive5xx), 0);
    /// # }
    /// ```
    pub fn ejections(&self, reason: EjectionReason) -> u64 {
        self.shared.ejections[reason.index()].load(Relaxed)
    }

    /// Outliers detected so far for `reason`, ejected or not (an enforcing percentage below
    /// 100 detects without always ejecting; the cap may refuse).
    ///
    /// ```
    /// # use tower_breakwater::outlier::{EjectionReason, OutlierDetector};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let detector = OutlierDetector::builder("db").build().unwrap();
    /// assert_eq!(detector.detections(EjectionReason::SuccessRate), 0);
    /// # }
    /// ```
    pub fn detections(&self, reason: EjectionReason) -> u64 {
        self.shared.detections[reason.index()].load(Relaxed)
    }

    /// Enforced ejections the `max_ejection_percent` cap refused.
    ///
    /// ```
    /// # use tower_breakwater::outlier::OutlierDetector;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// assert_eq!(OutlierDetector::builder("db").build().unwrap().cap_refusals(), 0);
    /// # }
    /// ```
    pub fn cap_refusals(&self) -> u64 {
        self.shared.cap_refusals.load(Relaxed)
    }

    /// Fewer than `min_health_percent` of the endpoints are healthy: ejection is ignored.
    ///
    /// ```
    /// # use tower_breakwater::outlier::OutlierDetector;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// assert!(!OutlierDetector::builder("db").build().unwrap().panicking());
    /// # }
    /// ```
    pub fn panicking(&self) -> bool {
        self.shared.panicking.load(Relaxed)
    }

    /// Every endpoint's state, in the order they joined. Takes the registry lock.
    ///
    /// ```
    /// # use tower_breakwater::outlier::OutlierDetector;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let detector = OutlierDetector::builder("db").build().unwrap();
    /// let _health = detector.endpoint("10.0.0.1:80");
    /// assert_eq!(detector.snapshot()[0].label, "10.0.0.1:80");
    /// # }
    /// ```
    pub fn snapshot(&self) -> Vec<EndpointSnapshot> {
        let now = self.shared.now_ms();
        let members = self.shared.members();
        members
            .iter()
            .map(|m| {
                let e = &m.health;
                let until = e.ejected_until.load(Relaxed);
                EndpointSnapshot {
                    label: e.label.to_string(),
                    ejected_for: (until != 0)
                        .then(|| Duration::from_millis((until - 1).saturating_sub(now))),
                    times_ejected: e.multiplier.load(Relaxed),
                }
            })
            .collect()
    }

    /// Add an endpoint to the pool by hand, labelled `label`; it leaves when the returned
    /// handle (and every service made from it) is dropped. [`OutlierDiscover`] does this
    /// for every endpoint discovery inserts.
    ///
    /// [`OutlierDiscover`]: super::OutlierDiscover
    ///
    /// ```
    /// # use tower_breakwater::outlier::OutlierDetector;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let detector = OutlierDetector::builder("db").build().unwrap();
    /// let endpoint = detector.endpoint("a");
    /// assert_eq!(detector.endpoints(), 1);
    /// drop(endpoint);
    /// assert_eq!(detector.endpoints(), 0);
    /// # }
    /// ```
    pub fn endpoint(&self, label: impl Into<String>) -> Endpoint {
        let member = Arc::new(Membership {
            health: EndpointHealth::new(label.into().into_boxed_str()),
            load: PeakEwma::new(&self.shared.config.load, self.shared.now_ms()),
            timed: self.shared.config.load.peak_ewma,
            holders: AtomicUsize::new(0),
            detector: self.clone(),
            life: super::membership::next_life(),
        });
        let total = self.shared.total.fetch_add(1, Relaxed) + 1;
        let mut registry = self.shared.registry.lock();
        // Entries of endpoints that left are pruned here too, so that churn between two
        // sweeps cannot grow the registry past twice the pool (amortized O(1)).
        if registry.len() >= 2 * total + 16 {
            registry.retain(|m| m.strong_count() > 0);
        }
        registry.push(Arc::downgrade(&member));
        drop(registry);
        self.shared.update_panic();
        Endpoint(Holder::new(member))
    }
}

impl Shared {
    /// The endpoints in the pool now (those not being dropped).
    pub(crate) fn members(&self) -> Vec<Arc<Membership>> {
        self.registry
            .lock()
            .iter()
            .filter_map(Weak::upgrade)
            .collect()
    }

    pub(crate) fn now_ms(&self) -> u64 {
        self.ms_at(Instant::now())
    }

    /// Note a clock reading taken anyway (a call's end): moves `recent_ms` forward.
    #[inline]
    pub(crate) fn observe(&self, now: Instant) -> u64 {
        let ms = self.ms_at(now);
        if ms > self.recent_ms.load(Relaxed) {
            self.recent_ms.store(ms, Relaxed);
        }
        ms
    }

    #[inline]
    pub(crate) fn recent_ms(&self) -> u64 {
        self.recent_ms.load(Relaxed)
    }

    /// `at` in ms since the epoch (saturating: the clock's range is far beyond u64 ms).
    pub(crate) fn ms_at(&self, at: Instant) -> u64 {
        let since = at.saturating_duration_since(self.epoch);
        u64::try_from(since.as_millis()).unwrap_or(u64::MAX / 2)
    }

    #[inline]
    pub(crate) fn panicking(&self) -> bool {
        self.panicking.load(Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn churn_keeps_the_registry_within_twice_the_pool() {
        let detector = OutlierDetector::builder("pool").build().unwrap();
        let kept: Vec<Endpoint> = (0..10)
            .map(|i| detector.endpoint(format!("k{i}")))
            .collect();
        for i in 0..10_000 {
            drop(detector.endpoint(format!("c{i}")));
        }
        assert_eq!(detector.endpoints(), 10);
        assert!(detector.shared.registry.lock().len() <= 2 * 11 + 16);
        assert_eq!(detector.snapshot().len(), kept.len());
        // A sweep prunes the rest.
        tokio::time::sleep(Duration::from_secs(11)).await;
        assert_eq!(detector.shared.registry.lock().len(), 10);
    }
}
