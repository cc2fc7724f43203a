//! The tower `Layer` of the chaos injector.

use tower_layer::Layer;

use super::{Chaos, ChaosService};

/// Wraps services in a [`ChaosService`] that shares one [`Chaos`] handle: made by
/// [`Chaos::layer`]. Cheap to clone (one `Arc`).
///
/// ```
/// use tower_breakwater::chaos::Chaos;
/// use tower::{service_fn, BoxError, Layer};
///
/// let chaos = Chaos::builder("db").error_rate(0.1).build().unwrap();
/// let layer = chaos.layer();
/// let a = layer.layer(service_fn(|()| async { Ok::<_, BoxError>(1) }));
/// let b = layer.layer(service_fn(|()| async { Ok::<_, BoxError>(2) }));
/// assert_eq!(a.chaos().name(), b.chaos().name());
/// ```
#[derive(Debug, Clone)]
pub struct ChaosLayer {
    chaos: Chaos,
}

impl ChaosLayer {
    pub(crate) fn new(chaos: Chaos) -> Self {
        ChaosLayer { chaos }
    }
}

impl<S> Layer<S> for ChaosLayer {
    type Service = ChaosService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ChaosService::new(inner, self.chaos.clone())
    }
}
