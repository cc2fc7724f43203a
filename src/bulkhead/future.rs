//! The response future of a bulkhead's service.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use pin_project_lite::pin_project;
use tokio::sync::OwnedSemaphorePermit;

use super::BulkheadFull;

pin_project! {
    /// The future of [`BulkheadService`](super::BulkheadService): either an already-failed
    /// [`BulkheadFull`] carrying the unsent request, or the inner call holding its slot.
    /// The slot is given back as soon as the call ends, or when the future is dropped
    /// (cancelled). Nothing is boxed.
    ///
    /// ```
    /// use tower_breakwater::bulkhead::{Bulkhead, ResponseFuture};
    /// use tower::{service_fn, BoxError, Layer, Service, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let bulkhead = Bulkhead::builder("db").max_concurrent(1).build().unwrap();
    /// let mut svc = bulkhead.layer().layer(service_fn(|()| async { Ok::<_, BoxError>(()) }));
    /// let in_flight: ResponseFuture<_, ()> = svc.ready().await.unwrap().call(());
    /// assert_eq!(bulkhead.in_flight(), 1);
    /// drop(in_flight);
    /// assert_eq!(bulkhead.in_flight(), 0);
    /// # }
    /// ```
    pub struct ResponseFuture<F, Req> {
        #[pin]
        kind: Kind<F, Req>,
        // The slot of a call: taken (released) when the call ends; dropped with the
        // future if cancelled. `None` for a refusal.
        permit: Option<OwnedSemaphorePermit>,
    }
}

pin_project! {
    #[project = KindProj]
    pub(crate) enum Kind<F, Req> {
        Called {
            #[pin]
            inner: F,
        },
        Full {
            // Taken when the error is handed out. Boxed so that the refusal (a name, the
            // limit, the wait and the request) does not make every call's future larger:
            // one allocation per refusal instead of bytes moved on every call.
            full: Option<Box<BulkheadFull<Req>>>,
        },
    }
}

/// The fields of a [`ResponseFuture`], for `BulkheadService::call` to join its two paths
/// field by field.
///
/// Why: when `call` returned either an inline-built future or the one its cold path made,
/// the compiler built the future aside and copied it into place with 16-byte loads over
/// 8-byte stores, a store-forwarding stall on every call (perf: ~40 % of the call's
/// samples on that one load; 28 → 17 ns per call, now level with tower's
/// `ConcurrencyLimit`). Joined field by field, it is written in place.
pub(crate) type Parts<F, Req> = (Kind<F, Req>, Option<OwnedSemaphorePermit>);

impl<F, Req> ResponseFuture<F, Req> {
    pub(crate) fn into_parts(self) -> Parts<F, Req> {
        (self.kind, self.permit)
    }

    #[inline]
    pub(crate) fn from_parts((kind, permit): Parts<F, Req>) -> Self {
        ResponseFuture { kind, permit }
    }

    #[inline]
    pub(crate) fn called(inner: F, permit: OwnedSemaphorePermit) -> Self {
        ResponseFuture {
            kind: Kind::Called { inner },
            permit: Some(permit),
        }
    }

    pub(crate) fn full(full: BulkheadFull<Req>) -> Self {
        ResponseFuture {
            kind: Kind::Full {
                full: Some(Box::new(full)),
            },
            permit: None,
        }
    }
}

impl<F, Req, T, E> Future for ResponseFuture<F, Req>
where
    F: Future<Output = Result<T, E>>,
    E: From<BulkheadFull<Req>>,
{
    type Output = Result<T, E>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        match this.kind.project() {
            KindProj::Called { inner } => {
                let result = ready!(inner.poll(cx));
                // The call is over: free the slot now, not when the caller drops us.
                drop(this.permit.take());
                Poll::Ready(result)
            }
            KindProj::Full { full } => {
                let full = full.take().expect("polled after completion");
                Poll::Ready(Err((*full).into()))
            }
        }
    }
}

impl<F, Req> std::fmt::Debug for ResponseFuture<F, Req> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.kind {
            Kind::Called { .. } if self.permit.is_some() => "in flight",
            Kind::Called { .. } => "done",
            Kind::Full { .. } => "full",
        };
        f.debug_tuple("ResponseFuture").field(&kind).finish()
    }
}
