//! The keyed builder: one breaker config, checked once, plus the cap and the idle time.

use std::fmt::Display;
use std::hash::Hash;
use std::time::Duration;

use super::KeyedCircuitBreaker;
use crate::circuit_breaker::Builder;
use crate::config_error::LONGEST;
use crate::ConfigError;

/// The most keys a keyed breaker may be told to hold (16 Mi).
const MAX_KEYS: usize = 1 << 24;

/// Builds a [`KeyedCircuitBreaker`]: made by [`Builder::keyed`] from a breaker's builder,
/// whose settings every key's breaker gets.
///
/// ```
/// use std::time::Duration;
/// use tower_breakwater::circuit_breaker::{CircuitBreaker, KeyedCircuitBreaker};
///
/// let hosts: KeyedCircuitBreaker<String> = CircuitBreaker::builder("upstreams")
///     .consecutive_failures(3)
///     .keyed()
///     .max_keys(5_000)
///     .idle_for(Duration::from_secs(120))
///     .build()
///     .expect("valid config");
/// assert_eq!(hosts.max_keys(), 5_000);
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct KeyedBuilder {
    breaker: Builder,
    max_keys: usize,
    idle_for: Duration,
}

impl Builder {
    /// One breaker per key instead of one breaker: every key's breaker gets the settings
    /// given so far. See [`KeyedCircuitBreaker`].
    ///
    /// ```
    /// use tower_breakwater::circuit_breaker::{CircuitBreaker, KeyedCircuitBreaker};
    /// let tenants: KeyedCircuitBreaker<u64> =
    ///     CircuitBreaker::builder("tenants").keyed().build().unwrap();
    /// assert_eq!(tenants.len(), 0);
    /// ```
    pub fn keyed(self) -> KeyedBuilder {
        KeyedBuilder {
            breaker: self,
            max_keys: 10_000,
            idle_for: Duration::from_secs(300),
        }
    }
}

impl KeyedBuilder {
    /// The most keys with a breaker of their own (default 10,000, at most 16,777,216).
    /// Past it, a new key takes the place of an idle closed one, or else its calls go
    /// through the shared [`overflow`](KeyedCircuitBreaker::overflow) breaker.
    ///
    /// ```
    /// # use tower_breakwater::circuit_breaker::{CircuitBreaker, KeyedCircuitBreaker};
    /// let k: KeyedCircuitBreaker<u64> =
    ///     CircuitBreaker::builder("k").keyed().max_keys(100).build().unwrap();
    /// assert_eq!(k.max_keys(), 100);
    /// ```
    pub fn max_keys(mut self, keys: usize) -> Self {
        self.max_keys = keys;
        self
    }

    /// How long a key must go without calls before its breaker may be evicted (default
    /// 5 minutes). Only a closed breaker is ever evicted.
    ///
    /// Eviction happens in sweeps: a sweep marks each key used since the one before, and
    /// evicts a key left unmarked since a sweep at least `idle_for` earlier. So a key is
    /// never evicted sooner than `idle_for` after its last call. Sweeps run when new keys
    /// arrive (at most every `idle_for / 4` per shard) and on
    /// [`evict_idle`](super::KeyedCircuitBreaker::evict_idle); without either, nothing is
    /// evicted, and nothing needs to be: memory grows only with new keys.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tower_breakwater::circuit_breaker::{CircuitBreaker, KeyedCircuitBreaker};
    /// let k: KeyedCircuitBreaker<u64> = CircuitBreaker::builder("k")
    ///     .keyed()
    ///     .idle_for(Duration::from_secs(60))
    ///     .build()
    ///     .unwrap();
    /// # let _ = k;
    /// ```
    pub fn idle_for(mut self, idle: Duration) -> Self {
        self.idle_for = idle;
        self
    }

    /// Check every value (the breaker's too) and build the keyed breaker. Keys' breakers
    /// are made later, on their first call, from this one checked config.
    ///
    /// ```
    /// # use tower_breakwater::circuit_breaker::{CircuitBreaker, KeyedCircuitBreaker};
    /// let err = CircuitBreaker::builder("k")
    ///     .keyed()
    ///     .max_keys(0)
    ///     .build::<String>()
    ///     .unwrap_err();
    /// assert_eq!(err.field(), "max_keys");
    /// ```
    pub fn build<K>(self) -> Result<KeyedCircuitBreaker<K>, ConfigError>
    where
        K: Hash + Eq + Clone + Display,
    {
        let config = self.breaker.validate()?;
        let name = config.name.as_str();
        if self.max_keys == 0 || self.max_keys > MAX_KEYS {
            return Err(ConfigError::new(
                name,
                "max_keys",
                self.max_keys,
                "1 to 16777216 keys",
            ));
        }
        if self.idle_for.is_zero() || self.idle_for > LONGEST {
            return Err(ConfigError::new(
                name,
                "idle_for",
                self.idle_for,
                "a duration from 1ns to ten years",
            ));
        }
        Ok(KeyedCircuitBreaker::new(
            config,
            self.max_keys,
            self.idle_for,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::circuit_breaker::CircuitBreaker;

    #[test]
    fn bad_values_name_their_field() {
        let b = || CircuitBreaker::builder("k").keyed();
        let field = |b: KeyedBuilder| b.build::<u64>().unwrap_err().field();
        assert_eq!(field(b().max_keys(0)), "max_keys");
        assert_eq!(field(b().max_keys(MAX_KEYS + 1)), "max_keys");
        assert_eq!(field(b().idle_for(Duration::ZERO)), "idle_for");
        assert_eq!(field(b().idle_for(Duration::MAX)), "idle_for");
        let bad_breaker = CircuitBreaker::builder("k").failure_rate(2.0).keyed();
        assert_eq!(field(bad_breaker), "failure_rate");
    }
}
