//! A whole stack's settings, as read from a file.

use serde::Deserialize;

use super::{BreakerConfig, BulkheadConfig, RetryConfig, TimeoutConfig};
use crate::bulkhead::Bulkhead;
use crate::circuit_breaker::CircuitBreaker;
use crate::retry::RetryLayer;
use crate::timeout::TimeoutLayer;
use crate::{ConfigError, Name};

/// The settings of a whole stack for one dependency: its name and a section per part,
/// each optional. [`build`](Self::build) checks every part through its builder and hands
/// back the parts, to put in a [`Resilience`](crate::Resilience) stack (whose type depends
/// on which parts are there, so the code says which it expects).
///
/// ```
/// use tower_breakwater::config::StackConfig;
/// use tower_breakwater::Resilience;
///
/// let config: StackConfig = toml::from_str(r#"
///     name = "payments"
///
///     [circuit_breaker]
///     failure_rate = 0.5
///     count_window = 50
///     open_for = "30s"
///
///     [timeout]
///     limit = "2s"
///
///     [bulkhead]
///     max_concurrent = 32
/// "#).unwrap();
/// let parts = config.build().unwrap();
/// let breaker = parts.circuit_breaker.expect("configured");
/// let layer = Resilience::builder(parts.name.clone())
///     .circuit_breaker(&breaker)
///     .timeout_layer(&parts.timeout.expect("configured"))
///     .bulkhead(&parts.bulkhead.expect("configured"))
///     .build()
///     .unwrap();
/// # let _ = layer;
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct StackConfig {
    /// The name every part reports (errors, metrics).
    pub name: String,
    /// The breaker's settings.
    pub circuit_breaker: Option<BreakerConfig>,
    /// The retry layer's settings.
    pub retry: Option<RetryConfig>,
    /// The timeout's setting.
    pub timeout: Option<TimeoutConfig>,
    /// The bulkhead's settings.
    pub bulkhead: Option<BulkheadConfig>,
    /// The fault injector's settings (feature `chaos`).
    #[cfg(feature = "chaos")]
    pub chaos: Option<super::ChaosConfig>,
}

/// The parts a [`StackConfig`] describes, each checked and built.
///
/// ```
/// use tower_breakwater::config::StackConfig;
/// let parts = serde_json::from_str::<StackConfig>(r#"{"name": "db"}"#).unwrap().build().unwrap();
/// assert!(parts.circuit_breaker.is_none() && parts.retry.is_none());
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Stack {
    /// The stack's name.
    pub name: Name,
    /// The breaker, if configured.
    pub circuit_breaker: Option<CircuitBreaker>,
    /// The retry layer, if configured.
    pub retry: Option<RetryLayer>,
    /// The timeout, if configured.
    pub timeout: Option<TimeoutLayer>,
    /// The bulkhead, if configured.
    pub bulkhead: Option<Bulkhead>,
    /// The fault injector, if configured (feature `chaos`).
    #[cfg(feature = "chaos")]
    pub chaos: Option<crate::chaos::Chaos>,
}

impl StackConfig {
    /// Check every part (each through its own builder: the first bad value is a
    /// [`ConfigError`] naming the stack and the field) and build them.
    ///
    /// # Errors
    /// The first [`ConfigError`] of any part, naming the stack and the field.
    ///
    /// ```
    /// use tower_breakwater::config::StackConfig;
    /// let config: StackConfig =
    ///     toml::from_str("name = \"db\"\n[circuit_breaker]\nhalf_open_permits = 0").unwrap();
    /// let err = config.build().unwrap_err();
    /// assert_eq!(err.field(), "half_open_permits");
    /// assert!(err.to_string().starts_with("invalid config for 'db'"));
    /// ```
    pub fn build(self) -> Result<Stack, ConfigError> {
        let name = Name::from(self.name);
        ConfigError::check_name(name.as_str())?;
        // Each part carries the stack's name (a `Name` clone: a pointer copy at most).
        let n = || name.clone();
        Ok(Stack {
            circuit_breaker: self.circuit_breaker.map(|c| c.build(n())).transpose()?,
            retry: self.retry.map(|c| c.build(n())).transpose()?,
            timeout: self.timeout.map(|c| c.build(n())).transpose()?,
            bulkhead: self.bulkhead.map(|c| c.build(n())).transpose()?,
            #[cfg(feature = "chaos")]
            chaos: self.chaos.map(|c| c.build(n())).transpose()?,
            name,
        })
    }
}
