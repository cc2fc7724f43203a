//! [`Metrics`]: the list of instances whose metrics go into a registry.

use std::fmt::Display;
use std::hash::Hash;
use std::sync::Arc;

use prometheus::Registry;

use super::breaker::BreakerSource;
use super::collect::Scraped;
use super::keyed::KeyedSource;
use super::layers::{
    BulkheadSource, FallbackPart, FallbackSource, RetryPart, RetrySource, TimeoutPart,
    TimeoutSource,
};
use super::Error;
use crate::bulkhead::Bulkhead;
use crate::circuit_breaker::{CircuitBreaker, KeyedCircuitBreaker};
use crate::fallback::Fallback;
use crate::retry::RetryLayer;
use crate::timeout::TimeoutLayer;
use crate::Name;

/// The instances whose metrics go into a registry, and an optional namespace: list them,
/// then [`register`](Metrics::register) them all at once into your own
/// `prometheus::Registry`.
///
/// Registering holds a handle of each instance (values are read from it at scrape time);
/// nothing is registered implicitly, and nothing in the default registry.
///
/// ```
/// use std::time::Duration;
/// use tower_breakwater::bulkhead::Bulkhead;
/// use tower_breakwater::circuit_breaker::CircuitBreaker;
/// use tower_breakwater::metrics::Metrics;
/// use tower_breakwater::timeout::TimeoutLayer;
///
/// let breaker = CircuitBreaker::builder("payments").build().unwrap();
/// let bulkhead = Bulkhead::builder("payments").max_concurrent(16).build().unwrap();
/// let timeout = TimeoutLayer::new("payments", Duration::from_secs(2)).unwrap();
///
/// let registry = prometheus::Registry::new();
/// Metrics::new()
///     .namespace("shop")
///     .circuit_breaker(&breaker)
///     .bulkhead(&bulkhead)
///     .timeout(&timeout)
///     .register(&registry)
///     .expect("registered once");
///
/// let families = registry.gather();
/// assert!(families.iter().any(|f| f.name() == "shop_circuit_breaker_state"));
/// assert!(families.iter().any(|f| f.name() == "shop_bulkhead_in_flight"));
/// ```
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    namespace: Option<String>,
    parts: Vec<Part>,
    /// Histogram buckets (seconds) of the breakers' call durations, if asked for.
    durations: Option<Vec<f64>>,
}

/// One instance to register.
#[derive(Debug, Clone)]
enum Part {
    Breaker(CircuitBreaker),
    Keyed(KeyedPart),
    Bulkhead(Bulkhead),
    Retry(RetryPart),
    Timeout(TimeoutPart),
    Fallback(FallbackPart),
    #[cfg(feature = "outlier")]
    Outlier(crate::outlier::OutlierDetector, usize),
    #[cfg(feature = "deferred")]
    Deferred(crate::deferred::Queue),
}

impl Part {
    fn layer(&self) -> &'static str {
        match self {
            Part::Breaker(_) => "circuit breaker",
            Part::Keyed(_) => "keyed circuit breaker",
            Part::Bulkhead(_) => "bulkhead",
            Part::Retry(_) => "retry",
            Part::Timeout(_) => "timeout",
            Part::Fallback(_) => "fallback",
            #[cfg(feature = "outlier")]
            Part::Outlier(..) => "outlier detector",
            #[cfg(feature = "deferred")]
            Part::Deferred(_) => "deferred queue",
        }
    }

    fn name(&self) -> &str {
        match self {
            Part::Breaker(b) => b.name(),
            Part::Keyed(k) => k.name.as_str(),
            Part::Bulkhead(b) => b.name(),
            Part::Retry(r) => r.name.as_str(),
            Part::Timeout(t) => t.name.as_str(),
            Part::Fallback(f) => f.name.as_str(),
            #[cfg(feature = "outlier")]
            Part::Outlier(d, _) => d.name(),
            #[cfg(feature = "deferred")]
            Part::Deferred(q) => q.name(),
        }
    }

    fn collector(
        &self,
        namespace: Option<&str>,
        durations: Option<&[f64]>,
    ) -> prometheus::Result<Scraped> {
        Ok(match self {
            Part::Breaker(b) => Scraped::new(BreakerSource::new(b.clone(), namespace, durations)?),
            Part::Keyed(k) => (k.collector)(namespace)?,
            Part::Bulkhead(b) => Scraped::new(BulkheadSource::new(b.clone(), namespace)?),
            Part::Retry(r) => Scraped::new(RetrySource::new(r.clone(), namespace)?),
            Part::Timeout(t) => Scraped::new(TimeoutSource::new(t.clone(), namespace)?),
            Part::Fallback(f) => Scraped::new(FallbackSource::new(f.clone(), namespace)?),
            #[cfg(feature = "outlier")]
            Part::Outlier(d, max_series) => Scraped::new(super::outlier::OutlierSource::new(
                d.clone(),
                *max_series,
                namespace,
            )?),
            #[cfg(feature = "deferred")]
            Part::Deferred(q) => {
                Scraped::new(super::deferred::DeferredSource::new(q.clone(), namespace)?)
            }
        })
    }
}

/// Makes a keyed breaker's collector for a namespace (the key type erased).
type MakeCollector = dyn Fn(Option<&str>) -> prometheus::Result<Scraped> + Send + Sync;

/// A keyed breaker to register: its key type is erased behind the function that makes
/// its collector.
#[derive(Clone)]
struct KeyedPart {
    name: Name,
    collector: Arc<MakeCollector>,
}

impl std::fmt::Debug for KeyedPart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyedPart")
            .field("name", &self.name)
            .finish()
    }
}

impl Metrics {
    /// An empty list, without a namespace.
    ///
    /// ```
    /// # use tower_breakwater::metrics::Metrics;
    /// Metrics::new().register(&prometheus::Registry::new()).unwrap(); // nothing to add
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Prefix every metric name with `namespace` and `_` (`shop` gives
    /// `shop_circuit_breaker_state`). Checked by [`register`](Metrics::register).
    ///
    /// ```
    /// # use tower_breakwater::metrics::Metrics;
    /// let err = Metrics::new().namespace("my-app").register(&prometheus::Registry::new());
    /// assert!(err.is_err()); // '-' is not allowed in a metric name
    /// ```
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// Add a circuit breaker: `circuit_breaker_state`, `_state_seconds`, `_calls_total`,
    /// `_failures_total`, `_transitions_total` (see the [module docs](super)).
    ///
    /// ```
    /// # use tower_breakwater::circuit_breaker::CircuitBreaker;
    /// # use tower_breakwater::metrics::Metrics;
    /// let breaker = CircuitBreaker::builder("db").build().unwrap();
    /// let metrics = Metrics::new().circuit_breaker(&breaker);
    /// # metrics.register(&prometheus::Registry::new()).unwrap();
    /// ```
    pub fn circuit_breaker(mut self, breaker: &CircuitBreaker) -> Self {
        self.parts.push(Part::Breaker(breaker.clone()));
        self
    }

    /// Add a keyed breaker: `keyed_circuit_breaker_state`, `_state_seconds`, `_calls_total`,
    /// `_failures_total`, `_transitions_total` with a `key` label, plus `_keys{state}` and
    /// `_evicted_keys_total` (see the [module docs](super)).
    ///
    /// At most `max_series` keys get series of their own: the first ones seen by a scrape,
    /// each keeping its series for as long as it lives. Every other key's counts, the
    /// overflow breaker's and those of evicted keys are summed into `key="other"`, so the
    /// sum of a counter over `key` never goes down. The state gauge has exactly one series
    /// per key with series of its own, and one for `other` (the overflow breaker's state);
    /// an evicted key's series are gone at the next scrape.
    ///
    /// ```
    /// use tower_breakwater::circuit_breaker::{CircuitBreaker, KeyedCircuitBreaker};
    /// use tower_breakwater::metrics::Metrics;
    /// use prometheus::{Encoder, TextEncoder};
    ///
    /// let hosts: KeyedCircuitBreaker<String> =
    ///     CircuitBreaker::builder("upstreams").keyed().build().unwrap();
    /// let registry = prometheus::Registry::new();
    /// Metrics::new().keyed_circuit_breaker(&hosts, 100).register(&registry).unwrap();
    /// hosts.try_acquire(&"db.internal".to_owned()).unwrap().success();
    ///
    /// let mut text = Vec::new();
    /// TextEncoder::new().encode(&registry.gather(), &mut text).unwrap();
    /// let text = String::from_utf8(text).unwrap();
    /// assert!(text.contains(r#"keyed_circuit_breaker_state{key="db.internal",name="upstreams"} 0"#));
    /// assert!(text.contains(
    ///     r#"keyed_circuit_breaker_calls_total{key="db.internal",name="upstreams",outcome="success"} 1"#
    /// ));
    /// ```
    pub fn keyed_circuit_breaker<K>(
        mut self,
        keyed: &KeyedCircuitBreaker<K>,
        max_series: usize,
    ) -> Self
    where
        K: Hash + Eq + Clone + Display + Send + Sync + 'static,
    {
        let source = keyed.clone();
        self.parts.push(Part::Keyed(KeyedPart {
            name: Name::from(keyed.name().to_owned()),
            collector: Arc::new(move |namespace| {
                Ok(Scraped::new(KeyedSource::new(
                    source.clone(),
                    max_series,
                    namespace,
                )?))
            }),
        }));
        self
    }

    /// Also time the calls of every circuit breaker in this list into a histogram,
    /// `circuit_breaker_call_duration_seconds`, with these bucket bounds in seconds
    /// (`prometheus::DEFAULT_BUCKETS` is 5 ms to 10 s). Off unless asked for: it costs each
    /// admitted call two clock reads (its start and its end) and a histogram update.
    /// Rejected and cancelled calls are not timed. Bounds must increase
    /// ([`register`](Metrics::register) says so otherwise).
    ///
    /// A breaker has one histogram: registered again (in another registry), it shows the
    /// first registration's, with that registration's namespace and buckets (the ones given
    /// here are then not used). Two registrations of one breaker that ask for durations at
    /// the same moment from two threads may leave one registry's histogram unfed: register
    /// a breaker's durations from one place.
    ///
    /// ```
    /// # use tower_breakwater::circuit_breaker::CircuitBreaker;
    /// # use tower_breakwater::metrics::Metrics;
    /// let breaker = CircuitBreaker::builder("db").build().unwrap();
    /// let registry = prometheus::Registry::new();
    /// Metrics::new()
    ///     .circuit_breaker(&breaker)
    ///     .call_durations(&[0.01, 0.1, 1.0])
    ///     .register(&registry)
    ///     .unwrap();
    /// breaker.try_acquire().unwrap().success();
    /// let families = registry.gather();
    /// let durations = families
    ///     .iter()
    ///     .find(|f| f.name() == "circuit_breaker_call_duration_seconds")
    ///     .unwrap();
    /// assert_eq!(durations.get_metric()[0].get_histogram().get_sample_count(), 1);
    /// ```
    pub fn call_durations(mut self, buckets: &[f64]) -> Self {
        self.durations = Some(buckets.to_vec());
        self
    }

    /// Add a bulkhead: `bulkhead_in_flight`, `_waiting`, `_max_concurrent`,
    /// `_rejected_total`.
    ///
    /// ```
    /// # use tower_breakwater::bulkhead::Bulkhead;
    /// # use tower_breakwater::metrics::Metrics;
    /// let bulkhead = Bulkhead::builder("db").max_concurrent(8).build().unwrap();
    /// let metrics = Metrics::new().bulkhead(&bulkhead);
    /// # metrics.register(&prometheus::Registry::new()).unwrap();
    /// ```
    pub fn bulkhead(mut self, bulkhead: &Bulkhead) -> Self {
        self.parts.push(Part::Bulkhead(bulkhead.clone()));
        self
    }

    /// Add a retry layer (its clones share its counts): `retry_attempts_total`,
    /// `retry_calls_total`, and `retry_budget_available` if it has a budget.
    ///
    /// ```
    /// # use tower_breakwater::metrics::Metrics;
    /// use tower_breakwater::retry::RetryLayer;
    /// let retry = RetryLayer::builder("db").max_attempts(3).build().unwrap();
    /// let metrics = Metrics::new().retry(&retry);
    /// # metrics.register(&prometheus::Registry::new()).unwrap();
    /// ```
    pub fn retry<P, C>(mut self, retry: &RetryLayer<P, C>) -> Self {
        self.parts.push(Part::Retry(RetryPart {
            name: Name::from(retry.name().to_owned()),
            stats: retry.stats().clone(),
            budget: retry.budget().cloned(),
        }));
        self
    }

    /// Add a timeout layer (its clones share its count): `timeout_timeouts_total`,
    /// `timeout_limit_seconds`.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tower_breakwater::metrics::Metrics;
    /// use tower_breakwater::timeout::TimeoutLayer;
    /// let timeout = TimeoutLayer::new("db", Duration::from_secs(1)).unwrap();
    /// let metrics = Metrics::new().timeout(&timeout);
    /// # metrics.register(&prometheus::Registry::new()).unwrap();
    /// ```
    pub fn timeout(mut self, timeout: &TimeoutLayer) -> Self {
        self.parts.push(Part::Timeout(TimeoutPart {
            name: Name::from(timeout.name().to_owned()),
            limit: timeout.limit(),
            fired: timeout.fired().clone(),
        }));
        self
    }

    /// Add a fallback: `circuit_breaker_fallbacks_total`, labelled with the fallback's
    /// name (give it its breaker's name, and the series line up).
    ///
    /// ```
    /// # use tower_breakwater::metrics::Metrics;
    /// use tower_breakwater::{fallback::Fallback, Error};
    /// let fallback = Fallback::new("db", |e: Error<(), ()>, _: Option<()>| async { Err::<(), _>(e) });
    /// let metrics = Metrics::new().fallback(&fallback);
    /// # metrics.register(&prometheus::Registry::new()).unwrap();
    /// ```
    pub fn fallback<H, P, K>(mut self, fallback: &Fallback<H, P, K>) -> Self {
        self.parts.push(Part::Fallback(FallbackPart {
            name: Name::from(fallback.name().to_owned()),
            count: fallback.counter().clone(),
        }));
        self
    }

    /// Add a pool's outlier detector (feature `outlier`): `outlier_endpoints`,
    /// `outlier_ejected_endpoints`, `outlier_ejections_total{reason}`,
    /// `outlier_detections_total{reason}`, `outlier_ejections_refused_total`, and
    /// `outlier_endpoint_ejected{endpoint}` with at most `max_series` endpoints of their own
    /// (the same cap as [`keyed_circuit_breaker`](Metrics::keyed_circuit_breaker)'s: an
    /// endpoint keeps its series, or its place in `endpoint="other"`, while it lives; the
    /// `other` series counts how many of the rest are ejected, and
    /// `outlier_endpoints_unlisted` how many there are).
    ///
    /// ```
    /// # use tower_breakwater::metrics::Metrics;
    /// use tower_breakwater::outlier::OutlierDetector;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let detector = OutlierDetector::builder("payments").build().unwrap();
    /// let _a = detector.endpoint("10.0.0.1:8080");
    /// let registry = prometheus::Registry::new();
    /// Metrics::new().outlier(&detector, 100).register(&registry).unwrap();
    /// let families = registry.gather();
    /// assert!(families.iter().any(|f| f.name() == "outlier_ejected_endpoints"));
    /// # }
    /// ```
    #[cfg(feature = "outlier")]
    pub fn outlier(
        mut self,
        detector: &crate::outlier::OutlierDetector,
        max_series: usize,
    ) -> Self {
        self.parts.push(Part::Outlier(detector.clone(), max_series));
        self
    }

    /// Add a deferred queue (feature `deferred`): `deferred_items{state}`,
    /// `deferred_enqueued_total`, `deferred_replayed_total{outcome}`,
    /// `deferred_oldest_age_seconds`. The item counts are the queue's last count; each
    /// scrape starts a recount in the background (on the scraping thread's tokio runtime, or
    /// else the one `register` was called on), so they are at most one scrape old.
    ///
    /// ```
    /// # use tower_breakwater::metrics::Metrics;
    /// use tower_breakwater::deferred::{Queue, RedbStore};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # let dir = std::env::temp_dir().join(format!("bw-metrics-deferred-doc-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir).unwrap();
    /// let queue = Queue::builder("payments", RedbStore::open(dir.join("q.redb")).unwrap()).build().unwrap();
    /// queue.migrate().await.unwrap();
    /// queue.enqueue("order-1", vec![]).await.unwrap();
    /// queue.stats().await.unwrap(); // a count, as the recount of a scrape would make
    ///
    /// let registry = prometheus::Registry::new();
    /// Metrics::new().deferred(&queue).register(&registry).unwrap();
    /// let families = registry.gather();
    /// let items = families.iter().find(|f| f.name() == "deferred_items").unwrap();
    /// assert_eq!(items.get_metric().len(), 3); // ready, leased, dead
    /// # drop(queue); std::fs::remove_dir_all(&dir).ok();
    /// # }
    /// ```
    #[cfg(feature = "deferred")]
    pub fn deferred(mut self, queue: &crate::deferred::Queue) -> Self {
        self.parts.push(Part::Deferred(queue.clone()));
        self
    }

    /// Put the metrics of every listed instance into `registry`: all of them, or (on an
    /// error) none. Each instance is its own collector, labelled `name` = its name, so
    /// instances listed in different `Metrics` (or registered by different parts of a
    /// program) go into one registry side by side.
    ///
    /// Fails with [`Error::AlreadyRegistered`] when `registry` already has an instance of
    /// the same kind and name (the same one registered twice, or two with one name), and
    /// with [`Error::InvalidNamespace`] for a namespace that is not a metric name. Never
    /// panics.
    ///
    /// ```
    /// use tower_breakwater::circuit_breaker::CircuitBreaker;
    /// use tower_breakwater::metrics::{Error, Metrics};
    ///
    /// let registry = prometheus::Registry::new();
    /// let db = CircuitBreaker::builder("db").build().unwrap();
    /// let cache = CircuitBreaker::builder("cache").build().unwrap();
    /// Metrics::new().circuit_breaker(&db).register(&registry).unwrap();
    /// Metrics::new().circuit_breaker(&cache).register(&registry).unwrap();
    ///
    /// let other_db = CircuitBreaker::builder("db").build().unwrap();
    /// let err = Metrics::new().circuit_breaker(&other_db).register(&registry).unwrap_err();
    /// assert!(matches!(err, Error::AlreadyRegistered { layer: "circuit breaker", ref name } if name == "db"));
    /// ```
    pub fn register(&self, registry: &Registry) -> Result<(), Error> {
        let namespace = self.namespace.as_deref();
        if let Some(namespace) = namespace {
            if !is_metric_name(namespace) {
                return Err(Error::InvalidNamespace(namespace.to_owned()));
            }
        }
        let mut added = Vec::with_capacity(self.parts.len());
        for part in &self.parts {
            match register_one(registry, part, namespace, self.durations.as_deref()) {
                Ok(collector) => added.push(collector),
                Err(e) => {
                    for collector in added {
                        // It was added by this call just above: taking it out cannot fail.
                        let _ = registry.unregister(Box::new(collector));
                    }
                    return Err(e);
                }
            }
        }
        for collector in &added {
            collector.registered();
        }
        Ok(())
    }
}

fn register_one(
    registry: &Registry,
    part: &Part,
    namespace: Option<&str>,
    durations: Option<&[f64]>,
) -> Result<Scraped, Error> {
    let collector = part.collector(namespace, durations)?;
    match registry.register(Box::new(collector.clone())) {
        Ok(()) => Ok(collector),
        Err(prometheus::Error::AlreadyReg) => Err(Error::AlreadyRegistered {
            layer: part.layer(),
            name: part.name().to_owned(),
        }),
        Err(e) => Err(Error::Prometheus(e)),
    }
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`: a metric name without colons (those are for recording rules).
fn is_metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_names() {
        for good in ["shop", "_x", "a1_b2", "A"] {
            assert!(is_metric_name(good), "{good}");
        }
        for bad in ["", "1a", "my-app", "a:b", "é", "a b"] {
            assert!(!is_metric_name(bad), "{bad}");
        }
    }
}
