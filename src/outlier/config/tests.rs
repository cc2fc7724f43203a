//! Envoy's defaults, and every bad value named.

use super::*;

fn builder() -> Builder {
    Builder::new(Name::from("pool"))
}

#[test]
fn envoy_defaults() {
    let c = builder().validate().unwrap();
    assert_eq!(
        c.consecutive_5xx,
        Consecutive {
            threshold: 5,
            enforcing: 100
        }
    );
    assert_eq!(
        c.consecutive_gateway,
        Consecutive {
            threshold: 5,
            enforcing: 0
        }
    );
    assert_eq!(c.success_rate.threshold, 1.9);
    assert_eq!(
        (c.success_rate.minimum_hosts, c.success_rate.request_volume),
        (5, 100)
    );
    assert_eq!(c.failure_percentage.threshold, 85.0);
    assert_eq!(c.failure_percentage.request_volume, 50);
    assert_eq!(c.failure_percentage.enforcing, 0);
    assert_eq!(c.interval, Duration::from_secs(10));
    assert_eq!(c.base_ejection_time, Duration::from_secs(30));
    assert_eq!(c.max_ejection_time, Duration::from_secs(300));
    assert_eq!((c.max_ejection_percent, c.min_health_percent), (10, 50));
}

#[test]
fn bad_values_name_their_field() {
    let cases: Vec<(Builder, &str)> = vec![
        (builder().consecutive_5xx(0, 100), "consecutive_5xx"),
        (
            builder().consecutive_gateway_failure(5, 101),
            "consecutive_gateway_failure",
        ),
        (
            builder().success_rate(f64::NAN, 5, 100, 100),
            "success_rate",
        ),
        (builder().success_rate(-1.0, 5, 100, 100), "success_rate"),
        (builder().success_rate(1.9, 0, 100, 100), "success_rate"),
        (
            builder().failure_percentage(101, 5, 50, 0),
            "failure_percentage",
        ),
        (
            builder().failure_percentage(85, 5, 0, 0),
            "failure_percentage",
        ),
        (builder().interval(Duration::ZERO), "interval"),
        (
            builder().base_ejection_time(Duration::MAX),
            "base_ejection_time",
        ),
        (
            builder().max_ejection_time(Duration::from_micros(1)),
            "max_ejection_time",
        ),
        (builder().max_ejection_percent(200), "max_ejection_percent"),
        (builder().min_health_percent(101), "min_health_percent"),
    ];
    for (b, field) in cases {
        assert_eq!(b.validate().unwrap_err().field(), field);
    }
}

#[test]
fn max_ejection_time_is_at_least_the_base() {
    let c = builder()
        .base_ejection_time(Duration::from_secs(60))
        .max_ejection_time(Duration::from_secs(10))
        .validate()
        .unwrap();
    assert_eq!(c.max_ejection_time, Duration::from_secs(60));
}

#[test]
fn build_outside_a_runtime_is_an_error() {
    assert_eq!(builder().build().unwrap_err().field(), "runtime");
}
