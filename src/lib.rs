//! # breakwater
//!
//! Resilience middleware for [tower]: so that one sick dependency cannot take its callers
//! down with it.
//!
//! - [`circuit_breaker`]: stop calling a dependency that keeps failing, fail fast while it
//!   recovers, test it with a few trial calls, close again. Lock-light: the closed-path call
//!   only loads the shared state word, takes no lock and allocates nothing.
//! - [`timeout`]: a per-attempt time limit.
//! - [`retry`]: retries with backoff, jitter and a shared retry budget.
//! - [`bulkhead`]: a cap on calls in flight, with a bounded wait and a fast refusal.
//! - [`fallback`]: answer a refused (or chosen) failure with your own async function.
//! - [`Resilience`]: all of them in one layer, in the order that makes them work together.
//! - [`Error`]: the one error type of a stack; [`classify`]: which outcomes are failures.
//! - `metrics` (feature `metrics`): Prometheus metrics of every layer, read at scrape
//!   time from counters the layers keep anyway.
//! - `http` and `grpc` (features): classifiers for HTTP responses and gRPC statuses, and
//!   the mapping of a stack's error to an HTTP response.
//! - `outlier` (feature `outlier`): per-endpoint ejection for a `tower::balance` pool
//!   (Envoy's outlier detection, Istio's `outlierDetection`), ejection as readiness, and
//!   a load for P2C with failure penalties.
//! - `deferred` (feature `deferred`; `postgres` for a fleet): a durable queue of deferred
//!   requests, filled by `Fallback::defer` and drained by a `Replayer` through the same
//!   stack.
//! - `chaos` and `config` (features `chaos`, `serde`): fault injection for tests and
//!   staging; settings read from TOML / JSON.
//!
//! # Quick start
//!
//! ```
//! use std::time::Duration;
//! use tower_breakwater::circuit_breaker::{CircuitBreaker, Error};
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let breaker = CircuitBreaker::builder("payments")
//!     .failure_rate(0.5)
//!     .count_window(20)
//!     .minimum_calls(10)
//!     .open_for(Duration::from_secs(5))
//!     .build()
//!     .expect("valid config");
//!
//! let payments = ServiceBuilder::new()
//!     .layer(breaker.layer())
//!     .service(service_fn(|order: u64| async move { Ok::<_, std::io::Error>(order) }));
//!
//! match payments.oneshot(17).await {
//!     Ok(order) => println!("charged order {order}"),
//!     Err(Error::Rejected(open)) => println!("{open}; queue the payment for later"),
//!     Err(Error::Inner(e)) => println!("payment failed: {e}"),
//! }
//! # }
//! ```
//!
//! # Feature flags
//! - `http`: `Error::to_response` (open → 503 + `Retry-After`, timeout → 504, bulkhead →
//!   503 or 429), and the retry layer's HTTP support (retryable statuses, `Retry-After`).
//!   `http::ResponseClassifier`: 5xx and 429 responses count as failures.
//! - `grpc` (includes `http`): `grpc::GrpcClassifier` (`Unavailable`, `DeadlineExceeded`,
//!   `ResourceExhausted`, `Internal`, `Unknown` count as failures, read from the
//!   `grpc-status` header), `Error::grpc_code`. No gRPC crate is pulled in.
//! - `metrics`: `metrics::Metrics` registers Prometheus collectors of breakers,
//!   bulkheads, retries, timeouts and fallbacks into your `prometheus::Registry`.
//! - `outlier`: `outlier`, per-endpoint ejection for `tower::balance` pools; adds tower's
//!   `load` and `discover` traits (no balancer). `istio` (includes `outlier`):
//!   `outlier::istio`, an Istio `DestinationRule` read from YAML (adds `saphyr`).
//! - `chaos`: [`chaos`], a fault-injection layer (errors, latency, hangs, aborted calls at
//!   seeded rates, switchable at run time) for tests and staging. Not compiled without it.
//! - `deferred`: `deferred`, a durable queue of deferred requests (an embedded redb store),
//!   `fallback::Fallback::defer` and `deferred::Replayer`. Adds `redb`.
//! - `postgres` (includes `deferred`): `deferred::PostgresStore`, one queue shared by a
//!   fleet. Adds `tokio-postgres` and `deadpool-postgres` (no TLS).
//! - `serde`: [`config`], every layer's settings read from TOML / JSON (durations like
//!   `"30s"`), checked by the same builders. Adds `serde` and `humantime`.
//!
//! On docs.rs every feature is on, and each feature-gated item is marked with the feature
//! it needs.
//!
//! The default build is tower's traits, tokio's `time` and `sync`, and `parking_lot`.
//! (The breaker's lock-free parts are model-checked with loom under `--cfg loom`, as tokio
//! does; that is no feature and never part of a build of yours.)
//!
//! [tower]: https://docs.rs/tower

#![forbid(unsafe_code)]
#![warn(missing_docs, rust_2018_idioms, unreachable_pub)]
// docs.rs (`--cfg docsrs`, see Cargo.toml): each feature-gated item says which feature it
// needs. Recent nightlies infer that from `#[cfg]`; the explicit `doc(cfg)` attributes
// below also serve older ones.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod bulkhead;
#[cfg(feature = "chaos")]
#[cfg_attr(docsrs, doc(cfg(feature = "chaos")))]
pub mod chaos;
pub mod circuit_breaker;
pub mod classify;
mod compose;
#[cfg(feature = "serde")]
#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
pub mod config;
mod config_error;
#[cfg(feature = "deferred")]
pub mod deferred;
mod error;
pub mod fallback;
#[cfg(feature = "grpc")]
#[cfg_attr(docsrs, doc(cfg(feature = "grpc")))]
pub mod grpc;
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub mod http;
pub mod lift;
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub mod metrics;
mod name;
#[cfg(feature = "outlier")]
pub mod outlier;
pub mod retry;
pub mod timeout;

pub use compose::{Resilience, ResilienceBuilder, ResilienceLayer};

/// Every Rust block of README.md, run as a doctest (`cargo test --doc`), so the README
/// cannot drift from the API. Not part of the crate: it exists only under `cfg(doctest)`.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
pub use config_error::ConfigError;
pub use error::{Error, ErrorKind};
pub use name::Name;
