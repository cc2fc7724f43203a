//! The configurations under test: how service A's `/checkout` calls payments.
//!
//! Each one is the same hyper-util client (a 5xx answer is an error, so every breaker sees
//! it as a failure without a classifier of its own), wrapped differently. Durations are the
//! full-scale design's, multiplied by the run's scale. Every breaker reports its
//! transitions to [`crate::service_a::transition`], so the driver can time them.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower::util::BoxCloneSyncService;
use tower::{BoxError, Layer, Service, ServiceBuilder, ServiceExt};

use crate::deferred::DeferredPayments;
use crate::recovery::{self, Recovery};
use crate::service_a::transition;

/// What a checkout's call to payments came to, when it did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paid {
    Charged,
    /// Not charged now; the payment is on disk, to be charged later.
    Deferred,
}

pub type Checkout = BoxCloneSyncService<u64, Paid, BoxError>;

/// The configurations of the main table, in its order.
pub const MAIN: [&str; 6] = [
    "unprotected",
    "timeout-only",
    "tower-resilience",
    "failsafe",
    "seatbelt",
    "breakwater",
];

/// The breakers' shared thresholds (full scale).
pub const TIMEOUT: Duration = Duration::from_secs(1);
pub const UNPROTECTED_TIMEOUT: Duration = Duration::from_secs(30);
pub const CONSECUTIVE_FAILURES: u32 = 5;
pub const OPEN_FOR: Duration = Duration::from_secs(1);
pub const HALF_OPEN_PERMITS: u32 = 2;
pub const MAX_CONCURRENT: usize = 50;

/// Build configuration `name` around a client of payments at `uri`.
pub fn build(
    name: &str,
    scale: f64,
    uri: &str,
    deferred: &DeferredPayments,
) -> Result<Checkout, BoxError> {
    let http = PaymentsHttp::new(uri);
    let s = |d: Duration| d.mul_f64(scale);
    let checkout = match name {
        "unprotected" => boxed(tower::timeout::Timeout::new(http, s(UNPROTECTED_TIMEOUT))),
        "timeout-only" => boxed(tower::timeout::Timeout::new(http, s(TIMEOUT))),
        "tower-resilience" => {
            let layer = tower_resilience::circuitbreaker::CircuitBreakerLayer::builder()
                .name("payments")
                .consecutive_failures(CONSECUTIVE_FAILURES as usize)
                .wait_duration_in_open(s(OPEN_FOR))
                .permitted_calls_in_half_open(HALF_OPEN_PERMITS as usize)
                .on_state_transition(|_, to| transition(&format!("{to:?}")))
                .build()?;
            let timeout = tower::timeout::Timeout::new(http, s(TIMEOUT));
            boxed(
                layer
                    .layer(timeout)
                    .map_err(|e| BoxError::from(e.to_string())),
            )
        }
        "failsafe" => {
            let policy = failsafe::failure_policy::consecutive_failures(
                CONSECUTIVE_FAILURES,
                failsafe::backoff::constant(s(OPEN_FOR)),
            );
            let breaker = failsafe::Config::new()
                .failure_policy(policy)
                .instrument(FailsafeEvents)
                .build();
            let timeout = tower::timeout::Timeout::new(http, s(TIMEOUT));
            boxed(Failsafe {
                breaker,
                inner: timeout,
            })
        }
        "seatbelt" => seatbelt(http, s(TIMEOUT), s(OPEN_FOR))?,
        other => {
            let Some(recovery) = Recovery::named(other) else {
                return Err(format!("unknown configuration '{other}'").into());
            };
            recovery::breakwater(&recovery, scale, http, deferred.clone())?
        }
    };
    Ok(checkout)
}

/// Box any service of payments whose error converts to a `BoxError`.
pub fn boxed<S>(service: S) -> Checkout
where
    S: Service<u64, Response = Paid> + Clone + Send + Sync + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    BoxCloneSyncService::new(service.map_err(Into::into))
}

/// seatbelt 0.11's breaker with its defaults (a failure rate of 10 % over 30 s, at least
/// 100 calls, a progressive half-open ramp) but the shared open period.
fn seatbelt(
    http: PaymentsHttp,
    timeout: Duration,
    open_for: Duration,
) -> Result<Checkout, BoxError> {
    use seatbelt::breaker::Breaker;
    use seatbelt::{RecoveryInfo, ResilienceContext};
    let clock = tick::Clock::new_tokio();
    let context = ResilienceContext::new(&clock).name("cascade");
    let layer = Breaker::layer("payments", &context)
        .recovery_with(|result: &Result<Paid, BoxError>, _| match result {
            Ok(_) => RecoveryInfo::never(),
            Err(_) => RecoveryInfo::retry(),
        })
        .rejected_input_error(|_, _| BoxError::from("circuit open"))
        .break_duration(open_for)
        .on_opened(|_, _| transition("Open"))
        .on_closed(|_, _| transition("Closed"));
    let timeout = ServiceBuilder::new()
        .map_err(BoxError::from)
        .timeout(timeout)
        .service(http);
    Ok(boxed(layered::Layer::layer(&layer, timeout)))
}

/// failsafe's futures API around the timed-out call (failsafe has no tower layer).
#[derive(Clone)]
struct Failsafe<S> {
    breaker: failsafe::StateMachine<
        failsafe::failure_policy::ConsecutiveFailures<failsafe::backoff::Constant>,
        FailsafeEvents,
    >,
    inner: S,
}

impl<S> Service<u64> for Failsafe<S>
where
    S: Service<u64, Response = Paid, Error = BoxError> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Paid;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Paid, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, order: u64) -> Self::Future {
        use failsafe::futures::CircuitBreaker as _;
        let call = self.breaker.call(self.inner.call(order));
        Box::pin(async move {
            call.await.map_err(|e| match e {
                failsafe::Error::Inner(e) => e,
                failsafe::Error::Rejected => BoxError::from("circuit open"),
            })
        })
    }
}

#[derive(Clone, Copy)]
struct FailsafeEvents;

impl failsafe::Instrument for FailsafeEvents {
    fn on_call_rejected(&self) {}
    fn on_open(&self) {
        transition("Open");
    }
    fn on_half_open(&self) {
        transition("HalfOpen");
    }
    fn on_closed(&self) {
        transition("Closed");
    }
}

/// `POST /charge` to payments; anything but a 2xx answer is an error.
#[derive(Clone)]
pub struct PaymentsHttp {
    client: Client<HttpConnector, Full<Bytes>>,
    uri: Arc<str>,
}

impl PaymentsHttp {
    pub fn new(uri: &str) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        PaymentsHttp {
            client: Client::builder(TokioExecutor::new()).build(connector),
            uri: uri.into(),
        }
    }
}

impl Service<u64> for PaymentsHttp {
    type Response = Paid;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Paid, BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, order: u64) -> Self::Future {
        let request = Request::post(&*self.uri)
            .header("idempotency-key", order)
            .body(Full::from("100"))
            .expect("a valid request");
        let response = self.client.request(request);
        Box::pin(async move {
            let response = response.await?;
            let status = response.status();
            response.into_body().collect().await?;
            if status.is_success() {
                Ok(Paid::Charged)
            } else {
                Err(format!("payments answered {status}").into())
            }
        })
    }
}
