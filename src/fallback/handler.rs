//! The user's fallback function.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use crate::Error;

/// The function a [`Fallback`](super::Fallback) runs for a failed call: it gets the error and
/// the request (for refusals always; for sent calls only if the fallback keeps a copy, see
/// [`Fallback::copy_request`](super::Fallback::copy_request)), and answers with a response or
/// an error of its own.
///
/// Implemented by every `Fn(Error<E, Req>, Option<Req>) -> impl Future<Output = Result<Resp,
/// Error<E, Req>>>`, e.g. a closure returning an `async move` block.
///
/// ```
/// use tower_breakwater::fallback::Handler;
/// use tower_breakwater::Error;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let cached = |_: Error<&str, u32>, _: Option<u32>| async { Ok::<_, Error<&str, u32>>("cached") };
/// assert_eq!(cached.answer(Error::Inner("down"), None).await.unwrap(), "cached");
/// # }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a fallback function for a service answering `{Resp}` with error `tower_breakwater::Error<{E}, {Req}>`",
    label = "must be `Fn(Error<{E}, {Req}>, Option<{Req}>) -> impl Future<Output = Result<{Resp}, Error<{E}, {Req}>>>`",
    note = "a fallback answers with the inner service's own response type `{Resp}`, exactly: it stands in for the service's answer",
    note = "if that type cannot be built (hyper's `Response<Incoming>`), map the response below the stack to one you can build (collect the body into `Response<Bytes>`) or to your own enum (`Sent(..)` / `Queued(..)`)",
    note = "write the closure's parameter types out (`|e: Error<MyError, MyRequest>, req: Option<MyRequest>|`): they cannot be inferred from the service"
)]
pub trait Handler<E, Req, Resp> {
    /// The future of one answer.
    type Future: Future<Output = Result<Resp, Error<E, Req>>>;

    /// Answer for a call that failed with `error`; `request` is the unsent (or copied) request.
    fn answer(&self, error: Error<E, Req>, request: Option<Req>) -> Self::Future;
}

/// The output is bound through [`Answer`] rather than as `Future<Output = Result<..>>`, so
/// that an answer of the wrong type is reported with `Answer`'s message, which states the
/// rule (an output mismatch would only say "expected `u64`, found `String`").
impl<F, Fut, E, Req, Resp> Handler<E, Req, Resp> for F
where
    F: Fn(Error<E, Req>, Option<Req>) -> Fut,
    Fut: Future,
    Fut::Output: Answer<Resp, E, Req>,
{
    type Future = Answering<Fut, Resp, E, Req>;

    fn answer(&self, error: Error<E, Req>, request: Option<Req>) -> Self::Future {
        Answering {
            future: self(error, request),
            answer: PhantomData,
        }
    }
}

pin_project! {
    /// The future of a fallback closure's answer: the closure's own future, its output
    /// passed on as the `Result` it is.
    ///
    /// ```
    /// use tower_breakwater::fallback::Handler;
    /// use tower_breakwater::Error;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let queued = |_: Error<&str, u32>, order: Option<u32>| async move {
    ///     Ok::<_, Error<&str, u32>>(order.unwrap_or(0))
    /// };
    /// let answering = queued.answer(Error::Inner("down"), Some(7));
    /// assert_eq!(answering.await.unwrap(), 7);
    /// # }
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct Answering<Fut, Resp, E, Req> {
        #[pin]
        future: Fut,
        answer: PhantomData<fn() -> Result<Resp, Error<E, Req>>>,
    }
}

impl<Fut, Resp, E, Req> Future for Answering<Fut, Resp, E, Req>
where
    Fut: Future,
    Fut::Output: Answer<Resp, E, Req>,
{
    type Output = Result<Resp, Error<E, Req>>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().future.poll(cx).map(Answer::into_result)
    }
}

impl<Fut, Resp, E, Req> fmt::Debug for Answering<Fut, Resp, E, Req> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Answering").finish_non_exhaustive()
    }
}

/// What a fallback function's future may answer: exactly `Result<Resp, Error<E, Req>>`,
/// where `Resp` is the response type of the service the fallback stands in for. It exists
/// so that any other answer is a compile error that states the rule; it is sealed.
///
/// ```
/// use tower_breakwater::fallback::Answer;
/// use tower_breakwater::Error;
/// fn answers<A: Answer<u64, std::io::Error, u64>>(_: &A) {}
/// answers(&Ok::<u64, Error<std::io::Error, u64>>(7));
/// ```
#[diagnostic::on_unimplemented(
    message = "this fallback answers `{Self}`, but the service it stands in for answers `Result<{Resp}, tower_breakwater::Error<{E}, {Req}>>`",
    label = "a fallback must answer with the inner service's own response type `{Resp}`",
    note = "a fallback stands in for the service's answer, so its `Ok` is the service's response type, exactly",
    note = "if that type cannot be built (hyper's `Response<Incoming>`), map the response below the stack to one you can build (collect the body into `Response<Bytes>`) or to your own enum (`Sent(..)` / `Queued(..)`)"
)]
pub trait Answer<Resp, E, Req>: sealed::Sealed {
    /// The answer as the fallback's result.
    fn into_result(self) -> Result<Resp, Error<E, Req>>;
}

impl<Resp, E, Req> Answer<Resp, E, Req> for Result<Resp, Error<E, Req>> {
    #[inline]
    fn into_result(self) -> Self {
        self
    }
}

mod sealed {
    pub trait Sealed {}
    impl<T, E> Sealed for Result<T, E> {}
}
