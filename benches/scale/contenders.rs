//! The scale bench's contenders: the inner service, breakwater and its peers, and the
//! yardsticks, each as K breakers a task calls by index.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use failsafe::futures::CircuitBreaker as _;
use tower::Service;
use tower_breakwater::circuit_breaker::CircuitBreaker;

pub const OPEN_FOR: Duration = Duration::from_secs(3600);
pub const KS: [usize; 4] = [1, 100, 10_000, 100_000];
pub const TASKS: usize = 64;
pub const MIN_CALLS: usize = 1_000_000;
pub const RUNS: usize = 5;

#[derive(Debug)]
pub struct Boom;

impl std::fmt::Display for Boom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("boom")
    }
}

impl std::error::Error for Boom {}

/// The inner service: always ready, answers at once.
#[derive(Debug, Clone, Copy, Default)]
pub struct Inner;

impl Service<u64> for Inner {
    type Response = u64;
    type Error = Boom;
    type Future = std::future::Ready<Result<u64, Boom>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Boom>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, x: u64) -> Self::Future {
        std::future::ready(Ok(x))
    }
}

pub type Failsafe = failsafe::StateMachine<
    failsafe::failure_policy::ConsecutiveFailures<failsafe::backoff::Constant>,
    (),
>;

pub fn breakwater() -> CircuitBreaker {
    CircuitBreaker::builder("b")
        .open_for(OPEN_FOR)
        .build()
        .expect("valid config")
}

pub fn recloser() -> recloser::AsyncRecloser {
    recloser::Recloser::custom()
        .error_rate(0.5)
        .closed_len(100)
        .open_wait(OPEN_FOR)
        .build()
        .into()
}

pub fn failsafe() -> Failsafe {
    let policy =
        failsafe::failure_policy::consecutive_failures(5, failsafe::backoff::constant(OPEN_FOR));
    failsafe::Config::new().failure_policy(policy).build()
}

/// K breakers of one kind that a task can call by index through a shared reference.
pub trait Shared: Send + Sync + 'static {
    fn call(&self, index: usize, x: u64) -> impl Future<Output = bool> + Send + '_;
}

impl Shared for Vec<Inner> {
    async fn call(&self, _: usize, x: u64) -> bool {
        Inner.call(x).await.is_ok()
    }
}

impl Shared for Vec<CircuitBreaker> {
    async fn call(&self, index: usize, x: u64) -> bool {
        self[index].call(|| Inner.call(x)).await.is_ok()
    }
}

impl Shared for Vec<recloser::AsyncRecloser> {
    async fn call(&self, index: usize, x: u64) -> bool {
        self[index].call(Inner.call(x)).await.is_ok()
    }
}

impl Shared for Vec<Failsafe> {
    async fn call(&self, index: usize, x: u64) -> bool {
        self[index].call(Inner.call(x)).await.is_ok()
    }
}

/// Yardstick `floor_one_line`: not a breaker, the least memory a breaker's call touches:
/// one load of a shared state word and a count bumped beside it, in one allocation.
pub struct OneLine {
    pub state: AtomicU64,
    pub count: AtomicU64,
}

/// Yardstick `floor_two_lines`: the same, with the count in an allocation of its own made
/// after all the states (as a thread's counters are made at its first call).
pub struct TwoLines {
    pub state: Arc<AtomicU64>,
    pub count: Arc<AtomicU64>,
}

pub fn bump(count: &AtomicU64) {
    count.store(count.load(Relaxed) + 1, Relaxed);
}

impl Shared for Vec<Arc<OneLine>> {
    async fn call(&self, index: usize, x: u64) -> bool {
        let yard = &self[index];
        let open = yard.state.load(Relaxed) != 0;
        let ok = !open && Inner.call(x).await.is_ok();
        bump(&yard.count);
        ok
    }
}

impl Shared for Vec<TwoLines> {
    async fn call(&self, index: usize, x: u64) -> bool {
        let yard = &self[index];
        let open = yard.state.load(Relaxed) != 0;
        let ok = !open && Inner.call(x).await.is_ok();
        bump(&yard.count);
        ok
    }
}

/// Yardstick `floor_lookup`: `floor_two_lines`, but the count is found as breakwater finds a
/// thread's counters, by the breaker's id in a thread-local hash map (made on the first
/// call): what finding the breaker without holding a reference count costs.
pub struct Lookup(pub Vec<(u32, Arc<AtomicU64>)>);

/// Spreads sequential ids over the table, as breakwater's thread cache does.
#[derive(Default)]
pub struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn write(&mut self, _: &[u8]) {
        unreachable!("only u32 keys")
    }
    fn write_u32(&mut self, id: u32) {
        self.0 = u64::from(id).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

pub type ById =
    std::collections::HashMap<u32, Arc<AtomicU64>, std::hash::BuildHasherDefault<IdHasher>>;

thread_local! {
    static COUNTS: std::cell::RefCell<ById> = std::cell::RefCell::new(ById::default());
}

impl Shared for Lookup {
    async fn call(&self, index: usize, x: u64) -> bool {
        let (id, state) = &self.0[index];
        let open = state.load(Relaxed) != 0;
        let ok = !open && Inner.call(x).await.is_ok();
        COUNTS.with(|counts| {
            if let Some(count) = counts.borrow().get(id) {
                return bump(count);
            }
            let count = Arc::new(AtomicU64::new(1));
            counts.borrow_mut().insert(*id, count);
        });
        ok
    }
}
