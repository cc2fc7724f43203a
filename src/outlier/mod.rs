//! Per-endpoint ejection for a load-balanced pool (feature `outlier`): protect a pool, not
//! a host. Envoy's outlier detection (what Istio's `outlierDetection` configures) for
//! `tower::balance`.
//!
//! # When to use it
//! A client calls several replicas of a dependency through `tower::balance::p2c::Balance`
//! over a `tower::discover::Discover`. One replica goes bad (errors, hangs, slows down):
//! take it out of the pool for a while, so the others take its traffic, without touching
//! the balancer.
//!
//! ```
//! use std::time::Duration;
//! use tower::balance::p2c::Balance;
//! use tower::discover::ServiceList;
//! use tower::{service_fn, BoxError, Service, ServiceExt};
//! use tower_breakwater::outlier::{OutlierDetector, OutlierDiscover};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let detector = OutlierDetector::builder("payments")
//!     .max_ejection_percent(50)
//!     // Load by calls in flight: P2C keeps picking replica 0 until it is ejected. (With
//!     // the default Peak-EWMA load, P2C avoids it from its first failure on.)
//!     .peak_ewma(false)
//!     .build()
//!     .unwrap();
//! // Replica 0 refuses every call; 1 and 2 answer.
//! let replicas = ServiceList::new((0..3).map(|i| {
//!     service_fn(move |_: ()| async move {
//!         if i == 0 { Err::<u32, BoxError>("connection refused".into()) } else { Ok(i) }
//!     })
//! }));
//! let mut pool = Balance::new(OutlierDiscover::new(replicas, &detector));
//! for _ in 0..60 {
//!     let _ = pool.ready().await.unwrap().call(()).await;
//! }
//! // Five failures in a row ejected replica 0; P2C now only picks 1 and 2.
//! assert_eq!(detector.ejected(), 1);
//! for _ in 0..20 {
//!     assert_ne!(pool.ready().await.unwrap().call(()).await.unwrap(), 0);
//! }
//! # }
//! ```
//!
//! # How it fits together
//! - [`OutlierDetector`] (`detector.rs`) is the pool's one decider, shared by all its
//!   endpoints. Each endpoint's calls update that endpoint's own atomic counters
//!   (`endpoint.rs`), with no lock; a failure streak that reaches its threshold ejects at
//!   once. A sweep task, every `interval`, runs the statistical rules (`rules.rs`) over
//!   the interval's counts and ends the ejections whose time is over.
//! - [`OutlierService`] (`service.rs`, `future.rs`) wraps one endpoint: the **gate**. While
//!   its endpoint is ejected, `poll_ready` answers `Pending` and leaves its waker with the
//!   endpoint; the sweep that ends the ejection wakes it. Nothing polls an ejected
//!   endpoint in between (no `wake_by_ref` loop), and the balancer's ready set simply
//!   excludes it. (This is the one place breakwater answers `Pending` for a refusal: here
//!   the balancer is the caller and must route around it.)
//! - Load biasing (`load.rs`): the service is a `tower::load::Load` — a Peak-EWMA round
//!   trip where a failure counts as a penalty latency (5 s, raised to its `Retry-After` or
//!   `grpc-retry-pushback-ms`, at most 300 s), × (calls in flight + 1). P2C steers away
//!   from a failing endpoint before any ejection.
//! - [`OutlierDiscover`] (`discover.rs`) wraps a `Discover`: inserted endpoints join the
//!   pool, removed ones leave it with their state.
//! - [`ClassifyOutcome`] (`classify.rs`): which results are server errors or gateway
//!   failures ([`HttpOutcomes`] for HTTP; by default every `Err` is a gateway failure).
//!
//! # Envoy's rules, and their defaults
//! - **Consecutive 5xx** (5, enforced): that many server errors in a row (gateway failures
//!   count too) eject the endpoint at once.
//! - **Consecutive gateway failures** (5, *off*: enforced 0 %): 502, 503, 504, connect
//!   errors and timeouts in a row.
//! - **Success rate** (enforced): at each sweep, among endpoints with ≥ 100 requests in the
//!   interval, if there are ≥ 5 of them, those below mean − 1.9 × σ are ejected.
//! - **Failure percentage** (*off*): at each sweep, among endpoints with ≥ 50 requests, if
//!   there are ≥ 5, those with ≥ 85 % failures.
//! - **Ejection time** = base (30 s) × the times ejected in a row, at most
//!   `max_ejection_time` (300 s). An ejection ends at the first sweep after its time (as in
//!   Envoy, so it lasts up to one `interval` longer). The multiplier drops by one at each
//!   sweep that finds the endpoint in the pool for the whole interval.
//! - **`max_ejection_percent`** (10; the brief's Istio rule says 50): an ejection is
//!   refused when `(ejected + 1) / endpoints` would exceed it — except that one endpoint
//!   may always be ejected. While the cap refuses, every further failure asks again.
//! - **Panic threshold** (`min_health_percent`, 50): while fewer endpoints than that are
//!   healthy, every gate lets calls through (ejections continue to be tracked).
//! - **Enforcing percentages**: a detection ejects with that chance; 0 detects only
//!   ([`OutlierDetector::detections`] counts detections, [`OutlierDetector::ejections`]
//!   ejections).
//!
//! The per-call path: `poll_ready` loads the endpoint's ejection word; the response
//! future adds to the endpoint's count word, loads its streak word, and updates its load
//! word (one compare-and-swap); two clock reads time the round trip. Nothing is shared
//! between endpoints on that path but the detector's read-only config.

mod classify;
mod config;
mod detector;
mod discover;
mod ejection;
mod endpoint;
mod future;
#[cfg(feature = "istio")]
pub mod istio;
mod load;
mod membership;
mod rules;
mod service;

#[cfg(feature = "http")]
pub use self::classify::HttpOutcomes;
pub use self::classify::{ClassifyOutcome, ErrorsAreGatewayFailures};
pub use self::config::Builder;
pub use self::detector::{EndpointSnapshot, OutlierDetector};
pub use self::discover::OutlierDiscover;
pub use self::endpoint::{CallOutcome, EjectionReason};
pub use self::future::ResponseFuture;
pub use self::membership::Endpoint;
pub use self::service::{OutlierLayer, OutlierService};
