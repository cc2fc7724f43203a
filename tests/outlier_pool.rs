//! The gate and the load under `tower::balance::p2c::Balance`, on the paused clock: an
//! ejected endpoint is not polled again until its ejection ends, gets no call meanwhile,
//! and P2C steers away from a failing endpoint before any ejection.
#![cfg(all(feature = "outlier", feature = "http"))]

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use tokio::time::{sleep, sleep_until, Instant};
use tower::balance::p2c::Balance;
use tower::discover::ServiceList;
use tower::load::Load;
use tower::{service_fn, BoxError, Layer, Service, ServiceExt};
use tower_breakwater::outlier::{HttpOutcomes, OutlierDetector, OutlierDiscover};

#[derive(Default)]
struct Wakes(AtomicUsize);

impl Wake for Wakes {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Relaxed);
    }
}

#[tokio::test(start_paused = true)]
async fn an_ejected_gate_is_pending_and_woken_once_when_the_sweep_ends_it() {
    let start = Instant::now();
    let detector = OutlierDetector::builder("pool")
        .interval(Duration::from_secs(10))
        .max_ejection_percent(100)
        .min_health_percent(0) // one endpoint of one ejected would be a panic
        .build()
        .unwrap();
    let endpoint = detector.endpoint("a");
    let mut svc = endpoint.layer().layer(service_fn(|fail: bool| async move {
        match fail {
            true => Err::<(), BoxError>("refused".into()),
            false => Ok(()),
        }
    }));
    for _ in 0..5 {
        let _ = svc.ready().await.unwrap().call(true).await;
    }
    let wakes = Arc::new(Wakes::default());
    let waker = Waker::from(wakes.clone());
    let mut cx = Context::from_waker(&waker);
    assert!(svc.poll_ready(&mut cx).is_pending());
    assert!(svc.poll_ready(&mut cx).is_pending()); // the same waker is kept once
                                                   // Ejected at 0 s for 30 s: the sweep at 30 s ends it, and wakes the waker once.
    sleep_until(start + Duration::from_millis(29_900)).await;
    assert_eq!(wakes.0.load(Relaxed), 0);
    sleep_until(start + Duration::from_millis(30_100)).await;
    assert_eq!(wakes.0.load(Relaxed), 1);
    assert!(svc.poll_ready(&mut cx).is_ready());
    svc.call(false).await.unwrap();
}

/// Counts `poll_ready` calls around an endpoint (outside its gate), and forwards its load.
struct CountPolls<S> {
    inner: S,
    polls: Arc<AtomicUsize>,
}

impl<S: Service<R>, R> Service<R> for CountPolls<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.polls.fetch_add(1, Relaxed);
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: R) -> S::Future {
        self.inner.call(req)
    }
}

impl<S: Load> Load for CountPolls<S> {
    type Metric = S::Metric;
    fn load(&self) -> S::Metric {
        self.inner.load()
    }
}

#[tokio::test(start_paused = true)]
async fn balance_routes_around_an_ejected_endpoint_without_polling_it() {
    let start = Instant::now();
    let detector = OutlierDetector::builder("pool")
        .interval(Duration::from_secs(10))
        .max_ejection_percent(50)
        .build()
        .unwrap();
    let calls: Arc<Vec<AtomicUsize>> = Arc::new((0..4).map(|_| AtomicUsize::new(0)).collect());
    let polls: Vec<Arc<AtomicUsize>> = (0..4).map(|_| Arc::default()).collect();
    let endpoints: Vec<_> = (0..4).map(|i| detector.endpoint(format!("r{i}"))).collect();
    let services = (0..4).map(|i| {
        let calls = calls.clone();
        let replica = service_fn(move |_: ()| {
            calls[i].fetch_add(1, Relaxed);
            async move {
                sleep(Duration::from_millis(5)).await;
                match i {
                    0 => Err::<usize, BoxError>("refused".into()),
                    _ => Ok(i),
                }
            }
        });
        CountPolls {
            inner: endpoints[i].layer().layer(replica),
            polls: polls[i].clone(),
        }
    });
    let mut pool = Balance::new(ServiceList::new(services.collect::<Vec<_>>()));
    // Warm the balancer up, then eject replica 0 (P2C's load biasing avoids it after its
    // first failure, so its five failures in a row are recorded here).
    for _ in 0..20 {
        let _ = pool.ready().await.unwrap().call(()).await;
    }
    for _ in 0..5 {
        endpoints[0].record(tower_breakwater::outlier::CallOutcome::GatewayFailure);
    }
    assert!(endpoints[0].is_ejected());
    let (calls_before, polls_before) = (calls[0].load(Relaxed), polls[0].load(Relaxed));
    // 25 s of traffic, inside the ejection.
    let mut served = 0;
    while Instant::now() < start + Duration::from_secs(25) {
        let r = pool.ready().await.unwrap().call(()).await.unwrap();
        assert_ne!(r, 0);
        served += 1;
    }
    assert!(served > 1000, "{served}");
    assert_eq!(
        calls[0].load(Relaxed),
        calls_before,
        "an ejected replica got a call"
    );
    // The balancer polled it at most once more to learn it is pending, then waited.
    assert!(
        polls[0].load(Relaxed) - polls_before <= 1,
        "{}",
        polls[0].load(Relaxed)
    );
    // Ejected at 0.1 s (after the warm-up) for 30 s: back at the sweep of 40 s. Its gate
    // was woken, and the balancer calls it again (once its failure penalty has decayed
    // below the others' load).
    sleep_until(start + Duration::from_millis(39_900)).await;
    assert!(endpoints[0].is_ejected());
    sleep_until(start + Duration::from_millis(40_100)).await;
    assert!(!endpoints[0].is_ejected());
    while calls[0].load(Relaxed) == calls_before {
        let _ = pool.ready().await.unwrap().call(()).await;
    }
    assert_eq!(detector.ejected(), 0);
}

/// Replica 0 answers one 503 (with a `Retry-After` of `retry_after` if set), then 200s;
/// replica 1 always 200 in 10 ms. One call a second; returns when replica 0 is first
/// picked again after its failure, in seconds.
async fn back_after_failure(retry_after: Option<&'static str>) -> Option<u64> {
    let detector = OutlierDetector::builder("pool").build().unwrap();
    let failed = Arc::new(AtomicUsize::new(0));
    let replicas = (0..2usize).map(|i| {
        let failed = failed.clone();
        service_fn(move |_: ()| {
            let failed = failed.clone();
            async move {
                sleep(Duration::from_millis(10)).await;
                let mut response = http::Response::builder();
                if i == 0 && failed.fetch_add(1, Relaxed) == 0 {
                    response = response.status(503);
                    if let Some(wait) = retry_after {
                        response = response.header("retry-after", wait);
                    }
                }
                Ok::<_, BoxError>(response.header("x-replica", i).body(()).unwrap())
            }
        })
    });
    let discover = OutlierDiscover::with_classifier(
        ServiceList::new(replicas.collect::<Vec<_>>()),
        &detector,
        HttpOutcomes,
    );
    let mut pool = Balance::new(discover);
    let replica = |r: &http::Response<()>| r.headers()["x-replica"].to_str().unwrap().to_owned();
    // Until replica 0 has answered its 503.
    while failed.load(Relaxed) == 0 {
        pool.ready().await.unwrap().call(()).await.unwrap();
    }
    let failed_at = Instant::now();
    for _ in 0..100 {
        sleep(Duration::from_secs(1)).await;
        let r = pool.ready().await.unwrap().call(()).await.unwrap();
        if replica(&r) == "0" {
            return Some(failed_at.elapsed().as_secs());
        }
    }
    None
}

#[tokio::test(start_paused = true)]
async fn p2c_steers_away_from_a_failure_for_its_penalty_raised_by_retry_after() {
    // Replica 1's estimate settles at 10 ms. Replica 0's failure counts as 5 s, decaying
    // by e every 10 s: below 10 ms after 10·ln(500) = 62.1 s.
    let back = back_after_failure(None).await.unwrap();
    assert!((62..=64).contains(&back), "{back}");
    // Raised to a Retry-After of 60 s: below 10 ms after 10·ln(6000) = 87.0 s.
    let back = back_after_failure(Some("60")).await.unwrap();
    assert!((87..=89).contains(&back), "{back}");
    // No consecutive-5xx ejection took part: one failure only.
}

#[tokio::test(start_paused = true)]
async fn load_counts_calls_in_flight_not_handles_or_clones() {
    let detector = OutlierDetector::builder("pool")
        .peak_ewma(false)
        .build()
        .unwrap();
    let endpoint = detector.endpoint("a");
    let mut svc = endpoint.layer().layer(service_fn(|_: ()| async {
        sleep(Duration::from_secs(1)).await;
        Ok::<_, BoxError>(())
    }));
    let handles = (endpoint.clone(), endpoint.clone(), svc.clone());
    assert_eq!(svc.load(), 1.0);
    let calls: Vec<_> = (0..3).map(|_| svc.call(())).collect();
    assert_eq!(svc.load(), 4.0);
    let mut calls = calls.into_iter();
    drop(calls.next()); // a call given up: out of flight, counted neither way
    assert_eq!(svc.load(), 3.0);
    for call in calls {
        call.await.unwrap();
    }
    assert_eq!(handles.2.load(), 1.0);
    drop(handles);
    assert_eq!(svc.load(), 1.0);
}

/// A `Discover` fed by hand: the changes sent on the channel.
struct Changes<S>(tokio::sync::mpsc::UnboundedReceiver<tower::discover::Change<&'static str, S>>);

impl<S> futures_core::Stream for Changes<S> {
    type Item = Result<tower::discover::Change<&'static str, S>, BoxError>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx).map(|change| change.map(Ok))
    }
}

#[tokio::test(start_paused = true)]
async fn endpoints_come_and_go_with_discovery_and_their_state() {
    use tower::discover::Change;
    let detector = OutlierDetector::builder("pool")
        .max_ejection_percent(100)
        .min_health_percent(0)
        .peak_ewma(false)
        .build()
        .unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let replica = |name: &'static str| {
        service_fn(move |_: ()| async move {
            match name {
                "bad" => Err::<&str, BoxError>("refused".into()),
                _ => Ok(name),
            }
        })
    };
    tx.send(Change::Insert("good", replica("good"))).unwrap();
    tx.send(Change::Insert("bad", replica("bad"))).unwrap();
    let mut pool = Balance::new(OutlierDiscover::new(Changes(rx), &detector));
    while detector.ejected() == 0 {
        let _ = pool.ready().await.unwrap().call(()).await;
    }
    assert_eq!(detector.endpoints(), 2);
    assert_eq!(detector.snapshot()[1].label, "bad");
    // Removed while ejected: it leaves with its ejection.
    tx.send(Change::Remove("bad")).unwrap();
    assert_eq!(pool.ready().await.unwrap().call(()).await.unwrap(), "good");
    assert_eq!((detector.endpoints(), detector.ejected()), (1, 0));
    // Inserted again under the same key: a new endpoint, in the pool.
    tx.send(Change::Insert("bad", replica("bad"))).unwrap();
    let _ = pool.ready().await.unwrap().call(()).await;
    assert_eq!((detector.endpoints(), detector.ejected()), (2, 0));
    assert_eq!(detector.snapshot()[1].times_ejected, 0);
}

#[tokio::test(start_paused = true)]
async fn a_pool_that_panics_wakes_its_ejected_gates_and_lets_them_through() {
    // 2 endpoints, min health 50 %: one ejected leaves 50 % (no panic), two leave 0 %.
    let detector = OutlierDetector::builder("pool")
        .max_ejection_percent(100)
        .min_health_percent(50)
        .build()
        .unwrap();
    let (a, b) = (detector.endpoint("a"), detector.endpoint("b"));
    let mut svc = a
        .layer()
        .layer(service_fn(|_: ()| async { Ok::<_, BoxError>(()) }));
    for _ in 0..5 {
        a.record(tower_breakwater::outlier::CallOutcome::ServerError);
    }
    let wakes = Arc::new(Wakes::default());
    let waker = Waker::from(wakes.clone());
    let mut cx = Context::from_waker(&waker);
    assert!(svc.poll_ready(&mut cx).is_pending());
    for _ in 0..5 {
        b.record(tower_breakwater::outlier::CallOutcome::ServerError);
    }
    assert!(detector.panicking());
    assert_eq!(wakes.0.load(Relaxed), 1);
    assert!(svc.poll_ready(&mut cx).is_ready());
}
