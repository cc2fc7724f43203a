//! What a circuit breaker costs per call, for breakwater and its peers, around the same
//! always-ready inner service.
//!
//! # What is measured
//! Every contender wraps the same inner service, [`Inner`]: a hand-written tower `Service`
//! that is always ready and answers with an already-completed future (`Ok(x)`, or
//! `Err(Boom)` for the requests it is told to fail). So the numbers are the breaker's own
//! cost, plus the same small driving cost for everyone:
//!
//! - `bare`: the inner service alone, the baseline.
//! - `breakwater_consecutive`, `breakwater_count_window`, `breakwater_time_window`: this
//!   crate's tower layer with each trip rule (`consecutive_failures(5)`,
//!   `failure_rate(0.5).count_window(100)`, `failure_rate(0.5).time_window(10 s, 10)`), all
//!   with `open_for(1 h)`. `open_rejection` also has `breakwater_forced_open`
//!   ([`CircuitBreaker::force_open`] instead of a trip).
//! - `breakwater_call`: the consecutive rule again, without tower: [`CircuitBreaker::call`]
//!   around the inner service's future, the way failsafe and recloser are driven. Its gap to
//!   `breakwater_consecutive` is what the tower layer itself costs.
//! - `floor`: not a breaker, a yardstick: the least a tower breaker can do, hard-wired to one
//!   breaker ([`Floor`]): one load of a shared state word in `poll_ready`, a thread-local
//!   counter bumped per finished call (no lookup of which breaker), a shared write only on a
//!   failure. What a real breaker costs above it pays for finding its own per-thread
//!   counters among many breakers, permits that survive cancellation, generations, and
//!   classification.
//! - `floor_counted`: the same yardstick, but its per-thread count is one that a breaker
//!   library must keep: readable by another thread (a snapshot, a Prometheus scrape: an
//!   `AtomicU64` registered in a global list) and found per breaker (by the breaker's id in a
//!   thread-local cache). Its gap to `floor` is what counting each call for one of many
//!   breakers costs, before any other bookkeeping.
//! - `tower_resilience`: tower-resilience 0.13's `CircuitBreakerLayer` with
//!   `consecutive_failures(5)` and a 1 h `wait_duration_in_open`.
//! - `failsafe`: failsafe 1.3's futures API (`failsafe::futures::CircuitBreaker::call`), with
//!   `consecutive_failures(5, constant(1 h))`.
//! - `recloser`: recloser 1.4's `AsyncRecloser` (its only rule: a failure rate, here 0.5 over
//!   a ring of the last 100 calls, `open_wait(1 h)`).
//!
//! Tower contenders are driven as `svc.ready().await?.call(x).await`; failsafe and recloser
//! wrap the inner call's future (`breaker.call(inner.call(x)).await`, after the same
//! `inner.ready().await`). Requests and responses go through [`std::hint::black_box`].
//!
//! # Groups (the cases)
//! - `closed_1_task`: a closed breaker, one task on a current-thread runtime.
//! - `closed_2_tasks`, `closed_64_tasks`: a closed breaker shared by 2 or 64 tasks on a tokio
//!   multi-thread runtime with 2 workers; each task owns its own clone of the wrapped service
//!   (clones share the one breaker). Each task yields to the scheduler every
//!   [`YIELD_EVERY`] calls, as a task doing real I/O would, so 64 tasks really interleave
//!   and move between the workers instead of each running to the end in one go.
//! - `open_rejection`: a breaker tripped into open by real failures (1 h open period), one
//!   task; every call is rejected without calling the inner service. `bare` here is the
//!   inner service failing.
//! - `failures_1pct`: the inner service fails every 100th call (request numbers
//!   `99, 199, ...`); the rules above never trip on that, and the bench checks that every
//!   breaker is still closed afterwards.
//!
//! # Reading the numbers
//! Each iteration is one call, timed with `iter_custom` around a whole batch (one `block_on`
//! per batch, no per-call runtime entry). In the multi-task groups the batch of `iters`
//! calls is split over the tasks and the wall time of the whole batch is reported, so
//! criterion's "time per iteration" is the *aggregate* nanoseconds per call across both
//! workers (lower is better; two perfectly scaling workers would halve the 1-task number).
//! On a shared or virtual machine two workers may not get two cores' worth of time (compare
//! `bare` across the groups): then these groups show what sharing the breaker costs, not
//! how it scales.
//!
//! A breaker's overhead is its time minus `bare` **in the same group of the same run**;
//! absolute numbers move with the machine, the differences much less. `benches/table.py`
//! prints one markdown table (rows: contenders, columns: groups, cells: median ns and the
//! overhead over `bare`) from `target/criterion`.
//!
//! ```text
//! cargo bench --bench circuit_breaker
//! python3 benches/table.py
//! ```
//!
//! Every contender is checked before and after it is measured (closed cases: nothing
//! rejected; open case: everything rejected), so a misconfigured peer fails loudly instead
//! of measuring the wrong path.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion};
use failsafe::futures::CircuitBreaker as _;
use tokio::runtime::Runtime;
use tower::{Layer, Service, ServiceExt};
use tower_breakwater::circuit_breaker::{self, CircuitBreaker};

/// How long every contender stays open once tripped: far longer than the bench runs.
const OPEN_FOR: Duration = Duration::from_secs(3600);

/// In the multi-task groups, each task yields to the scheduler after this many calls.
const YIELD_EVERY: u64 = 256;

/// The calls made to check a contender's state before and after it is measured.
const CHECK_CALLS: u64 = 1000;

/// The inner service's error.
#[derive(Debug, Clone, Copy)]
struct Boom;

impl std::fmt::Display for Boom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("boom")
    }
}

impl std::error::Error for Boom {}

/// The inner service: always ready, answers at once. It fails request `x` when
/// `x % FAIL_EVERY == FAIL_EVERY - 1` (so `1` fails everything, `100` fails 1%), and never
/// when `FAIL_EVERY` is 0. The request number is the call counter.
#[derive(Debug, Clone, Copy, Default)]
struct Inner<const FAIL_EVERY: u64>;

impl<const FAIL_EVERY: u64> Service<u64> for Inner<FAIL_EVERY> {
    type Response = u64;
    type Error = Boom;
    type Future = std::future::Ready<Result<u64, Boom>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Boom>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, x: u64) -> Self::Future {
        let fail = FAIL_EVERY != 0 && x % FAIL_EVERY == FAIL_EVERY - 1;
        std::future::ready(if fail { Err(Boom) } else { Ok(x) })
    }
}

/// How one call ended, whoever made it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Ok(u64),
    Failed,
    Rejected,
}

/// The `floor` yardstick's shared state (one hard-wired breaker): 0 closed, 1 open.
static FLOOR_STATE: AtomicU64 = AtomicU64::new(0);
/// Its current run of failures (written on failures only).
static FLOOR_RUN: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// Its per-thread call counter.
    static FLOOR_CALLS: Cell<u64> = const { Cell::new(0) };
    /// `floor_counted`'s per-thread counters, by breaker id.
    static FLOOR_BLOCKS: RefCell<Vec<(u32, Arc<AtomicU64>)>> = const { RefCell::new(Vec::new()) };
}

/// Every thread's `floor_counted` counter, where a scrape would sum them.
static FLOOR_SCRAPED: Mutex<Vec<Arc<AtomicU64>>> = Mutex::new(Vec::new());

/// The breaker id `floor_counted` looks its counter up by.
const FLOOR_ID: u32 = 1;

/// `floor_counted`'s count: this thread's counter for breaker `id`, found in the thread's
/// cache (made and registered for scrapes on the first call), bumped by its only writer.
fn count_for_breaker(id: u32) {
    FLOOR_BLOCKS.with(|cache| {
        if let Some((_, counter)) = cache.borrow().iter().find(|(i, _)| *i == id) {
            counter.store(counter.load(Relaxed) + 1, Relaxed);
            return;
        }
        let counter = Arc::new(AtomicU64::new(1));
        FLOOR_SCRAPED
            .lock()
            .expect("not poisoned")
            .push(counter.clone());
        cache.borrow_mut().push((id, counter));
    });
}

/// The `floor` yardstick (see the module docs): a minimal consecutive-failures breaker;
/// `COUNTED` picks `floor_counted`'s per-breaker, readable count.
#[derive(Clone, Copy)]
struct Floor<S, const COUNTED: bool> {
    inner: S,
    open: bool,
}

impl<S, const COUNTED: bool> Floor<S, COUNTED> {
    fn new(inner: S) -> Self {
        FLOOR_STATE.store(0, Relaxed);
        FLOOR_RUN.store(0, Relaxed);
        Floor { inner, open: false }
    }
}

/// The `floor` yardstick's error.
#[derive(Debug)]
enum FloorError {
    Inner(Boom),
    Rejected,
}

impl<S, const COUNTED: bool> Service<u64> for Floor<S, COUNTED>
where
    S: Service<u64, Response = u64, Error = Boom>,
    S::Future: Unpin,
{
    type Response = u64;
    type Error = FloorError;
    type Future = FloorFuture<S::Future, COUNTED>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), FloorError>> {
        self.open = FLOOR_STATE.load(Relaxed) != 0;
        if self.open {
            return Poll::Ready(Ok(()));
        }
        self.inner.poll_ready(cx).map_err(FloorError::Inner)
    }

    fn call(&mut self, x: u64) -> Self::Future {
        FloorFuture {
            inner: (!self.open).then(|| self.inner.call(x)),
        }
    }
}

/// The `floor` yardstick's response future (the inner future is `Ready`, so `Unpin`: no
/// pin projection needed).
struct FloorFuture<F, const COUNTED: bool> {
    inner: Option<F>,
}

impl<F, const COUNTED: bool> Future for FloorFuture<F, COUNTED>
where
    F: Future<Output = Result<u64, Boom>> + Unpin,
{
    type Output = Result<u64, FloorError>;

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Some(inner) = self.get_mut().inner.as_mut() else {
            return Poll::Ready(Err(FloorError::Rejected));
        };
        let result = std::task::ready!(std::pin::Pin::new(inner).poll(cx));
        match COUNTED {
            true => count_for_breaker(FLOOR_ID),
            false => FLOOR_CALLS.with(|calls| calls.set(calls.get() + 1)),
        }
        if result.is_err() && FLOOR_RUN.fetch_add(1, Relaxed) + 1 >= 5 {
            FLOOR_STATE.store(1, Relaxed);
        } else if result.is_ok() && FLOOR_RUN.load(Relaxed) != 0 {
            FLOOR_RUN.store(0, Relaxed);
        }
        Poll::Ready(result.map_err(FloorError::Inner))
    }
}

impl Verdict for FloorError {
    fn verdict(self) -> Outcome {
        match self {
            FloorError::Inner(_) => Outcome::Failed,
            FloorError::Rejected => Outcome::Rejected,
        }
    }
}

/// Maps each contender's error type to an [`Outcome`].
trait Verdict {
    fn verdict(self) -> Outcome;
}

impl Verdict for Boom {
    fn verdict(self) -> Outcome {
        Outcome::Failed
    }
}

impl<Req> Verdict for circuit_breaker::Error<Boom, Req> {
    fn verdict(self) -> Outcome {
        match self {
            circuit_breaker::Error::Inner(_) => Outcome::Failed,
            circuit_breaker::Error::Rejected(_) => Outcome::Rejected,
        }
    }
}

impl Verdict for tower_resilience::circuitbreaker::CircuitBreakerError<Boom> {
    fn verdict(self) -> Outcome {
        match self {
            Self::Inner(_) => Outcome::Failed,
            Self::OpenCircuit => Outcome::Rejected,
        }
    }
}

impl Verdict for failsafe::Error<Boom> {
    fn verdict(self) -> Outcome {
        match self {
            failsafe::Error::Inner(_) => Outcome::Failed,
            failsafe::Error::Rejected => Outcome::Rejected,
        }
    }
}

impl Verdict for recloser::Error<Boom> {
    fn verdict(self) -> Outcome {
        match self {
            recloser::Error::Inner(_) => Outcome::Failed,
            recloser::Error::Rejected => Outcome::Rejected,
        }
    }
}

fn outcome<E: Verdict>(result: Result<u64, E>) -> Outcome {
    match result {
        Ok(x) => Outcome::Ok(x),
        Err(e) => e.verdict(),
    }
}

/// One contender: makes one call with request `x`. A clone shares the breaker.
trait Caller: Clone + Send + 'static {
    fn call(&mut self, x: u64) -> impl Future<Output = Outcome> + Send + '_;
}

/// A tower service (bare, breakwater, tower-resilience), driven by `ready` then `call`.
#[derive(Clone)]
struct Tower<S>(S);

impl<S> Caller for Tower<S>
where
    S: Service<u64, Response = u64> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Verdict + Send,
{
    async fn call(&mut self, x: u64) -> Outcome {
        match self.0.ready().await {
            Ok(svc) => outcome(svc.call(x).await),
            Err(e) => e.verdict(),
        }
    }
}

/// breakwater without tower: [`CircuitBreaker::call`] around the inner service's future, as
/// failsafe and recloser are driven.
#[derive(Clone)]
struct BreakwaterCall<S> {
    breaker: CircuitBreaker,
    inner: S,
}

impl<S> Caller for BreakwaterCall<S>
where
    S: Service<u64, Response = u64, Error = Boom> + Clone + Send + 'static,
    S::Future: Send,
{
    async fn call(&mut self, x: u64) -> Outcome {
        let inner = match self.inner.ready().await {
            Ok(inner) => inner,
            Err(e) => return e.verdict(),
        };
        outcome(self.breaker.call(|| inner.call(x)).await)
    }
}

type FailsafeBreaker = failsafe::StateMachine<
    failsafe::failure_policy::ConsecutiveFailures<failsafe::backoff::Constant>,
    (),
>;

/// failsafe's futures API around the inner service's future.
#[derive(Clone)]
struct Failsafe<S> {
    breaker: FailsafeBreaker,
    inner: S,
}

impl<S> Caller for Failsafe<S>
where
    S: Service<u64, Response = u64, Error = Boom> + Clone + Send + 'static,
    S::Future: Send,
{
    async fn call(&mut self, x: u64) -> Outcome {
        let inner = match self.inner.ready().await {
            Ok(inner) => inner,
            Err(e) => return e.verdict(),
        };
        outcome(self.breaker.call(inner.call(x)).await)
    }
}

/// recloser's `AsyncRecloser` around the inner service's future.
#[derive(Clone)]
struct Recloser<S> {
    breaker: recloser::AsyncRecloser,
    inner: S,
}

impl<S> Caller for Recloser<S>
where
    S: Service<u64, Response = u64, Error = Boom> + Clone + Send + 'static,
    S::Future: Send,
{
    async fn call(&mut self, x: u64) -> Outcome {
        let inner = match self.inner.ready().await {
            Ok(inner) => inner,
            Err(e) => return e.verdict(),
        };
        outcome(self.breaker.call(inner.call(x)).await)
    }
}

/// Where and how a group's calls run.
#[derive(Clone, Copy)]
enum Run<'a> {
    /// One task on a current-thread runtime.
    Single(&'a Runtime),
    /// This many tasks on a 2-worker multi-thread runtime.
    Tasks(&'a Runtime, u64),
}

impl Run<'_> {
    fn runtime(&self) -> &Runtime {
        match self {
            Run::Single(rt) | Run::Tasks(rt, _) => rt,
        }
    }

    /// Make `iters` calls and return the wall time they took.
    fn time<C: Caller>(&self, caller: &mut C, iters: u64) -> Duration {
        match *self {
            Run::Single(rt) => rt.block_on(async {
                let start = Instant::now();
                for i in 0..iters {
                    black_box(caller.call(black_box(i)).await);
                }
                start.elapsed()
            }),
            Run::Tasks(rt, tasks) => {
                let clones: Vec<C> = (0..tasks).map(|_| caller.clone()).collect();
                rt.block_on(async move {
                    let start = Instant::now();
                    let handles: Vec<_> = (0..tasks)
                        .zip(clones)
                        .map(|(task, mut caller)| {
                            let calls = iters / tasks + u64::from(task < iters % tasks);
                            tokio::spawn(async move {
                                // Each task its own request numbers.
                                let first = task << 40;
                                for i in 0..calls {
                                    black_box(caller.call(black_box(first + i)).await);
                                    if i % YIELD_EVERY == YIELD_EVERY - 1 {
                                        tokio::task::yield_now().await;
                                    }
                                }
                            })
                        })
                        .collect();
                    for handle in handles {
                        handle.await.expect("a bench task panicked");
                    }
                    start.elapsed()
                })
            }
        }
    }
}

/// What a contender must answer while it is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Never a rejection (closed breakers, and the bare service).
    Admits,
    /// Always a rejection: trip the breaker with real failures before measuring.
    Rejects,
}

/// Make [`CHECK_CALLS`] calls and panic if any answer breaks `expect`.
fn check<C: Caller>(name: &str, when: &str, rt: &Runtime, caller: &mut C, expect: Expect) {
    let rejected = rt.block_on(async {
        let mut rejected = 0;
        for i in 0..CHECK_CALLS {
            if caller.call(i).await == Outcome::Rejected {
                rejected += 1;
            }
        }
        rejected
    });
    let want = match expect {
        Expect::Admits => 0,
        Expect::Rejects => CHECK_CALLS,
    };
    assert_eq!(
        rejected, want,
        "{name} {when}: {rejected} of {CHECK_CALLS} calls rejected, expected {want}"
    );
}

/// Call until the first rejection (the inner service fails every call in the open group).
fn trip<C: Caller>(name: &str, rt: &Runtime, caller: &mut C) {
    let tripped = rt.block_on(async {
        for i in 0..10_000 {
            if caller.call(i).await == Outcome::Rejected {
                return true;
            }
        }
        false
    });
    assert!(tripped, "{name} did not open after 10000 failures");
}

/// Check, measure and check again one contender.
fn bench<C: Caller>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    run: Run<'_>,
    mut caller: C,
    expect: Expect,
) {
    let rt = run.runtime();
    if expect == Expect::Rejects {
        trip(name, rt, &mut caller);
    }
    check(name, "before", rt, &mut caller, expect);
    group.bench_function(name, |b| {
        b.iter_custom(|iters| run.time(&mut caller, iters))
    });
    check(name, "after", rt, &mut caller, expect);
}

/// The three breakwater rules, by bench name.
fn breakwater_rules() -> [(&'static str, circuit_breaker::Builder); 3] {
    [
        (
            "breakwater_consecutive",
            CircuitBreaker::builder("b").consecutive_failures(5),
        ),
        (
            "breakwater_count_window",
            CircuitBreaker::builder("b")
                .failure_rate(0.5)
                .count_window(100),
        ),
        (
            "breakwater_time_window",
            CircuitBreaker::builder("b")
                .failure_rate(0.5)
                .time_window(Duration::from_secs(10), 10),
        ),
    ]
}

fn tower_resilience_layer() -> tower_resilience::circuitbreaker::CircuitBreakerLayer {
    tower_resilience::circuitbreaker::CircuitBreakerLayer::builder()
        .name("b")
        .consecutive_failures(5)
        .wait_duration_in_open(OPEN_FOR)
        .build()
        .expect("valid tower-resilience config")
}

fn failsafe_breaker() -> FailsafeBreaker {
    let policy =
        failsafe::failure_policy::consecutive_failures(5, failsafe::backoff::constant(OPEN_FOR));
    failsafe::Config::new().failure_policy(policy).build()
}

fn recloser_breaker() -> recloser::AsyncRecloser {
    recloser::Recloser::custom()
        .error_rate(0.5)
        .closed_len(100)
        .open_wait(OPEN_FOR)
        .build()
        .into()
}

/// Every contender of one group, around `Inner<FAIL_EVERY>`.
fn contenders<const FAIL_EVERY: u64>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    run: Run<'_>,
    expect: Expect,
) {
    let inner = Inner::<FAIL_EVERY>;
    bench(group, "bare", run, Tower(inner), Expect::Admits);
    for (name, builder) in breakwater_rules() {
        let breaker = builder.open_for(OPEN_FOR).build().expect("valid config");
        bench(
            group,
            name,
            run,
            Tower(breaker.layer().layer(inner)),
            expect,
        );
    }
    let breaker = CircuitBreaker::builder("b")
        .consecutive_failures(5)
        .open_for(OPEN_FOR)
        .build()
        .expect("valid config");
    let caller = BreakwaterCall { breaker, inner };
    bench(group, "breakwater_call", run, caller, expect);
    if expect == Expect::Rejects {
        let breaker = CircuitBreaker::builder("b")
            .open_for(OPEN_FOR)
            .build()
            .expect("valid config");
        breaker.force_open();
        let svc = Tower(breaker.layer().layer(inner));
        bench(group, "breakwater_forced_open", run, svc, expect);
    }
    let floor = Floor::<_, false>::new(inner);
    bench(group, "floor", run, Tower(floor), expect);
    let floor_counted = Floor::<_, true>::new(inner);
    bench(group, "floor_counted", run, Tower(floor_counted), expect);
    let svc = Tower(tower_resilience_layer().layer(inner));
    bench(group, "tower_resilience", run, svc, expect);
    let breaker = failsafe_breaker();
    bench(group, "failsafe", run, Failsafe { breaker, inner }, expect);
    let breaker = recloser_breaker();
    bench(group, "recloser", run, Recloser { breaker, inner }, expect);
}

fn current_thread() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime")
}

fn two_workers() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a multi-thread runtime")
}

/// Short settings, so the whole bench takes a few minutes on 2 cores.
fn group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    group
}

fn closed_1_task(c: &mut Criterion) {
    let rt = current_thread();
    let mut g = group(c, "closed_1_task");
    contenders::<0>(&mut g, Run::Single(&rt), Expect::Admits);
    g.finish();
}

fn closed_2_tasks(c: &mut Criterion) {
    let rt = two_workers();
    let mut g = group(c, "closed_2_tasks");
    contenders::<0>(&mut g, Run::Tasks(&rt, 2), Expect::Admits);
    g.finish();
}

fn closed_64_tasks(c: &mut Criterion) {
    let rt = two_workers();
    let mut g = group(c, "closed_64_tasks");
    contenders::<0>(&mut g, Run::Tasks(&rt, 64), Expect::Admits);
    g.finish();
}

fn open_rejection(c: &mut Criterion) {
    let rt = current_thread();
    let mut g = group(c, "open_rejection");
    contenders::<1>(&mut g, Run::Single(&rt), Expect::Rejects);
    g.finish();
}

fn failures_1pct(c: &mut Criterion) {
    let rt = current_thread();
    let mut g = group(c, "failures_1pct");
    contenders::<100>(&mut g, Run::Single(&rt), Expect::Admits);
    g.finish();
}

criterion_group!(
    benches,
    closed_1_task,
    closed_2_tasks,
    closed_64_tasks,
    open_rejection,
    failures_1pct
);
criterion_main!(benches);
