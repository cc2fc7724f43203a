//! The tower `Layer` of a breaker.

use tower_layer::Layer;

use std::marker::PhantomData;

use super::{CircuitBreaker, CircuitBreakerService, Flat, Wrap};

/// Wraps services in a [`CircuitBreakerService`] that shares one breaker: made by
/// [`CircuitBreaker::layer`] or [`CircuitBreaker::layer_with`].
///
/// ```
/// use tower_breakwater::circuit_breaker::CircuitBreaker;
/// use tower::{service_fn, Layer};
///
/// let breaker = CircuitBreaker::builder("db").build().unwrap();
/// let layer = breaker.layer();
/// let a = layer.layer(service_fn(|()| async { Ok::<_, std::io::Error>(1) }));
/// let b = layer.layer(service_fn(|()| async { Ok::<_, std::io::Error>(2) }));
/// breaker.force_open();
/// assert!(a.breaker().try_acquire().is_err() && b.breaker().try_acquire().is_err());
/// ```
#[derive(Debug)]
pub struct CircuitBreakerLayer<C, Shape = Wrap> {
    breaker: CircuitBreaker,
    classifier: C,
    shape: PhantomData<fn() -> Shape>,
}

impl<C: Clone, Shape> Clone for CircuitBreakerLayer<C, Shape> {
    fn clone(&self) -> Self {
        CircuitBreakerLayer {
            breaker: self.breaker.clone(),
            classifier: self.classifier.clone(),
            shape: PhantomData,
        }
    }
}

impl<C> CircuitBreakerLayer<C> {
    pub(crate) fn new(breaker: CircuitBreaker, classifier: C) -> Self {
        CircuitBreakerLayer {
            breaker,
            classifier,
            shape: PhantomData,
        }
    }

    /// The same layer for a service that already fails with
    /// [`tower_breakwater::Error<E, Req>`](crate::Error) (below it sit a timeout or a bulkhead):
    /// the breaker's refusal goes into that same error type instead of wrapping it, and a
    /// timeout from below counts as a slow call as well as a failure. See [`Flat`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_breakwater::circuit_breaker::CircuitBreaker;
    /// use tower_breakwater::timeout::Elapsed;
    /// use tower_breakwater::Error;
    /// use tower::{service_fn, Layer, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let breaker = CircuitBreaker::builder("db").consecutive_failures(1).build().unwrap();
    /// let svc = breaker.layer().flat().layer(service_fn(|()| async {
    ///     Err::<(), Error<&str>>(Elapsed::new("db", Duration::from_secs(1), Duration::from_secs(1)).into())
    /// }));
    /// assert!(svc.clone().oneshot(()).await.unwrap_err().is_timeout());
    /// assert!(svc.oneshot(()).await.unwrap_err().is_rejected());
    /// # }
    /// ```
    pub fn flat(self) -> CircuitBreakerLayer<C, Flat> {
        CircuitBreakerLayer {
            breaker: self.breaker,
            classifier: self.classifier,
            shape: PhantomData,
        }
    }
}

impl<C, Shape> CircuitBreakerLayer<C, Shape> {
    /// The breaker every service of this layer shares (a handle: force it open, read its
    /// snapshot, register its metrics).
    ///
    /// ```
    /// use tower_breakwater::circuit_breaker::CircuitBreaker;
    /// let layer = CircuitBreaker::builder("db").build().unwrap().layer();
    /// assert_eq!(layer.breaker().name(), "db");
    /// ```
    #[must_use]
    pub fn breaker(&self) -> &CircuitBreaker {
        &self.breaker
    }
}

impl<S, C: Clone, Shape> Layer<S> for CircuitBreakerLayer<C, Shape> {
    type Service = CircuitBreakerService<S, C, Shape>;

    fn layer(&self, inner: S) -> Self::Service {
        CircuitBreakerService::with_shape(inner, self.breaker.clone(), self.classifier.clone())
    }
}
