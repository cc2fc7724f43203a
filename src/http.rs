//! HTTP mapping of breakwater's errors (feature `http`).
//!
//! Turn a [`breakwater::Error`](crate::Error) into the response a server should send (in an
//! axum `HandleErrorLayer`, say):
//!
//! | error | status | header |
//! |---|---|---|
//! | [`Rejected`](crate::Error::Rejected) (breaker open) | 503 Service Unavailable | `Retry-After` (whole seconds, rounded up) when known |
//! | [`Timeout`](crate::Error::Timeout) | 504 Gateway Timeout | |
//! | [`BulkheadFull`](crate::Error::BulkheadFull) | 503 Service Unavailable (or the status you pass to [`Error::to_response_with`], e.g. 429 Too Many Requests when the caller, not the dependency, is the one to slow down) | |
//! | [`RetriesExhausted`](crate::Error::RetriesExhausted) | the status of its last error | |
//! | [`Inner`](crate::Error::Inner) | 500 Internal Server Error (map your own errors first if they deserve better) | |
//!
//! ```
//! use breakwater::circuit_breaker::CircuitBreaker;
//! use breakwater::Error;
//! use http::StatusCode;
//!
//! let breaker = CircuitBreaker::builder("payments").build().unwrap();
//! breaker.force_open();
//! let error: Error<std::io::Error> = breaker.try_acquire().unwrap_err().into();
//! let response: http::Response<String> = error.to_response();
//! assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
//! assert_eq!(response.body(), "circuit 'payments' is forced open");
//! ```

use http::header::{HeaderValue, RETRY_AFTER};
use http::{Response, StatusCode};

use crate::Error;

impl<E, Req> Error<E, Req> {
    /// The HTTP status this error maps to (see the [table](crate::http)); a full bulkhead
    /// maps to 503.
    ///
    /// ```
    /// use breakwater::Error;
    /// assert_eq!(Error::<()>::Inner(()).status(), http::StatusCode::INTERNAL_SERVER_ERROR);
    /// ```
    pub fn status(&self) -> StatusCode {
        self.status_with(StatusCode::SERVICE_UNAVAILABLE)
    }

    fn status_with(&self, bulkhead_full: StatusCode) -> StatusCode {
        match self.root() {
            Error::Rejected(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            Error::BulkheadFull(_) => bulkhead_full,
            Error::RetriesExhausted(_) | Error::Inner(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A response for this error: its [`status`](Error::status), a `Retry-After` header for
    /// an open breaker that knows when it will try again, and the error's message as the
    /// body when `B` can be made from a `String`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use breakwater::{timeout::Elapsed, Error};
    ///
    /// let error: Error<&str> = Elapsed::new("db", Duration::from_secs(1), Duration::from_secs(1)).into();
    /// let response: http::Response<String> = error.to_response();
    /// assert_eq!(response.status(), http::StatusCode::GATEWAY_TIMEOUT);
    /// ```
    pub fn to_response<B>(&self) -> Response<B>
    where
        E: std::fmt::Display,
        B: From<String>,
    {
        self.to_response_with(StatusCode::SERVICE_UNAVAILABLE)
    }

    /// Like [`to_response`](Error::to_response), with the status to use for a full bulkhead
    /// (503 by default; 429 tells a client that *it* should slow down).
    ///
    /// ```
    /// use breakwater::{bulkhead::BulkheadFull, Error};
    /// use http::StatusCode;
    ///
    /// let error: Error<&str> = BulkheadFull::new("db", 8, None).into();
    /// let response: http::Response<String> = error.to_response_with(StatusCode::TOO_MANY_REQUESTS);
    /// assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    /// ```
    pub fn to_response_with<B>(&self, bulkhead_full: StatusCode) -> Response<B>
    where
        E: std::fmt::Display,
        B: From<String>,
    {
        let mut response = Response::new(B::from(self.to_string()));
        *response.status_mut() = self.status_with(bulkhead_full);
        if let Some(after) = self.retry_after() {
            // Whole seconds, rounded up: a client that waits the header's time finds the
            // breaker ready for a trial call rather than a few milliseconds early.
            let seconds = after.as_secs() + u64::from(after.subsec_nanos() > 0);
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(seconds.max(1)));
        }
        response
    }
}
