//! Which outcomes are retried, and how a request is copied for another attempt.

use std::time::Duration;

use crate::Error;

/// Decides whether an attempt's outcome is worth another attempt.
///
/// Implemented by [`RetryOnError`] (the default), by `http::RetryOnStatus` for HTTP
/// (feature `http`), and by every closure
/// `Fn(&Result<Resp, tower_breakwater::Error<E, Req>>) -> bool`.
///
/// ```
/// use tower_breakwater::retry::Predicate;
/// use tower_breakwater::Error;
///
/// // Retry 503 responses and inner errors; nothing else.
/// let retry_if = |outcome: &Result<u16, Error<std::io::Error>>| match outcome {
///     Ok(status) => *status == 503,
///     Err(e) => matches!(e, Error::Inner(_)),
/// };
/// assert!(retry_if.should_retry(&Ok(503)));
/// assert!(!retry_if.should_retry(&Ok(200)));
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot decide which attempts are retried",
    label = "must be `Fn(&Result<{Resp}, tower_breakwater::Error<{E}, {Req}>>) -> bool` or a `retry::Predicate`",
    note = "a retry predicate sees each attempt's whole outcome: the inner service's response `{Resp}`, or the stack's error `tower_breakwater::Error<{E}, {Req}>`"
)]
pub trait Predicate<Resp, E, Req> {
    /// True if `outcome` should be tried again (attempts and budget permitting).
    fn should_retry(&self, outcome: &Result<Resp, Error<E, Req>>) -> bool;

    /// How long the callee asked to be left alone before the next attempt (HTTP's
    /// `Retry-After`), if it said so: this replaces the backoff's wait, capped by the
    /// layer's `max_retry_after`. Asked only of outcomes [`should_retry`](Self::should_retry)
    /// accepted. `None` by default.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_breakwater::retry::{Predicate, RetryOnError};
    /// use tower_breakwater::Error;
    /// let outcome: Result<(), Error<&str>> = Err(Error::Inner("reset"));
    /// assert_eq!(RetryOnError.retry_after(&outcome), None);
    /// ```
    fn retry_after(&self, outcome: &Result<Resp, Error<E, Req>>) -> Option<Duration> {
        let _ = outcome;
        None
    }
}

/// The default predicate: retry an attempt that timed out ([`Error::Timeout`]) or that the
/// inner service failed ([`Error::Inner`]).
///
/// Never a refusal made before sending ([`Error::Rejected`] by an open breaker,
/// [`Error::BulkheadFull`]): retrying into an open breaker or a full bulkhead only adds
/// load where there is no room. Never [`Error::RetriesExhausted`] (a retry layer below
/// already gave up). Never an `Ok` response.
///
/// ```
/// use std::time::Duration;
/// use tower_breakwater::retry::{Predicate, RetryOnError};
/// use tower_breakwater::bulkhead::BulkheadFull;
/// use tower_breakwater::timeout::Elapsed;
/// use tower_breakwater::Error;
///
/// let timed_out: Result<(), Error<&str>> = Err(Elapsed::new("db", Duration::ZERO, Duration::ZERO).into());
/// let full: Result<(), Error<&str>> = Err(BulkheadFull::new("db", 8, None).into());
/// assert!(RetryOnError.should_retry(&timed_out));
/// let failed: Result<(), Error<&str>> = Err(Error::Inner("reset"));
/// assert!(RetryOnError.should_retry(&failed));
/// assert!(!RetryOnError.should_retry(&full));
/// assert!(!RetryOnError.should_retry(&Ok::<(), Error<&str>>(())));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetryOnError;

impl<Resp, E, Req> Predicate<Resp, E, Req> for RetryOnError {
    #[inline]
    fn should_retry(&self, outcome: &Result<Resp, Error<E, Req>>) -> bool {
        matches!(outcome, Err(Error::Timeout(_) | Error::Inner(_)))
    }
}

impl<F, Resp, E, Req> Predicate<Resp, E, Req> for F
where
    F: Fn(&Result<Resp, Error<E, Req>>) -> bool,
{
    #[inline]
    fn should_retry(&self, outcome: &Result<Resp, Error<E, Req>>) -> bool {
        self(outcome)
    }
}

/// Makes the copy of a request that a later attempt will send; `None` if this request
/// cannot be replayed (a streaming body, a non-idempotent call), and then it is sent once.
///
/// Implemented by [`CloneRequest`] (the default, for `Req: Clone`), by
/// `http::IdempotentRequests` for HTTP (feature `http`), and by every closure `Fn(&Req) -> Option<Req>`.
///
/// ```
/// use tower_breakwater::retry::CopyRequest;
///
/// // Only orders without a payment token may be sent twice.
/// struct Order { id: u64, token: Option<String> }
/// let copy = |o: &Order| o.token.is_none().then(|| Order { id: o.id, token: None });
/// assert!(copy.copy_request(&Order { id: 1, token: None }).is_some());
/// assert!(copy.copy_request(&Order { id: 2, token: Some("t".into()) }).is_none());
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot copy a `{Req}` for another attempt",
    label = "must be `Fn(&{Req}) -> Option<{Req}>` or a `CopyRequest`",
    note = "the default copier, `CloneRequest`, needs `{Req}: Clone`; for a streaming body, buffer it first (e.g. `Full<Bytes>`) or copy with a function that returns `None` when the request must not be replayed"
)]
pub trait CopyRequest<Req> {
    /// A copy of `request` for another attempt, or `None` if it must not be replayed.
    fn copy_request(&self, request: &Req) -> Option<Req>;
}

/// The default copier: `Req::clone`. (An `http::Request<B>` is `Clone` when its body `B`
/// is, e.g. a buffered `Full<Bytes>` or a `String`.)
///
/// ```
/// use tower_breakwater::retry::{CloneRequest, CopyRequest};
/// assert_eq!(CloneRequest.copy_request(&String::from("GET /")), Some("GET /".to_string()));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CloneRequest;

impl<Req: Clone> CopyRequest<Req> for CloneRequest {
    #[inline]
    fn copy_request(&self, request: &Req) -> Option<Req> {
        Some(request.clone())
    }
}

impl<F, Req> CopyRequest<Req> for F
where
    F: Fn(&Req) -> Option<Req>,
{
    #[inline]
    fn copy_request(&self, request: &Req) -> Option<Req> {
        self(request)
    }
}
