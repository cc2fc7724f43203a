//! What per-endpoint outlier detection costs per call over P2C alone, with 10 and 1,000
//! endpoints, for breakwater and tower-resilience.
//!
//! Every contender is a `tower::balance::p2c::Balance` over a `ServiceList` of endpoints
//! that are always ready and answer with an already-completed future (`Ok(x)`). One task
//! on a current-thread runtime drives `pool.ready().await?.call(x).await` per call. Nothing
//! fails, so this is the healthy path every call pays.
//!
//! A small paired harness rather than criterion: the machine this runs on is shared, and
//! its load moves by 2× within a minute. Each round times one batch of every contender
//! back to back; a contender's overhead is the median over rounds of (its time − `p2c`'s
//! time in the same round), so a slow moment hits both sides of each difference. The
//! fastest round of each is shown too: the one least disturbed by other work.
//!
//! - `p2c`: P2C alone, each endpoint's load its pending requests
//!   (`tower::load::PendingRequestsDiscover`): the cheapest load P2C can use, the baseline.
//! - `p2c_peak_ewma`: P2C over tower's own Peak-EWMA (`PeakEwmaDiscover`), for reference:
//!   the load breakwater's replaces.
//! - `breakwater`: each endpoint an `OutlierService` (the gate, the detector's counters,
//!   and its penalized Peak-EWMA as the load), one `OutlierDetector` for the pool.
//! - `breakwater_pending`: the same with `peak_ewma(false)`: the load is the calls in
//!   flight, as in `p2c`, so the difference is ejection alone (gate and counters).
//! - `tower_resilience`: each endpoint a tower-resilience `OutlierDetectionService`
//!   (shared `OutlierDetector`, consecutive errors 5), its load its pending requests.
//!
//! An implementation's overhead is its time minus `p2c` in the same run.
//!
//! ```text
//! cargo bench --bench outlier --features outlier            # 15 rounds of 100,000 calls
//! cargo bench --bench outlier --features outlier -- 31 200000 # rounds, calls per batch
//! ```

use std::hint::black_box;
use std::time::{Duration, Instant};

use tokio::runtime::Runtime;
use tower::balance::p2c::Balance;
use tower::discover::ServiceList;
use tower::load::{CompleteOnResponse, PeakEwmaDiscover, PendingRequestsDiscover};
use tower::util::BoxService;
use tower::{service_fn, BoxError, Layer, Service, ServiceExt};
use tower_breakwater::outlier::OutlierDetector;
use tower_resilience::outlier as tr;

type Pool = BoxService<u64, u64, BoxError>;

type Answer = std::future::Ready<Result<u64, BoxError>>;
type Replica = tower::util::ServiceFn<fn(u64) -> Answer>;

fn answer(x: u64) -> Answer {
    std::future::ready(Ok(x))
}

fn endpoint() -> Replica {
    service_fn(answer as fn(u64) -> Answer)
}

fn list(n: usize) -> ServiceList<Vec<Replica>> {
    ServiceList::new((0..n).map(|_| endpoint()).collect())
}

/// The contenders for a pool of `n` endpoints, by name. Boxed: the box costs every
/// contender the same, and cancels out of the differences.
fn contenders(rt: &Runtime, n: usize) -> Vec<(&'static str, Pool)> {
    let p2c = Balance::new(PendingRequestsDiscover::new(
        list(n),
        CompleteOnResponse::default(),
    ));
    let ewma = Balance::new(PeakEwmaDiscover::new(
        list(n),
        Duration::from_millis(30),
        Duration::from_secs(10),
        CompleteOnResponse::default(),
    ));
    let breakwater = |peak_ewma: bool| {
        rt.block_on(async {
            let detector = OutlierDetector::builder("pool")
                .peak_ewma(peak_ewma)
                .build()
                .unwrap();
            let services = (0..n)
                .map(|i| detector.endpoint(i.to_string()).layer().layer(endpoint()))
                .collect::<Vec<_>>();
            Balance::new(ServiceList::new(services))
        })
    };
    let fleet = tr::OutlierDetector::new().max_ejection_percent(50);
    let services = (0..n).map(|i| {
        fleet.register(i.to_string(), 5);
        tr::OutlierDetectionLayer::builder()
            .detector(fleet.clone())
            .instance_name(i.to_string())
            .build()
            .unwrap()
            .layer(endpoint())
    });
    let resilience = Balance::new(PendingRequestsDiscover::new(
        ServiceList::new(services.collect::<Vec<_>>()),
        CompleteOnResponse::default(),
    ));
    vec![
        ("p2c", BoxService::new(p2c)),
        ("p2c_peak_ewma", BoxService::new(ewma)),
        ("breakwater", BoxService::new(breakwater(true))),
        ("breakwater_pending", BoxService::new(breakwater(false))),
        ("tower_resilience", BoxService::new(resilience)),
    ]
}

fn per_call(rt: &Runtime, pool: &mut Pool, calls: u64) -> f64 {
    rt.block_on(async {
        let start = Instant::now();
        for i in 0..calls {
            let ready = pool.ready().await.expect("always ready");
            black_box(ready.call(black_box(i)).await.expect("never fails"));
        }
        start.elapsed().as_nanos() as f64 / calls as f64
    })
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    // A contender's name (after the numbers) runs it alone, e.g. under `perf stat`.
    let only: Option<String> = std::env::args()
        .skip(1)
        .find(|a| a.parse::<u64>().is_err() && !a.starts_with('-'));
    let rounds = args.first().copied().unwrap_or(15) as usize;
    let calls = args.get(1).copied().unwrap_or(100_000);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime");
    println!("{rounds} rounds of {calls} calls per contender; ns per call");
    println!(
        "{:>6}  {:<20} {:>9} {:>16} {:>9} {:>16}",
        "pool", "contender", "median", "over p2c (med)", "fastest", "over p2c (fast)"
    );
    for n in [10usize, 1_000] {
        let mut pools = contenders(&rt, n);
        if let Some(only) = &only {
            pools.retain(|(name, _)| name == only || *name == "p2c");
        }
        for (_, pool) in &mut pools {
            per_call(&rt, pool, calls / 10); // warm up
        }
        let mut times = vec![Vec::new(); pools.len()];
        for _ in 0..rounds {
            for (i, (_, pool)) in pools.iter_mut().enumerate() {
                times[i].push(per_call(&rt, pool, calls));
            }
        }
        let fastest = |xs: &[f64]| xs.iter().copied().fold(f64::INFINITY, f64::min);
        for (i, (name, _)) in pools.iter().enumerate() {
            let over: Vec<f64> = times[i].iter().zip(&times[0]).map(|(t, p)| t - p).collect();
            println!(
                "{n:>6}  {name:<20} {:>9.1} {:>+16.1} {:>9.1} {:>+16.1}",
                median(times[i].clone()),
                median(over),
                fastest(&times[i]),
                fastest(&times[i]) - fastest(&times[0]),
            );
        }
    }
}
