//! Which outcomes count as failures.
//!
//! Every layer that watches outcomes (today the circuit breaker) asks a [`Classify`] what a
//! finished call was. The default, [`FailOnError`], calls every `Err` a failure and every `Ok`
//! a success. Any `Fn(&Result<Resp, E>) -> Outcome` is a classifier too, so a rule such as
//! "a 5xx response is a failure, a 404 counts neither way" is one closure.
//!
//! ```
//! use tower_breakwater::classify::{Classify, FailOnError, Outcome};
//!
//! let by_status = |result: &Result<u16, std::io::Error>| match result {
//!     Ok(status) if *status >= 500 => Outcome::Failure,
//!     Ok(404) => Outcome::Ignored,
//!     Ok(_) => Outcome::Success,
//!     Err(_) => Outcome::Failure,
//! };
//! assert_eq!(by_status.classify(&Ok(503)), Outcome::Failure);
//! assert_eq!(by_status.classify(&Ok(404)), Outcome::Ignored);
//! assert_eq!(FailOnError.classify(&Ok::<u16, std::io::Error>(503)), Outcome::Success);
//! ```

/// What one finished call was, as far as the breaker is concerned.
///
/// ```
/// use tower_breakwater::classify::Outcome;
/// assert_ne!(Outcome::Ignored, Outcome::Failure);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The call worked.
    Success,
    /// The call failed and counts toward opening the breaker.
    Failure,
    /// Counts neither way (a 404, a request the caller cancelled on purpose, ...). A half-open
    /// trial that is ignored gives its permit back.
    Ignored,
}

/// Decides the [`Outcome`] of a finished call.
///
/// Implemented by [`FailOnError`] and by every `Fn(&Result<Resp, E>) -> Outcome`.
///
/// ```
/// use tower_breakwater::classify::{Classify, Outcome};
///
/// #[derive(Clone)]
/// struct TimeoutsOnly;
/// impl Classify<(), std::io::Error> for TimeoutsOnly {
///     fn classify(&self, result: &Result<(), std::io::Error>) -> Outcome {
///         match result {
///             Err(e) if e.kind() == std::io::ErrorKind::TimedOut => Outcome::Failure,
///             _ => Outcome::Success,
///         }
///     }
/// }
/// let timed_out = std::io::Error::from(std::io::ErrorKind::TimedOut);
/// assert_eq!(TimeoutsOnly.classify(&Err(timed_out)), Outcome::Failure);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot classify the outcome `Result<{Resp}, {E}>`",
    label = "must be `Fn(&Result<{Resp}, {E}>) -> Outcome` or a `Classify`",
    note = "a classifier sees the whole outcome of the service it wraps; inside a `Resilience` stack the error is `tower_breakwater::Error<E, Req>`, not the inner service's own error"
)]
pub trait Classify<Resp, E> {
    /// The outcome of `result`.
    fn classify(&self, result: &Result<Resp, E>) -> Outcome;
}

/// The default classifier: `Err` is a failure, `Ok` a success.
///
/// ```
/// use tower_breakwater::classify::{Classify, FailOnError, Outcome};
/// assert_eq!(FailOnError.classify(&Err::<(), _>("boom")), Outcome::Failure);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FailOnError;

impl<Resp, E> Classify<Resp, E> for FailOnError {
    #[inline]
    fn classify(&self, result: &Result<Resp, E>) -> Outcome {
        match result {
            Ok(_) => Outcome::Success,
            Err(_) => Outcome::Failure,
        }
    }
}

impl<F, Resp, E> Classify<Resp, E> for F
where
    F: Fn(&Result<Resp, E>) -> Outcome,
{
    #[inline]
    fn classify(&self, result: &Result<Resp, E>) -> Outcome {
        self(result)
    }
}

/// The default classifier of a breaker in a [`Resilience`](crate::Resilience) stack, where
/// the inner service fails with [`tower_breakwater::Error`](crate::Error): the dependency's own
/// errors and timeouts are failures; a full bulkhead is ignored, because it is this caller's
/// own limit speaking, not the dependency (it would otherwise trip the breaker on a burst of
/// our own traffic).
///
/// ```
/// use tower_breakwater::bulkhead::BulkheadFull;
/// use tower_breakwater::classify::{Classify, DependencyFailures, Outcome};
/// use tower_breakwater::Error;
///
/// let full: Result<(), Error<&str>> = Err(BulkheadFull::new("db", 4, None).into());
/// assert_eq!(DependencyFailures.classify(&full), Outcome::Ignored);
/// assert_eq!(DependencyFailures.classify(&Err::<(), Error<&str>>(Error::Inner("down"))), Outcome::Failure);
/// assert_eq!(DependencyFailures.classify(&Ok::<(), Error<&str>>(())), Outcome::Success);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DependencyFailures;

impl<Resp, E, Req> Classify<Resp, crate::Error<E, Req>> for DependencyFailures {
    #[inline]
    fn classify(&self, result: &Result<Resp, crate::Error<E, Req>>) -> Outcome {
        match result {
            Ok(_) => Outcome::Success,
            Err(crate::Error::BulkheadFull(_)) => Outcome::Ignored,
            Err(_) => Outcome::Failure,
        }
    }
}
