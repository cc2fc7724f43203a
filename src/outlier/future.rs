//! The response future of [`OutlierService`](super::OutlierService).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use pin_project_lite::pin_project;
use tokio::time::Instant;

use super::membership::Membership;
use super::ClassifyOutcome;

/// One call in flight on an endpoint: its reference to the membership, which is what
/// counts it in flight (see `Holder`), from the call until it ends or is dropped.
pub(crate) struct InFlight {
    member: Arc<Membership>,
    /// When the call started; `None` when the pool's load is not timed.
    start: Option<Instant>,
}

impl InFlight {
    pub(crate) fn start(member: Arc<Membership>) -> Self {
        InFlight {
            start: member.timed.then(Instant::now),
            member,
        }
    }
}

pin_project! {
    /// The response future of [`OutlierService`](super::OutlierService): the inner
    /// future's result, unchanged; on its way out, the outcome is counted for the endpoint
    /// and its round trip (or failure penalty) goes into the endpoint's load. A future
    /// dropped before it finishes counts neither way.
    ///
    /// ```
    /// use tower::{service_fn, Layer, Service, ServiceExt};
    /// use tower_breakwater::outlier::{OutlierDetector, ResponseFuture};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let endpoint = OutlierDetector::builder("db").build().unwrap().endpoint("a");
    /// let mut svc = endpoint.layer().layer(service_fn(|x: u8| async move { Ok::<_, ()>(x) }));
    /// let future = svc.ready().await.unwrap().call(3);
    /// assert_eq!(future.await, Ok(3));
    /// # }
    /// ```
    pub struct ResponseFuture<F, C> {
        #[pin]
        inner: F,
        in_flight: Option<InFlight>,
        classify: C,
    }
}

impl<F, C> ResponseFuture<F, C> {
    pub(crate) fn new(inner: F, in_flight: InFlight, classify: C) -> Self {
        ResponseFuture {
            inner,
            in_flight: Some(in_flight),
            classify,
        }
    }
}

impl<F, C, T, E> Future for ResponseFuture<F, C>
where
    F: Future<Output = Result<T, E>>,
    C: ClassifyOutcome<T, E>,
{
    type Output = Result<T, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        if let Some(in_flight) = this.in_flight.take() {
            let outcome = this.classify.outcome(&result);
            let member = &in_flight.member;
            if let Some(start) = in_flight.start {
                let shared = &member.detector.shared;
                let now = Instant::now();
                let rtt = match outcome.is_failure() {
                    true => shared
                        .config
                        .load
                        .penalty(this.classify.retry_after(&result)),
                    false => now.saturating_duration_since(start),
                };
                member.load.sample(rtt, shared.observe(now));
            }
            member.record(outcome);
        }
        Poll::Ready(result)
    }
}

impl<F: std::fmt::Debug, C> std::fmt::Debug for ResponseFuture<F, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}
