//! The timeout layer on tokio's paused clock: success, expiry with exact times, dropping
//! the abandoned call, readiness, config errors, and the error types it works with.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::{advance, sleep, Instant};
use tower::util::MapErrLayer;
use tower::{service_fn, BoxError, Layer, Service, ServiceBuilder, ServiceExt};
use tower_breakwater::circuit_breaker::{CircuitBreaker, State};
use tower_breakwater::timeout::{Elapsed, Timeout, TimeoutLayer};
use tower_breakwater::Error;

const LIMIT: Duration = Duration::from_millis(250);

fn layer() -> TimeoutLayer {
    TimeoutLayer::new("db", LIMIT).unwrap()
}

/// Sets its flag when dropped: shows that an abandoned call's future is really gone.
struct DropGuard(Arc<AtomicBool>);

impl Drop for DropGuard {
    fn drop(&mut self) {
        self.0.store(true, SeqCst);
    }
}

#[tokio::test(start_paused = true)]
async fn a_call_under_the_limit_succeeds_untouched() {
    let svc = layer().layer(service_fn(|x: u32| async move {
        sleep(LIMIT - Duration::from_millis(1)).await;
        Ok::<_, BoxError>(x + 1)
    }));
    let start = Instant::now();
    assert_eq!(svc.oneshot(41).await.unwrap(), 42);
    assert_eq!(start.elapsed(), LIMIT - Duration::from_millis(1));
}

#[tokio::test(start_paused = true)]
async fn the_inner_error_passes_through_unchanged() {
    let svc = ServiceBuilder::new()
        .layer(layer())
        .layer(MapErrLayer::new(Error::Inner))
        .service(service_fn(|()| async { Err::<(), _>("refused") }));
    let err: Error<&str> = svc.oneshot(()).await.unwrap_err();
    assert!(matches!(err, Error::Inner("refused")));
}

#[tokio::test(start_paused = true)]
async fn expiry_fails_with_the_exact_limit_and_elapsed_time() {
    let svc = layer().layer(service_fn(|()| async {
        sleep(Duration::from_secs(60)).await;
        Ok::<_, BoxError>(())
    }));
    let start = Instant::now();
    let err = svc.oneshot(()).await.unwrap_err();
    assert_eq!(
        start.elapsed(),
        LIMIT,
        "gave up at the limit, not at the end"
    );
    let elapsed = err.downcast::<Elapsed>().expect("an Elapsed");
    assert_eq!(elapsed.name(), "db");
    assert_eq!(elapsed.limit(), LIMIT);
    assert_eq!(elapsed.elapsed(), LIMIT);
}

#[tokio::test(start_paused = true)]
async fn the_limit_counts_from_the_call_not_from_the_first_poll() {
    let mut svc = layer().layer(service_fn(|()| {
        std::future::pending::<Result<(), BoxError>>()
    }));
    let start = Instant::now();
    let future = svc.ready().await.unwrap().call(());
    advance(Duration::from_millis(100)).await;
    let err = future.await.unwrap_err();
    assert_eq!(start.elapsed(), LIMIT);
    assert_eq!(err.downcast::<Elapsed>().unwrap().elapsed(), LIMIT);
}

#[tokio::test(start_paused = true)]
async fn a_future_first_polled_after_its_deadline_reports_the_real_time() {
    let mut svc = layer().layer(service_fn(|()| {
        std::future::pending::<Result<(), BoxError>>()
    }));
    let future = svc.ready().await.unwrap().call(());
    advance(Duration::from_millis(400)).await;
    let err = future.await.unwrap_err();
    let elapsed = err.downcast::<Elapsed>().unwrap();
    assert_eq!(elapsed.limit(), LIMIT);
    assert_eq!(elapsed.elapsed(), Duration::from_millis(400));
}

#[tokio::test(start_paused = true)]
async fn an_answer_ready_at_the_deadline_wins() {
    let svc = layer().layer(service_fn(|()| async {
        sleep(LIMIT).await;
        Ok::<_, BoxError>("made it")
    }));
    assert_eq!(svc.oneshot(()).await.unwrap(), "made it");
}

#[tokio::test(start_paused = true)]
async fn the_abandoned_call_is_dropped_and_never_finishes() {
    let dropped = Arc::new(AtomicBool::new(false));
    let finished = Arc::new(AtomicUsize::new(0));
    let svc = layer().layer(service_fn({
        let (dropped, finished) = (dropped.clone(), finished.clone());
        move |()| {
            let guard = DropGuard(dropped.clone());
            let finished = finished.clone();
            async move {
                let _guard = guard;
                sleep(Duration::from_secs(1)).await;
                finished.fetch_add(1, SeqCst);
                Ok::<_, BoxError>(())
            }
        }
    }));
    let err = svc.oneshot(()).await.unwrap_err();
    assert!(err.is::<Elapsed>());
    assert!(dropped.load(SeqCst), "the inner future was dropped");
    sleep(Duration::from_secs(5)).await;
    assert_eq!(
        finished.load(SeqCst),
        0,
        "and its work never ran to the end"
    );
}

/// An inner service whose readiness is switched from outside.
#[derive(Clone, Default)]
struct Gate {
    open: Arc<AtomicBool>,
    polls: Arc<AtomicUsize>,
}

impl Service<()> for Gate {
    type Response = ();
    type Error = BoxError;
    type Future = std::future::Ready<Result<(), BoxError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.polls.fetch_add(1, SeqCst);
        if self.open.load(SeqCst) {
            Poll::Ready(Ok(()))
        } else {
            Poll::Pending
        }
    }

    fn call(&mut self, (): ()) -> Self::Future {
        std::future::ready(Ok(()))
    }
}

#[tokio::test(start_paused = true)]
async fn readiness_is_passed_on_and_not_timed() {
    let gate = Gate::default();
    let mut svc = layer().layer(gate.clone());
    let poll_once = |svc: &mut Timeout<Gate>| {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        Service::<()>::poll_ready(svc, &mut cx)
    };
    assert!(poll_once(&mut svc).is_pending());
    advance(LIMIT * 10).await;
    assert!(
        poll_once(&mut svc).is_pending(),
        "no timeout while not ready"
    );
    gate.open.store(true, SeqCst);
    assert!(matches!(poll_once(&mut svc), Poll::Ready(Ok(()))));
    assert_eq!(
        gate.polls.load(SeqCst),
        3,
        "each poll reached the inner service"
    );
    svc.call(()).await.unwrap();
}

#[test]
fn config_errors_name_the_field_and_never_panic() {
    let zero = TimeoutLayer::new("db", Duration::ZERO).unwrap_err();
    assert_eq!((zero.field(), zero.value()), ("limit", "0ns"));
    assert_eq!(
        zero.to_string(),
        "invalid config for 'db': limit = 0ns, expected a duration above zero"
    );
    for huge in [Duration::from_secs(11 * 365 * 24 * 3600), Duration::MAX] {
        let err = TimeoutLayer::new("db", huge).unwrap_err();
        assert_eq!(err.field(), "limit");
        assert!(err.expected().starts_with("at most ten years"));
    }
    assert_eq!(TimeoutLayer::new("", LIMIT).unwrap_err().field(), "name");
    assert!(Timeout::new((), "db", Duration::ZERO).is_err());
}

#[tokio::test(start_paused = true)]
async fn the_longest_limit_accepted_works() {
    let ten_years = Duration::from_secs(10 * 365 * 24 * 3600);
    let svc = TimeoutLayer::new("db", ten_years)
        .unwrap()
        .layer(service_fn(|()| {
            std::future::pending::<Result<(), BoxError>>()
        }));
    let err = svc.oneshot(()).await.unwrap_err();
    assert_eq!(err.downcast::<Elapsed>().unwrap().elapsed(), ten_years);
}

#[tokio::test(start_paused = true)]
async fn works_in_a_box_error_stack() {
    // A service with its own error type, lifted to BoxError below the timeout.
    let svc = ServiceBuilder::new()
        .layer(layer())
        .map_err(Into::<BoxError>::into)
        .service(service_fn(|fail: bool| async move {
            if fail {
                Err(std::io::Error::other("reset"))
            } else {
                sleep(Duration::from_secs(1)).await;
                Ok(())
            }
        }));
    let timed_out = svc.clone().oneshot(false).await.unwrap_err();
    assert!(timed_out.is::<Elapsed>());
    let failed = svc.oneshot(true).await.unwrap_err();
    assert!(failed.is::<std::io::Error>());
}

#[tokio::test(start_paused = true)]
async fn works_in_a_breakwater_error_stack() {
    let svc = ServiceBuilder::new()
        .layer(layer())
        .layer(MapErrLayer::new(Error::Inner))
        .service(service_fn(|()| async {
            sleep(Duration::from_secs(1)).await;
            Ok::<(), std::io::Error>(())
        }));
    let err: Error<std::io::Error> = svc.oneshot(()).await.unwrap_err();
    assert!(err.is_timeout());
    let Error::Timeout(elapsed) = err else {
        unreachable!()
    };
    assert_eq!(elapsed.limit(), LIMIT);
}

#[tokio::test(start_paused = true)]
async fn a_breaker_above_counts_timeouts_as_failures() {
    let breaker = CircuitBreaker::builder("db")
        .consecutive_failures(2)
        .open_for(Duration::from_secs(30))
        .build()
        .unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let svc = ServiceBuilder::new()
        .layer(breaker.layer().flat())
        .layer(layer())
        .layer(MapErrLayer::new(Error::Inner))
        .service(service_fn({
            let calls = calls.clone();
            move |()| {
                calls.fetch_add(1, SeqCst);
                async {
                    sleep(Duration::from_secs(1)).await;
                    Ok::<(), std::io::Error>(())
                }
            }
        }));
    for _ in 0..2 {
        let err: Error<std::io::Error> = svc.clone().oneshot(()).await.unwrap_err();
        assert!(err.is_timeout());
    }
    assert_eq!(breaker.state(), State::Open);
    let err = svc.oneshot(()).await.unwrap_err();
    assert!(err.is_rejected());
    assert_eq!(
        calls.load(SeqCst),
        2,
        "the open breaker did not call through"
    );
}

#[test]
fn clones_share_the_config() {
    let layer = layer();
    let svc = layer.clone().layer(());
    assert_eq!((svc.name(), svc.limit()), (layer.name(), layer.limit()));
    let clone = svc.clone();
    assert_eq!(clone.limit(), LIMIT);
}
