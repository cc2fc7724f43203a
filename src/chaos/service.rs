//! The tower `Service` of the chaos injector.

use std::task::{Context, Poll};

use tower_service::Service;

use super::handle::Decision;
use super::{Chaos, ChaosError, Fault, ResponseFuture};

/// A service whose calls get the faults of a [`Chaos`] handle; made by
/// [`ChaosLayer`](super::ChaosLayer) or [`ChaosService::new`].
///
/// Readiness is the inner service's. Each call draws its fault in `call`: an error or a
/// hang never calls the inner service (its readiness stays reserved for the next call, as
/// tower allows); a delayed or aborted call does.
///
/// It keeps the inner service's error type, which must be able to hold the injected error
/// (`S::Error: From<ChaosError>`): tower's `BoxError`, `std::io::Error`, and
/// [`tower_breakwater::Error<E, Req>`](crate::Error) (as `Error::Inner`, when `E` can) all can.
///
/// ```
/// use tower_breakwater::chaos::{Chaos, ChaosService};
/// use tower::{service_fn, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let chaos = Chaos::builder("db").build().unwrap();
/// let inner = service_fn(|x: u32| async move { Ok::<_, std::io::Error>(x * 2) });
/// let svc = ChaosService::new(inner, chaos);
/// assert_eq!(svc.oneshot(21).await.unwrap(), 42);
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct ChaosService<S> {
    inner: S,
    chaos: Chaos,
}

impl<S> ChaosService<S> {
    /// Inject `chaos`'s faults into `inner`.
    ///
    /// ```
    /// # use tower_breakwater::chaos::{Chaos, ChaosService};
    /// let svc = ChaosService::new((), Chaos::builder("db").build().unwrap());
    /// # let _ = svc;
    /// ```
    pub fn new(inner: S, chaos: Chaos) -> Self {
        ChaosService { inner, chaos }
    }

    /// The handle that steers it.
    ///
    /// ```
    /// # use tower_breakwater::chaos::{Chaos, ChaosService};
    /// let svc = ChaosService::new((), Chaos::builder("db").build().unwrap());
    /// assert_eq!(svc.chaos().name(), "db");
    /// ```
    pub fn chaos(&self) -> &Chaos {
        &self.chaos
    }

    /// The inner service.
    ///
    /// ```
    /// # use tower_breakwater::chaos::{Chaos, ChaosService};
    /// let svc = ChaosService::new(7, Chaos::builder("db").build().unwrap());
    /// assert_eq!(*svc.get_ref(), 7);
    /// ```
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    ///
    /// ```
    /// # use tower_breakwater::chaos::{Chaos, ChaosService};
    /// let mut svc = ChaosService::new(7, Chaos::builder("db").build().unwrap());
    /// *svc.get_mut() += 1;
    /// assert_eq!(*svc.get_ref(), 8);
    /// ```
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, unwrapped.
    ///
    /// ```
    /// # use tower_breakwater::chaos::{Chaos, ChaosService};
    /// let svc = ChaosService::new(7, Chaos::builder("db").build().unwrap());
    /// assert_eq!(svc.into_inner(), 7);
    /// ```
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, Req> Service<Req> for ChaosService<S>
where
    S: Service<Req>,
    S::Error: From<ChaosError>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, request: Req) -> Self::Future {
        let error = |fault| ChaosError::new(self.chaos.name_handle().clone(), fault);
        match self.chaos.decide() {
            Decision::Pass => ResponseFuture::pass(self.inner.call(request)),
            Decision::Error => ResponseFuture::fail(error(Fault::Error)),
            Decision::Hang => ResponseFuture::hang(),
            Decision::Abort => ResponseFuture::abort(self.inner.call(request), error(Fault::Abort)),
            Decision::Delay(delay) => ResponseFuture::delay(self.inner.call(request), delay),
        }
    }
}
