//! The tower `Layer` of a keyed breaker, and the library API beside it.

use std::fmt::{self, Display};
use std::future::Future;
use std::hash::Hash;
use std::marker::PhantomData;

use tower_layer::Layer;

use super::{KeyedCircuitBreaker, KeyedService};
use crate::circuit_breaker::{Error, Flat, Wrap};
use crate::classify::{Classify, FailOnError};

/// The two ways calls go through a keyed breaker: its tower layer, or the library API.
impl<K: Hash + Eq + Clone + Display> KeyedCircuitBreaker<K> {
    /// Run `f`'s future through `key`'s breaker, counting an `Err` as a failure (see
    /// [`CircuitBreaker::call`](crate::circuit_breaker::CircuitBreaker::call)).
    ///
    /// ```
    /// # use tower_breakwater::circuit_breaker::{CircuitBreaker, KeyedCircuitBreaker};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let k: KeyedCircuitBreaker<u32> = CircuitBreaker::builder("k").keyed().build().unwrap();
    /// let v = k.call(&42, || async { Ok::<_, std::io::Error>("hi") }).await.unwrap();
    /// assert_eq!(v, "hi");
    /// # }
    /// ```
    pub async fn call<F, Fut, T, E>(&self, key: &K, f: F) -> Result<T, Error<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let permit = self.try_acquire(key).map_err(Error::Rejected)?;
        let result = f().await;
        permit.record(FailOnError.classify(&result));
        result.map_err(Error::Inner)
    }

    /// A tower layer: each request's key is `key_fn(&request)`, and every `Err` counts as a
    /// failure of that key's breaker.
    ///
    /// ```
    /// use tower_breakwater::circuit_breaker::{CircuitBreaker, KeyedCircuitBreaker};
    /// use tower::{service_fn, ServiceBuilder, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// // A tenant header, as an axum route would see it.
    /// let tenants: KeyedCircuitBreaker<String> =
    ///     CircuitBreaker::builder("tenants").keyed().build().unwrap();
    /// let tenant = |req: &http::Request<()>| {
    ///     req.headers()
    ///         .get("x-tenant")
    ///         .and_then(|v| v.to_str().ok())
    ///         .unwrap_or("anonymous")
    ///         .to_owned()
    /// };
    /// let svc = ServiceBuilder::new()
    ///     .layer(tenants.layer(tenant))
    ///     .service(service_fn(|_: http::Request<()>| async { Ok::<_, std::io::Error>(200) }));
    /// let req = http::Request::get("/").header("x-tenant", "acme").body(()).unwrap();
    /// assert_eq!(svc.oneshot(req).await.unwrap(), 200);
    /// assert_eq!(tenants.snapshot(&"acme".to_owned()).unwrap().totals.successes, 1);
    /// # }
    /// ```
    pub fn layer<F>(&self, key_fn: F) -> KeyedLayer<K, F, FailOnError> {
        KeyedLayer::new(self.clone(), key_fn, FailOnError)
    }

    /// Like [`layer`](Self::layer), with a classifier that decides which outcomes are
    /// failures (see [`crate::classify`]).
    ///
    /// ```
    /// use tower_breakwater::circuit_breaker::{CircuitBreaker, KeyedCircuitBreaker};
    /// use tower_breakwater::classify::Outcome;
    /// use tower::{service_fn, ServiceBuilder};
    ///
    /// let hosts: KeyedCircuitBreaker<u16> = CircuitBreaker::builder("h").keyed().build().unwrap();
    /// let five_hundreds = |r: &Result<u16, std::io::Error>| match r {
    ///     Ok(status) if *status >= 500 => Outcome::Failure,
    ///     Ok(_) => Outcome::Success,
    ///     Err(_) => Outcome::Failure,
    /// };
    /// let svc = ServiceBuilder::new()
    ///     .layer(hosts.layer_with(|port: &u16| *port, five_hundreds))
    ///     .service(service_fn(|port: u16| async move { Ok::<_, std::io::Error>(port) }));
    /// # let _ = svc;
    /// ```
    pub fn layer_with<F, C>(&self, key_fn: F, classifier: C) -> KeyedLayer<K, F, C> {
        KeyedLayer::new(self.clone(), key_fn, classifier)
    }
}

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
