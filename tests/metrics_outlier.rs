//! The outlier detector's metrics: counts by reason, the ejected gauge, and the cap on
//! per-endpoint series.
#![cfg(all(feature = "metrics", feature = "outlier"))]

use prometheus::{Encoder, TextEncoder};
use tower_breakwater::metrics::Metrics;
use tower_breakwater::outlier::{CallOutcome, OutlierDetector};

fn scrape(registry: &prometheus::Registry) -> String {
    let mut text = Vec::new();
    TextEncoder::new()
        .encode(&registry.gather(), &mut text)
        .unwrap();
    String::from_utf8(text).unwrap()
}

#[tokio::test(start_paused = true)]
async fn ejections_by_reason_and_per_endpoint_series_up_to_the_cap() {
    let detector = OutlierDetector::builder("payments")
        .max_ejection_percent(100)
        .min_health_percent(0)
        .build()
        .unwrap();
    let registry = prometheus::Registry::new();
    Metrics::new()
        .outlier(&detector, 100)
        .register(&registry)
        .unwrap();
    let mut endpoints: Vec<_> = (0..150)
        .map(|i| detector.endpoint(format!("10.0.0.{i}:80")))
        .collect();
    for _ in 0..5 {
        endpoints[0].record(CallOutcome::ServerError);
        endpoints[1].record(CallOutcome::ServerError);
    }
    let text = scrape(&registry);
    assert!(
        text.contains(r#"outlier_ejected_endpoints{name="payments"} 2"#),
        "{text}"
    );
    assert!(text.contains(r#"outlier_endpoints{name="payments"} 150"#));
    assert!(text.contains(r#"outlier_ejections_total{name="payments",reason="consecutive_5xx"} 2"#));
    assert!(text.contains(r#"outlier_ejections_total{name="payments",reason="success_rate"} 0"#));
    assert!(text.contains(r#"outlier_endpoint_ejected{endpoint="10.0.0.0:80",name="payments"} 1"#));
    assert!(text.contains(r#"outlier_endpoint_ejected{endpoint="10.0.0.2:80",name="payments"} 0"#));
    // 100 endpoints of their own, the other 50 in one series.
    assert_eq!(text.matches("outlier_endpoint_ejected{").count(), 101);
    assert!(text.contains(r#"outlier_endpoint_ejected{endpoint="other",name="payments"} 0"#));
    assert!(text.contains(r#"outlier_endpoints_unlisted{name="payments"} 50"#));

    // An endpoint past the cap that is ejected shows in `other`.
    for _ in 0..5 {
        endpoints[120].record(CallOutcome::ServerError);
    }
    let text = scrape(&registry);
    assert!(text.contains(r#"outlier_endpoint_ejected{endpoint="other",name="payments"} 1"#));
    assert!(!text.contains(r#"endpoint="10.0.0.120:80""#));

    // Endpoints that leave take their series with them. Those folded into `other` stay
    // there while they live (a series never changes hands mid-life); the freed series go
    // to endpoints added later.
    endpoints.drain(..60);
    let text = scrape(&registry);
    assert!(!text.contains(r#"endpoint="10.0.0.0:80""#));
    assert_eq!(text.matches("outlier_endpoint_ejected{").count(), 40 + 1);
    assert!(text.contains(r#"outlier_endpoints_unlisted{name="payments"} 50"#));
    let newcomer = detector.endpoint("10.0.1.1:80");
    let text = scrape(&registry);
    assert!(text.contains(r#"outlier_endpoint_ejected{endpoint="10.0.1.1:80",name="payments"} 0"#));
    drop(newcomer);
    endpoints.clear();
    let text = scrape(&registry);
    assert!(text.contains(r#"outlier_ejected_endpoints{name="payments"} 0"#));
    assert!(text.contains(r#"outlier_endpoints_unlisted{name="payments"} 0"#));
    assert_eq!(text.matches("outlier_endpoint_ejected{").count(), 0);
}
