//! The response future of the chaos injector.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::Sleep;

use super::ChaosError;

pin_project! {
    /// The future of [`ChaosService`](super::ChaosService): the inner call untouched, or
    /// the fault drawn for it — delayed, failed, hanging, or aborted. Nothing is boxed.
    ///
    /// ```
    /// use tower_breakwater::chaos::{Chaos, ResponseFuture};
    /// use tower::{service_fn, BoxError, Layer, Service, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let chaos = Chaos::builder("db").build().unwrap();
    /// let mut svc = chaos.layer().layer(service_fn(|x: u8| async move { Ok::<_, BoxError>(x) }));
    /// let future: ResponseFuture<_> = svc.ready().await.unwrap().call(3);
    /// assert_eq!(future.await.unwrap(), 3);
    /// # }
    /// ```
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        state: State<F>,
    }
}

pin_project! {
    #[derive(Debug)]
    #[project = StateProj]
    enum State<F> {
        Pass {
            #[pin]
            inner: F,
        },
        // The inner future is first polled once `sleep` has ended (`slept` then set, so
        // the finished timer is not polled again).
        Delay {
            #[pin]
            sleep: Sleep,
            slept: bool,
            #[pin]
            inner: F,
        },
        // Polled once, then dropped (by moving to `Failed`) and the error handed out.
        Abort {
            #[pin]
            inner: F,
            error: Option<ChaosError>,
        },
        // Taken when the error is handed out.
        Failed {
            error: Option<ChaosError>,
        },
        Hang,
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn pass(inner: F) -> Self {
        Self::with(State::Pass { inner })
    }

    pub(crate) fn delay(inner: F, delay: Duration) -> Self {
        Self::with(State::Delay {
            sleep: tokio::time::sleep(delay),
            slept: false,
            inner,
        })
    }

    pub(crate) fn abort(inner: F, error: ChaosError) -> Self {
        Self::with(State::Abort {
            inner,
            error: Some(error),
        })
    }

    pub(crate) fn fail(error: ChaosError) -> Self {
        Self::with(State::Failed { error: Some(error) })
    }

    pub(crate) fn hang() -> Self {
        Self::with(State::Hang)
    }

    fn with(state: State<F>) -> Self {
        ResponseFuture { state }
    }
}

impl<F, T, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<T, E>>,
    E: From<ChaosError>,
{
    type Output = Result<T, E>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        match state.as_mut().project() {
            StateProj::Pass { inner } => inner.poll(cx),
            StateProj::Delay {
                sleep,
                slept,
                inner,
            } => {
                if !*slept {
                    ready!(sleep.poll(cx));
                    *slept = true;
                }
                inner.poll(cx)
            }
            StateProj::Abort { inner, error } => {
                // Whatever the inner call did in its one poll (even answer), the answer is
                // lost: that is the fault.
                let _ = inner.poll(cx);
                let error = error.take().expect("set until the first poll");
                state.set(State::Failed { error: None });
                Poll::Ready(Err(error.into()))
            }
            StateProj::Failed { error } => {
                let error = error.take().expect("polled after completion");
                Poll::Ready(Err(error.into()))
            }
            // No waker is kept: only a drop (a timeout above, the caller) ends it.
            StateProj::Hang => Poll::Pending,
        }
    }
}
