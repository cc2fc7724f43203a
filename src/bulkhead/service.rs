//! The tower `Service` of a bulkhead.

use std::fmt;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use tokio::sync::OwnedSemaphorePermit;
use tower_service::Service;

use super::future::Kind;
use super::handle::Wait;
use super::{Bulkhead, BulkheadFull, ResponseFuture};

/// A service behind a bulkhead; made by [`BulkheadLayer`](super::BulkheadLayer) or
/// [`BulkheadService::new`].
///
/// `poll_ready` reserves a slot before it polls the inner service, and the slot is held
/// by the service (given back if it is dropped unused) until `call` moves it into the
/// response future. When every slot is taken it waits in the bulkhead's waiting room
/// (`Pending`), if there is room and for at most `max_wait`; when it cannot get a slot it
/// answers `Ready(Ok)` anyway (an error from `poll_ready` would be final for tower, as
/// `Buffer` shows) and `call` returns a future that fails at once with [`BulkheadFull`],
/// carrying the unsent request. The inner service is not polled then.
///
/// It keeps the inner service's error type, which must be able to hold the refusal
/// (`S::Error: From<BulkheadFull<Req>>`): [`tower_breakwater::Error<E, Req>`](crate::Error) and
/// tower's `BoxError` (for `Req: Send + Sync + 'static`) both can.
///
/// ```
/// use tower_breakwater::bulkhead::{Bulkhead, BulkheadService};
/// use tower::{service_fn, BoxError, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let bulkhead = Bulkhead::builder("db").max_concurrent(4).build().unwrap();
/// let inner = service_fn(|x: u32| async move { Ok::<_, BoxError>(x * 2) });
/// let svc = BulkheadService::new(inner, bulkhead);
/// assert_eq!(svc.oneshot(21).await.unwrap(), 42);
/// # }
/// ```
pub struct BulkheadService<S> {
    inner: S,
    bulkhead: Bulkhead,
    /// The uncontended path's only state: a slot reserved by `poll_ready` for the next
    /// call, taken by `call`; given back if the service is dropped unused. Kept apart from
    /// `contended` so that the fast path moves just this word pair.
    permit: Option<OwnedSemaphorePermit>,
    /// Set by `poll_ready` only when no slot was free; reset by `call`.
    contended: Contended,
}

#[derive(Default)]
enum Contended {
    /// Not contended (or the wait ended with a slot, now in `permit`).
    #[default]
    No,
    /// In the waiting room (counted in `waiting`); dropping it leaves the room.
    Waiting(Wait),
    /// No slot: the next call fails. `waited` is `None` if refused without waiting.
    Full { waited: Option<Duration> },
}

impl<S> BulkheadService<S> {
    /// Put `inner` behind `bulkhead`.
    ///
    /// ```
    /// # use tower_breakwater::bulkhead::{Bulkhead, BulkheadService};
    /// let bulkhead = Bulkhead::builder("db").max_concurrent(4).build().unwrap();
    /// let svc = BulkheadService::new((), bulkhead);
    /// # let _ = svc;
    /// ```
    pub fn new(inner: S, bulkhead: Bulkhead) -> Self {
        BulkheadService {
            inner,
            bulkhead,
            permit: None,
            contended: Contended::No,
        }
    }

    /// The bulkhead in front of the service.
    ///
    /// ```
    /// # use tower_breakwater::bulkhead::{Bulkhead, BulkheadService};
    /// let bulkhead = Bulkhead::builder("db").max_concurrent(4).build().unwrap();
    /// let svc = BulkheadService::new((), bulkhead);
    /// assert_eq!(svc.bulkhead().max_concurrent(), 4);
    /// ```
    pub fn bulkhead(&self) -> &Bulkhead {
        &self.bulkhead
    }

    /// The inner service.
    ///
    /// ```
    /// # use tower_breakwater::bulkhead::{Bulkhead, BulkheadService};
    /// # let bulkhead = Bulkhead::builder("db").max_concurrent(4).build().unwrap();
    /// let svc = BulkheadService::new(7, bulkhead);
    /// assert_eq!(*svc.get_ref(), 7);
    /// ```
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    ///
    /// ```
    /// # use tower_breakwater::bulkhead::{Bulkhead, BulkheadService};
    /// # let bulkhead = Bulkhead::builder("db").max_concurrent(4).build().unwrap();
    /// let mut svc = BulkheadService::new(7, bulkhead);
    /// *svc.get_mut() += 1;
    /// assert_eq!(*svc.get_ref(), 8);
    /// ```
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, unwrapped (a reserved slot is given back).
    ///
    /// ```
    /// # use tower_breakwater::bulkhead::{Bulkhead, BulkheadService};
    /// # let bulkhead = Bulkhead::builder("db").max_concurrent(4).build().unwrap();
    /// let svc = BulkheadService::new(7, bulkhead);
    /// assert_eq!(svc.into_inner(), 7);
    /// ```
    pub fn into_inner(self) -> S {
        self.inner
    }
}

/// A clone shares the bulkhead but not the readiness (or the reserved slot) of the
/// original: tower's rule.
impl<S: Clone> Clone for BulkheadService<S> {
    fn clone(&self) -> Self {
        BulkheadService::new(self.inner.clone(), self.bulkhead.clone())
    }
}

impl<S: fmt::Debug> fmt::Debug for BulkheadService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match (&self.permit, &self.contended) {
            (Some(_), _) => "reserved",
            (None, Contended::No) => "idle",
            (None, Contended::Waiting(_)) => "waiting",
            (None, Contended::Full { .. }) => "full",
        };
        f.debug_struct("BulkheadService")
            .field("inner", &self.inner)
            .field("bulkhead", &self.bulkhead)
            .field("state", &state)
            .finish()
    }
}

impl<S, Req> Service<Req> for BulkheadService<S>
where
    S: Service<Req>,
    S::Error: From<BulkheadFull<Req>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, Req>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        if self.permit.is_none() {
            if let Contended::No = self.contended {
                self.permit = self.bulkhead.try_acquire();
            }
            if self.permit.is_none() {
                match self.poll_contended(cx) {
                    Poll::Pending => return Poll::Pending,
                    // Refused: ready at once, without waiting on the inner service.
                    Poll::Ready(None) => return Poll::Ready(Ok(())),
                    Poll::Ready(Some(permit)) => self.permit = Some(permit),
                }
            }
        }
        match self.inner.poll_ready(cx) {
            Poll::Ready(Err(e)) => {
                // The inner service is broken and this one with it: free the slot now.
                self.permit = None;
                Poll::Ready(Err(e))
            }
            // Pending: the slot stays reserved while the inner service gets ready.
            other => other,
        }
    }

    #[inline]
    fn call(&mut self, request: Req) -> Self::Future {
        // Joined field by field (see `future::Parts`): builds the future in place.
        let parts = match self.permit.take() {
            Some(permit) => (
                Kind::Called {
                    inner: self.inner.call(request),
                },
                Some(permit),
            ),
            None => self.call_contended(request).into_parts(),
        };
        ResponseFuture::from_parts(parts)
    }
}

impl<S> BulkheadService<S> {
    /// Every slot was taken: join the waiting room if it has a place, wait, or be refused.
    /// `Ready(None)`: refused (the next call fails).
    #[cold]
    #[inline(never)]
    fn poll_contended(&mut self, cx: &mut Context<'_>) -> Poll<Option<OwnedSemaphorePermit>> {
        loop {
            self.contended = match &mut self.contended {
                Contended::No => match self.bulkhead.wait() {
                    Some(wait) => Contended::Waiting(wait),
                    None => Contended::Full { waited: None },
                },
                Contended::Waiting(wait) => match ready!(wait.as_mut().poll(cx)) {
                    Ok(permit) => {
                        self.contended = Contended::No;
                        return Poll::Ready(Some(permit));
                    }
                    Err(waited) => Contended::Full {
                        waited: Some(waited),
                    },
                },
                Contended::Full { .. } => return Poll::Ready(None),
            }
        }
    }

    /// `call` with no slot reserved: refused by `poll_ready`, or no `poll_ready` first.
    #[cold]
    #[inline(never)]
    fn call_contended<F, Req>(&mut self, request: Req) -> ResponseFuture<F, Req>
    where
        S: Service<Req, Future = F>,
    {
        let waited = match std::mem::take(&mut self.contended) {
            Contended::Full { waited } => waited,
            // No `poll_ready` first (or it was still waiting), against tower's contract:
            // take a free slot if there is one, never exceed the limit, and never panic.
            // Waiting is not possible here: the request goes now or not at all.
            Contended::No | Contended::Waiting(_) => match self.bulkhead.try_acquire() {
                Some(permit) => return ResponseFuture::called(self.inner.call(request), permit),
                None => None,
            },
        };
        ResponseFuture::full(self.bulkhead.refuse(waited).with_request(request))
    }
}
