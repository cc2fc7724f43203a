//! Errors → responses: what a server sends when a breakwater layer refused or gave up.

use http::header::{HeaderValue, RETRY_AFTER};
use http::{Response, StatusCode};

use crate::Error;

impl<E, Req> Error<E, Req> {
    /// The HTTP status this error maps to (see the [table](crate::http#errors-to-responses)); a full bulkhead
    /// maps to 503.
    ///
    /// ```
    /// use tower_breakwater::Error;
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
    /// use tower_breakwater::{timeout::Elapsed, Error};
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
    /// use tower_breakwater::{bulkhead::BulkheadFull, Error};
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
