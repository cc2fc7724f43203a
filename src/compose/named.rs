//! Parts the composer builds itself, named after the stack, and the handles a built stack
//! gives back (to force a breaker open, read a bulkhead, register metrics).

use crate::bulkhead::{self, Bulkhead, BulkheadLayer};
use crate::circuit_breaker::{self, CircuitBreaker, CircuitBreakerLayer, Flat};
use crate::classify::DependencyFailures;
use crate::fallback::{Fallback, FallbackLayer, Kinds, NoCopy};
use crate::retry::{self, RetryLayer};

use super::{ResilienceBuilder, ResilienceLayer};

/// The name of a stand-in part: it keeps the builder's type when a part's config is bad,
/// and is never used, because `build` then returns the error.
const STAND_IN: &str = "stand-in";

impl<Fb, Rt, Cb, To, Bh> ResilienceBuilder<Fb, Rt, Cb, To, Bh> {
    /// Build a circuit breaker named after the stack, configured by `configure` (which gets
    /// [`CircuitBreaker::builder`] with the stack's name), and put it in the stack with the
    /// [`DependencyFailures`] classifier. A bad value makes [`build`](Self::build) fail with
    /// its [`ConfigError`](crate::ConfigError). The breaker's handle is
    /// [`ResilienceLayer::circuit_breaker`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_breakwater::Resilience;
    ///
    /// let stack = Resilience::builder("payments")
    ///     .with_circuit_breaker(|breaker| breaker.consecutive_failures(5).open_for(Duration::from_secs(30)))
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(stack.circuit_breaker().name(), "payments");
    ///
    /// let bad = Resilience::builder("payments").with_circuit_breaker(|b| b.failure_rate(2.0)).build();
    /// assert_eq!(bad.unwrap_err().field(), "failure_rate");
    /// ```
    pub fn with_circuit_breaker<F>(
        mut self,
        configure: F,
    ) -> ResilienceBuilder<Fb, Rt, CircuitBreakerLayer<DependencyFailures, Flat>, To, Bh>
    where
        F: FnOnce(circuit_breaker::Builder) -> circuit_breaker::Builder,
    {
        let breaker = match configure(CircuitBreaker::builder(self.name.clone())).build() {
            Ok(breaker) => breaker,
            Err(error) => {
                self.error.get_or_insert(error);
                CircuitBreaker::builder(STAND_IN)
                    .build()
                    .expect("the defaults are valid")
            }
        };
        self.circuit_breaker(&breaker)
    }

    /// Build a bulkhead named after the stack, configured by `configure` (which gets
    /// [`Bulkhead::builder`] with the stack's name; `max_concurrent` has no default). A bad
    /// or missing value makes [`build`](Self::build) fail. Its handle is
    /// [`ResilienceLayer::bulkhead`].
    ///
    /// ```
    /// use tower_breakwater::Resilience;
    ///
    /// let stack = Resilience::builder("payments")
    ///     .with_bulkhead(|bulkhead| bulkhead.max_concurrent(64))
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(stack.bulkhead().name(), "payments");
    /// assert_eq!(stack.bulkhead().max_concurrent(), 64);
    /// ```
    pub fn with_bulkhead<F>(
        mut self,
        configure: F,
    ) -> ResilienceBuilder<Fb, Rt, Cb, To, BulkheadLayer>
    where
        F: FnOnce(bulkhead::Builder) -> bulkhead::Builder,
    {
        let bulkhead = match configure(Bulkhead::builder(self.name.clone())).build() {
            Ok(bulkhead) => bulkhead,
            Err(error) => {
                self.error.get_or_insert(error);
                Bulkhead::builder(STAND_IN)
                    .max_concurrent(1)
                    .build()
                    .expect("one slot is valid")
            }
        };
        self.bulkhead(&bulkhead)
    }

    /// Build a retry layer named after the stack, configured by `configure` (which gets
    /// [`RetryLayer::builder`] with the stack's name). A bad value makes
    /// [`build`](Self::build) fail. The layer (for its metrics) is
    /// [`ResilienceLayer::retry_layer`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_breakwater::retry::Backoff;
    /// use tower_breakwater::Resilience;
    ///
    /// let stack = Resilience::builder("payments")
    ///     .with_retry(|retry| retry
    ///         .max_attempts(3)
    ///         .backoff(Backoff::constant(Duration::from_millis(50))))
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(stack.retry_layer().max_attempts(), 3);
    /// ```
    pub fn with_retry<F, P, C>(
        mut self,
        configure: F,
    ) -> ResilienceBuilder<Fb, RetryLayer<P, C>, Cb, To, Bh>
    where
        F: FnOnce(retry::Builder) -> retry::Builder<P, C>,
        P: Clone,
        C: Clone,
    {
        let (retry, error) = configure(RetryLayer::builder(self.name.clone())).build_or_stand_in();
        if let Some(error) = error {
            self.error.get_or_insert(error);
        }
        self.retry(&retry)
    }

    /// Put a [`Fallback`] named after the stack on top, answering refusals (an open breaker,
    /// a full bulkhead) with `handler`. For other kinds, a predicate or a copy of sent
    /// requests, or to register its metrics, build a [`Fallback`] and hand it in with
    /// [`fallback`](Self::fallback).
    ///
    /// The handler must answer with the inner service's *own* response type (see
    /// [`Fallback`]'s docs for what to do when that type cannot be built), and its closure
    /// needs its error's type written out: the stack's error type is only known once a
    /// service is wrapped.
    ///
    /// ```
    /// use tower_breakwater::{Error, Resilience};
    /// use tower::{service_fn, Layer, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let stack = Resilience::builder("payments")
    ///     .with_fallback(|e: Error<std::io::Error, u64>, order: Option<u64>| async move {
    ///         order.map(|o| format!("order {o} queued")).ok_or(e)
    ///     })
    ///     .with_circuit_breaker(|b| b)
    ///     .build()
    ///     .unwrap();
    /// stack.circuit_breaker().force_open();
    /// let svc = stack.layer(service_fn(|o: u64| async move { Ok::<_, std::io::Error>(format!("order {o} paid")) }));
    /// assert_eq!(svc.oneshot(7).await.unwrap(), "order 7 queued");
    /// # }
    /// ```
    pub fn with_fallback<H>(
        self,
        handler: H,
    ) -> ResilienceBuilder<FallbackLayer<H, Kinds, NoCopy>, Rt, Cb, To, Bh>
    where
        H: Clone,
    {
        let fallback = Fallback::new(self.name.clone(), handler);
        self.fallback(&fallback)
    }

    /// The stack's name, which the parts built by `with_*` and [`timeout`](Self::timeout)
    /// take.
    ///
    /// ```
    /// use tower_breakwater::Resilience;
    /// assert_eq!(Resilience::builder("payments").name(), "payments");
    /// ```
    #[must_use]
    pub fn name(&self) -> &str {
        self.name.as_str()
    }
}

impl<Fb, Rt, C, To, Bh> ResilienceBuilder<Fb, Rt, CircuitBreakerLayer<C, Flat>, To, Bh> {
    /// Classify the breaker's outcomes with `classifier` instead of the one given so far
    /// (by default [`DependencyFailures`]: errors and timeouts are failures). It sees
    /// `Result<Resp, tower_breakwater::Error<E, Req>>`; an HTTP client's breaker takes
    /// [`ResponseClassifier`](crate::http::ResponseClassifier), so that a 503 response
    /// counts as a failure.
    ///
    /// ```
    /// use tower_breakwater::classify::Outcome;
    /// use tower_breakwater::{Error, Resilience};
    ///
    /// let by_status = |r: &Result<u16, Error<std::io::Error>>| match r {
    ///     Ok(status) if *status >= 500 => Outcome::Failure,
    ///     Ok(_) => Outcome::Success,
    ///     Err(_) => Outcome::Failure,
    /// };
    /// let stack = Resilience::builder("payments")
    ///     .with_circuit_breaker(|b| b.consecutive_failures(3))
    ///     .breaker_classifier(by_status)
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(stack.circuit_breaker().name(), "payments");
    /// ```
    pub fn breaker_classifier<C2>(
        self,
        classifier: C2,
    ) -> ResilienceBuilder<Fb, Rt, CircuitBreakerLayer<C2, Flat>, To, Bh> {
        let breaker = self.breaker.breaker().clone();
        self.circuit_breaker_with(&breaker, classifier)
    }
}

impl<Fb, Rt, C, To, Bh> ResilienceLayer<Fb, Rt, CircuitBreakerLayer<C, Flat>, To, Bh> {
    /// The stack's circuit breaker (a handle: force it open, read its snapshot, subscribe
    /// to its transitions, register its metrics).
    ///
    /// ```
    /// use tower_breakwater::Resilience;
    /// let stack = Resilience::builder("db").with_circuit_breaker(|b| b).build().unwrap();
    /// stack.circuit_breaker().force_open();
    /// assert!(stack.circuit_breaker().try_acquire().is_err());
    /// ```
    #[must_use]
    pub fn circuit_breaker(&self) -> &CircuitBreaker {
        self.breaker.breaker()
    }
}

impl<Fb, Rt, Cb, To> ResilienceLayer<Fb, Rt, Cb, To, BulkheadLayer> {
    /// The stack's bulkhead (a handle: its slots in use, its refusals, its metrics).
    ///
    /// ```
    /// use tower_breakwater::Resilience;
    /// let stack = Resilience::builder("db").with_bulkhead(|b| b.max_concurrent(2)).build().unwrap();
    /// assert_eq!(stack.bulkhead().in_flight(), 0);
    /// ```
    #[must_use]
    pub fn bulkhead(&self) -> &Bulkhead {
        self.bulkhead.bulkhead()
    }
}

impl<Fb, P, C, Cb, To, Bh> ResilienceLayer<Fb, RetryLayer<P, C>, Cb, To, Bh> {
    /// The stack's retry layer: every service of the stack shares its counts (register it
    /// for metrics).
    ///
    /// ```
    /// use tower_breakwater::Resilience;
    /// let stack = Resilience::builder("db").with_retry(|r| r.max_attempts(2)).build().unwrap();
    /// assert_eq!(stack.retry_layer().max_attempts(), 2);
    /// ```
    #[must_use]
    pub fn retry_layer(&self) -> &RetryLayer<P, C> {
        &self.retry
    }
}
