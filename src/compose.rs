//! The one-line composer: every layer, in the right order, each one optional.

use tower_layer::{Identity, Layer};

use std::time::Duration;

use crate::bulkhead::{Bulkhead, BulkheadLayer};
use crate::circuit_breaker::{CircuitBreaker, CircuitBreakerLayer, Flat};
use crate::classify::DependencyFailures;
use crate::fallback::{Fallback, FallbackLayer};
use crate::lift::{Lift, LiftLayer};
use crate::retry::RetryLayer;
use crate::timeout::TimeoutLayer;
use crate::{ConfigError, Name};

mod named;

/// Builds one tower `Layer` out of breakwater's layers, stacked in the order that makes them
/// work together:
///
/// ```text
/// fallback            outermost: answers what is left (a refusal, or what you chose)
///   retry             retries whole attempts; never a breaker rejection or a full bulkhead
///     circuit breaker sees every attempt's outcome, timeouts included
///       timeout       per attempt, so a hanging call counts as a failure (and as slow)
///         bulkhead    caps calls in flight; a full bulkhead is not the dependency's fault
///           your service (its error lifted into tower_breakwater::Error::Inner)
/// ```
///
/// Why this order: the timeout sits *below* the breaker so that a hanging dependency trips
/// it; the retry sits *above* the breaker so that each retry asks the breaker again (and stops
/// at once when it opens, instead of hammering a sick service); the bulkhead sits at the
/// bottom so that only calls really sent hold a slot (with one exception: a service clone
/// that reserved a slot in `poll_ready` and whose call the breaker then refused keeps it
/// until its next admitted call or until it is dropped; see RELIABILITY.md); the fallback
/// sits on top so that it sees the final outcome, after retries.
///
/// Every part is optional; a part left out costs nothing (it is `tower::layer::util::Identity`
/// in the type). The stack's error is [`tower_breakwater::Error<E, Req>`](crate::Error).
///
/// ```
/// use std::time::Duration;
/// use tower_breakwater::circuit_breaker::CircuitBreaker;
/// use tower_breakwater::fallback::Fallback;
/// use tower_breakwater::{Error, Resilience};
/// use tower::{service_fn, Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let breaker = CircuitBreaker::builder("payments").consecutive_failures(3).build().unwrap();
/// let fallback = Fallback::new("payments", |e: Error<std::io::Error, u64>, order: Option<u64>| async move {
///     order.map(|o| format!("order {o} accepted, payment queued")).ok_or(e)
/// });
/// let stack = Resilience::builder("payments")
///     .circuit_breaker(&breaker)
///     .fallback(&fallback)
///     .build()
///     .expect("valid config");
///
/// let payments = stack.layer(service_fn(|order: u64| async move {
///     Ok::<_, std::io::Error>(format!("order {order} charged"))
/// }));
/// assert_eq!(payments.clone().oneshot(1).await.unwrap(), "order 1 charged");
/// breaker.force_open();
/// assert_eq!(payments.oneshot(2).await.unwrap(), "order 2 accepted, payment queued");
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Resilience;

impl Resilience {
    /// Start a stack called `name` (the name its own layers report in errors and metrics).
    ///
    /// ```
    /// use tower_breakwater::Resilience;
    /// let layer = Resilience::builder("payments").build().unwrap();
    /// # let _ = layer;
    /// ```
    pub fn builder(name: impl Into<Name>) -> ResilienceBuilder {
        ResilienceBuilder {
            name: name.into(),
            fallback: Identity::new(),
            retry: Identity::new(),
            breaker: Identity::new(),
            timeout: Identity::new(),
            bulkhead: Identity::new(),
            error: None,
        }
    }
}

/// The builder of a [`Resilience`] stack; each method adds one part (its type records which
/// parts are in).
///
/// ```
/// use tower_breakwater::circuit_breaker::CircuitBreaker;
/// use tower_breakwater::Resilience;
///
/// let breaker = CircuitBreaker::builder("db").build().unwrap();
/// let builder = Resilience::builder("db").circuit_breaker(&breaker);
/// assert!(builder.build().is_ok());
/// ```
#[derive(Debug, Clone)]
pub struct ResilienceBuilder<
    Fb = Identity,
    Rt = Identity,
    Cb = Identity,
    To = Identity,
    Bh = Identity,
> {
    name: Name,
    fallback: Fb,
    retry: Rt,
    breaker: Cb,
    timeout: To,
    bulkhead: Bh,
    /// The first bad value given to a part's config, reported by `build`.
    error: Option<ConfigError>,
}

/// The layer a [`ResilienceBuilder`] builds. Its service is the whole stack around yours.
///
/// ```
/// use tower_breakwater::Resilience;
/// use tower::{service_fn, Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let layer = Resilience::builder("db").build().unwrap();
/// let svc = layer.layer(service_fn(|x: u8| async move { Ok::<_, std::io::Error>(x) }));
/// assert_eq!(svc.oneshot(4).await.unwrap(), 4);
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct ResilienceLayer<
    Fb = Identity,
    Rt = Identity,
    Cb = Identity,
    To = Identity,
    Bh = Identity,
> {
    fallback: Fb,
    retry: Rt,
    breaker: Cb,
    timeout: To,
    bulkhead: Bh,
}

impl<Fb, Rt, Cb, To, Bh> ResilienceBuilder<Fb, Rt, Cb, To, Bh> {
    /// Put `breaker` in the stack (shared: the handle you keep sees the same breaker). Its
    /// classifier is [`DependencyFailures`]: errors and timeouts of the dependency are
    /// failures, a full bulkhead counts neither way.
    ///
    /// ```
    /// # use tower_breakwater::circuit_breaker::CircuitBreaker;
    /// # use tower_breakwater::Resilience;
    /// let breaker = CircuitBreaker::builder("db").build().unwrap();
    /// let layer = Resilience::builder("db").circuit_breaker(&breaker).build().unwrap();
    /// # let _ = layer;
    /// ```
    pub fn circuit_breaker(
        self,
        breaker: &CircuitBreaker,
    ) -> ResilienceBuilder<Fb, Rt, CircuitBreakerLayer<DependencyFailures, Flat>, To, Bh> {
        self.circuit_breaker_with(breaker, DependencyFailures)
    }

    /// Put `breaker` in the stack with your own classifier, which sees
    /// `Result<Resp, tower_breakwater::Error<E, Req>>` (e.g. to call a 5xx response a failure).
    ///
    /// ```
    /// # use tower_breakwater::circuit_breaker::CircuitBreaker;
    /// # use tower_breakwater::Resilience;
    /// use tower_breakwater::classify::Outcome;
    /// use tower_breakwater::Error;
    /// let breaker = CircuitBreaker::builder("db").build().unwrap();
    /// let by_status = |r: &Result<u16, Error<std::io::Error, ()>>| match r {
    ///     Ok(status) if *status >= 500 => Outcome::Failure,
    ///     Ok(_) => Outcome::Success,
    ///     Err(e) if e.is_bulkhead_full() => Outcome::Ignored,
    ///     Err(_) => Outcome::Failure,
    /// };
    /// let layer = Resilience::builder("db").circuit_breaker_with(&breaker, by_status).build().unwrap();
    /// # let _ = layer;
    /// ```
    pub fn circuit_breaker_with<C>(
        self,
        breaker: &CircuitBreaker,
        classifier: C,
    ) -> ResilienceBuilder<Fb, Rt, CircuitBreakerLayer<C, Flat>, To, Bh> {
        ResilienceBuilder {
            name: self.name,
            fallback: self.fallback,
            retry: self.retry,
            breaker: breaker.layer_with(classifier).flat(),
            timeout: self.timeout,
            bulkhead: self.bulkhead,
            error: self.error,
        }
    }

    /// Limit each attempt to `limit` (below the breaker: a timeout counts as a failure and a
    /// slow call). A zero limit, or one past ten years, makes [`build`](Self::build) fail.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tower_breakwater::Resilience;
    /// let layer = Resilience::builder("db").timeout(Duration::from_secs(2)).build().unwrap();
    /// # let _ = layer;
    /// let err = Resilience::builder("db").timeout(Duration::ZERO).build().unwrap_err();
    /// assert_eq!(err.field(), "limit");
    /// ```
    pub fn timeout(mut self, limit: Duration) -> ResilienceBuilder<Fb, Rt, Cb, TimeoutLayer, Bh> {
        let timeout = match TimeoutLayer::new(self.name.clone(), limit) {
            Ok(timeout) => timeout,
            Err(error) => {
                self.error.get_or_insert(error);
                // A stand-in so the builder keeps its shape; `build` reports the error.
                TimeoutLayer::new(self.name.clone(), Duration::from_secs(1))
                    .expect("one second is a valid limit")
            }
        };
        ResilienceBuilder {
            name: self.name,
            fallback: self.fallback,
            retry: self.retry,
            breaker: self.breaker,
            timeout,
            bulkhead: self.bulkhead,
            error: self.error,
        }
    }

    /// Limit each attempt with `timeout`, a layer built elsewhere (e.g. by
    /// [`StackConfig`](crate::config::StackConfig)): its clones share its count of
    /// timeouts, so a metrics registration of the layer you keep sees this stack's.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tower_breakwater::Resilience;
    /// use tower_breakwater::timeout::TimeoutLayer;
    ///
    /// let timeout = TimeoutLayer::new("db", Duration::from_secs(2)).unwrap();
    /// let stack = Resilience::builder("db").timeout_layer(&timeout).build().unwrap();
    /// assert_eq!(stack.timeout_layer().limit(), Duration::from_secs(2));
    /// ```
    pub fn timeout_layer(
        self,
        timeout: &TimeoutLayer,
    ) -> ResilienceBuilder<Fb, Rt, Cb, TimeoutLayer, Bh> {
        ResilienceBuilder {
            name: self.name,
            fallback: self.fallback,
            retry: self.retry,
            breaker: self.breaker,
            timeout: timeout.clone(),
            bulkhead: self.bulkhead,
            error: self.error,
        }
    }

    /// Cap the calls in flight with `bulkhead` (shared: the handle you keep sees the same
    /// slots). It sits at the bottom, so only calls really sent hold a slot (but see the
    /// exception in [`Resilience`]'s docs).
    ///
    /// ```
    /// # use tower_breakwater::Resilience;
    /// use tower_breakwater::bulkhead::Bulkhead;
    /// let bulkhead = Bulkhead::builder("db").max_concurrent(16).build().unwrap();
    /// let layer = Resilience::builder("db").bulkhead(&bulkhead).build().unwrap();
    /// # let _ = layer;
    /// ```
    pub fn bulkhead(self, bulkhead: &Bulkhead) -> ResilienceBuilder<Fb, Rt, Cb, To, BulkheadLayer> {
        ResilienceBuilder {
            name: self.name,
            fallback: self.fallback,
            retry: self.retry,
            breaker: self.breaker,
            timeout: self.timeout,
            bulkhead: bulkhead.layer(),
            error: self.error,
        }
    }

    /// Retry failed attempts with `retry`, a layer built elsewhere (above the breaker: every
    /// retry asks the breaker again, and a rejection or a full bulkhead is not retried by
    /// the default predicate). Shared: the layer you keep counts this stack's retries, so
    /// you can register its metrics. To build one named after the stack, see
    /// [`with_retry`](Self::with_retry).
    ///
    /// ```
    /// # use tower_breakwater::Resilience;
    /// use tower_breakwater::retry::RetryLayer;
    /// let retry = RetryLayer::builder("db").max_attempts(3).build().unwrap();
    /// let layer = Resilience::builder("db").retry(&retry).build().unwrap();
    /// # let _ = layer;
    /// ```
    pub fn retry<P, C>(
        self,
        retry: &RetryLayer<P, C>,
    ) -> ResilienceBuilder<Fb, RetryLayer<P, C>, Cb, To, Bh>
    where
        P: Clone,
        C: Clone,
    {
        ResilienceBuilder {
            name: self.name,
            fallback: self.fallback,
            retry: retry.clone(),
            breaker: self.breaker,
            timeout: self.timeout,
            bulkhead: self.bulkhead,
            error: self.error,
        }
    }

    /// Put `fallback` on top of the stack (its count is shared with the handle you keep).
    /// Its function answers with the wrapped service's own response type, exactly (see
    /// [the fallback module](crate::fallback#the-fallback-answers-with-the-services-own-response-type)).
    ///
    /// ```
    /// # use tower_breakwater::Resilience;
    /// use tower_breakwater::fallback::Fallback;
    /// use tower_breakwater::Error;
    /// let fallback = Fallback::new("db", |e: Error<(), ()>, _: Option<()>| async { Err::<(), _>(e) });
    /// let layer = Resilience::builder("db").fallback(&fallback).build().unwrap();
    /// # let _ = layer;
    /// ```
    pub fn fallback<H, P, K>(
        self,
        fallback: &Fallback<H, P, K>,
    ) -> ResilienceBuilder<FallbackLayer<H, P, K>, Rt, Cb, To, Bh>
    where
        H: Clone,
        P: Clone,
        K: Clone,
    {
        ResilienceBuilder {
            name: self.name,
            fallback: fallback.layer(),
            retry: self.retry,
            breaker: self.breaker,
            timeout: self.timeout,
            bulkhead: self.bulkhead,
            error: self.error,
        }
    }

    /// The layer, or the first config error met while adding parts.
    ///
    /// # Errors
    /// The first [`ConfigError`] met while adding parts (a timeout limit, or a bad value in a
    /// part built by a `with_*` method).
    ///
    /// ```
    /// # use tower_breakwater::Resilience;
    /// assert!(Resilience::builder("db").build().is_ok());
    /// ```
    pub fn build(self) -> Result<ResilienceLayer<Fb, Rt, Cb, To, Bh>, ConfigError> {
        if let Some(error) = self.error {
            return Err(error);
        }
        Ok(ResilienceLayer {
            fallback: self.fallback,
            retry: self.retry,
            breaker: self.breaker,
            timeout: self.timeout,
            bulkhead: self.bulkhead,
        })
    }
}

impl<Fb, Rt, Cb, Bh> ResilienceLayer<Fb, Rt, Cb, TimeoutLayer, Bh> {
    /// The timeout layer the builder made from [`timeout`](ResilienceBuilder::timeout): every
    /// service this stack wraps shares it, e.g. its count of timeouts (for metrics).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tower_breakwater::Resilience;
    /// let stack = Resilience::builder("db").timeout(Duration::from_secs(2)).build().unwrap();
    /// assert_eq!(stack.timeout_layer().limit(), Duration::from_secs(2));
    /// assert_eq!(stack.timeout_layer().timeouts(), 0);
    /// ```
    pub fn timeout_layer(&self) -> &TimeoutLayer {
        &self.timeout
    }
}

impl<S, Fb, Rt, Cb, To, Bh> Layer<S> for ResilienceLayer<Fb, Rt, Cb, To, Bh>
where
    Bh: Layer<Lift<S>>,
    To: Layer<Bh::Service>,
    Cb: Layer<To::Service>,
    Rt: Layer<Cb::Service>,
    Fb: Layer<Rt::Service>,
{
    type Service = Fb::Service;

    fn layer(&self, inner: S) -> Self::Service {
        let inner = self.bulkhead.layer(LiftLayer.layer(inner));
        let inner = self.timeout.layer(inner);
        let inner = self.breaker.layer(inner);
        let inner = self.retry.layer(inner);
        self.fallback.layer(inner)
    }
}
