//! The builder, its validation, and the immutable config it produces.

use std::time::Duration;

use tokio::sync::Semaphore;

use super::Bulkhead;
use crate::{ConfigError, Name};

/// The longest `max_wait` accepted: tokio clamps longer sleeps to about 30 years, and a
/// deadline past the clock's range would panic. For no time limit, leave `max_wait` unset.
use crate::config_error::LONGEST as MAX_WAIT;

/// Builds a [`Bulkhead`]; every value is checked once, in [`build`](Builder::build).
///
/// - [`max_concurrent`](Self::max_concurrent) (required): calls in flight at once. There
///   is no default, because no number fits every dependency: `build` without it is a
///   [`ConfigError`] on the field `max_concurrent`. It is checked when `build` runs, not
///   in the builder's type, because a limit read from a config file must be checked then
///   anyway (and one builder type keeps the composer's `with_bulkhead` simple).
/// - [`max_waiting`](Self::max_waiting) (default 0): callers that may wait for a slot when
///   all are taken. With 0, a call that finds the bulkhead full is refused at once.
/// - [`max_wait`](Self::max_wait) (default: none): how long each of them waits at most.
///   Unset, a waiting caller waits until a slot frees.
///
/// ```
/// use std::time::Duration;
/// use tower_breakwater::bulkhead::Bulkhead;
///
/// let bulkhead = Bulkhead::builder("payments")
///     .max_concurrent(16)
///     .max_waiting(64)
///     .max_wait(Duration::from_millis(250))
///     .build()
///     .expect("valid config");
/// assert_eq!(bulkhead.max_concurrent(), 16);
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct Builder {
    name: Name,
    max_concurrent: Option<usize>,
    max_waiting: usize,
    max_wait: Option<Duration>,
}

/// The validated, immutable configuration of one bulkhead.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) name: Name,
    /// In `1..=Semaphore::MAX_PERMITS`.
    pub(crate) max_concurrent: usize,
    /// 0: nobody waits.
    pub(crate) max_waiting: usize,
    /// Only set when `max_waiting > 0`; then in `1ns..=MAX_WAIT`.
    pub(crate) max_wait: Option<Duration>,
}

impl Builder {
    pub(crate) fn new(name: Name) -> Self {
        Builder {
            name,
            max_concurrent: None,
            max_waiting: 0,
            max_wait: None,
        }
    }

    /// At most `n` calls in flight at once (required; at least 1). A call holds its slot
    /// from the `poll_ready` that reserved it until its response future ends or is dropped.
    ///
    /// ```
    /// # use tower_breakwater::bulkhead::Bulkhead;
    /// let bulkhead = Bulkhead::builder("db").max_concurrent(8).build().unwrap();
    /// assert_eq!(bulkhead.max_concurrent(), 8);
    /// ```
    pub fn max_concurrent(mut self, n: usize) -> Self {
        self.max_concurrent = Some(n);
        self
    }

    /// Let up to `n` callers wait, first come first served, for a slot when all are taken
    /// (default 0: refuse at once). Beyond `n`, a call is refused at once. `usize::MAX` is
    /// "no bound" — mind that a server which applies no backpressure (axum) then parks
    /// every excess request in memory.
    ///
    /// ```
    /// # use tower_breakwater::bulkhead::Bulkhead;
    /// let bulkhead = Bulkhead::builder("db").max_concurrent(8).max_waiting(32).build().unwrap();
    /// assert_eq!(bulkhead.max_waiting(), 32);
    /// ```
    pub fn max_waiting(mut self, n: usize) -> Self {
        self.max_waiting = n;
        self
    }

    /// A waiting caller gives up after `wait` and is refused with how long it waited
    /// (default: it waits until a slot frees). Needs `max_waiting` above 0, and a duration
    /// from 1ns to ten years.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tower_breakwater::bulkhead::Bulkhead;
    /// let bulkhead = Bulkhead::builder("db")
    ///     .max_concurrent(8)
    ///     .max_waiting(32)
    ///     .max_wait(Duration::from_millis(100))
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(bulkhead.max_wait(), Some(Duration::from_millis(100)));
    ///
    /// // Without a waiting room nobody waits: a max_wait then is a mistake.
    /// let err = Bulkhead::builder("db")
    ///     .max_concurrent(8)
    ///     .max_wait(Duration::from_millis(100))
    ///     .build()
    ///     .unwrap_err();
    /// assert_eq!(err.field(), "max_wait");
    /// ```
    pub fn max_wait(mut self, wait: Duration) -> Self {
        self.max_wait = Some(wait);
        self
    }

    /// Check the settings and make the bulkhead. Bad input is a [`ConfigError`] naming the
    /// field, never a panic.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the field: `max_concurrent` missing, 0 or above tokio's
    /// semaphore limit, a `max_wait` without waiting room, a wait longer than ten years, or a bad name.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tower_breakwater::bulkhead::Bulkhead;
    /// let err = Bulkhead::builder("db").max_concurrent(0).build().unwrap_err();
    /// assert_eq!(
    ///     err.to_string(),
    ///     "invalid config for 'db': max_concurrent = 0, expected at least 1"
    /// );
    /// let err = Bulkhead::builder("db").build().unwrap_err();
    /// assert_eq!(err.field(), "max_concurrent");
    /// ```
    pub fn build(self) -> Result<Bulkhead, ConfigError> {
        Ok(Bulkhead::from_config(self.validate()?))
    }

    fn validate(self) -> Result<Config, ConfigError> {
        let name = self.name.as_str();
        let err = |field, value: &dyn std::fmt::Debug, expected| {
            Err(ConfigError::new(name, field, value, expected))
        };
        ConfigError::check_name(name)?;
        let max_concurrent = match self.max_concurrent {
            None => {
                return err(
                    "max_concurrent",
                    &None::<usize>,
                    "a limit of at least 1 (there is no default)",
                )
            }
            Some(0) => return err("max_concurrent", &0, "at least 1"),
            // tokio's semaphore panics above this (it keeps flags in the low bits).
            Some(n) if n > Semaphore::MAX_PERMITS => {
                return err("max_concurrent", &n, "at most usize::MAX >> 3")
            }
            Some(n) => n,
        };
        if let Some(wait) = self.max_wait {
            if self.max_waiting == 0 {
                return err(
                    "max_wait",
                    &wait,
                    "no max_wait while max_waiting is 0 (nobody waits); raise max_waiting",
                );
            }
            if wait.is_zero() {
                return err(
                    "max_wait",
                    &wait,
                    "a duration above zero (for no waiting, leave max_waiting at 0)",
                );
            }
            if wait > MAX_WAIT {
                return err(
                    "max_wait",
                    &wait,
                    "at most ten years (leave it unset to wait without a time limit)",
                );
            }
        }
        Ok(Config {
            name: self.name,
            max_concurrent,
            max_waiting: self.max_waiting,
            max_wait: self.max_wait,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(builder: Builder) -> &'static str {
        builder.validate().unwrap_err().field()
    }

    #[test]
    fn every_bad_field_is_named() {
        let b = || Builder::new("db".into());
        assert_eq!(field(b()), "max_concurrent");
        assert_eq!(field(b().max_concurrent(0)), "max_concurrent");
        assert_eq!(field(b().max_concurrent(usize::MAX)), "max_concurrent");
        assert_eq!(field(Builder::new("".into()).max_concurrent(1)), "name");
        let waits = b().max_concurrent(1).max_waiting(1);
        assert_eq!(field(waits.clone().max_wait(Duration::ZERO)), "max_wait");
        assert_eq!(field(waits.clone().max_wait(Duration::MAX)), "max_wait");
        assert_eq!(
            field(b().max_concurrent(1).max_wait(Duration::from_secs(1))),
            "max_wait"
        );
        let ok = waits.max_wait(MAX_WAIT).validate().unwrap();
        assert_eq!((ok.max_concurrent, ok.max_waiting), (1, 1));
        let largest = b()
            .max_concurrent(Semaphore::MAX_PERMITS)
            .max_waiting(usize::MAX);
        assert!(largest.validate().is_ok());
    }
}
