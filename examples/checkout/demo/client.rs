//! The order service's payment client: hyper-util's HTTP client inside the breakwater stack.
//!
//! ```text
//! fallback   a refused or failed payment is deferred to the durable queue
//!            (tower_breakwater::deferred); the order gets 202 "deferred" once it is on disk
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
use tower_breakwater::deferred::{Item, NewItem, Queue};
use tower_breakwater::fallback::{Deferral, Fallback};
use tower_breakwater::http::ResponseClassifier;
use tower_breakwater::metrics::Metrics;
use tower_breakwater::retry::{Backoff, Budget, Jitter, Predicate, RetryLayer, RetryOnError};
use tower_breakwater::{ConfigError, Error, ErrorKind, Resilience};

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
    queue: &Queue,
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

    // Every failure left after retries ends here: the order is accepted all the same once
    // the payment is on disk. Refusals hand the payment back; sent calls need a copy.
    let fallback = Fallback::defer(queue, encode, accepted_pending)
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
        .deferred(queue)
        .register(registry)?;
    Ok(BoxCloneSyncService::new(stack.layer(payments)))
}

async fn read_body(response: Response<Incoming>) -> Result<PaymentResponse, BoxError> {
    let (parts, body) = response.into_parts();
    let body = body.collect().await?.to_bytes();
    Ok(Response::from_parts(parts, body))
}

/// The queued form of a payment: the order number is the idempotency key, the amount the
/// payload.
pub fn encode(payment: &Payment) -> NewItem {
    NewItem::new(
        payment.order.to_string(),
        payment.cents.to_le_bytes().to_vec(),
    )
}

/// A queued payment, back (for the replayer).
pub fn decode(item: &Item) -> Result<Payment, String> {
    let order = item
        .key
        .parse()
        .map_err(|_| format!("key '{}' is not an order", item.key))?;
    let cents = <[u8; 8]>::try_from(item.payload.as_slice())
        .map_err(|_| format!("{} bytes, not an amount", item.payload.len()))?;
    Ok(Payment {
        order,
        cents: u64::from_le_bytes(cents),
    })
}

/// The fallback's answer, given once the payment is durable: 202, and why it waits.
fn accepted_pending(_: Payment, deferral: &Deferral) -> PaymentResponse {
    let reason = match deferral.reason() {
        ErrorKind::Rejected => "breaker-open",
        ErrorKind::Timeout => "timeout",
        ErrorKind::RetriesExhausted => "retries-exhausted",
        _ => "failed",
    };
    Response::builder()
        .status(StatusCode::ACCEPTED)
        .header(DEFERRED, reason)
        .body(Bytes::new())
        .expect("a valid response")
}
