//! The error of [`Metrics::register`](super::Metrics::register).

use std::fmt;

/// Why metrics could not be registered. Nothing is left half-registered: on any error,
/// the collectors this call had already added are taken out again.
///
/// ```
/// use tower_breakwater::circuit_breaker::CircuitBreaker;
/// use tower_breakwater::metrics::{Error, Metrics};
///
/// let registry = prometheus::Registry::new();
/// let breaker = CircuitBreaker::builder("payments").build().unwrap();
/// Metrics::new().circuit_breaker(&breaker).register(&registry).unwrap();
///
/// let again = Metrics::new().circuit_breaker(&breaker).register(&registry).unwrap_err();
/// assert!(again.is_already_registered());
/// assert_eq!(
///     again.to_string(),
///     "metrics of circuit breaker 'payments' are already registered in this registry"
/// );
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The registry already has the metrics of a `layer` (e.g. `"circuit breaker"`) with
    /// this `name`: the same handle registered twice, or two with one name. Give each
    /// instance its own name, or register it once.
    AlreadyRegistered {
        /// Which kind of layer: `"circuit breaker"`, `"bulkhead"`, `"retry"`,
        /// `"timeout"` or `"fallback"`.
        layer: &'static str,
        /// The instance's name (the `name` label).
        name: String,
    },
    /// The namespace is not a valid metric-name prefix: `[a-zA-Z_][a-zA-Z0-9_]*` (colons are
    /// left to recording rules).
    InvalidNamespace(String),
    /// Anything else the `prometheus` crate refused, e.g. a metric of the same name that
    /// something else registered with other labels or help.
    Prometheus(prometheus::Error),
}

impl Error {
    /// Whether this is [`Error::AlreadyRegistered`].
    ///
    /// ```
    /// use tower_breakwater::metrics::Error;
    /// assert!(!Error::InvalidNamespace("1x".into()).is_already_registered());
    /// ```
    pub fn is_already_registered(&self) -> bool {
        matches!(self, Error::AlreadyRegistered { .. })
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::AlreadyRegistered { layer, name } => write!(
                f,
                "metrics of {layer} '{name}' are already registered in this registry"
            ),
            Error::InvalidNamespace(namespace) => write!(
                f,
                "invalid metrics namespace '{namespace}': expected [a-zA-Z_][a-zA-Z0-9_]*"
            ),
            Error::Prometheus(e) => write!(f, "prometheus refused the metrics: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Prometheus(e) => Some(e),
            _ => None,
        }
    }
}

impl From<prometheus::Error> for Error {
    fn from(e: prometheus::Error) -> Self {
        Error::Prometheus(e)
    }
}
