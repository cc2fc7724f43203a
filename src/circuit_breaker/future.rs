//! The response future of a breaker's service.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use pin_project_lite::pin_project;

use super::{ErrorShape, Permit, Rejected, Wrap};
use crate::classify::Classify;

pin_project! {
    /// The future of [`CircuitBreakerService`](super::CircuitBreakerService): either an
    /// already-failed rejection, or the inner call, whose outcome it records when it ends.
    /// Dropped before the end, it records the call as cancelled (a half-open trial gives
    /// its permit back). Nothing is boxed.
    ///
    /// ```
    /// use tower_breakwater::circuit_breaker::{CircuitBreaker, ResponseFuture};
    /// use tower::{service_fn, Service, ServiceBuilder, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let breaker = CircuitBreaker::builder("db").build().unwrap();
    /// let mut svc = ServiceBuilder::new()
    ///     .layer(breaker.layer())
    ///     .service(service_fn(|()| async { Ok::<_, std::io::Error>(()) }));
    /// let in_flight = svc.ready().await.unwrap().call(());
    /// drop(in_flight);
    /// assert_eq!(breaker.snapshot().totals.cancelled, 1);
    /// # }
    /// ```
    pub struct ResponseFuture<F, C, Req, Shape = Wrap> {
        #[pin]
        kind: Kind<F, C, Req>,
        shape: PhantomData<fn() -> Shape>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F, C, Req> {
        Called {
            #[pin]
            inner: F,
            // Taken when the outcome is recorded; dropped with the future means cancelled.
            permit: Option<Permit>,
            classifier: C,
        },
        Rejected {
            // Taken when the error is handed out.
            rejected: Option<Rejected<Req>>,
        },
    }
}

impl<F, C, Req, Shape> ResponseFuture<F, C, Req, Shape> {
    pub(crate) fn called(inner: F, permit: Permit, classifier: C) -> Self {
        ResponseFuture {
            kind: Kind::Called {
                inner,
                permit: Some(permit),
                classifier,
            },
            shape: PhantomData,
        }
    }

    pub(crate) fn rejected(rejected: Rejected<Req>) -> Self {
        ResponseFuture {
            kind: Kind::Rejected {
                rejected: Some(rejected),
            },
            shape: PhantomData,
        }
    }
}

impl<F, C, Req, T, E, Shape> Future for ResponseFuture<F, C, Req, Shape>
where
    F: Future<Output = Result<T, E>>,
    C: Classify<T, E>,
    Shape: ErrorShape<E, Req>,
{
    type Output = Result<T, Shape::Error>;

    // Always inlined: called out of line, its two arms' results were built aside and
    // copied to the caller with 16-byte loads over 8-byte stores, a store-forwarding stall
    // on every call (perf: ~half of a rejection's samples on that one load).
    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Called {
                inner,
                permit,
                classifier,
            } => {
                let result = ready!(inner.poll(cx));
                if let Some(permit) = permit.take() {
                    let timed_out = result.as_ref().is_err_and(Shape::timed_out);
                    permit.record_as(classifier.classify(&result), timed_out);
                }
                Poll::Ready(result.map_err(Shape::inner))
            }
            KindProj::Rejected { rejected } => {
                let rejected = rejected.take().expect("polled after completion");
                Poll::Ready(Err(Shape::rejected(rejected)))
            }
        }
    }
}

impl<F, C, Req, Shape> std::fmt::Debug for ResponseFuture<F, C, Req, Shape> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.kind {
            Kind::Called { permit, .. } if permit.is_some() => "in flight",
            Kind::Called { .. } => "done",
            Kind::Rejected { .. } => "rejected",
        };
        f.debug_tuple("ResponseFuture").field(&kind).finish()
    }
}
