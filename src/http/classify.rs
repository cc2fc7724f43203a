//! Which `http::Response`s count as failures.

use std::fmt;
use std::ops::RangeInclusive;

use http::{Response, StatusCode};

use crate::classify::{Classify, DependencyFailures, Outcome};

/// The lowest and highest codes `http::StatusCode` can hold.
const FIRST: u16 = 100;
const LAST: u16 = 999;
const WORDS: usize = (LAST - FIRST) as usize / 64 + 1;

/// A classifier for HTTP clients: what a response was, by its status; what an error was,
/// by a second classifier `C`.
///
/// By default:
///
/// | status | outcome | why |
/// |---|---|---|
/// | 5xx (and the non-standard 600–999) | [`Failure`](Outcome::Failure) | the server could not do its job |
/// | 429 Too Many Requests | [`Failure`](Outcome::Failure) | the server asks us to send less, which is what an open breaker does (make it [`Ignored`](Outcome::Ignored) with [`too_many_requests`](Self::too_many_requests) when the limit is a per-user quota rather than the server's capacity) |
/// | other 4xx | [`Success`](Outcome::Success) | the server is well; the request was wrong |
/// | 1xx, 2xx, 3xx | [`Success`](Outcome::Success) | |
///
/// Errors (`Err`) go to `C`, which sees the whole `Result`. The default,
/// [`DependencyFailures`], is the classifier of a [`Resilience`](crate::Resilience) stack,
/// whose error is [`tower_breakwater::Error`](crate::Error): a timeout or the client's own error
/// is a failure, a full bulkhead is ignored. Around a service with its own error type (a
/// lone breaker in front of a hyper client), choose with [`errors`](Self::errors), e.g.
/// [`FailOnError`](crate::classify::FailOnError).
///
/// ```
/// use std::time::Duration;
/// use tower_breakwater::circuit_breaker::{CircuitBreaker, State};
/// use tower_breakwater::http::ResponseClassifier;
/// use tower_breakwater::{Error, Resilience};
/// use http::Response;
/// use tower::{service_fn, Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let breaker = CircuitBreaker::builder("search").consecutive_failures(2).build().unwrap();
/// let stack = Resilience::builder("search")
///     .circuit_breaker_with(&breaker, ResponseClassifier::new())
///     .timeout(Duration::from_secs(1))
///     .build()
///     .unwrap();
/// let search = stack.layer(service_fn(|status: u16| async move {
///     Ok::<_, std::io::Error>(Response::builder().status(status).body(()).unwrap())
/// }));
/// search.clone().oneshot(502).await.unwrap();
/// search.clone().oneshot(503).await.unwrap();
/// let refused: Error<std::io::Error, u16> = search.oneshot(200).await.unwrap_err();
/// assert!(refused.is_rejected());
/// assert_eq!(breaker.state(), State::Open);
/// # }
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ResponseClassifier<C = DependencyFailures> {
    /// One bit per status code from 100 to 999; a code is in at most one of the two sets
    /// (in neither: a success).
    failures: [u64; WORDS],
    ignored: [u64; WORDS],
    errors: C,
}

impl ResponseClassifier {
    /// The default rules (table above), with [`DependencyFailures`] for errors.
    ///
    /// ```
    /// use tower_breakwater::classify::Outcome;
    /// use tower_breakwater::http::ResponseClassifier;
    /// use http::StatusCode;
    ///
    /// let classifier = ResponseClassifier::new();
    /// assert_eq!(classifier.outcome(StatusCode::SERVICE_UNAVAILABLE), Outcome::Failure);
    /// assert_eq!(classifier.outcome(StatusCode::TOO_MANY_REQUESTS), Outcome::Failure);
    /// assert_eq!(classifier.outcome(StatusCode::NOT_FOUND), Outcome::Success);
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self::with_errors(DependencyFailures)
    }
}

impl Default for ResponseClassifier {
    fn default() -> Self {
        Self::new()
    }
}

impl<C> ResponseClassifier<C> {
    fn with_errors(errors: C) -> Self {
        let classifier = ResponseClassifier {
            failures: [0; WORDS],
            ignored: [0; WORDS],
            errors,
        };
        classifier
            .statuses(500..=LAST, Outcome::Failure)
            .too_many_requests(Outcome::Failure)
    }

    /// Let `errors` classify the `Err` results (it sees the whole `Result`, and is asked
    /// only for errors).
    ///
    /// ```
    /// use tower_breakwater::classify::{Classify, FailOnError, Outcome};
    /// use tower_breakwater::http::ResponseClassifier;
    ///
    /// let classifier = ResponseClassifier::new().errors(FailOnError);
    /// let reset: Result<http::Response<()>, std::io::Error> =
    ///     Err(std::io::ErrorKind::ConnectionReset.into());
    /// assert_eq!(classifier.classify(&reset), Outcome::Failure);
    /// ```
    pub fn errors<C2>(self, errors: C2) -> ResponseClassifier<C2> {
        ResponseClassifier {
            failures: self.failures,
            ignored: self.ignored,
            errors,
        }
    }

    /// What a 429 Too Many Requests is (a failure by default).
    ///
    /// ```
    /// use tower_breakwater::classify::Outcome;
    /// use tower_breakwater::http::ResponseClassifier;
    /// use http::StatusCode;
    ///
    /// let quota_per_user = ResponseClassifier::new().too_many_requests(Outcome::Ignored);
    /// assert_eq!(quota_per_user.outcome(StatusCode::TOO_MANY_REQUESTS), Outcome::Ignored);
    /// ```
    #[must_use]
    pub fn too_many_requests(self, outcome: Outcome) -> Self {
        self.status(StatusCode::TOO_MANY_REQUESTS, outcome)
    }

    /// What `status` is.
    ///
    /// ```
    /// use tower_breakwater::classify::Outcome;
    /// use tower_breakwater::http::ResponseClassifier;
    /// use http::StatusCode;
    ///
    /// // A 501 from this server means "not for this request", not "sick".
    /// let classifier = ResponseClassifier::new()
    ///     .status(StatusCode::NOT_IMPLEMENTED, Outcome::Success)
    ///     .status(StatusCode::REQUEST_TIMEOUT, Outcome::Failure);
    /// assert_eq!(classifier.outcome(StatusCode::NOT_IMPLEMENTED), Outcome::Success);
    /// assert_eq!(classifier.outcome(StatusCode::REQUEST_TIMEOUT), Outcome::Failure);
    /// ```
    #[must_use]
    pub fn status(self, status: StatusCode, outcome: Outcome) -> Self {
        let code = status.as_u16();
        self.statuses(code..=code, outcome)
    }

    /// What every status in `codes` is. Codes outside 100–999 (which no response can
    /// carry) are left out; an empty range changes nothing.
    ///
    /// ```
    /// use tower_breakwater::classify::Outcome;
    /// use tower_breakwater::http::ResponseClassifier;
    /// use http::StatusCode;
    ///
    /// // Count client errors neither way: only 5xx and 429 should move the breaker.
    /// let classifier = ResponseClassifier::new()
    ///     .statuses(400..=499, Outcome::Ignored)
    ///     .too_many_requests(Outcome::Failure);
    /// assert_eq!(classifier.outcome(StatusCode::BAD_REQUEST), Outcome::Ignored);
    /// assert_eq!(classifier.outcome(StatusCode::TOO_MANY_REQUESTS), Outcome::Failure);
    /// ```
    #[must_use]
    pub fn statuses(mut self, codes: RangeInclusive<u16>, outcome: Outcome) -> Self {
        let first = (*codes.start()).max(FIRST);
        let last = (*codes.end()).min(LAST);
        for code in first..=last {
            let (word, bit) = slot(code);
            self.failures[word] &= !bit;
            self.ignored[word] &= !bit;
            match outcome {
                Outcome::Failure => self.failures[word] |= bit,
                Outcome::Ignored => self.ignored[word] |= bit,
                Outcome::Success => {}
            }
        }
        self
    }

    /// What a response with `status` is.
    ///
    /// ```
    /// use tower_breakwater::classify::Outcome;
    /// use tower_breakwater::http::ResponseClassifier;
    /// use http::StatusCode;
    /// assert_eq!(ResponseClassifier::new().outcome(StatusCode::OK), Outcome::Success);
    /// ```
    #[inline]
    pub fn outcome(&self, status: StatusCode) -> Outcome {
        let (word, bit) = slot(status.as_u16());
        if self.failures[word] & bit != 0 {
            Outcome::Failure
        } else if self.ignored[word] & bit != 0 {
            Outcome::Ignored
        } else {
            Outcome::Success
        }
    }
}

/// Where `code` (100..=999, as `StatusCode` guarantees) lives in a set.
#[inline]
fn slot(code: u16) -> (usize, u64) {
    let index = usize::from(code.clamp(FIRST, LAST) - FIRST);
    (index / 64, 1 << (index % 64))
}

impl<B, E, C> Classify<Response<B>, E> for ResponseClassifier<C>
where
    C: Classify<Response<B>, E>,
{
    #[inline]
    fn classify(&self, result: &Result<Response<B>, E>) -> Outcome {
        match result {
            Ok(response) => self.outcome(response.status()),
            Err(_) => self.errors.classify(result),
        }
    }
}

impl<C: fmt::Debug> fmt::Debug for ResponseClassifier<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseClassifier")
            .field("failures", &Ranges(&self.failures))
            .field("ignored", &Ranges(&self.ignored))
            .field("errors", &self.errors)
            .finish()
    }
}

/// A set of codes shown as ranges (`[429, 500..=999]`) rather than 30 words of bits.
struct Ranges<'a>(&'a [u64; WORDS]);

impl fmt::Debug for Ranges<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let has = |code: u16| {
            let (word, bit) = slot(code);
            self.0[word] & bit != 0
        };
        let mut list = f.debug_list();
        let mut code = FIRST;
        while code <= LAST {
            if !has(code) {
                code += 1;
                continue;
            }
            let start = code;
            while code < LAST && has(code + 1) {
                code += 1;
            }
            if start == code {
                list.entry(&format_args!("{start}"));
            } else {
                list.entry(&format_args!("{start}..={code}"));
            }
            code += 1;
        }
        list.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bulkhead::BulkheadFull;
    use crate::classify::FailOnError;

    fn response(status: u16) -> Response<()> {
        Response::builder().status(status).body(()).unwrap()
    }

    #[test]
    fn defaults_by_class() {
        let classifier = ResponseClassifier::new();
        for code in [100, 200, 204, 301, 304, 400, 401, 404, 408, 499] {
            let ok: Result<_, crate::Error<()>> = Ok(response(code));
            assert_eq!(classifier.classify(&ok), Outcome::Success, "{code}");
        }
        for code in [429, 500, 501, 502, 503, 504, 599, 600, 999] {
            let ok: Result<_, crate::Error<()>> = Ok(response(code));
            assert_eq!(classifier.classify(&ok), Outcome::Failure, "{code}");
        }
    }

    #[test]
    fn errors_in_a_stack_match_dependency_failures() {
        let classifier = ResponseClassifier::new();
        let cases: [Result<Response<()>, crate::Error<&str>>; 3] = [
            Err(crate::Error::Inner("reset")),
            Err(crate::timeout::Elapsed::new(
                "x",
                std::time::Duration::from_secs(1),
                std::time::Duration::from_secs(1),
            )
            .into()),
            Err(BulkheadFull::new("x", 1, None).into()),
        ];
        for case in &cases {
            assert_eq!(
                classifier.classify(case),
                DependencyFailures.classify(case),
                "{case:?}"
            );
        }
        assert_eq!(classifier.classify(&cases[2]), Outcome::Ignored);
    }

    #[test]
    fn errors_of_a_lone_client() {
        let classifier = ResponseClassifier::new().errors(FailOnError);
        assert_eq!(
            classifier.classify(&Err::<Response<()>, _>("refused")),
            Outcome::Failure
        );
        assert_eq!(
            classifier.classify(&Ok::<_, ()>(response(503))),
            Outcome::Failure
        );
    }

    #[test]
    fn later_rules_win_and_sets_stay_disjoint() {
        let classifier = ResponseClassifier::new()
            .statuses(400..=599, Outcome::Ignored)
            .status(StatusCode::BAD_GATEWAY, Outcome::Failure)
            .too_many_requests(Outcome::Success);
        assert_eq!(
            classifier.outcome(StatusCode::BAD_REQUEST),
            Outcome::Ignored
        );
        assert_eq!(
            classifier.outcome(StatusCode::INTERNAL_SERVER_ERROR),
            Outcome::Ignored
        );
        assert_eq!(
            classifier.outcome(StatusCode::BAD_GATEWAY),
            Outcome::Failure
        );
        assert_eq!(
            classifier.outcome(StatusCode::TOO_MANY_REQUESTS),
            Outcome::Success
        );
        for word in 0..WORDS {
            assert_eq!(classifier.failures[word] & classifier.ignored[word], 0);
        }
    }

    #[test]
    #[allow(clippy::reversed_empty_ranges)] // on purpose: an empty range changes nothing
    fn out_of_range_and_empty_ranges_do_not_panic() {
        let classifier = ResponseClassifier::new()
            .statuses(0..=150, Outcome::Failure)
            .statuses(990..=u16::MAX, Outcome::Ignored)
            .statuses(1000..=2000, Outcome::Failure)
            .statuses(300..=200, Outcome::Failure);
        assert_eq!(classifier.outcome(StatusCode::CONTINUE), Outcome::Failure);
        assert_eq!(
            classifier.outcome(StatusCode::from_u16(999).unwrap()),
            Outcome::Ignored
        );
        assert_eq!(classifier.outcome(StatusCode::OK), Outcome::Success);
        assert_eq!(
            classifier.outcome(StatusCode::MULTIPLE_CHOICES),
            Outcome::Success
        );
    }

    #[test]
    fn debug_shows_ranges() {
        let text = format!("{:?}", ResponseClassifier::new());
        assert!(
            text.contains("failures: [429, 500..=999], ignored: []"),
            "{text}"
        );
    }
}
