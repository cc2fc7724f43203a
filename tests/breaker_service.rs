//! The circuit breaker as a tower layer: sharing, readiness, rejections, cancellation and
//! stale outcomes, on tokio's paused clock.

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::time::{advance, sleep, timeout, Instant};
use tower::{service_fn, Layer, Service, ServiceExt};
use tower_breakwater::circuit_breaker::{CircuitBreaker, Error, State};

const OPEN_FOR: Duration = Duration::from_secs(10);

const READY: u8 = 0;
const PENDING: u8 = 1;
const BROKEN: u8 = 2;

/// A hand-written inner service that counts how often it is polled and called. Its readiness
/// is set from outside (`READY`, `PENDING`, `BROKEN`); a negative request fails.
#[derive(Debug, Clone, Default)]
struct Probe {
    ready_polls: Arc<AtomicUsize>,
    calls: Arc<AtomicUsize>,
    readiness: Arc<AtomicU8>,
}

impl Probe {
    fn ready_polls(&self) -> usize {
        self.ready_polls.load(SeqCst)
    }
    fn calls(&self) -> usize {
        self.calls.load(SeqCst)
    }
    fn set(&self, readiness: u8) {
        self.readiness.store(readiness, SeqCst);
    }
}

impl Service<i32> for Probe {
    type Response = i32;
    type Error = &'static str;
    type Future = std::future::Ready<Result<i32, &'static str>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.ready_polls.fetch_add(1, SeqCst);
        match self.readiness.load(SeqCst) {
            READY => Poll::Ready(Ok(())),
            PENDING => Poll::Pending,
            _ => Poll::Ready(Err("not ready")),
        }
    }

    fn call(&mut self, request: i32) -> Self::Future {
        self.calls.fetch_add(1, SeqCst);
        std::future::ready(if request < 0 {
            Err("boom")
        } else {
            Ok(request)
        })
    }
}

/// Poll `svc` for readiness once, with a waker that does nothing.
fn poll_ready_once<S: Service<R>, R>(svc: &mut S) -> Poll<Result<(), S::Error>> {
    svc.poll_ready(&mut Context::from_waker(Waker::noop()))
}

fn breaker(failures: u32, permits: u32, threshold: u32) -> CircuitBreaker {
    CircuitBreaker::builder("payments")
        .consecutive_failures(failures)
        .open_for(OPEN_FOR)
        .half_open_permits(permits)
        .success_threshold(threshold)
        .build()
        .unwrap()
}

/// An inner service that takes `(how long, succeed?)` and sleeps that long on tokio's clock.
#[allow(clippy::type_complexity)]
fn sleeper() -> impl Service<
    (Duration, bool),
    Response = (),
    Error = &'static str,
    Future = impl std::future::Future<Output = Result<(), &'static str>> + Send,
> + Clone {
    service_fn(|(took, ok): (Duration, bool)| async move {
        sleep(took).await;
        if ok {
            Ok(())
        } else {
            Err("boom")
        }
    })
}

#[tokio::test(start_paused = true)]
async fn every_clone_and_every_layer_call_share_one_breaker() {
    let breaker = breaker(3, 1, 1);
    let (probe_a, probe_c) = (Probe::default(), Probe::default());
    let mut a = breaker.layer().layer(probe_a.clone());
    let mut b = a.clone();
    let mut c = breaker.layer().layer(probe_c.clone());

    // One failure through each: three in a row on the one breaker.
    for svc in [&mut a, &mut b, &mut c] {
        let result = svc.ready().await.unwrap().call(-1).await;
        assert!(matches!(result, Err(Error::Inner("boom"))));
    }
    assert_eq!(breaker.state(), State::Open);
    assert_eq!(breaker.snapshot().totals.failures, 3);

    for svc in [&mut a, &mut b, &mut c] {
        let result = svc.ready().await.unwrap().call(1).await;
        assert!(matches!(result, Err(Error::Rejected(_))));
    }
    assert_eq!((probe_a.calls(), probe_c.calls()), (2, 1));
    assert_eq!(breaker.snapshot().totals.rejected, 3);
    assert_eq!(c.breaker().state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn an_open_breaker_is_ready_without_polling_or_calling_the_inner_service() {
    let breaker = breaker(1, 1, 1);
    let probe = Probe::default();
    let mut svc = breaker.layer().layer(probe.clone());

    // Closed: readiness is the inner service's.
    probe.set(PENDING);
    assert!(poll_ready_once(&mut svc).is_pending());
    assert_eq!(probe.ready_polls(), 1);

    breaker.try_acquire().unwrap().failure();
    assert_eq!(breaker.state(), State::Open);
    drop(svc); // it held a closed-period permit from the pending poll

    // Open: Ready at once although the inner service is still pending, and never polled.
    let mut svc = breaker.layer().layer(probe.clone());
    assert!(matches!(poll_ready_once(&mut svc), Poll::Ready(Ok(()))));
    assert!(matches!(poll_ready_once(&mut svc), Poll::Ready(Ok(()))));
    let Err(Error::Rejected(rejected)) = svc.call(7).await else {
        panic!("expected a rejection");
    };
    assert_eq!(rejected.into_request(), Some(7));
    assert_eq!((probe.ready_polls(), probe.calls()), (1, 0));

    // Forced open: the same.
    breaker.force_open();
    assert!(matches!(poll_ready_once(&mut svc), Poll::Ready(Ok(()))));
    assert!(svc.call(8).await.unwrap_err().is_rejected());
    assert_eq!((probe.ready_polls(), probe.calls()), (1, 0));

    // Half-open with its one permit taken: the same.
    breaker.reset();
    breaker.try_acquire().unwrap().failure();
    advance(OPEN_FOR).await;
    let trial = breaker.try_acquire().unwrap();
    assert!(matches!(poll_ready_once(&mut svc), Poll::Ready(Ok(()))));
    let rejected = svc.call(9).await.unwrap_err();
    assert_eq!(rejected.rejected().unwrap().state(), State::HalfOpen);
    assert_eq!((probe.ready_polls(), probe.calls()), (1, 0));
    assert_eq!(breaker.snapshot().totals.rejected, 3);
    trial.success();
}

#[tokio::test(start_paused = true)]
async fn the_rejection_names_the_breaker_says_when_and_hands_the_request_back() {
    let breaker = breaker(1, 1, 1);
    let probe = Probe::default();
    let mut svc = breaker.layer().layer(probe.clone());
    let tripped_at = Instant::now();
    svc.ready().await.unwrap().call(-1).await.unwrap_err();
    advance(Duration::from_secs(4)).await;

    let err = svc.ready().await.unwrap().call(42).await.unwrap_err();
    assert!(err.is_rejected());
    assert_eq!(
        err.to_string(),
        "circuit 'payments' is open; retry after 6.000s"
    );
    let Error::Rejected(rejected) = err else {
        unreachable!()
    };
    assert_eq!(rejected.name(), "payments");
    assert_eq!(rejected.state(), State::Open);
    assert_eq!(rejected.retry_at(), Some(tripped_at + OPEN_FOR));
    assert_eq!(rejected.retry_after(), Some(Duration::from_secs(6)));
    assert_eq!(rejected.request(), Some(&42));
    assert_eq!(rejected.into_request(), Some(42));
    assert_eq!(probe.calls(), 1, "only the failed call reached the service");
}

#[tokio::test(start_paused = true)]
async fn a_rejection_costs_no_inner_call_and_counts_once() {
    let breaker = breaker(5, 2, 2);
    let probe = Probe::default();
    let mut svc = breaker.layer().layer(probe.clone());
    breaker.force_open();
    for _ in 0..3 {
        assert!(matches!(poll_ready_once(&mut svc), Poll::Ready(Ok(()))));
    }
    assert!(svc.call(1).await.unwrap_err().is_rejected());
    let totals = breaker.snapshot().totals;
    assert_eq!((totals.rejected, totals.calls()), (1, 1));
    assert_eq!((probe.ready_polls(), probe.calls()), (0, 0));

    breaker.reset();
    assert_eq!(svc.ready().await.unwrap().call(5).await.unwrap(), 5);
    assert_eq!((probe.ready_polls(), probe.calls()), (1, 1));
    assert_eq!(breaker.snapshot().totals.successes, 1);
}

#[tokio::test(start_paused = true)]
async fn a_dropped_response_future_gives_back_its_trial_and_counts_only_cancelled() {
    let breaker = breaker(1, 1, 1);
    let mut svc = breaker.layer().layer(sleeper());
    breaker.try_acquire().unwrap().failure();
    advance(OPEN_FOR).await;

    let in_flight = svc
        .ready()
        .await
        .unwrap()
        .call((Duration::from_secs(3600), true));
    assert_eq!(breaker.state(), State::HalfOpen);
    assert_eq!(breaker.snapshot().half_open_trials, 1);
    // Polled, mid-flight, then dropped by the timeout.
    assert!(timeout(Duration::from_secs(1), in_flight).await.is_err());

    let snap = breaker.snapshot();
    assert_eq!(snap.state, State::HalfOpen);
    assert_eq!((snap.half_open_trials, snap.half_open_successes), (0, 0));
    let t = snap.totals;
    assert_eq!(
        (t.successes, t.failures, t.ignored, t.rejected, t.cancelled),
        (0, 1, 0, 0, 1)
    );

    // The permit is free: the next trial is admitted and closes the breaker.
    svc.ready()
        .await
        .unwrap()
        .call((Duration::ZERO, true))
        .await
        .unwrap();
    assert_eq!(breaker.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn dropping_a_service_polled_ready_gives_back_its_trial() {
    let breaker = breaker(1, 1, 1);
    let probe = Probe::default();
    let mut holder = breaker.layer().layer(probe.clone());
    let mut other = holder.clone();
    breaker.try_acquire().unwrap().failure();
    advance(OPEN_FOR).await;

    holder.ready().await.unwrap(); // takes the only permit
    assert_eq!(breaker.snapshot().half_open_trials, 1);
    assert!(other
        .ready()
        .await
        .unwrap()
        .call(1)
        .await
        .unwrap_err()
        .is_rejected());

    drop(holder);
    let snap = breaker.snapshot();
    assert_eq!((snap.state, snap.half_open_trials), (State::HalfOpen, 0));
    assert_eq!((snap.totals.cancelled, snap.totals.rejected), (1, 1));
    assert_eq!(probe.calls(), 0);

    assert_eq!(other.ready().await.unwrap().call(2).await.unwrap(), 2);
    assert_eq!(breaker.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_call_from_before_a_trip_cannot_reopen_or_close_half_open() {
    let breaker = breaker(1, 1, 1);
    let mut svc = breaker.layer().layer(sleeper());
    let start = Instant::now();

    // Two slow calls admitted while closed (generation 0).
    let slow_failure = tokio::spawn(
        svc.ready()
            .await
            .unwrap()
            .call((Duration::from_secs(30), false)),
    );
    let slow_success = tokio::spawn(
        svc.ready()
            .await
            .unwrap()
            .call((Duration::from_secs(31), true)),
    );
    // A fast failure trips the breaker.
    let fast = svc.ready().await.unwrap().call((Duration::ZERO, false));
    assert!(matches!(fast.await, Err(Error::Inner("boom"))));
    assert_eq!(breaker.state(), State::Open);

    sleep(OPEN_FOR).await;
    let trial = tokio::spawn(
        svc.ready()
            .await
            .unwrap()
            .call((Duration::from_secs(60), true)),
    );
    assert_eq!(breaker.state(), State::HalfOpen);
    let generation = breaker.snapshot().generation;

    assert!(matches!(
        slow_failure.await.unwrap(),
        Err(Error::Inner("boom"))
    ));
    assert_eq!(Instant::now() - start, Duration::from_secs(30));
    assert_eq!(
        breaker.state(),
        State::HalfOpen,
        "a stale failure must not reopen"
    );
    slow_success.await.unwrap().unwrap();
    let snap = breaker.snapshot();
    assert_eq!(
        snap.state,
        State::HalfOpen,
        "a stale success must not close"
    );
    assert_eq!(snap.generation, generation);
    assert_eq!((snap.half_open_trials, snap.half_open_successes), (1, 0));
    // Both stale calls still count in the totals.
    assert_eq!((snap.totals.successes, snap.totals.failures), (1, 2));

    trial.await.unwrap().unwrap();
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(breaker.transitions(State::HalfOpen, State::Open), 0);
    assert_eq!(breaker.transitions(State::HalfOpen, State::Closed), 1);
}

#[tokio::test(start_paused = true)]
async fn a_call_from_before_a_trip_cannot_trip_the_next_closed_period() {
    let breaker = breaker(1, 1, 1);
    let mut svc = breaker.layer().layer(sleeper());
    let slow_failure = tokio::spawn(
        svc.ready()
            .await
            .unwrap()
            .call((Duration::from_secs(60), false)),
    );
    let fast = svc.ready().await.unwrap().call((Duration::ZERO, false));
    assert!(fast.await.is_err());
    sleep(OPEN_FOR).await;
    svc.ready()
        .await
        .unwrap()
        .call((Duration::ZERO, true))
        .await
        .unwrap();
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(breaker.snapshot().generation, 3);

    // One failure trips this breaker, but this one started in generation 0.
    assert!(slow_failure.await.unwrap().is_err());
    let snap = breaker.snapshot();
    assert_eq!((snap.state, snap.generation), (State::Closed, 3));
    assert_eq!(snap.consecutive_failures, Some(0));
    assert_eq!(breaker.transitions(State::Closed, State::Open), 1);
}

#[tokio::test(start_paused = true)]
async fn an_inner_poll_ready_error_counts_as_a_failure() {
    let breaker = breaker(2, 1, 1);
    let probe = Probe::default();
    let mut svc = breaker.layer().layer(probe.clone());
    probe.set(BROKEN);
    for _ in 0..2 {
        let err = svc.ready().await.unwrap_err();
        assert!(matches!(err, Error::Inner("not ready")));
    }
    assert_eq!(breaker.state(), State::Open);
    let totals = breaker.snapshot().totals;
    assert_eq!((totals.failures, totals.calls()), (2, 2));
    assert_eq!((probe.ready_polls(), probe.calls()), (2, 0));

    // In half-open, a readiness error is a failed trial.
    advance(OPEN_FOR).await;
    let mut svc = breaker.layer().layer(probe.clone());
    assert!(matches!(svc.ready().await, Err(Error::Inner("not ready"))));
    assert_eq!(breaker.state(), State::Open);
    assert_eq!(breaker.transitions(State::HalfOpen, State::Open), 1);
    assert_eq!(breaker.snapshot().half_open_trials, 0);
}

#[tokio::test(start_paused = true)]
async fn a_slow_call_is_timed_from_call_not_from_poll_ready() {
    let breaker = CircuitBreaker::builder("payments")
        .count_window(10)
        .slow_calls(Duration::from_millis(100), 0.5)
        .build()
        .unwrap();
    let mut svc = breaker.layer().layer(sleeper());
    svc.ready().await.unwrap();
    advance(Duration::from_secs(1)).await; // ready long before the request is sent
    svc.call((Duration::from_millis(50), true)).await.unwrap();
    assert_eq!(breaker.snapshot().totals.slow, 0);
    svc.ready()
        .await
        .unwrap()
        .call((Duration::from_millis(150), true))
        .await
        .unwrap();
    let snap = breaker.snapshot();
    assert_eq!(
        (snap.totals.slow, snap.window.calls, snap.window.slow),
        (1, 2, 1)
    );
}

#[tokio::test(start_paused = true)]
async fn a_custom_classifier_on_the_layer_decides_failures() {
    use tower_breakwater::classify::Outcome;
    let breaker = breaker(2, 1, 1);
    let probe = Probe::default();
    // Responses above 500 are failures, errors are ignored.
    let classifier = |result: &Result<i32, &'static str>| match result {
        Ok(code) if *code >= 500 => Outcome::Failure,
        Ok(_) => Outcome::Success,
        Err(_) => Outcome::Ignored,
    };
    let mut svc = breaker.layer_with(classifier).layer(probe.clone());
    for _ in 0..5 {
        assert!(svc.ready().await.unwrap().call(-1).await.is_err());
    }
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(svc.ready().await.unwrap().call(503).await.unwrap(), 503);
    assert_eq!(svc.ready().await.unwrap().call(500).await.unwrap(), 500);
    assert_eq!(breaker.state(), State::Open);
    let t = breaker.snapshot().totals;
    assert_eq!((t.ignored, t.failures, t.successes), (5, 2, 0));
}

#[tokio::test(start_paused = true)]
async fn a_service_waiting_on_readiness_across_a_trip_does_not_call_the_open_breakers_service() {
    let breaker = breaker(1, 1, 1);
    let probe = Probe::default();
    let mut svc = breaker.layer().layer(probe.clone());

    // Closed; the inner service is busy (as a sick dependency's pool would be).
    probe.set(PENDING);
    assert!(poll_ready_once(&mut svc).is_pending());
    // Meanwhile other callers' failures open the breaker.
    breaker.try_acquire().unwrap().failure();
    assert_eq!(breaker.state(), State::Open);

    // The dependency frees up; this service is polled again.
    probe.set(READY);
    assert!(matches!(poll_ready_once(&mut svc), Poll::Ready(Ok(()))));
    let result = svc.call(1).await;
    assert!(
        matches!(&result, Err(Error::Rejected(r)) if r.state() == State::Open),
        "an open breaker let a request through: {result:?}"
    );
    assert_eq!(probe.calls(), 0);
    assert_eq!(
        probe.ready_polls(),
        1,
        "open: the inner service is not polled"
    );
    // One request, one count: the stale permit was never used for a call.
    let t = breaker.snapshot().totals;
    assert_eq!((t.failures, t.cancelled, t.rejected), (1, 0, 1));
    assert_eq!(t.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_request_whose_ready_permit_went_stale_before_call_counts_once() {
    let breaker = breaker(1, 1, 1);
    let probe = Probe::default();
    let mut svc = breaker.layer().layer(probe.clone());
    svc.ready().await.unwrap(); // a closed-period permit
    breaker.try_acquire().unwrap().failure(); // another caller trips the breaker
    assert_eq!(breaker.state(), State::Open);

    // Whether the request goes out on its permit or is rejected, it is one call.
    let result = svc.call(5).await;
    let t = breaker.snapshot().totals;
    match result {
        Ok(5) => assert_eq!((probe.calls(), t.successes, t.rejected), (1, 1, 0)),
        Err(Error::Rejected(_)) => assert_eq!((probe.calls(), t.successes, t.rejected), (0, 0, 1)),
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!((t.failures, t.cancelled), (1, 0));
    assert_eq!(t.calls(), 2, "the trip's failure and this request");
}

#[tokio::test(start_paused = true)]
async fn call_without_poll_ready_still_asks_the_breaker() {
    let breaker = breaker(1, 1, 1);
    let probe = Probe::default();
    let mut svc = breaker.layer().layer(probe.clone());
    // Against tower's contract, but the breaker stays in charge.
    assert_eq!(svc.call(3).await.unwrap(), 3);
    assert!(svc.call(-1).await.is_err());
    assert_eq!(breaker.state(), State::Open);
    let Err(Error::Rejected(rejected)) = svc.call(4).await else {
        panic!("expected a rejection");
    };
    assert_eq!(rejected.into_request(), Some(4));
    assert_eq!((probe.calls(), probe.ready_polls()), (2, 0));
    let t = breaker.snapshot().totals;
    assert_eq!((t.successes, t.failures, t.rejected), (1, 1, 1));
}
