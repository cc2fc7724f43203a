//! Errors → responses: what a server sends when a breakwater layer refused or gave up.

use http::header::{HeaderValue, RETRY_AFTER};
use http::{Response, StatusCode};

use crate::Error;

#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
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

    /// A response for this error that is safe to send to any client: its
    /// [`status`](Error::status), a `Retry-After` header for an open breaker that knows when
    /// it will try again, and a generic body, the status's reason in lower case
    /// (`service unavailable`). Breaker names and inner errors stay inside: log the error
    /// (its `Display`) and use [`to_detailed_response`](Error::to_detailed_response) only
    /// for trusted callers.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_breakwater::{timeout::Elapsed, Error};
    ///
    /// let error: Error<&str> = Elapsed::new("db", Duration::from_secs(1), Duration::from_secs(1)).into();
    /// let response: http::Response<String> = error.to_response();
    /// assert_eq!(response.status(), http::StatusCode::GATEWAY_TIMEOUT);
    /// assert_eq!(response.body(), "gateway timeout");
    /// ```
    #[must_use]
    pub fn to_response<B>(&self) -> Response<B>
    where
        B: From<String>,
    {
        self.to_response_with_bulkhead_status(StatusCode::SERVICE_UNAVAILABLE)
    }

    /// Like [`to_response`](Error::to_response) (generic body), with `bulkhead_full` as the
    /// status of a full bulkhead instead of 503: 429 Too Many Requests tells a client that
    /// *it* should slow down. Every other error keeps its status.
    ///
    /// ```
    /// use tower_breakwater::{bulkhead::BulkheadFull, Error};
    /// use http::StatusCode;
    ///
    /// let error: Error<&str> = BulkheadFull::new("db", 8, None).into();
    /// let response: http::Response<String> =
    ///     error.to_response_with_bulkhead_status(StatusCode::TOO_MANY_REQUESTS);
    /// assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    /// assert_eq!(response.body(), "too many requests");
    /// ```
    #[must_use]
    pub fn to_response_with_bulkhead_status<B>(&self, bulkhead_full: StatusCode) -> Response<B>
    where
        B: From<String>,
    {
        let status = self.status_with(bulkhead_full);
        let reason = status.canonical_reason().unwrap_or("error");
        self.response(status, reason.to_ascii_lowercase())
    }

    /// Like [`to_response`](Error::to_response), with the error's message as the body
    /// (`circuit 'payments' is open; retry after 12.000s`, or the inner error's text). The
    /// message names breakers and carries your inner errors' text: send it only to callers
    /// you trust (an internal service, a debug endpoint).
    ///
    /// ```
    /// use tower_breakwater::{bulkhead::BulkheadFull, Error};
    ///
    /// let error: Error<&str> = BulkheadFull::new("db", 8, None).into();
    /// let response: http::Response<String> = error.to_detailed_response();
    /// assert_eq!(response.status(), http::StatusCode::SERVICE_UNAVAILABLE);
    /// assert_eq!(response.body(), &error.to_string());
    /// ```
    #[must_use]
    pub fn to_detailed_response<B>(&self) -> Response<B>
    where
        E: std::fmt::Display,
        B: From<String>,
    {
        self.response(self.status(), self.to_string())
    }

    fn response<B: From<String>>(&self, status: StatusCode, body: String) -> Response<B> {
        let mut response = Response::new(B::from(body));
        *response.status_mut() = status;
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
