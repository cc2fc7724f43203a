//! The response future of a timeout.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};

use super::config::Config;
use super::{stats, Elapsed};
use crate::Name;

pin_project! {
    /// The future of [`Timeout`](super::Timeout): the inner call, abandoned (dropped) with
    /// [`Elapsed`] once the limit has passed. Nothing is boxed.
    ///
    /// The deadline is fixed when the call is made, but the tokio timer is only armed the
    /// first time the inner future is found pending: a call that is ready on its first poll
    /// never touches the timer.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_breakwater::timeout::{ResponseFuture, TimeoutLayer};
    /// use tower::{service_fn, BoxError, Service, ServiceBuilder, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mut svc = ServiceBuilder::new()
    ///     .layer(TimeoutLayer::new("db", Duration::from_secs(1)).unwrap())
    ///     .service(service_fn(|x: u32| async move { Ok::<_, BoxError>(x) }));
    /// let future: ResponseFuture<_> = svc.ready().await.unwrap().call(7);
    /// assert_eq!(future.await.unwrap(), 7);
    /// # }
    /// ```
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        #[pin]
        timer: Timer,
        // Kept for the error only; a `&'static str` name is a plain copy.
        name: Name,
        limit: Duration,
        // The layer's timeout counter, by id (see `stats.rs`): a plain copy, no `Arc`.
        counter: u64,
    }
}

pin_project! {
    #[derive(Debug)]
    #[project = TimerProj]
    enum Timer {
        // Set by `call`; replaced by `Armed` on the first poll that finds the inner future
        // pending.
        Unarmed { deadline: Instant },
        Armed {
            #[pin]
            sleep: Sleep,
        },
    }
}

impl<F> ResponseFuture<F> {
    #[inline]
    pub(crate) fn new(inner: F, deadline: Instant, config: &Config) -> Self {
        ResponseFuture {
            inner,
            timer: Timer::Unarmed { deadline },
            name: config.name.clone(),
            limit: config.limit,
            counter: config.counter,
        }
    }
}

impl<F, T, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<T, E>>,
    E: From<Elapsed>,
{
    type Output = Result<T, E>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        // The inner future first: an answer that is there wins over a timer that fired in
        // the same instant.
        if let Poll::Ready(result) = this.inner.poll(cx) {
            return Poll::Ready(result);
        }
        if let TimerProj::Unarmed { deadline } = this.timer.as_mut().project() {
            let sleep = tokio::time::sleep_until(*deadline);
            this.timer.set(Timer::Armed { sleep });
        }
        let TimerProj::Armed { mut sleep } = this.timer.project() else {
            unreachable!("armed just above")
        };
        ready!(sleep.as_mut().poll(cx));
        // The deadline is start + limit, so the start needs no clock read of its own; the
        // one read here measures how late the timer fired (exactly the limit on a paused
        // clock).
        let started = sleep.deadline() - *this.limit;
        let elapsed = Instant::now().saturating_duration_since(started);
        stats::fired(*this.counter);
        tracing::debug!(
            name = %this.name,
            limit = ?*this.limit,
            ?elapsed,
            "timed out; the attempt is dropped"
        );
        Poll::Ready(Err(
            Elapsed::new(this.name.clone(), *this.limit, elapsed).into()
        ))
    }
}
