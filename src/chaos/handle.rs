//! The shared handle: the fault rates, the switch, the seed and the counts.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use super::config::{Builder, Rates};
use super::ChaosLayer;
use crate::{ConfigError, Name};

/// A fault injector: a cheap-to-clone handle (one `Arc`) shared by every layer and service
/// made from it, so a test or an operator can switch faults on and off, or change their
/// rates, while traffic flows.
///
/// Build one with [`Chaos::builder`], put it in a stack with [`layer`](Self::layer), read
/// what it did with [`stats`](Self::stats).
///
/// ```
/// use tower_breakwater::chaos::{Chaos, ChaosError};
/// use tower::{service_fn, BoxError, Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let chaos = Chaos::builder("payments").error_rate(1.0).seed(1).build().unwrap();
/// let svc = chaos.layer().layer(service_fn(|x: u32| async move { Ok::<_, BoxError>(x) }));
///
/// let err = svc.clone().oneshot(1).await.unwrap_err();
/// assert!(err.is::<ChaosError>());
/// chaos.disable();
/// assert_eq!(svc.oneshot(2).await.unwrap(), 2);
/// assert_eq!((chaos.stats().calls, chaos.stats().errors), (1, 1));
/// # }
/// ```
#[derive(Clone)]
pub struct Chaos {
    shared: Arc<Shared>,
}

/// The per-call state, read with `Relaxed` loads only: each value stands alone (a call
/// racing a change may see some rates old and some new, which only matters for that one
/// call), and none of them guards other memory.
struct Shared {
    name: Name,
    seed: u64,
    enabled: AtomicBool,
    /// Each rate as a threshold on a 32-bit roll: `round(rate × 2³²)`, so 1.0 is `2³²`,
    /// above every roll. Written only under `rates`.
    error: AtomicU64,
    hang: AtomicU64,
    abort: AtomicU64,
    latency: AtomicU64,
    /// The injected delay, in nanoseconds (at most ten years: fits).
    delay_nanos: AtomicU64,
    /// The exact rates, for reading back; the lock also makes changes one at a time, so
    /// two setters cannot each pass validation and together push the sum above 1. Never
    /// taken by a call.
    rates: Mutex<Rates>,
    /// Calls that drew a fault (or none) while switched on; the draw of call `n` depends
    /// only on `seed` and `n`. Then one count per kind of fault injected.
    calls: AtomicU64,
    errors: AtomicU64,
    delays: AtomicU64,
    hangs: AtomicU64,
    aborts: AtomicU64,
}

/// What to do to one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    Pass,
    Error,
    Delay(Duration),
    Hang,
    Abort,
}

/// What a chaos handle has done so far; from [`Chaos::stats`].
///
/// ```
/// use tower_breakwater::chaos::Chaos;
/// let stats = Chaos::builder("db").build().unwrap().stats();
/// assert_eq!(stats.calls, 0);
/// assert_eq!(stats.faults(), 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Calls that passed through while switched on (with or without a fault).
    pub calls: u64,
    /// Calls failed at once with [`Fault::Error`](super::Fault::Error).
    pub errors: u64,
    /// Calls delayed ([`Fault::Latency`](super::Fault::Latency)).
    pub delays: u64,
    /// Calls made to hang ([`Fault::Hang`](super::Fault::Hang)).
    pub hangs: u64,
    /// Calls aborted after they were sent ([`Fault::Abort`](super::Fault::Abort)).
    pub aborts: u64,
}

impl Stats {
    /// All faults injected.
    ///
    /// ```
    /// # use tower_breakwater::chaos::Stats;
    /// assert_eq!(Stats::default().faults(), 0);
    /// ```
    #[must_use]
    pub fn faults(&self) -> u64 {
        self.errors + self.delays + self.hangs + self.aborts
    }
}

fn threshold(rate: f64) -> u64 {
    // `rate` was validated to [0, 1]: the product is in [0, 2³²].
    (rate * (1u64 << 32) as f64).round() as u64
}

impl Chaos {
    /// Start building a fault injector named `name` (the name its errors carry).
    ///
    /// ```
    /// use tower_breakwater::chaos::Chaos;
    /// let chaos = Chaos::builder("payments").error_rate(0.1).build().unwrap();
    /// assert_eq!(chaos.name(), "payments");
    /// ```
    pub fn builder(name: impl Into<Name>) -> Builder {
        Builder::new(name.into())
    }

    pub(crate) fn from_parts(name: Name, rates: Rates, seed: u64, enabled: bool) -> Self {
        let shared = Shared {
            name,
            seed,
            enabled: AtomicBool::new(enabled),
            error: AtomicU64::new(0),
            hang: AtomicU64::new(0),
            abort: AtomicU64::new(0),
            latency: AtomicU64::new(0),
            delay_nanos: AtomicU64::new(0),
            rates: Mutex::new(rates),
            calls: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            delays: AtomicU64::new(0),
            hangs: AtomicU64::new(0),
            aborts: AtomicU64::new(0),
        };
        shared.publish(&rates);
        Chaos {
            shared: Arc::new(shared),
        }
    }

    /// A layer that injects this handle's faults into the service it wraps.
    ///
    /// ```
    /// use tower_breakwater::chaos::Chaos;
    /// use tower::{service_fn, BoxError, Layer};
    /// let chaos = Chaos::builder("db").build().unwrap();
    /// let svc = chaos.layer().layer(service_fn(|()| async { Ok::<_, BoxError>(()) }));
    /// # let _ = svc;
    /// ```
    #[must_use]
    pub fn layer(&self) -> ChaosLayer {
        ChaosLayer::new(self.clone())
    }

    /// The name its errors carry.
    ///
    /// ```
    /// # use tower_breakwater::chaos::Chaos;
    /// assert_eq!(Chaos::builder("db").build().unwrap().name(), "db");
    /// ```
    #[must_use]
    pub fn name(&self) -> &str {
        self.shared.name.as_str()
    }

    /// The seed the faults are drawn from (print it to replay a failing run).
    ///
    /// ```
    /// # use tower_breakwater::chaos::Chaos;
    /// assert_eq!(Chaos::builder("db").seed(9).build().unwrap().seed(), 9);
    /// ```
    #[must_use]
    pub fn seed(&self) -> u64 {
        self.shared.seed
    }

    /// Whether faults are injected now.
    ///
    /// ```
    /// # use tower_breakwater::chaos::Chaos;
    /// assert!(Chaos::builder("db").build().unwrap().is_enabled());
    /// ```
    #[must_use]
    pub fn is_enabled(&self) -> bool {
        self.shared.enabled.load(Relaxed)
    }

    /// Switch fault injection on (calls already made keep their fate).
    ///
    /// ```
    /// # use tower_breakwater::chaos::Chaos;
    /// let chaos = Chaos::builder("db").enabled(false).build().unwrap();
    /// chaos.enable();
    /// assert!(chaos.is_enabled());
    /// ```
    pub fn enable(&self) {
        self.shared.enabled.store(true, Relaxed);
    }

    /// Switch fault injection off: calls pass untouched and uncounted (one atomic load
    /// each). Calls already delayed, hanging or aborting keep their fate.
    ///
    /// ```
    /// # use tower_breakwater::chaos::Chaos;
    /// let chaos = Chaos::builder("db").build().unwrap();
    /// chaos.disable();
    /// assert!(!chaos.is_enabled());
    /// ```
    pub fn disable(&self) {
        self.shared.enabled.store(false, Relaxed);
    }

    /// The share of calls failed at once.
    ///
    /// ```
    /// # use tower_breakwater::chaos::Chaos;
    /// assert_eq!(Chaos::builder("db").build().unwrap().error_rate(), 0.0);
    /// ```
    #[must_use]
    pub fn error_rate(&self) -> f64 {
        self.shared.rates.lock().error
    }

    /// The share of calls delayed, and by how long.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tower_breakwater::chaos::Chaos;
    /// assert_eq!(Chaos::builder("db").build().unwrap().latency(), (0.0, Duration::ZERO));
    /// ```
    #[must_use]
    pub fn latency(&self) -> (f64, Duration) {
        let rates = self.shared.rates.lock();
        (rates.latency, rates.delay)
    }

    /// The share of calls made to hang.
    ///
    /// ```
    /// # use tower_breakwater::chaos::Chaos;
    /// assert_eq!(Chaos::builder("db").build().unwrap().hang_rate(), 0.0);
    /// ```
    #[must_use]
    pub fn hang_rate(&self) -> f64 {
        self.shared.rates.lock().hang
    }

    /// The share of calls aborted after they were sent.
    ///
    /// ```
    /// # use tower_breakwater::chaos::Chaos;
    /// assert_eq!(Chaos::builder("db").build().unwrap().abort_rate(), 0.0);
    /// ```
    #[must_use]
    pub fn abort_rate(&self) -> f64 {
        self.shared.rates.lock().abort
    }

    /// Change the error rate while traffic flows; checked like the builder's (the sum of
    /// all rates stays at most 1), and on error nothing changes.
    ///
    /// # Errors
    /// A [`ConfigError`] when the rate is outside `[0, 1]` or the rates would add up to more
    /// than 1; nothing changes then.
    ///
    /// ```
    /// # use tower_breakwater::chaos::Chaos;
    /// let chaos = Chaos::builder("db").hang_rate(0.5).build().unwrap();
    /// chaos.set_error_rate(0.5).unwrap();
    /// assert_eq!(chaos.set_error_rate(0.6).unwrap_err().field(), "error_rate");
    /// assert_eq!(chaos.error_rate(), 0.5);
    /// ```
    pub fn set_error_rate(&self, rate: f64) -> Result<(), ConfigError> {
        self.update("error_rate", rate, |r| r.error = rate)
    }

    /// Change the latency rate and delay while traffic flows (checked like the builder's).
    ///
    /// # Errors
    /// A [`ConfigError`] when the rate is outside `[0, 1]`, the rates would add up to more
    /// than 1, or the delay is longer than ten years; nothing changes then.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tower_breakwater::chaos::Chaos;
    /// let chaos = Chaos::builder("db").build().unwrap();
    /// chaos.set_latency(1.0, Duration::from_millis(20)).unwrap();
    /// assert_eq!(chaos.latency(), (1.0, Duration::from_millis(20)));
    /// ```
    pub fn set_latency(&self, rate: f64, delay: Duration) -> Result<(), ConfigError> {
        self.update("latency", rate, |r| {
            r.latency = rate;
            r.delay = delay;
        })
    }

    /// Change the hang rate while traffic flows (checked like the builder's).
    ///
    /// # Errors
    /// A [`ConfigError`] when the rate is outside `[0, 1]` or the rates would add up to more
    /// than 1; nothing changes then.
    ///
    /// ```
    /// # use tower_breakwater::chaos::Chaos;
    /// let chaos = Chaos::builder("db").build().unwrap();
    /// chaos.set_hang_rate(0.25).unwrap();
    /// assert_eq!(chaos.hang_rate(), 0.25);
    /// ```
    pub fn set_hang_rate(&self, rate: f64) -> Result<(), ConfigError> {
        self.update("hang_rate", rate, |r| r.hang = rate)
    }

    /// Change the abort rate while traffic flows (checked like the builder's).
    ///
    /// # Errors
    /// A [`ConfigError`] when the rate is outside `[0, 1]` or the rates would add up to more
    /// than 1; nothing changes then.
    ///
    /// ```
    /// # use tower_breakwater::chaos::Chaos;
    /// let chaos = Chaos::builder("db").build().unwrap();
    /// assert_eq!(chaos.set_abort_rate(-1.0).unwrap_err().field(), "abort_rate");
    /// ```
    pub fn set_abort_rate(&self, rate: f64) -> Result<(), ConfigError> {
        self.update("abort_rate", rate, |r| r.abort = rate)
    }

    /// What this handle has injected so far. Each count is exact; read while calls run,
    /// they may be from slightly different instants.
    ///
    /// ```
    /// # use tower_breakwater::chaos::Chaos;
    /// let chaos = Chaos::builder("db").build().unwrap();
    /// assert_eq!(chaos.stats(), Default::default());
    /// ```
    #[must_use]
    pub fn stats(&self) -> Stats {
        let s = &self.shared;
        Stats {
            calls: s.calls.load(Relaxed),
            errors: s.errors.load(Relaxed),
            delays: s.delays.load(Relaxed),
            hangs: s.hangs.load(Relaxed),
            aborts: s.aborts.load(Relaxed),
        }
    }

    fn update(
        &self,
        field: &'static str,
        rate: f64,
        change: impl FnOnce(&mut Rates),
    ) -> Result<(), ConfigError> {
        let mut rates = self.shared.rates.lock();
        let mut next = *rates;
        change(&mut next);
        // Blame the rate being changed (the builder's order might name another one), but
        // keep an error about the field itself (a bad delay) as it is.
        next.validate(self.name())
            .map_err(|e| match e.field() == field {
                true => e,
                false => ConfigError::new(self.name(), field, rate, e.expected()),
            })?;
        self.shared.publish(&next);
        *rates = next;
        Ok(())
    }

    /// Draw the fault of one call: one `Relaxed` load when switched off; when on, one
    /// counter increment, a hash of (seed, call number) and a few loads.
    #[inline]
    pub(crate) fn decide(&self) -> Decision {
        let s = &*self.shared;
        if !s.enabled.load(Relaxed) {
            return Decision::Pass;
        }
        let n = s.calls.fetch_add(1, Relaxed);
        // wyrand's first output for seed + n: a well-mixed 32-bit roll that depends only on
        // (seed, n), so a run is replayed by its seed whatever the threads do.
        let roll = u64::from(fastrand::Rng::with_seed(s.seed.wrapping_add(n)).u32(..));
        let mut edge = s.error.load(Relaxed);
        if roll < edge {
            s.errors.fetch_add(1, Relaxed);
            return Decision::Error;
        }
        edge += s.hang.load(Relaxed);
        if roll < edge {
            s.hangs.fetch_add(1, Relaxed);
            return Decision::Hang;
        }
        edge += s.abort.load(Relaxed);
        if roll < edge {
            s.aborts.fetch_add(1, Relaxed);
            return Decision::Abort;
        }
        edge += s.latency.load(Relaxed);
        if roll < edge {
            s.delays.fetch_add(1, Relaxed);
            return Decision::Delay(Duration::from_nanos(s.delay_nanos.load(Relaxed)));
        }
        Decision::Pass
    }

    pub(crate) fn name_handle(&self) -> &Name {
        &self.shared.name
    }
}

impl Shared {
    fn publish(&self, rates: &Rates) {
        self.error.store(threshold(rates.error), Relaxed);
        self.hang.store(threshold(rates.hang), Relaxed);
        self.abort.store(threshold(rates.abort), Relaxed);
        self.latency.store(threshold(rates.latency), Relaxed);
        // Validated to at most ten years: the nanoseconds fit in a u64.
        self.delay_nanos
            .store(rates.delay.as_nanos() as u64, Relaxed);
    }
}

impl fmt::Debug for Chaos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Chaos")
            .field("name", &self.shared.name)
            .field("enabled", &self.is_enabled())
            .field("seed", &self.shared.seed)
            .field("rates", &*self.shared.rates.lock())
            .field("stats", &self.stats())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draws(chaos: &Chaos, n: usize) -> Vec<Decision> {
        (0..n).map(|_| chaos.decide()).collect()
    }

    fn mixed(seed: u64) -> Chaos {
        Chaos::builder("t")
            .error_rate(0.1)
            .latency(0.2, Duration::from_millis(5))
            .hang_rate(0.05)
            .abort_rate(0.05)
            .seed(seed)
            .build()
            .unwrap()
    }

    #[test]
    fn the_same_seed_draws_the_same_faults() {
        assert_eq!(draws(&mixed(3), 1000), draws(&mixed(3), 1000));
        assert_ne!(draws(&mixed(3), 1000), draws(&mixed(4), 1000));
    }

    #[test]
    fn rates_are_met_and_counted() {
        let chaos = mixed(11);
        let n = 100_000;
        let got = draws(&chaos, n);
        let count = |d: fn(&Decision) -> bool| got.iter().filter(|x| d(x)).count() as u64;
        let stats = chaos.stats();
        assert_eq!(stats.calls, n as u64);
        assert_eq!(stats.errors, count(|d| *d == Decision::Error));
        assert_eq!(stats.hangs, count(|d| *d == Decision::Hang));
        assert_eq!(stats.aborts, count(|d| *d == Decision::Abort));
        assert_eq!(stats.delays, count(|d| matches!(d, Decision::Delay(_))));
        // Within 4 standard deviations of a binomial draw (about 0.004 at a rate of 0.05 over
        // 100,000 calls): a bias of a few percent of the rate fails it.
        let near = |got: u64, rate: f64| {
            let sigma = (rate * (1.0 - rate) / n as f64).sqrt();
            (got as f64 / n as f64 - rate).abs() < 4.0 * sigma
        };
        assert!(near(stats.errors, 0.1), "{stats:?}");
        assert!(near(stats.delays, 0.2), "{stats:?}");
        assert!(near(stats.hangs, 0.05), "{stats:?}");
        assert!(near(stats.aborts, 0.05), "{stats:?}");
    }

    #[test]
    fn the_ends_of_the_range_are_exact() {
        let always = Chaos::builder("t").error_rate(1.0).build().unwrap();
        assert!(draws(&always, 10_000).iter().all(|d| *d == Decision::Error));
        let never = Chaos::builder("t").build().unwrap();
        assert!(draws(&never, 10_000).iter().all(|d| *d == Decision::Pass));
    }

    #[test]
    fn switched_off_it_neither_injects_nor_counts() {
        let chaos = mixed(1);
        chaos.disable();
        assert!(draws(&chaos, 1000).iter().all(|d| *d == Decision::Pass));
        assert_eq!(chaos.stats(), Stats::default());
    }

    #[test]
    fn a_rejected_change_changes_nothing() {
        let chaos = mixed(1);
        let before = draws(&mixed(1), 200);
        let err = chaos.set_hang_rate(0.9).unwrap_err();
        assert_eq!(err.field(), "hang_rate");
        assert_eq!(draws(&chaos, 200), before);
        chaos.set_error_rate(0.0).unwrap();
        chaos.set_latency(0.0, Duration::ZERO).unwrap();
        chaos.set_hang_rate(0.0).unwrap();
        chaos.set_abort_rate(0.0).unwrap();
        assert!(draws(&chaos, 1000).iter().all(|d| *d == Decision::Pass));
    }
}
