//! The per-endpoint service: a gate on readiness, the outcome counting of its calls, and
//! its load for P2C.

use std::task::{Context, Poll};

use tower_layer::Layer;
use tower_service::Service;

use super::future::{InFlight, ResponseFuture};
use super::membership::{Endpoint, Holder};
use super::{ClassifyOutcome, ErrorsAreGatewayFailures};

/// One endpoint of a pool. While its endpoint is ejected (and the pool is not panicking),
/// `poll_ready` answers `Pending` and leaves a waker that the sweep wakes when the ejection
/// ends — so `tower::balance::p2c::Balance` routes around it without polling it again.
/// Every call's outcome goes to the pool's [`OutlierDetector`](super::OutlierDetector),
/// and its round trip (or failure penalty) to the endpoint's load
/// ([`tower::load::Load`]).
///
/// ```
/// use std::task::{Context, Poll};
/// use tower_breakwater::outlier::{CallOutcome, OutlierDetector};
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let detector = OutlierDetector::builder("payments")
///     .min_health_percent(0) // a pool of one: no panic threshold
///     .build()
///     .unwrap();
/// let endpoint = detector.endpoint("10.0.0.7:8080");
/// let mut replica = endpoint
///     .layer()
///     .layer(service_fn(|_: ()| async { Err::<(), _>("connection refused") }));
/// for _ in 0..5 {
///     let _ = replica.ready().await.unwrap().call(()).await;
/// }
/// assert!(endpoint.is_ejected());
/// let mut cx = Context::from_waker(std::task::Waker::noop());
/// assert!(replica.poll_ready(&mut cx).is_pending()); // until the sweep ends the ejection
/// # }
/// ```
pub struct OutlierService<S, C = ErrorsAreGatewayFailures> {
    inner: S,
    member: Holder,
    classify: C,
}

/// Wraps one endpoint's service in an [`OutlierService`]; made by [`Endpoint::layer`].
///
/// ```
/// # use tower_breakwater::outlier::OutlierDetector;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let layer = OutlierDetector::builder("db").build().unwrap().endpoint("a").layer();
/// # }
/// ```
#[derive(Clone)]
pub struct OutlierLayer<C = ErrorsAreGatewayFailures> {
    endpoint: Endpoint,
    classify: C,
}

impl Endpoint {
    /// A layer for this endpoint's service; `Err` is a gateway failure, `Ok` a success.
    ///
    /// ```
    /// # use tower_breakwater::outlier::OutlierDetector;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let layer = OutlierDetector::builder("db").build().unwrap().endpoint("a").layer();
    /// # }
    /// ```
    pub fn layer(&self) -> OutlierLayer {
        self.layer_with(ErrorsAreGatewayFailures)
    }

    /// A layer for this endpoint's service that classifies outcomes with `classify`.
    ///
    /// ```
    /// # use tower_breakwater::outlier::{CallOutcome, OutlierDetector};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let endpoint = OutlierDetector::builder("db").build().unwrap().endpoint("a");
    /// // Status codes as numbers: 502 to 504 are gateway failures, other 5xx server errors.
    /// let layer = endpoint.layer_with(|result: &Result<u16, std::io::Error>| match result {
    ///     Ok(502..=504) | Err(_) => CallOutcome::GatewayFailure,
    ///     Ok(500..) => CallOutcome::ServerError,
    ///     Ok(_) => CallOutcome::Success,
    /// });
    /// # }
    /// ```
    pub fn layer_with<C>(&self, classify: C) -> OutlierLayer<C> {
        OutlierLayer {
            endpoint: self.clone(),
            classify,
        }
    }
}

impl<S, C: Clone> Layer<S> for OutlierLayer<C> {
    type Service = OutlierService<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        OutlierService::new(inner, &self.endpoint, self.classify.clone())
    }
}

impl<S, C> OutlierService<S, C> {
    /// Wrap `inner`, the service of `endpoint`.
    ///
    /// ```
    /// # use tower_breakwater::outlier::{OutlierDetector, OutlierService, ErrorsAreGatewayFailures};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let endpoint = OutlierDetector::builder("db").build().unwrap().endpoint("a");
    /// let svc = OutlierService::new(tower::service_fn(|x: u8| async move { Ok::<_, ()>(x) }), &endpoint, ErrorsAreGatewayFailures);
    /// # }
    /// ```
    pub fn new(inner: S, endpoint: &Endpoint, classify: C) -> Self {
        OutlierService {
            inner,
            member: endpoint.0.clone(),
            classify,
        }
    }

    /// The endpoint this service belongs to.
    ///
    /// ```
    /// # use tower::Layer;
    /// # use tower_breakwater::outlier::OutlierDetector;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let svc = OutlierDetector::builder("db").build().unwrap().endpoint("a").layer().layer(());
    /// assert!(!svc.endpoint().is_ejected());
    /// # }
    /// ```
    pub fn endpoint(&self) -> Endpoint {
        Endpoint(self.member.clone())
    }

    /// The inner service.
    ///
    /// ```
    /// # use tower::Layer;
    /// # use tower_breakwater::outlier::OutlierDetector;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let svc = OutlierDetector::builder("db").build().unwrap().endpoint("a").layer().layer(7u8);
    /// assert_eq!(*svc.get_ref(), 7);
    /// # }
    /// ```
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    ///
    /// ```
    /// # use tower::Layer;
    /// # use tower_breakwater::outlier::OutlierDetector;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mut svc = OutlierDetector::builder("db").build().unwrap().endpoint("a").layer().layer(7u8);
    /// *svc.get_mut() = 8;
    /// assert_eq!(svc.into_inner(), 8);
    /// # }
    /// ```
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service; the endpoint leaves the pool if this was its last service.
    ///
    /// ```
    /// # use tower::Layer;
    /// # use tower_breakwater::outlier::OutlierDetector;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let svc = OutlierDetector::builder("db").build().unwrap().endpoint("a").layer().layer(7u8);
    /// assert_eq!(svc.into_inner(), 7);
    /// # }
    /// ```
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, C, Req> Service<Req> for OutlierService<S, C>
where
    S: Service<Req>,
    C: ClassifyOutcome<S::Response, S::Error> + Clone,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, C>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let health = &self.member.health;
        if health.is_ejected() {
            let shared = &self.member.detector.shared;
            if !shared.panicking() {
                health.register(cx.waker());
                // Re-read after registering: an ejection that ended in between has either
                // been seen here or will wake the waker just left.
                if health.is_ejected() && !shared.panicking() {
                    return Poll::Pending;
                }
            }
        }
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        ResponseFuture::new(
            self.inner.call(req),
            InFlight::start(self.member.for_call()),
            self.classify.clone(),
        )
    }
}

impl<S, C> tower::load::Load for OutlierService<S, C> {
    type Metric = f64;

    /// The endpoint's Peak-EWMA round trip (failures counted as their penalty), decayed
    /// to the pool's last clock reading, × (calls in flight + 1); or, with Peak-EWMA off,
    /// the calls in flight + 1.
    fn load(&self) -> f64 {
        let member = &self.member;
        let in_flight = member.in_flight();
        match member.timed {
            true => member
                .load
                .cost(member.detector.shared.recent_ms(), in_flight),
            false => f64::from(in_flight) + 1.0,
        }
    }
}

impl<S: Clone, C: Clone> Clone for OutlierService<S, C> {
    fn clone(&self) -> Self {
        OutlierService {
            inner: self.inner.clone(),
            member: self.member.clone(),
            classify: self.classify.clone(),
        }
    }
}

impl<S: std::fmt::Debug, C> std::fmt::Debug for OutlierService<S, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutlierService")
            .field("inner", &self.inner)
            .field("endpoint", &self.member.health.label)
            .field("ejected", &self.member.health.is_ejected())
            .finish()
    }
}
