//! HTTP support (feature `http`): which responses count as failures for a client's breaker,
//! and which response a server sends when a breakwater layer refused or gave up.
//!
//! # Responses → outcomes
//! An HTTP client rarely fails with an `Err`: a sick server answers `500`, `503` or `429`
//! with a perfectly good response. [`ResponseClassifier`] tells the breaker what a response
//! was: 5xx and 429 are failures, everything else a success, and any status can be moved.
//!
//! ```
//! use tower_breakwater::circuit_breaker::{CircuitBreaker, State};
//! use tower_breakwater::classify::FailOnError;
//! use tower_breakwater::http::ResponseClassifier;
//! use http::{Response, StatusCode};
//! use tower::{service_fn, Layer, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let breaker = CircuitBreaker::builder("catalog").consecutive_failures(2).build().unwrap();
//! // A lone breaker around a client whose errors are its own: every `Err` is a failure.
//! let classifier = ResponseClassifier::new().errors(FailOnError);
//! let catalog = breaker.layer_with(classifier).layer(service_fn(|status: u16| async move {
//!     Ok::<_, std::io::Error>(Response::builder().status(status).body(()).unwrap())
//! }));
//! for status in [404, 503, 500] {
//!     let response = catalog.clone().oneshot(status).await.unwrap();
//!     assert_eq!(response.status(), StatusCode::from_u16(status).unwrap());
//! }
//! assert_eq!(breaker.state(), State::Open); // 404 was fine; 503 and 500 were not
//! # }
//! ```
//!
//! # Errors → responses
//! Turn a [`tower_breakwater::Error`](crate::Error) into the response a server should send (in an
//! axum `HandleErrorLayer`, say):
//!
//! | error | status | header |
//! |---|---|---|
//! | [`Rejected`](crate::Error::Rejected) (breaker open) | 503 Service Unavailable | `Retry-After` (whole seconds, rounded up) when known |
//! | [`Timeout`](crate::Error::Timeout) | 504 Gateway Timeout | |
//! | [`BulkheadFull`](crate::Error::BulkheadFull) | 503 Service Unavailable (or the status you pass to [`Error::to_response_with_bulkhead_status`], e.g. 429 Too Many Requests when the caller, not the dependency, is the one to slow down) | |
//! | [`RetriesExhausted`](crate::Error::RetriesExhausted) | the status of its last error | |
//! | [`Inner`](crate::Error::Inner) | 500 Internal Server Error (map your own errors first if they deserve better) | |
//!
//! The body is generic (the status's reason: `service unavailable`), so breaker names and
//! your inner errors' text never reach a client; [`Error::to_detailed_response`] puts the
//! error's message in the body, for callers you trust.
//!
//! ```
//! use tower_breakwater::circuit_breaker::CircuitBreaker;
//! use tower_breakwater::Error;
//! use http::StatusCode;
//!
//! let breaker = CircuitBreaker::builder("payments").build().unwrap();
//! breaker.force_open();
//! let error: Error<std::io::Error> = breaker.try_acquire().unwrap_err().into();
//! let response: http::Response<String> = error.to_response();
//! assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
//! assert_eq!(response.body(), "service unavailable");
//! let detailed: http::Response<String> = error.to_detailed_response();
//! assert_eq!(detailed.body(), "circuit 'payments' is forced open");
//! ```
//!
//! [`Error::to_response_with_bulkhead_status`]: crate::Error::to_response_with_bulkhead_status
//! [`Error::to_detailed_response`]: crate::Error::to_detailed_response

mod classify;
mod response;

pub use self::classify::ResponseClassifier;
