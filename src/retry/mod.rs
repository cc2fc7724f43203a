//! Retries with backoff, jitter and a shared budget.
//!
//! # When to use it
//! Put a retry layer in front of a dependency whose failures are often brief (a dropped
//! connection, a timeout, a 503 while it scales up): a failed attempt is tried again after a
//! wait, a few times at most, and — with a [`Budget`] — only while retries stay a small
//! share of the traffic, so that retries cannot turn a sick service into a dead one.
//!
//! ```
//! use std::time::Duration;
//! use tower_breakwater::retry::{Backoff, Budget, RetryLayer};
//! use tower_breakwater::Error;
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let retry = RetryLayer::builder("payments")
//!     .max_attempts(3) // the first attempt included
//!     .backoff(Backoff::exponential(Duration::from_millis(100), 2.0, Duration::from_secs(2)))
//!     .budget(Budget::builder().ratio(0.2).min_per_second(10).build().unwrap())
//!     .build()
//!     .expect("valid config");
//!
//! let payments = ServiceBuilder::new()
//!     .layer(retry)
//!     .service(service_fn(|amount: u32| async move {
//!         Err::<u32, Error<&str, u32>>(Error::Inner("connection reset"))
//!     }));
//!
//! match payments.oneshot(250).await {
//!     Ok(receipt) => println!("paid: {receipt}"),
//!     Err(Error::RetriesExhausted(gave_up)) => {
//!         assert_eq!(gave_up.attempts(), 3);
//!         assert!(matches!(gave_up.last(), Error::Inner("connection reset")));
//!     }
//!     Err(other) => println!("not retried: {other}"),
//! }
//! # }
//! ```
//!
//! # What it does
//! - The inner service fails with [`tower_breakwater::Error<E, Req>`](crate::Error) (a timeout,
//!   breaker, or bulkhead below it reports there; wrap a plain service's error in
//!   [`Error::Inner`](crate::Error::Inner)), and so does the retry service: layers do not
//!   nest errors.
//! - After each attempt a [`Predicate`] looks at the outcome. The default, [`RetryOnError`],
//!   retries timeouts and inner errors, never a breaker's rejection or a full bulkhead
//!   (retrying into them only adds load where there is no room) and never a response.
//! - Up to [`max_attempts`](Builder::max_attempts) attempts, **the first one included**. The
//!   waits follow a [`Backoff`] (constant, exponential, decorrelated) spread by a
//!   [`Jitter`]; a callee's `Retry-After` replaces the wait (see [`Predicate::retry_after`]
//!   and, for HTTP, `http::RetryOnStatus`), up to a cap.
//! - The call ends with the response (even one the predicate would have retried, e.g. a
//!   503, once no retry is left), with an error the predicate does not retry, unchanged,
//!   or with [`Error::RetriesExhausted`](crate::Error::RetriesExhausted) — the attempt
//!   count, whether the budget said no, and the last error — when it would have retried but
//!   the attempts or the budget ran out.
//!
//! # What it costs
//! A later attempt needs its own copy of the request, made before the first attempt takes
//! the original. Like tower's `Policy::clone_request`, the copy is made only when a retry
//! could really follow: never for the last allowed attempt, never while the budget cannot
//! afford a retry, never for a request the [`CopyRequest`] refuses (a streaming body, a
//! non-idempotent call). The inner service is cloned into the future under the same
//! condition, together with a reference to the layer's settings (an `Arc`). A call that
//! succeeds first time allocates nothing and boxes nothing; with a budget it also makes one
//! atomic add on the budget's current slice. (See `benches/retry.rs`: on par with tower's
//! `Retry` on the success path.)
//!
//! # Feature `http`
//! `http::RetryOnStatus` also retries 429, 502, 503 and 504 responses and honours their
//! `Retry-After` (seconds or an HTTP date); `http::IdempotentRequests` replays only
//! requests that are safe to send twice. An `http::Request<B>` with a buffered body
//! (`B: Clone`) is retryable with the default [`CloneRequest`].

mod backoff;
mod budget;
mod config;
mod error;
mod future;
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub mod http;
mod layer;
mod policy;
mod replay;
mod service;
mod stats;

pub use self::backoff::{Backoff, Delays, Jitter};
pub use self::budget::{Budget, BudgetBuilder};
pub use self::config::Builder;
pub use self::error::RetriesExhausted;
pub use self::future::ResponseFuture;
pub use self::layer::RetryLayer;
pub use self::policy::{CloneRequest, CopyRequest, Predicate, RetryOnError};
pub use self::service::RetryService;
#[cfg(feature = "metrics")]
pub(crate) use self::stats::Stats;
