//! Transitions, as handed to code that subscribes to a breaker.

use tokio::time::Instant;

use super::State;
use crate::Name;

/// One change of state of a breaker, as sent to subscribers of [`subscribe`](super::CircuitBreaker::subscribe)
/// (and logged as a `tracing` event with target `breakwater`).
///
/// ```
/// use tower_breakwater::circuit_breaker::{CircuitBreaker, State};
///
/// let breaker = CircuitBreaker::builder("payments").build().unwrap();
/// let mut transitions = breaker.subscribe();
/// breaker.force_open();
/// let t = transitions.try_recv().unwrap();
/// assert_eq!((t.from, t.to), (State::Closed, State::ForcedOpen));
/// assert_eq!(t.name.as_str(), "payments");
/// ```
#[derive(Debug, Clone)]
pub struct Transition {
    /// The breaker's name.
    pub name: Name,
    /// The state it left.
    pub from: State,
    /// The state it entered.
    pub to: State,
    /// The generation of the new state (every transition adds one).
    pub generation: u32,
    /// When it happened, on tokio's clock.
    pub at: Instant,
}
