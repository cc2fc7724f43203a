//! One breaker's shared state: the state word, the window, the per-thread counters and the
//! transition events. Every handle, service and permit of a breaker reaches this same `Core`.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::broadcast;
use tokio::time::Instant;

use super::abandoned::Abandoned;
use super::blocks::{bump, Blocks, ThreadBlock};
use super::config::{Config, RateRule};
use super::error::Deadline;
use super::events::Transition;
use super::local;
use super::ramp::RampStart;
use super::snapshot::{Snapshot, Totals, WindowCounts};
use super::state::{Admission, BusyPath, Refusal, State, StateWord, Ticket, TrialResult};
use super::window::{Consecutive, CountWindow, Counts, TimeWindow, Window};
use crate::classify::Outcome;

/// Rejections one thread sees in one open period before it arms a timer to end the period.
const ARM_AFTER_REJECTIONS: u64 = 64;

/// Time-window successes one thread buckets by reading the clock before it tries to start a
/// ticker for the window's bucket clock (and again every as many while there is none).
const TICK_AFTER_CLOCK_READS: u64 = 64;

/// `nanos` after `origin`; past the range of the platform's `Instant` (where `+` panics),
/// thirty years on instead (a deadline that far is "never").
pub(crate) fn instant_after(origin: Instant, nanos: u64) -> Instant {
    let far = Duration::from_secs(86_400 * 365 * 30);
    origin
        .checked_add(Duration::from_nanos(nanos))
        .or_else(|| origin.checked_add(far))
        .unwrap_or(origin)
}

/// The fields every closed-path call reads come first, on one cache line (`repr(C)` keeps the
/// order, the alignment keeps them off a line boundary): with many breakers each call then
/// misses on one line of its breaker, not on three. What calls do not read (the config, the
/// threads' counters, the transition counts) is boxed: the core stays small (320 bytes with
/// its reference counts, 12 to a 4 KiB page; 704 before, 5), so round robin over 100,000
/// breakers crosses a page about every 12 calls, not every 5.
#[derive(Debug)]
#[repr(C, align(64))]
pub(crate) struct Core {
    pub(crate) state: StateWord,
    /// Unique among live breakers; carried in every permit's ticket.
    pub(crate) id: u32,
    /// Whether permits note when their call starts: set from the start by a slow-call rule,
    /// or later when a metrics registration asks for call durations. Relaxed: a permit
    /// made just before the switch is simply not timed.
    timed: AtomicBool,
    /// The trip rule and its window (a consecutive rule's run is within the first line).
    window: Window,
    pub(crate) config: Box<Config>,
    /// Time zero of this breaker's clock: all times below are nanoseconds since it.
    origin: Instant,
    /// Every live thread's counters and the sum of those gone (see `blocks.rs`); locked to
    /// add or retire a thread's block, and to sum.
    blocks: Box<Mutex<Blocks>>,
    /// Trips since the last successful close; grows `open_for`. Written by transition
    /// winners only.
    trips_in_a_row: AtomicU32,
    /// When the current state began; written by transition winners only.
    state_since: AtomicU64,
    /// `transitions[from][to]`, by `State::index` (32 bits: four billion transitions).
    transitions: Box<[[AtomicU32; 5]; 5]>,
    /// Made by the first `subscribe` (a channel of 64 transitions is 4 KiB, more than the
    /// rest of the breaker).
    events: OnceLock<broadcast::Sender<Transition>>,
    /// The histogram of call durations (`circuit_breaker_call_duration_seconds`), once a
    /// metrics registration asked for it; never taken back.
    #[cfg(feature = "metrics")]
    pub(crate) durations: std::sync::OnceLock<prometheus::Histogram>,
    /// When the current half-open episode began, for a ramp (see `ramp.rs`).
    pub(super) ramp_start: RampStart,
    /// The policy for abandoned calls, if one is set (see `abandoned.rs`).
    abandoned: Option<Abandoned>,
    /// User handles (`CircuitBreaker` values); the last one to go clears `alive`. Far from
    /// the first line: axum clones a service (and so counts a handle) per request.
    users: AtomicUsize,
    /// False once the last user handle is dropped (lets thread caches let go of it).
    alive: AtomicBool,
}

impl Core {
    pub(crate) fn new(config: Config, id: u32) -> Core {
        let window = Window::new(&config.rule);
        Core {
            id,
            state: StateWord::new(),
            origin: Instant::now(),
            blocks: Box::new(Mutex::new(Blocks::new(window.buckets()))),
            window,
            trips_in_a_row: AtomicU32::new(0),
            state_since: AtomicU64::new(0),
            transitions: Box::default(),
            events: OnceLock::new(),
            alive: AtomicBool::new(true),
            users: AtomicUsize::new(1),
            timed: AtomicBool::new(config.slower_than().is_some()),
            #[cfg(feature = "metrics")]
            durations: std::sync::OnceLock::new(),
            ramp_start: RampStart::default(),
            abandoned: config.abandoned_above.map(Abandoned::new),
            config: Box::new(config),
        }
    }

    /// Whether a new permit should note its start time (see `timed`).
    #[inline]
    pub(crate) fn times_calls(&self) -> bool {
        self.timed.load(Relaxed)
    }

    /// Observe every admitted call's duration into `histogram` from now on (the first one
    /// given stays).
    #[cfg(feature = "metrics")]
    pub(crate) fn observe_durations(&self, histogram: prometheus::Histogram) {
        let _ = self.durations.set(histogram);
        self.timed.store(true, Relaxed);
    }

    /// Put a finished call's duration in the histogram, if there is one. `started` is the
    /// permit's start (`u64::MAX` if not timed); `elapsed` what the slow-call rule was
    /// given (`Duration::MAX` for a timeout, whose real duration is read here).
    #[cfg(feature = "metrics")]
    #[inline]
    pub(crate) fn observe_duration(&self, started: u64, elapsed: Option<Duration>) {
        let (Some(histogram), Some(elapsed)) = (self.durations.get(), elapsed) else {
            return;
        };
        let elapsed = match elapsed {
            Duration::MAX => Duration::from_nanos(self.now().saturating_sub(started)),
            elapsed => elapsed,
        };
        histogram.observe(elapsed.as_secs_f64());
    }

    /// Nanoseconds since this breaker was built, on tokio's clock (so a paused test clock
    /// drives it).
    pub(crate) fn now(&self) -> u64 {
        let since = Instant::now().saturating_duration_since(self.origin);
        u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
    }

    /// `nanos` on this breaker's clock as an `Instant` (see [`instant_after`]).
    pub(crate) fn instant(&self, nanos: u64) -> Instant {
        instant_after(self.origin, nanos)
    }

    /// `nanos` on this breaker's clock, as a rejection carries it (see [`Deadline`]).
    #[inline]
    pub(crate) fn deadline(&self, nanos: u64) -> Deadline {
        Deadline {
            origin: self.origin,
            after_nanos: nanos,
        }
    }

    fn bucket_nanos(&self) -> u64 {
        match &self.window {
            Window::Time(t, _) => t.bucket_nanos,
            _ => u64::MAX,
        }
    }

    /// How many time-window buckets a thread's block needs.
    pub(crate) fn buckets(&self) -> usize {
        self.window.buckets()
    }

    /// Start reading `block`, which this thread is about to write.
    pub(crate) fn adopt(&self, block: Arc<ThreadBlock>) {
        self.blocks.lock().adopt(block);
    }

    /// `block`'s thread is done with it: keep its counts, drop the block.
    pub(crate) fn retire(&self, block: &Arc<ThreadBlock>) {
        self.blocks.lock().retire(block);
    }

    /// Keep the counts of a block that served one call only (see `local::miss`).
    pub(crate) fn fold(&self, block: &ThreadBlock) {
        self.blocks.lock().fold(block);
    }

    /// Blocks of live threads (a structural measure, for tests and benches).
    #[cfg(test)]
    pub(crate) fn live_blocks(&self) -> usize {
        self.blocks.lock().live()
    }

    pub(crate) fn is_alive(&self) -> bool {
        self.alive.load(Relaxed)
    }

    /// One more user handle.
    pub(crate) fn hold(&self) {
        self.users.fetch_add(1, Relaxed);
    }

    /// One user handle less; the last one marks the breaker dropped.
    pub(crate) fn release(&self) {
        if self.users.fetch_sub(1, Relaxed) == 1 {
            self.alive.store(false, Relaxed);
        }
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Transition> {
        self.events
            .get_or_init(|| broadcast::channel(64).0)
            .subscribe()
    }

    /// Admit or refuse one call. Reads the clock only when open.
    #[inline]
    pub(crate) fn acquire(&self) -> Result<Ticket, Refusal> {
        // Closed, or open with a timer to end it: one load, a few bit operations.
        match self.state.busy_path() {
            BusyPath::Closed(generation) => Ok(Ticket::closed(generation).with_breaker(self.id)),
            BusyPath::Refused(refusal) => Err(refusal),
            BusyPath::Neither => self.acquire_slow(),
        }
    }

    #[cold]
    #[inline(never)]
    fn acquire_slow(&self) -> Result<Ticket, Refusal> {
        if let Some(ramp) = &self.config.ramp {
            if let Some(decided) = self.admit_ramp(ramp) {
                return decided;
            }
        }
        let ticket = self
            .state
            .admit(self.config.half_open_permits, || self.now())?
            .with_breaker(self.id);
        if let Admission::Trial {
            generation,
            opened_half: true,
        } = ticket.admission()
        {
            self.ramp_start.publish(generation, self.now());
            self.announce(State::Open, State::HalfOpen, generation);
        }
        Ok(ticket)
    }

    /// Record the end of an admitted call. `elapsed` is given only when a slow-call rule
    /// asked for the call to be timed.
    ///
    /// Only the common case is inline (closed, under the consecutive rule, nothing to
    /// change). Always inlined into its few callers, which are out of line themselves
    /// (`local::record_in_full`, `record_timed`): one call level less on every failure.
    #[inline(always)]
    pub(crate) fn record(
        self: &Arc<Self>,
        block: &ThreadBlock,
        ticket: Ticket,
        outcome: Outcome,
        elapsed: Option<Duration>,
    ) {
        let slow = match (elapsed, self.config.slower_than()) {
            (Some(elapsed), Some(limit)) => elapsed > limit,
            _ => false,
        };
        match outcome {
            Outcome::Success => bump(&block.successes, 1),
            Outcome::Failure => bump(&block.failures, 1),
            Outcome::Ignored => bump(&block.ignored, 1),
        }
        if slow {
            bump(&block.slow, 1);
        }
        match ticket.admission() {
            Admission::Passthrough => {}
            Admission::Closed { generation } => {
                if outcome != Outcome::Ignored {
                    self.record_closed(block, generation, outcome == Outcome::Failure, slow);
                }
            }
            Admission::Trial { generation, .. } => {
                self.record_trial(block, generation, outcome, slow)
            }
        }
    }

    /// Count a success that changes nothing but this thread's count of successes, and say
    /// so; false (nothing counted) when the success needs [`record`](Self::record): a
    /// trial, a run of failures to end, a time window with no bucket clock.
    ///
    /// This is the whole closed path of a healthy breaker, kept apart from `record` so the
    /// thread-local lookup around it stays small (see `local::record_untimed`).
    #[inline]
    pub(crate) fn record_quiet_success(&self, block: &ThreadBlock, ticket: Ticket) -> bool {
        let quiet = ticket.is_closed() && self.quiet_success(block, ticket.generation());
        if quiet {
            bump(&block.successes, 1);
        }
        quiet
    }

    /// Put a (fast) success of closed period `generation` in the window if that is all it
    /// takes, and say so; false (nothing done) if it needs the rule's full path. The one
    /// place that knows a healthy breaker's success, for `record_quiet_success` and
    /// `record_closed` alike.
    #[inline]
    fn quiet_success(&self, block: &ThreadBlock, generation: u32) -> bool {
        match &self.window {
            // A success over no run of failures: the run stays at zero.
            Window::Consecutive(run) => run.run() == 0,
            // A success over a settled window (full, all good) changes nothing; over any
            // other, it only takes its slot (no rule to check: a success cannot trip).
            Window::Count(window, _) => {
                if !window.settled() {
                    self.take_count_slot(block, window, generation, false, false);
                }
                true
            }
            // A busy breaker's success goes in the bucket its bucket clock gives: nearly
            // always the one this thread used last (which needs no look at the state).
            Window::Time(window, _) => match window.clock.epoch() {
                Some(epoch) => {
                    self.record_ticked_success(block, window, generation, epoch);
                    true
                }
                None => false,
            },
        }
    }

    #[inline(never)]
    fn record_trial(
        self: &Arc<Self>,
        block: &ThreadBlock,
        generation: u32,
        outcome: Outcome,
        slow: bool,
    ) {
        match outcome {
            Outcome::Ignored => {
                self.state.release_permit(generation);
            }
            // A ramp closes on time, not on a number of successes.
            Outcome::Success if !slow && self.config.ramp.is_some() => {}
            Outcome::Success if !slow => {
                let threshold = self.config.success_threshold;
                if self.state.trial_success(generation, threshold) == TrialResult::ReachedThreshold
                {
                    self.close(generation);
                }
            }
            _ => {
                if outcome == Outcome::Failure
                    && self.state.state() == (State::HalfOpen, generation)
                {
                    bump(&block.counted_failures, 1);
                }
                self.trip(generation, State::HalfOpen)
            }
        }
    }

    #[inline]
    fn record_closed(
        self: &Arc<Self>,
        block: &ThreadBlock,
        generation: u32,
        failed: bool,
        slow: bool,
    ) {
        if !failed && !slow && self.quiet_success(block, generation) {
            return;
        }
        match &self.window {
            Window::Consecutive(run) => self.record_consecutive(block, run, generation, failed),
            Window::Count(window, rule) => {
                self.record_count(block, window, rule, generation, failed, slow)
            }
            Window::Time(window, rule) => {
                self.record_time(block, window, rule, generation, failed, slow)
            }
        }
    }

    /// Whether the closed period `generation` is still on: an outcome of an earlier one
    /// counts nowhere.
    #[inline]
    fn still_closed(&self, generation: u32) -> bool {
        self.state.state() == (State::Closed, generation)
    }

    /// A failure, or the success that ends a run of failures, under the consecutive rule.
    #[inline(never)]
    fn record_consecutive(
        self: &Arc<Self>,
        block: &ThreadBlock,
        run: &Consecutive,
        generation: u32,
        failed: bool,
    ) {
        if !self.still_closed(generation) {
            return;
        }
        if !failed {
            run.success();
            return;
        }
        bump(&block.counted_failures, 1);
        if run.failure() >= run.threshold {
            self.trip(generation, State::Closed);
        }
    }

    /// A success of closed period `generation` in bucket `epoch` of a ticked time window:
    /// nearly always in the bucket this thread used last, which needs no look at the state
    /// (see `TimeWindow::count_success_in_last_bucket`).
    #[inline]
    fn record_ticked_success(
        &self,
        block: &ThreadBlock,
        window: &TimeWindow,
        generation: u32,
        epoch: u64,
    ) {
        if !window.count_success_in_last_bucket(block, generation, epoch)
            && self.still_closed(generation)
        {
            window.record_in(block, generation, epoch, false, false);
        }
    }

    /// An outcome of closed period `generation` takes its slot in the count window; false
    /// (nothing recorded) if that period is over. Out of line: it is the common path only
    /// while the window is not settled.
    #[inline(never)]
    fn take_count_slot(
        &self,
        block: &ThreadBlock,
        window: &CountWindow,
        generation: u32,
        failed: bool,
        slow: bool,
    ) -> bool {
        let current = self.still_closed(generation);
        if current {
            window.record(block, generation, failed, slow);
        }
        current
    }

    #[inline(never)]
    fn record_count(
        self: &Arc<Self>,
        block: &ThreadBlock,
        window: &CountWindow,
        rule: &RateRule,
        generation: u32,
        failed: bool,
        slow: bool,
    ) {
        if !self.take_count_slot(block, window, generation, failed, slow) {
            return;
        }
        if failed {
            bump(&block.counted_failures, 1);
        }
        if failed || slow {
            self.maybe_trip(generation, rule, window.counts());
        }
    }

    #[inline(never)]
    fn record_time(
        self: &Arc<Self>,
        block: &ThreadBlock,
        window: &TimeWindow,
        rule: &RateRule,
        generation: u32,
        failed: bool,
        slow: bool,
    ) {
        if !self.still_closed(generation) {
            return;
        }
        if failed || slow {
            // May trip, which needs `now` anyway: the exact bucket, and the bucket
            // clock caught up for the successes that follow.
            let now = self.now();
            let epoch = window.epoch(now);
            window.clock.catch_up(epoch);
            window.record_in(block, generation, epoch, failed, slow);
            if failed {
                bump(&block.counted_failures, 1);
            }
            let counts = window.counts(&self.blocks.lock(), generation, now);
            self.maybe_trip(generation, rule, counts);
        } else {
            // A success only needs its bucket: from the bucket clock (one load) when
            // a ticker keeps it, else from the clock.
            let epoch = match window.clock.epoch() {
                Some(epoch) => epoch,
                None => self.read_bucket(block, window),
            };
            window.record_in(block, generation, epoch, false, false);
        }
    }

    /// The current bucket of `window`, read from the clock because no ticker keeps it. Every
    /// [`TICK_AFTER_CLOCK_READS`]th read on a thread tries to start one: a quiet breaker
    /// never starts one (its few calls read the clock), a busy one soon stops reading it.
    #[cold]
    fn read_bucket(self: &Arc<Self>, block: &ThreadBlock, window: &TimeWindow) -> u64 {
        let epoch = window.epoch(self.now());
        if window.may_tick() {
            bump(&block.clock_reads, 1);
            if block.clock_reads.load(Relaxed) % TICK_AFTER_CLOCK_READS == 0 {
                self.start_ticker(window);
            }
        }
        epoch
    }

    /// Start a tokio task that keeps `window`'s bucket clock at the current bucket, waking at
    /// each bucket boundary. Without a tokio runtime, or if one already ticks, nothing
    /// starts. The task holds only a `Weak` and ends at the first boundary after the breaker
    /// is dropped, or after a whole bucket without a call (so that many idle breakers do not
    /// keep waking; the next 64 successes on a thread start a new one). When the task ends
    /// for any reason (also dropped unfinished by a runtime shutting down), the clock stops
    /// and callers read the real clock again: a stopped ticker never leaves a stale bucket
    /// behind.
    #[cold]
    fn start_ticker(self: &Arc<Self>, window: &TimeWindow) {
        if window.no_ticker.load(Relaxed) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let mut epoch = window.epoch(self.now());
        let Some(token) = window.clock.start(epoch) else {
            return;
        };
        // `ticked`: whether a timer of this ticker ever fired. A task that ends before that
        // most likely found no time driver (its sleep panics), so no ticker starts again and
        // this breaker reads the clock as before (a runtime shut down within a bucket of
        // starting one has the same, harmless, effect).
        struct Stop {
            core: Weak<Core>,
            token: u32,
            ticked: bool,
        }
        impl Drop for Stop {
            fn drop(&mut self) {
                if let Some(core) = self.core.upgrade() {
                    if let Window::Time(window, _) = &core.window {
                        window.clock.stop(self.token);
                        if !self.ticked {
                            window.no_ticker.store(true, Relaxed);
                        }
                    }
                }
            }
        }
        let mut stop = Stop {
            core: Arc::downgrade(self),
            token,
            ticked: false,
        };
        let mut outcomes = self.outcomes();
        runtime.spawn(async move {
            let stop = &mut stop;
            loop {
                let deadline = match stop.core.upgrade() {
                    Some(core) if core.is_alive() => {
                        core.instant(epoch.saturating_add(1).saturating_mul(core.bucket_nanos()))
                    }
                    _ => return,
                };
                tokio::time::sleep_until(deadline).await;
                stop.ticked = true;
                let Some(core) = stop.core.upgrade() else {
                    return;
                };
                let Window::Time(window, _) = &core.window else {
                    return;
                };
                // Read after the timer fired, which is never early: the clock is never
                // ahead of the real bucket.
                epoch = window.epoch(core.now());
                if !window.clock.tick(stop.token, epoch) {
                    return;
                }
                // Idle for a whole bucket: stop (the guard stops the clock).
                let seen = core.outcomes();
                if seen == outcomes {
                    return;
                }
                outcomes = seen;
            }
        });
    }

    /// Outcomes recorded so far on every thread (to tell an idle breaker).
    fn outcomes(&self) -> u64 {
        let blocks = self.blocks.lock();
        [
            blocks.sum(|b| &b.successes),
            blocks.sum(|b| &b.failures),
            blocks.sum(|b| &b.ignored),
        ]
        .into_iter()
        .fold(0, u64::wrapping_add)
    }

    fn maybe_trip(&self, generation: u32, rule: &RateRule, counts: Counts) {
        if counts.calls < u64::from(rule.minimum_calls) || counts.calls == 0 {
            return;
        }
        let calls = counts.calls as f64;
        let too_many_failures = counts.failures as f64 / calls >= rule.failure_rate;
        let too_slow = rule
            .slow
            .is_some_and(|slow| counts.slow as f64 / calls >= slow.rate);
        if too_many_failures || too_slow {
            self.trip(generation, State::Closed);
        }
    }

    /// Record that an admitted call was dropped before it finished: it counts neither way,
    /// and a trial gives its permit back (unless the policy for abandoned calls says it
    /// counts as a failure, see `abandoned.rs`).
    pub(crate) fn cancel(self: &Arc<Self>, block: &ThreadBlock, ticket: Ticket) {
        bump(&block.cancelled, 1);
        if let Some(abandoned) = &self.abandoned {
            if abandoned.counts_as_failure(&self.snapshot().totals) {
                return self.abandoned_as_failure(block, ticket);
            }
        }
        if let Admission::Trial { generation, .. } = ticket.admission() {
            self.state.release_permit(generation);
        }
    }

    /// An abandoned call judged a failure: what `record` does with a failure, but it stays
    /// counted as cancelled (not in `failures`).
    #[cold]
    fn abandoned_as_failure(self: &Arc<Self>, block: &ThreadBlock, ticket: Ticket) {
        match ticket.admission() {
            Admission::Passthrough => {}
            Admission::Closed { generation } => self.record_closed(block, generation, true, false),
            Admission::Trial { generation, .. } => {
                self.record_trial(block, generation, Outcome::Failure, false)
            }
        }
    }

    /// Count a rejection handed to a caller. A thread that keeps being rejected by the same
    /// open period arms a timer to end it, so that later rejections need not read the clock
    /// (a read costs more than the rest of a rejection). A quiet breaker never arms one and
    /// reads the clock on its few calls instead.
    #[inline]
    pub(crate) fn count_rejection(self: &Arc<Self>, block: &ThreadBlock, refusal: Refusal) {
        bump(&block.rejected, 1);
        if let Refusal::Open(Some(until)) = refusal {
            // Armed already (the usual case under load): nothing more to count.
            if self.state.is_armed() {
                return;
            }
            self.count_unarmed_rejection(block, until);
        }
    }

    #[inline(never)]
    fn count_unarmed_rejection(self: &Arc<Self>, block: &ThreadBlock, until: u64) {
        let (state, generation) = self.state.state();
        if state != State::Open {
            return;
        }
        let generation = u64::from(generation);
        if block.open_generation.load(Relaxed) != generation {
            block.open_generation.store(generation, Relaxed);
            block.open_rejections.store(0, Relaxed);
        }
        bump(&block.open_rejections, 1);
        if block.open_rejections.load(Relaxed) == ARM_AFTER_REJECTIONS {
            self.arm_timer(generation as u32, until);
        }
    }

    /// Arm the open period of `generation` and start a timer that disarms it at `until`.
    /// Without a tokio runtime nothing is armed: rejections go on reading the clock.
    #[cold]
    fn arm_timer(self: &Arc<Self>, generation: u32, until: u64) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if !self.state.arm(generation) {
            return;
        }
        // Disarms when the timer ends, and also if the task is dropped unfinished (runtime
        // shut down, or no time driver): an armed breaker must never outlive its timer.
        struct Disarm(Arc<Core>, u32);
        impl Drop for Disarm {
            fn drop(&mut self) {
                self.0.state.disarm(self.1);
            }
        }
        let disarm = Disarm(self.clone(), generation);
        let deadline = self.instant(until);
        runtime.spawn(async move {
            let _disarm = disarm;
            tokio::time::sleep_until(deadline).await;
        });
    }

    /// Open the breaker if it is still in `from` at `generation`.
    fn trip(&self, generation: u32, from: State) {
        let trips = match from {
            State::HalfOpen => self.trips_in_a_row.load(Relaxed).saturating_add(1),
            _ => 1,
        };
        let open_for = u64::try_from(self.config.open_for(trips).as_nanos()).unwrap_or(u64::MAX);
        let deadline = self.now().saturating_add(open_for);
        if let Some(left) = self.state.trip(generation, deadline) {
            self.trips_in_a_row.store(trips, Relaxed);
            self.announce(left, State::Open, generation.wrapping_add(1));
        }
    }

    pub(super) fn close(&self, generation: u32) {
        // Clear first: the window is unused until the state says closed, so a racing loser
        // clearing it does no harm, and the new closed period never sees old outcomes.
        self.window.clear();
        if self.state.close_from_half_open(generation) {
            self.trips_in_a_row.store(0, Relaxed);
            self.announce(State::HalfOpen, State::Closed, generation.wrapping_add(1));
        }
    }

    /// An operator's move to `to`; returns the state it left, if it moved.
    pub(crate) fn force(&self, to: State) -> Option<State> {
        if to == State::Closed {
            self.window.clear();
        }
        let left = self.state.force(to)?;
        if to == State::Closed {
            self.trips_in_a_row.store(0, Relaxed);
        }
        let (_, generation) = self.state.state();
        self.announce(left, to, generation);
        Some(left)
    }

    /// Tell everyone about a transition this caller won.
    fn announce(&self, from: State, to: State, generation: u32) {
        let now = self.now();
        self.state_since.store(now, Relaxed);
        self.transitions[from.index()][to.index()].fetch_add(1, Relaxed);
        let transition = Transition {
            name: self.config.name.clone(),
            from,
            to,
            generation,
            at: self.instant(now),
        };
        match to {
            State::Open | State::ForcedOpen => tracing::warn!(
                target: "tower_breakwater",
                breaker = %transition.name, from = from.as_str(), to = to.as_str(),
                "circuit breaker opened"
            ),
            _ => tracing::info!(
                target: "tower_breakwater",
                breaker = %transition.name, from = from.as_str(), to = to.as_str(),
                "circuit breaker changed state"
            ),
        }
        // No channel or no receiver is fine: subscribing is optional.
        if let Some(events) = self.events.get() {
            let _ = events.send(transition);
        }
    }

    pub(crate) fn transitions(&self, from: State, to: State) -> u64 {
        u64::from(self.transitions[from.index()][to.index()].load(Relaxed))
    }

    pub(crate) fn snapshot(&self) -> Snapshot {
        let word = self.state.load();
        let now = self.now();
        let blocks = self.blocks.lock();
        let totals = Totals {
            successes: blocks.sum(|b| &b.successes),
            failures: blocks.sum(|b| &b.failures),
            ignored: blocks.sum(|b| &b.ignored),
            rejected: blocks.sum(|b| &b.rejected),
            cancelled: blocks.sum(|b| &b.cancelled),
            slow: blocks.sum(|b| &b.slow),
            counted_failures: blocks.sum(|b| &b.counted_failures),
        };
        let in_closed = word.state == State::Closed;
        let (counts, consecutive_failures) = match &self.window {
            Window::Consecutive(run) => (
                Counts::default(),
                Some(if in_closed { run.run() } else { 0 }),
            ),
            Window::Count(w, _) if in_closed => (w.counts(), None),
            Window::Time(w, _) if in_closed => {
                w.clock.catch_up(w.epoch(now));
                (w.counts(&blocks, word.generation, now), None)
            }
            _ => (Counts::default(), None),
        };
        Snapshot {
            name: self.config.name.clone(),
            state: word.state,
            generation: word.generation,
            time_in_state: Duration::from_nanos(now.saturating_sub(self.state_since.load(Relaxed))),
            retry_at: self.state.open_until().map(|until| self.instant(until)),
            window: WindowCounts {
                calls: counts.calls,
                failures: counts.failures,
                slow: counts.slow,
            },
            consecutive_failures,
            half_open_trials: word.issued,
            half_open_successes: word.successes,
            totals,
        }
    }
}

impl Drop for Core {
    fn drop(&mut self) {
        local::unregister(self.id, self);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn far_deadlines_saturate_instead_of_overflowing() {
        let origin = Instant::now();
        assert_eq!(instant_after(origin, 5), origin + Duration::from_nanos(5));
        // 584 years: within the range of Linux's clock, never a panic anywhere.
        let never = instant_after(origin, u64::MAX);
        assert!(never > origin + Duration::from_secs(86_400 * 365 * 29));
    }
}
