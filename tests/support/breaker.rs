//! Outcomes recorded straight on a breaker, for the tests of its rules.

use tower_breakwater::circuit_breaker::CircuitBreaker;

/// One admitted call that failed.
pub fn fail(breaker: &CircuitBreaker) {
    breaker.try_acquire().expect("admitted").failure();
}

/// One admitted call that succeeded.
pub fn succeed(breaker: &CircuitBreaker) {
    breaker.try_acquire().expect("admitted").success();
}
