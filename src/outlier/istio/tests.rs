//! The brief's rule and Istio's fields, mapped; every refusal names its field.

use super::*;
use crate::outlier::config::{Config, Consecutive};
use std::time::Duration;

/// The brief's rule, verbatim.
const BRIEF: &str = "\
apiVersion: networking.istio.io/v1alpha3
kind: DestinationRule
metadata:
  name: payment-circuit-breaker
spec:
  host: payment-service
  trafficPolicy:
    connectionPool:
      tcp:
        maxConnections: 100
      http:
        http1MaxPendingRequests: 50
        maxRequestsPerConnection: 2
    outlierDetection:
      consecutiveErrors: 5
      interval: 30s
      baseEjectionTime: 30s
      maxEjectionPercent: 50
";

fn outlier(yaml: &str) -> Config {
    let settings = PoolSettings::from_yaml(yaml).unwrap();
    settings.outlier_detector().unwrap().validate().unwrap()
}

#[test]
fn the_briefs_rule() {
    let settings = PoolSettings::from_yaml(BRIEF).unwrap();
    assert_eq!(settings.name(), "payment-circuit-breaker");
    assert_eq!(settings.host(), "payment-service");
    let bulkhead = settings.bulkhead().unwrap().build().unwrap();
    assert_eq!(
        (bulkhead.max_concurrent(), bulkhead.max_waiting()),
        (100, 50)
    );
    assert_eq!(settings.max_requests_per_connection(), Some(2));
    let err = settings.hyper_util_pool_max_idle_per_host().unwrap_err();
    assert!(
        err.to_string().contains("maxRequestsPerConnection"),
        "{err}"
    );

    let c = outlier(BRIEF);
    // consecutiveErrors: gateway failures only, as Istio sent it to Envoy.
    assert_eq!(
        c.consecutive_gateway,
        Consecutive {
            threshold: 5,
            enforcing: 100
        }
    );
    assert_eq!(c.consecutive_5xx.enforcing, 0);
    assert_eq!(c.interval, Duration::from_secs(30));
    assert_eq!(c.base_ejection_time, Duration::from_secs(30));
    assert_eq!(c.max_ejection_percent, 50);
    assert_eq!(c.success_rate.enforcing, 0); // Istio turns it off
    assert_eq!(c.min_health_percent, 0); // Istio's default
    assert_eq!(c.name.as_str(), "payment-circuit-breaker");
}

#[test]
fn istios_newer_fields() {
    let c = outlier(
        "kind: DestinationRule\nspec:\n  host: h\n  trafficPolicy:\n    outlierDetection:\n      \
         consecutiveErrors: 7\n      consecutive5xxErrors: 3\n      minHealthPercent: 40\n",
    );
    assert_eq!(
        c.consecutive_gateway,
        Consecutive {
            threshold: 7,
            enforcing: 100
        }
    );
    assert_eq!(
        c.consecutive_5xx,
        Consecutive {
            threshold: 3,
            enforcing: 100
        }
    );
    assert_eq!(c.min_health_percent, 40);
    let c = outlier(
        "kind: DestinationRule\nspec:\n  host: h\n  trafficPolicy:\n    outlierDetection:\n      \
         consecutive5xxErrors: 0\n      consecutiveGatewayErrors: 2\n      interval: 1m30s\n",
    );
    assert_eq!(c.consecutive_5xx.enforcing, 0);
    assert_eq!(
        c.consecutive_gateway,
        Consecutive {
            threshold: 2,
            enforcing: 100
        }
    );
    assert_eq!(c.interval, Duration::from_secs(90));
    // Unset: Istio's defaults (Envoy's, success rate off).
    let c = outlier(
        "kind: DestinationRule\nspec:\n  host: h\n  trafficPolicy:\n    outlierDetection: {}\n",
    );
    assert_eq!(
        c.consecutive_5xx,
        Consecutive {
            threshold: 5,
            enforcing: 100
        }
    );
    assert_eq!(c.consecutive_gateway.enforcing, 0);
    assert_eq!(
        (c.interval, c.max_ejection_percent),
        (Duration::from_secs(10), 10)
    );
}

#[test]
fn every_refusal_names_its_field() {
    let rule = |policy: &str| {
        let yaml = format!("kind: DestinationRule\nspec:\n  host: h\n  trafficPolicy:\n{policy}");
        PoolSettings::from_yaml(&yaml).unwrap_err().to_string()
    };
    let od = "spec.trafficPolicy.outlierDetection";
    for (policy, expected) in [
        (
            "    outlierDetection: {consecutiveErorrs: 5}",
            format!("unknown field `{od}.consecutiveErorrs`"),
        ),
        (
            "    tls: {mode: SIMPLE}",
            "unsupported field `spec.trafficPolicy.tls`".into(),
        ),
        (
            "    outlierDetection: {splitExternalLocalOriginErrors: true}",
            format!("unsupported field `{od}.splitExternalLocalOriginErrors`"),
        ),
        (
            "    outlierDetection: {interval: thirty}",
            format!("`{od}.interval` = \"thirty\": expected a duration"),
        ),
        (
            "    outlierDetection: {maxEjectionPercent: 150}",
            format!("`{od}.maxEjectionPercent` = 150: expected a percentage"),
        ),
        (
            "    outlierDetection: {consecutiveErrors: -1}",
            format!("`{od}.consecutiveErrors` = -1: expected a count"),
        ),
        (
            "    connectionPool: {tcp: {maxConnections: 0}}",
            "max_concurrent".into(),
        ),
        (
            "    connectionPool: {http: {maxRetries: 3}}",
            "unsupported field `spec.trafficPolicy.connectionPool.http.maxRetries`".into(),
        ),
        (
            "    outlierDetection: [1]",
            format!("`{od}` = a list: expected a mapping"),
        ),
    ] {
        let err = match expected.as_str() {
            // A bulkhead of 0 is refused when it is built, by the bulkhead's builder.
            "max_concurrent" => {
                let yaml =
                    format!("kind: DestinationRule\nspec:\n  host: h\n  trafficPolicy:\n{policy}");
                let s = PoolSettings::from_yaml(&yaml).unwrap();
                s.bulkhead().unwrap().build().unwrap_err().to_string()
            }
            _ => rule(policy),
        };
        assert!(err.contains(&expected), "{err} / {expected}");
    }
    for (yaml, expected) in [
        (
            "kind: DestinationRule\nspec: {host: h}\nextra: 1",
            "unknown field `extra`",
        ),
        (
            "kind: DestinationRule\nmetadata: {name: a, owner: b}\nspec: {host: h}",
            "unknown field `metadata.owner`",
        ),
        ("kind: DestinationRule\nspec: {}", "`spec.host`"),
        ("kind: DestinationRule", "`spec`"),
        ("a: [", "not valid YAML"),
        (
            "kind: DestinationRule\n---\nkind: DestinationRule",
            "2 documents",
        ),
    ] {
        let err = PoolSettings::from_yaml(yaml).unwrap_err().to_string();
        assert!(err.contains(expected), "{err} / {expected}");
    }
}
