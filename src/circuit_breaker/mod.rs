//! A lock-light circuit breaker: stop calling a service that keeps failing, give it time to
//! recover, then test it with a few trial calls before trusting it again.
//!
//! # When to use it
//! Put a breaker in front of a dependency whose failure should not take its callers down:
//! while it is open, calls fail at once (no socket, no timeout to wait out) with a
//! [`Rejected`] that says when to try again and hands back the unsent request, so a fallback
//! can answer instead.
//!
//! ```
//! use std::time::Duration;
//! use tower_breakwater::circuit_breaker::{CircuitBreaker, Error, State};
//! use tower::{service_fn, Service, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let breaker = CircuitBreaker::builder("payments")
//!     .consecutive_failures(3)
//!     .open_for(Duration::from_secs(10))
//!     .build()
//!     .expect("valid config");
//!
//! let mut payments = ServiceBuilder::new()
//!     .layer(breaker.layer())
//!     .service(service_fn(|amount: u32| async move {
//!         if amount > 100 { Err("declined") } else { Ok(amount) }
//!     }));
//!
//! for _ in 0..3 {
//!     let result = payments.ready().await.unwrap().call(500).await;
//!     assert!(matches!(result, Err(Error::Inner("declined"))));
//! }
//! assert_eq!(breaker.state(), State::Open);
//!
//! // Open: the service is not called, and the request comes back.
//! let Err(Error::Rejected(rejected)) = payments.ready().await.unwrap().call(42).await else {
//!     panic!("expected a rejection");
//! };
//! assert_eq!(rejected.into_request(), Some(42));
//! # }
//! ```
//!
//! # How it decides
//! - **Closed**: calls flow; the trip rule watches outcomes. Rules, chosen on the
//!   [`Builder`]: consecutive failures (default 5), or a failure rate (and/or slow-call rate)
//!   over the last N calls or the last T of time, with a `minimum_calls` floor.
//! - **Open** for `open_for` (optionally growing on repeated trips, with jitter); every call
//!   is rejected.
//! - **Half-open**: the first call after `open_for` lets `half_open_permits` trial calls
//!   through; `success_threshold` successes close the breaker, any failure opens it again.
//!   Calls beyond the permits are rejected, never queued.
//! - **Forced-open** and **disabled**: set by an operator ([`CircuitBreaker::force_open`],
//!   [`CircuitBreaker::disable`]), left by [`CircuitBreaker::reset`].
//!
//! An outcome counts only in the state *generation* it started in: a slow call that began
//! before a transition cannot trip or close the new state. A dropped (cancelled) call counts
//! neither way and gives back its half-open permit.
//!
//! Two options change this, both off by default: [`Builder::half_open_ramp`] (half-open
//! admits a growing share of calls in stages instead of a few trials) and
//! [`Builder::abandoned_as_failures_above`] (dropped calls count as failures while they are
//! a large share of recent calls).
//!
//! # Many dependencies behind one layer
//! [`KeyedCircuitBreaker`] keeps one breaker per key (host, tenant, route), made on the
//! key's first call from one checked config, with a cap on keys and eviction of idle closed
//! ones.
//!
//! # Cost
//! The closed-path call only loads the shared state word (never writes it), takes no lock,
//! allocates nothing and writes counters private to its thread. A success writes nothing
//! shared under the consecutive rule, nor under the count window while the window is full
//! and clean (otherwise one shared cursor, claimed in batches when threads interleave). The
//! clock is read on transitions, by slow-call rules, by time windows on failures (and on
//! successes until a timer keeps their bucket, see [`Builder::time_window`]), and while open
//! to see whether the open period is over; once a thread has been rejected 64 times in one
//! open period, a tokio timer (when a runtime is there) ends the period instead and
//! rejections stop reading the clock.
//!
//! None of this grows with the number of breakers, with how many of them a thread uses, or
//! with how many threads ever used one. A response future finds its breaker by id in a
//! per-thread hash map (one probe); building a breaker registers it in a global hash map
//! (O(1), no scan of the others). A thread's counters for a breaker live while the thread
//! does: when it exits they are folded into the breaker and freed, so an exited thread
//! leaves no memory behind and a [`snapshot`](CircuitBreaker::snapshot) sums the threads
//! alive now. A breaker with the default rule takes about 950 bytes with the counters of
//! the one thread that called it.
//! See the README for measurements.

mod abandoned;
mod blocks;
mod bucket_clock;
mod call;
mod config;
mod core;
mod counted_bits;
mod error;
mod events;
mod future;
pub(crate) mod keyed;
mod layer;
mod local;
#[cfg(all(test, loom))]
mod loom_models;
mod permit;
mod ramp;
mod service;
mod shape;
mod snapshot;
mod state;
#[cfg(test)]
mod threads_tests;
mod window;

use std::sync::Arc;

pub use self::config::Builder;
pub use self::error::{Error, Rejected};
pub use self::events::Transition;
pub use self::future::ResponseFuture;
#[cfg(feature = "metrics")]
pub(crate) use self::keyed::key_label;
pub use self::keyed::{KeyedBuilder, KeyedCircuitBreaker, KeyedLayer, KeyedService, KeysFull};
pub use self::layer::CircuitBreakerLayer;
pub use self::permit::Permit;
pub use self::service::CircuitBreakerService;
pub use self::shape::{ErrorShape, Flat, Wrap};
pub use self::snapshot::{Snapshot, Totals, WindowCounts};
pub use self::state::State;

use self::config::Config;
use self::core::Core;
use self::state::Refusal;
use crate::classify::FailOnError;
use crate::Name;

/// A circuit breaker: a cheap-to-clone handle, shared by every clone and every service
/// it wraps.
///
/// Build one with [`CircuitBreaker::builder`]; wrap services with [`layer`](Self::layer)
/// (calling it many times, as axum does per route, still gives one breaker); call plain async
/// code with [`call`](Self::call); watch it with [`snapshot`](Self::snapshot) and
/// [`subscribe`](Self::subscribe).
///
/// ```
/// use tower_breakwater::circuit_breaker::{CircuitBreaker, State};
///
/// let breaker = CircuitBreaker::builder("inventory").build().unwrap();
/// let same = breaker.clone();
/// same.force_open();
/// assert_eq!(breaker.state(), State::ForcedOpen);
/// breaker.reset();
/// assert_eq!(same.state(), State::Closed);
/// ```
pub struct CircuitBreaker {
    /// The shared state, one pointer away. Clones also count the user's handles in it (see
    /// `Core::release`): when the last one goes, thread caches may let go of the core.
    core: Arc<Core>,
}

impl Clone for CircuitBreaker {
    fn clone(&self) -> Self {
        self.core.hold();
        CircuitBreaker {
            core: self.core.clone(),
        }
    }
}

impl Drop for CircuitBreaker {
    fn drop(&mut self) {
        self.core.release();
    }
}

impl CircuitBreaker {
    /// Start building a breaker called `name` (used in errors, events and metrics).
    ///
    /// ```
    /// use tower_breakwater::circuit_breaker::CircuitBreaker;
    /// let breaker = CircuitBreaker::builder("payments").build().unwrap();
    /// assert_eq!(breaker.name(), "payments");
    /// ```
    pub fn builder(name: impl Into<Name>) -> Builder {
        Builder::new(name.into())
    }

    fn from_config(config: Config) -> Self {
        CircuitBreaker {
            core: local::register(|id| Core::new(config, id)),
        }
    }

    #[inline]
    pub(crate) fn core(&self) -> &Arc<Core> {
        &self.core
    }

    /// The breaker's name.
    ///
    /// ```
    /// # use tower_breakwater::circuit_breaker::CircuitBreaker;
    /// assert_eq!(CircuitBreaker::builder("db").build().unwrap().name(), "db");
    /// ```
    #[must_use]
    pub fn name(&self) -> &str {
        self.core().config.name.as_str()
    }

    /// The current state.
    ///
    /// ```
    /// # use tower_breakwater::circuit_breaker::{CircuitBreaker, State};
    /// assert_eq!(CircuitBreaker::builder("db").build().unwrap().state(), State::Closed);
    /// ```
    #[inline]
    #[must_use]
    pub fn state(&self) -> State {
        self.core().state.state().0
    }

    /// State, time in state, window counts and totals, read now.
    ///
    /// ```
    /// # use tower_breakwater::circuit_breaker::{CircuitBreaker, State};
    /// let breaker = CircuitBreaker::builder("db").build().unwrap();
    /// breaker.try_acquire().unwrap().failure();
    /// let snap = breaker.snapshot();
    /// assert_eq!(snap.state, State::Closed);
    /// assert_eq!(snap.consecutive_failures, Some(1));
    /// ```
    #[must_use]
    pub fn snapshot(&self) -> Snapshot {
        self.core().snapshot()
    }

    /// A receiver of every transition from now on. A receiver that falls more than 64
    /// transitions behind is told how many it missed (tokio's `broadcast` semantics).
    ///
    /// ```
    /// # use tower_breakwater::circuit_breaker::{CircuitBreaker, State};
    /// let breaker = CircuitBreaker::builder("db").build().unwrap();
    /// let mut rx = breaker.subscribe();
    /// breaker.disable();
    /// assert_eq!(rx.try_recv().unwrap().to, State::Disabled);
    /// ```
    #[must_use]
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Transition> {
        self.core().subscribe()
    }

    /// How many times the breaker went from `from` to `to`.
    ///
    /// ```
    /// # use tower_breakwater::circuit_breaker::{CircuitBreaker, State};
    /// let breaker = CircuitBreaker::builder("db").build().unwrap();
    /// breaker.force_open();
    /// assert_eq!(breaker.transitions(State::Closed, State::ForcedOpen), 1);
    /// ```
    #[must_use]
    pub fn transitions(&self, from: State, to: State) -> u64 {
        self.core().transitions(from, to)
    }

    /// Operator: open the breaker and keep it open until [`reset`](Self::reset). Returns the
    /// state it left, or `None` if it was already forced open.
    ///
    /// ```
    /// # use tower_breakwater::circuit_breaker::{CircuitBreaker, State};
    /// let breaker = CircuitBreaker::builder("db").build().unwrap();
    /// assert_eq!(breaker.force_open(), Some(State::Closed));
    /// assert!(breaker.try_acquire().is_err());
    /// ```
    pub fn force_open(&self) -> Option<State> {
        self.core().force(State::ForcedOpen)
    }

    /// Operator: let every call through and never trip, until [`reset`](Self::reset).
    ///
    /// ```
    /// # use tower_breakwater::circuit_breaker::{CircuitBreaker, State};
    /// let breaker = CircuitBreaker::builder("db").consecutive_failures(1).build().unwrap();
    /// breaker.disable();
    /// breaker.try_acquire().unwrap().failure();
    /// assert_eq!(breaker.state(), State::Disabled);
    /// ```
    pub fn disable(&self) -> Option<State> {
        self.core().force(State::Disabled)
    }

    /// Operator: close the breaker with an empty window, whatever state it is in.
    ///
    /// ```
    /// # use tower_breakwater::circuit_breaker::{CircuitBreaker, State};
    /// let breaker = CircuitBreaker::builder("db").build().unwrap();
    /// breaker.force_open();
    /// assert_eq!(breaker.reset(), Some(State::ForcedOpen));
    /// assert_eq!(breaker.state(), State::Closed);
    /// ```
    pub fn reset(&self) -> Option<State> {
        self.core().force(State::Closed)
    }

    /// Ask to make one call: a [`Permit`] to report its outcome with, or a [`Rejected`] at
    /// once. This never waits and never allocates.
    ///
    /// # Errors
    /// A [`Rejected`] when the breaker is open, forced open, or half-open with every trial
    /// permit taken.
    ///
    /// ```
    /// # use tower_breakwater::circuit_breaker::CircuitBreaker;
    /// let breaker = CircuitBreaker::builder("db").build().unwrap();
    /// let permit = breaker.try_acquire().expect("closed");
    /// permit.success();
    /// ```
    #[inline]
    pub fn try_acquire(&self) -> Result<Permit, Rejected> {
        self.decide().map_err(|refusal| {
            self.count_rejection(refusal);
            self.rejection(refusal)
        })
    }

    /// Admit, or say why not, without counting a rejection (the service counts it when it
    /// hands one out).
    #[inline]
    pub(crate) fn decide(&self) -> Result<Permit, Refusal> {
        let core = self.core();
        core.acquire().map(|ticket| Permit::new(core, ticket))
    }

    // Inlined, not cold: built out of line, the rejection was copied field by field into
    // the response future and stalled on the copy (it is the whole open path).
    #[inline]
    pub(crate) fn rejection(&self, refusal: Refusal) -> Rejected {
        let core = self.core();
        let (state, retry_at) = match refusal {
            Refusal::Open(until) => (State::Open, until.map(|u| core.deadline(u))),
            Refusal::HalfOpenFull => (State::HalfOpen, None),
            Refusal::ForcedOpen => (State::ForcedOpen, None),
        };
        Rejected::new(core.config.name.clone(), state, retry_at)
    }

    #[inline]
    pub(crate) fn count_rejection(&self, refusal: Refusal) {
        let core = self.core();
        local::with_block(core, |block| core.count_rejection(block, refusal));
    }

    /// How many threads' counter blocks this breaker holds now: one per live thread that
    /// called it (exited threads' counts are folded into the breaker and leave nothing).
    #[cfg(test)]
    pub(crate) fn thread_blocks(&self) -> usize {
        self.core().live_blocks()
    }

    /// A tower layer that puts this breaker in front of a service, counting every `Err` as
    /// a failure. Every service it makes shares this one breaker.
    ///
    /// ```
    /// # use tower_breakwater::circuit_breaker::CircuitBreaker;
    /// use tower::{service_fn, ServiceBuilder};
    /// let breaker = CircuitBreaker::builder("db").build().unwrap();
    /// let svc = ServiceBuilder::new()
    ///     .layer(breaker.layer())
    ///     .service(service_fn(|x: u8| async move { Ok::<_, std::io::Error>(x) }));
    /// # let _ = svc;
    /// ```
    #[must_use]
    pub fn layer(&self) -> CircuitBreakerLayer<FailOnError> {
        CircuitBreakerLayer::new(self.clone(), FailOnError)
    }

    /// Like [`layer`](Self::layer), with a classifier that decides which outcomes are
    /// failures (see [`crate::classify`]).
    ///
    /// ```
    /// # use tower_breakwater::circuit_breaker::CircuitBreaker;
    /// use tower_breakwater::classify::Outcome;
    /// use tower::{service_fn, ServiceBuilder};
    ///
    /// let breaker = CircuitBreaker::builder("http").build().unwrap();
    /// let five_hundreds = |r: &Result<u16, std::io::Error>| match r {
    ///     Ok(status) if *status >= 500 => Outcome::Failure,
    ///     Ok(_) => Outcome::Success,
    ///     Err(_) => Outcome::Failure,
    /// };
    /// let svc = ServiceBuilder::new()
    ///     .layer(breaker.layer_with(five_hundreds))
    ///     .service(service_fn(|s: u16| async move { Ok::<_, std::io::Error>(s) }));
    /// # let _ = svc;
    /// ```
    pub fn layer_with<C>(&self, classifier: C) -> CircuitBreakerLayer<C> {
        CircuitBreakerLayer::new(self.clone(), classifier)
    }
}

impl std::fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (state, generation) = self.core().state.state();
        f.debug_struct("CircuitBreaker")
            .field("name", &self.core().config.name)
            .field("state", &state)
            .field("generation", &generation)
            .finish()
    }
}
