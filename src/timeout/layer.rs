//! The tower `Layer` of a timeout.

use std::sync::Arc;
use std::time::Duration;

use tower_layer::Layer;

use super::config::Config;
use super::stats::Fired;
use super::Timeout;
use crate::{ConfigError, Name};

/// Wraps services in a [`Timeout`]: every call gets at most `limit`, then fails with
/// [`Elapsed`](super::Elapsed). Cheap to clone (a name and a duration).
///
/// ```
/// use std::time::Duration;
/// use tower_breakwater::timeout::TimeoutLayer;
///
/// let layer = TimeoutLayer::new("payments", Duration::from_secs(2)).expect("valid limit");
/// assert_eq!(layer.limit(), Duration::from_secs(2));
///
/// let err = TimeoutLayer::new("payments", Duration::ZERO).unwrap_err();
/// assert_eq!(err.field(), "limit");
/// ```
#[derive(Debug, Clone)]
pub struct TimeoutLayer {
    config: Config,
    /// Shared by clones; services and futures know it by `config.counter` only.
    fired: Arc<Fired>,
}

impl TimeoutLayer {
    /// A timeout named `name` (for its errors) of `limit` per call.
    ///
    /// The limit must be above zero and at most ten years; anything else is a
    /// [`ConfigError`], never a panic. (tokio clamps longer sleeps to about 30 years, and a
    /// deadline past the clock's range would panic: a limit that long is no limit, so
    /// leave the layer out instead.)
    ///
    /// # Errors
    /// A [`ConfigError`] when the limit is 0 or longer than ten years, or the name is bad.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tower_breakwater::timeout::TimeoutLayer;
    /// assert!(TimeoutLayer::new("db", Duration::from_millis(250)).is_ok());
    /// let err = TimeoutLayer::new("db", Duration::MAX).unwrap_err();
    /// assert_eq!(err.to_string(), format!(
    ///     "invalid config for 'db': limit = {:?}, expected at most ten years \
    ///      (leave the timeout out for no limit)",
    ///     Duration::MAX,
    /// ));
    /// ```
    pub fn new(name: impl Into<Name>, limit: Duration) -> Result<Self, ConfigError> {
        let mut config = Config::new(name.into(), limit)?;
        let fired = Fired::new();
        config.counter = fired.id;
        Ok(TimeoutLayer { config, fired })
    }

    /// The name the errors carry.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tower_breakwater::timeout::TimeoutLayer;
    /// let layer = TimeoutLayer::new("db", Duration::from_secs(1)).unwrap();
    /// assert_eq!(layer.name(), "db");
    /// ```
    #[must_use]
    pub fn name(&self) -> &str {
        self.config.name.as_str()
    }

    /// The limit per call.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tower_breakwater::timeout::TimeoutLayer;
    /// let layer = TimeoutLayer::new("db", Duration::from_secs(1)).unwrap();
    /// assert_eq!(layer.limit(), Duration::from_secs(1));
    /// ```
    #[must_use]
    pub fn limit(&self) -> Duration {
        self.config.limit
    }

    /// How many calls of this layer's services (and of its clones') have timed out so far.
    /// Counting costs a call nothing unless its timer fires.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_breakwater::timeout::TimeoutLayer;
    /// use tower::{service_fn, BoxError, Layer, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let layer = TimeoutLayer::new("db", Duration::from_millis(10)).unwrap();
    /// let hangs = layer.layer(service_fn(|()| std::future::pending::<Result<(), BoxError>>()));
    /// assert!(hangs.oneshot(()).await.is_err());
    /// assert_eq!(layer.timeouts(), 1);
    /// # }
    /// ```
    #[must_use]
    pub fn timeouts(&self) -> u64 {
        self.fired.count()
    }

    /// The counter, for a metrics collector.
    #[cfg(feature = "metrics")]
    pub(crate) fn fired(&self) -> &Arc<Fired> {
        &self.fired
    }
}

impl<S> Layer<S> for TimeoutLayer {
    type Service = Timeout<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Timeout::from_config(inner, self.config.clone())
    }
}
