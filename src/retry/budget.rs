//! The retry budget: retries may add at most a fraction of the recent calls, plus a floor.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::ConfigError;

/// How many slices the window is kept in: it slides a tenth at a time.
const SLICES: usize = 10;
/// One retry, in the budget's units (millionths): a deposit is `ratio` retries.
const UNIT: u64 = 1_000_000;
/// A slice word counts calls in its low half and retries in its high half.
const ONE_CALL: u64 = 1;
const ONE_RETRY: u64 = 1 << 32;
const CALLS: u64 = ONE_RETRY - 1;
/// The slice clock is re-read after this many calls land in one slice (a power of two).
const CALLS_PER_CLOCK_READ: u64 = 64;
/// Set in the slice clock while one thread clears the slices that fell out of the window.
const ADVANCING: u64 = 1 << 63;

/// A retry budget shared by every retry layer it is given to, Finagle / Linkerd style: each
/// original call deposits `ratio` of a retry, each retry withdraws a whole one, and a floor
/// of `min_per_second` retries per second is always there. Both deposits and withdrawals
/// count only while they are in the sliding `window` (kept in ten slices).
///
/// So when everything fails, retries add at most `ratio` of the load plus the floor: within
/// any window, retries ≤ `ratio` × calls + `min_per_second` × `window`.
///
/// Defaults: `ratio` 0.2, `min_per_second` 10, `window` 10 s.
///
/// ```
/// use std::time::Duration;
/// use tower_breakwater::retry::Budget;
///
/// let budget = Budget::builder()
///     .ratio(0.1)
///     .min_per_second(1)
///     .window(Duration::from_secs(10))
///     .build()
///     .expect("valid budget");
/// assert_eq!(budget.available(), 10); // the floor: 1 per second over 10 s
/// for _ in 0..100 {
///     budget.deposit();
/// }
/// assert_eq!(budget.available(), 20); // plus 10% of 100 calls
/// assert!(budget.try_withdraw());
/// assert_eq!(budget.available(), 19);
/// ```
///
/// # Cost
/// Lock-free, no `Mutex` anywhere. A deposit is one atomic load of the slice clock and one
/// `fetch_add` on the current slice; it reads the clock only once every 64 calls in a slice
/// (a clock read costs more than the rest). A withdrawal (a retry, the slow path) reads the
/// clock, sums the ten slices and takes its retry with a compare-and-swap.
///
/// # How exact it is
/// Because deposits read the clock only every 64 calls, a call made after a quiet spell may
/// be counted in an older slice and leave the window early; after a spell longer than the
/// window, up to 63 such calls may be forgotten. Both err toward *fewer* retries, and only
/// when traffic is under ~64 calls per slice, where the floor dominates anyway. Concurrent
/// withdrawals in one slice are serialised by the compare-and-swap, so the budget is never
/// overdrawn within a slice; two withdrawals racing across a slice boundary may overdraw it
/// by one.
#[derive(Clone)]
pub struct Budget {
    shared: Arc<Shared>,
}

struct Shared {
    /// Which slice is current: slices of `slice_nanos` counted from `start`, with the
    /// `ADVANCING` bit set while one thread clears expired slices. Only moves forward.
    /// Stored with `Release` after the clearing, loaded with `Acquire` before touching a
    /// slice, so a call counted in the new slice cannot be wiped by that clearing.
    clock: AtomicU64,
    /// Slice `n` lives at `n % SLICES`: calls (low 32 bits) and retries (high 32 bits) made
    /// during it. Only the thread that advances the clock clears slices; everyone else only
    /// adds. Relaxed: each word is its own counter, the sum is a snapshot.
    ///
    /// The halves never carry into each other: a slice is at most 6 s (window ≤ 60 s), and
    /// 2^32 calls, or as many retries, in 6 s is beyond any one process.
    slices: [AtomicU64; SLICES],
    start: Instant,
    slice_nanos: u64,
    /// What one call deposits, in units: `ratio` × `UNIT`.
    deposit: u64,
    /// The floor, in units: `min_per_second` × `window` retries.
    reserve: u64,
    ratio: f64,
    min_per_second: u32,
    window: Duration,
}

impl Budget {
    /// Start building a budget (defaults: ratio 0.2, 10 retries per second, a 10 s window).
    ///
    /// ```
    /// use tower_breakwater::retry::Budget;
    /// let budget = Budget::builder().build().unwrap();
    /// assert_eq!(budget.available(), 100);
    /// ```
    pub fn builder() -> BudgetBuilder {
        BudgetBuilder {
            ratio: 0.2,
            min_per_second: 10,
            window: Duration::from_secs(10),
        }
    }

    /// Count one original call (the retry layer does this for every call it is given).
    ///
    /// ```
    /// use tower_breakwater::retry::Budget;
    /// let budget = Budget::builder().ratio(0.5).min_per_second(1).build().unwrap();
    /// budget.deposit();
    /// budget.deposit();
    /// assert_eq!(budget.available(), 11);
    /// ```
    #[inline]
    pub fn deposit(&self) {
        let s = &*self.shared;
        let slice = s.clock.load(Ordering::Acquire) & !ADVANCING;
        let before = s.slices[slice as usize % SLICES].fetch_add(ONE_CALL, Ordering::Relaxed);
        // The clock is read by the 64th, 128th, ... call of a slice.
        if before & (CALLS_PER_CLOCK_READ - 1) == CALLS_PER_CLOCK_READ - 1 {
            s.advance_now();
        }
    }

    /// Take one retry out of the budget: `false` (and nothing taken) if it cannot afford
    /// one.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_breakwater::retry::Budget;
    /// let budget = Budget::builder()
    ///     .ratio(0.0)
    ///     .min_per_second(1)
    ///     .window(Duration::from_secs(2))
    ///     .build()
    ///     .unwrap();
    /// assert!(budget.try_withdraw() && budget.try_withdraw());
    /// assert!(!budget.try_withdraw());
    /// ```
    #[must_use]
    pub fn try_withdraw(&self) -> bool {
        let s = &*self.shared;
        s.advance(Instant::now());
        loop {
            let slice = s.clock.load(Ordering::Acquire) & !ADVANCING;
            let current = &s.slices[slice as usize % SLICES];
            let seen = current.load(Ordering::Relaxed);
            if s.balance() < UNIT as i128 {
                return false;
            }
            // Fails if anything else was counted in this slice since `seen`: then the
            // balance is looked at again, so two withdrawals never share one retry's worth.
            if current
                .compare_exchange_weak(seen, seen + ONE_RETRY, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
            {
                return true;
            }
        }
    }

    /// Whether the budget can afford a retry right now. A hint (nothing is taken); the
    /// retry layer asks it before copying a request for a retry that may never be allowed.
    /// Reads the clock only when the answer would be no.
    ///
    /// ```
    /// use tower_breakwater::retry::Budget;
    /// let budget = Budget::builder().build().unwrap();
    /// assert!(budget.can_withdraw());
    /// ```
    #[inline]
    #[must_use]
    pub fn can_withdraw(&self) -> bool {
        self.shared.balance() >= UNIT as i128 || self.can_withdraw_now()
    }

    /// Expired slices still counted by `can_withdraw` (the clock was not re-read) hold
    /// retries as well as calls: on a "no", look again with the slices brought up to date.
    #[cold]
    fn can_withdraw_now(&self) -> bool {
        let s = &*self.shared;
        s.advance(Instant::now());
        s.balance() >= UNIT as i128
    }

    /// How many whole retries the budget could pay for now.
    ///
    /// ```
    /// use tower_breakwater::retry::Budget;
    /// let budget = Budget::builder().min_per_second(3).build().unwrap();
    /// assert_eq!(budget.available(), 30);
    /// ```
    #[must_use]
    pub fn available(&self) -> u64 {
        let s = &*self.shared;
        s.advance(Instant::now());
        u64::try_from(s.balance().max(0) / UNIT as i128).unwrap_or(u64::MAX)
    }

    /// The share of calls that may be retried.
    ///
    /// ```
    /// use tower_breakwater::retry::Budget;
    /// assert_eq!(Budget::builder().ratio(0.3).build().unwrap().ratio(), 0.3);
    /// ```
    #[must_use]
    pub fn ratio(&self) -> f64 {
        self.shared.ratio
    }

    /// The retries per second allowed whatever the traffic.
    ///
    /// ```
    /// use tower_breakwater::retry::Budget;
    /// assert_eq!(Budget::builder().build().unwrap().min_per_second(), 10);
    /// ```
    #[must_use]
    pub fn min_per_second(&self) -> u32 {
        self.shared.min_per_second
    }

    /// How long a call or a retry counts.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_breakwater::retry::Budget;
    /// assert_eq!(Budget::builder().build().unwrap().window(), Duration::from_secs(10));
    /// ```
    #[must_use]
    pub fn window(&self) -> Duration {
        self.shared.window
    }
}

impl Shared {
    #[cold]
    fn advance_now(&self) {
        self.advance(Instant::now());
    }

    /// Reserve plus deposits minus withdrawals over the slices, in units.
    #[inline]
    fn balance(&self) -> i128 {
        let (calls, retries) = self.slices.iter().fold((0u64, 0u64), |(c, r), slice| {
            let word = slice.load(Ordering::Relaxed);
            (c + (word & CALLS), r + (word >> 32))
        });
        self.reserve as i128 + calls as i128 * self.deposit as i128 - retries as i128 * UNIT as i128
    }

    /// Move the slice clock to `now`, clearing the slices that fell out of the window. One
    /// thread does it; any other that arrives meanwhile goes on with the slice it saw (its
    /// call is counted one slice early, which only makes it expire sooner).
    fn advance(&self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.start).as_nanos();
        let target = u64::try_from(elapsed / u128::from(self.slice_nanos)).unwrap_or(u64::MAX >> 1);
        let seen = self.clock.load(Ordering::Acquire);
        if seen & ADVANCING != 0 || target <= seen {
            return;
        }
        if self
            .clock
            .compare_exchange(seen, seen | ADVANCING, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return;
        }
        // Slices seen+1 ..= target start empty; at most the whole ring needs clearing.
        let first = (seen + 1).max(target.saturating_sub(SLICES as u64 - 1));
        for slice in first..=target {
            self.slices[slice as usize % SLICES].store(0, Ordering::Relaxed);
        }
        self.clock.store(target, Ordering::Release);
    }
}

impl fmt::Debug for Budget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &*self.shared;
        f.debug_struct("Budget")
            .field("ratio", &s.ratio)
            .field("min_per_second", &s.min_per_second)
            .field("window", &s.window)
            .field("balance", &(s.balance() as f64 / UNIT as f64))
            .finish()
    }
}

/// Builds a [`Budget`]; every value is checked in [`build`](BudgetBuilder::build).
///
/// ```
/// use std::time::Duration;
/// use tower_breakwater::retry::Budget;
/// let err = Budget::builder().ratio(1.5).build().unwrap_err();
/// assert_eq!(err.field(), "ratio");
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct BudgetBuilder {
    ratio: f64,
    min_per_second: u32,
    window: Duration,
}

impl BudgetBuilder {
    /// The share of recent calls that may be retried, in [0, 1] (default 0.2: retries add
    /// at most 20% to the load). 0 leaves only the floor.
    ///
    /// ```
    /// use tower_breakwater::retry::Budget;
    /// let budget = Budget::builder().ratio(0.05).build().unwrap();
    /// assert_eq!(budget.ratio(), 0.05);
    /// ```
    pub fn ratio(mut self, ratio: f64) -> Self {
        self.ratio = ratio;
        self
    }

    /// Retries per second allowed whatever the traffic (default 10), so a client that
    /// makes few calls can still retry: `min_per_second × window` retries are always in
    /// the budget.
    ///
    /// ```
    /// use tower_breakwater::retry::Budget;
    /// let budget = Budget::builder().min_per_second(2).build().unwrap();
    /// assert_eq!(budget.available(), 20);
    /// ```
    pub fn min_per_second(mut self, retries: u32) -> Self {
        self.min_per_second = retries;
        self
    }

    /// How long a call or a retry counts, from 1 s to 60 s (default 10 s). Kept in ten
    /// slices: the window slides by a tenth at a time.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_breakwater::retry::Budget;
    /// let budget = Budget::builder().window(Duration::from_secs(30)).build().unwrap();
    /// assert_eq!(budget.available(), 300);
    /// ```
    pub fn window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// Check every value and build the budget. Its window starts now (tokio's clock).
    ///
    /// # Errors
    /// A [`ConfigError`] naming the field: a ratio outside `[0, 1]`, a window outside 1 s
    /// to 60 s, or a ratio of 0 with no floor (no retry would ever be allowed).
    ///
    /// ```
    /// use tower_breakwater::retry::Budget;
    /// let err = Budget::builder().ratio(0.0).min_per_second(0).build().unwrap_err();
    /// assert_eq!(err.field(), "min_per_second");
    /// ```
    pub fn build(self) -> Result<Budget, ConfigError> {
        const NAME: &str = "retry budget";
        if !(0.0..=1.0).contains(&self.ratio) {
            return Err(ConfigError::new(
                NAME,
                "ratio",
                self.ratio,
                "a ratio in [0, 1]",
            ));
        }
        if self.window < Duration::from_secs(1) || self.window > Duration::from_secs(60) {
            return Err(ConfigError::new(NAME, "window", self.window, "1s to 60s"));
        }
        let deposit = (self.ratio * UNIT as f64).round() as u64;
        if deposit == 0 && self.min_per_second == 0 {
            return Err(ConfigError::new(
                NAME,
                "min_per_second",
                self.min_per_second,
                "above 0 when the ratio is 0 (else no retry is ever allowed)",
            ));
        }
        // ≤ 2^32 × 60 × 10^6 < 2^58: fits.
        let reserve = (f64::from(self.min_per_second) * self.window.as_secs_f64() * UNIT as f64)
            .round() as u64;
        Ok(Budget {
            shared: Arc::new(Shared {
                clock: AtomicU64::new(0),
                slices: Default::default(),
                start: Instant::now(),
                slice_nanos: (self.window.as_nanos() / SLICES as u128) as u64,
                deposit,
                reserve,
                ratio: self.ratio,
                min_per_second: self.min_per_second,
                window: self.window,
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use tokio::time::advance;

    const S: Duration = Duration::from_secs(1);

    fn budget(ratio: f64, min_per_second: u32, window: Duration) -> Budget {
        Budget::builder()
            .ratio(ratio)
            .min_per_second(min_per_second)
            .window(window)
            .build()
            .unwrap()
    }

    fn drain(b: &Budget) -> u64 {
        let mut n = 0;
        while b.try_withdraw() {
            n += 1;
        }
        n
    }

    #[tokio::test(start_paused = true)]
    async fn a_fresh_budget_holds_the_floor_only() {
        assert_eq!(budget(0.2, 10, 10 * S).available(), 100);
        assert_eq!(budget(0.2, 1, 5 * S).available(), 5);
        assert_eq!(drain(&budget(0.5, 3, 2 * S)), 6);
    }

    #[tokio::test(start_paused = true)]
    async fn each_call_deposits_the_ratio_and_each_retry_withdraws_one() {
        let b = budget(0.25, 0, 10 * S);
        assert!(!b.try_withdraw());
        for _ in 0..3 {
            b.deposit();
        }
        assert!(!b.try_withdraw(), "0.75 of a retry is not a retry");
        b.deposit();
        assert!(b.try_withdraw());
        assert!(!b.try_withdraw());
        for _ in 0..400 {
            b.deposit();
        }
        assert_eq!(drain(&b), 100);
    }

    #[tokio::test(start_paused = true)]
    async fn deposits_leave_the_window() {
        let b = budget(1.0, 0, 10 * S);
        for _ in 0..10 {
            b.deposit();
        }
        advance(9 * S + S / 2).await;
        assert_eq!(b.available(), 10, "still in the window");
        advance(S).await;
        assert_eq!(b.available(), 0, "their slice has left the window");
    }

    #[tokio::test(start_paused = true)]
    async fn the_window_slides_a_slice_at_a_time() {
        let b = budget(1.0, 0, 10 * S);
        for second in 0..10 {
            // A retry (or `available`) reads the clock and moves the slices on.
            let _ = b.available();
            for _ in 0..=second {
                b.deposit(); // second n: n + 1 calls
            }
            advance(S).await;
        }
        // Now 10 s in: the slice of second 0 (1 call) has gone.
        assert_eq!(b.available(), 55 - 1);
        advance(3 * S).await;
        assert_eq!(b.available(), 55 - 1 - 2 - 3 - 4);
    }

    #[tokio::test(start_paused = true)]
    async fn quiet_traffic_is_counted_early_never_late() {
        // Under 64 calls per slice and no retry, nothing reads the clock: the calls land in
        // the last slice the clock was moved to, and leave the window with it — sooner
        // than they should, never later (fewer retries, not more).
        let b = budget(1.0, 0, 10 * S);
        for _ in 0..10 {
            b.deposit();
            advance(S / 2).await;
        }
        assert_eq!(b.available(), 10, "5 s in: all still counted");
        advance(5 * S).await;
        assert_eq!(b.available(), 0, "all counted in slice 0, gone at 10 s");
    }

    #[tokio::test(start_paused = true)]
    async fn withdrawals_leave_the_window_and_the_floor_refills() {
        let b = budget(0.0, 2, 5 * S);
        assert_eq!(drain(&b), 10);
        assert!(!b.can_withdraw());
        advance(5 * S).await;
        assert!(b.can_withdraw(), "a no looks at the clock again");
        assert_eq!(drain(&b), 10);
    }

    #[tokio::test(start_paused = true)]
    async fn a_long_quiet_spell_clears_everything() {
        let b = budget(1.0, 0, 10 * S);
        for _ in 0..50 {
            b.deposit();
        }
        assert_eq!(drain(&b), 50);
        advance(3600 * S).await;
        assert_eq!(b.available(), 0);
        b.deposit();
        assert_eq!(b.available(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn busy_deposits_keep_the_slice_clock_moving() {
        // 64 calls per slice make a deposit read the clock; no withdrawal needed.
        let b = budget(1.0, 0, 10 * S);
        for _ in 0..64 {
            b.deposit();
        }
        advance(2 * S).await;
        for _ in 0..64 {
            b.deposit(); // the 64th moves the clock to slice 2
        }
        let slice = b.shared.clock.load(Ordering::Relaxed);
        assert_eq!(slice, 2);
    }

    #[tokio::test(start_paused = true)]
    async fn clones_share_one_budget() {
        let a = budget(0.0, 1, S);
        let b = a.clone();
        assert!(a.try_withdraw());
        assert!(!b.try_withdraw());
    }

    #[test]
    fn concurrent_withdrawals_never_overdraw() {
        // No runtime, so tokio's Instant is the real clock: draining takes far less than
        // the 1 s window, so exactly the floor can be taken. Withdrawals racing in one
        // slice are serialised by the compare-and-swap; two racing across a 100 ms slice
        // boundary may overdraw by one (documented), hence the `..=1001`.
        let b = budget(0.0, 1000, S);
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let b = b.clone();
                std::thread::spawn(move || drain(&b))
            })
            .collect();
        let taken: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert!(
            (1000..=1001).contains(&taken),
            "{taken} retries taken from 1000"
        );
    }

    #[test]
    fn every_bad_value_names_its_field() {
        let cases = [
            (Budget::builder().ratio(-0.1), "ratio"),
            (Budget::builder().ratio(1.01), "ratio"),
            (Budget::builder().ratio(f64::NAN), "ratio"),
            (
                Budget::builder().window(Duration::from_millis(999)),
                "window",
            ),
            (Budget::builder().window(Duration::from_secs(61)), "window"),
            (
                Budget::builder().ratio(0.0).min_per_second(0),
                "min_per_second",
            ),
        ];
        for (builder, field) in cases {
            assert_eq!(builder.build().unwrap_err().field(), field);
        }
        assert!(Budget::builder()
            .ratio(0.0)
            .min_per_second(1)
            .build()
            .is_ok());
        assert!(Budget::builder()
            .ratio(1.0)
            .min_per_second(0)
            .build()
            .is_ok());
    }
}
