//! The tower `Service` of a fallback.

use std::sync::Arc;
use std::task::{Context, Poll};

use tower_service::Service;

use super::handle::Shared;
use super::{CopyRequest, Handler, Predicate, ResponseFuture};
use crate::Error;

/// A service whose failed calls a fallback function may answer; made by
/// [`FallbackLayer`](super::FallbackLayer).
///
/// Readiness is the inner service's: an error from `poll_ready` is passed on (tower treats
/// it as final, and breakwater's own layers never fail in `poll_ready`).
///
/// ```
/// use tower_breakwater::fallback::Fallback;
/// use tower_breakwater::{Error, ErrorKind};
/// use tower::{service_fn, Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let fallback = Fallback::new("greeting", |_: Error<&str, ()>, _: Option<()>| async {
///     Ok::<_, Error<&str, ()>>("hello from the fallback")
/// })
/// .on(ErrorKind::Inner);
/// let svc = fallback.layer().layer(service_fn(|()| async { Err::<&str, _>(Error::Inner("down")) }));
/// assert_eq!(svc.get_ref().clone().oneshot(()).await.unwrap_err().inner(), Some(&"down"));
/// assert_eq!(svc.oneshot(()).await.unwrap(), "hello from the fallback");
/// # }
/// ```
pub struct FallbackService<S, H, P, K> {
    inner: S,
    shared: Arc<Shared<H, P, K>>,
}

impl<S, H, P, K> FallbackService<S, H, P, K> {
    pub(crate) fn new(inner: S, shared: Arc<Shared<H, P, K>>) -> Self {
        FallbackService { inner, shared }
    }

    /// The inner service.
    ///
    /// ```
    /// # use tower_breakwater::fallback::Fallback;
    /// # use tower_breakwater::Error;
    /// # use tower::Layer;
    /// # let fallback = Fallback::new("p", |e: Error<(), ()>, _: Option<()>| async { Err::<(), _>(e) });
    /// let svc = fallback.layer().layer(7);
    /// assert_eq!(*svc.get_ref(), 7);
    /// ```
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    ///
    /// ```
    /// # use tower_breakwater::fallback::Fallback;
    /// # use tower_breakwater::Error;
    /// # use tower::Layer;
    /// # let fallback = Fallback::new("p", |e: Error<(), ()>, _: Option<()>| async { Err::<(), _>(e) });
    /// let mut svc = fallback.layer().layer(7);
    /// *svc.get_mut() += 1;
    /// assert_eq!(*svc.get_ref(), 8);
    /// ```
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, unwrapped.
    ///
    /// ```
    /// # use tower_breakwater::fallback::Fallback;
    /// # use tower_breakwater::Error;
    /// # use tower::Layer;
    /// # let fallback = Fallback::new("p", |e: Error<(), ()>, _: Option<()>| async { Err::<(), _>(e) });
    /// assert_eq!(fallback.layer().layer(7).into_inner(), 7);
    /// ```
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Clone, H, P, K> Clone for FallbackService<S, H, P, K> {
    fn clone(&self) -> Self {
        FallbackService {
            inner: self.inner.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl<S: std::fmt::Debug, H, P, K> std::fmt::Debug for FallbackService<S, H, P, K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FallbackService")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, H, P, K, Req, E> Service<Req> for FallbackService<S, H, P, K>
where
    S: Service<Req, Error = Error<E, Req>>,
    H: Handler<E, Req, S::Response>,
    P: Predicate<E, Req>,
    K: CopyRequest<Req>,
{
    type Response = S::Response;
    type Error = Error<E, Req>;
    type Future = ResponseFuture<S::Future, H, P, K, Req, E, S::Response>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, request: Req) -> Self::Future {
        let copy = self.shared.copy_of(&request);
        ResponseFuture::new(self.inner.call(request), self.shared.clone(), copy)
    }
}
