//! The tower `Layer` of a bulkhead.

use tower_layer::Layer;

use super::{Bulkhead, BulkheadService};

/// Wraps services in a [`BulkheadService`] that shares one [`Bulkhead`]: made by
/// [`Bulkhead::layer`]. Cheap to clone (one `Arc`).
///
/// ```
/// use tower_breakwater::bulkhead::Bulkhead;
/// use tower::{service_fn, BoxError, Layer};
///
/// let bulkhead = Bulkhead::builder("db").max_concurrent(1).build().unwrap();
/// let layer = bulkhead.layer();
/// let a = layer.layer(service_fn(|()| async { Ok::<_, BoxError>(1) }));
/// let b = layer.layer(service_fn(|()| async { Ok::<_, BoxError>(2) }));
/// assert_eq!(a.bulkhead().name(), b.bulkhead().name());
/// ```
#[derive(Debug, Clone)]
pub struct BulkheadLayer {
    bulkhead: Bulkhead,
}

impl BulkheadLayer {
    pub(crate) fn new(bulkhead: Bulkhead) -> Self {
        BulkheadLayer { bulkhead }
    }

    /// The bulkhead every service of this layer shares (a handle: read its slots, register
    /// its metrics).
    ///
    /// ```
    /// use tower_breakwater::bulkhead::Bulkhead;
    /// let layer = Bulkhead::builder("db").max_concurrent(4).build().unwrap().layer();
    /// assert_eq!(layer.bulkhead().max_concurrent(), 4);
    /// ```
    #[must_use]
    pub fn bulkhead(&self) -> &Bulkhead {
        &self.bulkhead
    }
}

impl<S> Layer<S> for BulkheadLayer {
    type Service = BulkheadService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        BulkheadService::new(inner, self.bulkhead.clone())
    }
}
