//! The HTTP mapping of breakwater's errors (feature `http`).
#![cfg(feature = "http")]

use std::time::Duration;

use http::header::RETRY_AFTER;
use http::StatusCode;
use tower_breakwater::bulkhead::BulkheadFull;
use tower_breakwater::circuit_breaker::CircuitBreaker;
use tower_breakwater::retry::RetriesExhausted;
use tower_breakwater::timeout::Elapsed;
use tower_breakwater::Error;

#[tokio::test(start_paused = true)]
async fn an_open_breaker_is_a_503_with_retry_after_rounded_up() {
    let breaker = CircuitBreaker::builder("payments")
        .consecutive_failures(1)
        .open_for(Duration::from_secs(30))
        .build()
        .unwrap();
    breaker.try_acquire().unwrap().failure();
    tokio::time::advance(Duration::from_millis(10_500)).await;
    let error: Error<&str> = breaker.try_acquire().unwrap_err().into();
    let response: http::Response<String> = error.to_response();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        response.headers()[RETRY_AFTER],
        "20",
        "19.5 s left, rounded up"
    );
    assert_eq!(response.body(), "service unavailable", "no breaker name");
    let detailed: http::Response<String> = error.to_detailed_response();
    assert_eq!(detailed.headers()[RETRY_AFTER], "20");
    assert!(detailed
        .body()
        .starts_with("circuit 'payments' is open; retry after 19.500s"));
}

#[test]
fn the_default_body_names_no_breaker_and_no_inner_error() {
    let limit = Duration::from_secs(1);
    let secret = "db password rejected for user 'ops' at 10.0.0.7";
    let errors: [(Error<&str>, &str); 4] = [
        (Error::Inner(secret), "internal server error"),
        (
            Elapsed::new("ledger-db", limit, limit).into(),
            "gateway timeout",
        ),
        (
            BulkheadFull::new("ledger-db", 4, None).into(),
            "service unavailable",
        ),
        (
            RetriesExhausted::new("ledger-db", 3, false, Error::Inner(secret)).into(),
            "internal server error",
        ),
    ];
    for (error, body) in errors {
        let response: http::Response<String> = error.to_response();
        assert_eq!(response.body(), body, "{error}");
        assert!(!response.body().contains("ledger-db"));
        let detailed: http::Response<String> = error.to_detailed_response();
        assert_eq!(detailed.body(), &error.to_string());
    }
}

#[test]
fn each_error_kind_has_its_status() {
    let limit = Duration::from_secs(1);
    let timeout: Error<&str> = Elapsed::new("db", limit, limit).into();
    let full: Error<&str> = BulkheadFull::new("db", 4, None).into();
    let inner: Error<&str> = Error::Inner("boom");
    let gave_up: Error<&str> =
        RetriesExhausted::new("db", 3, false, Elapsed::new("db", limit, limit).into()).into();

    assert_eq!(timeout.status(), StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(full.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(inner.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        gave_up.status(),
        StatusCode::GATEWAY_TIMEOUT,
        "the last attempt's status"
    );
    let too_many: http::Response<String> =
        full.to_response_with_bulkhead_status(StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(too_many.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(too_many.body(), "too many requests");
    assert!(too_many.headers().get(RETRY_AFTER).is_none());
    let timeout_too: http::Response<String> =
        timeout.to_response_with_bulkhead_status(StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        timeout_too.status(),
        StatusCode::GATEWAY_TIMEOUT,
        "only the bulkhead's moves"
    );
    let response: http::Response<String> = inner.to_response();
    assert_eq!(response.body(), "internal server error");
}
