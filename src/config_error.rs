//! The one error every breakwater builder returns for bad input.

use std::fmt;
use std::time::Duration;

/// The longest duration any builder accepts: far past any sane setting, and far enough
/// below tokio's timer horizon that `Instant + limit` can never overflow.
pub(crate) const LONGEST: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// A builder was given a value it cannot work with. It names the field, shows the value and
/// says what was expected, so the message is enough to fix the config.
///
/// Builders return it from `build()`; they never panic and never clamp silently.
///
/// ```
/// use tower_breakwater::circuit_breaker::CircuitBreaker;
///
/// let err = CircuitBreaker::builder("payments").failure_rate(1.5).build().unwrap_err();
/// assert_eq!(err.field(), "failure_rate");
/// assert_eq!(err.value(), "1.5");
/// assert_eq!(
///     err.to_string(),
///     "invalid config for 'payments': failure_rate = 1.5, expected a ratio in (0, 1]"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    name: String,
    field: &'static str,
    value: String,
    expected: &'static str,
}

impl ConfigError {
    pub(crate) fn new(
        name: &str,
        field: &'static str,
        value: impl fmt::Debug,
        expected: &'static str,
    ) -> Self {
        ConfigError {
            name: name.to_owned(),
            field,
            value: format!("{value:?}"),
            expected,
        }
    }

    /// The error for an empty instance name, or `Ok` (every builder checks this first).
    pub(crate) fn check_name(name: &str) -> Result<(), ConfigError> {
        match name.is_empty() {
            true => Err(ConfigError::new(name, "name", name, "a non-empty name")),
            false => Ok(()),
        }
    }

    /// The builder method (field) that got the bad value, e.g. `"failure_rate"`.
    ///
    /// ```
    /// # use tower_breakwater::circuit_breaker::CircuitBreaker;
    /// let err = CircuitBreaker::builder("x").half_open_permits(0).build().unwrap_err();
    /// assert_eq!(err.field(), "half_open_permits");
    /// ```
    #[must_use]
    pub fn field(&self) -> &'static str {
        self.field
    }

    /// The bad value, as written by `Debug` (e.g. `"0"`, `"1.5"`, `"0ns"`).
    ///
    /// ```
    /// # use tower_breakwater::circuit_breaker::CircuitBreaker;
    /// let err = CircuitBreaker::builder("x").count_window(0).build().unwrap_err();
    /// assert_eq!(err.value(), "0");
    /// ```
    #[must_use]
    pub fn value(&self) -> &str {
        &self.value
    }

    /// What would have been accepted, in words.
    ///
    /// ```
    /// # use tower_breakwater::circuit_breaker::CircuitBreaker;
    /// let err = CircuitBreaker::builder("x").consecutive_failures(0).build().unwrap_err();
    /// assert_eq!(err.expected(), "at least 1");
    /// ```
    #[must_use]
    pub fn expected(&self) -> &'static str {
        self.expected
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid config for '{}': {} = {}, expected {}",
            self.name, self.field, self.value, self.expected
        )
    }
}

impl std::error::Error for ConfigError {}
