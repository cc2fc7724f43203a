//! One endpoint's health: the atomic counters its calls update, its ejection word, and the
//! wakers of the services waiting for the ejection to end.
//!
//! # Who writes what
//! - Calls (any thread, no lock): `counts` (fetch_add), `streaks` (reset on success, a
//!   read-modify-write on failure).
//! - An ejection (a failing call or the sweep): `ejected_until` 0 → end, by
//!   compare-and-swap, so exactly one ejector wins; then `multiplier`, `in_pool_since_sweep`.
//! - The sweep (one task, under the detector's registry lock): `counts` (swap to 0),
//!   `ejected_until` end → 0, `multiplier` decay, `in_pool_since_sweep`.
//! - The gate: reads `ejected_until`; while ejected, adds its waker to `wakers`.
//!
//! All atomics are `Relaxed` but the two that order the gate against the sweep: the sweep
//! stores 0 into `ejected_until` *before* taking the `wakers` lock, and the gate re-reads
//! `ejected_until` *after* releasing it, so the lock orders them and no wake-up is lost.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::task::Waker;

use parking_lot::Mutex;

/// What a finished call was, for outlier detection.
///
/// ```
/// use tower_breakwater::outlier::CallOutcome;
/// assert!(CallOutcome::GatewayFailure.is_failure());
/// assert!(!CallOutcome::Ignored.is_failure());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallOutcome {
    /// A success (for HTTP: any status below 500). Ends both failure streaks.
    Success,
    /// A server error that is not a gateway failure (for HTTP: 500, 501, 505, ...).
    /// Counts toward the consecutive-5xx streak and ends the gateway streak.
    ServerError,
    /// 502, 503, 504, or a failure to reach the endpoint (connect error, timeout). Counts
    /// toward both streaks, as Envoy does.
    GatewayFailure,
    /// Counts neither way (a request the caller cancelled, ...).
    Ignored,
}

impl CallOutcome {
    /// `ServerError` or `GatewayFailure`.
    ///
    /// ```
    /// use tower_breakwater::outlier::CallOutcome;
    /// assert!(CallOutcome::ServerError.is_failure());
    /// ```
    pub fn is_failure(self) -> bool {
        matches!(self, CallOutcome::ServerError | CallOutcome::GatewayFailure)
    }
}

/// Which rule asked for an ejection.
///
/// ```
/// use tower_breakwater::outlier::EjectionReason;
/// assert_eq!(EjectionReason::Consecutive5xx.as_str(), "consecutive_5xx");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EjectionReason {
    /// Consecutive server errors.
    Consecutive5xx,
    /// Consecutive gateway failures.
    ConsecutiveGatewayFailure,
    /// A success rate below the pool's mean − factor × σ.
    SuccessRate,
    /// A failure percentage at or above the threshold.
    FailurePercentage,
}

impl EjectionReason {
    /// Every reason, in the order of [`index`](Self::index).
    pub const ALL: [EjectionReason; 4] = [
        EjectionReason::Consecutive5xx,
        EjectionReason::ConsecutiveGatewayFailure,
        EjectionReason::SuccessRate,
        EjectionReason::FailurePercentage,
    ];

    /// The label value in metrics and events: `consecutive_5xx`,
    /// `consecutive_gateway_failure`, `success_rate`, `failure_percentage`.
    ///
    /// ```
    /// use tower_breakwater::outlier::EjectionReason;
    /// assert_eq!(EjectionReason::SuccessRate.as_str(), "success_rate");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            EjectionReason::Consecutive5xx => "consecutive_5xx",
            EjectionReason::ConsecutiveGatewayFailure => "consecutive_gateway_failure",
            EjectionReason::SuccessRate => "success_rate",
            EjectionReason::FailurePercentage => "failure_percentage",
        }
    }

    /// The position in [`ALL`](Self::ALL).
    ///
    /// ```
    /// use tower_breakwater::outlier::EjectionReason;
    /// assert_eq!(EjectionReason::ALL[EjectionReason::SuccessRate.index()], EjectionReason::SuccessRate);
    /// ```
    pub fn index(self) -> usize {
        self as usize
    }
}

const LOW: u64 = u32::MAX as u64;

#[repr(C)]
pub(crate) struct EndpointHealth {
    /// 0 while in the pool; else the end of the ejection in ms since the detector's epoch,
    /// plus one (so that an end at 0 ms is not 0).
    pub(crate) ejected_until: AtomicU64,
    /// Successes (low 32 bits) and failures (high 32 bits) since the last sweep.
    calls: AtomicU64,
    /// Consecutive server errors (low 32 bits) and gateway failures (high 32 bits).
    streaks: AtomicU64,
    /// Times ejected in a row: the ejection time's multiplier.
    pub(crate) multiplier: AtomicU32,
    /// In the pool at the last sweep and not ejected since: the next sweep lowers the
    /// multiplier.
    pub(crate) in_pool_since_sweep: AtomicBool,
    pub(crate) removed: AtomicBool,
    pub(crate) label: Box<str>,
    wakers: Mutex<Vec<Waker>>,
}

impl EndpointHealth {
    pub(crate) fn new(label: Box<str>) -> Self {
        EndpointHealth {
            label,
            calls: AtomicU64::new(0),
            streaks: AtomicU64::new(0),
            ejected_until: AtomicU64::new(0),
            multiplier: AtomicU32::new(0),
            in_pool_since_sweep: AtomicBool::new(false),
            removed: AtomicBool::new(false),
            wakers: Mutex::new(Vec::new()),
        }
    }

    #[inline]
    pub(crate) fn is_ejected(&self) -> bool {
        self.ejected_until.load(Relaxed) != 0
    }

    /// Count a finished call. Returns the streaks (5xx, gateway) after a failure, so the
    /// caller can compare them with the thresholds; `None` after anything else.
    #[inline]
    pub(crate) fn record(&self, outcome: CallOutcome) -> Option<(u32, u32)> {
        match outcome {
            CallOutcome::Success => {
                self.calls.fetch_add(1, Relaxed);
                // A read first: a healthy endpoint's word is not written.
                if self.streaks.load(Relaxed) != 0 {
                    self.streaks.store(0, Relaxed);
                }
                None
            }
            CallOutcome::Ignored => None,
            failure => {
                self.calls.fetch_add(1 << 32, Relaxed);
                let gateway = failure == CallOutcome::GatewayFailure;
                let step = |word: u64| {
                    let server = ((word & LOW) as u32).saturating_add(1);
                    let gw = match gateway {
                        true => ((word >> 32) as u32).saturating_add(1),
                        false => 0,
                    };
                    (u64::from(gw) << 32) | u64::from(server)
                };
                let before = self
                    .streaks
                    .fetch_update(Relaxed, Relaxed, |w| Some(step(w)))
                    .unwrap_or_else(|w| w);
                let after = step(before);
                Some(((after & LOW) as u32, (after >> 32) as u32))
            }
        }
    }

    pub(crate) fn reset_streaks(&self) {
        self.streaks.store(0, Relaxed);
    }

    /// Successes and failures since the last call; zeroes them.
    pub(crate) fn take_counts(&self) -> (u32, u32) {
        let word = self.calls.swap(0, Relaxed);
        ((word & LOW) as u32, (word >> 32) as u32)
    }

    /// Called by a gate that found the endpoint ejected; the gate re-checks afterwards.
    pub(crate) fn register(&self, waker: &Waker) {
        let mut wakers = self.wakers.lock();
        if !wakers.iter().any(|w| w.will_wake(waker)) {
            wakers.push(waker.clone());
        }
    }

    /// Wake every gate waiting on this endpoint (after `ejected_until` went to 0, or when
    /// the pool panics).
    pub(crate) fn wake_all(&self) {
        let wakers = std::mem::take(&mut *self.wakers.lock());
        for waker in wakers {
            waker.wake();
        }
    }

    #[cfg(test)]
    pub(crate) fn waiting(&self) -> usize {
        self.wakers.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use CallOutcome::*;

    #[test]
    fn streaks_follow_envoy() {
        let e = EndpointHealth::new("a".into());
        assert_eq!(e.record(GatewayFailure), Some((1, 1)));
        assert_eq!(e.record(GatewayFailure), Some((2, 2)));
        // A 500 continues the 5xx streak and ends the gateway one.
        assert_eq!(e.record(ServerError), Some((3, 0)));
        assert_eq!(e.record(GatewayFailure), Some((4, 1)));
        assert_eq!(e.record(Ignored), None);
        assert_eq!(e.record(GatewayFailure), Some((5, 2)));
        // A success ends both.
        assert_eq!(e.record(Success), None);
        assert_eq!(e.record(ServerError), Some((1, 0)));
        assert_eq!(e.take_counts(), (1, 6));
        assert_eq!(e.take_counts(), (0, 0));
    }

    struct CountWakes(std::sync::atomic::AtomicUsize);

    impl std::task::Wake for CountWakes {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.fetch_add(1, Relaxed);
        }
    }

    #[test]
    fn a_waker_is_kept_once_and_woken_once() {
        let e = EndpointHealth::new("a".into());
        let wakes = std::sync::Arc::new(CountWakes(Default::default()));
        let waker = Waker::from(wakes.clone());
        e.register(&waker);
        e.register(&waker.clone());
        assert_eq!(e.waiting(), 1);
        e.wake_all();
        assert_eq!(e.waiting(), 0);
        assert_eq!(wakes.0.load(Relaxed), 1);
        e.wake_all();
        assert_eq!(wakes.0.load(Relaxed), 1);
    }
}
