//! The user's fallback function.

use std::future::Future;

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
pub trait Handler<E, Req, Resp> {
    /// The future of one answer.
    type Future: Future<Output = Result<Resp, Error<E, Req>>>;

    /// Answer for a call that failed with `error`; `request` is the unsent (or copied) request.
    fn answer(&self, error: Error<E, Req>, request: Option<Req>) -> Self::Future;
}

impl<F, Fut, E, Req, Resp> Handler<E, Req, Resp> for F
where
    F: Fn(Error<E, Req>, Option<Req>) -> Fut,
    Fut: Future<Output = Result<Resp, Error<E, Req>>>,
{
    type Future = Fut;

    fn answer(&self, error: Error<E, Req>, request: Option<Req>) -> Fut {
        self(error, request)
    }
}
