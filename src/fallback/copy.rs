//! Whether (and how) the fallback keeps a copy of a request that is sent.

/// How a [`Fallback`](super::Fallback) copies a request before it is sent, so that the
/// fallback function still has it when a *sent* call fails (a timeout, an inner error).
/// Refused calls need no copy: the refusal hands the unsent request back.
///
/// Implemented by [`NoCopy`] (the default), [`CloneRequest`], and any
/// `Fn(&Req) -> Option<Req>`.
///
/// ```
/// use breakwater::fallback::{CloneRequest, CopyRequest, NoCopy};
/// assert_eq!(CloneRequest.copy(&7), Some(7));
/// assert_eq!(CopyRequest::<i32>::copy(&NoCopy, &7), None);
/// let only_small = |n: &i32| (*n < 10).then_some(*n);
/// assert_eq!(only_small.copy(&70), None);
/// ```
pub trait CopyRequest<Req> {
    /// A copy of `request`, or `None` to keep none.
    fn copy(&self, request: &Req) -> Option<Req>;
}

/// Keep no copy (the default): the fallback gets the request only for refusals.
///
/// ```
/// use breakwater::fallback::{CopyRequest, NoCopy};
/// assert_eq!(NoCopy.copy(&"order"), None);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct NoCopy;

/// Clone every request before it is sent (one clone per call).
///
/// ```
/// use breakwater::fallback::{CloneRequest, CopyRequest};
/// assert_eq!(CloneRequest.copy(&String::from("order")), Some(String::from("order")));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct CloneRequest;

impl<Req> CopyRequest<Req> for NoCopy {
    #[inline]
    fn copy(&self, _: &Req) -> Option<Req> {
        None
    }
}

impl<Req: Clone> CopyRequest<Req> for CloneRequest {
    #[inline]
    fn copy(&self, request: &Req) -> Option<Req> {
        Some(request.clone())
    }
}

impl<F, Req> CopyRequest<Req> for F
where
    F: Fn(&Req) -> Option<Req>,
{
    #[inline]
    fn copy(&self, request: &Req) -> Option<Req> {
        self(request)
    }
}
