//! A bulkhead's and a timeout's settings, as read from a file.

use std::time::Duration;

use serde::Deserialize;

use super::duration;
use crate::bulkhead::{Builder, Bulkhead};
use crate::timeout::TimeoutLayer;
use crate::{ConfigError, Name};

/// The settings of a [`Bulkhead`] (see [`bulkhead::Builder`](crate::bulkhead::Builder)).
/// `max_concurrent` has no default: leaving it out is a [`ConfigError`] naming it.
///
/// ```
/// use tower_breakwater::config::BulkheadConfig;
///
/// let config: BulkheadConfig = toml::from_str(r#"
///     max_concurrent = 16
///     max_waiting = 64
///     max_wait = "250ms"
/// "#).unwrap();
/// assert_eq!(config.build("db").unwrap().max_concurrent(), 16);
///
/// let missing: BulkheadConfig = toml::from_str("max_waiting = 4").unwrap();
/// assert_eq!(missing.build("db").unwrap_err().field(), "max_concurrent");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct BulkheadConfig {
    /// [`Builder::max_concurrent`] (required).
    pub max_concurrent: Option<usize>,
    /// [`Builder::max_waiting`].
    pub max_waiting: Option<usize>,
    /// [`Builder::max_wait`], e.g. `"100ms"`.
    #[serde(default, deserialize_with = "duration::optional")]
    pub max_wait: Option<Duration>,
}

impl BulkheadConfig {
    /// The builder these settings describe, for a bulkhead named `name`.
    ///
    /// ```
    /// use tower_breakwater::config::BulkheadConfig;
    /// let config: BulkheadConfig = serde_json::from_str(r#"{"max_concurrent": 4}"#).unwrap();
    /// let bulkhead = config.into_builder("db").max_waiting(2).build().unwrap();
    /// assert_eq!(bulkhead.max_waiting(), 2);
    /// ```
    pub fn into_builder(self, name: impl Into<Name>) -> Builder {
        let mut b = Bulkhead::builder(name);
        if let Some(n) = self.max_concurrent {
            b = b.max_concurrent(n);
        }
        if let Some(n) = self.max_waiting {
            b = b.max_waiting(n);
        }
        if let Some(wait) = self.max_wait {
            b = b.max_wait(wait);
        }
        b
    }

    /// Check the settings (through the builder) and make the bulkhead.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the field, as the builder's `build` reports it.
    ///
    /// ```
    /// use tower_breakwater::config::BulkheadConfig;
    /// let config: BulkheadConfig = toml::from_str("max_concurrent = 0").unwrap();
    /// assert_eq!(config.build("db").unwrap_err().field(), "max_concurrent");
    /// ```
    pub fn build(self, name: impl Into<Name>) -> Result<Bulkhead, ConfigError> {
        self.into_builder(name).build()
    }
}

/// The setting of a [`TimeoutLayer`]: `limit = "2s"`.
///
/// ```
/// use std::time::Duration;
/// use tower_breakwater::config::TimeoutConfig;
///
/// let config: TimeoutConfig = toml::from_str(r#"limit = "2s""#).unwrap();
/// assert_eq!(config.build("db").unwrap().limit(), Duration::from_secs(2));
/// let zero: TimeoutConfig = toml::from_str(r#"limit = "0s""#).unwrap();
/// assert_eq!(zero.build("db").unwrap_err().field(), "limit");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct TimeoutConfig {
    /// The limit per attempt.
    #[serde(deserialize_with = "duration::required")]
    pub limit: Duration,
}

impl TimeoutConfig {
    /// Check the limit (as [`TimeoutLayer::new`] does) and make the layer.
    ///
    /// # Errors
    /// A [`ConfigError`] when the limit is 0 or longer than ten years.
    ///
    /// ```
    /// use tower_breakwater::config::TimeoutConfig;
    /// let config: TimeoutConfig = serde_json::from_str(r#"{"limit": "250ms"}"#).unwrap();
    /// assert!(config.build("db").is_ok());
    /// ```
    pub fn build(self, name: impl Into<Name>) -> Result<TimeoutLayer, ConfigError> {
        TimeoutLayer::new(name, self.limit)
    }
}
