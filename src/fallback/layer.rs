//! The tower `Layer` of a fallback.

use std::sync::Arc;

use tower_layer::Layer;

use super::handle::Shared;
use super::FallbackService;

/// Wraps services in a [`FallbackService`]; made by [`Fallback::layer`](super::Fallback::layer).
///
/// ```
/// use tower_breakwater::fallback::Fallback;
/// use tower_breakwater::Error;
/// use tower::{service_fn, Layer};
///
/// let fallback = Fallback::new("p", |e: Error<(), ()>, _: Option<()>| async { Err::<(), _>(e) });
/// let svc = fallback.layer().layer(service_fn(|()| async { Ok::<_, Error<(), ()>>(()) }));
/// # let _ = svc;
/// ```
pub struct FallbackLayer<H, P, K> {
    shared: Arc<Shared<H, P, K>>,
}

impl<H, P, K> FallbackLayer<H, P, K> {
    pub(crate) fn new(shared: Arc<Shared<H, P, K>>) -> Self {
        FallbackLayer { shared }
    }
}

impl<H, P, K> Clone for FallbackLayer<H, P, K> {
    fn clone(&self) -> Self {
        FallbackLayer {
            shared: self.shared.clone(),
        }
    }
}

impl<H, P, K> std::fmt::Debug for FallbackLayer<H, P, K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FallbackLayer").finish_non_exhaustive()
    }
}

impl<S, H, P, K> Layer<S> for FallbackLayer<H, P, K> {
    type Service = FallbackService<S, H, P, K>;

    fn layer(&self, inner: S) -> Self::Service {
        FallbackService::new(inner, self.shared.clone())
    }
}
