//! A circuit breaker's settings, as read from a file.

use std::time::Duration;

use serde::Deserialize;

use super::duration;
use crate::circuit_breaker::{Builder, CircuitBreaker};
use crate::{ConfigError, Name};

/// The settings of a [`CircuitBreaker`], one field per builder method (see
/// [`circuit_breaker::Builder`](crate::circuit_breaker::Builder) for what each means and its
/// default). Every field is optional; unknown fields are an error, so a typo cannot
/// silently leave a default in place.
///
/// ```
/// use tower_breakwater::config::BreakerConfig;
/// use tower_breakwater::circuit_breaker::CircuitBreaker;
///
/// let config: BreakerConfig = toml::from_str(r#"
///     failure_rate = 0.5
///     count_window = 100
///     minimum_calls = 20
///     open_for = "30s"
///     open_for_growth = { factor = 2.0, max = "5m" }
///     half_open_permits = 3
/// "#).unwrap();
/// let breaker: CircuitBreaker = config.build("payments").unwrap();
/// assert_eq!(breaker.name(), "payments");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct BreakerConfig {
    /// [`Builder::consecutive_failures`].
    pub consecutive_failures: Option<u32>,
    /// [`Builder::failure_rate`].
    pub failure_rate: Option<f64>,
    /// [`Builder::count_window`] (not together with `time_window`).
    pub count_window: Option<u32>,
    /// [`Builder::time_window`] (not together with `count_window`).
    pub time_window: Option<TimeWindow>,
    /// [`Builder::minimum_calls`].
    pub minimum_calls: Option<u32>,
    /// [`Builder::slow_calls`].
    pub slow_calls: Option<SlowCalls>,
    /// [`Builder::open_for`], e.g. `"30s"`.
    #[serde(default, deserialize_with = "duration::optional")]
    pub open_for: Option<Duration>,
    /// [`Builder::open_for_growth`].
    pub open_for_growth: Option<OpenForGrowth>,
    /// [`Builder::jitter`].
    pub jitter: Option<f64>,
    /// [`Builder::half_open_permits`].
    pub half_open_permits: Option<u32>,
    /// [`Builder::success_threshold`].
    pub success_threshold: Option<u32>,
    /// [`Builder::half_open_ramp`].
    pub half_open_ramp: Option<HalfOpenRamp>,
    /// [`Builder::abandoned_as_failures_above`].
    pub abandoned_as_failures_above: Option<f64>,
}

/// `half_open_ramp = { shares = [0.01, 0.05, 0.25, 0.5], stage_for = "10s" }`: see
/// [`Builder::half_open_ramp`].
///
/// ```
/// use tower_breakwater::config::BreakerConfig;
/// let config: BreakerConfig = toml::from_str(
///     r#"half_open_ramp = { shares = [0.01, 0.05, 0.25, 0.5], stage_for = "10s" }"#,
/// ).unwrap();
/// assert_eq!(config.half_open_ramp.unwrap().shares.len(), 4);
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct HalfOpenRamp {
    /// The share of calls each stage admits.
    pub shares: Vec<f64>,
    /// How long each stage lasts.
    #[serde(deserialize_with = "duration::required")]
    pub stage_for: Duration,
}

/// `time_window = { length = "60s", buckets = 6 }`: see [`Builder::time_window`].
///
/// ```
/// use tower_breakwater::config::BreakerConfig;
/// let config: BreakerConfig =
///     toml::from_str(r#"time_window = { length = "60s", buckets = 6 }"#).unwrap();
/// assert_eq!(config.time_window.unwrap().buckets, 6);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct TimeWindow {
    /// How much time the window covers.
    #[serde(deserialize_with = "duration::required")]
    pub length: Duration,
    /// In how many slices it is kept.
    pub buckets: u32,
}

/// `slow_calls = { slower_than = "2s", rate = 0.8 }`: see [`Builder::slow_calls`].
///
/// ```
/// use tower_breakwater::config::BreakerConfig;
/// let config: BreakerConfig =
///     toml::from_str(r#"slow_calls = { slower_than = "2s", rate = 0.8 }"#).unwrap();
/// assert_eq!(config.slow_calls.unwrap().rate, 0.8);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SlowCalls {
    /// Calls slower than this are slow.
    #[serde(deserialize_with = "duration::required")]
    pub slower_than: Duration,
    /// The share of slow calls that opens the breaker.
    pub rate: f64,
}

/// `open_for_growth = { factor = 2.0, max = "5m" }`: see [`Builder::open_for_growth`].
///
/// ```
/// use tower_breakwater::config::BreakerConfig;
/// let config: BreakerConfig =
///     toml::from_str(r#"open_for_growth = { factor = 2.0, max = "5m" }"#).unwrap();
/// assert_eq!(config.open_for_growth.unwrap().factor, 2.0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct OpenForGrowth {
    /// Each repeated trip multiplies the open period by this.
    pub factor: f64,
    /// Up to this.
    #[serde(deserialize_with = "duration::required")]
    pub max: Duration,
}

impl BreakerConfig {
    /// The builder these settings describe, for a breaker named `name`, so that code can
    /// add to them. Values are checked by the builder's `build`; only a choice a builder
    /// cannot express (both windows at once) is refused here.
    ///
    /// # Errors
    /// A [`ConfigError`] when the settings ask for both a count window and a time window.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_breakwater::config::BreakerConfig;
    /// let config: BreakerConfig = serde_json::from_str(r#"{"open_for": "5s"}"#).unwrap();
    /// let breaker = config.into_builder("db").unwrap().half_open_permits(1)
    ///     .success_threshold(1).build().unwrap();
    /// # let _ = breaker;
    /// ```
    pub fn into_builder(self, name: impl Into<Name>) -> Result<Builder, ConfigError> {
        let name = name.into();
        if let (Some(_), Some(window)) = (self.count_window, self.time_window) {
            return Err(ConfigError::new(
                name.as_str(),
                "time_window",
                window.length,
                "either count_window or time_window, not both",
            ));
        }
        let mut b = CircuitBreaker::builder(name);
        if let Some(n) = self.consecutive_failures {
            b = b.consecutive_failures(n);
        }
        if let Some(rate) = self.failure_rate {
            b = b.failure_rate(rate);
        }
        if let Some(calls) = self.count_window {
            b = b.count_window(calls);
        }
        if let Some(w) = self.time_window {
            b = b.time_window(w.length, w.buckets);
        }
        if let Some(calls) = self.minimum_calls {
            b = b.minimum_calls(calls);
        }
        if let Some(slow) = self.slow_calls {
            b = b.slow_calls(slow.slower_than, slow.rate);
        }
        if let Some(open_for) = self.open_for {
            b = b.open_for(open_for);
        }
        if let Some(growth) = self.open_for_growth {
            b = b.open_for_growth(growth.factor, growth.max);
        }
        if let Some(jitter) = self.jitter {
            b = b.jitter(jitter);
        }
        if let Some(permits) = self.half_open_permits {
            b = b.half_open_permits(permits);
        }
        if let Some(successes) = self.success_threshold {
            b = b.success_threshold(successes);
        }
        if let Some(ramp) = &self.half_open_ramp {
            b = b.half_open_ramp(&ramp.shares, ramp.stage_for);
        }
        if let Some(rate) = self.abandoned_as_failures_above {
            b = b.abandoned_as_failures_above(rate);
        }
        Ok(b)
    }

    /// Check the settings (through the builder: the same [`ConfigError`], naming the
    /// field) and build the breaker.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the field, as the builder's `build` reports it.
    ///
    /// ```
    /// use tower_breakwater::config::BreakerConfig;
    /// let config: BreakerConfig = toml::from_str("failure_rate = 1.5").unwrap();
    /// let err = config.build("payments").unwrap_err();
    /// assert_eq!(err.field(), "failure_rate");
    /// ```
    pub fn build(self, name: impl Into<Name>) -> Result<CircuitBreaker, ConfigError> {
        self.into_builder(name)?.build()
    }
}
