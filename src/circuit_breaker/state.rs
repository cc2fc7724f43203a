//! The breaker's whole state machine in one atomic word, moved only by compare-and-swap.
//!
//! # Layout of the word (`u64`)
//!
//! ```text
//! bits  0..3   state: 0 closed, 1 open, 2 half-open, 3 forced-open, 4 disabled
//! bit   3      deadline pending: just tripped, `open_until` not yet published
//! bits  4..17  trial permits issued in this half-open episode (13 bits)
//! bits 17..30  trial successes in this half-open episode (13 bits)
//! bit  30      armed (open only): a timer will clear it when the open period ends, so until
//!              then a rejection need not read the clock
//! bits 32..64  generation: +1 on every transition, so a stale outcome can be told apart
//! ```
//!
//! # Who may do what
//! - Every *transition* (a change of state) is one CAS from an exact `(state, generation)`
//!   to the next generation, so of all callers racing for the same transition exactly one
//!   wins, and the winner alone reports it.
//! - Within half-open, permits are issued (+1), returned by a cancelled trial (-1) and
//!   successes counted (+1) by CAS on the same word, so a permit can never be issued twice and
//!   a stale generation can never touch the counts of a new episode.
//! - `open_until` is written only by the caller that won a trip, while the word still says
//!   "pending"; it then clears the pending bit with a CAS (Release). A caller that sees Open
//!   without the pending bit (Acquire) therefore sees that trip's deadline.
//!
//! All loads that decide something are `Acquire` and all successful CAS are `AcqRel`: the
//! word is the only synchronisation point of the breaker, and it is touched on transitions
//! and half-open trials only, never written on the closed path.

use std::num::NonZeroU64;
use std::sync::atomic::{AtomicU64, Ordering};

/// The state a circuit breaker is in.
///
/// ```
/// use tower_breakwater::circuit_breaker::{CircuitBreaker, State};
///
/// let breaker = CircuitBreaker::builder("payments").build().unwrap();
/// assert_eq!(breaker.state(), State::Closed);
/// breaker.force_open();
/// assert_eq!(breaker.state(), State::ForcedOpen);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Calls flow; outcomes are recorded and may trip the breaker.
    Closed,
    /// Calls are rejected at once until `open_for` has passed.
    Open,
    /// A limited number of trial calls test whether the service has recovered.
    HalfOpen,
    /// Opened by an operator; stays open until [`reset`](super::CircuitBreaker::reset).
    ForcedOpen,
    /// Switched off by an operator: every call passes and nothing can trip it.
    Disabled,
}

impl State {
    /// Every state, in the order of [`State::index`].
    pub const ALL: [State; 5] = [
        State::Closed,
        State::Open,
        State::HalfOpen,
        State::ForcedOpen,
        State::Disabled,
    ];

    /// A stable small number for the state: 0 closed, 1 open, 2 half-open, 3 forced-open,
    /// 4 disabled (the value of the `circuit_breaker_state` gauge).
    ///
    /// ```
    /// use tower_breakwater::circuit_breaker::State;
    /// assert_eq!(State::HalfOpen.index(), 2);
    /// ```
    pub fn index(self) -> usize {
        self as usize
    }

    /// The lower-case name an operator sees (`"half_open"`, ...), fit for a metric label.
    ///
    /// ```
    /// use tower_breakwater::circuit_breaker::State;
    /// assert_eq!(State::ForcedOpen.as_str(), "forced_open");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            State::Closed => "closed",
            State::Open => "open",
            State::HalfOpen => "half_open",
            State::ForcedOpen => "forced_open",
            State::Disabled => "disabled",
        }
    }

    #[inline]
    fn from_bits(bits: u64) -> State {
        match bits & STATE_MASK {
            0 => State::Closed,
            1 => State::Open,
            2 => State::HalfOpen,
            3 => State::ForcedOpen,
            _ => State::Disabled,
        }
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

const STATE_MASK: u64 = 0b111;
const PENDING: u64 = 1 << 3;
const ARMED: u64 = 1 << 30;
const ISSUED_SHIFT: u32 = 4;
const SUCCESS_SHIFT: u32 = 17;
const COUNT_MASK: u64 = (1 << 13) - 1;
const GEN_SHIFT: u32 = 32;

/// The largest `half_open_permits` (and so `success_threshold`) the word can count.
pub(crate) const MAX_PERMITS: u32 = COUNT_MASK as u32;

/// One decoded state word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Word {
    pub(crate) state: State,
    pub(crate) pending: bool,
    pub(crate) armed: bool,
    pub(crate) issued: u32,
    pub(crate) successes: u32,
    pub(crate) generation: u32,
}

impl Word {
    #[inline]
    fn decode(bits: u64) -> Word {
        Word {
            state: State::from_bits(bits),
            pending: bits & PENDING != 0,
            armed: bits & ARMED != 0,
            issued: ((bits >> ISSUED_SHIFT) & COUNT_MASK) as u32,
            successes: ((bits >> SUCCESS_SHIFT) & COUNT_MASK) as u32,
            generation: (bits >> GEN_SHIFT) as u32,
        }
    }

    fn encode(self) -> u64 {
        self.state as u64
            | if self.pending { PENDING } else { 0 }
            | if self.armed { ARMED } else { 0 }
            | (u64::from(self.issued) & COUNT_MASK) << ISSUED_SHIFT
            | (u64::from(self.successes) & COUNT_MASK) << SUCCESS_SHIFT
            | u64::from(self.generation) << GEN_SHIFT
    }

    /// The first word of the next generation in `state`, with empty half-open counts.
    fn next(self, state: State) -> Word {
        Word {
            state,
            pending: false,
            armed: false,
            issued: 0,
            successes: 0,
            generation: self.generation.wrapping_add(1),
        }
    }
}

/// The atomic operations the state word needs; implemented for std's `AtomicU64` and, in the
/// loom models' build (`--cfg loom`), for loom's, so that the models (`loom_models/`) run
/// this very code.
pub(crate) trait AtomicWord: Send + Sync {
    /// A new cell holding `value`.
    fn new(value: u64) -> Self;
    /// `AtomicU64::load`.
    fn load(&self, order: Ordering) -> u64;
    /// `AtomicU64::store`.
    fn store(&self, value: u64, order: Ordering);
    /// `AtomicU64::compare_exchange`.
    fn compare_exchange(
        &self,
        current: u64,
        new: u64,
        success: Ordering,
        failure: Ordering,
    ) -> Result<u64, u64>;
    /// `AtomicU64::fetch_add` (wrapping).
    fn fetch_add(&self, value: u64, order: Ordering) -> u64;
    /// `AtomicU64::fetch_sub` (wrapping).
    fn fetch_sub(&self, value: u64, order: Ordering) -> u64;
    /// `AtomicU64::fetch_or`.
    fn fetch_or(&self, value: u64, order: Ordering) -> u64;
    /// `AtomicU64::fetch_and`.
    fn fetch_and(&self, value: u64, order: Ordering) -> u64;
    /// `AtomicU64::swap`.
    fn swap(&self, value: u64, order: Ordering) -> u64;
    /// Let another thread run while waiting for it (`std::thread::yield_now`).
    fn yield_now() {
        std::thread::yield_now()
    }
}

/// The read-modify-writes of [`AtomicWord`], forwarded to the type's own methods.
macro_rules! forward_rmw {
    ($atomic:ty) => {
        #[inline]
        fn fetch_add(&self, value: u64, order: Ordering) -> u64 {
            <$atomic>::fetch_add(self, value, order)
        }
        #[inline]
        fn fetch_sub(&self, value: u64, order: Ordering) -> u64 {
            <$atomic>::fetch_sub(self, value, order)
        }
        #[inline]
        fn fetch_or(&self, value: u64, order: Ordering) -> u64 {
            <$atomic>::fetch_or(self, value, order)
        }
        #[inline]
        fn fetch_and(&self, value: u64, order: Ordering) -> u64 {
            <$atomic>::fetch_and(self, value, order)
        }
        #[inline]
        fn swap(&self, value: u64, order: Ordering) -> u64 {
            <$atomic>::swap(self, value, order)
        }
    };
}

impl AtomicWord for AtomicU64 {
    #[inline]
    fn new(value: u64) -> Self {
        AtomicU64::new(value)
    }
    #[inline]
    fn load(&self, order: Ordering) -> u64 {
        AtomicU64::load(self, order)
    }
    #[inline]
    fn store(&self, value: u64, order: Ordering) {
        AtomicU64::store(self, value, order)
    }
    #[inline]
    fn compare_exchange(&self, c: u64, n: u64, s: Ordering, f: Ordering) -> Result<u64, u64> {
        AtomicU64::compare_exchange(self, c, n, s, f)
    }
    forward_rmw!(AtomicU64);
}

#[cfg(all(test, loom))]
impl AtomicWord for loom::sync::atomic::AtomicU64 {
    fn new(value: u64) -> Self {
        loom::sync::atomic::AtomicU64::new(value)
    }
    fn load(&self, order: Ordering) -> u64 {
        loom::sync::atomic::AtomicU64::load(self, order)
    }
    fn store(&self, value: u64, order: Ordering) {
        loom::sync::atomic::AtomicU64::store(self, value, order)
    }
    fn compare_exchange(&self, c: u64, n: u64, s: Ordering, f: Ordering) -> Result<u64, u64> {
        loom::sync::atomic::AtomicU64::compare_exchange(self, c, n, s, f)
    }
    forward_rmw!(loom::sync::atomic::AtomicU64);
    fn yield_now() {
        loom::thread::yield_now()
    }
}

/// What [`StateWord::admit`] decided for one call, unpacked ([`Ticket::admission`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Closed: the call goes through; its outcome counts toward the window of `generation`.
    Closed {
        /// Generation the call started in.
        generation: u32,
    },
    /// A half-open trial holding one permit of `generation`.
    Trial {
        /// Generation the call started in.
        generation: u32,
        /// This caller moved the breaker from open to half-open (and must report it).
        opened_half: bool,
    },
    /// Disabled: the call goes through and counts nowhere but in the totals.
    Passthrough,
}

/// An [`Admission`] packed in one non-zero word, as the hot path carries it: a tag byte
/// and a `u32` built in memory and read back as one word stall the CPU's store forwarding,
/// which cost more than the whole closed path; one `u64` stays in a register.
///
/// Layout: bits 0..3 kind (1 closed, 2 trial, 3 trial that opened half-open, 4 passthrough),
/// bits 3..32 free for the owner (the breaker's id, see `with_breaker`), bits 32..64
/// generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ticket(NonZeroU64);

const KIND_CLOSED: u64 = 1;
const KIND_TRIAL: u64 = 2;
const KIND_OPENED_HALF: u64 = 3;
const KIND_PASSTHROUGH: u64 = 4;
const BREAKER_MASK: u64 = ((1 << 29) - 1) << 3;
/// Breaker ids fit in the ticket's free bits.
pub(crate) const MAX_BREAKER_ID: u32 = (1 << 29) - 1;

impl Ticket {
    #[inline]
    fn pack(kind: u64, generation: u32) -> Ticket {
        match NonZeroU64::new(kind | u64::from(generation) << GEN_SHIFT) {
            Some(bits) => Ticket(bits),
            None => unreachable!("every kind is non-zero"),
        }
    }

    #[inline]
    pub(crate) fn closed(generation: u32) -> Ticket {
        Ticket::pack(KIND_CLOSED, generation)
    }

    /// A half-open trial of `generation` that holds no permit of the word (a ramp's).
    #[inline]
    pub(crate) fn trial(generation: u32) -> Ticket {
        Ticket::pack(KIND_TRIAL, generation)
    }

    /// The same ticket carrying `id` (up to 29 bits) in its free bits.
    #[inline]
    pub(crate) fn with_breaker(self, id: u32) -> Ticket {
        debug_assert!(id < 1 << 29);
        let bits = self.0.get() & !BREAKER_MASK | u64::from(id) << 3 & BREAKER_MASK;
        Ticket(NonZeroU64::new(bits).unwrap_or(self.0))
    }

    /// Whether this is a closed-state admission (the common case, read without unpacking).
    #[inline]
    pub(crate) fn is_closed(self) -> bool {
        self.0.get() & 0b111 == KIND_CLOSED
    }

    /// The id stored by [`with_breaker`](Self::with_breaker).
    #[inline]
    pub(crate) fn breaker(self) -> u32 {
        ((self.0.get() & BREAKER_MASK) >> 3) as u32
    }

    /// The generation the call started in (0 for passthrough).
    #[inline]
    pub(crate) fn generation(self) -> u32 {
        (self.0.get() >> GEN_SHIFT) as u32
    }

    /// The unpacked view.
    #[inline]
    pub(crate) fn admission(self) -> Admission {
        let generation = self.generation();
        match self.0.get() & 0b111 {
            KIND_CLOSED => Admission::Closed { generation },
            KIND_TRIAL => Admission::Trial {
                generation,
                opened_half: false,
            },
            KIND_OPENED_HALF => Admission::Trial {
                generation,
                opened_half: true,
            },
            _ => Admission::Passthrough,
        }
    }
}

/// Why [`StateWord::admit`] refused a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Open until this deadline (nanoseconds on the breaker's clock), or just tripped and the
    /// deadline is not yet published (`None`).
    Open(Option<u64>),
    /// Half-open with every trial permit in use.
    HalfOpenFull,
    /// Forced open by an operator.
    ForcedOpen,
}

const PACKED_JUST_TRIPPED: u64 = u64::MAX;
const PACKED_HALF_OPEN_FULL: u64 = u64::MAX - 1;
const PACKED_FORCED_OPEN: u64 = u64::MAX - 2;

impl Refusal {
    /// The refusal in one word: an open period's deadline as is, the other answers as the
    /// three highest values (a deadline that far out, 584 years, is taken as one just below
    /// them).
    #[inline]
    pub(crate) fn pack(self) -> u64 {
        match self {
            Refusal::Open(Some(until)) => until.min(PACKED_FORCED_OPEN - 1),
            Refusal::Open(None) => PACKED_JUST_TRIPPED,
            Refusal::HalfOpenFull => PACKED_HALF_OPEN_FULL,
            Refusal::ForcedOpen => PACKED_FORCED_OPEN,
        }
    }

    /// The refusal [`pack`](Self::pack) made `bits` of.
    #[inline]
    pub(crate) fn unpack(bits: u64) -> Refusal {
        match bits {
            PACKED_JUST_TRIPPED => Refusal::Open(None),
            PACKED_HALF_OPEN_FULL => Refusal::HalfOpenFull,
            PACKED_FORCED_OPEN => Refusal::ForcedOpen,
            until => Refusal::Open(Some(until)),
        }
    }
}

/// The answer of [`StateWord::busy_path`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BusyPath {
    /// Closed, in this generation: admit.
    Closed(u32),
    /// Open, and a timer ends the period: refuse without reading the clock.
    Refused(Refusal),
    /// Anything else: ask [`StateWord::admit`].
    Neither,
}

/// What a finished half-open trial did to the state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TrialResult {
    /// Counted; the episode goes on.
    Counted,
    /// This success reached the threshold: the caller must close the breaker with
    /// [`StateWord::close_from_half_open`].
    ReachedThreshold,
    /// The trial belonged to an earlier generation; nothing changed.
    Stale,
}

/// The atomic state machine: the packed word plus the deadline of the current open period.
#[derive(Debug)]
pub(crate) struct StateWord<A: AtomicWord = AtomicU64> {
    word: A,
    /// Nanoseconds on the breaker's clock when the current open period ends. Written only by
    /// the winner of a trip, before it clears the pending bit.
    open_until: A,
}

impl<A: AtomicWord> Default for StateWord<A> {
    fn default() -> Self {
        Self::new()
    }
}

impl<A: AtomicWord> StateWord<A> {
    /// A closed breaker at generation 0.
    pub(crate) fn new() -> Self {
        StateWord {
            word: A::new(0),
            open_until: A::new(0),
        }
    }

    /// The decoded word as it is now.
    #[inline]
    pub(crate) fn load(&self) -> Word {
        Word::decode(self.word.load(Ordering::Acquire))
    }

    /// True while closed (one load; the closed path's whole check).
    #[inline]
    pub(crate) fn is_closed(&self) -> bool {
        self.word.load(Ordering::Acquire) & STATE_MASK == 0
    }

    /// The current state and generation.
    #[inline]
    pub(crate) fn state(&self) -> (State, u32) {
        let w = self.load();
        (w.state, w.generation)
    }

    /// Trial permits issued and successes counted in the current half-open episode.
    #[cfg(all(test, loom))]
    pub(super) fn half_open_counts(&self) -> (u32, u32) {
        let w = self.load();
        (w.issued, w.successes)
    }

    /// The published deadline of the current open period, if the breaker is open.
    pub(crate) fn open_until(&self) -> Option<u64> {
        let w = self.load();
        (w.state == State::Open && !w.pending).then(|| self.open_until.load(Ordering::Acquire))
    }

    /// Admit or refuse one call. `now` is read only when the breaker is open (to see whether
    /// the open period is over); the closed path is one load.
    #[inline]
    #[cfg(test)]
    pub(super) fn acquire(
        &self,
        permits: u32,
        now: impl FnOnce() -> u64,
    ) -> Result<Admission, Refusal> {
        self.admit(permits, now).map(Ticket::admission)
    }

    /// Which busy path a call would take, from one load (see [`BusyPath`]).
    #[inline]
    pub(crate) fn busy_path(&self) -> BusyPath {
        let bits = self.word.load(Ordering::Acquire);
        if bits & STATE_MASK == 0 {
            BusyPath::Closed((bits >> GEN_SHIFT) as u32)
        } else if bits & (STATE_MASK | ARMED) == State::Open as u64 | ARMED {
            BusyPath::Refused(Refusal::Open(Some(self.open_until.load(Ordering::Acquire))))
        } else {
            BusyPath::Neither
        }
    }

    /// Admit or refuse one call, answering with a packed [`Ticket`]. `now` is read only when
    /// the breaker is open (to see whether the open period is over); the closed path is one
    /// load.
    #[inline]
    pub(crate) fn admit(&self, permits: u32, now: impl FnOnce() -> u64) -> Result<Ticket, Refusal> {
        let bits = self.word.load(Ordering::Acquire);
        // The closed path: state bits zero means closed; nothing else to look at.
        if bits & STATE_MASK == 0 {
            return Ok(Ticket::closed((bits >> GEN_SHIFT) as u32));
        }
        self.admit_slow(bits, permits, now)
    }

    #[cold]
    fn admit_slow(
        &self,
        mut bits: u64,
        permits: u32,
        now: impl FnOnce() -> u64,
    ) -> Result<Ticket, Refusal> {
        let mut now = Some(now);
        let mut now_value = None;
        loop {
            let w = Word::decode(bits);
            let next = match w.state {
                State::Closed => return Ok(Ticket::closed(w.generation)),
                State::Disabled => return Ok(Ticket::pack(KIND_PASSTHROUGH, 0)),
                State::ForcedOpen => return Err(Refusal::ForcedOpen),
                State::Open if w.pending => return Err(Refusal::Open(None)),
                // A timer ends this open period: no need to read the clock.
                State::Open if w.armed => {
                    return Err(Refusal::Open(Some(self.open_until.load(Ordering::Acquire))))
                }
                State::Open => {
                    let until = self.open_until.load(Ordering::Acquire);
                    let t = *now_value.get_or_insert_with(|| (now.take().expect("read once"))());
                    if t < until {
                        return Err(Refusal::Open(Some(until)));
                    }
                    Word {
                        issued: 1,
                        ..w.next(State::HalfOpen)
                    }
                }
                State::HalfOpen if w.issued >= permits => return Err(Refusal::HalfOpenFull),
                State::HalfOpen => Word {
                    issued: w.issued + 1,
                    ..w
                },
            };
            match self.cas(bits, next.encode()) {
                Ok(()) => {
                    let kind = if w.state == State::Open {
                        KIND_OPENED_HALF
                    } else {
                        KIND_TRIAL
                    };
                    return Ok(Ticket::pack(kind, next.generation));
                }
                Err(actual) => bits = actual,
            }
        }
    }

    /// Give back the permit of a trial that ended without an outcome (cancelled or ignored).
    /// Returns false if the trial's generation is over (nothing to give back).
    pub(crate) fn release_permit(&self, generation: u32) -> bool {
        self.update_episode(generation, |w| Word {
            issued: w.issued.saturating_sub(1),
            ..w
        })
        .is_some()
    }

    /// Count one successful trial of `generation`. Exactly one success of an episode, the
    /// one that makes the count equal to `threshold`, is told to close the breaker.
    pub(crate) fn trial_success(&self, generation: u32, threshold: u32) -> TrialResult {
        let mut reached = false;
        let counted = self.update_episode(generation, |w| {
            reached = w.successes + 1 == threshold;
            Word {
                successes: (w.successes + 1).min(MAX_PERMITS),
                ..w
            }
        });
        match counted {
            None => TrialResult::Stale,
            Some(_) if reached => TrialResult::ReachedThreshold,
            Some(_) => TrialResult::Counted,
        }
    }

    /// Half-open → closed, if the word is still at `generation`. True for the one winner.
    pub(crate) fn close_from_half_open(&self, generation: u32) -> bool {
        self.transition(|w| {
            (w.state == State::HalfOpen && w.generation == generation)
                .then(|| w.next(State::Closed))
        })
        .is_some()
    }

    /// Closed or half-open at `generation` → open until `deadline` (computed by the caller
    /// before the race; only the winner publishes it). Returns the state it left, for the one
    /// winner.
    pub(crate) fn trip(&self, generation: u32, deadline: u64) -> Option<State> {
        let from = self.transition(|w| {
            let trippable = matches!(w.state, State::Closed | State::HalfOpen);
            (trippable && w.generation == generation).then(|| Word {
                pending: true,
                ..w.next(State::Open)
            })
        })?;
        self.publish_deadline(from.generation.wrapping_add(1), deadline);
        Some(from.state)
    }

    fn publish_deadline(&self, generation: u32, deadline: u64) {
        self.open_until.store(deadline, Ordering::Release);
        // Nothing moves the word on while it is pending (`force` waits), so this finds it.
        self.update_episode_in(State::Open, generation, |w| Word {
            pending: false,
            ..w
        });
    }

    /// Whether an open period's end is left to a timer (rejections then read no clock).
    #[inline]
    pub(crate) fn is_armed(&self) -> bool {
        self.word.load(Ordering::Acquire) & ARMED != 0
    }

    /// Mark the open period of `generation` as ended by a timer (see the layout). True if
    /// this caller armed it; the caller must then make sure [`disarm`](Self::disarm) runs at
    /// the deadline.
    pub(crate) fn arm(&self, generation: u32) -> bool {
        let mut armed_now = false;
        self.update_episode_in(State::Open, generation, |w| {
            armed_now = !w.pending && !w.armed;
            Word {
                armed: w.armed || !w.pending,
                ..w
            }
        });
        armed_now
    }

    /// The open period of `generation` is over (or its timer is gone): rejections read the
    /// clock again, and the next call after the deadline goes half-open.
    pub(crate) fn disarm(&self, generation: u32) {
        self.update_episode_in(State::Open, generation, |w| Word { armed: false, ..w });
    }

    /// Operator action: go to `to` (forced-open, disabled or closed) from whatever state, as a
    /// new generation. Returns the state it left, or `None` if it was already there.
    pub(crate) fn force(&self, to: State) -> Option<State> {
        let mut bits = self.word.load(Ordering::Acquire);
        loop {
            let w = Word::decode(bits);
            if w.pending {
                // A trip's winner is between its transition and the publication of its
                // deadline: moving the word on now would let its late store of `open_until`
                // land in a later open period. It is a few instructions away; let it finish.
                A::yield_now();
                bits = self.word.load(Ordering::Acquire);
                continue;
            }
            if w.state == to {
                return None;
            }
            match self.cas(bits, w.next(to).encode()) {
                Ok(()) => return Some(w.state),
                Err(actual) => bits = actual,
            }
        }
    }

    /// CAS loop for one transition: `next` sees the current word and says where to go, or
    /// `None` to give up. Returns the word it moved away from.
    fn transition(&self, mut next: impl FnMut(Word) -> Option<Word>) -> Option<Word> {
        let mut bits = self.word.load(Ordering::Acquire);
        loop {
            let w = Word::decode(bits);
            let n = next(w)?;
            match self.cas(bits, n.encode()) {
                Ok(()) => return Some(w),
                Err(actual) => bits = actual,
            }
        }
    }

    fn update_episode(&self, generation: u32, change: impl FnMut(Word) -> Word) -> Option<Word> {
        self.update_episode_in(State::HalfOpen, generation, change)
    }

    /// CAS loop for a change within one `(state, generation)`; gives up if that is over.
    fn update_episode_in(
        &self,
        state: State,
        generation: u32,
        mut change: impl FnMut(Word) -> Word,
    ) -> Option<Word> {
        self.transition(|w| (w.state == state && w.generation == generation).then(|| change(w)))
    }

    fn cas(&self, current: u64, new: u64) -> Result<(), u64> {
        if current == new {
            return Ok(());
        }
        self.word
            .compare_exchange(current, new, Ordering::AcqRel, Ordering::Acquire)
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word() -> StateWord {
        StateWord::new()
    }

    #[test]
    fn a_packed_refusal_unpacks_to_itself() {
        for refusal in [
            Refusal::Open(None),
            Refusal::Open(Some(0)),
            Refusal::Open(Some(30_000_000_000)),
            Refusal::Open(Some(PACKED_FORCED_OPEN - 1)),
            Refusal::HalfOpenFull,
            Refusal::ForcedOpen,
        ] {
            assert_eq!(Refusal::unpack(refusal.pack()), refusal);
        }
        // A deadline in the packed answers' range is taken as the last one before them.
        for until in [
            PACKED_FORCED_OPEN,
            PACKED_HALF_OPEN_FULL,
            PACKED_JUST_TRIPPED,
        ] {
            let packed = Refusal::Open(Some(until)).pack();
            assert_eq!(
                Refusal::unpack(packed),
                Refusal::Open(Some(PACKED_FORCED_OPEN - 1))
            );
        }
    }

    #[test]
    fn encode_decode_round_trips() {
        let w = Word {
            state: State::HalfOpen,
            pending: true,
            armed: true,
            issued: MAX_PERMITS,
            successes: 77,
            generation: u32::MAX,
        };
        assert_eq!(Word::decode(w.encode()), w);
    }

    #[test]
    fn closed_admits_without_reading_the_clock() {
        let w = word();
        let a = w.acquire(2, || panic!("closed path must not read the clock"));
        assert_eq!(a, Ok(Admission::Closed { generation: 0 }));
    }

    #[test]
    fn the_busy_path_sees_the_closed_generation_admit_would_use() {
        let w = word();
        assert_eq!(w.busy_path(), BusyPath::Closed(0));
        assert_eq!(w.admit(2, || 0), Ok(Ticket::closed(0)));
        w.trip(0, 0);
        assert_eq!(
            w.busy_path(),
            BusyPath::Neither,
            "open, no timer: ask admit"
        );
        let Ok(Admission::Trial { generation, .. }) = w.acquire(2, || 0) else {
            panic!("half-open")
        };
        assert_eq!(w.busy_path(), BusyPath::Neither);
        assert!(w.close_from_half_open(generation));
        assert_eq!(w.busy_path(), BusyPath::Closed(generation + 1));
        assert_eq!(w.admit(2, || 0), Ok(Ticket::closed(generation + 1)));
    }

    #[test]
    fn trip_then_wait_then_half_open_with_limited_permits() {
        let w = word();
        assert_eq!(w.trip(0, 100), Some(State::Closed));
        assert_eq!(
            w.trip(0, 100),
            None,
            "a second trip of the same generation loses"
        );
        assert_eq!(w.acquire(2, || 99), Err(Refusal::Open(Some(100))));
        assert_eq!(
            w.acquire(2, || 100),
            Ok(Admission::Trial {
                generation: 2,
                opened_half: true
            })
        );
        assert_eq!(
            w.acquire(2, || 100),
            Ok(Admission::Trial {
                generation: 2,
                opened_half: false
            })
        );
        assert_eq!(w.acquire(2, || 100), Err(Refusal::HalfOpenFull));
        assert!(w.release_permit(2));
        assert!(w.acquire(2, || 100).is_ok());
    }

    #[test]
    fn successes_close_and_stale_generations_are_ignored() {
        let w = word();
        w.trip(0, 0);
        let Ok(Admission::Trial { generation, .. }) = w.acquire(2, || 0) else {
            panic!()
        };
        assert_eq!(w.trial_success(generation, 2), TrialResult::Counted);
        assert_eq!(
            w.trial_success(generation, 2),
            TrialResult::ReachedThreshold
        );
        assert!(w.close_from_half_open(generation));
        assert!(!w.close_from_half_open(generation));
        assert_eq!(w.trial_success(generation, 2), TrialResult::Stale);
        assert!(!w.release_permit(generation));
        assert_eq!(w.state(), (State::Closed, generation + 1));
    }

    #[test]
    fn a_trial_failure_reopens() {
        let w = word();
        w.trip(0, 10);
        let Ok(Admission::Trial { generation, .. }) = w.acquire(1, || 10) else {
            panic!()
        };
        assert_eq!(w.trip(generation, 50), Some(State::HalfOpen));
        assert_eq!(w.open_until(), Some(50));
        assert_eq!(w.acquire(1, || 20), Err(Refusal::Open(Some(50))));
    }

    #[test]
    fn an_armed_open_period_rejects_without_the_clock_until_disarmed() {
        let w = word();
        w.trip(0, 100);
        assert!(w.arm(1));
        assert!(!w.arm(1), "armed once");
        assert_eq!(
            w.acquire(1, || panic!("armed: no clock")),
            Err(Refusal::Open(Some(100)))
        );
        assert!(w.is_armed());
        assert_eq!(w.busy_path(), BusyPath::Refused(Refusal::Open(Some(100))));
        w.disarm(1);
        assert_eq!(w.busy_path(), BusyPath::Neither);
        assert!(!w.is_armed());
        assert!(matches!(w.acquire(1, || 100), Ok(Admission::Trial { .. })));
        assert!(
            !w.arm(1),
            "a later generation cannot be armed by an old timer"
        );
    }

    #[test]
    fn operators_force_any_state() {
        let w = word();
        assert_eq!(w.force(State::ForcedOpen), Some(State::Closed));
        assert_eq!(w.acquire(1, || 0), Err(Refusal::ForcedOpen));
        assert_eq!(w.force(State::ForcedOpen), None);
        assert_eq!(w.force(State::Disabled), Some(State::ForcedOpen));
        assert_eq!(w.acquire(1, || 0), Ok(Admission::Passthrough));
        assert_eq!(w.force(State::Closed), Some(State::Disabled));
        assert!(matches!(w.acquire(1, || 0), Ok(Admission::Closed { .. })));
    }
}
