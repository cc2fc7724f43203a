//! HTTP: which responses to retry, `Retry-After`, and which requests may be sent twice.
//! (Feature `http`.)
//!
//! ```
//! use std::time::Duration;
//! use tower_breakwater::retry::http::{IdempotentRequests, RetryOnStatus};
//! use tower_breakwater::retry::{Backoff, RetryLayer};
//! use tower_breakwater::Error;
//! use http::{Request, Response, StatusCode};
//! use tower::{service_fn, Layer, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let retry = RetryLayer::builder("catalog")
//!     .retry_if(RetryOnStatus)
//!     .copy_request(IdempotentRequests)
//!     .max_retry_after(Duration::from_secs(30))
//!     .build()
//!     .unwrap();
//! let started = tokio::time::Instant::now();
//! let calls = std::sync::atomic::AtomicU32::new(0);
//! let calls = &calls;
//! let svc = retry.layer(service_fn(move |_: Request<String>| async move {
//!     let first = calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed) == 0;
//!     let response = if first {
//!         Response::builder().status(503).header("retry-after", "2").body(String::new())
//!     } else {
//!         Response::builder().status(200).body("ok".to_string())
//!     };
//!     Ok::<_, Error<std::io::Error, Request<String>>>(response.unwrap())
//! }));
//! let response = svc.oneshot(Request::get("/items").body(String::new()).unwrap()).await.unwrap();
//! assert_eq!(response.status(), StatusCode::OK);
//! assert_eq!(started.elapsed(), Duration::from_secs(2)); // as the 503 asked
//! # }
//! ```

use std::time::{Duration, SystemTime};

use ::http::header::{HeaderMap, HeaderValue, RETRY_AFTER};
use ::http::{Request, Response, StatusCode};

use super::{CopyRequest, Predicate, RetryOnError};
use crate::Error;

/// The predicate for HTTP clients: what [`RetryOnError`] retries (timeouts, inner errors),
/// plus responses with status 429 Too Many Requests, 502 Bad Gateway, 503 Service
/// Unavailable and 504 Gateway Timeout. On a 429 or a 503, a `Retry-After` header sets the
/// next wait (capped by the layer's `max_retry_after`).
///
/// ```
/// use tower_breakwater::retry::http::RetryOnStatus;
/// use tower_breakwater::retry::Predicate;
/// use tower_breakwater::Error;
/// use http::Response;
///
/// let outcome = |status: u16| -> Result<Response<()>, Error<std::io::Error>> {
///     Ok(Response::builder().status(status).body(()).unwrap())
/// };
/// assert!(RetryOnStatus.should_retry(&outcome(503)));
/// assert!(!RetryOnStatus.should_retry(&outcome(500)));
/// assert!(!RetryOnStatus.should_retry(&outcome(200)));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetryOnStatus;

impl<B, E, Req> Predicate<Response<B>, E, Req> for RetryOnStatus {
    fn should_retry(&self, outcome: &Result<Response<B>, Error<E, Req>>) -> bool {
        match outcome {
            Ok(response) => matches!(
                response.status(),
                StatusCode::TOO_MANY_REQUESTS
                    | StatusCode::BAD_GATEWAY
                    | StatusCode::SERVICE_UNAVAILABLE
                    | StatusCode::GATEWAY_TIMEOUT
            ),
            Err(_) => RetryOnError.should_retry(outcome),
        }
    }

    fn retry_after(&self, outcome: &Result<Response<B>, Error<E, Req>>) -> Option<Duration> {
        match outcome {
            Ok(response)
                if matches!(
                    response.status(),
                    StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
                ) =>
            {
                retry_after(response.headers())
            }
            _ => None,
        }
    }
}

/// The wait a `Retry-After` header in `headers` asks for: `delay-seconds` (`"120"`) or an
/// HTTP date (`"Wed, 21 Oct 2015 07:28:00 GMT"`, or the two obsolete forms RFC 9110 asks
/// recipients to accept), measured from the system clock. A date in the past means no
/// wait. `None` if there is no such header or it is malformed.
///
/// ```
/// use std::time::Duration;
/// use tower_breakwater::retry::http::retry_after;
/// use http::HeaderMap;
///
/// let mut headers = HeaderMap::new();
/// assert_eq!(retry_after(&headers), None);
/// headers.insert("retry-after", "120".parse().unwrap());
/// assert_eq!(retry_after(&headers), Some(Duration::from_secs(120)));
/// headers.insert("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap());
/// assert_eq!(retry_after(&headers), Some(Duration::ZERO)); // long past
/// ```
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    parse_retry_after(headers.get(RETRY_AFTER)?, SystemTime::now())
}

fn parse_retry_after(value: &HeaderValue, now: SystemTime) -> Option<Duration> {
    let text = value.to_str().ok()?.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        // More digits than a u64 holds is still a (very long) wait: capped later.
        return Some(text.parse().map_or(Duration::MAX, Duration::from_secs));
    }
    let date = httpdate::parse_http_date(text).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

/// A copier for `http::Request<B>` with a buffered body (`B: Clone`) that replays only
/// requests safe to send twice: an idempotent method (GET, HEAD, OPTIONS, TRACE, PUT,
/// DELETE; RFC 9110 §9.2.2) or an `Idempotency-Key` header. Others (a POST without a key)
/// are sent once.
///
/// ```
/// use tower_breakwater::retry::http::IdempotentRequests;
/// use tower_breakwater::retry::CopyRequest;
/// use http::Request;
///
/// let get = Request::get("/orders/7").body(String::new()).unwrap();
/// let post = Request::post("/orders").body("{}".to_string()).unwrap();
/// let keyed = Request::post("/orders").header("idempotency-key", "k-42").body("{}".to_string()).unwrap();
/// assert!(IdempotentRequests.copy_request(&get).is_some());
/// assert!(IdempotentRequests.copy_request(&post).is_none());
/// assert_eq!(IdempotentRequests.copy_request(&keyed).unwrap().body(), "{}");
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IdempotentRequests;

impl<B: Clone> CopyRequest<Request<B>> for IdempotentRequests {
    fn copy_request(&self, request: &Request<B>) -> Option<Request<B>> {
        let safe =
            request.method().is_idempotent() || request.headers().contains_key("idempotency-key");
        safe.then(|| request.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &'static str, now: SystemTime) -> Option<Duration> {
        parse_retry_after(&HeaderValue::from_static(text), now)
    }

    #[test]
    fn delay_seconds() {
        let now = SystemTime::now();
        assert_eq!(parse("0", now), Some(Duration::ZERO));
        assert_eq!(parse(" 17 ", now), Some(Duration::from_secs(17)));
        assert_eq!(parse("99999999999999999999999", now), Some(Duration::MAX));
        for bad in ["", "-1", "+5", "1.5", "soon", "5s"] {
            assert_eq!(parse(bad, now), None, "{bad:?}");
        }
    }

    #[test]
    fn http_dates_in_all_three_forms() {
        // 1994-11-06 08:49:37 UTC, from RFC 9110's examples.
        let date = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        let before = date - Duration::from_secs(90);
        for form in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        ] {
            assert_eq!(parse(form, before), Some(Duration::from_secs(90)), "{form}");
        }
        assert_eq!(
            parse(
                "Sun, 06 Nov 1994 08:49:37 GMT",
                date + Duration::from_secs(5)
            ),
            Some(Duration::ZERO)
        );
        assert_eq!(parse("Sun, 06 Nov 1994 25:00:00 GMT", before), None);
    }

    #[test]
    fn only_429_and_503_carry_a_wait() {
        let with = |status: u16| -> Result<Response<()>, Error<()>> {
            Ok(Response::builder()
                .status(status)
                .header("retry-after", "3")
                .body(())
                .unwrap())
        };
        assert_eq!(
            RetryOnStatus.retry_after(&with(429)),
            Some(Duration::from_secs(3))
        );
        assert_eq!(
            RetryOnStatus.retry_after(&with(503)),
            Some(Duration::from_secs(3))
        );
        assert_eq!(RetryOnStatus.retry_after(&with(502)), None);
        assert_eq!(RetryOnStatus.retry_after(&with(200)), None);
        for status in [429, 502, 503, 504] {
            assert!(RetryOnStatus.should_retry(&with(status)), "{status}");
        }
        for status in [200, 400, 404, 500, 501] {
            assert!(!RetryOnStatus.should_retry(&with(status)), "{status}");
        }
    }

    #[test]
    fn errors_follow_the_default_predicate() {
        let inner: Result<Response<()>, Error<&str>> = Err(Error::Inner("reset"));
        let full: Result<Response<()>, Error<&str>> =
            Err(crate::bulkhead::BulkheadFull::new("x", 1, None).into());
        assert!(RetryOnStatus.should_retry(&inner));
        assert!(!RetryOnStatus.should_retry(&full));
    }

    #[test]
    fn idempotent_methods_are_copied() {
        for method in ["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"] {
            let req = Request::builder().method(method).body(()).unwrap();
            assert!(IdempotentRequests.copy_request(&req).is_some(), "{method}");
        }
        for method in ["POST", "PATCH", "CONNECT"] {
            let req = Request::builder().method(method).body(()).unwrap();
            assert!(IdempotentRequests.copy_request(&req).is_none(), "{method}");
        }
    }
}
