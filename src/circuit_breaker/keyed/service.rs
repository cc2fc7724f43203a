//! The tower `Service` of a keyed breaker.

use std::fmt::{self, Display};
use std::hash::Hash;
use std::marker::PhantomData;
use std::task::{Context, Poll};

use tower_service::Service;

use super::KeyedCircuitBreaker;
use crate::circuit_breaker::{ErrorShape, ResponseFuture, Wrap};
use crate::classify::Classify;

/// A service behind a keyed breaker: each request goes through the breaker of its key,
/// `key_fn(&request)`. Made by [`KeyedLayer`](super::KeyedLayer).
///
/// The key is known only in `call`, so `poll_ready` is the inner service's, and the breaker
/// decides in `call`: a refused request comes back in the response future's
/// [`Rejected`](crate::circuit_breaker::Rejected) without being sent. The response future
/// is the single breaker's [`ResponseFuture`]: nothing is boxed.
///
/// ```
/// use tower_breakwater::circuit_breaker::{CircuitBreaker, KeyedCircuitBreaker};
/// use tower::{service_fn, Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let k: KeyedCircuitBreaker<u8> = CircuitBreaker::builder("k").keyed().build().unwrap();
/// let svc = k.layer(|req: &u8| req % 2).layer(service_fn(|x: u8| async move {
///     Ok::<_, std::io::Error>(x)
/// }));
/// assert_eq!(svc.get_ref().clone().oneshot(3).await.unwrap(), 3);
/// assert_eq!(svc.oneshot(4).await.unwrap(), 4);
/// assert_eq!(k.len(), 1, "3 went straight to the inner service; 4 made key 0");
/// # }
/// ```
pub struct KeyedService<S, K, F, C, Shape = Wrap> {
    inner: S,
    keyed: KeyedCircuitBreaker<K>,
    key_fn: F,
    classifier: C,
    shape: PhantomData<fn() -> Shape>,
}

impl<S, K, F, C, Shape> KeyedService<S, K, F, C, Shape> {
    pub(super) fn new(inner: S, keyed: KeyedCircuitBreaker<K>, key_fn: F, classifier: C) -> Self {
        KeyedService {
            inner,
            keyed,
            key_fn,
            classifier,
            shape: PhantomData,
        }
    }

    /// The keyed breaker in front of the service.
    ///
    /// ```
    /// # use tower_breakwater::circuit_breaker::{CircuitBreaker, KeyedCircuitBreaker};
    /// # use tower::{service_fn, Layer};
    /// let k: KeyedCircuitBreaker<u8> = CircuitBreaker::builder("k").keyed().build().unwrap();
    /// let svc = k.layer(|r: &u8| *r).layer(service_fn(|x: u8| async move { Ok::<_, ()>(x) }));
    /// assert_eq!(svc.keyed().name(), "k");
    /// ```
    pub fn keyed(&self) -> &KeyedCircuitBreaker<K> {
        &self.keyed
    }

    /// The inner service.
    ///
    /// ```
    /// # use tower_breakwater::circuit_breaker::{CircuitBreaker, KeyedCircuitBreaker};
    /// # use tower::Layer;
    /// let k: KeyedCircuitBreaker<u8> = CircuitBreaker::builder("k").keyed().build().unwrap();
    /// let svc = k.layer(|r: &u8| *r).layer(7);
    /// assert_eq!(*svc.get_ref(), 7);
    /// ```
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    ///
    /// ```
    /// # use tower_breakwater::circuit_breaker::{CircuitBreaker, KeyedCircuitBreaker};
    /// # use tower::Layer;
    /// let k: KeyedCircuitBreaker<u8> = CircuitBreaker::builder("k").keyed().build().unwrap();
    /// let mut svc = k.layer(|r: &u8| *r).layer(7);
    /// *svc.get_mut() += 1;
    /// assert_eq!(*svc.get_ref(), 8);
    /// ```
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, unwrapped.
    ///
    /// ```
    /// # use tower_breakwater::circuit_breaker::{CircuitBreaker, KeyedCircuitBreaker};
    /// # use tower::Layer;
    /// let k: KeyedCircuitBreaker<u8> = CircuitBreaker::builder("k").keyed().build().unwrap();
    /// let svc = k.layer(|r: &u8| *r).layer(7);
    /// assert_eq!(svc.into_inner(), 7);
    /// ```
    pub fn into_inner(self) -> S {
        self.inner
    }
}

/// A clone shares the keys but not the readiness of the original (tower's rule).
impl<S: Clone, K, F: Clone, C: Clone, Shape> Clone for KeyedService<S, K, F, C, Shape> {
    fn clone(&self) -> Self {
        KeyedService::new(
            self.inner.clone(),
            self.keyed.clone(),
            self.key_fn.clone(),
            self.classifier.clone(),
        )
    }
}

impl<S: fmt::Debug, K, F, C, Shape> fmt::Debug for KeyedService<S, K, F, C, Shape> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedService")
            .field("inner", &self.inner)
            .field("keyed", &self.keyed)
            .finish()
    }
}

impl<S, K, F, C, Req, Shape> Service<Req> for KeyedService<S, K, F, C, Shape>
where
    S: Service<Req>,
    K: Hash + Eq + Clone + Display,
    F: Fn(&Req) -> K,
    C: Classify<S::Response, S::Error> + Clone,
    Shape: ErrorShape<S::Error, Req>,
{
    type Response = S::Response;
    type Error = Shape::Error;
    type Future = ResponseFuture<S::Future, C, Req, Shape>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Shape::inner)
    }

    #[inline]
    fn call(&mut self, request: Req) -> Self::Future {
        let key = (self.key_fn)(&request);
        match self.keyed.try_acquire(&key) {
            Ok(permit) => {
                let future = self.inner.call(request);
                ResponseFuture::called(future, permit, self.classifier.clone())
            }
            Err(rejected) => ResponseFuture::rejected(rejected.with_request(request)),
        }
    }
}
