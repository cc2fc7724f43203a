//! Metric names, help texts and label values: the contract with dashboards and alerts, in
//! one place. Names follow Prometheus' rules: a layer prefix, base units (`_seconds`),
//! `_total` on counters, and label values from small fixed sets (plus the configured
//! `name` of each instance).

pub(crate) const NAME_LABEL: &str = "name";

pub(crate) const BREAKER_STATE: (&str, &str) = (
    "circuit_breaker_state",
    "Current state of the circuit breaker: 0 closed, 1 open, 2 half-open, 3 forced-open, 4 disabled.",
);
pub(crate) const BREAKER_STATE_SECONDS: (&str, &str) = (
    "circuit_breaker_state_seconds",
    "Seconds since the circuit breaker entered its current state.",
);
pub(crate) const BREAKER_CALLS: (&str, &str) = (
    "circuit_breaker_calls_total",
    "Calls seen by the circuit breaker, by outcome.",
);
pub(crate) const BREAKER_FAILURES: (&str, &str) = (
    "circuit_breaker_failures_total",
    "Failures that counted toward opening the circuit breaker.",
);
pub(crate) const BREAKER_TRANSITIONS: (&str, &str) = (
    "circuit_breaker_transitions_total",
    "State changes of the circuit breaker.",
);
pub(crate) const BREAKER_CALL_DURATIONS: (&str, &str) = (
    "circuit_breaker_call_duration_seconds",
    "Duration of the calls the circuit breaker let through, from the call to its outcome.",
);
pub(crate) const BREAKER_FALLBACKS: (&str, &str) = (
    "circuit_breaker_fallbacks_total",
    "Failed or refused calls answered by the fallback.",
);

/// The keyed breaker's families: the single breaker's, one series per `key` (up to a cap,
/// the rest in `key="other"`). Names of their own: a registry refuses one name with two
/// sets of label names, and a program may have both kinds.
pub(crate) const KEY_LABEL: &str = "key";
/// The `state` label of `keyed_circuit_breaker_keys` and `deferred_items`.
pub(crate) const STATE_LABEL: &str = "state";
pub(crate) const KEYED_STATE: (&str, &str) = (
    "keyed_circuit_breaker_state",
    "Current state of the key's circuit breaker (key=\"other\": the overflow breaker): 0 closed, 1 open, 2 half-open, 3 forced-open, 4 disabled.",
);
pub(crate) const KEYED_STATE_SECONDS: (&str, &str) = (
    "keyed_circuit_breaker_state_seconds",
    "Seconds since the key's circuit breaker entered its current state.",
);
pub(crate) const KEYED_CALLS: (&str, &str) = (
    "keyed_circuit_breaker_calls_total",
    "Calls seen by the key's circuit breaker, by outcome (key=\"other\": keys past the series cap, the overflow breaker and evicted keys).",
);
pub(crate) const KEYED_FAILURES: (&str, &str) = (
    "keyed_circuit_breaker_failures_total",
    "Failures that counted toward opening the key's circuit breaker.",
);
pub(crate) const KEYED_TRANSITIONS: (&str, &str) = (
    "keyed_circuit_breaker_transitions_total",
    "State changes of the key's circuit breaker.",
);
pub(crate) const KEYED_KEYS: (&str, &str) = (
    "keyed_circuit_breaker_keys",
    "Keys with a circuit breaker of their own now, by state.",
);
pub(crate) const KEYED_EVICTED: (&str, &str) = (
    "keyed_circuit_breaker_evicted_keys_total",
    "Idle closed keys evicted so far.",
);

/// The `outcome` label of `circuit_breaker_calls_total`.
pub(crate) const OUTCOME_LABEL: &str = "outcome";
pub(crate) const CALL_OUTCOMES: [&str; 5] =
    ["success", "failure", "rejected", "ignored", "cancelled"];

pub(crate) const FROM_LABEL: &str = "from";
pub(crate) const TO_LABEL: &str = "to";

pub(crate) const BULKHEAD_IN_FLIGHT: (&str, &str) = (
    "bulkhead_in_flight",
    "Slots of the bulkhead taken now (calls in flight and reserved slots).",
);
pub(crate) const BULKHEAD_WAITING: (&str, &str) = (
    "bulkhead_waiting",
    "Callers waiting for a slot of the bulkhead now.",
);
pub(crate) const BULKHEAD_MAX_CONCURRENT: (&str, &str) = (
    "bulkhead_max_concurrent",
    "Calls the bulkhead lets in flight at once.",
);
pub(crate) const BULKHEAD_REJECTED: (&str, &str) = (
    "bulkhead_rejected_total",
    "Calls the bulkhead refused because it was full.",
);

pub(crate) const RETRY_ATTEMPTS: (&str, &str) = (
    "retry_attempts_total",
    "Retries sent (attempts after the first).",
);
pub(crate) const RETRY_CALLS: (&str, &str) = (
    "retry_calls_total",
    "Calls that wanted a retry, by how they ended.",
);
/// The `outcome` label of `retry_calls_total`.
pub(crate) const RETRY_OUTCOMES: [&str; 4] =
    ["recovered", "failed", "exhausted", "budget_exhausted"];
pub(crate) const RETRY_BUDGET_AVAILABLE: (&str, &str) = (
    "retry_budget_available",
    "Retries the retry budget could pay for now.",
);

pub(crate) const TIMEOUT_TIMEOUTS: (&str, &str) = (
    "timeout_timeouts_total",
    "Calls abandoned because they ran out of time.",
);
pub(crate) const TIMEOUT_LIMIT: (&str, &str) =
    ("timeout_limit_seconds", "The time limit of each call.");

pub(crate) const DEFERRED_ITEMS: (&str, &str) = (
    "deferred_items",
    "Items in the deferred queue by state (the whole queue, as last counted).",
);
pub(crate) const DEFERRED_ENQUEUED: (&str, &str) = (
    "deferred_enqueued_total",
    "Items this process added to the deferred queue (duplicates of a held key not counted).",
);
pub(crate) const DEFERRED_REPLAYED: (&str, &str) = (
    "deferred_replayed_total",
    "Deferred items this process reported after a delivery attempt, by outcome.",
);
pub(crate) const DEFERRED_OLDEST_AGE: (&str, &str) = (
    "deferred_oldest_age_seconds",
    "Age of the oldest ready or leased item of the deferred queue (0 when there is none).",
);
