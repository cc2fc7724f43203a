//! [`Endpoint`]: one endpoint's place in a pool. Its health counters, its load and the
//! handle of its detector share one allocation, the only one a call touches besides the
//! detector's read-only config.

use std::ops::Deref;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;

use super::detector::OutlierDetector;
use super::endpoint::{CallOutcome, EndpointHealth};
use super::load::PeakEwma;

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
pub struct Endpoint(pub(crate) Holder);

/// `repr(C)`: what every call and every P2C comparison reads (the flag, the holders, then
/// the health's ejection word, counts and streaks) comes first, within 56 bytes of the
/// `Arc`'s strong count; the Peak-EWMA word follows.
#[repr(C)]
pub(crate) struct Membership {
    /// The pool's load is Peak-EWMA (calls are timed); a copy of the config's flag, so
    /// the call path reads no other line.
    pub(crate) timed: bool,
    /// Strong references that are not calls: `Endpoint` handles and services (a
    /// [`Holder`] each). The others are calls in flight (and, for a moment, a sweep's).
    pub(crate) holders: AtomicUsize,
    pub(crate) health: EndpointHealth,
    pub(crate) load: PeakEwma,
    pub(crate) detector: OutlierDetector,
    /// Unique per endpoint ever added (process-wide): the metrics' series cap tells an
    /// endpoint that left from a new one with the same label by it.
    pub(crate) life: u64,
}

/// The next endpoint's `life`.
static NEXT_LIFE: AtomicU64 = AtomicU64::new(0);

/// A `life` for a new endpoint.
pub(crate) fn next_life() -> u64 {
    NEXT_LIFE.fetch_add(1, Relaxed)
}

/// A strong reference to a membership that is not a call: counted in `holders`, so that
/// the calls in flight are the `Arc`'s strong count minus the holders. A call's reference
/// is then its in-flight count too: one `Arc` clone a call, no counter of its own.
pub(crate) struct Holder(Arc<Membership>);

impl Holder {
    pub(crate) fn new(member: Arc<Membership>) -> Self {
        member.holders.fetch_add(1, Relaxed);
        Holder(member)
    }

    /// A reference for one call (not a holder).
    #[inline]
    pub(crate) fn for_call(&self) -> Arc<Membership> {
        self.0.clone()
    }

    /// Calls in flight now (plus, for the moment a sweep or snapshot holds it, one).
    #[inline]
    pub(crate) fn in_flight(&self) -> u32 {
        let strong = Arc::strong_count(&self.0);
        strong.saturating_sub(self.0.holders.load(Relaxed)) as u32
    }
}

impl Clone for Holder {
    fn clone(&self) -> Self {
        Holder::new(self.0.clone())
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        self.0.holders.fetch_sub(1, Relaxed);
    }
}

impl Deref for Holder {
    type Target = Membership;

    fn deref(&self) -> &Membership {
        &self.0
    }
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
