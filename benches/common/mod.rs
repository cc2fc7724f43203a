//! The driving loop every single-task layer bench shares.

use std::fmt::Debug;
use std::hint::black_box;
use std::time::{Duration, Instant};

use tokio::runtime::Runtime;
use tower::{Service, ServiceExt};

/// A current-thread runtime with the timer on (the timeout and bulkhead need it).
pub fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime")
}

/// Make `iters` successful calls through `svc` (`ready().call()` each) and return the wall
/// time they took.
pub fn time<S, E: Debug>(rt: &Runtime, svc: &mut S, iters: u64) -> Duration
where
    S: Service<u64, Response = u64, Error = E>,
{
    rt.block_on(async {
        let start = Instant::now();
        for i in 0..iters {
            let ready = svc.ready().await.expect("always ready");
            black_box(ready.call(black_box(i)).await.expect("never fails"));
        }
        start.elapsed()
    })
}
