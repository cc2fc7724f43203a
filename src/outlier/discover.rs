//! [`OutlierDiscover`]: every endpoint that discovery inserts joins the detector's pool,
//! wrapped in an [`OutlierService`]; it leaves when the balancer drops it.

use std::fmt::Display;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures_core::Stream;
use pin_project_lite::pin_project;
use tower::discover::{Change, Discover};

use super::{ErrorsAreGatewayFailures, OutlierDetector, OutlierService};

pin_project! {
    /// Wraps a [`Discover`] (what `tower::balance::p2c::Balance` takes): each inserted
    /// endpoint joins the pool under its key's text and is handed on as an
    /// [`OutlierService`], whose readiness is its ejection gate and whose `Load` is its
    /// penalized Peak-EWMA. A removed endpoint is dropped by the balancer and leaves the
    /// pool with its state; an endpoint inserted again starts afresh.
    ///
    /// ```
    /// use tower::balance::p2c::Balance;
    /// use tower::discover::ServiceList;
    /// use tower::{service_fn, BoxError, Service, ServiceExt};
    /// use tower_breakwater::outlier::{OutlierDetector, OutlierDiscover};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let detector = OutlierDetector::builder("payments").build().unwrap();
    /// let replicas = ServiceList::new((0..3).map(|i| service_fn(move |_: ()| async move { Ok::<_, BoxError>(i) })));
    /// let mut balance = Balance::new(OutlierDiscover::new(replicas, &detector));
    /// let replica = balance.ready().await.unwrap().call(()).await.unwrap();
    /// assert!(replica < 3);
    /// assert_eq!(detector.endpoints(), 3);
    /// # }
    /// ```
    #[derive(Debug)]
    pub struct OutlierDiscover<D, C = ErrorsAreGatewayFailures> {
        #[pin]
        discover: D,
        detector: OutlierDetector,
        classify: C,
    }
}

impl<D> OutlierDiscover<D> {
    /// Endpoints of `discover` join `detector`'s pool; an `Err` is a gateway failure.
    ///
    /// ```
    /// # use tower_breakwater::outlier::{OutlierDetector, OutlierDiscover};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let detector = OutlierDetector::builder("db").build().unwrap();
    /// let list = tower::discover::ServiceList::new(vec![tower::service_fn(|_: ()| async { Ok::<_, ()>(()) })]);
    /// let discover = OutlierDiscover::new(list, &detector);
    /// # }
    /// ```
    pub fn new(discover: D, detector: &OutlierDetector) -> Self {
        Self::with_classifier(discover, detector, ErrorsAreGatewayFailures)
    }
}

impl<D, C> OutlierDiscover<D, C> {
    /// Endpoints of `discover` join `detector`'s pool; `classify` decides outcomes.
    ///
    /// ```
    /// # use tower_breakwater::outlier::{CallOutcome, OutlierDetector, OutlierDiscover};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let detector = OutlierDetector::builder("db").build().unwrap();
    /// let list = tower::discover::ServiceList::new(vec![tower::service_fn(|_: ()| async { Ok::<u16, ()>(200) })]);
    /// let by_status = |r: &Result<u16, ()>| match r {
    ///     Ok(500..) | Err(_) => CallOutcome::ServerError,
    ///     Ok(_) => CallOutcome::Success,
    /// };
    /// let discover = OutlierDiscover::with_classifier(list, &detector, by_status);
    /// # }
    /// ```
    pub fn with_classifier(discover: D, detector: &OutlierDetector, classify: C) -> Self {
        OutlierDiscover {
            discover,
            detector: detector.clone(),
            classify,
        }
    }
}

impl<D, C> Stream for OutlierDiscover<D, C>
where
    D: Discover,
    D::Key: Display,
    C: Clone,
{
    type Item = Result<Change<D::Key, OutlierService<D::Service, C>>, D::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.project();
        let change = match ready!(this.discover.poll_discover(cx)) {
            None => return Poll::Ready(None),
            Some(Err(e)) => return Poll::Ready(Some(Err(e))),
            Some(Ok(change)) => change,
        };
        Poll::Ready(Some(Ok(match change {
            Change::Insert(key, service) => {
                let endpoint = this.detector.endpoint(key.to_string());
                let service = OutlierService::new(service, &endpoint, this.classify.clone());
                Change::Insert(key, service)
            }
            Change::Remove(key) => Change::Remove(key),
        })))
    }
}
