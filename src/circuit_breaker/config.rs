//! The builder, its validation, and the immutable config it produces.

use std::time::Duration;

use super::ramp::{Ramp, MAX_STAGES};
use super::state::MAX_PERMITS;
use super::CircuitBreaker;
use crate::{ConfigError, Name};

/// The largest count window accepted (outcomes kept as bits: 2 MiB of bits at most).
pub(crate) const MAX_COUNT_WINDOW: u32 = 1 << 24;
/// The most buckets a time window may have.
pub(crate) const MAX_BUCKETS: u32 = 1024;
/// Times are kept as nanoseconds in a u64 (584 years): durations stay far below that.
use crate::config_error::LONGEST as TEN_YEARS;

/// Builds a [`CircuitBreaker`]; every value is checked once, in [`build`](Builder::build).
///
/// With no rule chosen the breaker opens after 5 consecutive failures. Choosing any rate
/// setting (`failure_rate`, `count_window`, `time_window`, `minimum_calls`, `slow_calls`)
/// switches to the failure-rate rule instead: by default a rate of 0.5 over the last 100
/// calls, once at least 10 calls are in the window.
///
/// ```
/// use std::time::Duration;
/// use tower_breakwater::circuit_breaker::CircuitBreaker;
///
/// let breaker = CircuitBreaker::builder("payments")
///     .failure_rate(0.5)
///     .time_window(Duration::from_secs(60), 6)
///     .minimum_calls(20)
///     .slow_calls(Duration::from_secs(2), 0.8)
///     .open_for(Duration::from_secs(10))
///     .open_for_growth(2.0, Duration::from_secs(300))
///     .jitter(0.1)
///     .half_open_permits(3)
///     .success_threshold(2)
///     .build()
///     .expect("valid config");
/// assert_eq!(breaker.name(), "payments");
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct Builder {
    name: Name,
    consecutive_failures: Option<u32>,
    failure_rate: Option<f64>,
    window: Option<WindowSpec>,
    minimum_calls: Option<u32>,
    slow: Option<SlowRule>,
    open_for: Duration,
    growth: Option<Growth>,
    jitter: f64,
    half_open_permits: u32,
    success_threshold: u32,
    ramp: Option<Ramp>,
    abandoned_above: Option<f64>,
}

/// Which outcomes a rate rule looks at.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum WindowSpec {
    /// The last `n` calls.
    Count(u32),
    /// The last `length`, kept in `buckets` equal slices.
    Time { length: Duration, buckets: u32 },
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct SlowRule {
    pub(crate) slower_than: Duration,
    pub(crate) rate: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Growth {
    pub(crate) factor: f64,
    pub(crate) max: Duration,
}

/// The trip rule, fixed at build time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Rule {
    ConsecutiveFailures(u32),
    Rate(RateRule),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct RateRule {
    pub(crate) window: WindowSpec,
    pub(crate) minimum_calls: u32,
    pub(crate) failure_rate: f64,
    pub(crate) slow: Option<SlowRule>,
}

/// The validated, immutable configuration of one breaker.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) name: Name,
    pub(crate) rule: Rule,
    pub(crate) open_for: Duration,
    pub(crate) growth: Option<Growth>,
    pub(crate) jitter: f64,
    pub(crate) half_open_permits: u32,
    pub(crate) success_threshold: u32,
    /// Half-open admits a growing share of calls instead of `half_open_permits` trials.
    pub(crate) ramp: Option<Ramp>,
    /// Abandoned calls count as failures while they are at least this share of recent calls.
    pub(crate) abandoned_above: Option<f64>,
}

impl Config {
    /// The slow-call threshold, if a slow-call rule is on (only then is a call timed).
    #[inline]
    pub(crate) fn slower_than(&self) -> Option<Duration> {
        match self.rule {
            Rule::Rate(RateRule {
                slow: Some(slow), ..
            }) => Some(slow.slower_than),
            _ => None,
        }
    }

    /// How long to stay open after the `trips`-th trip in a row (1 for the first): grown by
    /// the growth factor up to its cap, then spread by ±`jitter`.
    pub(crate) fn open_for(&self, trips: u32) -> Duration {
        let mut secs = self.open_for.as_secs_f64();
        if let Some(growth) = self.growth {
            let exponent = trips.saturating_sub(1).min(64) as i32;
            secs = (secs * growth.factor.powi(exponent)).min(growth.max.as_secs_f64());
        }
        if self.jitter > 0.0 {
            secs *= 1.0 + self.jitter * (2.0 * fastrand::f64() - 1.0);
        }
        Duration::from_secs_f64(secs)
    }
}

impl Builder {
    pub(crate) fn new(name: Name) -> Self {
        Builder {
            name,
            consecutive_failures: None,
            failure_rate: None,
            window: None,
            minimum_calls: None,
            slow: None,
            open_for: Duration::from_secs(30),
            growth: None,
            jitter: 0.0,
            half_open_permits: 2,
            success_threshold: 2,
            ramp: None,
            abandoned_above: None,
        }
    }

    /// Open after `n` failures in a row (the default rule, with `n = 5`). A success resets
    /// the run. Cannot be combined with the rate settings.
    ///
    /// ```
    /// # use tower_breakwater::circuit_breaker::CircuitBreaker;
    /// let breaker = CircuitBreaker::builder("db").consecutive_failures(3).build().unwrap();
    /// # let _ = breaker;
    /// ```
    pub fn consecutive_failures(mut self, n: u32) -> Self {
        self.consecutive_failures = Some(n);
        self
    }

    /// Open when the share of failures in the window reaches `rate`, in (0, 1]
    /// (default 0.5 once any rate setting is used). The rate is checked when a failure (or,
    /// with [`slow_calls`](Self::slow_calls), a slow call) is recorded: a breaker opens on a
    /// bad outcome, never on a success.
    ///
    /// ```
    /// # use tower_breakwater::circuit_breaker::CircuitBreaker;
    /// let breaker = CircuitBreaker::builder("db").failure_rate(0.25).build().unwrap();
    /// # let _ = breaker;
    /// ```
    pub fn failure_rate(mut self, rate: f64) -> Self {
        self.failure_rate = Some(rate);
        self
    }

    /// Rate rules look at the last `calls` outcomes (the default window, 100 calls).
    ///
    /// ```
    /// # use tower_breakwater::circuit_breaker::CircuitBreaker;
    /// let breaker = CircuitBreaker::builder("db").count_window(50).build().unwrap();
    /// # let _ = breaker;
    /// ```
    pub fn count_window(mut self, calls: u32) -> Self {
        self.window = Some(WindowSpec::Count(calls));
        self
    }

    /// Rate rules look at the outcomes of the last `length`, kept in `buckets` slices: the
    /// window slides by `length / buckets` at a time.
    ///
    /// Which slice an outcome goes to: failures and slow calls read the clock. So do
    /// successes, until a thread has made 64 of them on a tokio runtime with slices of at
    /// least 100 ms; then a timer task of the breaker's own keeps the current slice, waking
    /// once per slice, and successes just load it (a clock read costs more than the rest
    /// of a call). That timer is never early, so a success may land in the slice before its
    /// own — as if it had finished up to X earlier, X being how late the timer task runs
    /// after a slice boundary: tokio's 1 ms timer resolution plus the wait for a worker
    /// (far more only on a starved runtime); a failure, slow call or
    /// [`snapshot`](super::CircuitBreaker::snapshot) after the boundary reads the clock and
    /// ends that delay at once. A success never lands in a later slice. The timer ends after a slice without any call, and with the
    /// breaker; then successes read the clock again. (On tokio's paused test clock, "late"
    /// lasts from an `advance` until the test yields; the timer is a pending timer that
    /// auto-advance may step to.)
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tower_breakwater::circuit_breaker::CircuitBreaker;
    /// let breaker = CircuitBreaker::builder("db")
    ///     .time_window(Duration::from_secs(30), 10)
    ///     .build()
    ///     .unwrap();
    /// # let _ = breaker;
    /// ```
    pub fn time_window(mut self, length: Duration, buckets: u32) -> Self {
        self.window = Some(WindowSpec::Time { length, buckets });
        self
    }

    /// Rate rules do not trip until the window holds at least `calls` outcomes (default 10,
    /// or the count window's size if smaller), so 1 failure out of 1 call never trips.
    ///
    /// ```
    /// # use tower_breakwater::circuit_breaker::CircuitBreaker;
    /// let breaker = CircuitBreaker::builder("db").minimum_calls(50).build().unwrap();
    /// # let _ = breaker;
    /// ```
    pub fn minimum_calls(mut self, calls: u32) -> Self {
        self.minimum_calls = Some(calls);
        self
    }

    /// Also open when the share of calls slower than `slower_than` reaches `rate`, in (0, 1].
    /// Slow calls are counted in the same window as failures; a slow half-open trial counts
    /// as a failed one.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tower_breakwater::circuit_breaker::CircuitBreaker;
    /// let breaker = CircuitBreaker::builder("db")
    ///     .slow_calls(Duration::from_millis(500), 0.8)
    ///     .build()
    ///     .unwrap();
    /// # let _ = breaker;
    /// ```
    pub fn slow_calls(mut self, slower_than: Duration, rate: f64) -> Self {
        self.slow = Some(SlowRule { slower_than, rate });
        self
    }

    /// How long the breaker stays open before letting trial calls through (default 30 s).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tower_breakwater::circuit_breaker::CircuitBreaker;
    /// let breaker = CircuitBreaker::builder("db").open_for(Duration::from_secs(5)).build().unwrap();
    /// # let _ = breaker;
    /// ```
    pub fn open_for(mut self, duration: Duration) -> Self {
        self.open_for = duration;
        self
    }

    /// Each trip that follows a failed half-open trial multiplies `open_for` by `factor`
    /// (at least 1), never beyond `max`. A successful close starts again from `open_for`.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tower_breakwater::circuit_breaker::CircuitBreaker;
    /// let breaker = CircuitBreaker::builder("db")
    ///     .open_for_growth(2.0, Duration::from_secs(600))
    ///     .build()
    ///     .unwrap();
    /// # let _ = breaker;
    /// ```
    pub fn open_for_growth(mut self, factor: f64, max: Duration) -> Self {
        self.growth = Some(Growth { factor, max });
        self
    }

    /// Spread each open period by up to ±`ratio` of its length, in [0, 1), so many callers'
    /// breakers do not all probe a recovering service at the same instant (default 0).
    ///
    /// ```
    /// # use tower_breakwater::circuit_breaker::CircuitBreaker;
    /// let breaker = CircuitBreaker::builder("db").jitter(0.2).build().unwrap();
    /// # let _ = breaker;
    /// ```
    pub fn jitter(mut self, ratio: f64) -> Self {
        self.jitter = ratio;
        self
    }

    /// How many trial calls half-open lets through (default 2). Calls beyond them are
    /// rejected at once, never queued; a cancelled or ignored trial gives its permit back.
    ///
    /// ```
    /// # use tower_breakwater::circuit_breaker::CircuitBreaker;
    /// let breaker = CircuitBreaker::builder("db").half_open_permits(5).build().unwrap();
    /// # let _ = breaker;
    /// ```
    pub fn half_open_permits(mut self, permits: u32) -> Self {
        self.half_open_permits = permits;
        self
    }

    /// How many trial successes close the breaker (default 2, at most `half_open_permits`).
    /// Any trial failure opens it again.
    ///
    /// ```
    /// # use tower_breakwater::circuit_breaker::CircuitBreaker;
    /// let breaker = CircuitBreaker::builder("db").success_threshold(1).build().unwrap();
    /// # let _ = breaker;
    /// ```
    pub fn success_threshold(mut self, successes: u32) -> Self {
        self.success_threshold = successes;
        self
    }

    /// Half-open admits a growing share of the calls in stages instead of
    /// `half_open_permits` trial calls: `shares[0]` of the calls during the first
    /// `stage_for`, `shares[1]` during the next, and so on; after the last stage the breaker
    /// closes (at its next call). A failed (or slow) call during the ramp opens it again,
    /// as a failed trial does; `half_open_permits` and `success_threshold` are not used.
    /// 1 to 16 shares, each in (0, 1], none smaller than the one before; off by default.
    ///
    /// Learned from seatbelt and Polly: a recovering service gets 1 %, then 5 %, ... of its
    /// traffic back, not all of it after two good calls.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tower_breakwater::circuit_breaker::CircuitBreaker;
    /// let breaker = CircuitBreaker::builder("db")
    ///     .half_open_ramp(&[0.01, 0.05, 0.25, 0.5], Duration::from_secs(10))
    ///     .build()
    ///     .unwrap();
    /// # let _ = breaker;
    /// ```
    pub fn half_open_ramp(mut self, shares: &[f64], stage_for: Duration) -> Self {
        self.ramp = Some(Ramp {
            shares: shares.into(),
            stage_for,
        });
        self
    }

    /// Count an abandoned call (admitted, then its permit or response future dropped before
    /// its outcome: a caller's deadline, a hedged request that lost) as a **failure** while
    /// abandoned calls are at least `rate`, in (0, 1], of the calls that ended lately (the
    /// last 100 to 200 successes, failures and abandoned calls, once at least 10 have ended).
    /// By default an abandoned call counts neither way, so an endpoint whose calls are all
    /// abandoned never trips.
    ///
    /// Such a call still counts as `cancelled` in the [totals](super::Totals); it counts as a
    /// failure for the trip rule (and in `counted_failures`), or as a failed half-open trial.
    /// While this is on, each abandoned call sums the breaker's counters once.
    ///
    /// ```
    /// # use tower_breakwater::circuit_breaker::{CircuitBreaker, State};
    /// let breaker = CircuitBreaker::builder("db")
    ///     .consecutive_failures(3)
    ///     .abandoned_as_failures_above(0.5)
    ///     .build()
    ///     .unwrap();
    /// for _ in 0..12 {
    ///     drop(breaker.try_acquire().unwrap()); // abandoned
    /// }
    /// assert_eq!(breaker.state(), State::Open);
    /// ```
    pub fn abandoned_as_failures_above(mut self, rate: f64) -> Self {
        self.abandoned_above = Some(rate);
        self
    }

    /// Check every value and build the breaker.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the field and the value: both `consecutive_failures` and
    /// rate settings, a rate outside `(0, 1]`, a window, threshold or permit count of 0 or
    /// past its limit, a `minimum_calls` larger than the count window, a duration of 0 or
    /// longer than ten years, a `success_threshold` above `half_open_permits`, a bad name.
    ///
    /// ```
    /// # use tower_breakwater::circuit_breaker::CircuitBreaker;
    /// let err = CircuitBreaker::builder("db")
    ///     .half_open_permits(1)
    ///     .success_threshold(2)
    ///     .build()
    ///     .unwrap_err();
    /// assert_eq!(err.field(), "success_threshold");
    /// ```
    pub fn build(self) -> Result<CircuitBreaker, ConfigError> {
        Ok(CircuitBreaker::from_config(self.validate()?))
    }

    pub(crate) fn validate(self) -> Result<Config, ConfigError> {
        let name = self.name.as_str();
        let err = |field, value: &dyn std::fmt::Debug, expected| {
            Err(ConfigError::new(name, field, value, expected))
        };
        ConfigError::check_name(name)?;
        let ratio = |r: f64| r > 0.0 && r <= 1.0; // false for NaN too
        let rate_chosen = self.failure_rate.is_some()
            || self.window.is_some()
            || self.minimum_calls.is_some()
            || self.slow.is_some();
        let rule = match self.consecutive_failures {
            Some(n) if rate_chosen => {
                return err(
                    "consecutive_failures",
                    &n,
                    "either consecutive_failures or the rate settings, not both",
                )
            }
            Some(0) => return err("consecutive_failures", &0, "at least 1"),
            Some(n) => Rule::ConsecutiveFailures(n),
            None if !rate_chosen => Rule::ConsecutiveFailures(5),
            None => {
                let window = self.window.unwrap_or(WindowSpec::Count(100));
                let minimum_calls = match window {
                    WindowSpec::Count(0) => return err("count_window", &0, "at least 1"),
                    WindowSpec::Count(n) if n > MAX_COUNT_WINDOW => {
                        return err("count_window", &n, "at most 16777216 calls")
                    }
                    WindowSpec::Count(n) => match self.minimum_calls {
                        Some(m) if m > n => {
                            return err("minimum_calls", &m, "no more than the count window")
                        }
                        Some(m) => m,
                        None => n.min(10),
                    },
                    WindowSpec::Time { length, buckets } => {
                        if length.is_zero() || length > TEN_YEARS {
                            return err("time_window", &length, "a length from 1ns to ten years");
                        }
                        if buckets == 0 || buckets > MAX_BUCKETS {
                            return err("time_window", &buckets, "1 to 1024 buckets");
                        }
                        if length.as_nanos() < u128::from(buckets) {
                            return err("time_window", &length, "at least 1ns per bucket");
                        }
                        self.minimum_calls.unwrap_or(10)
                    }
                };
                if minimum_calls == 0 {
                    return err("minimum_calls", &0, "at least 1");
                }
                let failure_rate = self.failure_rate.unwrap_or(0.5);
                if !ratio(failure_rate) {
                    return err("failure_rate", &failure_rate, "a ratio in (0, 1]");
                }
                if let Some(slow) = self.slow {
                    if slow.slower_than.is_zero() {
                        return err("slow_calls", &slow.slower_than, "a duration above zero");
                    }
                    if !ratio(slow.rate) {
                        return err("slow_calls", &slow.rate, "a ratio in (0, 1]");
                    }
                }
                Rule::Rate(RateRule {
                    window,
                    minimum_calls,
                    failure_rate,
                    slow: self.slow,
                })
            }
        };
        if self.open_for.is_zero() {
            return err("open_for", &self.open_for, "a duration above zero");
        }
        if self.open_for > TEN_YEARS {
            return err("open_for", &self.open_for, "at most ten years");
        }
        if let Some(growth) = self.growth {
            if !(growth.factor >= 1.0 && growth.factor.is_finite()) {
                return err(
                    "open_for_growth",
                    &growth.factor,
                    "a finite factor of at least 1",
                );
            }
            if growth.max < self.open_for || growth.max > TEN_YEARS {
                return err(
                    "open_for_growth",
                    &growth.max,
                    "a cap between open_for and ten years",
                );
            }
        }
        if !(self.jitter >= 0.0 && self.jitter < 1.0) {
            return err("jitter", &self.jitter, "a ratio in [0, 1)");
        }
        if self.half_open_permits == 0 || self.half_open_permits > MAX_PERMITS {
            return err("half_open_permits", &self.half_open_permits, "1 to 8191");
        }
        if self.success_threshold == 0 || self.success_threshold > self.half_open_permits {
            return err(
                "success_threshold",
                &self.success_threshold,
                "1 to half_open_permits",
            );
        }
        if let Some(ramp) = &self.ramp {
            let shares = &ramp.shares;
            if shares.is_empty() || shares.len() > MAX_STAGES {
                return err("half_open_ramp", &shares.len(), "1 to 16 stages");
            }
            if let Some(bad) = shares.iter().find(|s| !ratio(**s)) {
                return err("half_open_ramp", bad, "shares in (0, 1]");
            }
            if shares.windows(2).any(|w| w[1] < w[0]) {
                return err("half_open_ramp", shares, "shares that never decrease");
            }
            let total = ramp.stage_for.saturating_mul(shares.len() as u32);
            if ramp.stage_for.is_zero() || total > TEN_YEARS {
                return err(
                    "half_open_ramp",
                    &ramp.stage_for,
                    "a stage length above zero, all stages within ten years",
                );
            }
        }
        if let Some(rate) = self.abandoned_above {
            if !ratio(rate) {
                return err("abandoned_as_failures_above", &rate, "a ratio in (0, 1]");
            }
        }
        Ok(Config {
            name: self.name,
            rule,
            open_for: self.open_for,
            growth: self.growth,
            jitter: self.jitter,
            half_open_permits: self.half_open_permits,
            success_threshold: self.success_threshold,
            ramp: self.ramp,
            abandoned_above: self.abandoned_above,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(b: Builder) -> &'static str {
        b.validate().unwrap_err().field()
    }

    fn b() -> Builder {
        Builder::new(Name::from("t"))
    }

    #[test]
    fn defaults_are_the_classic_breaker() {
        let c = b().validate().unwrap();
        assert_eq!(c.rule, Rule::ConsecutiveFailures(5));
        assert_eq!(c.open_for, Duration::from_secs(30));
        assert_eq!((c.half_open_permits, c.success_threshold), (2, 2));
    }

    #[test]
    fn any_rate_setting_switches_to_the_rate_rule_with_defaults() {
        let c = b().count_window(4).validate().unwrap();
        assert_eq!(
            c.rule,
            Rule::Rate(RateRule {
                window: WindowSpec::Count(4),
                minimum_calls: 4,
                failure_rate: 0.5,
                slow: None
            })
        );
    }

    #[test]
    fn every_bad_value_names_its_field() {
        let cases: Vec<(Builder, &str)> = vec![
            (Builder::new(Name::from("")), "name"),
            (b().consecutive_failures(0), "consecutive_failures"),
            (
                b().consecutive_failures(3).failure_rate(0.5),
                "consecutive_failures",
            ),
            (b().failure_rate(0.0), "failure_rate"),
            (b().failure_rate(1.01), "failure_rate"),
            (b().failure_rate(f64::NAN), "failure_rate"),
            (b().failure_rate(-0.5), "failure_rate"),
            (b().count_window(0), "count_window"),
            (b().count_window(MAX_COUNT_WINDOW + 1), "count_window"),
            (b().count_window(5).minimum_calls(6), "minimum_calls"),
            (b().minimum_calls(0), "minimum_calls"),
            (b().time_window(Duration::ZERO, 4), "time_window"),
            (b().time_window(Duration::MAX, 4), "time_window"),
            (b().time_window(Duration::from_secs(1), 0), "time_window"),
            (b().time_window(Duration::from_secs(1), 2000), "time_window"),
            (b().time_window(Duration::from_nanos(3), 4), "time_window"),
            (b().slow_calls(Duration::ZERO, 0.5), "slow_calls"),
            (b().slow_calls(Duration::from_secs(1), 2.0), "slow_calls"),
            (b().open_for(Duration::ZERO), "open_for"),
            (b().open_for(Duration::MAX), "open_for"),
            (
                b().open_for_growth(0.5, Duration::from_secs(60)),
                "open_for_growth",
            ),
            (
                b().open_for_growth(f64::INFINITY, Duration::from_secs(60)),
                "open_for_growth",
            ),
            (
                b().open_for_growth(2.0, Duration::from_secs(1)),
                "open_for_growth",
            ),
            (b().jitter(1.0), "jitter"),
            (b().jitter(-0.1), "jitter"),
            (b().half_open_permits(0), "half_open_permits"),
            (b().half_open_permits(MAX_PERMITS + 1), "half_open_permits"),
            (b().success_threshold(0), "success_threshold"),
            (b().success_threshold(3), "success_threshold"),
            (
                b().half_open_ramp(&[], Duration::from_secs(1)),
                "half_open_ramp",
            ),
            (
                b().half_open_ramp(&[0.1; 17], Duration::from_secs(1)),
                "half_open_ramp",
            ),
            (
                b().half_open_ramp(&[0.0], Duration::from_secs(1)),
                "half_open_ramp",
            ),
            (
                b().half_open_ramp(&[0.5, 1.5], Duration::from_secs(1)),
                "half_open_ramp",
            ),
            (
                b().half_open_ramp(&[f64::NAN], Duration::from_secs(1)),
                "half_open_ramp",
            ),
            (
                b().half_open_ramp(&[0.5, 0.1], Duration::from_secs(1)),
                "half_open_ramp",
            ),
            (b().half_open_ramp(&[0.5], Duration::ZERO), "half_open_ramp"),
            (b().half_open_ramp(&[0.5; 4], TEN_YEARS), "half_open_ramp"),
            (
                b().abandoned_as_failures_above(0.0),
                "abandoned_as_failures_above",
            ),
            (
                b().abandoned_as_failures_above(1.5),
                "abandoned_as_failures_above",
            ),
        ];
        for (builder, field) in cases {
            assert_eq!(field_of(builder.clone()), field, "{builder:?}");
        }
    }

    #[test]
    fn open_for_grows_to_its_cap_and_jitter_stays_in_bounds() {
        let c = b()
            .open_for(Duration::from_secs(10))
            .open_for_growth(2.0, Duration::from_secs(35))
            .validate()
            .unwrap();
        let secs: Vec<u64> = (1..=4).map(|t| c.open_for(t).as_secs()).collect();
        assert_eq!(secs, [10, 20, 35, 35]);

        let j = b()
            .open_for(Duration::from_secs(10))
            .jitter(0.2)
            .validate()
            .unwrap();
        for _ in 0..1000 {
            let d = j.open_for(1).as_secs_f64();
            assert!((8.0..=12.0).contains(&d), "{d}");
        }
    }
}
