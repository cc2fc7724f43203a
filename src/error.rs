//! The one error type of a composed breakwater stack.

use std::fmt;
use std::time::Duration;

use crate::bulkhead::BulkheadFull;
use crate::circuit_breaker::{self, Rejected};
use crate::retry::RetriesExhausted;
use crate::timeout::Elapsed;

/// The error of a call through breakwater's layers: either one of the layers refused or gave
/// up (each with its own typed reason), or the inner service failed with its own error `E`.
///
/// # Which error you meet
/// - This one, the stack's error, from a [`Resilience`](crate::Resilience) stack, from the
///   retry, fallback, timeout and bulkhead layers, and from a breaker layer made `.flat()`.
/// - [`circuit_breaker::Error`] (only `Rejected` and `Inner`) from a breaker used on its
///   own: `breaker.call(..)`, `breaker.layer()`. It converts into this one with `From`.
///
/// The enum is `#[non_exhaustive]`: later layers will add their own refusals, so a `match`
/// ends with a wildcard arm (or uses [`kind`](Error::kind) and the `is_*` helpers).
///
/// `Req` is the request type: the two refusals made before sending (an open breaker, a full
/// bulkhead) hand the unsent request back in it. Match on the variants; no string compares,
/// no downcasts.
///
/// Every layer of a stack reports into this one type (rather than nesting one error per
/// layer): the retry and fallback layers take a service whose error is already
/// `Error<E, Req>` and keep it; the timeout and bulkhead keep any error type that can hold
/// their own (this one, or tower's `BoxError`); the breaker's `.layer().flat()` reports into
/// it. [`Resilience`](crate::Resilience) lifts the inner
/// service's own error into [`Error::Inner`] for you.
///
/// ```
/// use std::time::Duration;
/// use tower_breakwater::{Error, ErrorKind};
/// use tower_breakwater::timeout::Elapsed;
///
/// let e: Error<std::io::Error> =
///     Elapsed::new("payments", Duration::from_secs(1), Duration::from_secs(1)).into();
/// assert_eq!(e.kind(), ErrorKind::Timeout);
/// match e {
///     Error::Rejected(open) => println!("{open}"),
///     Error::Timeout(t) => assert_eq!(t.limit(), Duration::from_secs(1)),
///     Error::BulkheadFull(full) => println!("{full}"),
///     Error::RetriesExhausted(gave_up) => println!("{gave_up}"),
///     Error::Inner(io) => println!("payments failed: {io}"),
///     other => println!("another refusal: {other}"),
/// }
/// ```
#[non_exhaustive]
pub enum Error<E, Req = ()> {
    /// A circuit breaker is open (or half-open with its trial calls taken): the request was
    /// not sent, and comes back inside.
    Rejected(Rejected<Req>),
    /// An attempt took longer than its time limit.
    Timeout(Elapsed),
    /// The bulkhead had no free slot within its wait: the request was not sent, and comes
    /// back inside.
    BulkheadFull(BulkheadFull<Req>),
    /// The retry layer gave up on a retryable failure (attempts or budget ran out).
    RetriesExhausted(RetriesExhausted<E, Req>),
    /// The inner service's own error.
    Inner(E),
}

/// Which kind of [`Error`] a call ended with, without its payload: what retry predicates
/// and fallbacks choose on.
///
/// ```
/// use tower_breakwater::{Error, ErrorKind};
/// assert_eq!(Error::<&str>::Inner("boom").kind(), ErrorKind::Inner);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// [`Error::Rejected`].
    Rejected,
    /// [`Error::Timeout`].
    Timeout,
    /// [`Error::BulkheadFull`].
    BulkheadFull,
    /// [`Error::RetriesExhausted`].
    RetriesExhausted,
    /// [`Error::Inner`].
    Inner,
}

impl ErrorKind {
    /// The kind in snake case (`"bulkhead_full"`), as it appears in `tracing` fields: a
    /// bounded set, fit for a metric label too.
    ///
    /// ```
    /// use tower_breakwater::ErrorKind;
    /// assert_eq!(ErrorKind::BulkheadFull.as_str(), "bulkhead_full");
    /// ```
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Rejected => "rejected",
            ErrorKind::Timeout => "timeout",
            ErrorKind::BulkheadFull => "bulkhead_full",
            ErrorKind::RetriesExhausted => "retries_exhausted",
            ErrorKind::Inner => "inner",
        }
    }
}

impl<E, Req> Error<E, Req> {
    /// Which kind of error this is.
    ///
    /// ```
    /// # use tower_breakwater::{Error, ErrorKind};
    /// assert_eq!(Error::<()>::Inner(()).kind(), ErrorKind::Inner);
    /// ```
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Rejected(_) => ErrorKind::Rejected,
            Error::Timeout(_) => ErrorKind::Timeout,
            Error::BulkheadFull(_) => ErrorKind::BulkheadFull,
            Error::RetriesExhausted(_) => ErrorKind::RetriesExhausted,
            Error::Inner(_) => ErrorKind::Inner,
        }
    }

    /// True if a circuit breaker refused the call.
    ///
    /// ```
    /// # use tower_breakwater::Error;
    /// assert!(!Error::<()>::Inner(()).is_rejected());
    /// ```
    pub fn is_rejected(&self) -> bool {
        matches!(self, Error::Rejected(_))
    }

    /// True if an attempt timed out.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tower_breakwater::{Error, timeout::Elapsed};
    /// let e: Error<()> = Elapsed::new("db", Duration::ZERO, Duration::ZERO).into();
    /// assert!(e.is_timeout());
    /// ```
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Timeout(_))
    }

    /// True if the bulkhead refused the call.
    ///
    /// ```
    /// # use tower_breakwater::{Error, bulkhead::BulkheadFull};
    /// let e: Error<()> = BulkheadFull::new("db", 1, None).into();
    /// assert!(e.is_bulkhead_full());
    /// ```
    pub fn is_bulkhead_full(&self) -> bool {
        matches!(self, Error::BulkheadFull(_))
    }

    /// True if the retry layer gave up.
    ///
    /// ```
    /// # use tower_breakwater::Error;
    /// assert!(!Error::<()>::Inner(()).is_retries_exhausted());
    /// ```
    pub fn is_retries_exhausted(&self) -> bool {
        matches!(self, Error::RetriesExhausted(_))
    }

    /// The error at the bottom: for [`Error::RetriesExhausted`], its last attempt's error
    /// (followed down); otherwise `self`.
    ///
    /// ```
    /// # use tower_breakwater::{Error, retry::RetriesExhausted};
    /// let e: Error<&str> = RetriesExhausted::new("db", 3, false, Error::Inner("reset")).into();
    /// assert!(matches!(e.root(), Error::Inner("reset")));
    /// ```
    pub fn root(&self) -> &Error<E, Req> {
        match self {
            Error::RetriesExhausted(gave_up) => gave_up.last().root(),
            other => other,
        }
    }

    /// The inner service's error, if that is what this is (looking through
    /// [`Error::RetriesExhausted`] to its last attempt).
    ///
    /// ```
    /// # use tower_breakwater::Error;
    /// assert_eq!(Error::<&str>::Inner("x").inner(), Some(&"x"));
    /// ```
    pub fn inner(&self) -> Option<&E> {
        match self.root() {
            Error::Inner(e) => Some(e),
            _ => None,
        }
    }

    /// The inner service's error, owned (looking through [`Error::RetriesExhausted`]).
    ///
    /// ```
    /// # use tower_breakwater::Error;
    /// assert_eq!(Error::<&str>::Inner("x").into_inner(), Some("x"));
    /// ```
    pub fn into_inner(self) -> Option<E> {
        match self {
            Error::Inner(e) => Some(e),
            Error::RetriesExhausted(gave_up) => gave_up.into_last().into_inner(),
            _ => None,
        }
    }

    /// Take the unsent request out of a refusal (open breaker or full bulkhead, also as the
    /// last error of a [`Error::RetriesExhausted`]). `None` for errors of calls that were
    /// sent: their request was consumed.
    ///
    /// ```
    /// # use tower_breakwater::{Error, bulkhead::BulkheadFull};
    /// let mut e: Error<(), &str> = BulkheadFull::new("db", 1, None).with_request("q").into();
    /// assert_eq!(e.take_request(), Some("q"));
    /// ```
    pub fn take_request(&mut self) -> Option<Req> {
        match self {
            Error::Rejected(r) => r.take_request(),
            Error::BulkheadFull(full) => full.take_request(),
            Error::RetriesExhausted(gave_up) => gave_up.last_mut().take_request(),
            Error::Timeout(_) | Error::Inner(_) => None,
        }
    }

    /// How long until a call is worth trying again, when breakwater knows: an open breaker's
    /// remaining open time. (Used for the `Retry-After` header of the HTTP mapping.)
    ///
    /// ```
    /// # use tower_breakwater::Error;
    /// assert_eq!(Error::<()>::Inner(()).retry_after(), None);
    /// ```
    pub fn retry_after(&self) -> Option<Duration> {
        match self.root() {
            Error::Rejected(r) => r.retry_after(),
            _ => None,
        }
    }
}

impl<E, Req> From<Rejected<Req>> for Error<E, Req> {
    fn from(rejected: Rejected<Req>) -> Self {
        Error::Rejected(rejected)
    }
}

impl<E, Req> From<Elapsed> for Error<E, Req> {
    fn from(elapsed: Elapsed) -> Self {
        Error::Timeout(elapsed)
    }
}

impl<E, Req> From<BulkheadFull<Req>> for Error<E, Req> {
    fn from(full: BulkheadFull<Req>) -> Self {
        Error::BulkheadFull(full)
    }
}

impl<E, Req> From<RetriesExhausted<E, Req>> for Error<E, Req> {
    fn from(gave_up: RetriesExhausted<E, Req>) -> Self {
        Error::RetriesExhausted(gave_up)
    }
}

/// A lone breaker's error (see [`circuit_breaker::Error`]) is the same story with fewer
/// chapters.
impl<E, Req> From<circuit_breaker::Error<E, Req>> for Error<E, Req> {
    fn from(e: circuit_breaker::Error<E, Req>) -> Self {
        match e {
            circuit_breaker::Error::Rejected(r) => Error::Rejected(r),
            circuit_breaker::Error::Inner(e) => Error::Inner(e),
        }
    }
}

impl<E: fmt::Debug, Req> fmt::Debug for Error<E, Req> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Rejected(r) => f.debug_tuple("Rejected").field(r).finish(),
            Error::Timeout(t) => f.debug_tuple("Timeout").field(t).finish(),
            Error::BulkheadFull(b) => f.debug_tuple("BulkheadFull").field(b).finish(),
            Error::RetriesExhausted(r) => f.debug_tuple("RetriesExhausted").field(r).finish(),
            Error::Inner(e) => f.debug_tuple("Inner").field(e).finish(),
        }
    }
}

impl<E: fmt::Display, Req> fmt::Display for Error<E, Req> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Rejected(r) => fmt::Display::fmt(r, f),
            Error::Timeout(t) => fmt::Display::fmt(t, f),
            Error::BulkheadFull(b) => fmt::Display::fmt(b, f),
            Error::RetriesExhausted(r) => fmt::Display::fmt(r, f),
            Error::Inner(e) => fmt::Display::fmt(e, f),
        }
    }
}

/// Only `Debug + Display` is asked of `E`, so an inner `BoxError` (tower's convention) still
/// makes an error that converts into a `BoxError` again.
impl<E: fmt::Debug + fmt::Display, Req> std::error::Error for Error<E, Req> {}
