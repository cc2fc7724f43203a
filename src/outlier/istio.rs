//! An Istio `DestinationRule`, read from YAML, as pool settings (feature `istio`).
//!
//! [`PoolSettings::from_yaml`] reads the rule verbatim and maps it as Istio maps it onto
//! Envoy:
//!
//! | Istio | breakwater |
//! |---|---|
//! | `connectionPool.tcp.maxConnections` | the pool's bulkhead, [`max_concurrent`](crate::bulkhead::Builder::max_concurrent) |
//! | `connectionPool.http.http1MaxPendingRequests` | its [`max_waiting`](crate::bulkhead::Builder::max_waiting) |
//! | `connectionPool.http.maxRequestsPerConnection` | kept; [`PoolSettings::hyper_util_pool_max_idle_per_host`] says what hyper-util can do with it |
//! | `outlierDetection.consecutive5xxErrors` | `consecutive_5xx` (0: off) |
//! | `outlierDetection.consecutiveGatewayErrors` | `consecutive_gateway_failure` (0 or unset: off) |
//! | `outlierDetection.consecutiveErrors` (deprecated) | `consecutive_gateway_failure`, and `consecutive_5xx` off unless `consecutive5xxErrors` is set |
//! | `outlierDetection.interval`, `baseEjectionTime`, `maxEjectionPercent` | the same (Istio's defaults 10 s, 30 s, 10 %) |
//! | `outlierDetection.minHealthPercent` | `min_health_percent` (Istio's default 0: no panic threshold) |
//! | — | success-rate ejection off: Istio turns it off in every rule it sends |
//!
//! **`consecutiveErrors`** is Istio's older field, deprecated since Istio 1.5 in favour of
//! the two above. Istio's docs defined it as the errors before a host is ejected, where for
//! HTTP "a 502, 503, or 504 return code qualifies as an error" (and for TCP connect
//! timeouts and connection errors); Istio sent it to Envoy as
//! `consecutive_gateway_failure` enforced at 100 % with `consecutive_5xx` enforced at 0 %
//! (istio/api#617). So it counts **gateway failures only**: a replica answering plain
//! 500s is not ejected by it. breakwater maps it the same way.
//!
//! Every field is checked: a field Istio does not have is an [`IstioError::Unknown`], one
//! it has but breakwater cannot honour (TLS, load-balancer choice, subsets, ...) is an
//! [`IstioError::Unsupported`] that says why — each naming the field's full path. Nothing
//! is silently ignored; only `metadata` (names, labels, annotations, and the other fields
//! Kubernetes adds) has no effect.
//!
//! ```
//! use tower_breakwater::outlier::istio::PoolSettings;
//!
//! let settings = PoolSettings::from_yaml(r#"
//! apiVersion: networking.istio.io/v1alpha3
//! kind: DestinationRule
//! metadata:
//!   name: payment-circuit-breaker
//! spec:
//!   host: payment-service
//!   trafficPolicy:
//!     connectionPool:
//!       tcp:
//!         maxConnections: 100
//!       http:
//!         http1MaxPendingRequests: 50
//!     outlierDetection:
//!       consecutiveErrors: 5
//!       interval: 30s
//!       baseEjectionTime: 30s
//!       maxEjectionPercent: 50
//! "#).unwrap();
//! assert_eq!(settings.host(), "payment-service");
//! let bulkhead = settings.bulkhead().unwrap().build().unwrap();
//! assert_eq!((bulkhead.max_concurrent(), bulkhead.max_waiting()), (100, 50));
//!
//! let err = PoolSettings::from_yaml("kind: DestinationRule\nspec:\n  host: x\n  trafficPolicy:\n    outlierDetection:\n      consecutiveErorrs: 5\n").unwrap_err();
//! assert_eq!(err.to_string(), "unknown field `spec.trafficPolicy.outlierDetection.consecutiveErorrs` in the DestinationRule");
//! ```

use std::fmt;

use saphyr::{LoadableYamlNode, Yaml};

use super::{Builder, OutlierDetector};
use crate::bulkhead::{self, Bulkhead};
use crate::ConfigError;

mod duration;
mod fields;
#[cfg(test)]
mod tests;

use self::duration::parse_duration;

/// The settings an Istio `DestinationRule` gives a client-side pool.
///
/// ```
/// use tower_breakwater::outlier::istio::PoolSettings;
/// let s = PoolSettings::from_yaml("kind: DestinationRule\nmetadata: {name: db}\nspec: {host: db}").unwrap();
/// assert_eq!(s.name(), "db");
/// assert!(s.bulkhead().is_none());
/// assert!(s.outlier_detector().is_none());
/// ```
#[derive(Debug, Clone)]
pub struct PoolSettings {
    name: String,
    host: String,
    max_connections: Option<usize>,
    max_pending: Option<usize>,
    max_requests_per_connection: Option<u32>,
    outlier: Option<Builder>,
}

/// Why a `DestinationRule` could not be read. Every variant names the field's path
/// (`spec.trafficPolicy.outlierDetection.interval`).
///
/// ```
/// use tower_breakwater::outlier::istio::{IstioError, PoolSettings};
/// let err = PoolSettings::from_yaml("kind: DestinationRule\nspec: {host: x, subsets: []}").unwrap_err();
/// assert!(matches!(err, IstioError::Unsupported { ref field, .. } if field == "spec.subsets"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum IstioError {
    /// Not YAML, or not one document.
    Yaml(String),
    /// A field a `DestinationRule` does not have (a typo?).
    Unknown {
        /// The field's path.
        field: String,
    },
    /// A field Istio has that breakwater cannot honour.
    Unsupported {
        /// The field's path.
        field: String,
        /// Why.
        reason: &'static str,
    },
    /// A value of the wrong type or out of range.
    Invalid {
        /// The field's path.
        field: String,
        /// The value as written.
        value: String,
        /// What was expected.
        expected: &'static str,
    },
    /// A value the builders refused.
    Config(ConfigError),
}

impl fmt::Display for IstioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IstioError::Yaml(e) => write!(f, "the DestinationRule is not valid YAML: {e}"),
            IstioError::Unknown { field } => {
                write!(f, "unknown field `{field}` in the DestinationRule")
            }
            IstioError::Unsupported { field, reason } => {
                write!(
                    f,
                    "unsupported field `{field}` in the DestinationRule: {reason}"
                )
            }
            IstioError::Invalid {
                field,
                value,
                expected,
            } => write!(f, "`{field}` = {value}: expected {expected}"),
            IstioError::Config(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for IstioError {}

impl From<ConfigError> for IstioError {
    fn from(e: ConfigError) -> Self {
        IstioError::Config(e)
    }
}

impl PoolSettings {
    /// Read one `DestinationRule` document.
    ///
    /// ```
    /// use tower_breakwater::outlier::istio::PoolSettings;
    /// let err = PoolSettings::from_yaml("kind: VirtualService\nspec: {host: x}").unwrap_err();
    /// assert_eq!(err.to_string(), "`kind` = \"VirtualService\": expected DestinationRule");
    /// ```
    pub fn from_yaml(text: &str) -> Result<PoolSettings, IstioError> {
        let docs = Yaml::load_from_str(text).map_err(|e| IstioError::Yaml(e.to_string()))?;
        match docs.as_slice() {
            [doc] => fields::destination_rule(doc),
            docs => Err(IstioError::Yaml(format!(
                "{} documents, expected one DestinationRule",
                docs.len()
            ))),
        }
    }

    /// `metadata.name` (the pool's name in breakwater: metrics, errors), or the host.
    ///
    /// ```
    /// # use tower_breakwater::outlier::istio::PoolSettings;
    /// let s = PoolSettings::from_yaml("kind: DestinationRule\nspec: {host: db}").unwrap();
    /// assert_eq!(s.name(), "db");
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `spec.host`.
    ///
    /// ```
    /// # use tower_breakwater::outlier::istio::PoolSettings;
    /// let s = PoolSettings::from_yaml("kind: DestinationRule\nspec: {host: db}").unwrap();
    /// assert_eq!(s.host(), "db");
    /// ```
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The pool's bulkhead, if `maxConnections` or `http1MaxPendingRequests` is set: at
    /// most `maxConnections` calls in flight (Envoy's default 1024 when only the other is
    /// set), `http1MaxPendingRequests` waiting beyond them.
    ///
    /// ```
    /// # use tower_breakwater::outlier::istio::PoolSettings;
    /// let s = PoolSettings::from_yaml("kind: DestinationRule\nspec:\n  host: db\n  trafficPolicy:\n    connectionPool:\n      http: {http1MaxPendingRequests: 8}").unwrap();
    /// let bulkhead = s.bulkhead().unwrap().build().unwrap();
    /// assert_eq!((bulkhead.max_concurrent(), bulkhead.max_waiting()), (1024, 8));
    /// ```
    pub fn bulkhead(&self) -> Option<bulkhead::Builder> {
        if self.max_connections.is_none() && self.max_pending.is_none() {
            return None;
        }
        Some(
            Bulkhead::builder(self.name.clone())
                .max_concurrent(self.max_connections.unwrap_or(1024))
                .max_waiting(self.max_pending.unwrap_or(0)),
        )
    }

    /// The outlier detector's builder, if `outlierDetection` is set (change any setting
    /// before `build`).
    ///
    /// ```
    /// # use tower_breakwater::outlier::istio::PoolSettings;
    /// let s = PoolSettings::from_yaml("kind: DestinationRule\nspec:\n  host: db\n  trafficPolicy:\n    outlierDetection: {interval: 1m}").unwrap();
    /// assert!(s.outlier_detector().is_some());
    /// ```
    pub fn outlier_detector(&self) -> Option<Builder> {
        self.outlier.clone()
    }

    /// `maxRequestsPerConnection`, as written.
    ///
    /// ```
    /// # use tower_breakwater::outlier::istio::PoolSettings;
    /// let s = PoolSettings::from_yaml("kind: DestinationRule\nspec:\n  host: db\n  trafficPolicy:\n    connectionPool:\n      http: {maxRequestsPerConnection: 2}").unwrap();
    /// assert_eq!(s.max_requests_per_connection(), Some(2));
    /// ```
    pub fn max_requests_per_connection(&self) -> Option<u32> {
        self.max_requests_per_connection
    }

    /// What hyper-util's pooled client (`hyper_util::client::legacy::Builder`) can do with
    /// `maxRequestsPerConnection`: unset → `Ok(None)` (keep its default); 1 → `Ok(Some(0))`,
    /// for `pool_max_idle_per_host(0)`: no connection is kept for reuse, so each carries
    /// one request. Above 1 → an [`IstioError::Unsupported`]: hyper-util's pool has no
    /// per-connection request count (a pooled connection is reused until it is closed or
    /// idles out), so "at most N requests, then a new connection" cannot be asked of it.
    ///
    /// ```
    /// # use tower_breakwater::outlier::istio::PoolSettings;
    /// let one = PoolSettings::from_yaml("kind: DestinationRule\nspec:\n  host: db\n  trafficPolicy:\n    connectionPool:\n      http: {maxRequestsPerConnection: 1}").unwrap();
    /// assert_eq!(one.hyper_util_pool_max_idle_per_host(), Ok(Some(0)));
    /// let two = PoolSettings::from_yaml("kind: DestinationRule\nspec:\n  host: db\n  trafficPolicy:\n    connectionPool:\n      http: {maxRequestsPerConnection: 2}").unwrap();
    /// assert!(two.hyper_util_pool_max_idle_per_host().unwrap_err().to_string().contains("no per-connection request count"));
    /// ```
    pub fn hyper_util_pool_max_idle_per_host(&self) -> Result<Option<usize>, IstioError> {
        match self.max_requests_per_connection {
            None => Ok(None),
            Some(1) => Ok(Some(0)),
            Some(_) => Err(IstioError::Unsupported {
                field: "spec.trafficPolicy.connectionPool.http.maxRequestsPerConnection".into(),
                reason: "hyper-util's pooled client has no per-connection request count (a \
                         pooled connection is reused until closed or idle); only 1 maps, to \
                         pool_max_idle_per_host(0)",
            }),
        }
    }
}

/// Istio's outlier defaults: Envoy's, but success-rate ejection off (Istio sends
/// `enforcing_success_rate: 0`), no panic threshold unless `minHealthPercent` is set.
fn istio_defaults(name: &str) -> Builder {
    OutlierDetector::builder(name.to_owned())
        .success_rate(1.9, 5, 100, 0)
        .min_health_percent(0)
}
