//! `dashboards/breakwater.json` is valid Grafana JSON whose queries use only the metric
//! names breakwater exports (and use every one of them).

use std::collections::HashSet;

use serde_json::Value;

/// Every metric the dashboard may query. Keep in step with the metrics module.
const KNOWN: [&str; 15] = [
    "circuit_breaker_state",
    "circuit_breaker_calls_total",
    "circuit_breaker_failures_total",
    "circuit_breaker_fallbacks_total",
    "circuit_breaker_transitions_total",
    "circuit_breaker_state_seconds",
    "bulkhead_in_flight",
    "bulkhead_waiting",
    "bulkhead_rejected_total",
    "retry_attempts_total",
    "timeout_timeouts_total",
    "deferred_items",
    "deferred_oldest_age_seconds",
    "deferred_enqueued_total",
    "deferred_replayed_total",
];

/// Label names the dashboard may filter or group on (bounded ones only).
const LABELS: [&str; 5] = ["name", "outcome", "from", "to", "state"];

fn dashboard() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/dashboards/breakwater.json");
    let text = std::fs::read_to_string(path).expect("dashboard file");
    serde_json::from_str(&text).expect("valid JSON")
}

/// The identifiers in a PromQL expression (metric names, labels, functions, keywords).
fn identifiers(expr: &str) -> Vec<&str> {
    let mut found = Vec::new();
    let mut rest = expr;
    while let Some(start) = rest.find(|c: char| c.is_ascii_alphabetic() || c == '_' || c == '$') {
        rest = &rest[start..];
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '$'))
            .unwrap_or(rest.len());
        found.push(&rest[..end]);
        rest = &rest[end..];
        // Skip quoted label values: `outcome="rejected"` names no metric.
        if let Some(after) = rest
            .strip_prefix("=~\"")
            .or_else(|| rest.strip_prefix("=\""))
        {
            rest = after.split_once('"').map_or("", |(_, tail)| tail);
        }
    }
    found
}

fn panels(dashboard: &Value) -> Vec<&Value> {
    dashboard["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .collect()
}

#[test]
fn every_query_uses_known_metrics_and_every_metric_is_shown() {
    let dashboard = dashboard();
    let mut used = HashSet::new();
    let mut queries = 0;
    for panel in panels(&dashboard) {
        if panel["type"] == "row" {
            continue;
        }
        let targets = panel["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "panel {} has no query", panel["title"]);
        for target in targets {
            let expr = target["expr"].as_str().expect("expr");
            queries += 1;
            let metrics: Vec<&str> = identifiers(expr)
                .into_iter()
                .filter(|id| {
                    [
                        "circuit_breaker_",
                        "bulkhead_",
                        "retry_",
                        "timeout_",
                        "deferred_",
                    ]
                    .iter()
                    .any(|prefix| id.starts_with(prefix))
                })
                .collect();
            assert!(!metrics.is_empty(), "{expr} queries no breakwater metric");
            for metric in metrics {
                assert!(KNOWN.contains(&metric), "unknown metric {metric} in {expr}");
                used.insert(metric);
            }
        }
    }
    assert!(queries >= KNOWN.len());
    for metric in KNOWN {
        assert!(used.contains(metric), "{metric} is on no panel");
    }
}

#[test]
fn grouping_uses_bounded_labels() {
    let dashboard = dashboard();
    for panel in panels(&dashboard) {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().unwrap();
            let mut rest = expr;
            while let Some(at) = rest.find("by (") {
                let (labels, tail) = rest[at + 4..].split_once(')').expect("closed by");
                for label in labels.split(',').map(str::trim) {
                    assert!(LABELS.contains(&label), "group by {label} in {expr}");
                }
                rest = tail;
            }
        }
    }
}

#[test]
fn panels_have_unique_ids_a_place_and_the_datasource_variable() {
    let dashboard = dashboard();
    assert_eq!(dashboard["uid"], "breakwater");
    let mut ids = HashSet::new();
    for panel in panels(&dashboard) {
        let id = panel["id"].as_u64().expect("numeric id");
        assert!(ids.insert(id), "duplicate panel id {id}");
        let grid = &panel["gridPos"];
        for key in ["x", "y", "w", "h"] {
            assert!(grid[key].is_u64(), "panel {id} gridPos.{key}");
        }
        assert!(grid["x"].as_u64().unwrap() + grid["w"].as_u64().unwrap() <= 24);
        if panel["type"] != "row" {
            assert_eq!(panel["datasource"]["uid"], "${datasource}", "panel {id}");
            assert!(panel["description"].as_str().is_some_and(|d| !d.is_empty()));
        }
    }
    let variables: Vec<&str> = dashboard["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(variables, ["datasource", "name"]);
}

#[test]
fn identifiers_skip_label_values() {
    assert_eq!(
        identifiers(r#"rate(circuit_breaker_calls_total{name=~"$name", outcome="rejected"}[5m])"#),
        [
            "rate",
            "circuit_breaker_calls_total",
            "name",
            "outcome",
            "m"
        ]
    );
}
