//! The response future of a fallback's service.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use pin_project_lite::pin_project;

use super::handle::Shared;
use super::{Handler, Predicate};
use crate::Error;

pin_project! {
    /// The future of [`FallbackService`](super::FallbackService): the inner call, then, if it
    /// failed with an error the fallback answers, the fallback function's future. Nothing
    /// is boxed.
    ///
    /// ```
    /// use tower_breakwater::fallback::{Fallback, ResponseFuture};
    /// use tower_breakwater::Error;
    /// use tower::{service_fn, Layer, Service};
    ///
    /// let fallback = Fallback::new("p", |e: Error<(), ()>, _: Option<()>| async { Err::<(), _>(e) });
    /// let mut svc = fallback.layer().layer(service_fn(|()| async { Ok::<_, Error<(), ()>>(()) }));
    /// let future = svc.call(());
    /// assert_eq!(format!("{future:?}"), "ResponseFuture(\"calling\")");
    /// ```
    pub struct ResponseFuture<F, H, P, K, Req, E, Resp>
    where
        H: Handler<E, Req, Resp>,
    {
        #[pin]
        state: State<F, H, P, K, Req, E, Resp>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, H, P, K, Req, E, Resp>
    where
        H: Handler<E, Req, Resp>,
    {
        Calling {
            #[pin]
            inner: F,
            // Taken when the call fails and the fallback answers.
            shared: Option<Arc<Shared<H, P, K>>>,
            // The copy kept for a sent call (none unless the fallback copies requests).
            request: Option<Req>,
        },
        Answering {
            #[pin]
            answer: H::Future,
        },
    }
}

impl<F, H, P, K, Req, E, Resp> ResponseFuture<F, H, P, K, Req, E, Resp>
where
    H: Handler<E, Req, Resp>,
{
    pub(crate) fn new(inner: F, shared: Arc<Shared<H, P, K>>, request: Option<Req>) -> Self {
        ResponseFuture {
            state: State::Calling {
                inner,
                shared: Some(shared),
                request,
            },
        }
    }
}

impl<F, H, P, K, Req, E, Resp> Future for ResponseFuture<F, H, P, K, Req, E, Resp>
where
    F: Future<Output = Result<Resp, Error<E, Req>>>,
    H: Handler<E, Req, Resp>,
    P: Predicate<E, Req>,
{
    type Output = Result<Resp, Error<E, Req>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            let answer = match self.as_mut().project().state.project() {
                StateProj::Calling {
                    inner,
                    shared,
                    request,
                } => {
                    let mut error = match ready!(inner.poll(cx)) {
                        Ok(response) => return Poll::Ready(Ok(response)),
                        Err(error) => error,
                    };
                    let shared = shared.take().expect("polled after completion");
                    if !shared.predicate.wants(&error) {
                        return Poll::Ready(Err(error));
                    }
                    // A refusal hands the unsent request back; otherwise use the copy, if any.
                    let request = error.take_request().or_else(|| request.take());
                    shared.counted();
                    tracing::debug!(
                        name = %shared.name,
                        error = error.kind().as_str(),
                        request = request.is_some(),
                        "fallback answers"
                    );
                    shared.handler.answer(error, request)
                }
                StateProj::Answering { answer } => return answer.poll(cx),
            };
            self.as_mut()
                .project()
                .state
                .set(State::Answering { answer });
        }
    }
}

impl<F, H, P, K, Req, E, Resp> std::fmt::Debug for ResponseFuture<F, H, P, K, Req, E, Resp>
where
    H: Handler<E, Req, Resp>,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &self.state {
            State::Calling { .. } => "calling",
            State::Answering { .. } => "answering",
        };
        f.debug_tuple("ResponseFuture").field(&state).finish()
    }
}
