//! The builder, its validation, and the immutable settings it produces.

use std::sync::Arc;
use std::time::Duration;

use super::backoff::Curve;
use super::stats::Stats;
use super::{Backoff, Budget, CloneRequest, Jitter, RetryLayer, RetryOnError};
use crate::{ConfigError, Name};

/// The longest wait the builder accepts anywhere (a backoff cap, a `Retry-After` cap): a
/// retry a day later is no longer a retry.
const MAX_WAIT: Duration = Duration::from_secs(24 * 3600);

/// Builds a [`RetryLayer`]; every value is checked once, in [`build`](Builder::build).
///
/// Defaults: 3 attempts (the first one included), an exponential backoff from 100 ms,
/// doubling, capped at 10 s, with full jitter; no budget; retry timeouts and inner errors
/// ([`RetryOnError`]); copy requests with `Clone` ([`CloneRequest`]); a `Retry-After` is
/// honoured up to 60 s.
///
/// ```
/// use std::time::Duration;
/// use tower_breakwater::retry::{Backoff, Budget, Jitter, RetryLayer};
///
/// let layer = RetryLayer::builder("payments")
///     .max_attempts(4)
///     .backoff(Backoff::exponential(Duration::from_millis(50), 2.0, Duration::from_secs(2)))
///     .jitter(Jitter::Equal)
///     .budget(Budget::builder().ratio(0.1).build().unwrap())
///     .build()
///     .expect("valid config");
/// assert_eq!(layer.max_attempts(), 4);
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct Builder<P = RetryOnError, C = CloneRequest> {
    name: Name,
    max_attempts: u32,
    backoff: Backoff,
    jitter: Option<Jitter>,
    budget: Option<Budget>,
    max_retry_after: Duration,
    predicate: P,
    copier: C,
}

/// What a layer, its services and their futures know: the predicate (asked after every
/// attempt, so each future has its own, usually zero-sized, copy) and the plan.
#[derive(Debug, Clone)]
pub(crate) struct Policy<P, C> {
    pub(crate) predicate: P,
    pub(crate) plan: Arc<Plan<C>>,
}

/// The validated, immutable settings of a retry layer, apart from the predicate. Shared
/// behind an `Arc`: a future takes a reference only when a retry may follow, and then a
/// pointer keeps the future small (copied by value, the settings made it twice as large
/// and every call paid for moving it).
#[derive(Debug)]
pub(crate) struct Plan<C> {
    pub(crate) name: Name,
    pub(crate) max_attempts: u32,
    pub(crate) backoff: Backoff,
    pub(crate) jitter: Jitter,
    pub(crate) budget: Option<Budget>,
    pub(crate) max_retry_after: Duration,
    pub(crate) copier: C,
    /// Counted on the retry path only; shared with a metrics collector.
    pub(crate) stats: Arc<Stats>,
}

impl Builder {
    pub(crate) fn new(name: Name) -> Self {
        Builder {
            name,
            max_attempts: 3,
            backoff: Backoff::exponential(Duration::from_millis(100), 2.0, Duration::from_secs(10)),
            jitter: None,
            budget: None,
            max_retry_after: Duration::from_secs(60),
            predicate: RetryOnError,
            copier: CloneRequest,
        }
    }
}

impl<P, C> Builder<P, C> {
    /// How many attempts a call may make in all, **the first one included** (default 3:
    /// one call and up to two retries). 1 turns retrying off.
    ///
    /// ```
    /// use tower_breakwater::retry::RetryLayer;
    /// let layer = RetryLayer::builder("db").max_attempts(5).build().unwrap();
    /// assert_eq!(layer.max_attempts(), 5);
    /// ```
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts;
        self
    }

    /// The waits between attempts (default: exponential from 100 ms, ×2, capped at 10 s).
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_breakwater::retry::{Backoff, RetryLayer};
    /// let layer = RetryLayer::builder("db")
    ///     .backoff(Backoff::decorrelated(Duration::from_millis(20), Duration::from_secs(1)))
    ///     .build()
    ///     .unwrap();
    /// # let _ = layer;
    /// ```
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// How the waits are spread at random (default [`Jitter::Full`]). A decorrelated
    /// backoff is random already: setting a jitter with it is a config error.
    ///
    /// ```
    /// use tower_breakwater::retry::{Jitter, RetryLayer};
    /// let layer = RetryLayer::builder("db").jitter(Jitter::None).build().unwrap();
    /// # let _ = layer;
    /// ```
    pub fn jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = Some(jitter);
        self
    }

    /// Pay for retries out of `budget` (default: none, only `max_attempts` limits them).
    /// Every call deposits into it and every retry withdraws; give the same budget (a
    /// clone) to several layers to share it.
    ///
    /// ```
    /// use tower_breakwater::retry::{Budget, RetryLayer};
    /// let budget = Budget::builder().ratio(0.2).build().unwrap();
    /// let reads = RetryLayer::builder("reads").budget(budget.clone()).build().unwrap();
    /// let writes = RetryLayer::builder("writes").budget(budget).build().unwrap();
    /// # let _ = (reads, writes);
    /// ```
    pub fn budget(mut self, budget: Budget) -> Self {
        self.budget = Some(budget);
        self
    }

    /// The longest wait a callee's `Retry-After` (see [`Predicate::retry_after`]) may impose;
    /// longer ones are cut to it (default 60 s, at most 24 h).
    ///
    /// [`Predicate::retry_after`]: super::Predicate::retry_after
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_breakwater::retry::RetryLayer;
    /// let layer = RetryLayer::builder("api").max_retry_after(Duration::from_secs(5)).build().unwrap();
    /// # let _ = layer;
    /// ```
    pub fn max_retry_after(mut self, max: Duration) -> Self {
        self.max_retry_after = max;
        self
    }

    /// Retry the outcomes `predicate` accepts (default [`RetryOnError`]): a closure
    /// `Fn(&Result<Resp, tower_breakwater::Error<E, Req>>) -> bool`, or any
    /// [`Predicate`](super::Predicate).
    ///
    /// ```
    /// use tower_breakwater::retry::RetryLayer;
    /// use tower_breakwater::Error;
    /// let layer = RetryLayer::builder("api")
    ///     .retry_if(|outcome: &Result<u16, Error<std::io::Error, String>>| {
    ///         matches!(outcome, Ok(503) | Err(Error::Inner(_)))
    ///     })
    ///     .build()
    ///     .unwrap();
    /// # let _ = layer;
    /// ```
    pub fn retry_if<Q>(self, predicate: Q) -> Builder<Q, C> {
        Builder {
            name: self.name,
            max_attempts: self.max_attempts,
            backoff: self.backoff,
            jitter: self.jitter,
            budget: self.budget,
            max_retry_after: self.max_retry_after,
            predicate,
            copier: self.copier,
        }
    }

    /// Copy requests for later attempts with `copier` (default [`CloneRequest`]): a closure
    /// `Fn(&Req) -> Option<Req>` (`None`: this one must not be replayed), or any
    /// [`CopyRequest`](super::CopyRequest). The layer copies a request only when another
    /// attempt could really follow.
    ///
    /// ```
    /// use tower_breakwater::retry::RetryLayer;
    /// // Requests are not Clone here; only those flagged as safe are replayed.
    /// struct Job { id: u64, idempotent: bool }
    /// let layer = RetryLayer::builder("jobs")
    ///     .copy_request(|job: &Job| job.idempotent.then(|| Job { id: job.id, idempotent: true }))
    ///     .build()
    ///     .unwrap();
    /// # let _ = layer;
    /// ```
    pub fn copy_request<D>(self, copier: D) -> Builder<P, D> {
        Builder {
            name: self.name,
            max_attempts: self.max_attempts,
            backoff: self.backoff,
            jitter: self.jitter,
            budget: self.budget,
            max_retry_after: self.max_retry_after,
            predicate: self.predicate,
            copier,
        }
    }

    /// Check every value and build the layer.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the field: `max_attempts` of 0, a backoff base of 0 or a cap
    /// below it, a factor below 1, a jitter with a decorrelated backoff, a wait longer than
    /// 24 h, a bad name.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_breakwater::retry::{Backoff, RetryLayer};
    /// let err = RetryLayer::builder("db")
    ///     .backoff(Backoff::exponential(Duration::from_secs(2), 2.0, Duration::from_secs(1)))
    ///     .build()
    ///     .unwrap_err();
    /// assert_eq!(err.field(), "backoff");
    /// assert_eq!(
    ///     err.to_string(),
    ///     "invalid config for 'db': backoff = 1s, expected a cap of at least the base and at most 24h"
    /// );
    /// ```
    pub fn build(self) -> Result<RetryLayer<P, C>, ConfigError> {
        let jitter = self.check()?;
        Ok(self.assemble(jitter))
    }

    /// For the composer: the layer, or, when a value is bad, the error and a stand-in layer
    /// with the same predicate and copier and the default settings (so the stack keeps its
    /// type; its `build` reports the error and the stand-in is never used).
    pub(crate) fn build_or_stand_in(self) -> (RetryLayer<P, C>, Option<ConfigError>) {
        match self.check() {
            Ok(jitter) => (self.assemble(jitter), None),
            Err(error) => {
                let defaults = Builder::new(Name::from("stand-in"));
                let stand_in = Builder {
                    name: defaults.name,
                    max_attempts: defaults.max_attempts,
                    backoff: defaults.backoff,
                    jitter: defaults.jitter,
                    budget: defaults.budget,
                    max_retry_after: defaults.max_retry_after,
                    predicate: self.predicate,
                    copier: self.copier,
                };
                let jitter = stand_in.check().expect("the defaults are valid");
                (stand_in.assemble(jitter), Some(error))
            }
        }
    }

    /// Every value checked; the jitter the plan will use.
    fn check(&self) -> Result<Jitter, ConfigError> {
        let name = self.name.as_str();
        let err = |field, value: &dyn std::fmt::Debug, expected| {
            Err(ConfigError::new(name, field, value, expected))
        };
        ConfigError::check_name(name)?;
        if self.max_attempts == 0 {
            return err(
                "max_attempts",
                &0,
                "at least 1 (the first attempt counts; 1 = no retry)",
            );
        }
        let base_ok = |base: Duration| !base.is_zero() && base <= MAX_WAIT;
        let cap_ok = |base: Duration, cap: Duration| cap >= base && cap <= MAX_WAIT;
        let jitter = match self.backoff.0 {
            Curve::Constant(delay) => {
                if delay > MAX_WAIT {
                    return err("backoff", &delay, "a delay of at most 24h");
                }
                self.jitter.unwrap_or_default()
            }
            Curve::Exponential { base, factor, cap } => {
                if !base_ok(base) {
                    return err("backoff", &base, "a base from 1ns to 24h");
                }
                if !(factor >= 1.0 && factor.is_finite()) {
                    return err("backoff", &factor, "a finite factor of at least 1");
                }
                if !cap_ok(base, cap) {
                    return err(
                        "backoff",
                        &cap,
                        "a cap of at least the base and at most 24h",
                    );
                }
                self.jitter.unwrap_or_default()
            }
            Curve::Decorrelated { base, cap } => {
                if !base_ok(base) {
                    return err("backoff", &base, "a base from 1ns to 24h");
                }
                if !cap_ok(base, cap) {
                    return err(
                        "backoff",
                        &cap,
                        "a cap of at least the base and at most 24h",
                    );
                }
                if let Some(jitter) = self.jitter {
                    return err(
                        "jitter",
                        &jitter,
                        "no jitter with a decorrelated backoff (it is random already)",
                    );
                }
                // Unused: the decorrelated curve draws its own waits.
                Jitter::None
            }
        };
        if self.max_retry_after.is_zero() || self.max_retry_after > MAX_WAIT {
            return err(
                "max_retry_after",
                &self.max_retry_after,
                "a duration from 1ns to 24h",
            );
        }
        Ok(jitter)
    }

    fn assemble(self, jitter: Jitter) -> RetryLayer<P, C> {
        RetryLayer::from_policy(Policy {
            predicate: self.predicate,
            plan: Arc::new(Plan {
                name: self.name,
                max_attempts: self.max_attempts,
                backoff: self.backoff,
                jitter,
                budget: self.budget,
                max_retry_after: self.max_retry_after,
                copier: self.copier,
                stats: Arc::default(),
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b() -> Builder {
        Builder::new(Name::from("t"))
    }

    fn field_of<P, C>(b: Builder<P, C>) -> &'static str {
        b.build().expect_err("a config error").field()
    }

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn defaults() {
        let plan = b().build().unwrap().policy.plan;
        let plan = &*plan;
        assert_eq!(plan.max_attempts, 3);
        assert_eq!(
            plan.backoff,
            Backoff::exponential(MS * 100, 2.0, Duration::from_secs(10))
        );
        assert_eq!(plan.jitter, Jitter::Full);
        assert!(plan.budget.is_none());
        assert_eq!(plan.max_retry_after, Duration::from_secs(60));
    }

    #[test]
    fn every_bad_value_names_its_field() {
        let exp = Backoff::exponential;
        let cases: Vec<(Builder, &str)> = vec![
            (Builder::new(Name::from("")), "name"),
            (b().max_attempts(0), "max_attempts"),
            (b().backoff(Backoff::constant(MAX_WAIT + MS)), "backoff"),
            (b().backoff(exp(Duration::ZERO, 2.0, MS)), "backoff"),
            (b().backoff(exp(MS, 0.5, MS * 10)), "backoff"),
            (b().backoff(exp(MS, f64::NAN, MS * 10)), "backoff"),
            (b().backoff(exp(MS, f64::INFINITY, MS * 10)), "backoff"),
            (b().backoff(exp(MS * 10, 2.0, MS)), "backoff"),
            (b().backoff(exp(MS, 2.0, MAX_WAIT + MS)), "backoff"),
            (
                b().backoff(Backoff::decorrelated(Duration::ZERO, MS)),
                "backoff",
            ),
            (b().backoff(Backoff::decorrelated(MS * 2, MS)), "backoff"),
            (
                b().backoff(Backoff::decorrelated(MS, MS * 9))
                    .jitter(Jitter::Full),
                "jitter",
            ),
            (b().max_retry_after(Duration::ZERO), "max_retry_after"),
            (b().max_retry_after(MAX_WAIT * 2), "max_retry_after"),
        ];
        for (builder, field) in cases {
            assert_eq!(field_of(builder), field);
        }
    }

    #[test]
    fn edge_values_that_are_fine() {
        assert!(b().max_attempts(1).build().is_ok());
        assert!(b()
            .backoff(Backoff::constant(Duration::ZERO))
            .build()
            .is_ok());
        assert!(b()
            .backoff(Backoff::exponential(MS, 1.0, MS))
            .build()
            .is_ok());
        assert!(b().backoff(Backoff::decorrelated(MS, MS)).build().is_ok());
        assert!(b().backoff(Backoff::constant(MAX_WAIT)).build().is_ok());
    }
}
