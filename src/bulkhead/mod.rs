//! A bulkhead: a cap on calls in flight to one dependency, with a bounded wait, and a fast
//! typed refusal beyond it — so a slow dependency cannot tie up every task, socket or
//! thread of its callers (Istio's `maxConnections` + `http1MaxPendingRequests`).
//!
//! # When to use it
//! In front of a dependency that gets slow under load, or one whose capacity you share
//! with others: when it slows down, calls beyond the cap fail at once with
//! [`BulkheadFull`] (which hands the unsent request back, so a fallback can answer
//! instead) rather than piling up.
//!
//! ```
//! use std::time::Duration;
//! use tower_breakwater::bulkhead::{Bulkhead, BulkheadFull};
//! use tower::{service_fn, BoxError, Service, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let bulkhead = Bulkhead::builder("payments")
//!     .max_concurrent(1)
//!     .build()
//!     .expect("valid config");
//!
//! let mut payments = ServiceBuilder::new()
//!     .layer(bulkhead.layer())
//!     .service(service_fn(|order: u32| async move {
//!         tokio::time::sleep(Duration::from_secs(1)).await;
//!         Ok::<_, BoxError>(order)
//!     }));
//!
//! let first = payments.ready().await.unwrap().call(1);
//! // The one slot is taken and nobody may wait: refused at once, request handed back.
//! let err = payments.ready().await.unwrap().call(2).await.unwrap_err();
//! let full = err.downcast::<BulkheadFull<u32>>().unwrap();
//! assert_eq!(full.into_request(), Some(2));
//! assert_eq!(first.await.unwrap(), 1);
//! assert_eq!(bulkhead.rejected(), 1);
//! # }
//! ```
//!
//! # How it decides
//! - At most [`max_concurrent`](Builder::max_concurrent) calls hold a slot at once. A slot
//!   is reserved by `poll_ready` and held until the call's response future ends.
//! - When all are taken, up to [`max_waiting`](Builder::max_waiting) callers wait for one,
//!   first come first served, each for at most [`max_wait`](Builder::max_wait) (unset: as
//!   long as it takes). A freed slot goes to the oldest waiter; a newcomer never overtakes.
//! - Beyond that (no place in the waiting room, or `max_wait` over) the call fails at once
//!   with [`BulkheadFull`]: its name, the limit, how long it waited, and the request.
//! - The default, `max_waiting(0)`, refuses as soon as the bulkhead is full: the right
//!   mode behind a server that applies no backpressure (axum clones the service per
//!   request and never waits for readiness, so a waiting bulkhead just parks requests).
//!
//! Readiness follows tower's contract: a full bulkhead answers `Ready(Ok)` and fails in
//! the response future (as tower's `LoadShed` does), since an error from `poll_ready` is
//! final (a `Buffer` in front would stay broken). A slot reserved by a ready service is
//! given back if the service is dropped without calling; a slot of a call is given back
//! when its future ends or is dropped; a waiting service that is dropped leaves the
//! waiting room. All state a limit needs lives in the shared [`Bulkhead`] handle, so every
//! clone of a service shares the one limit.
//!
//! # Errors
//! The layer does not wrap the inner service's error: [`BulkheadService`] keeps it, and
//! asks only that it can hold the refusal (`S::Error: From<BulkheadFull<Req>>`).
//! [`tower_breakwater::Error<E, Req>`](crate::Error) can (match on
//! [`Error::BulkheadFull`](crate::Error::BulkheadFull)), and so can tower's `BoxError`
//! (downcast to `BulkheadFull<Req>`). A service with its own error type is lifted first,
//! below the bulkhead: with tower's `MapErrLayer::new(tower_breakwater::Error::Inner)`, or
//! `.map_err(Into::into)` to a `BoxError`.
//!
//! ```
//! use std::time::Duration;
//! use tower_breakwater::bulkhead::Bulkhead;
//! use tower_breakwater::Error;
//! use tower::util::MapErrLayer;
//! use tower::{service_fn, Service, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let bulkhead = Bulkhead::builder("db")
//!     .max_concurrent(1)
//!     .max_waiting(8)
//!     .max_wait(Duration::from_millis(50))
//!     .build()
//!     .unwrap();
//! let mut db = ServiceBuilder::new()
//!     .layer(bulkhead.layer())
//!     .layer(MapErrLayer::new(Error::Inner))
//!     .service(service_fn(|query: &'static str| async move {
//!         tokio::time::sleep(Duration::from_secs(1)).await;
//!         Ok::<_, std::io::Error>(query.len())
//!     }));
//!
//! let _busy = db.ready().await.unwrap().call("select 1");
//! // Waits 50ms for the slot, then gives up, handing the query back.
//! let mut err: Error<std::io::Error, &str> = db.clone().oneshot("select 2").await.unwrap_err();
//! assert!(err.is_bulkhead_full());
//! assert_eq!(err.take_request(), Some("select 2"));
//! # }
//! ```
//!
//! # Cost
//! Built on tokio's semaphore (first-come-first-served, cancellation-safe, loom-tested).
//! An uncontended call takes its slot with one compare-and-swap and gives it back through
//! the semaphore's release (which takes tokio's wait-list lock, uncontended) — the same
//! work as tower's `ConcurrencyLimit`. The waiting room costs one allocation per wait,
//! and only when a caller has to wait. [`Bulkhead::in_flight`] is read off the semaphore;
//! the waiting count and the refusal count are touched only on the contended path.

mod config;
mod error;
mod future;
mod handle;
mod layer;
mod service;

pub use self::config::Builder;
pub use self::error::BulkheadFull;
pub use self::future::ResponseFuture;
pub use self::handle::Bulkhead;
pub use self::layer::BulkheadLayer;
pub use self::service::BulkheadService;
