//! The tower `Layer` of the retry middleware.

use std::fmt;

use tower_layer::Layer;

use super::config::Policy;
use super::{Budget, Builder, CloneRequest, RetryOnError, RetryService};
use crate::Name;

/// Wraps services in a [`RetryService`]; built with [`RetryLayer::builder`].
///
/// Cheap to clone. Every service it makes shares its [`Budget`] (if it has one); nothing
/// else is shared, because nothing else changes.
///
/// ```
/// use std::time::Duration;
/// use tower_breakwater::retry::{Backoff, Jitter, RetryLayer};
/// use tower_breakwater::Error;
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let retry = RetryLayer::builder("inventory")
///     .max_attempts(3)
///     .backoff(Backoff::constant(Duration::from_millis(1)))
///     .jitter(Jitter::None)
///     .build()
///     .unwrap();
/// let calls = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
/// let counted = calls.clone();
/// let svc = ServiceBuilder::new().layer(retry).service(service_fn(move |sku: u32| {
///     let n = counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
///     async move { if n < 2 { Err(Error::Inner("busy")) } else { Ok(sku) } }
/// }));
/// assert_eq!(svc.oneshot(7).await.unwrap(), 7); // the third attempt worked
/// # }
/// ```
#[derive(Clone)]
pub struct RetryLayer<P = RetryOnError, C = CloneRequest> {
    pub(crate) policy: Policy<P, C>,
}

impl RetryLayer {
    /// Start building a retry layer called `name` (used in errors and `tracing` events).
    ///
    /// ```
    /// use tower_breakwater::retry::RetryLayer;
    /// let layer = RetryLayer::builder("payments").build().unwrap();
    /// assert_eq!(layer.name(), "payments");
    /// ```
    pub fn builder(name: impl Into<Name>) -> Builder {
        Builder::new(name.into())
    }
}

impl<P, C> RetryLayer<P, C> {
    pub(crate) fn from_policy(policy: Policy<P, C>) -> Self {
        RetryLayer { policy }
    }

    /// The layer's name.
    ///
    /// ```
    /// # use tower_breakwater::retry::RetryLayer;
    /// assert_eq!(RetryLayer::builder("db").build().unwrap().name(), "db");
    /// ```
    pub fn name(&self) -> &str {
        self.policy.plan.name.as_str()
    }

    /// How many attempts a call may make, the first one included.
    ///
    /// ```
    /// # use tower_breakwater::retry::RetryLayer;
    /// assert_eq!(RetryLayer::builder("db").build().unwrap().max_attempts(), 3);
    /// ```
    pub fn max_attempts(&self) -> u32 {
        self.policy.plan.max_attempts
    }

    /// The budget retries are paid from, if any.
    ///
    /// ```
    /// # use tower_breakwater::retry::{Budget, RetryLayer};
    /// let layer = RetryLayer::builder("db").budget(Budget::builder().build().unwrap()).build().unwrap();
    /// assert_eq!(layer.budget().unwrap().available(), 100);
    /// ```
    pub fn budget(&self) -> Option<&Budget> {
        self.policy.plan.budget.as_ref()
    }

    /// The layer's counters, for a metrics collector.
    #[cfg(feature = "metrics")]
    pub(crate) fn stats(&self) -> &std::sync::Arc<super::Stats> {
        &self.policy.plan.stats
    }
}

impl<S, P: Clone, C: Clone> Layer<S> for RetryLayer<P, C> {
    type Service = RetryService<S, P, C>;

    fn layer(&self, inner: S) -> Self::Service {
        RetryService::from_policy(inner, self.policy.clone())
    }
}

impl<P, C> fmt::Debug for RetryLayer<P, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plan = &self.policy.plan;
        f.debug_struct("RetryLayer")
            .field("name", &plan.name)
            .field("max_attempts", &plan.max_attempts)
            .field("backoff", &plan.backoff)
            .field("jitter", &plan.jitter)
            .field("budget", &plan.budget)
            .field("max_retry_after", &plan.max_retry_after)
            .finish_non_exhaustive()
    }
}
