//! A time limit per call (per attempt, below a retry): past it, the call is abandoned —
//! its future dropped — and fails with [`Elapsed`], which says the limit and how long the
//! call really ran.
//!
//! # When to use it
//! Put a timeout in front of anything that can hang: a socket, a pool, a slow dependency.
//! Below a circuit breaker it makes a hanging dependency *fail*, so the breaker can see it
//! and open; below a retry it bounds each attempt.
//!
//! ```
//! use std::time::Duration;
//! use tower_breakwater::timeout::TimeoutLayer;
//! use tower::{service_fn, BoxError, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let slow = ServiceBuilder::new()
//!     .layer(TimeoutLayer::new("inventory", Duration::from_millis(200)).unwrap())
//!     .service(service_fn(|sku: u32| async move {
//!         tokio::time::sleep(Duration::from_secs(5)).await;
//!         Ok::<_, BoxError>(sku)
//!     }));
//!
//! let err = slow.oneshot(7).await.unwrap_err();
//! assert_eq!(err.to_string(), "'inventory' timed out after 0.200s (limit 200ms)");
//! # }
//! ```
//!
//! # Errors
//! The layer does not wrap the inner service's error: [`Timeout`] keeps it, and asks only
//! that it can hold an [`Elapsed`] (`S::Error: From<Elapsed>`). Two error types can:
//!
//! - tower's `BoxError`, for plain tower stacks (downcast with `e.is::<Elapsed>()`, e.g.
//!   in axum's `HandleErrorLayer`);
//! - [`tower_breakwater::Error<E, Req>`](crate::Error), for breakwater stacks (match on
//!   [`Error::Timeout`](crate::Error::Timeout)).
//!
//! A service with its own error type is lifted first, below the timeout: with tower's
//! `MapErrLayer::new(tower_breakwater::Error::Inner)`, or `.map_err(Into::into)` to a `BoxError`.
//!
//! ```
//! use std::time::Duration;
//! use tower_breakwater::timeout::TimeoutLayer;
//! use tower_breakwater::Error;
//! use tower::util::MapErrLayer;
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let db = ServiceBuilder::new()
//!     .layer(TimeoutLayer::new("db", Duration::from_secs(1)).unwrap())
//!     .layer(MapErrLayer::new(Error::Inner))
//!     .service(service_fn(|_query: &str| async {
//!         std::future::pending::<Result<u32, std::io::Error>>().await
//!     }));
//!
//! let err: Error<std::io::Error, &str> = db.oneshot("select 1").await.unwrap_err();
//! match err {
//!     Error::Timeout(elapsed) => assert_eq!(elapsed.elapsed(), Duration::from_secs(1)),
//!     other => panic!("expected a timeout, got {other:?}"),
//! }
//! # }
//! ```
//!
//! # What is timed
//! The call, from `call` until its future ends: readiness (`poll_ready`) is not timed,
//! as in tower's `Timeout` — put the timeout above a buffer or a concurrency limit only if
//! the wait should not count. Time is read through `tokio::time`, so a paused test clock
//! controls it, and the layer needs a tokio runtime with the timer enabled.
//!
//! # Cost
//! No allocation, no lock. The call reads the clock once (for the deadline); the tokio
//! timer is only armed if the inner future is pending on its first poll, so a call that is
//! ready at once never touches the timer. The error's start time is the timer's deadline
//! minus the limit, not a second clock read.

mod config;
mod error;
mod future;
mod layer;
mod service;
mod stats;

pub use self::error::Elapsed;
pub use self::future::ResponseFuture;
pub use self::layer::TimeoutLayer;
pub use self::service::Timeout;
#[cfg(feature = "metrics")]
pub(crate) use self::stats::Fired;
