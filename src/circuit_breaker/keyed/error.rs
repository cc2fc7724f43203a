//! The one refusal of a keyed breaker's operator API.

use std::fmt;

use crate::Name;

/// An operator asked for a key's own breaker ([`force_open`]) while the keyed breaker holds
/// its `max_keys` keys and none of them can be evicted.
///
/// ```
/// use tower_breakwater::circuit_breaker::{CircuitBreaker, KeyedCircuitBreaker};
///
/// let hosts: KeyedCircuitBreaker<u32> =
///     CircuitBreaker::builder("hosts").keyed().max_keys(1).build().unwrap();
/// hosts.force_open(1).unwrap();
/// let full = hosts.force_open(2).unwrap_err();
/// assert_eq!(full.to_string(), "keyed circuit 'hosts' holds its 1 keys and none can be evicted");
/// ```
///
/// [`force_open`]: super::KeyedCircuitBreaker::force_open
#[derive(Debug, Clone)]
pub struct KeysFull {
    name: Name,
    max_keys: usize,
}

impl KeysFull {
    pub(super) fn new(name: Name, max_keys: usize) -> Self {
        KeysFull { name, max_keys }
    }

    /// The keyed breaker's name.
    ///
    /// ```
    /// # use tower_breakwater::circuit_breaker::{CircuitBreaker, KeyedCircuitBreaker};
    /// # let hosts: KeyedCircuitBreaker<u32> =
    /// #     CircuitBreaker::builder("hosts").keyed().max_keys(1).build().unwrap();
    /// # hosts.force_open(1).unwrap();
    /// assert_eq!(hosts.force_open(2).unwrap_err().name(), "hosts");
    /// ```
    pub fn name(&self) -> &str {
        self.name.as_str()
    }
}

impl fmt::Display for KeysFull {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "keyed circuit '{}' holds its {} keys and none can be evicted",
            self.name, self.max_keys
        )
    }
}

impl std::error::Error for KeysFull {}
