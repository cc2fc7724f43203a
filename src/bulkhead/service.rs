//! The tower `Service` of a bulkhead.

use std::fmt;
use std::mem;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::OwnedSemaphorePermit;
use tower_service::Service;

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
/// (`S::Error: From<BulkheadFull<Req>>`): [`breakwater::Error<E, Req>`](crate::Error) and
/// tower's `BoxError` (for `Req: Send + Sync + 'static`) both can.
///
/// ```
/// use breakwater::bulkhead::{Bulkhead, BulkheadService};
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
    /// Set by `poll_ready`, taken by `call`.
    state: State,
}

enum State {
    /// Nothing reserved: new, cloned, or just called.
    Idle,
    /// In the waiting room (counted in `waiting`); dropping it leaves the room.
    Waiting(Wait),
    /// A slot, reserved by `poll_ready` for the next call; given back if dropped unused.
    Reserved(OwnedSemaphorePermit),
    /// No slot: the next call fails. `waited` is `None` if refused without waiting.
    Full { waited: Option<Duration> },
}

impl<S> BulkheadService<S> {
    /// Put `inner` behind `bulkhead`.
    ///
    /// ```
    /// # use breakwater::bulkhead::{Bulkhead, BulkheadService};
    /// let bulkhead = Bulkhead::builder("db").max_concurrent(4).build().unwrap();
    /// let svc = BulkheadService::new((), bulkhead);
    /// # let _ = svc;
    /// ```
    pub fn new(inner: S, bulkhead: Bulkhead) -> Self {
        BulkheadService {
            inner,
            bulkhead,
            state: State::Idle,
        }
    }

    /// The bulkhead in front of the service.
    ///
    /// ```
    /// # use breakwater::bulkhead::{Bulkhead, BulkheadService};
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
    /// # use breakwater::bulkhead::{Bulkhead, BulkheadService};
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
    /// # use breakwater::bulkhead::{Bulkhead, BulkheadService};
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
    /// # use breakwater::bulkhead::{Bulkhead, BulkheadService};
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
        let state = match self.state {
            State::Idle => "idle",
            State::Waiting(_) => "waiting",
            State::Reserved(_) => "reserved",
            State::Full { .. } => "full",
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
        loop {
            self.state = match &mut self.state {
                State::Idle => match self.bulkhead.try_acquire() {
                    Some(permit) => State::Reserved(permit),
                    None => self.contended(),
                },
                State::Waiting(wait) => match wait.as_mut().poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Ok(permit)) => State::Reserved(permit),
                    Poll::Ready(Err(waited)) => State::Full {
                        waited: Some(waited),
                    },
                },
                // Refused: ready at once, without waiting on the inner service.
                State::Full { .. } => return Poll::Ready(Ok(())),
                State::Reserved(_) => break,
            };
        }
        match self.inner.poll_ready(cx) {
            Poll::Ready(Err(e)) => {
                // The inner service is broken and this one with it: free the slot now.
                self.state = State::Idle;
                Poll::Ready(Err(e))
            }
            // Pending: the slot stays reserved while the inner service gets ready.
            other => other,
        }
    }

    #[inline]
    fn call(&mut self, request: Req) -> Self::Future {
        let permit = match mem::replace(&mut self.state, State::Idle) {
            State::Reserved(permit) => Ok(permit),
            State::Full { waited } => Err(waited),
            // No `poll_ready` first (or it was still waiting), against tower's contract:
            // take a free slot if there is one, never exceed the limit, and never panic.
            // Waiting is not possible here: the request goes now or not at all.
            State::Idle | State::Waiting(_) => self.bulkhead.try_acquire().ok_or(None),
        };
        match permit {
            Ok(permit) => ResponseFuture::called(self.inner.call(request), permit),
            Err(waited) => ResponseFuture::full(self.bulkhead.refuse(waited).with_request(request)),
        }
    }
}

impl<S> BulkheadService<S> {
    /// Every slot is taken: wait if the waiting room has a place, or be refused.
    #[cold]
    fn contended(&self) -> State {
        match self.bulkhead.wait() {
            Some(wait) => State::Waiting(wait),
            None => State::Full { waited: None },
        }
    }
}
