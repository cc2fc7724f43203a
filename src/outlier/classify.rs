//! Which finished calls are server errors or gateway failures, and what `Retry-After` a
//! failure carried.

use std::time::Duration;

use super::CallOutcome;

/// Decides the [`CallOutcome`] of a finished call, and the wait a failed response asked
/// for (which raises its load penalty).
///
/// Implemented by [`ErrorsAreGatewayFailures`] (the default), `HttpOutcomes` (feature
/// `http`), and every `Fn(&Result<Resp, E>) -> CallOutcome`.
///
/// ```
/// use tower_breakwater::outlier::{CallOutcome, ClassifyOutcome};
///
/// let by_code = |r: &Result<u16, ()>| match r {
///     Ok(502..=504) | Err(_) => CallOutcome::GatewayFailure,
///     Ok(500..) => CallOutcome::ServerError,
///     Ok(_) => CallOutcome::Success,
/// };
/// assert_eq!(by_code.outcome(&Ok(503)), CallOutcome::GatewayFailure);
/// assert_eq!(by_code.retry_after(&Ok(503)), None);
/// ```
pub trait ClassifyOutcome<Resp, E> {
    /// The outcome of `result`.
    fn outcome(&self, result: &Result<Resp, E>) -> CallOutcome;

    /// The wait a failed `result` asked for (`Retry-After`); asked only after a failure.
    fn retry_after(&self, result: &Result<Resp, E>) -> Option<Duration> {
        let _ = result;
        None
    }
}

impl<F, Resp, E> ClassifyOutcome<Resp, E> for F
where
    F: Fn(&Result<Resp, E>) -> CallOutcome,
{
    fn outcome(&self, result: &Result<Resp, E>) -> CallOutcome {
        self(result)
    }
}

/// Every `Err` is a gateway failure (the endpoint could not be reached or timed out),
/// every `Ok` a success.
///
/// ```
/// use tower_breakwater::outlier::{CallOutcome, ClassifyOutcome, ErrorsAreGatewayFailures};
/// assert_eq!(ErrorsAreGatewayFailures.outcome(&Err::<(), _>("refused")), CallOutcome::GatewayFailure);
/// assert_eq!(ErrorsAreGatewayFailures.outcome(&Ok::<_, ()>(())), CallOutcome::Success);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ErrorsAreGatewayFailures;

impl<Resp, E> ClassifyOutcome<Resp, E> for ErrorsAreGatewayFailures {
    fn outcome(&self, result: &Result<Resp, E>) -> CallOutcome {
        match result {
            Ok(_) => CallOutcome::Success,
            Err(_) => CallOutcome::GatewayFailure,
        }
    }
}

/// HTTP responses as Envoy sees them: 502, 503, 504 and every `Err` (connect error,
/// timeout) are gateway failures, other 5xx server errors, the rest successes. A failed
/// response's `Retry-After` (seconds or a date) or `grpc-retry-pushback-ms` raises its
/// load penalty.
///
/// ```
/// use tower_breakwater::outlier::{CallOutcome, ClassifyOutcome, HttpOutcomes};
/// use std::time::Duration;
///
/// let busy = http::Response::builder().status(503).header("retry-after", "20").body(()).unwrap();
/// let result = Ok::<_, ()>(busy);
/// assert_eq!(HttpOutcomes.outcome(&result), CallOutcome::GatewayFailure);
/// assert_eq!(HttpOutcomes.retry_after(&result), Some(Duration::from_secs(20)));
///
/// let broken = Ok::<_, ()>(http::Response::builder().status(500).body(()).unwrap());
/// assert_eq!(HttpOutcomes.outcome(&broken), CallOutcome::ServerError);
/// ```
#[cfg(feature = "http")]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HttpOutcomes;

#[cfg(feature = "http")]
impl<B, E> ClassifyOutcome<http::Response<B>, E> for HttpOutcomes {
    fn outcome(&self, result: &Result<http::Response<B>, E>) -> CallOutcome {
        match result {
            Err(_) => CallOutcome::GatewayFailure,
            Ok(response) => match response.status().as_u16() {
                502..=504 => CallOutcome::GatewayFailure,
                500..=599 => CallOutcome::ServerError,
                _ => CallOutcome::Success,
            },
        }
    }

    fn retry_after(&self, result: &Result<http::Response<B>, E>) -> Option<Duration> {
        let headers = result.as_ref().ok()?.headers();
        if let Some(wait) = crate::retry::http::retry_after(headers) {
            return Some(wait);
        }
        let pushback = headers.get("grpc-retry-pushback-ms")?.to_str().ok()?;
        // A negative or malformed pushback means "do not retry": no raise.
        pushback
            .trim()
            .parse::<u64>()
            .ok()
            .map(Duration::from_millis)
    }
}

#[cfg(all(test, feature = "http"))]
mod tests {
    use super::*;

    fn response(status: u16, header: Option<(&str, &str)>) -> Result<http::Response<()>, ()> {
        let mut builder = http::Response::builder().status(status);
        if let Some((name, value)) = header {
            builder = builder.header(name, value);
        }
        Ok(builder.body(()).unwrap())
    }

    #[test]
    fn statuses() {
        for (status, outcome) in [
            (200, CallOutcome::Success),
            (404, CallOutcome::Success),
            (429, CallOutcome::Success),
            (500, CallOutcome::ServerError),
            (501, CallOutcome::ServerError),
            (502, CallOutcome::GatewayFailure),
            (503, CallOutcome::GatewayFailure),
            (504, CallOutcome::GatewayFailure),
            (505, CallOutcome::ServerError),
        ] {
            assert_eq!(
                HttpOutcomes.outcome(&response(status, None)),
                outcome,
                "{status}"
            );
        }
        assert_eq!(
            HttpOutcomes.outcome(&Err::<http::Response<()>, _>(())),
            CallOutcome::GatewayFailure
        );
    }

    #[test]
    fn pushback_and_hostile_values() {
        let r = response(503, Some(("grpc-retry-pushback-ms", "1500")));
        assert_eq!(
            HttpOutcomes.retry_after(&r),
            Some(Duration::from_millis(1500))
        );
        for hostile in ["-1", "lots", "", "99999999999999999999999"] {
            let r = response(503, Some(("grpc-retry-pushback-ms", hostile)));
            assert_eq!(HttpOutcomes.retry_after(&r), None, "{hostile}");
        }
        let r = response(503, Some(("retry-after", "99999999999999999999999")));
        assert_eq!(HttpOutcomes.retry_after(&r), Some(Duration::MAX)); // capped by the penalty
    }
}
