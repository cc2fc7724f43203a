//! Which gRPC responses count as failures.

use http::{Response, StatusCode};

use super::Code;
use crate::classify::{Classify, DependencyFailures, Outcome};

/// The gRPC status a response carries in its headers: the `grpc-status` header of a
/// *trailers-only* response (how servers answer a call that fails before any message,
/// which is how most failures arrive), or, for a response that is not HTTP 200, the code
/// the gRPC spec maps its HTTP status to (503 → `Unavailable`, 404 → `Unimplemented`, ...).
///
/// `None` for an HTTP 200 without `grpc-status`: the status comes later, in the trailers
/// after the messages, which the response future does not wait for.
///
/// ```
/// use tower_breakwater::grpc::{status_code, Code};
/// use http::Response;
///
/// let trailers_only = Response::builder().header("grpc-status", "14").body(()).unwrap();
/// assert_eq!(status_code(&trailers_only), Some(Code::Unavailable));
/// let streaming = Response::builder().status(200).body(()).unwrap();
/// assert_eq!(status_code(&streaming), None);
/// let proxy_said_no = Response::builder().status(502).body(()).unwrap();
/// assert_eq!(status_code(&proxy_said_no), Some(Code::Unavailable));
/// ```
pub fn status_code<B>(response: &Response<B>) -> Option<Code> {
    if let Some(value) = response.headers().get("grpc-status") {
        // A value that is not a number is a broken server: the spec's catch-all code.
        let code = value.to_str().ok().and_then(|v| v.trim().parse().ok());
        return Some(code.map_or(Code::Unknown, Code::from_i32));
    }
    match response.status() {
        StatusCode::OK => None,
        status => Some(from_http(status)),
    }
}

/// The gRPC spec's mapping of an HTTP status that is not 200 and came without a
/// `grpc-status` (a proxy or load balancer answered instead of the server).
fn from_http(status: StatusCode) -> Code {
    match status.as_u16() {
        400 => Code::Internal,
        401 => Code::Unauthenticated,
        403 => Code::PermissionDenied,
        404 => Code::Unimplemented,
        429 | 502 | 503 | 504 => Code::Unavailable,
        _ => Code::Unknown,
    }
}

/// A classifier for gRPC clients (a tonic `Channel` in a stack): what a response was, by
/// its gRPC status; what an error was, by a second classifier `C`.
///
/// By default `Unavailable`, `DeadlineExceeded`, `ResourceExhausted`, `Internal` and
/// `Unknown` are failures: the server is down, slow, overloaded or broken. Every other
/// code is a success, because the server worked and the request was at fault
/// (`NotFound`, `InvalidArgument`, `PermissionDenied`, ...). A response whose status is
/// still to come in the trailers (see [`status_code`]) counts as a success: the server
/// answered.
///
/// Errors go to `C`, as with [`http::ResponseClassifier`](crate::http::ResponseClassifier):
/// [`DependencyFailures`] by default (for a [`Resilience`](crate::Resilience) stack:
/// transport errors and timeouts are failures, a full bulkhead is ignored);
/// [`errors`](Self::errors) chooses another.
///
/// ```
/// use tower_breakwater::classify::{Classify, Outcome};
/// use tower_breakwater::grpc::{Code, GrpcClassifier};
/// use tower_breakwater::Error;
/// use http::Response;
///
/// let classifier = GrpcClassifier::new();
/// let answer = |code: u8| -> Result<Response<()>, Error<std::io::Error>> {
///     Ok(Response::builder().header("grpc-status", code.to_string()).body(()).unwrap())
/// };
/// assert_eq!(classifier.classify(&answer(14)), Outcome::Failure); // UNAVAILABLE
/// assert_eq!(classifier.classify(&answer(5)), Outcome::Success); // NOT_FOUND
///
/// // A per-user quota should not open the breaker for everyone.
/// let classifier = classifier.code(Code::ResourceExhausted, Outcome::Ignored);
/// assert_eq!(classifier.classify(&answer(8)), Outcome::Ignored);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GrpcClassifier<C = DependencyFailures> {
    /// One bit per code (`1 << code`); a code is in at most one of the two sets.
    failures: u32,
    ignored: u32,
    errors: C,
}

impl GrpcClassifier {
    /// The default rules, with [`DependencyFailures`] for errors.
    ///
    /// ```
    /// use tower_breakwater::classify::Outcome;
    /// use tower_breakwater::grpc::{Code, GrpcClassifier};
    /// assert_eq!(GrpcClassifier::new().outcome(Code::Internal), Outcome::Failure);
    /// assert_eq!(GrpcClassifier::new().outcome(Code::Cancelled), Outcome::Success);
    /// ```
    #[must_use]
    pub fn new() -> Self {
        let failures = [
            Code::Unavailable,
            Code::DeadlineExceeded,
            Code::ResourceExhausted,
            Code::Internal,
            Code::Unknown,
        ]
        .iter()
        .fold(0, |set, code| set | code.bit());
        GrpcClassifier {
            failures,
            ignored: 0,
            errors: DependencyFailures,
        }
    }
}

impl Default for GrpcClassifier {
    fn default() -> Self {
        Self::new()
    }
}

impl<C> GrpcClassifier<C> {
    /// Let `errors` classify the `Err` results (it sees the whole `Result`).
    ///
    /// ```
    /// use tower_breakwater::classify::{Classify, FailOnError, Outcome};
    /// use tower_breakwater::grpc::GrpcClassifier;
    /// let classifier = GrpcClassifier::new().errors(FailOnError);
    /// assert_eq!(classifier.classify(&Err::<http::Response<()>, _>("reset")), Outcome::Failure);
    /// ```
    pub fn errors<C2>(self, errors: C2) -> GrpcClassifier<C2> {
        GrpcClassifier {
            failures: self.failures,
            ignored: self.ignored,
            errors,
        }
    }

    /// What a response with `code` is.
    ///
    /// ```
    /// use tower_breakwater::classify::Outcome;
    /// use tower_breakwater::grpc::{Code, GrpcClassifier};
    /// let classifier = GrpcClassifier::new().code(Code::Aborted, Outcome::Failure);
    /// assert_eq!(classifier.outcome(Code::Aborted), Outcome::Failure);
    /// ```
    #[must_use]
    pub fn code(mut self, code: Code, outcome: Outcome) -> Self {
        self.failures &= !code.bit();
        self.ignored &= !code.bit();
        match outcome {
            Outcome::Failure => self.failures |= code.bit(),
            Outcome::Ignored => self.ignored |= code.bit(),
            Outcome::Success => {}
        }
        self
    }

    /// What a response with `code` is.
    ///
    /// ```
    /// use tower_breakwater::classify::Outcome;
    /// use tower_breakwater::grpc::{Code, GrpcClassifier};
    /// assert_eq!(GrpcClassifier::new().outcome(Code::Ok), Outcome::Success);
    /// ```
    #[inline]
    pub fn outcome(&self, code: Code) -> Outcome {
        if self.failures & code.bit() != 0 {
            Outcome::Failure
        } else if self.ignored & code.bit() != 0 {
            Outcome::Ignored
        } else {
            Outcome::Success
        }
    }
}

impl<B, E, C> Classify<Response<B>, E> for GrpcClassifier<C>
where
    C: Classify<Response<B>, E>,
{
    #[inline]
    fn classify(&self, result: &Result<Response<B>, E>) -> Outcome {
        match result {
            Ok(response) => status_code(response).map_or(Outcome::Success, |c| self.outcome(c)),
            Err(_) => self.errors.classify(result),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bulkhead::BulkheadFull;

    fn with_status(value: &str) -> Response<()> {
        Response::builder()
            .header("grpc-status", value)
            .body(())
            .unwrap()
    }

    #[test]
    fn the_five_failure_codes_and_no_others() {
        let classifier = GrpcClassifier::new();
        for i in 0..=16 {
            let code = Code::from_i32(i);
            let expected = match code {
                Code::Unavailable
                | Code::DeadlineExceeded
                | Code::ResourceExhausted
                | Code::Internal
                | Code::Unknown => Outcome::Failure,
                _ => Outcome::Success,
            };
            let ok: Result<_, crate::Error<()>> = Ok(with_status(&i.to_string()));
            assert_eq!(classifier.classify(&ok), expected, "{code}");
        }
    }

    #[test]
    fn headers_that_are_not_numbers_are_unknown() {
        for bad in ["", "fourteen", "-", "99999999999", "14.0"] {
            assert_eq!(
                status_code(&with_status(bad)),
                Some(Code::Unknown),
                "{bad:?}"
            );
        }
        assert_eq!(status_code(&with_status(" 14 ")), Some(Code::Unavailable));
        assert_eq!(status_code(&with_status("17")), Some(Code::Unknown));
    }

    #[test]
    fn http_statuses_without_grpc_status() {
        let code = |status: u16| status_code(&Response::builder().status(status).body(()).unwrap());
        assert_eq!(code(200), None);
        assert_eq!(code(400), Some(Code::Internal));
        assert_eq!(code(401), Some(Code::Unauthenticated));
        assert_eq!(code(403), Some(Code::PermissionDenied));
        assert_eq!(code(404), Some(Code::Unimplemented));
        for status in [429, 502, 503, 504] {
            assert_eq!(code(status), Some(Code::Unavailable), "{status}");
        }
        assert_eq!(code(500), Some(Code::Unknown));
        // grpc-status wins over the HTTP status.
        let both = Response::builder()
            .status(503)
            .header("grpc-status", "0")
            .body(())
            .unwrap();
        assert_eq!(status_code(&both), Some(Code::Ok));
    }

    #[test]
    fn status_in_trailers_counts_as_success() {
        let ok: Result<_, crate::Error<()>> = Ok(Response::new(()));
        assert_eq!(GrpcClassifier::new().classify(&ok), Outcome::Success);
    }

    #[test]
    fn errors_in_a_stack_match_dependency_failures() {
        let classifier = GrpcClassifier::new();
        let full: Result<Response<()>, crate::Error<&str>> =
            Err(BulkheadFull::new("x", 1, None).into());
        let down: Result<Response<()>, crate::Error<&str>> = Err(crate::Error::Inner("down"));
        assert_eq!(classifier.classify(&full), Outcome::Ignored);
        assert_eq!(classifier.classify(&down), Outcome::Failure);
    }

    #[test]
    fn later_rules_win() {
        let classifier = GrpcClassifier::new()
            .code(Code::Unknown, Outcome::Ignored)
            .code(Code::NotFound, Outcome::Failure)
            .code(Code::Unavailable, Outcome::Success);
        assert_eq!(classifier.outcome(Code::Unknown), Outcome::Ignored);
        assert_eq!(classifier.outcome(Code::NotFound), Outcome::Failure);
        assert_eq!(classifier.outcome(Code::Unavailable), Outcome::Success);
        assert_eq!(classifier.failures & classifier.ignored, 0);
    }
}
