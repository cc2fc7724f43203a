//! The builder, and the fault rates it (and every run-time change) validates.

use std::time::Duration;

use super::Chaos;
use crate::config_error::LONGEST;
use crate::{ConfigError, Name};

/// Builds a [`Chaos`] handle; every value is checked once, in [`build`](Builder::build).
///
/// Each call gets at most one fault, drawn with the given rates (each in [0, 1], adding up
/// to at most 1); the rest pass untouched. Defaults: no fault at all, switched on, a random
/// seed (read it back with [`Chaos::seed`] to replay a run).
///
/// ```
/// use std::time::Duration;
/// use tower_breakwater::chaos::Chaos;
///
/// let chaos = Chaos::builder("payments")
///     .error_rate(0.05)
///     .latency(0.10, Duration::from_millis(300))
///     .hang_rate(0.01)
///     .abort_rate(0.01)
///     .seed(42)
///     .build()
///     .expect("valid config");
/// assert_eq!(chaos.seed(), 42);
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct Builder {
    name: Name,
    rates: Rates,
    seed: Option<u64>,
    enabled: bool,
}

/// The fault rates of one chaos layer. Kept exactly (for reading back) under the handle's
/// setter lock; calls read the thresholds derived from it.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct Rates {
    pub(crate) error: f64,
    pub(crate) latency: f64,
    pub(crate) delay: Duration,
    pub(crate) hang: f64,
    pub(crate) abort: f64,
}

impl Rates {
    /// Every rate in [0, 1], their sum at most 1 (one fault per call at most), and a delay
    /// that is usable when latency is injected. The field named is the one at fault: for a
    /// sum above 1, the last rate (in builder order) that pushed it over.
    pub(crate) fn validate(&self, name: &str) -> Result<(), ConfigError> {
        ConfigError::check_name(name)?;
        let mut sum = 0.0;
        for (field, rate) in [
            ("error_rate", self.error),
            ("latency", self.latency),
            ("hang_rate", self.hang),
            ("abort_rate", self.abort),
        ] {
            // `contains` is false for NaN too.
            if !(0.0..=1.0).contains(&rate) {
                return Err(ConfigError::new(name, field, rate, "a rate in [0, 1]"));
            }
            sum += rate;
            // A little slack: 0.1 + 0.2 + 0.7 is 1.0000000000000002 in f64.
            if sum > 1.0 + 1e-9 {
                return Err(ConfigError::new(
                    name,
                    field,
                    rate,
                    "a rate that keeps the sum of all fault rates at most 1",
                ));
            }
        }
        if self.latency > 0.0 && self.delay.is_zero() {
            return Err(ConfigError::new(
                name,
                "latency",
                self.delay,
                "a delay above zero",
            ));
        }
        if self.delay > LONGEST {
            return Err(ConfigError::new(
                name,
                "latency",
                self.delay,
                "a delay of at most ten years",
            ));
        }
        Ok(())
    }
}

impl Builder {
    pub(crate) fn new(name: Name) -> Self {
        Builder {
            name,
            rates: Rates::default(),
            seed: None,
            enabled: true,
        }
    }

    /// Fail this share of calls at once with a [`ChaosError`](super::ChaosError), without
    /// calling the inner service (default 0).
    ///
    /// ```
    /// # use tower_breakwater::chaos::Chaos;
    /// let chaos = Chaos::builder("db").error_rate(0.2).build().unwrap();
    /// assert_eq!(chaos.error_rate(), 0.2);
    /// ```
    pub fn error_rate(mut self, rate: f64) -> Self {
        self.rates.error = rate;
        self
    }

    /// Delay this share of calls by `delay` before the inner service's future is first
    /// polled (default: none). The delay must be above zero and at most ten years.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tower_breakwater::chaos::Chaos;
    /// let chaos = Chaos::builder("db").latency(0.5, Duration::from_millis(250)).build().unwrap();
    /// assert_eq!(chaos.latency(), (0.5, Duration::from_millis(250)));
    /// ```
    pub fn latency(mut self, rate: f64, delay: Duration) -> Self {
        self.rates.latency = rate;
        self.rates.delay = delay;
        self
    }

    /// Make this share of calls never end, without calling the inner service (default 0).
    /// Only something above — a timeout, or the caller dropping the call — ends them.
    ///
    /// ```
    /// # use tower_breakwater::chaos::Chaos;
    /// let chaos = Chaos::builder("db").hang_rate(0.01).build().unwrap();
    /// assert_eq!(chaos.hang_rate(), 0.01);
    /// ```
    pub fn hang_rate(mut self, rate: f64) -> Self {
        self.rates.hang = rate;
        self
    }

    /// Abort this share of calls: call the inner service, poll its future once, then drop
    /// it and fail with a [`ChaosError`](super::ChaosError) (default 0).
    ///
    /// ```
    /// # use tower_breakwater::chaos::Chaos;
    /// let chaos = Chaos::builder("db").abort_rate(0.05).build().unwrap();
    /// assert_eq!(chaos.abort_rate(), 0.05);
    /// ```
    pub fn abort_rate(mut self, rate: f64) -> Self {
        self.rates.abort = rate;
        self
    }

    /// Draw the faults from `seed`: the `n`-th call through the handle gets the same fault
    /// in every run with the same seed and rates (default: a random seed).
    ///
    /// ```
    /// # use tower_breakwater::chaos::Chaos;
    /// assert_eq!(Chaos::builder("db").seed(7).build().unwrap().seed(), 7);
    /// ```
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Start switched on (`true`, the default) or off; switch later with
    /// [`Chaos::enable`] and [`Chaos::disable`].
    ///
    /// ```
    /// # use tower_breakwater::chaos::Chaos;
    /// let chaos = Chaos::builder("db").error_rate(1.0).enabled(false).build().unwrap();
    /// assert!(!chaos.is_enabled());
    /// ```
    pub fn enabled(mut self, enabled: bool) -> Self {
        self.enabled = enabled;
        self
    }

    /// Check every value and make the handle. Bad input is a [`ConfigError`] naming the
    /// field, never a panic.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the field: a rate outside `[0, 1]`, rates that add up to more
    /// than 1, a latency rate with a zero delay, a delay longer than ten years, or an empty
    /// name.
    ///
    /// ```
    /// # use tower_breakwater::chaos::Chaos;
    /// let err = Chaos::builder("db").error_rate(0.6).abort_rate(0.6).build().unwrap_err();
    /// assert_eq!(err.field(), "abort_rate");
    /// let err = Chaos::builder("db").hang_rate(f64::NAN).build().unwrap_err();
    /// assert_eq!(err.field(), "hang_rate");
    /// ```
    pub fn build(self) -> Result<Chaos, ConfigError> {
        self.rates.validate(self.name.as_str())?;
        let seed = self.seed.unwrap_or_else(|| fastrand::u64(..));
        Ok(Chaos::from_parts(self.name, self.rates, seed, self.enabled))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(builder: Builder) -> &'static str {
        builder.build().unwrap_err().field()
    }

    #[test]
    fn every_bad_value_names_its_field() {
        let b = || Builder::new("t".into());
        let ms = Duration::from_millis(1);
        assert_eq!(field(Builder::new("".into())), "name");
        assert_eq!(field(b().error_rate(-0.1)), "error_rate");
        assert_eq!(field(b().error_rate(1.5)), "error_rate");
        assert_eq!(field(b().latency(f64::NAN, ms)), "latency");
        assert_eq!(field(b().latency(0.5, Duration::ZERO)), "latency");
        assert_eq!(field(b().latency(0.5, Duration::MAX)), "latency");
        assert_eq!(field(b().hang_rate(f64::INFINITY)), "hang_rate");
        assert_eq!(field(b().abort_rate(2.0)), "abort_rate");
        assert_eq!(field(b().error_rate(0.5).hang_rate(0.6)), "hang_rate");
    }

    #[test]
    fn the_edges_are_accepted() {
        let b = || Builder::new("t".into());
        assert!(b().error_rate(1.0).build().is_ok());
        assert!(b().latency(0.0, Duration::ZERO).build().is_ok());
        assert!(b().latency(1.0, LONGEST).build().is_ok());
        let sum_one = b()
            .error_rate(0.1)
            .latency(0.2, Duration::from_secs(1))
            .hang_rate(0.3)
            .abort_rate(0.4);
        assert!(sum_one.build().is_ok());
    }
}
