//! How a breaker's service shapes its error: wrapped around the inner error, or flat.

use super::{Error, Rejected};

/// How a [`CircuitBreakerService`](super::CircuitBreakerService) reports its errors. Sealed:
/// the two shapes are [`Wrap`] and [`Flat`].
///
/// ```
/// use tower_breakwater::circuit_breaker::{ErrorShape, Flat, Wrap};
/// fn takes_shape<S: ErrorShape<std::io::Error, ()>>() {}
/// takes_shape::<Wrap>();
/// ```
pub trait ErrorShape<E, Req>: sealed::Sealed {
    /// The service's error type.
    type Error;

    /// The inner service's (or future's) own error.
    fn inner(error: E) -> Self::Error;

    /// The breaker's refusal.
    fn rejected(rejected: Rejected<Req>) -> Self::Error;

    /// Whether `error` says the attempt timed out (it then counts as slow, too).
    fn timed_out(error: &E) -> bool;
}

/// The default shape: the service's error is [`circuit_breaker::Error<E, Req>`](Error), the
/// refusal or the inner service's error `E` as it was. For a breaker used on its own.
///
/// ```
/// use tower_breakwater::circuit_breaker::{CircuitBreaker, CircuitBreakerService, Wrap};
/// use tower_breakwater::classify::FailOnError;
/// use tower::{service_fn, Layer};
///
/// let breaker = CircuitBreaker::builder("db").build().unwrap();
/// let inner = service_fn(|()| async { Err::<(), _>("down") });
/// let svc: CircuitBreakerService<_, FailOnError, Wrap> = breaker.layer().layer(inner);
/// # let _ = svc;
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Wrap;

/// The shape for a stack: the inner service already fails with
/// [`tower_breakwater::Error<E, Req>`](crate::Error) (it sits above a timeout or a bulkhead), and
/// the breaker reports its refusal into that same type instead of nesting it. Timeouts from
/// below count as slow calls as well as failures. Made by [`CircuitBreakerLayer::flat`].
///
/// [`CircuitBreakerLayer::flat`]: super::CircuitBreakerLayer::flat
///
/// ```
/// use tower_breakwater::circuit_breaker::CircuitBreaker;
/// use tower_breakwater::Error;
/// use tower::{service_fn, Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let breaker = CircuitBreaker::builder("db").build().unwrap();
/// let inner = service_fn(|()| async { Err::<(), Error<&str>>(Error::Inner("down")) });
/// let svc = breaker.layer().flat().layer(inner);
/// breaker.force_open();
/// let err: Error<&str> = svc.oneshot(()).await.unwrap_err();
/// assert!(err.is_rejected());
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Flat;

impl<E, Req> ErrorShape<E, Req> for Wrap {
    type Error = Error<E, Req>;

    #[inline]
    fn inner(error: E) -> Self::Error {
        Error::Inner(error)
    }

    #[inline]
    fn rejected(rejected: Rejected<Req>) -> Self::Error {
        Error::Rejected(rejected)
    }

    #[inline]
    fn timed_out(_: &E) -> bool {
        false
    }
}

impl<E, Req> ErrorShape<crate::Error<E, Req>, Req> for Flat {
    type Error = crate::Error<E, Req>;

    #[inline]
    fn inner(error: crate::Error<E, Req>) -> Self::Error {
        error
    }

    #[inline]
    fn rejected(rejected: Rejected<Req>) -> Self::Error {
        crate::Error::Rejected(rejected)
    }

    #[inline]
    fn timed_out(error: &crate::Error<E, Req>) -> bool {
        error.is_timeout()
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Wrap {}
    impl Sealed for super::Flat {}
}
