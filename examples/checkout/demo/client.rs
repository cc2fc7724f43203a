//! The order service's payment client: hyper-util's HTTP client inside the breakwater stack.
//!
//! ```text
//! fallback   a refused or failed payment is queued on disk; the order gets 202 "deferred"
//! retry      up to 3 attempts for 5xx and timeouts, within a 20% retry budget
//! breaker    opens on 5 failures in a row (a 5xx, a 429 or a timeout), open 1 s, 2 trials
//! timeout    200 ms per attempt
//! hyper      POST /charge with the order number as idempotency key
//! ```

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use prometheus::Registry;
use tower::util::BoxCloneSyncService;
use tower::{BoxError, Layer, ServiceBuilder};
use tower_breakwater::circuit_breaker::CircuitBreaker;
use tower_breakwater::fallback::Fallback;
use tower_breakwater::http::ResponseClassifier;
use tower_breakwater::metrics::Metrics;
use tower_breakwater::retry::{Backoff, Budget, Jitter, Predicate, RetryLayer, RetryOnError};
use tower_breakwater::{ConfigError, Error, ErrorKind, Resilience};

use super::queue::DurableQueue;
use super::Payment;

pub type PaymentResponse = Response<Bytes>;
pub type PaymentError = Error<BoxError, Payment>;
pub type PaymentOutcome = Result<PaymentResponse, PaymentError>;
/// What the order service calls: a payment in, the payment service's answer (or the
/// fallback's 202) out.
pub type PaymentClient = BoxCloneSyncService<Payment, PaymentResponse, PaymentError>;

/// The header the fallback sets on its own answers, saying why the payment was deferred.
pub const DEFERRED: &str = "x-payment-deferred";

pub const TIMEOUT: Duration = Duration::from_millis(200);

pub fn breaker() -> Result<CircuitBreaker, ConfigError> {
    CircuitBreaker::builder("payments")
        .consecutive_failures(5)
        .open_for(Duration::from_secs(1))
        .half_open_permits(2)
        .success_threshold(2)
        .build()
}

/// The client, its every layer's metrics registered in `registry`.
pub fn payment_client(
    addr: SocketAddr,
    breaker: &CircuitBreaker,
    queue: DurableQueue,
    registry: &Registry,
) -> Result<PaymentClient, BoxError> {
    let http = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let uri = format!("http://{addr}/charge");
    let to_http = move |payment: Payment| {
        Request::post(uri.as_str())
            .header("idempotency-key", payment.order)
            .body(Full::from(payment.cents.to_string()))
            .expect("a valid request")
    };
    let payments = ServiceBuilder::new()
        .map_request(to_http)
        .and_then(read_body)
        .service(http);

    let retry = RetryLayer::builder("payments")
        .max_attempts(3)
        .backoff(Backoff::exponential(
            Duration::from_millis(20),
            2.0,
            Duration::from_millis(200),
        ))
        .jitter(Jitter::Full)
        .budget(
            Budget::builder()
                .ratio(0.2)
                .min_per_second(5)
                .window(Duration::from_secs(5))
                .build()?,
        )
        .retry_if(|outcome: &PaymentOutcome| match outcome {
            // The idempotency key makes a second POST safe.
            Ok(response) => response.status().is_server_error(),
            Err(_) => RetryOnError.should_retry(outcome),
        })
        .build()?;

    // Every failure left after retries ends here: the order is accepted all the same and
    // the payment waits on disk. Refusals hand the payment back; sent calls need a copy.
    let fallback = Fallback::new("payments", move |error: PaymentError, payment| {
        let queue = queue.clone();
        async move {
            let Some(payment) = payment else {
                return Err(error);
            };
            if let Err(e) = queue.push(payment).await {
                // Not on disk: tell the caller, who must not accept the order.
                return Err(Error::Inner(format!("queue write failed: {e}").into()));
            }
            let reason = match error.kind() {
                ErrorKind::Rejected => "breaker-open",
                ErrorKind::Timeout => "timeout",
                ErrorKind::RetriesExhausted => "retries-exhausted",
                _ => "failed",
            };
            Ok(Response::builder()
                .status(StatusCode::ACCEPTED)
                .header(DEFERRED, reason)
                .body(Bytes::new())
                .expect("a valid response"))
        }
    })
    .on(ErrorKind::Timeout)
    .on(ErrorKind::RetriesExhausted)
    .on(ErrorKind::Inner)
    .copy_request();

    let stack = Resilience::builder("payments")
        .fallback(&fallback)
        .retry(&retry)
        .circuit_breaker_with(breaker, ResponseClassifier::new())
        .timeout(TIMEOUT)
        .build()?;
    Metrics::new()
        .circuit_breaker(breaker)
        .retry(&retry)
        .timeout(stack.timeout_layer())
        .fallback(&fallback)
        .register(registry)?;
    Ok(BoxCloneSyncService::new(stack.layer(payments)))
}

async fn read_body(response: Response<Incoming>) -> Result<PaymentResponse, BoxError> {
    let (parts, body) = response.into_parts();
    let body = body.collect().await?.to_bytes();
    Ok(Response::from_parts(parts, body))
}
