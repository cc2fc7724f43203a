//! Whether the fallback keeps a copy of a request that is sent.
//!
//! The copier trait is the retry layer's ([`CopyRequest`], [`CloneRequest`], or any
//! `Fn(&Req) -> Option<Req>`): one way to say "copy this request" for the whole crate. The
//! fallback adds [`NoCopy`], its default.

use crate::retry::CopyRequest;

/// Keep no copy (the fallback's default): the function gets the request only for refusals,
/// which hand the unsent request back.
///
/// ```
/// use tower_breakwater::fallback::{CopyRequest, NoCopy};
/// assert_eq!(NoCopy.copy_request(&"order"), None);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct NoCopy;

impl<Req> CopyRequest<Req> for NoCopy {
    #[inline]
    fn copy_request(&self, _: &Req) -> Option<Req> {
        None
    }
}
