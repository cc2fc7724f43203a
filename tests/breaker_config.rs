//! Every builder value out of range is a typed `ConfigError` naming the field, the bad value
//! and what was expected — never a panic, never a silent clamp.

use std::time::Duration;

use proptest::prelude::*;
use tower_breakwater::circuit_breaker::{Builder, CircuitBreaker};
use tower_breakwater::ConfigError;

const TEN_YEARS: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

fn b() -> Builder {
    CircuitBreaker::builder("cfg")
}

fn error_of(builder: Builder) -> ConfigError {
    match builder.build() {
        Ok(breaker) => panic!("expected an error, built {breaker:?}"),
        Err(err) => err,
    }
}

/// (builder, field, value as `Debug` writes it, expected).
fn cases() -> Vec<(Builder, &'static str, &'static str, &'static str)> {
    const RATIO: &str = "a ratio in (0, 1]";
    const NOT_BOTH: &str = "either consecutive_failures or the rate settings, not both";
    let second = Duration::from_secs(1);
    vec![
        // The name.
        (
            CircuitBreaker::builder(""),
            "name",
            "\"\"",
            "a non-empty name",
        ),
        // Consecutive failures, and conflicting rules.
        (
            b().consecutive_failures(0),
            "consecutive_failures",
            "0",
            "at least 1",
        ),
        (
            b().consecutive_failures(3).failure_rate(0.5),
            "consecutive_failures",
            "3",
            NOT_BOTH,
        ),
        (
            b().consecutive_failures(3).count_window(10),
            "consecutive_failures",
            "3",
            NOT_BOTH,
        ),
        (
            b().time_window(second, 1).consecutive_failures(4),
            "consecutive_failures",
            "4",
            NOT_BOTH,
        ),
        (
            b().consecutive_failures(5).minimum_calls(10),
            "consecutive_failures",
            "5",
            NOT_BOTH,
        ),
        (
            b().consecutive_failures(6).slow_calls(second, 0.5),
            "consecutive_failures",
            "6",
            NOT_BOTH,
        ),
        // Failure rate: a ratio in (0, 1].
        (b().failure_rate(0.0), "failure_rate", "0.0", RATIO),
        (b().failure_rate(1.5), "failure_rate", "1.5", RATIO),
        (b().failure_rate(-0.5), "failure_rate", "-0.5", RATIO),
        (b().failure_rate(f64::NAN), "failure_rate", "NaN", RATIO),
        (
            b().failure_rate(f64::INFINITY),
            "failure_rate",
            "inf",
            RATIO,
        ),
        // Count window.
        (b().count_window(0), "count_window", "0", "at least 1"),
        (
            b().count_window((1 << 24) + 1),
            "count_window",
            "16777217",
            "at most 16777216 calls",
        ),
        // Minimum calls.
        (b().minimum_calls(0), "minimum_calls", "0", "at least 1"),
        (
            b().count_window(5).minimum_calls(6),
            "minimum_calls",
            "6",
            "no more than the count window",
        ),
        (
            b().time_window(second, 10).minimum_calls(0),
            "minimum_calls",
            "0",
            "at least 1",
        ),
        // Time window.
        (
            b().time_window(Duration::ZERO, 4),
            "time_window",
            "0ns",
            "a length from 1ns to ten years",
        ),
        (
            b().time_window(second, 0),
            "time_window",
            "0",
            "1 to 1024 buckets",
        ),
        (
            b().time_window(second, 1025),
            "time_window",
            "1025",
            "1 to 1024 buckets",
        ),
        (
            b().time_window(Duration::from_nanos(3), 4),
            "time_window",
            "3ns",
            "at least 1ns per bucket",
        ),
        // Slow calls.
        (
            b().slow_calls(Duration::ZERO, 0.5),
            "slow_calls",
            "0ns",
            "a duration above zero",
        ),
        (b().slow_calls(second, 0.0), "slow_calls", "0.0", RATIO),
        (b().slow_calls(second, 2.0), "slow_calls", "2.0", RATIO),
        (b().slow_calls(second, f64::NAN), "slow_calls", "NaN", RATIO),
        // Open for.
        (
            b().open_for(Duration::ZERO),
            "open_for",
            "0ns",
            "a duration above zero",
        ),
        (
            b().open_for(TEN_YEARS + Duration::from_nanos(1)),
            "open_for",
            "315360000.000000001s",
            "at most ten years",
        ),
        (
            b().open_for(Duration::MAX),
            "open_for",
            "18446744073709551615.999999999s",
            "at most ten years",
        ),
        // Growth of open_for.
        (
            b().open_for_growth(0.5, Duration::from_secs(60)),
            "open_for_growth",
            "0.5",
            "a finite factor of at least 1",
        ),
        (
            b().open_for_growth(f64::NAN, Duration::from_secs(60)),
            "open_for_growth",
            "NaN",
            "a finite factor of at least 1",
        ),
        (
            b().open_for_growth(f64::INFINITY, Duration::from_secs(60)),
            "open_for_growth",
            "inf",
            "a finite factor of at least 1",
        ),
        (
            b().open_for(Duration::from_secs(30))
                .open_for_growth(2.0, Duration::from_secs(29)),
            "open_for_growth",
            "29s",
            "a cap between open_for and ten years",
        ),
        (
            b().open_for_growth(2.0, TEN_YEARS + second),
            "open_for_growth",
            "315360001s",
            "a cap between open_for and ten years",
        ),
        // Jitter: a ratio in [0, 1).
        (b().jitter(1.0), "jitter", "1.0", "a ratio in [0, 1)"),
        (b().jitter(-0.1), "jitter", "-0.1", "a ratio in [0, 1)"),
        (b().jitter(f64::NAN), "jitter", "NaN", "a ratio in [0, 1)"),
        // Half-open permits and the success threshold.
        (
            b().half_open_permits(0),
            "half_open_permits",
            "0",
            "1 to 8191",
        ),
        (
            b().half_open_permits(8192).success_threshold(1),
            "half_open_permits",
            "8192",
            "1 to 8191",
        ),
        (
            b().success_threshold(0),
            "success_threshold",
            "0",
            "1 to half_open_permits",
        ),
        (
            b().half_open_permits(2).success_threshold(3),
            "success_threshold",
            "3",
            "1 to half_open_permits",
        ),
    ]
}

#[test]
fn every_bad_value_names_its_field_value_and_what_was_expected() {
    for (builder, field, value, expected) in cases() {
        let desc = format!("{builder:?}");
        let err = error_of(builder);
        assert_eq!(
            (err.field(), err.value(), err.expected()),
            (field, value, expected),
            "{desc}"
        );
        let name = if field == "name" { "" } else { "cfg" };
        assert_eq!(
            err.to_string(),
            format!("invalid config for '{name}': {field} = {value}, expected {expected}"),
            "{desc}"
        );
    }
}

#[test]
fn the_error_is_a_std_error_with_the_breaker_name_in_its_message() {
    let err = CircuitBreaker::builder(String::from("payments-eu"))
        .failure_rate(1.01)
        .build()
        .unwrap_err();
    let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(err.clone());
    assert_eq!(
        boxed.to_string(),
        "invalid config for 'payments-eu': failure_rate = 1.01, expected a ratio in (0, 1]"
    );
    assert_eq!(
        err,
        CircuitBreaker::builder("payments-eu")
            .failure_rate(1.01)
            .build()
            .unwrap_err()
    );
}

#[test]
fn the_edges_of_every_range_are_accepted() {
    let ok = |builder: Builder| {
        let desc = format!("{builder:?}");
        builder.build().unwrap_or_else(|e| panic!("{desc}: {e}"));
    };
    ok(b().consecutive_failures(1));
    ok(b().consecutive_failures(u32::MAX));
    ok(b().failure_rate(1.0));
    ok(b().failure_rate(f64::MIN_POSITIVE));
    ok(b().count_window(1));
    ok(b().count_window(1 << 24).minimum_calls(1 << 24));
    ok(b().count_window(5).minimum_calls(5));
    ok(b().time_window(Duration::from_nanos(4), 4));
    ok(b().time_window(Duration::from_secs(60), 1024));
    ok(b()
        .time_window(Duration::from_secs(60), 1)
        .minimum_calls(u32::MAX));
    ok(b().slow_calls(Duration::from_nanos(1), 1.0));
    ok(b().open_for(Duration::from_nanos(1)));
    ok(b().open_for(TEN_YEARS));
    ok(b()
        .open_for(Duration::from_secs(5))
        .open_for_growth(1.0, Duration::from_secs(5)));
    ok(b().open_for_growth(1e300, TEN_YEARS));
    ok(b().jitter(0.0));
    ok(b().jitter(0.999_999));
    ok(b().half_open_permits(8191).success_threshold(8191));
    ok(b().half_open_permits(1).success_threshold(1));
}

#[tokio::test(start_paused = true)]
async fn extreme_valid_settings_work_without_overflow() {
    // The largest growth factor and cap, with the largest jitter, across many trips.
    let breaker = CircuitBreaker::builder("cfg")
        .consecutive_failures(1)
        .open_for(Duration::from_nanos(1))
        .open_for_growth(1e300, TEN_YEARS)
        .jitter(0.999_999)
        .half_open_permits(1)
        .success_threshold(1)
        .build()
        .unwrap();
    breaker.try_acquire().unwrap().failure();
    for _ in 0..5 {
        let retry_at = breaker.snapshot().retry_at.unwrap();
        let left = retry_at - tokio::time::Instant::now();
        assert!(left < TEN_YEARS * 2, "{left:?}");
        tokio::time::advance(left).await;
        breaker.try_acquire().expect("a trial").failure();
    }
    assert_eq!(
        breaker.transitions(
            tower_breakwater::circuit_breaker::State::HalfOpen,
            tower_breakwater::circuit_breaker::State::Open
        ),
        5
    );
}

#[test]
fn a_time_window_too_long_for_the_clock_is_a_config_error() {
    // 2^64 ns in one bucket would truncate to a zero-length bucket on the breaker's u64
    // nanosecond clock (a division by zero on the first outcome).
    let too_long = Duration::from_nanos(u64::MAX) + Duration::from_nanos(1);
    let err = error_of(b().time_window(too_long, 1));
    assert_eq!(
        (err.field(), err.value(), err.expected()),
        (
            "time_window",
            "18446744073.709551616s",
            "a length from 1ns to ten years"
        )
    );
    let err = error_of(b().time_window(TEN_YEARS + Duration::from_nanos(1), 1024));
    assert_eq!(err.field(), "time_window");
    b().time_window(TEN_YEARS, 1024).build().unwrap();
}

/// Any value a caller may pass, including NaN, infinities and the ends of each type.
fn any_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(0.0),
        Just(1.0),
        Just(f64::MAX),
        -2.0..3.0f64,
        any::<f64>(),
    ]
}

fn any_u32() -> impl Strategy<Value = u32> {
    prop_oneof![Just(0u32), Just(1), Just(u32::MAX), 0..20u32, any::<u32>()]
}

fn any_duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        Just(Duration::ZERO),
        Just(Duration::MAX),
        Just(TEN_YEARS),
        (0..120_000u64).prop_map(Duration::from_millis),
        (any::<u64>(), 0..1_000_000_000u32).prop_map(|(s, n)| Duration::new(s, n)),
    ]
}

#[derive(Debug, Clone)]
enum Setting {
    Consecutive(u32),
    FailureRate(f64),
    CountWindow(u32),
    MinimumCalls(u32),
    TimeWindow(Duration, u32),
    SlowCalls(Duration, f64),
    OpenFor(Duration),
    Growth(f64, Duration),
    Jitter(f64),
    Permits(u32),
    Threshold(u32),
}

fn any_setting() -> impl Strategy<Value = Setting> {
    prop_oneof![
        any_u32().prop_map(Setting::Consecutive),
        any_f64().prop_map(Setting::FailureRate),
        // Keep windows small so a valid one does not allocate megabytes per case.
        prop_oneof![Just(0u32), 1..200u32, Just((1 << 24) + 1), Just(u32::MAX)]
            .prop_map(Setting::CountWindow),
        any_u32().prop_map(Setting::MinimumCalls),
        (
            any_duration(),
            prop_oneof![Just(0u32), 1..1100u32, Just(u32::MAX)]
        )
            .prop_map(|(d, n)| Setting::TimeWindow(d, n)),
        (any_duration(), any_f64()).prop_map(|(d, r)| Setting::SlowCalls(d, r)),
        any_duration().prop_map(Setting::OpenFor),
        (any_f64(), any_duration()).prop_map(|(f, d)| Setting::Growth(f, d)),
        any_f64().prop_map(Setting::Jitter),
        any_u32().prop_map(Setting::Permits),
        any_u32().prop_map(Setting::Threshold),
    ]
}

fn apply(builder: Builder, setting: &Setting) -> Builder {
    match *setting {
        Setting::Consecutive(n) => builder.consecutive_failures(n),
        Setting::FailureRate(r) => builder.failure_rate(r),
        Setting::CountWindow(n) => builder.count_window(n),
        Setting::MinimumCalls(n) => builder.minimum_calls(n),
        Setting::TimeWindow(d, n) => builder.time_window(d, n),
        Setting::SlowCalls(d, r) => builder.slow_calls(d, r),
        Setting::OpenFor(d) => builder.open_for(d),
        Setting::Growth(f, d) => builder.open_for_growth(f, d),
        Setting::Jitter(r) => builder.jitter(r),
        Setting::Permits(n) => builder.half_open_permits(n),
        Setting::Threshold(n) => builder.success_threshold(n),
    }
}

const FIELDS: [&str; 12] = [
    "name",
    "consecutive_failures",
    "failure_rate",
    "count_window",
    "minimum_calls",
    "time_window",
    "slow_calls",
    "open_for",
    "open_for_growth",
    "jitter",
    "half_open_permits",
    "success_threshold",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Whatever the settings, `build` answers (never panics), an error names a real field,
    /// and a breaker that builds can trip, be rejected and be snapshotted without panicking.
    #[test]
    fn build_never_panics_and_errors_name_a_field(
        settings in proptest::collection::vec(any_setting(), 0..6)
    ) {
        let builder = settings.iter().fold(b(), apply);
        match builder.build() {
            Err(err) => {
                prop_assert!(FIELDS.contains(&err.field()), "{}", err);
                prop_assert!(!err.value().is_empty());
                prop_assert!(err.to_string().starts_with("invalid config for 'cfg': "));
            }
            Ok(breaker) => {
                for _ in 0..3 {
                    if let Ok(permit) = breaker.try_acquire() {
                        permit.failure();
                    }
                }
                let _ = breaker.snapshot();
                breaker.force_open();
                prop_assert!(breaker.try_acquire().is_err());
                let snap = breaker.snapshot();
                prop_assert!(snap.totals.calls() >= 3);
            }
        }
    }
}
