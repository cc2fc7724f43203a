//! A call admitted by the breaker, waiting to be told how it ended.

use std::time::Duration;

use super::core::Core;
use super::local;
use super::state::{Admission, State};
use crate::classify::Outcome;

/// Leave to make one call through a breaker, from [`CircuitBreaker::try_acquire`]. Tell it
/// how the call ended with [`success`](Permit::success), [`failure`](Permit::failure),
/// [`ignore`](Permit::ignore) or [`record`](Permit::record). Dropping it unused means the
/// call was cancelled: it counts neither way and gives back a half-open trial permit.
///
/// This is the building block under the tower layer and [`CircuitBreaker::call`], for code
/// that drives calls some other way.
///
/// ```
/// use breakwater::circuit_breaker::CircuitBreaker;
///
/// let breaker = CircuitBreaker::builder("payments").consecutive_failures(2).build().unwrap();
/// for _ in 0..2 {
///     let permit = breaker.try_acquire().expect("closed");
///     // ... make the call; it failed:
///     permit.failure();
/// }
/// assert!(breaker.try_acquire().is_err(), "two failures in a row opened it");
/// ```
///
/// [`CircuitBreaker::try_acquire`]: super::CircuitBreaker::try_acquire
/// [`CircuitBreaker::call`]: super::CircuitBreaker::call
#[derive(Debug)]
#[must_use = "dropping a permit counts the call as cancelled"]
pub struct Permit {
    breaker_id: u64,
    /// Taken when the outcome is recorded; still here on drop means cancelled.
    admission: Option<Admission>,
    /// When the call started, on the breaker's clock; read only if a slow-call rule is set.
    started: Option<u64>,
}

impl Permit {
    pub(crate) fn new(core: &Core, admission: Admission) -> Self {
        Permit {
            breaker_id: core.id,
            admission: Some(admission),
            started: core.config.slower_than().map(|_| core.now()),
        }
    }

    /// Whether the state this permit was given in still holds (a service may hold a permit
    /// from `poll_ready` while the breaker moves on).
    #[inline]
    pub(crate) fn is_current(&self, core: &Core) -> bool {
        let (state, generation) = core.state.state();
        match self.admission {
            Some(Admission::Closed { generation: g }) => (state, generation) == (State::Closed, g),
            Some(Admission::Trial { generation: g, .. }) => {
                (state, generation) == (State::HalfOpen, g)
            }
            Some(Admission::Passthrough) => state == State::Disabled,
            None => false,
        }
    }

    /// Forget a permit that was never used and whose state is over (see `is_current`): it
    /// has no trial permit to give back, and it counts nowhere (not even as cancelled).
    pub(crate) fn void(mut self) {
        self.admission = None;
    }

    /// Restart the slow-call stopwatch (a service layer admits in `poll_ready` but sends the
    /// request in `call`).
    pub(crate) fn restart_clock(&mut self, core: &Core) {
        if self.started.is_some() {
            self.started = Some(core.now());
        }
    }

    /// The call succeeded.
    ///
    /// ```
    /// # use breakwater::circuit_breaker::CircuitBreaker;
    /// let breaker = CircuitBreaker::builder("p").build().unwrap();
    /// breaker.try_acquire().unwrap().success();
    /// assert_eq!(breaker.snapshot().totals.successes, 1);
    /// ```
    pub fn success(self) {
        self.record(Outcome::Success)
    }

    /// The call failed.
    ///
    /// ```
    /// # use breakwater::circuit_breaker::CircuitBreaker;
    /// let breaker = CircuitBreaker::builder("p").build().unwrap();
    /// breaker.try_acquire().unwrap().failure();
    /// assert_eq!(breaker.snapshot().consecutive_failures, Some(1));
    /// ```
    pub fn failure(self) {
        self.record(Outcome::Failure)
    }

    /// The call's outcome counts neither way.
    ///
    /// ```
    /// # use breakwater::circuit_breaker::CircuitBreaker;
    /// let breaker = CircuitBreaker::builder("p").build().unwrap();
    /// breaker.try_acquire().unwrap().ignore();
    /// assert_eq!(breaker.snapshot().totals.ignored, 1);
    /// ```
    pub fn ignore(self) {
        self.record(Outcome::Ignored)
    }

    /// Record `outcome` for the call.
    ///
    /// ```
    /// # use breakwater::circuit_breaker::CircuitBreaker;
    /// use breakwater::classify::Outcome;
    /// let breaker = CircuitBreaker::builder("p").build().unwrap();
    /// breaker.try_acquire().unwrap().record(Outcome::Failure);
    /// assert_eq!(breaker.snapshot().totals.failures, 1);
    /// ```
    #[inline]
    pub fn record(mut self, outcome: Outcome) {
        let Some(admission) = self.admission.take() else {
            return;
        };
        let started = self.started;
        local::with_core(self.breaker_id, |core, block| {
            let elapsed = started.map(|s| Duration::from_nanos(core.now().saturating_sub(s)));
            core.record(block, admission, outcome, elapsed);
        });
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some(admission) = self.admission.take() {
            local::with_core(self.breaker_id, |core, block| core.cancel(block, admission));
        }
    }
}
