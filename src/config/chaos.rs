//! A chaos layer's settings, as read from a file (features `serde` and `chaos`).

use std::time::Duration;

use serde::Deserialize;

use super::duration;
use crate::chaos::{Builder, Chaos};
use crate::{ConfigError, Name};

/// The settings of a [`Chaos`] fault injector (see [`chaos::Builder`](crate::chaos::Builder)).
///
/// ```
/// use tower_breakwater::config::ChaosConfig;
///
/// let config: ChaosConfig = toml::from_str(r#"
///     error_rate = 0.05
///     latency = { rate = 0.1, delay = "300ms" }
///     seed = 42
///     enabled = false
/// "#).unwrap();
/// let chaos = config.build("payments").unwrap();
/// assert_eq!((chaos.seed(), chaos.is_enabled()), (42, false));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ChaosConfig {
    /// [`Builder::error_rate`].
    pub error_rate: Option<f64>,
    /// [`Builder::latency`].
    pub latency: Option<LatencyConfig>,
    /// [`Builder::hang_rate`].
    pub hang_rate: Option<f64>,
    /// [`Builder::abort_rate`].
    pub abort_rate: Option<f64>,
    /// [`Builder::seed`].
    pub seed: Option<u64>,
    /// [`Builder::enabled`].
    pub enabled: Option<bool>,
}

/// `latency = { rate = 0.1, delay = "300ms" }`: see [`Builder::latency`].
///
/// ```
/// use tower_breakwater::config::ChaosConfig;
/// let config: ChaosConfig =
///     toml::from_str(r#"latency = { rate = 0.5, delay = "1s" }"#).unwrap();
/// assert_eq!(config.latency.unwrap().rate, 0.5);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct LatencyConfig {
    /// The share of calls delayed.
    pub rate: f64,
    /// By how long.
    #[serde(deserialize_with = "duration::required")]
    pub delay: Duration,
}

impl ChaosConfig {
    /// The builder these settings describe, for a handle named `name`.
    ///
    /// ```
    /// use tower_breakwater::config::ChaosConfig;
    /// let config: ChaosConfig = toml::from_str("hang_rate = 0.01").unwrap();
    /// let chaos = config.into_builder("db").seed(1).build().unwrap();
    /// assert_eq!(chaos.hang_rate(), 0.01);
    /// ```
    pub fn into_builder(self, name: impl Into<Name>) -> Builder {
        let mut b = Chaos::builder(name);
        if let Some(rate) = self.error_rate {
            b = b.error_rate(rate);
        }
        if let Some(latency) = self.latency {
            b = b.latency(latency.rate, latency.delay);
        }
        if let Some(rate) = self.hang_rate {
            b = b.hang_rate(rate);
        }
        if let Some(rate) = self.abort_rate {
            b = b.abort_rate(rate);
        }
        if let Some(seed) = self.seed {
            b = b.seed(seed);
        }
        if let Some(enabled) = self.enabled {
            b = b.enabled(enabled);
        }
        b
    }

    /// Check the settings (through the builder) and make the handle.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the field, as the builder's `build` reports it.
    ///
    /// ```
    /// use tower_breakwater::config::ChaosConfig;
    /// let config: ChaosConfig = toml::from_str("error_rate = 0.7\nabort_rate = 0.7").unwrap();
    /// assert_eq!(config.build("db").unwrap_err().field(), "abort_rate");
    /// ```
    pub fn build(self, name: impl Into<Name>) -> Result<Chaos, ConfigError> {
        self.into_builder(name).build()
    }
}
