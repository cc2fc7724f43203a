//! A retry layer's settings, as read from a file.

use std::time::Duration;

use serde::Deserialize;

use super::duration;
use crate::retry::{Backoff, Budget, Builder, Jitter, RetryLayer};
use crate::{ConfigError, Name};

/// The settings of a [`RetryLayer`] (see [`retry::Builder`](crate::retry::Builder) for
/// what each means and its default). The predicate and the request copier are code, not
/// settings: add them to [`into_builder`](Self::into_builder)'s result.
///
/// ```
/// use tower_breakwater::config::RetryConfig;
///
/// let config: RetryConfig = toml::from_str(r#"
///     max_attempts = 4
///     backoff = { exponential = { base = "50ms", factor = 2.0, cap = "2s" } }
///     jitter = "equal"
///     budget = { ratio = 0.1, min_per_second = 5, window = "10s" }
/// "#).unwrap();
/// assert_eq!(config.jitter, Some(tower_breakwater::retry::Jitter::Equal));
/// let layer = config.build("payments").unwrap();
/// assert_eq!(layer.max_attempts(), 4);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RetryConfig {
    /// [`Builder::max_attempts`], the first attempt included.
    pub max_attempts: Option<u32>,
    /// [`Builder::backoff`].
    pub backoff: Option<BackoffConfig>,
    /// [`Builder::jitter`].
    pub jitter: Option<Jitter>,
    /// [`Builder::budget`].
    pub budget: Option<BudgetConfig>,
    /// [`Builder::max_retry_after`], e.g. `"60s"`.
    #[serde(default, deserialize_with = "duration::optional")]
    pub max_retry_after: Option<Duration>,
}

/// One of the three [`Backoff`] curves: `{ constant = "100ms" }`,
/// `{ exponential = { base = "100ms", factor = 2.0, cap = "10s" } }` or
/// `{ decorrelated = { base = "20ms", cap = "1s" } }`.
///
/// ```
/// use tower_breakwater::config::{BackoffConfig, RetryConfig};
/// let config: RetryConfig = serde_json::from_str(r#"{"backoff": {"constant": "100ms"}}"#).unwrap();
/// assert!(matches!(config.backoff, Some(BackoffConfig::Constant(_))));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum BackoffConfig {
    /// [`Backoff::constant`].
    Constant(#[serde(deserialize_with = "duration::required")] Duration),
    /// [`Backoff::exponential`].
    Exponential {
        /// The first wait.
        #[serde(deserialize_with = "duration::required")]
        base: Duration,
        /// Each wait is the last one times this.
        factor: f64,
        /// No wait is longer than this.
        #[serde(deserialize_with = "duration::required")]
        cap: Duration,
    },
    /// [`Backoff::decorrelated`].
    Decorrelated {
        /// The shortest wait.
        #[serde(deserialize_with = "duration::required")]
        base: Duration,
        /// No wait is longer than this.
        #[serde(deserialize_with = "duration::required")]
        cap: Duration,
    },
}

/// A retry [`Budget`]: `{ ratio = 0.2, min_per_second = 10, window = "10s" }`, each
/// optional (see [`BudgetBuilder`](crate::retry::BudgetBuilder) for the defaults).
///
/// ```
/// use tower_breakwater::config::RetryConfig;
/// let config: RetryConfig = toml::from_str("budget = { ratio = 0.05 }").unwrap();
/// assert_eq!(config.budget.unwrap().ratio, Some(0.05));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct BudgetConfig {
    /// [`BudgetBuilder::ratio`](crate::retry::BudgetBuilder::ratio).
    pub ratio: Option<f64>,
    /// [`BudgetBuilder::min_per_second`](crate::retry::BudgetBuilder::min_per_second).
    pub min_per_second: Option<u32>,
    /// [`BudgetBuilder::window`](crate::retry::BudgetBuilder::window).
    #[serde(default, deserialize_with = "duration::optional")]
    pub window: Option<Duration>,
}

impl BudgetConfig {
    /// Check the settings (through [`Budget::builder`]) and make the budget.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the field, as [`BudgetBuilder::build`](crate::retry::BudgetBuilder::build) reports it.
    ///
    /// ```
    /// use tower_breakwater::config::BudgetConfig;
    /// let config: BudgetConfig = toml::from_str("ratio = 2.0").unwrap();
    /// assert_eq!(config.build().unwrap_err().field(), "ratio");
    /// ```
    pub fn build(self) -> Result<Budget, ConfigError> {
        let mut b = Budget::builder();
        if let Some(ratio) = self.ratio {
            b = b.ratio(ratio);
        }
        if let Some(retries) = self.min_per_second {
            b = b.min_per_second(retries);
        }
        if let Some(window) = self.window {
            b = b.window(window);
        }
        b.build()
    }
}

impl RetryConfig {
    /// The builder these settings describe, for a layer named `name`; add a predicate or a
    /// copier before `build`. A bad budget is reported here (it is built first).
    ///
    /// # Errors
    /// A [`ConfigError`] when a setting cannot be expressed on the builder (e.g. a budget
    /// whose own settings are bad).
    ///
    /// ```
    /// use tower_breakwater::config::RetryConfig;
    /// use tower_breakwater::Error;
    /// let config: RetryConfig = toml::from_str("max_attempts = 2").unwrap();
    /// let layer = config
    ///     .into_builder("api")
    ///     .unwrap()
    ///     .retry_if(|r: &Result<u16, Error<std::io::Error, ()>>| matches!(r, Ok(503)))
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(layer.max_attempts(), 2);
    /// ```
    pub fn into_builder(self, name: impl Into<Name>) -> Result<Builder, ConfigError> {
        let mut b = RetryLayer::builder(name);
        if let Some(attempts) = self.max_attempts {
            b = b.max_attempts(attempts);
        }
        if let Some(backoff) = self.backoff {
            b = b.backoff(match backoff {
                BackoffConfig::Constant(delay) => Backoff::constant(delay),
                BackoffConfig::Exponential { base, factor, cap } => {
                    Backoff::exponential(base, factor, cap)
                }
                BackoffConfig::Decorrelated { base, cap } => Backoff::decorrelated(base, cap),
            });
        }
        if let Some(jitter) = self.jitter {
            b = b.jitter(jitter);
        }
        if let Some(budget) = self.budget {
            b = b.budget(budget.build()?);
        }
        if let Some(max) = self.max_retry_after {
            b = b.max_retry_after(max);
        }
        Ok(b)
    }

    /// Check the settings (through the builder: the same [`ConfigError`]) and build the
    /// layer, with the default predicate and copier.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the field, as the builder's `build` reports it.
    ///
    /// ```
    /// use tower_breakwater::config::RetryConfig;
    /// let config: RetryConfig = toml::from_str("max_attempts = 0").unwrap();
    /// assert_eq!(config.build("api").unwrap_err().field(), "max_attempts");
    /// ```
    pub fn build(self, name: impl Into<Name>) -> Result<RetryLayer, ConfigError> {
        self.into_builder(name)?.build()
    }
}
