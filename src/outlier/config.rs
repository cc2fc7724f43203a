//! The builder, Envoy's defaults, validation, and the immutable config it produces.

use std::time::Duration;

use super::load::LoadConfig;
use super::OutlierDetector;
use crate::{ConfigError, Name};

/// Builds an [`OutlierDetector`] with Envoy's defaults; every value is checked once, in
/// [`build`](Builder::build).
///
/// | setting | default (Envoy's) |
/// |---|---|
/// | [`consecutive_5xx`](Self::consecutive_5xx) | 5, enforced 100 % |
/// | [`consecutive_gateway_failure`](Self::consecutive_gateway_failure) | 5, enforced 0 % (off) |
/// | [`success_rate`](Self::success_rate) | factor 1.9, ≥ 5 hosts with ≥ 100 requests, enforced 100 % |
/// | [`failure_percentage`](Self::failure_percentage) | 85 %, ≥ 5 hosts with ≥ 50 requests, enforced 0 % (off) |
/// | [`interval`](Self::interval) | 10 s |
/// | [`base_ejection_time`](Self::base_ejection_time) | 30 s |
/// | [`max_ejection_time`](Self::max_ejection_time) | 300 s |
/// | [`max_ejection_percent`](Self::max_ejection_percent) | 10 (one host may always be ejected) |
/// | [`min_health_percent`](Self::min_health_percent) | 50 (Envoy's panic threshold) |
///
/// ```
/// use std::time::Duration;
/// use tower_breakwater::outlier::OutlierDetector;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let detector = OutlierDetector::builder("payments")
///     .interval(Duration::from_secs(30))
///     .max_ejection_percent(50)
///     .build()
///     .expect("valid config");
/// assert_eq!(detector.name(), "payments");
/// # }
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct Builder {
    config: Config,
}

/// One rule's threshold and enforcing percentage.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Consecutive {
    /// At least 1.
    pub(crate) threshold: u32,
    /// 0..=100: the chance that a detection ejects.
    pub(crate) enforcing: u8,
}

/// A statistical rule over one interval's counts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Statistical {
    /// Success rate: the stdev factor; failure percentage: the threshold (0..=100).
    pub(crate) threshold: f64,
    pub(crate) minimum_hosts: u32,
    pub(crate) request_volume: u32,
    pub(crate) enforcing: u8,
}

/// The validated, immutable configuration of one detector.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) name: Name,
    pub(crate) consecutive_5xx: Consecutive,
    pub(crate) consecutive_gateway: Consecutive,
    pub(crate) success_rate: Statistical,
    pub(crate) failure_percentage: Statistical,
    /// In `1ms..=LONGEST`.
    pub(crate) interval: Duration,
    /// In `1ms..=LONGEST`.
    pub(crate) base_ejection_time: Duration,
    /// At least `base_ejection_time` once built (Envoy uses the larger of the two).
    pub(crate) max_ejection_time: Duration,
    /// 0..=100.
    pub(crate) max_ejection_percent: u8,
    /// 0..=100; 0 turns the panic threshold off.
    pub(crate) min_health_percent: u8,
    pub(crate) load: LoadConfig,
}

impl Builder {
    pub(crate) fn new(name: Name) -> Self {
        Builder {
            config: Config {
                name,
                consecutive_5xx: Consecutive {
                    threshold: 5,
                    enforcing: 100,
                },
                consecutive_gateway: Consecutive {
                    threshold: 5,
                    enforcing: 0,
                },
                success_rate: Statistical {
                    threshold: 1.9,
                    minimum_hosts: 5,
                    request_volume: 100,
                    enforcing: 100,
                },
                failure_percentage: Statistical {
                    threshold: 85.0,
                    minimum_hosts: 5,
                    request_volume: 50,
                    enforcing: 0,
                },
                interval: Duration::from_secs(10),
                base_ejection_time: Duration::from_secs(30),
                max_ejection_time: Duration::from_secs(300),
                max_ejection_percent: 10,
                min_health_percent: 50,
                load: LoadConfig::default(),
            },
        }
    }

    /// Eject an endpoint after `n` server errors in a row (5xx, and every failure the
    /// classifier calls a gateway failure), with a chance of `enforcing` percent (default
    /// 5 and 100; `enforcing` 0 detects without ejecting).
    ///
    /// ```
    /// # use tower_breakwater::outlier::OutlierDetector;
    /// let builder = OutlierDetector::builder("db").consecutive_5xx(3, 100);
    /// ```
    pub fn consecutive_5xx(mut self, n: u32, enforcing: u8) -> Self {
        self.config.consecutive_5xx = Consecutive {
            threshold: n,
            enforcing,
        };
        self
    }

    /// Eject an endpoint after `n` gateway failures in a row (502, 503, 504, connect errors
    /// and timeouts), with a chance of `enforcing` percent (default 5 and 0: off).
    ///
    /// ```
    /// # use tower_breakwater::outlier::OutlierDetector;
    /// let builder = OutlierDetector::builder("db").consecutive_gateway_failure(5, 100);
    /// ```
    pub fn consecutive_gateway_failure(mut self, n: u32, enforcing: u8) -> Self {
        self.config.consecutive_gateway = Consecutive {
            threshold: n,
            enforcing,
        };
        self
    }

    /// Success-rate ejection, at each sweep: among endpoints with at least `request_volume`
    /// requests in the interval, when there are at least `minimum_hosts` of them, eject
    /// those whose success rate is below mean − `stdev_factor` × σ (default 1.9, 5, 100,
    /// enforced 100 %).
    ///
    /// ```
    /// # use tower_breakwater::outlier::OutlierDetector;
    /// let builder = OutlierDetector::builder("db").success_rate(1.9, 5, 100, 0); // detect only
    /// ```
    pub fn success_rate(
        mut self,
        stdev_factor: f64,
        minimum_hosts: u32,
        request_volume: u32,
        enforcing: u8,
    ) -> Self {
        self.config.success_rate = Statistical {
            threshold: stdev_factor,
            minimum_hosts,
            request_volume,
            enforcing,
        };
        self
    }

    /// Failure-percentage ejection, at each sweep: among endpoints with at least
    /// `request_volume` requests in the interval, when there are at least `minimum_hosts`
    /// of them, eject those whose failures are at least `threshold` percent (default 85, 5,
    /// 50, enforced 0 %: off).
    ///
    /// ```
    /// # use tower_breakwater::outlier::OutlierDetector;
    /// let builder = OutlierDetector::builder("db").failure_percentage(85, 5, 50, 100);
    /// ```
    pub fn failure_percentage(
        mut self,
        threshold: u8,
        minimum_hosts: u32,
        request_volume: u32,
        enforcing: u8,
    ) -> Self {
        self.config.failure_percentage = Statistical {
            threshold: f64::from(threshold),
            minimum_hosts,
            request_volume,
            enforcing,
        };
        self
    }

    /// Time between two sweeps (default 10 s): a sweep runs the statistical rules, ends the
    /// ejections whose time is over and lowers the multiplier of healthy endpoints.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tower_breakwater::outlier::OutlierDetector;
    /// let builder = OutlierDetector::builder("db").interval(Duration::from_secs(30));
    /// ```
    pub fn interval(mut self, interval: Duration) -> Self {
        self.config.interval = interval;
        self
    }

    /// An ejection lasts this × the times the endpoint was ejected in a row (default 30 s).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tower_breakwater::outlier::OutlierDetector;
    /// let builder = OutlierDetector::builder("db").base_ejection_time(Duration::from_secs(30));
    /// ```
    pub fn base_ejection_time(mut self, time: Duration) -> Self {
        self.config.base_ejection_time = time;
        self
    }

    /// The longest ejection (default 300 s; a value below the base ejection time means the
    /// base ejection time, as in Envoy).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tower_breakwater::outlier::OutlierDetector;
    /// let builder = OutlierDetector::builder("db").max_ejection_time(Duration::from_secs(120));
    /// ```
    pub fn max_ejection_time(mut self, time: Duration) -> Self {
        self.config.max_ejection_time = time;
        self
    }

    /// At most this percentage of the pool's endpoints ejected at once (default 10), except
    /// that one endpoint may always be ejected.
    ///
    /// ```
    /// # use tower_breakwater::outlier::OutlierDetector;
    /// let builder = OutlierDetector::builder("db").max_ejection_percent(50);
    /// ```
    pub fn max_ejection_percent(mut self, percent: u8) -> Self {
        self.config.max_ejection_percent = percent;
        self
    }

    /// The panic threshold (default 50, Envoy's): while fewer than this percentage of the
    /// endpoints are healthy, ejection is ignored and every endpoint takes traffic. 0 turns
    /// it off.
    ///
    /// ```
    /// # use tower_breakwater::outlier::OutlierDetector;
    /// let builder = OutlierDetector::builder("db").min_health_percent(0);
    /// ```
    pub fn min_health_percent(mut self, percent: u8) -> Self {
        self.config.min_health_percent = percent;
        self
    }

    /// Load biasing: a failed call counts in its endpoint's Peak-EWMA load as a round trip
    /// of `penalty` (default 5 s, linkerd's), raised to the response's `Retry-After` (or
    /// `grpc-retry-pushback-ms`) up to `max_penalty` (default 300 s).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tower_breakwater::outlier::OutlierDetector;
    /// let builder = OutlierDetector::builder("db")
    ///     .failure_penalty(Duration::from_secs(1), Duration::from_secs(60));
    /// ```
    pub fn failure_penalty(mut self, penalty: Duration, max_penalty: Duration) -> Self {
        self.config.load.failure_penalty = penalty;
        self.config.load.max_penalty = max_penalty;
        self
    }

    /// Load biasing on or off (default on). Off, each endpoint's load is its calls in
    /// flight (as tower's `PendingRequests`), and calls are not timed: no clock read on
    /// the call path. Failure penalties then play no part; ejection works the same.
    ///
    /// ```
    /// # use tower_breakwater::outlier::OutlierDetector;
    /// let builder = OutlierDetector::builder("db").peak_ewma(false);
    /// ```
    pub fn peak_ewma(mut self, on: bool) -> Self {
        self.config.load.peak_ewma = on;
        self
    }

    /// Load biasing: the round trip assumed before an endpoint's first response (default
    /// 30 ms), and the time over which a sample's weight falls by e (default 10 s).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tower_breakwater::outlier::OutlierDetector;
    /// let builder = OutlierDetector::builder("db")
    ///     .load_estimate(Duration::from_millis(5), Duration::from_secs(5));
    /// ```
    pub fn load_estimate(mut self, default_rtt: Duration, decay: Duration) -> Self {
        self.config.load.default_rtt = default_rtt;
        self.config.load.decay = decay;
        self
    }

    /// Check every value and start the sweep task on the current tokio runtime.
    ///
    /// Fails with a [`ConfigError`] naming the field: a threshold or request volume of 0, a
    /// percentage above 100, a stdev factor that is negative or not finite, an interval or
    /// ejection time of less than 1 ms or more than ten years — or `runtime` when called
    /// outside a tokio runtime (the sweep task needs one).
    ///
    /// ```
    /// # use tower_breakwater::outlier::OutlierDetector;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let err = OutlierDetector::builder("db").max_ejection_percent(101).build().unwrap_err();
    /// assert_eq!(err.field(), "max_ejection_percent");
    /// # }
    /// ```
    pub fn build(self) -> Result<OutlierDetector, ConfigError> {
        let config = self.validate()?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            ConfigError::new(
                config.name.as_str(),
                "runtime",
                "none",
                "build called inside a tokio runtime (the sweep task runs on it)",
            )
        })?;
        Ok(OutlierDetector::start(config, &runtime))
    }
}

#[cfg(test)]
mod tests;
mod validate;
