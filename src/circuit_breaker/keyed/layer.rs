//! The tower `Layer` of a keyed breaker.

use std::fmt;
use std::marker::PhantomData;

use tower_layer::Layer;

use super::{KeyedCircuitBreaker, KeyedService};
use crate::circuit_breaker::{Flat, Wrap};

/// Wraps services in a [`KeyedService`] that shares one [`KeyedCircuitBreaker`]: made by
/// [`KeyedCircuitBreaker::layer`] or [`KeyedCircuitBreaker::layer_with`].
///
/// ```
/// use tower_breakwater::circuit_breaker::{CircuitBreaker, KeyedCircuitBreaker};
/// use tower::{service_fn, Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let k: KeyedCircuitBreaker<u32> = CircuitBreaker::builder("k").keyed().build().unwrap();
/// let layer = k.layer(|req: &(u32, &str)| req.0);
/// let a = layer.layer(service_fn(|_: (u32, &str)| async { Ok::<_, std::io::Error>(1) }));
/// let b = layer.layer(service_fn(|_: (u32, &str)| async { Ok::<_, std::io::Error>(2) }));
/// k.force_open(7).unwrap();
/// assert!(a.oneshot((7, "x")).await.is_err() && b.oneshot((8, "y")).await.is_ok());
/// # }
/// ```
pub struct KeyedLayer<K, F, C, Shape = Wrap> {
    keyed: KeyedCircuitBreaker<K>,
    key_fn: F,
    classifier: C,
    shape: PhantomData<fn() -> Shape>,
}

impl<K, F, C> KeyedLayer<K, F, C> {
    pub(super) fn new(keyed: KeyedCircuitBreaker<K>, key_fn: F, classifier: C) -> Self {
        KeyedLayer {
            keyed,
            key_fn,
            classifier,
            shape: PhantomData,
        }
    }

    /// The same layer for a service that already fails with
    /// [`tower_breakwater::Error<E, Req>`](crate::Error): the refusal goes into that same
    /// error type (see [`Flat`]).
    ///
    /// ```
    /// use tower_breakwater::circuit_breaker::{CircuitBreaker, KeyedCircuitBreaker};
    /// use tower_breakwater::Error;
    /// use tower::{service_fn, Layer, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let k: KeyedCircuitBreaker<u8> = CircuitBreaker::builder("k").keyed().build().unwrap();
    /// let svc = k.layer(|req: &u8| *req).flat().layer(service_fn(|_: u8| async {
    ///     Ok::<_, Error<&str, u8>>(())
    /// }));
    /// k.force_open(1).unwrap();
    /// let err: Error<&str, u8> = svc.oneshot(1).await.unwrap_err();
    /// assert!(err.is_rejected());
    /// # }
    /// ```
    pub fn flat(self) -> KeyedLayer<K, F, C, Flat> {
        KeyedLayer {
            keyed: self.keyed,
            key_fn: self.key_fn,
            classifier: self.classifier,
            shape: PhantomData,
        }
    }
}

impl<K, F: Clone, C: Clone, Shape> Clone for KeyedLayer<K, F, C, Shape> {
    fn clone(&self) -> Self {
        KeyedLayer {
            keyed: self.keyed.clone(),
            key_fn: self.key_fn.clone(),
            classifier: self.classifier.clone(),
            shape: PhantomData,
        }
    }
}

impl<K, F, C, Shape> fmt::Debug for KeyedLayer<K, F, C, Shape> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedLayer")
            .field("keyed", &self.keyed)
            .finish()
    }
}

impl<S, K, F: Clone, C: Clone, Shape> Layer<S> for KeyedLayer<K, F, C, Shape> {
    type Service = KeyedService<S, K, F, C, Shape>;

    fn layer(&self, inner: S) -> Self::Service {
        KeyedService::new(
            inner,
            self.keyed.clone(),
            self.key_fn.clone(),
            self.classifier.clone(),
        )
    }
}
