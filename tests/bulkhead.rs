//! The bulkhead on tokio's paused clock: the cap, waiting with and without a time limit,
//! refusals that hand the request back, FIFO handover, readiness, no slot leaks under
//! cancellation, and config errors.

use std::future::{poll_fn, Future};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use proptest::prelude::*;
use tokio::time::{sleep, Instant};
use tower::util::MapErrLayer;
use tower::{BoxError, Layer, Service, ServiceBuilder, ServiceExt};
use tower_breakwater::bulkhead::{Bulkhead, BulkheadFull, BulkheadService};
use tower_breakwater::Error;

const WORK: Duration = Duration::from_millis(10);

/// The inner service: each call takes `WORK` (or never ends, for request `u32::MAX`),
/// counting calls in flight and the most seen at once, and recording the order in which
/// requests started.
#[derive(Clone, Default)]
struct Worker {
    in_flight: Arc<AtomicUsize>,
    most: Arc<AtomicUsize>,
    started: Arc<Mutex<Vec<u32>>>,
}

impl Worker {
    fn most(&self) -> usize {
        self.most.load(SeqCst)
    }
    fn started(&self) -> Vec<u32> {
        self.started.lock().unwrap().clone()
    }
}

/// Lowers the in-flight gauge however the call ends.
struct Running(Arc<AtomicUsize>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.fetch_sub(1, SeqCst);
    }
}

impl Service<u32> for Worker {
    type Response = u32;
    type Error = BoxError;
    type Future =
        std::pin::Pin<Box<dyn std::future::Future<Output = Result<u32, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: u32) -> Self::Future {
        let now = self.in_flight.fetch_add(1, SeqCst) + 1;
        self.most.fetch_max(now, SeqCst);
        self.started.lock().unwrap().push(request);
        let running = Running(self.in_flight.clone());
        Box::pin(async move {
            let _running = running;
            if request == u32::MAX {
                std::future::pending::<()>().await;
            }
            sleep(WORK).await;
            Ok(request)
        })
    }
}

fn bulkhead(max_concurrent: usize, max_waiting: usize, max_wait: Option<Duration>) -> Bulkhead {
    let builder = Bulkhead::builder("db")
        .max_concurrent(max_concurrent)
        .max_waiting(max_waiting);
    match max_wait {
        Some(wait) => builder.max_wait(wait),
        None => builder,
    }
    .build()
    .unwrap()
}

/// Poll once, with a waker that does nothing.
fn poll_ready_once<S: Service<u32>>(svc: &mut S) -> Poll<Result<(), S::Error>> {
    svc.poll_ready(&mut Context::from_waker(Waker::noop()))
}

fn full(err: BoxError) -> BulkheadFull<u32> {
    *err.downcast::<BulkheadFull<u32>>().expect("a BulkheadFull")
}

#[tokio::test(start_paused = true)]
async fn never_more_than_max_concurrent_in_flight() {
    let worker = Worker::default();
    let bulkhead = bulkhead(3, 100, None);
    let svc = bulkhead.layer().layer(worker.clone());
    let start = Instant::now();
    let tasks: Vec<_> = (0..20)
        .map(|i| tokio::spawn(svc.clone().oneshot(i)))
        .collect();
    for (i, task) in tasks.into_iter().enumerate() {
        assert_eq!(task.await.unwrap().unwrap(), i as u32);
    }
    assert_eq!(worker.most(), 3);
    // 20 calls, 3 at a time, 10ms each: 7 rounds.
    assert_eq!(start.elapsed(), WORK * 7);
    assert_eq!(
        (
            bulkhead.in_flight(),
            bulkhead.waiting(),
            bulkhead.rejected()
        ),
        (0, 0, 0)
    );
}

#[tokio::test(start_paused = true)]
async fn a_waiter_gives_up_after_max_wait_with_the_exact_wait_and_its_request() {
    let bulkhead = bulkhead(1, 1, Some(Duration::from_millis(3)));
    let mut svc = bulkhead.layer().layer(Worker::default());
    let busy = svc.ready().await.unwrap().call(1);
    let start = Instant::now();
    let err = svc.clone().oneshot(2).await.unwrap_err();
    assert_eq!(start.elapsed(), Duration::from_millis(3));
    let mut full = full(err);
    assert_eq!(full.name(), "db");
    assert_eq!(full.max_concurrent(), 1);
    assert_eq!(full.waited(), Some(Duration::from_millis(3)));
    assert_eq!(full.take_request(), Some(2));
    assert_eq!((bulkhead.waiting(), bulkhead.rejected()), (0, 1));
    assert_eq!(busy.await.unwrap(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_waiter_gets_the_slot_freed_within_max_wait() {
    let bulkhead = bulkhead(1, 1, Some(WORK * 2));
    let mut svc = bulkhead.layer().layer(Worker::default());
    let busy = tokio::spawn(svc.ready().await.unwrap().call(1));
    let start = Instant::now();
    assert_eq!(svc.clone().oneshot(2).await.unwrap(), 2);
    assert_eq!(start.elapsed(), WORK * 2, "waited WORK, then ran WORK");
    assert_eq!(busy.await.unwrap().unwrap(), 1);
    assert_eq!(bulkhead.rejected(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_full_waiting_room_refuses_at_once() {
    let bulkhead = bulkhead(1, 1, None);
    let mut svc = bulkhead.layer().layer(Worker::default());
    let _busy = svc.ready().await.unwrap().call(1);
    let mut waiter = svc.clone();
    assert!(poll_ready_once(&mut waiter).is_pending());
    assert_eq!(bulkhead.waiting(), 1);

    let start = Instant::now();
    let err = svc.clone().oneshot(3).await.unwrap_err();
    assert_eq!(start.elapsed(), Duration::ZERO);
    let full = full(err);
    assert_eq!(full.waited(), None);
    assert_eq!(full.into_request(), Some(3));
    assert_eq!((bulkhead.waiting(), bulkhead.rejected()), (1, 1));
}

#[tokio::test(start_paused = true)]
async fn max_waiting_zero_refuses_as_soon_as_full_and_ready_stays_ok() {
    let worker = Worker::default();
    let bulkhead = bulkhead(2, 0, None);
    let mut svc = bulkhead.layer().layer(worker.clone());
    let _a = svc.ready().await.unwrap().call(1);
    let _b = svc.ready().await.unwrap().call(2);
    // Full: poll_ready says Ready(Ok) (an Err would be final for tower), call fails.
    assert!(matches!(poll_ready_once(&mut svc), Poll::Ready(Ok(()))));
    assert!(matches!(poll_ready_once(&mut svc), Poll::Ready(Ok(()))));
    let err = svc.call(3).await.unwrap_err();
    assert_eq!(full(err).waited(), None);
    assert_eq!(
        worker.started(),
        vec![1, 2],
        "the refused request was not sent"
    );
    assert_eq!(bulkhead.rejected(), 1);
}

#[tokio::test(start_paused = true)]
async fn freed_slots_go_to_waiters_first_come_first_served() {
    let worker = Worker::default();
    let bulkhead = bulkhead(1, 10, None);
    let mut svc = bulkhead.layer().layer(worker.clone());
    let busy = tokio::spawn(svc.ready().await.unwrap().call(0));
    let mut waiters = Vec::new();
    for i in 1..=5 {
        waiters.push(tokio::spawn(svc.clone().oneshot(i)));
        // Let it take its place in the queue before the next one comes.
        tokio::task::yield_now().await;
        assert_eq!(bulkhead.waiting(), i as usize);
    }
    // A newcomer that finds the room not full waits behind them, never overtakes.
    let late = tokio::spawn(svc.clone().oneshot(6));
    busy.await.unwrap().unwrap();
    for waiter in waiters {
        waiter.await.unwrap().unwrap();
    }
    late.await.unwrap().unwrap();
    assert_eq!(worker.started(), vec![0, 1, 2, 3, 4, 5, 6]);
    assert_eq!(worker.most(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_ready_service_dropped_without_calling_gives_its_slot_back() {
    let bulkhead = bulkhead(1, 0, None);
    let mut svc = bulkhead.layer().layer(Worker::default());
    svc.ready().await.unwrap();
    assert_eq!(bulkhead.in_flight(), 1);
    let mut other = svc.clone();
    other.ready().await.unwrap();
    assert!(other.call(7).await.is_err(), "the slot is reserved");
    drop(svc);
    assert_eq!(bulkhead.in_flight(), 0);
    assert_eq!(other.oneshot(8).await.unwrap(), 8);
}

/// An inner service that is never ready.
#[derive(Clone, Default)]
struct Stuck {
    polls: Arc<AtomicUsize>,
}

impl Service<u32> for Stuck {
    type Response = u32;
    type Error = BoxError;
    type Future = std::future::Ready<Result<u32, BoxError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.polls.fetch_add(1, SeqCst);
        Poll::Pending
    }

    fn call(&mut self, request: u32) -> Self::Future {
        std::future::ready(Ok(request))
    }
}

#[tokio::test(start_paused = true)]
async fn a_slot_is_held_while_the_inner_service_gets_ready_and_a_full_one_skips_it() {
    let stuck = Stuck::default();
    let bulkhead = bulkhead(1, 0, None);
    let mut first = bulkhead.layer().layer(stuck.clone());
    assert!(poll_ready_once(&mut first).is_pending());
    assert_eq!((bulkhead.in_flight(), stuck.polls.load(SeqCst)), (1, 1));
    let mut second = first.clone();
    assert!(matches!(poll_ready_once(&mut second), Poll::Ready(Ok(()))));
    assert_eq!(
        stuck.polls.load(SeqCst),
        1,
        "refused without polling the inner service"
    );
    drop(first);
    assert_eq!(bulkhead.in_flight(), 0);
}

#[tokio::test(start_paused = true)]
async fn no_slot_leaks_after_ten_thousand_cancelled_calls() {
    const SLOTS: usize = 4;
    const ROUNDS: u32 = 10_000;
    let worker = Worker::default();
    let bulkhead = bulkhead(SLOTS, ROUNDS as usize, Some(Duration::from_secs(1)));
    let svc = bulkhead.layer().layer(worker.clone());

    // Dropped before the first poll of the response future.
    let mut one = svc.clone();
    for i in 0..ROUNDS {
        drop(one.ready().await.unwrap().call(i));
    }
    assert_eq!(bulkhead.in_flight(), 0);

    // Dropped while running (polled once: the inner call has started).
    for i in 0..ROUNDS {
        let mut call = std::pin::pin!(one.ready().await.unwrap().call(i));
        assert!(poll_fn(|cx| Poll::Ready(call.as_mut().poll(cx).is_pending())).await);
    }
    assert_eq!(
        (bulkhead.in_flight(), worker.in_flight.load(SeqCst)),
        (0, 0)
    );

    // Dropped while waiting: every slot taken by calls that never end, then 10k waiters
    // that are dropped in the waiting room (the service while in `poll_ready`), in batches.
    let mut blockers: Vec<_> = (0..SLOTS).map(|_| svc.clone()).collect::<Vec<_>>();
    let mut running = Vec::new();
    for blocker in &mut blockers {
        running.push(blocker.ready().await.unwrap().call(u32::MAX));
    }
    for _ in 0..10 {
        let mut waiters: Vec<_> = (0..ROUNDS / 10).map(|_| svc.clone()).collect();
        for waiter in &mut waiters {
            assert!(poll_ready_once(waiter).is_pending());
        }
        assert_eq!(bulkhead.waiting(), (ROUNDS / 10) as usize);
        drop(waiters);
        assert_eq!(bulkhead.waiting(), 0);
    }
    // And waiters dropped while a slot is being handed to them.
    let mut waiters: Vec<_> = (0..SLOTS).map(|_| svc.clone()).collect();
    for waiter in &mut waiters {
        assert!(poll_ready_once(waiter).is_pending());
    }
    drop(running); // hands the slots to the waiters, who never look
    drop(waiters);

    assert_eq!(
        (
            bulkhead.in_flight(),
            bulkhead.waiting(),
            bulkhead.rejected()
        ),
        (0, 0, 0)
    );
    // All slots usable at once again.
    let start = Instant::now();
    let calls: Vec<_> = (0..SLOTS as u32)
        .map(|i| tokio::spawn(svc.clone().oneshot(i)))
        .collect();
    for call in calls {
        call.await.unwrap().unwrap();
    }
    assert_eq!(start.elapsed(), WORK, "all ran side by side");
    assert_eq!(worker.most(), SLOTS);
}

#[tokio::test(start_paused = true)]
async fn a_waiter_that_gave_up_does_not_hold_the_slot_handed_to_it_later() {
    let bulkhead = bulkhead(1, 1, Some(Duration::from_millis(5)));
    let mut svc = bulkhead.layer().layer(Worker::default());
    let busy = tokio::spawn(svc.ready().await.unwrap().call(1));
    assert!(svc.clone().oneshot(2).await.is_err());
    busy.await.unwrap().unwrap();
    assert_eq!((bulkhead.in_flight(), bulkhead.waiting()), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn clones_and_layers_share_one_limit() {
    let bulkhead = bulkhead(1, 0, None);
    let mut a = bulkhead.layer().layer(Worker::default());
    let mut b = bulkhead.clone().layer().layer(Worker::default());
    let _busy = a.ready().await.unwrap().call(1);
    b.ready().await.unwrap();
    assert!(b.call(2).await.is_err());
}

#[tokio::test(start_paused = true)]
async fn call_without_poll_ready_never_exceeds_the_limit() {
    let bulkhead = bulkhead(1, 0, None);
    let mut svc = bulkhead.layer().layer(Worker::default());
    let first = svc.call(1);
    assert!(svc.call(2).await.is_err());
    assert_eq!(first.await.unwrap(), 1);
    assert_eq!(bulkhead.in_flight(), 0);
}

#[tokio::test(start_paused = true)]
async fn works_in_a_breakwater_error_stack() {
    let bulkhead = bulkhead(1, 0, None);
    let mut svc = ServiceBuilder::new()
        .layer(bulkhead.layer())
        .layer(MapErrLayer::new(Error::Inner))
        .service(tower::service_fn(|x: u32| async move {
            sleep(WORK).await;
            Ok::<_, std::io::Error>(x)
        }));
    let _busy = svc.ready().await.unwrap().call(1);
    let mut err: Error<std::io::Error, u32> = svc.ready().await.unwrap().call(2).await.unwrap_err();
    assert!(err.is_bulkhead_full());
    assert_eq!(err.take_request(), Some(2));
}

#[test]
fn the_service_fits_axum_and_tonic() {
    fn send_sync_clone<T: Send + Sync + Clone + 'static>() {}
    send_sync_clone::<BulkheadService<Worker>>();
    send_sync_clone::<tower_breakwater::bulkhead::BulkheadLayer>();
    fn send<T: Send>() {}
    send::<<BulkheadService<Worker> as Service<u32>>::Future>();
}

#[test]
fn config_errors_name_the_field() {
    let cases = [
        (Bulkhead::builder("db"), "max_concurrent"),
        (Bulkhead::builder("db").max_concurrent(0), "max_concurrent"),
        (
            Bulkhead::builder("db").max_concurrent(usize::MAX),
            "max_concurrent",
        ),
        (Bulkhead::builder("").max_concurrent(1), "name"),
        (
            Bulkhead::builder("db")
                .max_concurrent(1)
                .max_wait(Duration::from_secs(1)),
            "max_wait",
        ),
        (
            Bulkhead::builder("db")
                .max_concurrent(1)
                .max_waiting(1)
                .max_wait(Duration::ZERO),
            "max_wait",
        ),
        (
            Bulkhead::builder("db")
                .max_concurrent(1)
                .max_waiting(1)
                .max_wait(Duration::MAX),
            "max_wait",
        ),
    ];
    for (builder, field) in cases {
        assert_eq!(builder.build().unwrap_err().field(), field);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any builder input gives a bulkhead with exactly those settings or a ConfigError —
    /// never a panic — and a built one takes and gives back a slot.
    #[test]
    fn any_builder_input_builds_or_errs_without_panicking(
        max_concurrent in prop_oneof![Just(None), (0usize..8).prop_map(Some), any::<usize>().prop_map(Some)],
        max_waiting in prop_oneof![0usize..4, any::<usize>()],
        max_wait in prop_oneof![
            Just(None),
            (0u64..3).prop_map(|n| Some(Duration::from_nanos(n))),
            (any::<u64>(), 0u32..1_000_000_000).prop_map(|(s, n)| Some(Duration::new(s, n))),
        ],
    ) {
        let mut builder = Bulkhead::builder("db").max_waiting(max_waiting);
        if let Some(n) = max_concurrent {
            builder = builder.max_concurrent(n);
        }
        if let Some(wait) = max_wait {
            builder = builder.max_wait(wait);
        }
        match builder.build() {
            Ok(bulkhead) => {
                prop_assert_eq!(Some(bulkhead.max_concurrent()), max_concurrent);
                prop_assert_eq!(bulkhead.max_waiting(), max_waiting);
                prop_assert_eq!(bulkhead.max_wait(), max_wait);
                // A time limit only with a waiting room, and never zero.
                prop_assert!(max_wait.is_none() || max_waiting > 0);
                prop_assert_ne!(max_wait, Some(Duration::ZERO));
                let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
                let in_flight = rt.block_on(async {
                    let mut svc = bulkhead.layer().layer(Worker::default());
                    svc.ready().await.unwrap();
                    bulkhead.in_flight()
                });
                prop_assert_eq!(in_flight, 1);
                prop_assert_eq!(bulkhead.in_flight(), 0);
            }
            Err(err) => {
                prop_assert!(["max_concurrent", "max_wait"].contains(&err.field()));
                prop_assert!(!err.to_string().is_empty());
            }
        }
    }
}

#[test]
fn the_display_of_a_refusal_says_who_and_why() {
    let full = BulkheadFull::new("db", 4, Some(Duration::from_millis(3)));
    assert_eq!(
        full.to_string(),
        "bulkhead 'db' is full (4 calls in flight; waited 0.003s)"
    );
}

/// The refusal is boxed so that it does not make every call's future larger: the future
/// is no larger than tower's `ConcurrencyLimit` one around the same inner future.
#[test]
fn the_response_future_is_no_larger_than_towers() {
    type Inner = tower::util::ServiceFn<fn(u64) -> std::future::Ready<Result<u64, BoxError>>>;
    type Ours = <BulkheadService<Inner> as Service<u64>>::Future;
    type Tower = <tower::limit::ConcurrencyLimit<Inner> as Service<u64>>::Future;
    assert!(std::mem::size_of::<Ours>() <= std::mem::size_of::<Tower>());
}
