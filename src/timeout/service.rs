//! The tower `Service` of a timeout.

use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;
use tower_service::Service;

use super::config::Config;
use super::{Elapsed, ResponseFuture};
use crate::{ConfigError, Name};

/// A service whose calls fail with [`Elapsed`] once they take longer than a limit; made
/// by [`TimeoutLayer`](super::TimeoutLayer) or [`Timeout::new`].
///
/// It keeps the inner service's error type, which must be able to hold an [`Elapsed`]
/// (`S::Error: From<Elapsed>`): [`tower_breakwater::Error`](crate::Error) and tower's `BoxError`
/// both can. Readiness is passed on untimed: `poll_ready` waits as long as the inner
/// service does (as tower's `Timeout` does); only the call is timed.
///
/// ```
/// use std::time::Duration;
/// use tower_breakwater::timeout::Timeout;
/// use tower::{service_fn, BoxError, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let inner = service_fn(|x: u32| async move { Ok::<_, BoxError>(x * 2) });
/// let svc = Timeout::new(inner, "double", Duration::from_secs(1)).unwrap();
/// assert_eq!(svc.oneshot(21).await.unwrap(), 42);
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Timeout<S> {
    inner: S,
    config: Config,
}

impl<S> Timeout<S> {
    /// Put `inner` behind a timeout named `name` of `limit` per call; the limit is
    /// checked as in [`TimeoutLayer::new`](super::TimeoutLayer::new).
    ///
    /// # Errors
    /// A [`ConfigError`] when the limit is 0 or longer than ten years, or the name is bad.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tower_breakwater::timeout::Timeout;
    /// assert!(Timeout::new((), "db", Duration::from_millis(100)).is_ok());
    /// assert!(Timeout::new((), "db", Duration::ZERO).is_err());
    /// ```
    pub fn new(inner: S, name: impl Into<Name>, limit: Duration) -> Result<Self, ConfigError> {
        Ok(Self::from_config(inner, Config::new(name.into(), limit)?))
    }

    pub(crate) fn from_config(inner: S, config: Config) -> Self {
        Timeout { inner, config }
    }

    /// The limit per call.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tower_breakwater::timeout::Timeout;
    /// let svc = Timeout::new((), "db", Duration::from_millis(100)).unwrap();
    /// assert_eq!(svc.limit(), Duration::from_millis(100));
    /// ```
    pub fn limit(&self) -> Duration {
        self.config.limit
    }

    /// The name the errors carry.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tower_breakwater::timeout::Timeout;
    /// let svc = Timeout::new((), "db", Duration::from_millis(100)).unwrap();
    /// assert_eq!(svc.name(), "db");
    /// ```
    pub fn name(&self) -> &str {
        self.config.name.as_str()
    }

    /// The inner service.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tower_breakwater::timeout::Timeout;
    /// let svc = Timeout::new(7, "db", Duration::from_secs(1)).unwrap();
    /// assert_eq!(*svc.get_ref(), 7);
    /// ```
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tower_breakwater::timeout::Timeout;
    /// let mut svc = Timeout::new(7, "db", Duration::from_secs(1)).unwrap();
    /// *svc.get_mut() += 1;
    /// assert_eq!(*svc.get_ref(), 8);
    /// ```
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, unwrapped.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tower_breakwater::timeout::Timeout;
    /// let svc = Timeout::new(7, "db", Duration::from_secs(1)).unwrap();
    /// assert_eq!(svc.into_inner(), 7);
    /// ```
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, Req> Service<Req> for Timeout<S>
where
    S: Service<Req>,
    S::Error: From<Elapsed>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    /// Not timed: a timeout limits calls, not the wait for capacity.
    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, request: Req) -> Self::Future {
        // The clock starts before the inner `call`, so work it does up front counts too.
        // The limit was checked to be at most ten years: the deadline cannot overflow.
        let deadline = Instant::now() + self.config.limit;
        let inner = self.inner.call(request);
        ResponseFuture::new(inner, deadline, &self.config)
    }
}
