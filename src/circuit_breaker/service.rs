//! The tower `Service` of a breaker.

use std::task::{Context, Poll};

use tower_service::Service;

use std::marker::PhantomData;

use super::state::BusyPath;
use super::{CircuitBreaker, ErrorShape, Permit, Refusal, ResponseFuture, Wrap};
use crate::classify::Classify;

/// A service behind a circuit breaker; made by [`CircuitBreakerLayer`](super::CircuitBreakerLayer).
///
/// The breaker decides in `poll_ready`, *before* polling the inner service: an open breaker
/// answers `Ready` at once without waiting on a sick dependency, and `call` then returns a
/// future that fails with [`Error::Rejected`](super::Error::Rejected) carrying the request (an error from `poll_ready`
/// would be final for tower, as `Buffer` shows). A closed breaker polls the inner service and
/// passes its readiness on.
///
/// `Shape` says how errors are reported: [`Wrap`] (the default) wraps the inner error in
/// [`circuit_breaker::Error`](super::Error); [`Flat`](super::Flat) reports into an inner
/// [`tower_breakwater::Error`](crate::Error).
///
/// ```
/// use tower_breakwater::circuit_breaker::{CircuitBreaker, CircuitBreakerService};
/// use tower_breakwater::classify::FailOnError;
/// use tower::{service_fn, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let breaker = CircuitBreaker::builder("db").build().unwrap();
/// let inner = service_fn(|x: u32| async move { Ok::<_, std::io::Error>(x * 2) });
/// let svc = CircuitBreakerService::new(inner, breaker, FailOnError);
/// assert_eq!(svc.oneshot(21).await.unwrap(), 42);
/// # }
/// ```
pub struct CircuitBreakerService<S, C, Shape = Wrap> {
    inner: S,
    breaker: CircuitBreaker,
    classifier: C,
    /// Set by `poll_ready` when not closed, taken by `call`: the breaker's answer for the
    /// next request.
    decision: Option<Decision>,
    shape: PhantomData<fn() -> Shape>,
}

/// What `poll_ready` decided for the next request (none while closed: nothing is reserved,
/// `call` takes its ticket when the request is sent).
enum Decision {
    /// A half-open trial permit (or a disabled breaker's pass), reserved in `poll_ready`;
    /// given back (as cancelled) if the service is dropped unused.
    Held(Permit),
    /// Refused; `call` turns this (small) reason into the `Rejected` error. Packed in one
    /// word (`Refusal::pack`): as a two-word enum it was written with 8-byte stores and read
    /// back by `call` with a 16-byte load, which store forwarding cannot serve.
    Refused(u64),
}

impl<S, C> CircuitBreakerService<S, C> {
    /// Put `inner` behind `breaker`, with `classifier` deciding what a failure is.
    ///
    /// ```
    /// # use tower_breakwater::circuit_breaker::{CircuitBreaker, CircuitBreakerService};
    /// # use tower_breakwater::classify::FailOnError;
    /// let breaker = CircuitBreaker::builder("db").build().unwrap();
    /// let svc = CircuitBreakerService::new((), breaker, FailOnError);
    /// # let _ = svc;
    /// ```
    pub fn new(inner: S, breaker: CircuitBreaker, classifier: C) -> Self {
        Self::with_shape(inner, breaker, classifier)
    }
}

impl<S, C, Shape> CircuitBreakerService<S, C, Shape> {
    pub(crate) fn with_shape(inner: S, breaker: CircuitBreaker, classifier: C) -> Self {
        CircuitBreakerService {
            inner,
            breaker,
            classifier,
            decision: None,
            shape: PhantomData,
        }
    }

    /// The breaker in front of the service.
    ///
    /// ```
    /// # use tower_breakwater::circuit_breaker::{CircuitBreaker, CircuitBreakerService};
    /// # use tower_breakwater::classify::FailOnError;
    /// let breaker = CircuitBreaker::builder("db").build().unwrap();
    /// let svc = CircuitBreakerService::new((), breaker, FailOnError);
    /// assert_eq!(svc.breaker().name(), "db");
    /// ```
    pub fn breaker(&self) -> &CircuitBreaker {
        &self.breaker
    }

    /// The inner service.
    ///
    /// ```
    /// # use tower_breakwater::circuit_breaker::{CircuitBreaker, CircuitBreakerService};
    /// # use tower_breakwater::classify::FailOnError;
    /// # let breaker = CircuitBreaker::builder("db").build().unwrap();
    /// let svc = CircuitBreakerService::new(7, breaker, FailOnError);
    /// assert_eq!(*svc.get_ref(), 7);
    /// ```
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    ///
    /// ```
    /// # use tower_breakwater::circuit_breaker::{CircuitBreaker, CircuitBreakerService};
    /// # use tower_breakwater::classify::FailOnError;
    /// # let breaker = CircuitBreaker::builder("db").build().unwrap();
    /// let mut svc = CircuitBreakerService::new(7, breaker, FailOnError);
    /// *svc.get_mut() += 1;
    /// assert_eq!(*svc.get_ref(), 8);
    /// ```
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, unwrapped.
    ///
    /// ```
    /// # use tower_breakwater::circuit_breaker::{CircuitBreaker, CircuitBreakerService};
    /// # use tower_breakwater::classify::FailOnError;
    /// # let breaker = CircuitBreaker::builder("db").build().unwrap();
    /// let svc = CircuitBreakerService::new(7, breaker, FailOnError);
    /// assert_eq!(svc.into_inner(), 7);
    /// ```
    pub fn into_inner(self) -> S {
        self.inner
    }
}

/// A clone shares the breaker but not the readiness of the original (tower's rule).
impl<S: Clone, C: Clone, Shape> Clone for CircuitBreakerService<S, C, Shape> {
    fn clone(&self) -> Self {
        CircuitBreakerService::with_shape(
            self.inner.clone(),
            self.breaker.clone(),
            self.classifier.clone(),
        )
    }
}

impl<S: std::fmt::Debug, C, Shape> std::fmt::Debug for CircuitBreakerService<S, C, Shape> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CircuitBreakerService")
            .field("inner", &self.inner)
            .field("breaker", &self.breaker)
            .finish()
    }
}

impl<S, C, Req, Shape> Service<Req> for CircuitBreakerService<S, C, Shape>
where
    S: Service<Req>,
    C: Classify<S::Response, S::Error> + Clone,
    Shape: ErrorShape<S::Error, Req>,
{
    type Response = S::Response;
    type Error = Shape::Error;
    type Future = ResponseFuture<S::Future, C, Req, Shape>;

    // The closed path is kept small enough to inline into the caller's loop (out of line,
    // its spills and reloads of `decision` were a fifth of a call); every other state goes
    // through `poll_ready_slow`. A closed breaker stores no decision: `call` looks again.
    // (Adding the open path here made LLVM move tower's `Ready` future out of line.)
    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        if self.decision.is_none() && self.breaker.core().state.is_closed() {
            return match self.inner.poll_ready(cx) {
                Poll::Ready(Ok(())) => Poll::Ready(Ok(())),
                Poll::Pending => Poll::Pending,
                Poll::Ready(Err(e)) => Poll::Ready(Err(self.not_ready(e))),
            };
        }
        self.poll_ready_slow(cx)
    }

    #[inline]
    fn call(&mut self, request: Req) -> Self::Future {
        // Closed (or no `poll_ready` first, against tower's contract: stay transparent and
        // decide now rather than panic): the ticket is taken as the request is sent.
        let decision = match self.decision {
            // Looked at before taking: taking would write the slot back on every call.
            None => self.breaker.decide(),
            Some(_) => match self.decision.take() {
                Some(Decision::Held(permit)) => Ok(permit),
                Some(Decision::Refused(refusal)) => Err(Refusal::unpack(refusal)),
                None => unreachable!("matched as Some above"),
            },
        };
        match decision {
            Ok(mut permit) => {
                permit.restart_clock(self.breaker.core());
                let future = self.inner.call(request);
                ResponseFuture::called(future, permit, self.classifier.clone())
            }
            Err(refusal) => {
                self.breaker.count_rejection(refusal);
                let rejected = self.breaker.rejection(refusal);
                ResponseFuture::rejected(rejected.with_request(request))
            }
        }
    }
}

impl<S, C, Shape> CircuitBreakerService<S, C, Shape> {
    /// `poll_ready` when the breaker is not closed, or a permit or refusal is held.
    #[inline(never)]
    fn poll_ready_slow<Req>(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), <Self as Service<Req>>::Error>>
    where
        S: Service<Req>,
        C: Classify<S::Response, S::Error> + Clone,
        Shape: ErrorShape<S::Error, Req>,
    {
        let core = self.breaker.core();
        // Open with a timer to end the period (a busy open breaker): refuse at once, and
        // keep the refusal for `call`, which must not send (the inner service was not polled).
        if self.decision.is_none() {
            if let BusyPath::Refused(refusal) = core.state.busy_path() {
                self.decision = Some(Decision::Refused(refusal.pack()));
                return Poll::Ready(Ok(()));
            }
        }
        // Decide again unless we hold a permit that is still good: the closed check and a
        // refusal are cheap to make again, and a permit from an earlier state (the breaker
        // tripped while the inner service was pending) must not let a request through an
        // open breaker. Such a permit was never used and its generation is over (nothing to
        // give back): it is voided without a count, so the request is counted once.
        match self.decision.take() {
            Some(Decision::Held(permit)) if permit.is_current(core) => {
                self.decision = Some(Decision::Held(permit));
            }
            held => {
                if let Some(Decision::Held(stale)) = held {
                    stale.void();
                }
                if !core.state.is_closed() {
                    self.decision = match self.breaker.decide() {
                        Ok(permit) => Some(Decision::Held(permit)),
                        Err(refusal) => Some(Decision::Refused(refusal.pack())),
                    };
                }
            }
        }
        if let Some(Decision::Refused(_)) = self.decision {
            return Poll::Ready(Ok(()));
        }
        match self.inner.poll_ready(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(())) => Poll::Ready(Ok(())),
            Poll::Ready(Err(e)) => Poll::Ready(Err(self.not_ready(e))),
        }
    }

    /// The inner service failed in `poll_ready`, before a request could be sent: that is
    /// the dependency's outcome, recorded on the held permit (or a fresh one).
    #[cold]
    #[inline(never)]
    fn not_ready<Req>(&mut self, e: S::Error) -> <Self as Service<Req>>::Error
    where
        S: Service<Req>,
        C: Classify<S::Response, S::Error> + Clone,
        Shape: ErrorShape<S::Error, Req>,
    {
        let result: Result<S::Response, S::Error> = Err(e);
        let outcome = self.classifier.classify(&result);
        let Err(e) = result else {
            unreachable!("built as Err above")
        };
        let timed_out = Shape::timed_out(&e);
        let permit = match self.decision.take() {
            Some(Decision::Held(permit)) => Some(permit),
            _ => self.breaker.decide().ok(),
        };
        if let Some(permit) = permit {
            permit.record_as(outcome, timed_out);
        }
        Shape::inner(e)
    }
}
