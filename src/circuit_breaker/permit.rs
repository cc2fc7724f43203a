//! A call admitted by the breaker, waiting to be told how it ended.

use std::time::Duration;

use super::core::Core;
use super::local;
use super::state::{Admission, State, Ticket};
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
/// use tower_breakwater::circuit_breaker::CircuitBreaker;
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
    // Two words, so rustc passes a permit in registers: moving a bigger struct through memory
    // stalls store forwarding, which cost more than the rest of the closed path.
    /// Taken when the outcome is recorded; still here on drop means cancelled. It carries the
    /// breaker's id (one word: `Ticket` is non-zero, so `None` is 0).
    ticket: Option<Ticket>,
    /// When the call started, on the breaker's clock, or `NOT_TIMED` when neither a
    /// slow-call rule nor a duration histogram asks for the time (a plain word, for the same
    /// reason as `Ticket`).
    started: u64,
}

const NOT_TIMED: u64 = u64::MAX;

impl Permit {
    #[inline]
    pub(crate) fn new(core: &Core, ticket: Ticket) -> Self {
        Permit {
            ticket: Some(ticket),
            started: match core.times_calls() {
                true => core.now(),
                false => NOT_TIMED,
            },
        }
    }

    /// Whether the state this permit was given in still holds (a service may hold a permit
    /// from `poll_ready` while the breaker moves on).
    #[inline]
    pub(crate) fn is_current(&self, core: &Core) -> bool {
        let (state, generation) = core.state.state();
        match self.ticket.map(Ticket::admission) {
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
        self.ticket = None;
    }

    /// Restart the slow-call stopwatch (a service layer admits in `poll_ready` but sends the
    /// request in `call`).
    #[inline]
    pub(crate) fn restart_clock(&mut self, core: &Core) {
        if self.started != NOT_TIMED {
            self.started = core.now();
        }
    }

    /// The call succeeded.
    ///
    /// ```
    /// # use tower_breakwater::circuit_breaker::CircuitBreaker;
    /// let breaker = CircuitBreaker::builder("p").build().unwrap();
    /// breaker.try_acquire().unwrap().success();
    /// assert_eq!(breaker.snapshot().totals.successes, 1);
    /// ```
    #[inline]
    pub fn success(self) {
        self.record(Outcome::Success)
    }

    /// The call failed.
    ///
    /// ```
    /// # use tower_breakwater::circuit_breaker::CircuitBreaker;
    /// let breaker = CircuitBreaker::builder("p").build().unwrap();
    /// breaker.try_acquire().unwrap().failure();
    /// assert_eq!(breaker.snapshot().consecutive_failures, Some(1));
    /// ```
    #[inline]
    pub fn failure(self) {
        self.record(Outcome::Failure)
    }

    /// The call's outcome counts neither way.
    ///
    /// ```
    /// # use tower_breakwater::circuit_breaker::CircuitBreaker;
    /// let breaker = CircuitBreaker::builder("p").build().unwrap();
    /// breaker.try_acquire().unwrap().ignore();
    /// assert_eq!(breaker.snapshot().totals.ignored, 1);
    /// ```
    #[inline]
    pub fn ignore(self) {
        self.record(Outcome::Ignored)
    }

    /// Record `outcome` for the call.
    ///
    /// ```
    /// # use tower_breakwater::circuit_breaker::CircuitBreaker;
    /// use tower_breakwater::classify::Outcome;
    /// let breaker = CircuitBreaker::builder("p").build().unwrap();
    /// breaker.try_acquire().unwrap().record(Outcome::Failure);
    /// assert_eq!(breaker.snapshot().totals.failures, 1);
    /// ```
    #[inline]
    pub fn record(self, outcome: Outcome) {
        self.record_as(outcome, false)
    }

    /// Record `outcome`; `timed_out` (a timeout below the breaker gave up on the call) makes
    /// it a slow call whatever the slow-call threshold, without reading the clock.
    #[inline]
    pub(crate) fn record_as(mut self, outcome: Outcome, timed_out: bool) {
        let Some(ticket) = self.ticket.take() else {
            return;
        };
        match self.started {
            // The usual case, kept apart so the compiler sees `elapsed` is `None` and drops
            // the slow-call and histogram work.
            NOT_TIMED => local::record_untimed(ticket, outcome),
            started => record_timed(ticket, started, outcome, timed_out),
        }
    }
}

/// Record a call whose start was noted (a slow-call rule, or a duration histogram).
#[inline(never)]
fn record_timed(ticket: Ticket, started: u64, outcome: Outcome, timed_out: bool) {
    local::with_core(ticket.breaker(), |core, block| {
        let elapsed = match timed_out {
            true => Duration::MAX,
            false => Duration::from_nanos(core.now().saturating_sub(started)),
        };
        core.record(block, ticket, outcome, Some(elapsed));
        #[cfg(feature = "metrics")]
        core.observe_duration(started, Some(elapsed));
    });
}

impl Drop for Permit {
    #[inline]
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket.take() {
            cancel(ticket);
        }
    }
}

#[cold]
fn cancel(ticket: Ticket) {
    local::with_core(ticket.breaker(), |core, block| core.cancel(block, ticket));
}
