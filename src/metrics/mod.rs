//! Prometheus metrics for every layer (feature `metrics`), read at scrape time.
//!
//! List the instances to watch in a [`Metrics`] and register them into your own
//! `prometheus::Registry`; serve it as you already do (see `examples/metrics.rs` for axum).
//!
//! ```
//! use tower_breakwater::circuit_breaker::CircuitBreaker;
//! use tower_breakwater::metrics::Metrics;
//! use prometheus::{Encoder, TextEncoder};
//!
//! let breaker = CircuitBreaker::builder("payments").consecutive_failures(2).build().unwrap();
//! let registry = prometheus::Registry::new();
//! Metrics::new().circuit_breaker(&breaker).register(&registry).unwrap();
//!
//! breaker.try_acquire().unwrap().success();
//! breaker.try_acquire().unwrap().failure();
//! breaker.try_acquire().unwrap().failure(); // trips
//! assert!(breaker.try_acquire().is_err()); // rejected
//!
//! let mut text = Vec::new();
//! TextEncoder::new().encode(&registry.gather(), &mut text).unwrap();
//! let text = String::from_utf8(text).unwrap();
//! assert!(text.contains(r#"circuit_breaker_state{name="payments"} 1"#));
//! assert!(text.contains(r#"circuit_breaker_calls_total{name="payments",outcome="failure"} 2"#));
//! assert!(text.contains(r#"circuit_breaker_calls_total{name="payments",outcome="rejected"} 1"#));
//! assert!(text.contains(r#"circuit_breaker_transitions_total{from="closed",name="payments",to="open"} 1"#));
//! ```
//!
//! # Metrics
//! Every series has the label `name`: the instance's name. Other label values come from
//! the fixed sets below. A namespace, if set, prefixes every name (`shop_bulkhead_waiting`).
//!
//! | metric | type | labels | meaning |
//! |---|---|---|---|
//! | `circuit_breaker_state` | gauge | | 0 closed, 1 open, 2 half-open, 3 forced-open, 4 disabled ([`State::index`](crate::circuit_breaker::State::index)): one series per breaker, always exactly one value |
//! | `circuit_breaker_state_seconds` | gauge | | seconds in the current state (alert on "open for more than a minute") |
//! | `circuit_breaker_calls_total` | counter | `outcome`: `success`, `failure`, `rejected`, `ignored`, `cancelled` | every call the breaker saw, by what became of it |
//! | `circuit_breaker_failures_total` | counter | | failures that counted toward opening (closed, in their own closed period, or a failed trial) |
//! | `circuit_breaker_transitions_total` | counter | `from`, `to`: `closed`, `open`, `half_open`, `forced_open`, `disabled` | state changes; the four automatic ones shown from zero |
//! | `circuit_breaker_call_duration_seconds` | histogram | | opt-in ([`Metrics::call_durations`]): how long the admitted calls took, to their outcome |
//! | `circuit_breaker_fallbacks_total` | counter | | calls a [`Fallback`](crate::fallback::Fallback) answered (`name` is the fallback's) |
//! | `bulkhead_in_flight` | gauge | | slots taken now |
//! | `bulkhead_waiting` | gauge | | callers waiting for a slot now |
//! | `bulkhead_max_concurrent` | gauge | | the limit |
//! | `bulkhead_rejected_total` | counter | | calls refused because it was full |
//! | `retry_attempts_total` | counter | | retries sent (attempts after the first) |
//! | `retry_calls_total` | counter | `outcome`: `recovered`, `failed`, `exhausted`, `budget_exhausted` | calls that wanted a retry, by how they ended: an accepted `Ok` after retries, an error not retried after retries, no attempt left, or the budget refused (a retried call that is dropped, or whose service fails `poll_ready` before a retry, is not counted) |
//! | `retry_budget_available` | gauge | | retries the budget could pay for now (layers with a budget) |
//! | `timeout_timeouts_total` | counter | | calls abandoned at their limit |
//! | `timeout_limit_seconds` | gauge | | the limit |
//! | `outlier_endpoints` | gauge | | endpoints in the pool (feature `outlier`) |
//! | `outlier_ejected_endpoints` | gauge | | endpoints ejected now |
//! | `outlier_ejections_total` | counter | `reason`: `consecutive_5xx`, `consecutive_gateway_failure`, `success_rate`, `failure_percentage` | ejections made |
//! | `outlier_detections_total` | counter | `reason` | outliers detected, ejected or not (detect-only rules, enforcing below 100 %) |
//! | `outlier_ejections_refused_total` | counter | | enforced ejections refused by `max_ejection_percent` |
//! | `outlier_endpoint_ejected` | gauge | `endpoint` | 1 while ejected, else 0; at most `max_series` endpoints of their own, the rest summed in `endpoint="other"` |
//! | `outlier_endpoints_unlisted` | gauge | | endpoints beyond that cap |
//! | `deferred_items` | gauge | `state`: `ready`, `leased`, `dead` | items in the whole queue (a fleet's, for Postgres), as last counted: each scrape starts a recount in the background, so at most one scrape interval old (feature `deferred`) |
//! | `deferred_enqueued_total` | counter | | items this process added (a duplicate key is not counted) |
//! | `deferred_replayed_total` | counter | `outcome`: `delivered`, `failed`, `dead`, `refused` | items this process reported after an attempt: delivered, failed (retried later), dead-lettered, refused by the breaker (attempt given back) |
//! | `deferred_oldest_age_seconds` | gauge | | age of the oldest ready or leased item, 0 when there is none (alert when it grows) |
//!
//! # Cost
//! No shared write per call. Most values are counters the layers keep anyway (the
//! breaker's per-thread counters and transition counts, the bulkhead's semaphore and
//! refusals, the fallback's count); the retry and timeout counts are added where only a
//! rare event pays for them (a timeout that fires, a retry, the end of a retried call),
//! and are kept whether or not the `metrics` feature is on. Two small costs remain on the
//! call path: a timeout's response future carries its counter's id, and while a retry
//! budget is empty each call takes a reference count of the retry layer (to count a
//! refusal). A scrape reads them: for a breaker, one
//! [`snapshot`](crate::circuit_breaker::CircuitBreaker::snapshot), which sums its
//! per-thread counters under a short lock. See `benches/metrics.rs`.
//!
//! Call counts of the retry and timeout layers are not kept (they would cost a shared
//! write per call): the breaker's `circuit_breaker_calls_total` counts calls.
//!
//! # Registering twice
//! Each instance is its own collector, told apart by its `name`. Registering an instance
//! whose kind and name are already in the registry is an [`Error::AlreadyRegistered`],
//! never a panic, and [`Metrics::register`] adds all its instances or none.

mod breaker;
mod builder;
mod cap;
mod collect;
#[cfg(feature = "deferred")]
mod deferred;
mod error;
mod keyed;
mod layers;
mod names;
#[cfg(feature = "outlier")]
mod outlier;

pub use self::builder::Metrics;
pub use self::error::Error;
