//! How long to wait before each retry: the backoff curve, and the jitter spread over it.

use std::time::Duration;

/// The curve of waits between attempts: constant, exponential, or decorrelated jitter.
///
/// Values are checked when the retry layer is built
/// ([`Builder::build`](super::Builder::build)), not here.
///
/// ```
/// use std::time::Duration;
/// use tower_breakwater::retry::{Backoff, Jitter};
///
/// let ms = Duration::from_millis;
/// let backoff = Backoff::exponential(ms(100), 2.0, ms(500));
/// let waits: Vec<_> = backoff.delays(Jitter::None, 0).take(5).collect();
/// assert_eq!(waits, [ms(100), ms(200), ms(400), ms(500), ms(500)]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff(pub(crate) Curve);

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Curve {
    Constant(Duration),
    Exponential {
        base: Duration,
        factor: f64,
        cap: Duration,
    },
    Decorrelated {
        base: Duration,
        cap: Duration,
    },
}

/// How a backoff's wait is spread at random, so that callers who failed together do not all
/// come back at the same instant.
///
/// It applies to [`Backoff::constant`] and [`Backoff::exponential`];
/// [`Backoff::decorrelated`] is random already and takes none.
///
/// ```
/// use std::time::Duration;
/// use tower_breakwater::retry::{Backoff, Jitter};
///
/// let d = Duration::from_millis(100);
/// for wait in Backoff::constant(d).delays(Jitter::Equal, 7).take(100) {
///     assert!(wait >= d / 2 && wait <= d);
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Deserialize),
    serde(rename_all = "snake_case")
)]
#[non_exhaustive]
pub enum Jitter {
    /// Wait exactly the backoff's delay `d`.
    None,
    /// Wait a uniformly random time in `[0, d]` (the spread AWS's architecture blog
    /// recommends: the least total load on the callee). The default.
    #[default]
    Full,
    /// Wait `d/2` plus a uniformly random time in `[0, d/2]`: never less than half.
    Equal,
}

impl Backoff {
    /// Wait `delay` before every retry. `Duration::ZERO` retries at once.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_breakwater::retry::{Backoff, Jitter};
    /// let s = Duration::from_secs(1);
    /// assert!(Backoff::constant(s).delays(Jitter::None, 0).take(3).all(|d| d == s));
    /// ```
    #[must_use]
    pub fn constant(delay: Duration) -> Self {
        Backoff(Curve::Constant(delay))
    }

    /// Wait `base` before the first retry, `base * factor` before the second,
    /// `base * factor²` before the third, ... never more than `cap`. `base` must be above
    /// zero, `factor` at least 1, `cap` at least `base`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_breakwater::retry::{Backoff, Jitter};
    /// let ms = Duration::from_millis;
    /// let waits: Vec<_> = Backoff::exponential(ms(10), 3.0, ms(100))
    ///     .delays(Jitter::None, 0)
    ///     .take(4)
    ///     .collect();
    /// assert_eq!(waits, [ms(10), ms(30), ms(90), ms(100)]);
    /// ```
    #[must_use]
    pub fn exponential(base: Duration, factor: f64, cap: Duration) -> Self {
        Backoff(Curve::Exponential { base, factor, cap })
    }

    /// "Decorrelated jitter" (AWS architecture blog, *Exponential Backoff And Jitter*): each
    /// wait is uniformly random in `[base, min(cap, 3 × previous wait)]`, the first previous
    /// wait being `base`. Grows about as fast as an exponential backoff while staying spread.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_breakwater::retry::{Backoff, Jitter};
    /// let (base, cap) = (Duration::from_millis(10), Duration::from_secs(1));
    /// let mut prev = base;
    /// for wait in Backoff::decorrelated(base, cap).delays(Jitter::None, 42).take(50) {
    ///     assert!(wait >= base && wait <= cap.min(prev * 3));
    ///     prev = wait;
    /// }
    /// ```
    #[must_use]
    pub fn decorrelated(base: Duration, cap: Duration) -> Self {
        Backoff(Curve::Decorrelated { base, cap })
    }

    /// The waits before the first, second, ... retry, drawn with a random generator seeded
    /// with `seed`: the same seed gives the same waits. To preview a schedule or test one;
    /// the retry layer draws its own. (`jitter` is ignored by a decorrelated backoff.)
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_breakwater::retry::{Backoff, Jitter};
    /// let b = Backoff::exponential(Duration::from_millis(100), 2.0, Duration::from_secs(5));
    /// let a: Vec<_> = b.delays(Jitter::Full, 9).take(8).collect();
    /// assert_eq!(a, b.delays(Jitter::Full, 9).take(8).collect::<Vec<_>>());
    /// ```
    #[must_use]
    pub fn delays(&self, jitter: Jitter, seed: u64) -> Delays {
        Delays {
            backoff: *self,
            jitter,
            rng: fastrand::Rng::with_seed(seed),
            retry: 0,
            prev: Duration::ZERO,
        }
    }

    /// The wait before retry number `retry` (1 for the first), `prev` being the wait drawn
    /// before the previous one (only a decorrelated backoff looks at it).
    ///
    /// Works in whole nanoseconds held in a `u64` (584 years, far above the largest cap
    /// the builder accepts), so bounds are exact and nothing can overflow or panic even on
    /// an unvalidated backoff.
    pub(crate) fn delay(
        &self,
        jitter: Jitter,
        retry: u32,
        prev: Duration,
        rng: &mut fastrand::Rng,
    ) -> Duration {
        let nanos = match self.0 {
            Curve::Constant(delay) => jitter.spread(nanos(delay), rng),
            Curve::Exponential { base, factor, cap } => {
                let exponent = retry.saturating_sub(1).min(i32::MAX as u32) as i32;
                // f64 holds whole nanoseconds exactly up to 2^53 ns (104 days); `min` keeps
                // an infinite product at the cap, and a NaN (never from a valid config)
                // becomes 0 through the saturating cast.
                let grown = (nanos(base) as f64 * factor.powi(exponent)).round();
                let d = grown.min(nanos(cap) as f64) as u64;
                jitter.spread(d, rng)
            }
            Curve::Decorrelated { base, cap } => {
                let (base, cap) = (nanos(base), nanos(cap));
                let prev = if prev.is_zero() { base } else { nanos(prev) };
                let high = cap.min(prev.saturating_mul(3)).max(base);
                rng.u64(base..=high)
            }
        };
        Duration::from_nanos(nanos)
    }
}

impl Jitter {
    /// Spread a wait of `d` nanoseconds.
    fn spread(self, d: u64, rng: &mut fastrand::Rng) -> u64 {
        match self {
            Jitter::None => d,
            Jitter::Full => rng.u64(0..=d),
            Jitter::Equal => {
                let half = d / 2;
                half + rng.u64(0..=d - half)
            }
        }
    }
}

/// A duration in whole nanoseconds, saturating at `u64::MAX` (584 years).
fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// The endless sequence of waits made by [`Backoff::delays`].
///
/// ```
/// use std::time::Duration;
/// use tower_breakwater::retry::{Backoff, Jitter};
/// let mut waits = Backoff::constant(Duration::from_secs(1)).delays(Jitter::None, 0);
/// assert_eq!(waits.next(), Some(Duration::from_secs(1)));
/// ```
#[derive(Debug, Clone)]
pub struct Delays {
    backoff: Backoff,
    jitter: Jitter,
    rng: fastrand::Rng,
    retry: u32,
    prev: Duration,
}

impl Iterator for Delays {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        self.retry = self.retry.saturating_add(1);
        let wait = self
            .backoff
            .delay(self.jitter, self.retry, self.prev, &mut self.rng);
        self.prev = wait;
        Some(wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn take(b: Backoff, jitter: Jitter, seed: u64, n: usize) -> Vec<Duration> {
        b.delays(jitter, seed).take(n).collect()
    }

    #[test]
    fn exponential_grows_by_factor_then_holds_at_cap() {
        let waits = take(
            Backoff::exponential(MS * 100, 2.0, MS * 1000),
            Jitter::None,
            0,
            6,
        );
        assert_eq!(
            waits,
            [MS * 100, MS * 200, MS * 400, MS * 800, MS * 1000, MS * 1000]
        );
    }

    #[test]
    fn exponential_factor_one_is_constant_and_fractions_round_to_the_nanosecond() {
        let flat = take(
            Backoff::exponential(MS * 7, 1.0, MS * 7),
            Jitter::None,
            0,
            3,
        );
        assert_eq!(flat, [MS * 7; 3]);
        let waits = take(
            Backoff::exponential(MS * 100, 1.5, MS * 1000),
            Jitter::None,
            0,
            3,
        );
        assert_eq!(waits, [MS * 100, MS * 150, MS * 225]);
    }

    #[test]
    fn very_late_retries_stay_at_the_cap_without_overflow() {
        let b = Backoff::exponential(MS, 10.0, Duration::from_secs(60));
        let mut rng = fastrand::Rng::with_seed(1);
        assert_eq!(
            b.delay(Jitter::None, u32::MAX, Duration::ZERO, &mut rng),
            Duration::from_secs(60)
        );
        // Unvalidated extremes do not panic either.
        let wild = Backoff::exponential(Duration::MAX, f64::INFINITY, Duration::MAX);
        let _ = wild.delay(Jitter::Full, 1_000, Duration::MAX, &mut rng);
        let nan = Backoff::exponential(MS, f64::NAN, MS);
        let _ = nan.delay(Jitter::Equal, 3, Duration::ZERO, &mut rng);
    }

    #[test]
    fn full_jitter_stays_in_zero_to_d_and_spreads() {
        let d = MS * 100;
        let waits = take(Backoff::constant(d), Jitter::Full, 3, 2000);
        assert!(waits.iter().all(|w| *w <= d));
        // Spread over the whole range, not stuck at one end.
        assert!(waits.iter().any(|w| *w < d / 10));
        assert!(waits.iter().any(|w| *w > d * 9 / 10));
    }

    #[test]
    fn equal_jitter_stays_in_half_d_to_d_and_spreads() {
        let d = MS * 100;
        let waits = take(Backoff::constant(d), Jitter::Equal, 4, 2000);
        assert!(waits.iter().all(|w| *w >= d / 2 && *w <= d));
        assert!(waits.iter().any(|w| *w < d * 55 / 100));
        assert!(waits.iter().any(|w| *w > d * 95 / 100));
    }

    #[test]
    fn jitter_applies_to_the_capped_exponential_delay() {
        let b = Backoff::exponential(MS * 10, 2.0, MS * 50);
        for seed in 0..50 {
            let waits = take(b, Jitter::Full, seed, 8);
            let exact = take(b, Jitter::None, 0, 8);
            assert!(waits.iter().zip(&exact).all(|(w, d)| w <= d));
        }
    }

    #[test]
    fn decorrelated_stays_between_base_and_three_times_previous_capped() {
        let (base, cap) = (MS * 10, MS * 400);
        for seed in 0..200 {
            let mut prev = base;
            for wait in Backoff::decorrelated(base, cap)
                .delays(Jitter::None, seed)
                .take(20)
            {
                assert!(wait >= base, "{wait:?} below base");
                assert!(
                    wait <= cap.min(prev * 3),
                    "{wait:?} above min(cap, 3 × {prev:?})"
                );
                prev = wait;
            }
        }
        // It does grow toward the cap.
        let late: Vec<_> = take(Backoff::decorrelated(base, cap), Jitter::None, 5, 40);
        assert!(late.iter().any(|w| *w > cap / 2));
    }

    #[test]
    fn same_seed_same_waits_other_seed_other_waits() {
        let b = Backoff::exponential(MS * 100, 2.0, MS * 10_000);
        assert_eq!(take(b, Jitter::Full, 11, 10), take(b, Jitter::Full, 11, 10));
        assert_ne!(take(b, Jitter::Full, 11, 10), take(b, Jitter::Full, 12, 10));
    }

    #[test]
    fn zero_constant_means_at_once() {
        assert_eq!(
            take(Backoff::constant(Duration::ZERO), Jitter::Full, 0, 3),
            [Duration::ZERO; 3]
        );
    }
}
