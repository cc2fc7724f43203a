//! The tower `Layer` of a breaker.

use tower_layer::Layer;

use super::{CircuitBreaker, CircuitBreakerService};

/// Wraps services in a [`CircuitBreakerService`] that shares one breaker: made by
/// [`CircuitBreaker::layer`] or [`CircuitBreaker::layer_with`].
///
/// ```
/// use breakwater::circuit_breaker::CircuitBreaker;
/// use tower::{service_fn, Layer};
///
/// let breaker = CircuitBreaker::builder("db").build().unwrap();
/// let layer = breaker.layer();
/// let a = layer.layer(service_fn(|()| async { Ok::<_, std::io::Error>(1) }));
/// let b = layer.layer(service_fn(|()| async { Ok::<_, std::io::Error>(2) }));
/// breaker.force_open();
/// assert!(a.breaker().try_acquire().is_err() && b.breaker().try_acquire().is_err());
/// ```
#[derive(Debug, Clone)]
pub struct CircuitBreakerLayer<C> {
    breaker: CircuitBreaker,
    classifier: C,
}

impl<C> CircuitBreakerLayer<C> {
    pub(crate) fn new(breaker: CircuitBreaker, classifier: C) -> Self {
        CircuitBreakerLayer {
            breaker,
            classifier,
        }
    }
}

impl<S, C: Clone> Layer<S> for CircuitBreakerLayer<C> {
    type Service = CircuitBreakerService<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        CircuitBreakerService::new(inner, self.breaker.clone(), self.classifier.clone())
    }
}
