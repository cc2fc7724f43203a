//! gRPC support (feature `grpc`): which gRPC responses count as failures for a client's
//! breaker, and breakwater's refusals as gRPC codes. No gRPC crate is needed: it reads the
//! `http::Response` that a tonic `Channel` (or any gRPC-over-HTTP/2 client) returns.
//!
//! A gRPC call that fails usually still gets an HTTP 200; its status travels in a
//! `grpc-status` header (a *trailers-only* response, how servers answer a call that fails
//! before any message) or in the trailers after the messages. [`GrpcClassifier`] reads the
//! header: `Unavailable`, `DeadlineExceeded`, `ResourceExhausted`, `Internal` and `Unknown`
//! are failures, other codes are not.
//!
//! ```
//! use std::time::Duration;
//! use tower_breakwater::circuit_breaker::{CircuitBreaker, State};
//! use tower_breakwater::grpc::GrpcClassifier;
//! use tower_breakwater::Resilience;
//! use http::Response;
//! use tower::{service_fn, Layer, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let breaker = CircuitBreaker::builder("inventory").consecutive_failures(2).build().unwrap();
//! let stack = Resilience::builder("inventory")
//!     .circuit_breaker_with(&breaker, GrpcClassifier::new())
//!     .timeout(Duration::from_secs(1))
//!     .build()
//!     .unwrap();
//! // Stands in for a tonic Channel: every call answers UNAVAILABLE, trailers-only.
//! let channel = stack.layer(service_fn(|_: ()| async {
//!     Ok::<_, std::io::Error>(Response::builder().header("grpc-status", "14").body(()).unwrap())
//! }));
//! channel.clone().oneshot(()).await.unwrap();
//! channel.clone().oneshot(()).await.unwrap();
//! assert_eq!(breaker.state(), State::Open);
//! let refused = channel.oneshot(()).await.unwrap_err();
//! assert_eq!(refused.grpc_code(), tower_breakwater::grpc::Code::Unavailable);
//! # }
//! ```
//!
//! # Limits
//! - A status sent in the trailers of a streamed (or unary, non-trailers-only) response
//!   is not seen: the breaker records the outcome when the response headers arrive, before
//!   the body. Such a response counts as a success. Most servers (tonic among them) send
//!   an error before any message as trailers-only, which is seen.
//! - tonic turns a client-side error it does not know into `Unknown`; map breakwater's
//!   refusals with [`Error::grpc_code`](crate::Error::grpc_code) (see
//!   `examples/tonic_client.rs`).

mod classify;
mod code;
mod error;

pub use self::classify::{status_code, GrpcClassifier};
pub use self::code::Code;
