//! Bad input, through code and through config files: every value out of range is a
//! `ConfigError` naming its field (the same error whether it came from a builder call or a
//! TOML / JSON document, since files are checked by the builders), and no input — however
//! malformed — makes a builder or the parser panic. The breaker's own builder has its
//! table and proptest in `tests/breaker_config.rs`; this file covers the rest and the files.
#![cfg(all(feature = "chaos", feature = "serde"))]

use std::time::Duration;

use proptest::prelude::*;
use tower_breakwater::chaos::Chaos;
use tower_breakwater::config::{ChaosConfig, RetryConfig, StackConfig};
use tower_breakwater::retry::{Backoff, Budget, Jitter, RetryLayer};

/// Every section with every field, in TOML.
const FULL_TOML: &str = r#"
name = "payments"

[circuit_breaker]
failure_rate = 0.25
time_window = { length = "1m", buckets = 6 }
minimum_calls = 20
slow_calls = { slower_than = "2s", rate = 0.9 }
open_for = "10s"
open_for_growth = { factor = 2.0, max = "5m" }
jitter = 0.1
half_open_permits = 3
success_threshold = 2

[retry]
max_attempts = 4
backoff = { exponential = { base = "50ms", factor = 2.0, cap = "2s" } }
jitter = "equal"
budget = { ratio = 0.1, min_per_second = 5, window = "20s" }
max_retry_after = "30s"

[timeout]
limit = "1500ms"

[bulkhead]
max_concurrent = 16
max_waiting = 64
max_wait = "250ms"

[chaos]
error_rate = 0.01
latency = { rate = 0.05, delay = "300ms" }
hang_rate = 0.001
abort_rate = 0.002
seed = 42
enabled = false
"#;

/// The same, in JSON (with the other two backoff curves' neighbours tested below).
const FULL_JSON: &str = r#"{
  "name": "payments",
  "circuit_breaker": { "consecutive_failures": 5, "open_for": "30s",
                       "half_open_permits": 1, "success_threshold": 1 },
  "retry": { "max_attempts": 3, "backoff": { "decorrelated": { "base": "20ms", "cap": "1s" } } },
  "timeout": { "limit": "2s" },
  "bulkhead": { "max_concurrent": 8 },
  "chaos": { "error_rate": 0.5, "seed": 7 }
}"#;

#[test]
fn a_full_toml_document_builds_every_part() {
    let config: StackConfig = toml::from_str(FULL_TOML).unwrap();
    let parts = config.build().unwrap();
    assert_eq!(parts.name.as_str(), "payments");
    assert_eq!(parts.circuit_breaker.unwrap().name(), "payments");
    assert_eq!(parts.retry.unwrap().max_attempts(), 4);
    assert_eq!(parts.timeout.unwrap().limit(), Duration::from_millis(1500));
    let bulkhead = parts.bulkhead.unwrap();
    assert_eq!(
        (
            bulkhead.max_concurrent(),
            bulkhead.max_waiting(),
            bulkhead.max_wait()
        ),
        (16, 64, Some(Duration::from_millis(250)))
    );
    let chaos = parts.chaos.unwrap();
    assert_eq!(chaos.latency(), (0.05, Duration::from_millis(300)));
    assert_eq!((chaos.seed(), chaos.is_enabled()), (42, false));
}

#[test]
fn a_json_document_builds_the_same_way() {
    let config: StackConfig = serde_json::from_str(FULL_JSON).unwrap();
    let parts = config.build().unwrap();
    assert_eq!(parts.timeout.unwrap().limit(), Duration::from_secs(2));
    assert_eq!(parts.chaos.unwrap().error_rate(), 0.5);
    let constant: RetryConfig =
        serde_json::from_str(r#"{"backoff": {"constant": "0s"}, "jitter": "none"}"#).unwrap();
    assert!(
        constant.build("db").is_ok(),
        "a zero constant backoff is allowed"
    );
}

/// (a stack document, the field its error must name). Each document is valid but for one
/// value.
const BAD_VALUES: &[(&str, &str)] = &[
    ("name = ''", "name"),
    (
        "[circuit_breaker]\nconsecutive_failures = 0",
        "consecutive_failures",
    ),
    (
        "[circuit_breaker]\nconsecutive_failures = 3\nfailure_rate = 0.5",
        "consecutive_failures",
    ),
    ("[circuit_breaker]\nfailure_rate = 1.5", "failure_rate"),
    ("[circuit_breaker]\nfailure_rate = nan", "failure_rate"),
    ("[circuit_breaker]\ncount_window = 0", "count_window"),
    (
        "[circuit_breaker]\ncount_window = 10\ntime_window = { length = '1m', buckets = 6 }",
        "time_window",
    ),
    (
        "[circuit_breaker]\ntime_window = { length = '0s', buckets = 6 }",
        "time_window",
    ),
    (
        "[circuit_breaker]\ntime_window = { length = '1m', buckets = 0 }",
        "time_window",
    ),
    (
        "[circuit_breaker]\ncount_window = 5\nminimum_calls = 6",
        "minimum_calls",
    ),
    (
        "[circuit_breaker]\nslow_calls = { slower_than = '0s', rate = 0.5 }",
        "slow_calls",
    ),
    (
        "[circuit_breaker]\nslow_calls = { slower_than = '1s', rate = 0 }",
        "slow_calls",
    ),
    ("[circuit_breaker]\nopen_for = '0s'", "open_for"),
    ("[circuit_breaker]\nopen_for = '20years'", "open_for"),
    (
        "[circuit_breaker]\nopen_for_growth = { factor = 0.5, max = '1m' }",
        "open_for_growth",
    ),
    (
        "[circuit_breaker]\nopen_for_growth = { factor = 2.0, max = '1s' }",
        "open_for_growth",
    ),
    ("[circuit_breaker]\njitter = 1.0", "jitter"),
    (
        "[circuit_breaker]\nhalf_open_permits = 0",
        "half_open_permits",
    ),
    (
        "[circuit_breaker]\nhalf_open_permits = 1\nsuccess_threshold = 2",
        "success_threshold",
    ),
    ("[retry]\nmax_attempts = 0", "max_attempts"),
    ("[retry]\nbackoff = { constant = '2days' }", "backoff"),
    (
        "[retry]\nbackoff = { exponential = { base = '0s', factor = 2.0, cap = '1s' } }",
        "backoff",
    ),
    (
        "[retry]\nbackoff = { exponential = { base = '1s', factor = 0.5, cap = '2s' } }",
        "backoff",
    ),
    (
        "[retry]\nbackoff = { exponential = { base = '2s', factor = 2.0, cap = '1s' } }",
        "backoff",
    ),
    (
        "[retry]\nbackoff = { decorrelated = { base = '1s', cap = '2days' } }",
        "backoff",
    ),
    (
        "[retry]\nbackoff = { decorrelated = { base = '1ms', cap = '1s' } }\njitter = 'full'",
        "jitter",
    ),
    ("[retry]\nmax_retry_after = '0s'", "max_retry_after"),
    ("[retry]\nbudget = { ratio = 2.0 }", "ratio"),
    ("[retry]\nbudget = { window = '2m' }", "window"),
    (
        "[retry]\nbudget = { ratio = 0.0, min_per_second = 0 }",
        "min_per_second",
    ),
    ("[timeout]\nlimit = '0s'", "limit"),
    ("[timeout]\nlimit = '11years'", "limit"),
    ("[bulkhead]\nmax_waiting = 4", "max_concurrent"),
    ("[bulkhead]\nmax_concurrent = 0", "max_concurrent"),
    (
        "[bulkhead]\nmax_concurrent = 1\nmax_wait = '1s'",
        "max_wait",
    ),
    (
        "[bulkhead]\nmax_concurrent = 1\nmax_waiting = 1\nmax_wait = '0s'",
        "max_wait",
    ),
    ("[chaos]\nerror_rate = -0.1", "error_rate"),
    ("[chaos]\nhang_rate = 2.0", "hang_rate"),
    ("[chaos]\nlatency = { rate = 0.5, delay = '0s' }", "latency"),
    ("[chaos]\nerror_rate = 0.6\nabort_rate = 0.6", "abort_rate"),
];

#[test]
fn every_bad_value_in_a_file_is_a_config_error_naming_its_field() {
    for (section, field) in BAD_VALUES {
        let document = match section.starts_with("name") {
            true => section.to_string(),
            false => format!("name = 'cfg'\n{section}"),
        };
        let config: StackConfig =
            toml::from_str(&document).unwrap_or_else(|e| panic!("{document:?} should parse: {e}"));
        let err = config
            .build()
            .expect_err(&format!("{document:?} should not build"));
        assert_eq!(err.field(), *field, "{document:?}: {err}");
        assert!(err.to_string().contains(field), "{err}");
    }
}

#[test]
fn malformed_documents_are_parse_errors_that_say_why() {
    let cases = [
        ("name = 'x'\n[retyr]\nmax_attempts = 2", "retyr"),
        (
            "name = 'x'\n[circuit_breaker]\nopen_for = 30",
            "invalid type",
        ),
        (
            "name = 'x'\n[circuit_breaker]\nopen_for = 'soon'",
            "invalid duration",
        ),
        (
            "name = 'x'\n[circuit_breaker]\nhalf_open_permits = -1",
            "invalid value",
        ),
        ("name = 'x'\n[retry]\nbackoff = { linear = '1s' }", "linear"),
        ("name = 'x'\n[retry]\njitter = 'some'", "some"),
        ("[timeout]\nlimit = '1s'", "name"),
        ("name = 'x'\n[timeout]\n", "limit"),
    ];
    for (document, says) in cases {
        let err = toml::from_str::<StackConfig>(document)
            .unwrap_err()
            .to_string();
        assert!(err.contains(says), "{document:?}: {err}");
    }
    let err = serde_json::from_str::<StackConfig>(
        r#"{"name": "x", "timeout": {"limit": "1 fortnight"}}"#,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("invalid duration"), "{err}");
}

#[test]
fn the_retry_and_chaos_builders_name_every_bad_field_in_code_too() {
    let err = |r: Result<RetryLayer, tower_breakwater::ConfigError>| r.unwrap_err().field();
    assert_eq!(err(RetryLayer::builder("").build()), "name");
    assert_eq!(
        err(RetryLayer::builder("db").max_attempts(0).build()),
        "max_attempts"
    );
    let huge = Duration::from_secs(48 * 3600);
    assert_eq!(
        err(RetryLayer::builder("db")
            .backoff(Backoff::constant(huge))
            .build()),
        "backoff"
    );
    let decorrelated = Backoff::decorrelated(Duration::from_millis(1), Duration::from_secs(1));
    let jittered = RetryLayer::builder("db")
        .backoff(decorrelated)
        .jitter(Jitter::Full);
    assert_eq!(err(jittered.build()), "jitter");
    assert_eq!(
        err(RetryLayer::builder("db").max_retry_after(huge).build()),
        "max_retry_after"
    );
    let budget = |b: tower_breakwater::retry::BudgetBuilder| b.build().unwrap_err().field();
    assert_eq!(budget(Budget::builder().ratio(f64::NAN)), "ratio");
    assert_eq!(budget(Budget::builder().window(Duration::ZERO)), "window");
    let chaos = |b: tower_breakwater::chaos::Builder| b.build().unwrap_err().field();
    assert_eq!(chaos(Chaos::builder("")), "name");
    assert_eq!(
        chaos(Chaos::builder("db").error_rate(f64::NAN)),
        "error_rate"
    );
    assert_eq!(
        chaos(Chaos::builder("db").latency(0.1, Duration::MAX)),
        "latency"
    );
}

/// How a field's value is written.
#[derive(Clone, Copy)]
enum Kind {
    Int,
    Float,
    Duration,
}

/// Values of each kind, edges and nonsense included (but each of the right TOML type).
fn values() -> impl Strategy<Value = (String, String, String)> {
    let int = prop_oneof![
        0i64..5,
        0i64..200,
        Just(-1),
        any::<u32>().prop_map(i64::from)
    ];
    let float = prop_oneof![0.0..1.0f64, -1.0..2.0f64, any::<f64>()].prop_map(|f| match f {
        f if f.is_nan() => "nan".to_string(),
        f if f.is_infinite() => format!("{}inf", if f < 0.0 { "-" } else { "" }),
        f => format!("{f:?}"),
    });
    let unit = prop_oneof![Just("ns"), Just("ms"), Just("s"), Just("m"), Just("years")];
    let duration = (prop_oneof![0u64..3, 0u64..5000, any::<u64>()], unit)
        .prop_map(|(n, unit)| format!("'{n}{unit}'"));
    (int.prop_map(|n| n.to_string()), float, duration)
}

/// A section with a random subset of its fields, each given a random value of its kind.
fn section(
    header: &'static str,
    fields: &'static [(&'static str, Kind)],
) -> impl Strategy<Value = String> {
    let picks = prop::collection::vec((any::<bool>(), values()), fields.len());
    (any::<bool>(), picks).prop_map(move |(present, picks)| {
        if !present {
            return String::new();
        }
        let mut text = format!("{header}\n");
        for ((name, kind), (keep, (int, float, duration))) in fields.iter().zip(picks) {
            if keep {
                let value = match kind {
                    Kind::Int => int,
                    Kind::Float => float,
                    Kind::Duration => duration,
                };
                text += &format!("{name} = {value}\n");
            }
        }
        text
    })
}

/// Documents in the real grammar (each section once, each field once) with random
/// values, so that most cases parse and reach the builders.
fn document() -> impl Strategy<Value = String> {
    use Kind::*;
    (
        section(
            "[circuit_breaker]",
            &[
                ("consecutive_failures", Int),
                ("failure_rate", Float),
                ("count_window", Int),
                ("minimum_calls", Int),
                ("open_for", Duration),
                ("jitter", Float),
                ("half_open_permits", Int),
                ("success_threshold", Int),
                ("abandoned_as_failures_above", Float),
            ],
        ),
        section(
            "[retry]",
            &[("max_attempts", Int), ("max_retry_after", Duration)],
        ),
        section(
            "[retry.budget]",
            &[
                ("ratio", Float),
                ("min_per_second", Int),
                ("window", Duration),
            ],
        ),
        section("[timeout]", &[("limit", Duration)]),
        section(
            "[bulkhead]",
            &[
                ("max_concurrent", Int),
                ("max_waiting", Int),
                ("max_wait", Duration),
            ],
        ),
        section(
            "[chaos]",
            &[
                ("error_rate", Float),
                ("hang_rate", Float),
                ("abort_rate", Float),
                ("seed", Int),
            ],
        ),
    )
        .prop_map(|(a, b, c, d, e, f)| format!("name = 'p'\n{a}{b}{c}{d}{e}{f}"))
}

/// A fault rate: mostly valid (small, or an edge), sometimes any number at all.
fn rate() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => 0.0..=0.3f64,
        1 => Just(0.0),
        1 => Just(1.0),
        1 => any::<f64>(),
    ]
}

/// How a mutant's replacement value is written.
#[derive(Clone, Copy, Debug)]
enum Format {
    Toml,
    Json,
}

/// A replacement for `original` (as written in `format`): of kind `kind` (0 int, 1 float,
/// 2 duration, 3 bool, 4 plain string), or when `same` of the kind of `original` (so that
/// most mutants still parse and reach the builders). Floats are written the TOML way;
/// JSON has no `nan` or `inf`, so those are parse errors there, which is fine.
fn replacement(
    original: &str,
    format: Format,
    same: bool,
    kind: usize,
    (int, float, duration): (String, String, String),
) -> String {
    let quote = |text: &str| match format {
        Format::Toml => format!("'{text}'"),
        Format::Json => format!("\"{text}\""),
    };
    let kind = match original.chars().next() {
        _ if !same => kind,
        Some('"' | '\'') => 2,
        _ if original.contains('.') => 1,
        Some('0'..='9' | '-') => 0,
        _ => 3,
    };
    match kind {
        0 => int,
        1 => float,
        2 => quote(duration.trim_matches('\'')),
        3 => "true".to_string(),
        _ => quote("x"),
    }
}

/// `document` with one change: a random value replaced (top-level or inside an inline
/// table / object), or a random line deleted.
fn mutant(document: &'static str, format: Format) -> impl Strategy<Value = String> {
    let assign = match format {
        Format::Toml => " = ",
        Format::Json => "\": ",
    };
    // Where each scalar value starts and ends (nested tables and objects are left whole).
    let spans: Vec<(usize, usize)> = document
        .match_indices(assign)
        .map(|(at, _)| at + assign.len())
        .filter(|&start| !document[start..].starts_with('{'))
        .map(|start| {
            let len = document[start..]
                .find([',', '}', '\n'])
                .unwrap_or(document.len() - start);
            (start, start + document[start..start + len].trim_end().len())
        })
        .collect();
    let lines = document.lines().count();
    prop_oneof![
        3 => (0..spans.len(), prop::bool::weighted(0.75), 0..5usize, values()).prop_map(
            move |(pick, same, kind, values)| {
                let (start, end) = spans[pick];
                let value = replacement(&document[start..end], format, same, kind, values);
                format!("{}{value}{}", &document[..start], &document[end..])
            }
        ),
        1 => (0..lines).prop_map(move |drop| {
            document
                .lines()
                .enumerate()
                .filter(|&(i, _)| i != drop)
                .map(|(_, line)| line)
                .collect::<Vec<_>>()
                .join("\n")
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    /// Any text at all: the parsers answer with a value or an error, never a panic (random
    /// text almost never parses; the named-field rule is checked on mutants below).
    #[test]
    fn arbitrary_text_never_panics(text in ".{0,200}") {
        if let Ok(config) = toml::from_str::<StackConfig>(&text) {
            let _ = config.build();
        }
        if let Ok(config) = serde_json::from_str::<StackConfig>(&text) {
            let _ = config.build();
        }
        let _ = serde_json::from_str::<ChaosConfig>(&text);
    }

    /// The full documents with one value replaced or one line deleted: most still parse,
    /// so the builders run; none panics, and every build error names its field.
    #[test]
    fn mutated_documents_build_or_name_a_field(
        (toml_doc, json_doc) in (mutant(FULL_TOML, Format::Toml), mutant(FULL_JSON, Format::Json)),
    ) {
        if let Ok(config) = toml::from_str::<StackConfig>(&toml_doc) {
            if let Err(err) = config.build() {
                prop_assert!(!err.field().is_empty(), "{toml_doc}: {err}");
                prop_assert!(err.to_string().contains(err.field()), "{toml_doc}: {err}");
            }
        }
        if let Ok(config) = serde_json::from_str::<StackConfig>(&json_doc) {
            if let Err(err) = config.build() {
                prop_assert!(!err.field().is_empty(), "{json_doc}: {err}");
                prop_assert!(err.to_string().contains(err.field()), "{json_doc}: {err}");
            }
        }
    }

    /// Documents close to the real grammar, with random values: no panic, and every build
    /// error names a field.
    #[test]
    fn near_valid_documents_build_or_name_a_field(text in document()) {
        if let Ok(config) = toml::from_str::<StackConfig>(&text) {
            if let Err(err) = config.build() {
                prop_assert!(!err.field().is_empty());
                prop_assert!(err.to_string().contains(err.field()));
            }
        }
    }

    /// The retry and chaos builders take any numbers without panicking.
    #[test]
    fn the_builders_take_any_numbers(
        attempts in any::<u32>(),
        factor in any::<f64>(),
        base in any::<u64>(),
        cap in any::<u64>(),
        rates in prop::array::uniform4(rate()),
        delay in prop_oneof![4 => 1u64..=10_000_000_000, 1 => Just(0u64), 1 => any::<u64>()],
    ) {
        let backoff = Backoff::exponential(Duration::from_nanos(base), factor, Duration::from_nanos(cap));
        let _ = RetryLayer::builder("p").max_attempts(attempts).backoff(backoff).build();
        let delay = Duration::from_nanos(delay);
        let chaos = Chaos::builder("p")
            .error_rate(rates[0])
            .latency(rates[1], delay)
            .hang_rate(rates[2])
            .abort_rate(rates[3])
            .build();
        // The builder's rule: each rate in [0, 1] (so finite), their sum (in builder order)
        // at most 1 with a little slack, and a usable delay when latency is injected.
        let rates_ok = rates.iter().all(|r| r.is_finite() && (0.0..=1.0).contains(r))
            && rates.iter().sum::<f64>() <= 1.0 + 1e-9;
        let delay_ok = (rates[1] == 0.0 || !delay.is_zero())
            && delay <= Duration::from_secs(10 * 365 * 24 * 3600);
        match chaos {
            Ok(chaos) => {
                prop_assert!(rates_ok && delay_ok, "{rates:?} {delay:?} built");
                prop_assert_eq!(chaos.error_rate(), rates[0]);
                prop_assert_eq!(chaos.latency(), (rates[1], delay));
                prop_assert_eq!(chaos.hang_rate(), rates[2]);
                prop_assert_eq!(chaos.abort_rate(), rates[3]);
            }
            Err(err) => {
                prop_assert!(!(rates_ok && delay_ok), "{rates:?} {delay:?}: {err}");
                prop_assert!(
                    ["error_rate", "latency", "hang_rate", "abort_rate"].contains(&err.field()),
                    "{err}"
                );
            }
        }
    }
}
