//! Lift a service's own error into [`tower_breakwater::Error`](crate::Error), so breakwater's
//! layers can stack on it.
//!
//! The timeout, bulkhead, retry and fallback layers keep the error type of the service they
//! wrap and add their own failures to it, so the service at the bottom must already fail
//! with `tower_breakwater::Error<E, Req>`. [`LiftLayer`] does that: its error is
//! [`Error::Inner`] around the inner error. It has to know the request
//! type, which tower's `MapErrLayer` cannot (its function is fixed before the request type is
//! known), hence this small layer. [`Resilience`](crate::Resilience) puts it in for you.
//!
//! ```
//! use tower_breakwater::lift::LiftLayer;
//! use tower_breakwater::Error;
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let svc = ServiceBuilder::new()
//!     .layer(LiftLayer)
//!     .service(service_fn(|n: u32| async move { Err::<u32, _>(std::io::Error::other(format!("no {n}"))) }));
//! let error: Error<std::io::Error, u32> = svc.oneshot(7).await.unwrap_err();
//! assert_eq!(error.into_inner().unwrap().to_string(), "no 7");
//! # }
//! ```

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use crate::Error;

/// Wraps a service in [`Lift`].
///
/// ```
/// use tower_breakwater::lift::LiftLayer;
/// use tower::Layer;
/// let lifted = LiftLayer.layer(5u8);
/// assert_eq!(lifted.into_inner(), 5);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct LiftLayer;

impl<S> Layer<S> for LiftLayer {
    type Service = Lift<S>;

    fn layer(&self, inner: S) -> Lift<S> {
        Lift { inner }
    }
}

/// A service whose error is `tower_breakwater::Error::Inner(e)` for the inner service's `e`.
///
/// ```
/// use tower_breakwater::lift::{Lift, LiftLayer};
/// use tower::Layer;
/// let lifted: Lift<u8> = LiftLayer.layer(5);
/// assert_eq!(*lifted.get_ref(), 5);
/// ```
#[derive(Debug, Clone)]
pub struct Lift<S> {
    inner: S,
}

impl<S> Lift<S> {
    /// The inner service.
    ///
    /// ```
    /// # use tower_breakwater::lift::LiftLayer;
    /// # use tower::Layer;
    /// assert_eq!(*LiftLayer.layer(5u8).get_ref(), 5);
    /// ```
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    ///
    /// ```
    /// # use tower_breakwater::lift::LiftLayer;
    /// # use tower::Layer;
    /// let mut lifted = LiftLayer.layer(5u8);
    /// *lifted.get_mut() += 1;
    /// assert_eq!(*lifted.get_ref(), 6);
    /// ```
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, unwrapped.
    ///
    /// ```
    /// # use tower_breakwater::lift::LiftLayer;
    /// # use tower::Layer;
    /// assert_eq!(LiftLayer.layer(5u8).into_inner(), 5);
    /// ```
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, Req> Service<Req> for Lift<S>
where
    S: Service<Req>,
{
    type Response = S::Response;
    type Error = Error<S::Error, Req>;
    type Future = LiftFuture<S::Future, Req>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Error::Inner)
    }

    #[inline]
    fn call(&mut self, request: Req) -> Self::Future {
        LiftFuture {
            inner: self.inner.call(request),
            request: PhantomData,
        }
    }
}

pin_project! {
    /// The future of [`Lift`]: the inner future, its error lifted.
    ///
    /// ```
    /// use tower_breakwater::lift::{LiftFuture, LiftLayer};
    /// use tower::{service_fn, Layer, Service};
    /// let mut svc = LiftLayer.layer(service_fn(|()| async { Ok::<_, ()>(()) }));
    /// let future = svc.call(());
    /// assert_eq!(format!("{future:?}"), "LiftFuture");
    /// ```
    pub struct LiftFuture<F, Req> {
        #[pin]
        inner: F,
        request: PhantomData<fn() -> Req>,
    }
}

impl<F, Req, T, E> Future for LiftFuture<F, Req>
where
    F: Future<Output = Result<T, E>>,
{
    type Output = Result<T, Error<E, Req>>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Ready(ready!(self.project().inner.poll(cx)).map_err(Error::Inner))
    }
}

impl<F, Req> std::fmt::Debug for LiftFuture<F, Req> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LiftFuture")
    }
}
