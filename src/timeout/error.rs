//! The timeout's error.

use std::fmt;
use std::time::Duration;

use crate::Name;

/// An attempt took longer than its time limit and was abandoned (its future dropped).
///
/// It carries the limit and how long the attempt really ran, so a log line says both.
///
/// ```
/// use std::time::Duration;
/// use tower_breakwater::timeout::Elapsed;
///
/// let e = Elapsed::new("payments", Duration::from_secs(1), Duration::from_millis(1003));
/// assert_eq!(e.limit(), Duration::from_secs(1));
/// assert_eq!(e.elapsed(), Duration::from_millis(1003));
/// assert_eq!(e.to_string(), "'payments' timed out after 1.003s (limit 1s)");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Elapsed {
    name: Name,
    limit: Duration,
    elapsed: Duration,
}

impl Elapsed {
    /// An attempt of `name` gave up after `elapsed`, its limit being `limit`.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tower_breakwater::timeout::Elapsed;
    /// let e = Elapsed::new("db", Duration::from_millis(50), Duration::from_millis(50));
    /// assert_eq!(e.name(), "db");
    /// ```
    pub fn new(name: impl Into<Name>, limit: Duration, elapsed: Duration) -> Self {
        Elapsed {
            name: name.into(),
            limit,
            elapsed,
        }
    }

    /// The name of the timeout (or of the stack it belongs to).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tower_breakwater::timeout::Elapsed;
    /// assert_eq!(Elapsed::new("db", Duration::ZERO, Duration::ZERO).name(), "db");
    /// ```
    #[must_use]
    pub fn name(&self) -> &str {
        self.name.as_str()
    }

    /// The time limit of one attempt.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tower_breakwater::timeout::Elapsed;
    /// let e = Elapsed::new("db", Duration::from_secs(2), Duration::from_secs(2));
    /// assert_eq!(e.limit(), Duration::from_secs(2));
    /// ```
    #[must_use]
    pub fn limit(&self) -> Duration {
        self.limit
    }

    /// How long the attempt ran before it was abandoned (at least the limit).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tower_breakwater::timeout::Elapsed;
    /// let e = Elapsed::new("db", Duration::from_secs(2), Duration::from_secs(3));
    /// assert_eq!(e.elapsed(), Duration::from_secs(3));
    /// ```
    #[must_use]
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }
}

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "'{}' timed out after {:.3}s (limit {:?})",
            self.name,
            self.elapsed.as_secs_f64(),
            self.limit
        )
    }
}

impl std::error::Error for Elapsed {}
