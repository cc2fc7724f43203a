//! A point-in-time view of a breaker, for operators and tests.

use std::time::Duration;

use tokio::time::Instant;

use super::State;
use crate::Name;

/// What a breaker is doing right now: see [`CircuitBreaker::snapshot`](super::CircuitBreaker::snapshot).
///
/// Counts are read without stopping callers, so while calls are in flight the figures are a
/// moment's view, not one atomic cut.
///
/// ```
/// use tower_breakwater::circuit_breaker::{CircuitBreaker, State};
///
/// let breaker = CircuitBreaker::builder("payments").count_window(10).build().unwrap();
/// breaker.try_acquire().unwrap().failure();
/// breaker.try_acquire().unwrap().success();
/// let snap = breaker.snapshot();
/// assert_eq!(snap.state, State::Closed);
/// assert_eq!((snap.window.calls, snap.window.failures), (2, 1));
/// assert_eq!(snap.window.failure_rate(), 0.5);
/// assert_eq!(snap.totals.calls(), 2);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Snapshot {
    /// The breaker's name.
    pub name: Name,
    /// The current state.
    pub state: State,
    /// The current generation (every transition adds one).
    pub generation: u32,
    /// How long the breaker has been in this state.
    pub time_in_state: Duration,
    /// When an open breaker lets its first trial through.
    pub retry_at: Option<Instant>,
    /// The outcomes the rate rules see now (empty outside closed, and for the consecutive rule).
    pub window: WindowCounts,
    /// The current run of failures, for the consecutive-failures rule.
    pub consecutive_failures: Option<u32>,
    /// Trial permits handed out in the current half-open episode.
    pub half_open_trials: u32,
    /// Trial successes so far in the current half-open episode.
    pub half_open_successes: u32,
    /// Everything since the breaker was built.
    pub totals: Totals,
}

/// The outcomes in a rate rule's window.
///
/// ```
/// # use tower_breakwater::circuit_breaker::CircuitBreaker;
/// let breaker = CircuitBreaker::builder("db").count_window(4).build().unwrap();
/// assert_eq!(breaker.snapshot().window.failure_rate(), 0.0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WindowCounts {
    /// Calls in the window.
    pub calls: u64,
    /// Failures among them.
    pub failures: u64,
    /// Slow calls among them.
    pub slow: u64,
}

impl WindowCounts {
    /// `failures / calls`, 0 for an empty window.
    ///
    /// ```
    /// # use tower_breakwater::circuit_breaker::CircuitBreaker;
    /// let breaker = CircuitBreaker::builder("db").count_window(4).build().unwrap();
    /// breaker.try_acquire().unwrap().failure();
    /// assert_eq!(breaker.snapshot().window.failure_rate(), 1.0);
    /// ```
    #[must_use]
    pub fn failure_rate(&self) -> f64 {
        ratio(self.failures, self.calls)
    }

    /// `slow / calls`, 0 for an empty window.
    ///
    /// ```
    /// # use tower_breakwater::circuit_breaker::CircuitBreaker;
    /// let breaker = CircuitBreaker::builder("db").count_window(4).build().unwrap();
    /// assert_eq!(breaker.snapshot().window.slow_rate(), 0.0);
    /// ```
    #[must_use]
    pub fn slow_rate(&self) -> f64 {
        ratio(self.slow, self.calls)
    }
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// Every call a breaker has seen, by what became of it.
///
/// `calls()` is the sum of the five outcomes; `slow` is counted besides (a slow call is
/// also a success, failure or ignored).
///
/// ```
/// # use tower_breakwater::circuit_breaker::CircuitBreaker;
/// let breaker = CircuitBreaker::builder("db").build().unwrap();
/// drop(breaker.try_acquire().unwrap()); // cancelled
/// breaker.force_open();
/// assert!(breaker.try_acquire().is_err()); // rejected
/// let totals = breaker.snapshot().totals;
/// assert_eq!((totals.cancelled, totals.rejected, totals.calls()), (1, 1, 2));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Totals {
    /// Calls that succeeded.
    pub successes: u64,
    /// Calls that failed (as the classifier saw them).
    pub failures: u64,
    /// Calls whose outcome was ignored.
    pub ignored: u64,
    /// Calls rejected without reaching the service.
    pub rejected: u64,
    /// Admitted calls dropped before they finished.
    pub cancelled: u64,
    /// Calls slower than the slow-call threshold (when one is set).
    pub slow: u64,
    /// Failures that counted toward opening: those recorded while closed, in the closed
    /// period they started in, and failed half-open trials. A subset of `failures` (not of
    /// `calls()`): it leaves out failures while disabled and stale ones. With
    /// [`abandoned_as_failures_above`](super::Builder::abandoned_as_failures_above) it also
    /// counts abandoned calls judged failures (those stay in `cancelled`).
    pub counted_failures: u64,
}

impl Totals {
    /// successes + failures + ignored + rejected + cancelled.
    ///
    /// ```
    /// # use tower_breakwater::circuit_breaker::CircuitBreaker;
    /// let breaker = CircuitBreaker::builder("db").build().unwrap();
    /// breaker.try_acquire().unwrap().success();
    /// assert_eq!(breaker.snapshot().totals.calls(), 1);
    /// ```
    #[must_use]
    pub fn calls(&self) -> u64 {
        self.successes + self.failures + self.ignored + self.rejected + self.cancelled
    }
}
