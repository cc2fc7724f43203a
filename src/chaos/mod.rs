//! Fault injection: make a dependency fail, slow down, hang or drop answers on purpose, at
//! rates you choose, to see that the layers above it (and your code) cope. Feature `chaos`.
//!
//! # When to use it
//! In tests, and in staging, to rehearse an outage: put the layer directly around the
//! client of a dependency, under your breakwater stack, and turn the faults up and down at
//! run time through the [`Chaos`] handle. Polly calls the same idea "chaos strategies".
//!
//! ```
//! use std::time::Duration;
//! use tower_breakwater::chaos::Chaos;
//! use tower_breakwater::circuit_breaker::{CircuitBreaker, State};
//! use tower_breakwater::{Error, Resilience};
//! use tower::{service_fn, Layer, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let chaos = Chaos::builder("payments").error_rate(1.0).seed(7).enabled(false).build().unwrap();
//! let breaker = CircuitBreaker::builder("payments").consecutive_failures(3).build().unwrap();
//! let payments = Resilience::builder("payments")
//!     .circuit_breaker(&breaker)
//!     .timeout(Duration::from_secs(1))
//!     .build()
//!     .unwrap()
//!     .layer(chaos.layer().layer(service_fn(|order: u64| async move {
//!         Ok::<_, std::io::Error>(order)
//!     })));
//!
//! assert_eq!(payments.clone().oneshot(1).await.unwrap(), 1);
//! chaos.enable(); // the rehearsal starts: every call fails
//! for order in 2..5 {
//!     let err: Error<std::io::Error, u64> = payments.clone().oneshot(order).await.unwrap_err();
//!     assert!(err.inner().is_some(), "an injected error looks like the dependency's own");
//! }
//! assert_eq!(breaker.state(), State::Open);
//! assert_eq!(chaos.stats().errors, 3);
//! # }
//! ```
//!
//! # The faults
//! Each call draws at most one fault ([`Fault`]); the rates are each in [0, 1] and add up
//! to at most 1:
//! - [`error_rate`](Builder::error_rate): fail at once with [`ChaosError`]; the inner
//!   service is not called.
//! - [`latency`](Builder::latency): the inner call's future is first polled after a delay
//!   (tokio's clock, so a paused test clock controls it).
//! - [`hang_rate`](Builder::hang_rate): never answer; the inner service is not called. Only
//!   a timeout above (or the caller giving up) ends the call.
//! - [`abort_rate`](Builder::abort_rate): call the inner service, poll its future once,
//!   then drop it and fail with [`ChaosError`] — the request may have left, its answer is
//!   lost, as when a connection resets.
//!
//! # Deterministic
//! The fault of the `n`-th call through a handle depends only on the [seed](Builder::seed)
//! and `n`: with one caller, a seed replays a run exactly; with many tasks, the same
//! faults are drawn, in whatever order the tasks make their calls.
//!
//! # Errors
//! The layer keeps the inner service's error type and asks only that it can hold a
//! [`ChaosError`] (`S::Error: From<ChaosError>`): tower's `BoxError`, `std::io::Error`,
//! and [`tower_breakwater::Error<E, Req>`](crate::Error) — as [`Error::Inner`](crate::Error::Inner),
//! when `E` can hold it — all can. So to every layer above, an injected fault is the
//! dependency failing: the breaker counts it, the retry retries it.
//!
//! # Cost
//! Nothing unless the `chaos` feature is on. Switched off ([`Chaos::disable`]), a call
//! costs one atomic load. Switched on: one shared counter increment, a hash, a few loads,
//! and a counter increment per fault; no lock and no allocation per call (the setter
//! lock is taken only when rates change). A delayed call arms one tokio timer.

mod config;
mod error;
mod future;
mod handle;
mod layer;
mod service;

pub use self::config::Builder;
pub use self::error::{ChaosError, Fault};
pub use self::future::ResponseFuture;
pub use self::handle::{Chaos, Stats};
pub use self::layer::ChaosLayer;
pub use self::service::ChaosService;
