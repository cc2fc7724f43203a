//! Answer instead of failing: run your own async function when a call is refused or fails.
//!
//! # When to use it
//! Put a fallback outermost, above the breaker (and retry), when there is a degraded answer
//! that is better than an error: accept the order now and queue the payment for later, serve
//! a cached price, return an empty recommendation list.
//!
//! By default the fallback runs only for the two **refusals**, where breakwater knows the
//! request was never sent: an open breaker ([`ErrorKind::Rejected`]) and a full bulkhead
//! ([`ErrorKind::BulkheadFull`]). The unsent request is handed to your function, so it needs
//! no `Req: Clone`. Add timeouts or inner failures with [`Fallback::on`] only when it is safe
//! to answer for a call that may have reached the dependency (a timed-out payment may have
//! been charged), or choose with any predicate ([`Fallback::when`]). Every run is counted
//! ([`Fallback::count`]).
//!
//! ```
//! use std::time::Duration;
//! use tower_breakwater::circuit_breaker::CircuitBreaker;
//! use tower_breakwater::fallback::Fallback;
//! use tower_breakwater::Error;
//! use tower::{service_fn, Layer, ServiceBuilder, ServiceExt};
//!
//! #[derive(Debug, PartialEq)]
//! enum Order { Charged(u64), PendingPayment(u64) }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let breaker = CircuitBreaker::builder("payments").build().unwrap();
//! let (queue_tx, mut queue_rx) = tokio::sync::mpsc::unbounded_channel();
//!
//! // Deferred payment: when payments are refused, accept the order and queue it.
//! let fallback = Fallback::new("payments", move |error: Error<std::io::Error, u64>, order: Option<u64>| {
//!     let queue_tx = queue_tx.clone();
//!     async move {
//!         let order = order.ok_or(error)?;
//!         queue_tx.send(order).expect("queue open");
//!         Ok(Order::PendingPayment(order))
//!     }
//! });
//!
//! let checkout = ServiceBuilder::new()
//!     .layer(fallback.layer())
//!     .layer(breaker.layer().flat())
//!     .map_err(Error::Inner)
//!     .service(service_fn(|order: u64| async move { Ok::<_, std::io::Error>(Order::Charged(order)) }));
//!
//! assert_eq!(checkout.clone().oneshot(1).await.unwrap(), Order::Charged(1));
//! breaker.force_open();
//! assert_eq!(checkout.oneshot(2).await.unwrap(), Order::PendingPayment(2));
//! assert_eq!(queue_rx.recv().await, Some(2));
//! assert_eq!(fallback.count(), 1);
//! # }
//! ```
//!
//! # The fallback answers with the service's own response type
//! A fallback stands in for the service's answer, so its function returns
//! `Result<Resp, Error<E, Req>>` where `Resp` is **exactly** the response type of the
//! service below it. When that type is one you cannot build (hyper's
//! `Response<Incoming>`, a tonic streaming body), change it below the stack:
//! - **an owned body**: collect the body below the stack (`map_future` over the client:
//!   `Response<Incoming>` → `Response<Bytes>`), and the fallback builds a
//!   `Response<Bytes>` (e.g. a 202 Accepted); a timeout in the stack then covers the body
//!   too. `examples/order_client.rs` does this with hyper-util;
//! - **your own enum**: `map_response(Payment::Charged)` below the stack, and the fallback
//!   answers `Payment::Queued(order)`:
//!
//! ```
//! use tower_breakwater::{Error, Resilience};
//! use tower::{service_fn, Layer, ServiceBuilder, ServiceExt};
//!
//! #[derive(Debug, PartialEq)]
//! enum Payment { Charged(String), Queued(u64) } // String: the provider's receipt
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let stack = Resilience::builder("payments")
//!     .with_fallback(|e: Error<std::io::Error, u64>, order: Option<u64>| async move {
//!         let Some(order) = order else { return Err(e) }; // a sent call: not ours to answer
//!         Ok(Payment::Queued(order))
//!     })
//!     .with_circuit_breaker(|b| b)
//!     .build()
//!     .unwrap();
//! let provider = service_fn(|order: u64| async move { Ok::<_, std::io::Error>(format!("receipt {order}")) });
//! let payments = stack.layer(ServiceBuilder::new().map_response(Payment::Charged).service(provider));
//! stack.circuit_breaker().force_open();
//! assert_eq!(payments.oneshot(9).await.unwrap(), Payment::Queued(9));
//! # }
//! ```
//!
//! A function of the wrong response type is a compile error that says so (the
//! [`Answer`] trait's message), when the service meets a `Service` bound
//! (`ServiceExt::oneshot(svc, req)`, axum's `route_service`, ...). A method call
//! (`svc.oneshot(req)`) only gets rustc's "the method `oneshot` exists ... but its trait
//! bounds were not satisfied": call it as `ServiceExt::oneshot(svc, req)` to see why.
//!
//! [`ErrorKind::Rejected`]: crate::ErrorKind::Rejected
//! [`ErrorKind::BulkheadFull`]: crate::ErrorKind::BulkheadFull

mod copy;
#[cfg(feature = "deferred")]
mod defer;
mod future;
mod handle;
mod handler;
mod layer;
mod predicate;
mod service;

pub use crate::retry::{CloneRequest, CopyRequest};
pub use copy::NoCopy;
#[cfg(feature = "deferred")]
pub use defer::{Defer, DeferFuture, Deferral};
pub use future::ResponseFuture;
pub use handle::Fallback;
pub use handler::{Answer, Answering, Handler};
pub use layer::FallbackLayer;
pub use predicate::{Kinds, Predicate};
pub use service::FallbackService;
