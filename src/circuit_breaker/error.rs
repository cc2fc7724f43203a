//! The breaker's errors: a rejection, or the inner service's own error.

use std::fmt;
use std::time::Duration;

use tokio::time::Instant;

use super::State;
use crate::Name;

/// The breaker refused a call without sending it: it is open, forced open, or half-open with
/// every trial permit in use.
///
/// It says which breaker and when to try again, and hands the unsent request back
/// ([`into_request`](Rejected::into_request)), so a fallback can use it without `Req: Clone`.
/// Making one allocates nothing.
///
/// ```
/// use tower_breakwater::circuit_breaker::{CircuitBreaker, State};
///
/// let breaker = CircuitBreaker::builder("payments").build().unwrap();
/// breaker.force_open();
/// let rejected = breaker.try_acquire().unwrap_err();
/// assert_eq!(rejected.name(), "payments");
/// assert_eq!(rejected.state(), State::ForcedOpen);
/// assert_eq!(rejected.retry_after(), None); // until an operator resets it
/// assert_eq!(rejected.to_string(), "circuit 'payments' is forced open");
/// ```
pub struct Rejected<Req = ()> {
    name: Name,
    state: State,
    retry_at: Option<Deadline>,
    request: Option<Req>,
}

/// The end of an open period as the breaker keeps it (nanoseconds after its clock's origin),
/// turned into an `Instant` only when asked: the sum costs a division and overflow checks,
/// which a rejection that nobody inspects should not pay.
#[derive(Clone, Copy)]
pub(crate) struct Deadline {
    pub(crate) origin: Instant,
    pub(crate) after_nanos: u64,
}

impl Deadline {
    fn instant(self) -> Instant {
        super::core::instant_after(self.origin, self.after_nanos)
    }
}

impl Rejected {
    pub(crate) fn new(name: Name, state: State, retry_at: Option<Deadline>) -> Self {
        Rejected {
            name,
            state,
            retry_at,
            request: None,
        }
    }
}

impl<Req> Rejected<Req> {
    /// The same rejection, carrying `request` back to the caller.
    ///
    /// ```
    /// # use tower_breakwater::circuit_breaker::CircuitBreaker;
    /// # let breaker = CircuitBreaker::builder("p").build().unwrap();
    /// # breaker.force_open();
    /// let rejected = breaker.try_acquire().unwrap_err().with_request("order-17");
    /// assert_eq!(rejected.into_request(), Some("order-17"));
    /// ```
    pub fn with_request<R>(self, request: R) -> Rejected<R> {
        Rejected {
            name: self.name,
            state: self.state,
            retry_at: self.retry_at,
            request: Some(request),
        }
    }

    /// The name of the breaker that refused.
    ///
    /// ```
    /// # use tower_breakwater::circuit_breaker::CircuitBreaker;
    /// # let breaker = CircuitBreaker::builder("p").build().unwrap();
    /// # breaker.force_open();
    /// assert_eq!(breaker.try_acquire().unwrap_err().name(), "p");
    /// ```
    pub fn name(&self) -> &str {
        self.name.as_str()
    }

    /// The state the breaker was in: open, forced-open or half-open.
    ///
    /// ```
    /// # use tower_breakwater::circuit_breaker::{CircuitBreaker, State};
    /// # let breaker = CircuitBreaker::builder("p").build().unwrap();
    /// # breaker.force_open();
    /// assert_eq!(breaker.try_acquire().unwrap_err().state(), State::ForcedOpen);
    /// ```
    pub fn state(&self) -> State {
        self.state
    }

    /// When the breaker lets its next trial call through, if known (an open breaker's
    /// deadline; `None` when forced open, half-open, or in the instant of tripping).
    ///
    /// ```
    /// # use tower_breakwater::circuit_breaker::CircuitBreaker;
    /// # let breaker = CircuitBreaker::builder("p").build().unwrap();
    /// # breaker.force_open();
    /// assert!(breaker.try_acquire().unwrap_err().retry_at().is_none());
    /// ```
    pub fn retry_at(&self) -> Option<Instant> {
        self.retry_at.map(Deadline::instant)
    }

    /// How long from now until [`retry_at`](Rejected::retry_at) (zero if it has passed). This
    /// reads the clock, so the rejection itself never had to.
    ///
    /// ```
    /// # use tower_breakwater::circuit_breaker::CircuitBreaker;
    /// # let breaker = CircuitBreaker::builder("p").build().unwrap();
    /// # breaker.force_open();
    /// assert_eq!(breaker.try_acquire().unwrap_err().retry_after(), None);
    /// ```
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_at()
            .map(|at| at.saturating_duration_since(Instant::now()))
    }

    /// The request that was not sent, if the rejection carries one.
    ///
    /// ```
    /// # use tower_breakwater::circuit_breaker::CircuitBreaker;
    /// # let breaker = CircuitBreaker::builder("p").build().unwrap();
    /// # breaker.force_open();
    /// let mut rejected = breaker.try_acquire().unwrap_err().with_request(5);
    /// assert_eq!(rejected.request(), Some(&5));
    /// assert_eq!(rejected.take_request(), Some(5));
    /// assert_eq!(rejected.take_request(), None);
    /// ```
    pub fn request(&self) -> Option<&Req> {
        self.request.as_ref()
    }

    /// Take the unsent request out, leaving the rejection without it.
    ///
    /// ```
    /// # use tower_breakwater::circuit_breaker::CircuitBreaker;
    /// # let breaker = CircuitBreaker::builder("p").build().unwrap();
    /// # breaker.force_open();
    /// let mut rejected = breaker.try_acquire().unwrap_err().with_request('r');
    /// assert_eq!(rejected.take_request(), Some('r'));
    /// ```
    pub fn take_request(&mut self) -> Option<Req> {
        self.request.take()
    }

    /// The unsent request, if any.
    ///
    /// ```
    /// # use tower_breakwater::circuit_breaker::CircuitBreaker;
    /// # let breaker = CircuitBreaker::builder("p").build().unwrap();
    /// # breaker.force_open();
    /// assert_eq!(breaker.try_acquire().unwrap_err().into_request(), None);
    /// ```
    pub fn into_request(self) -> Option<Req> {
        self.request
    }

    /// The same rejection without its request (e.g. to turn it into a `BoxError` when the
    /// request type is not `Send + Sync`).
    ///
    /// ```
    /// # use tower_breakwater::circuit_breaker::CircuitBreaker;
    /// # let breaker = CircuitBreaker::builder("p").build().unwrap();
    /// # breaker.force_open();
    /// let bare: tower_breakwater::circuit_breaker::Rejected =
    ///     breaker.try_acquire().unwrap_err().with_request(1).without_request();
    /// assert!(bare.request().is_none());
    /// ```
    pub fn without_request(self) -> Rejected {
        Rejected {
            name: self.name,
            state: self.state,
            retry_at: self.retry_at,
            request: None,
        }
    }
}

impl<Req> fmt::Debug for Rejected<Req> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rejected")
            .field("name", &self.name)
            .field("state", &self.state)
            .field("retry_at", &self.retry_at())
            .field("has_request", &self.request.is_some())
            .finish()
    }
}

impl<Req> fmt::Display for Rejected<Req> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = &self.name;
        match self.state {
            State::ForcedOpen => write!(f, "circuit '{name}' is forced open"),
            State::HalfOpen => {
                write!(
                    f,
                    "circuit '{name}' is half-open and its trial calls are taken"
                )
            }
            _ => match self.retry_after() {
                Some(after) => write!(
                    f,
                    "circuit '{name}' is open; retry after {:.3}s",
                    after.as_secs_f64()
                ),
                None => write!(f, "circuit '{name}' is open"),
            },
        }
    }
}

impl<Req> std::error::Error for Rejected<Req> {}

/// The error of a call through a *lone* breaker: either the breaker refused it, or the inner
/// service (or future) failed with its own error `E`.
///
/// # Which error you meet
/// - This one, `circuit_breaker::Error`, from a breaker used on its own: the library API
///   ([`CircuitBreaker::call`](super::CircuitBreaker::call), `call_with`) and the plain
///   layer ([`CircuitBreaker::layer`](super::CircuitBreaker::layer), `layer_with`). A lone
///   breaker only ever refuses or passes the call on, so these two variants are all there
///   will be: match both, no wildcard needed.
/// - [`tower_breakwater::Error`](crate::Error), the stack's error, from everything else: a
///   [`Resilience`](crate::Resilience) stack, the retry, fallback, timeout and bulkhead
///   layers, and a breaker layer made `.flat()` to sit inside such a stack. It has the same
///   `Rejected` and `Inner`, plus `Timeout`, `BulkheadFull` and `RetriesExhausted`.
///
/// `From` turns this one into the stack's, variant for variant.
///
/// ```
/// use tower_breakwater::circuit_breaker::{CircuitBreaker, Error};
///
/// # tokio_test_block_on(async {
/// let breaker = CircuitBreaker::builder("payments").build().unwrap();
/// let failed: Result<(), _> = breaker.call(|| async { Err("card declined") }).await;
/// assert_eq!(failed.unwrap_err().into_inner(), Some("card declined"));
///
/// breaker.force_open();
/// let refused: Result<(), Error<&str>> = breaker.call(|| async { Ok(()) }).await;
/// assert!(refused.unwrap_err().is_rejected());
/// # });
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(f)
/// # }
/// ```
pub enum Error<E, Req = ()> {
    /// The breaker refused the call; the request was not sent.
    Rejected(Rejected<Req>),
    /// The inner service's own error.
    Inner(E),
}

impl<E, Req> Error<E, Req> {
    /// True if the breaker refused the call.
    ///
    /// ```
    /// # use tower_breakwater::circuit_breaker::Error;
    /// assert!(!Error::<&str>::Inner("x").is_rejected());
    /// ```
    pub fn is_rejected(&self) -> bool {
        matches!(self, Error::Rejected(_))
    }

    /// The rejection, if the breaker refused the call.
    ///
    /// ```
    /// # use tower_breakwater::circuit_breaker::Error;
    /// assert!(Error::<&str>::Inner("x").rejected().is_none());
    /// ```
    pub fn rejected(&self) -> Option<&Rejected<Req>> {
        match self {
            Error::Rejected(r) => Some(r),
            Error::Inner(_) => None,
        }
    }

    /// The inner error, if the call was made and failed.
    ///
    /// ```
    /// # use tower_breakwater::circuit_breaker::Error;
    /// assert_eq!(Error::<&str>::Inner("x").into_inner(), Some("x"));
    /// ```
    pub fn into_inner(self) -> Option<E> {
        match self {
            Error::Inner(e) => Some(e),
            Error::Rejected(_) => None,
        }
    }
}

impl<E: fmt::Debug, Req> fmt::Debug for Error<E, Req> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Rejected(r) => f.debug_tuple("Rejected").field(r).finish(),
            Error::Inner(e) => f.debug_tuple("Inner").field(e).finish(),
        }
    }
}

impl<E: fmt::Display, Req> fmt::Display for Error<E, Req> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Rejected(r) => fmt::Display::fmt(r, f),
            Error::Inner(e) => fmt::Display::fmt(e, f),
        }
    }
}

/// Only `Debug + Display` is asked of `E`, so an inner `BoxError` (what tower's own
/// middleware returns) still makes an error that converts into a `BoxError` again.
impl<E, Req> std::error::Error for Error<E, Req> where E: fmt::Debug + fmt::Display {}
