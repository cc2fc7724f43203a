//! Transitions, as handed to code that subscribes to a breaker.

use std::fmt;

use tokio::time::Instant;

use super::State;
use crate::Name;

/// One change of state of a breaker, as sent to subscribers of [`subscribe`](super::CircuitBreaker::subscribe)
/// (and logged as a `tracing` event with target `tower_breakwater`).
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
/// assert_eq!(t.to_string(), "circuit 'payments': closed -> forced_open");
/// ```
///
/// `Debug` leaves out [`at`](Transition::at), whose raw clock reading tells a reader
/// nothing: use `t.at.elapsed()` to say how long ago it was.
#[derive(Clone)]
#[non_exhaustive]
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

/// `circuit 'payments': closed -> open`: the breaker's name and the two states, in the words
/// of the metrics' `from` / `to` labels.
impl fmt::Display for Transition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "circuit '{}': {} -> {}", self.name, self.from, self.to)
    }
}

impl fmt::Debug for Transition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transition")
            .field("name", &self.name.as_str())
            .field("from", &self.from)
            .field("to", &self.to)
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transition() -> Transition {
        Transition {
            name: Name::from("payments"),
            from: State::HalfOpen,
            to: State::Open,
            generation: 7,
            at: Instant::now(),
        }
    }

    #[test]
    fn display_names_the_breaker_and_both_states() {
        assert_eq!(
            transition().to_string(),
            "circuit 'payments': half_open -> open"
        );
    }

    #[test]
    fn debug_shows_no_raw_instant() {
        assert_eq!(
            format!("{:?}", transition()),
            r#"Transition { name: "payments", from: HalfOpen, to: Open, generation: 7, .. }"#
        );
    }
}
