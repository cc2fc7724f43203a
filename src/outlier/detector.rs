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
use super::endpoint::{CallOutcome, EjectionReason, EndpointHealth};
use super::load::PeakEwma;
use super::rules::{failure_percentage_outliers, success_rate_outliers, Interval};
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

impl std::fmt::Debug for Endpoint {
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
    registry: Mutex<Vec<Arc<EndpointHealth>>>,
    /// Endpoints in the pool (registered, not removed).
    total: AtomicUsize,
    /// Endpoints ejected now; raised only through the cap check in `try_eject`.
    ejected: AtomicUsize,
    /// Fewer than `min_health_percent` healthy: every gate lets calls through.
    panicking: AtomicBool,
    ejections: [AtomicU64; 4],
    detections: [AtomicU64; 4],
    cap_refusals: AtomicU64,
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
        });
        runtime.spawn(sweep_every(Arc::downgrade(&shared), interval));
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
        let registry = self.shared.registry.lock();
        registry
            .iter()
            .map(|e| {
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
        let health = Arc::new(EndpointHealth::new(label.into().into_boxed_str()));
        self.shared.registry.lock().push(health.clone());
        self.shared.total.fetch_add(1, Relaxed);
        self.shared.update_panic();
        let load = PeakEwma::new(&self.shared.config.load, self.shared.now_ms());
        Endpoint(Arc::new(Membership {
            detector: self.clone(),
            health,
            load,
        }))
    }
}

/// One endpoint's place in a pool: wrap its service with [`layer`](Endpoint::layer). The
/// endpoint leaves the pool when the last clone of this handle, and every service made
/// from it, is dropped.
///
/// ```
/// # use tower_breakwater::outlier::OutlierDetector;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let detector = OutlierDetector::builder("db").build().unwrap();
/// let endpoint = detector.endpoint("a");
/// assert!(!endpoint.is_ejected());
/// # }
/// ```
#[derive(Clone)]
pub struct Endpoint(pub(crate) Arc<Membership>);

pub(crate) struct Membership {
    pub(crate) detector: OutlierDetector,
    pub(crate) health: Arc<EndpointHealth>,
    pub(crate) load: PeakEwma,
}

impl Endpoint {
    /// Ejected now (the gate also lets calls through while the pool panics).
    ///
    /// ```
    /// # use tower_breakwater::outlier::OutlierDetector;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let endpoint = OutlierDetector::builder("db").build().unwrap().endpoint("a");
    /// assert!(!endpoint.is_ejected());
    /// # }
    /// ```
    pub fn is_ejected(&self) -> bool {
        self.0.health.is_ejected()
    }

    /// Count a finished call by hand (the layer's services do it for every call).
    ///
    /// ```
    /// # use tower_breakwater::outlier::{CallOutcome, OutlierDetector};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let detector = OutlierDetector::builder("db").max_ejection_percent(100).build().unwrap();
    /// let endpoint = detector.endpoint("a");
    /// for _ in 0..5 {
    ///     endpoint.record(CallOutcome::ServerError);
    /// }
    /// assert!(endpoint.is_ejected());
    /// # }
    /// ```
    pub fn record(&self, outcome: CallOutcome) {
        self.0.record(outcome);
    }
}

impl Membership {
    #[inline]
    pub(crate) fn record(&self, outcome: CallOutcome) {
        if let Some((server, gateway)) = self.health.record(outcome) {
            self.detector
                .shared
                .on_streak(&self.health, server, gateway);
        }
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        self.detector.shared.remove(&self.health);
    }
}

impl Shared {
    pub(crate) fn now_ms(&self) -> u64 {
        self.ms_at(Instant::now())
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

    /// A failure streak grew. Reaching a rule's threshold is one detection, ejected with the
    /// rule's enforcing chance. A rule enforced at 100 % that the cap refused asks again at
    /// each further failure of the streak.
    fn on_streak(&self, health: &EndpointHealth, server: u32, gateway: u32) {
        let c = &self.config;
        for (streak, rule, reason) in [
            (
                gateway,
                c.consecutive_gateway,
                EjectionReason::ConsecutiveGatewayFailure,
            ),
            (server, c.consecutive_5xx, EjectionReason::Consecutive5xx),
        ] {
            let ask =
                streak == rule.threshold || (streak > rule.threshold && rule.enforcing == 100);
            if ask && self.try_eject(health, reason, streak == rule.threshold) {
                return;
            }
        }
    }

    fn enforcing(&self, reason: EjectionReason) -> u8 {
        let c = &self.config;
        match reason {
            EjectionReason::Consecutive5xx => c.consecutive_5xx.enforcing,
            EjectionReason::ConsecutiveGatewayFailure => c.consecutive_gateway.enforcing,
            EjectionReason::SuccessRate => c.success_rate.enforcing,
            EjectionReason::FailurePercentage => c.failure_percentage.enforcing,
        }
    }

    /// Eject `health` for `reason` if it is in the pool, the rule is enforced (by chance,
    /// for an enforcing percentage below 100) and the cap allows one more.
    /// `detected`: a new detection (counted), rather than a refused one asking again.
    pub(crate) fn try_eject(
        &self,
        health: &EndpointHealth,
        reason: EjectionReason,
        detected: bool,
    ) -> bool {
        if health.is_ejected() || health.removed.load(Relaxed) {
            return false;
        }
        if detected {
            self.detections[reason.index()].fetch_add(1, Relaxed);
            let enforcing = self.enforcing(reason);
            if enforcing < 100 && fastrand::u8(0..100) >= enforcing {
                return false;
            }
        }
        if !self.reserve_ejection() {
            self.cap_refusals.fetch_add(1, Relaxed);
            return false;
        }
        let times = health.multiplier.load(Relaxed).saturating_add(1);
        let c = &self.config;
        let time = c
            .base_ejection_time
            .saturating_mul(times)
            .min(c.max_ejection_time);
        let until = self.now_ms() + u64::try_from(time.as_millis()).unwrap_or(u64::MAX / 4);
        if health
            .ejected_until
            .compare_exchange(0, until + 1, Relaxed, Relaxed)
            .is_err()
        {
            self.ejected.fetch_sub(1, Relaxed);
            return false;
        }
        // No more growth once base × times reaches the longest ejection.
        if c.base_ejection_time.saturating_mul(times - 1) < c.max_ejection_time {
            health.multiplier.store(times, Relaxed);
        }
        health.in_pool_since_sweep.store(false, Relaxed);
        health.reset_streaks();
        self.ejections[reason.index()].fetch_add(1, Relaxed);
        tracing::info!(
            pool = self.config.name.as_str(),
            endpoint = &*health.label,
            reason = reason.as_str(),
            ejected_for_ms = time.as_millis() as u64,
            "outlier ejected"
        );
        self.update_panic();
        true
    }

    /// One more ejection, if `(ejected + 1) / total` stays within `max_ejection_percent`, or
    /// if none is ejected (Envoy lets one host be ejected whatever the percentage).
    fn reserve_ejection(&self) -> bool {
        let percent = self.config.max_ejection_percent as usize;
        self.ejected
            .fetch_update(Relaxed, Relaxed, |ejected| {
                let total = self.total.load(Relaxed);
                let allowed = ejected == 0 || (ejected + 1) * 100 <= percent * total;
                allowed.then_some(ejected + 1)
            })
            .is_ok()
    }

    fn update_panic(&self) {
        let min = usize::from(self.config.min_health_percent);
        let total = self.total.load(Relaxed);
        let healthy = total.saturating_sub(self.ejected.load(Relaxed));
        let panic = min > 0 && total > 0 && healthy * 100 < min * total;
        if self.panicking.swap(panic, Relaxed) != panic {
            tracing::warn!(
                pool = self.config.name.as_str(),
                healthy,
                total,
                panic,
                "outlier panic threshold crossed"
            );
            if panic {
                // Ejected gates wait for a wake-up: they may now pass.
                for e in self.registry.lock().iter() {
                    e.wake_all();
                }
            }
        }
    }

    fn remove(&self, health: &Arc<EndpointHealth>) {
        health.removed.store(true, Relaxed);
        {
            let mut registry = self.registry.lock();
            if let Some(i) = registry.iter().position(|e| Arc::ptr_eq(e, health)) {
                registry.swap_remove(i);
            }
        }
        self.total.fetch_sub(1, Relaxed);
        if health.ejected_until.swap(0, Relaxed) != 0 {
            self.ejected.fetch_sub(1, Relaxed);
        }
        self.update_panic();
    }

    /// Envoy's interval: end the ejections whose time is over, lower the multiplier of
    /// endpoints that stayed in the pool for the whole interval, then run the statistical
    /// rules over the interval's counts (and start new counts).
    pub(crate) fn sweep(&self) {
        let now = self.now_ms();
        let endpoints: Vec<Arc<EndpointHealth>> = self.registry.lock().clone();
        let mut intervals = Vec::with_capacity(endpoints.len());
        for e in &endpoints {
            let until = e.ejected_until.load(Relaxed);
            if until != 0 && now >= until - 1 {
                if e.ejected_until
                    .compare_exchange(until, 0, Relaxed, Relaxed)
                    .is_ok()
                {
                    self.ejected.fetch_sub(1, Relaxed);
                    tracing::info!(
                        pool = self.config.name.as_str(),
                        endpoint = &*e.label,
                        "outlier back in the pool"
                    );
                    e.wake_all();
                }
            } else if until == 0 && e.in_pool_since_sweep.load(Relaxed) {
                let m = e.multiplier.load(Relaxed);
                if m > 0 {
                    e.multiplier.store(m - 1, Relaxed);
                }
            }
            let (successes, failures) = e.take_counts();
            intervals.push(Interval {
                successes,
                failures,
                in_pool: !e.is_ejected(),
            });
        }
        self.update_panic();
        let c = &self.config;
        for i in success_rate_outliers(&c.success_rate, &intervals) {
            self.try_eject(&endpoints[i], EjectionReason::SuccessRate, true);
        }
        for i in failure_percentage_outliers(&c.failure_percentage, &intervals) {
            self.try_eject(&endpoints[i], EjectionReason::FailurePercentage, true);
        }
        for e in &endpoints {
            if !e.is_ejected() {
                e.in_pool_since_sweep.store(true, Relaxed);
            }
        }
    }
}

async fn sweep_every(shared: Weak<Shared>, interval: Duration) {
    let start = Instant::now() + interval;
    let mut ticks = tokio::time::interval_at(start, interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match shared.upgrade() {
            Some(shared) => shared.sweep(),
            None => return,
        }
    }
}
