//! The scenario: six replicas behind p2c + ejection + the brief's bulkhead, configured
//! from the brief's DestinationRule; replicas go bad and heal on a schedule; a timeline of
//! what the detector did, a tally, and the promises checked.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::Empty;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tower::balance::p2c::Balance;
use tower::discover::ServiceList;
use tower::timeout::Timeout;
use tower::{service_fn, BoxError, Layer, Service, ServiceBuilder, ServiceExt};
use tower_breakwater::outlier::istio::PoolSettings;
use tower_breakwater::outlier::{Endpoint, HttpOutcomes, OutlierDetector};

#[path = "replica.rs"]
mod replica;
pub use replica::Mode;
use replica::{serve, Replica, PHASES};

/// The brief's rule, verbatim.
pub const BRIEF_YAML: &str = "\
apiVersion: networking.istio.io/v1alpha3
kind: DestinationRule
metadata:
  name: payment-circuit-breaker
spec:
  host: payment-service
  trafficPolicy:
    connectionPool:
      tcp:
        maxConnections: 100
      http:
        http1MaxPendingRequests: 50
        maxRequestsPerConnection: 2
    outlierDetection:
      consecutiveErrors: 5
      interval: 30s
      baseEjectionTime: 30s
      maxEjectionPercent: 50
";

const REPLICAS: usize = 6;
/// The client's per-try limit: a hung or slow replica fails as a timeout (a gateway
/// failure).
const PER_TRY: Duration = Duration::from_millis(250);
/// Calls in flight at most, and calls started per millisecond.
const IN_FLIGHT: usize = 32;
const PER_TICK: usize = 2;

/// The schedule, in the brief's seconds (its interval is 30).
const BAD_AT: f64 = 20.0;
const FOURTH_AT: f64 = 45.0;
const HEAL_AT: f64 = 110.0;
const END_AT: f64 = 160.0;

pub struct Report {
    /// Calls a gate let through to an ejected replica (pool not panicking).
    pub ejected_calls: u64,
    pub max_ejected: usize,
    pub cap: usize,
    pub cap_refusals: u64,
    pub ejections: u64,
    pub calls: u64,
    pub failed: u64,
}

impl Report {
    pub fn broken_promises(&self) -> Vec<String> {
        let mut broken = Vec::new();
        if self.ejected_calls > 0 {
            broken.push(format!(
                "{} calls reached ejected replicas",
                self.ejected_calls
            ));
        }
        if self.max_ejected > self.cap {
            broken.push(format!(
                "{} replicas ejected at once, cap {}",
                self.max_ejected, self.cap
            ));
        }
        broken
    }
}

/// Counts calls that reach a replica while it is ejected: it sits inside the gate, so its
/// `poll_ready` runs only when the gate let the call through.
#[derive(Clone)]
struct Watch<S> {
    inner: S,
    endpoint: Endpoint,
    detector: OutlierDetector,
    ejected_calls: Arc<AtomicU64>,
}

impl<S: Service<R>, R> Service<R> for Watch<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        if self.endpoint.is_ejected() && !self.detector.panicking() {
            self.ejected_calls.fetch_add(1, Relaxed);
        }
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: R) -> S::Future {
        self.inner.call(req)
    }
}

/// Run the scenario with the brief's times divided by `speed`; print as it goes if `loud`.
pub async fn run(speed: f64, loud: bool) -> Result<Report, BoxError> {
    let say = |line: String| {
        if loud {
            println!("{line}");
        }
    };
    let settings = PoolSettings::from_yaml(BRIEF_YAML)?;
    let scaled = |brief_secs: f64| Duration::from_secs_f64(brief_secs / speed);
    say(format!(
        "pool '{}' for host '{}', from the brief's DestinationRule; time runs {speed}× faster",
        settings.name(),
        settings.host()
    ));
    // The brief's consecutiveErrors counts gateway failures only (Istio's definition):
    // a replica answering plain 500s would never be ejected by it. Istio's newer
    // consecutive5xxErrors: 5 is added here so that it is.
    let detector = settings
        .outlier_detector()
        .ok_or("the rule has no outlierDetection")?
        .consecutive_5xx(5, 100)
        .interval(scaled(30.0))
        .base_ejection_time(scaled(30.0))
        .failure_penalty(scaled(5.0), scaled(300.0))
        .load_estimate(Duration::from_millis(1), scaled(10.0))
        .build()?;
    let bulkhead = settings.bulkhead().ok_or("no connectionPool")?.build()?;
    match settings.hyper_util_pool_max_idle_per_host() {
        Ok(_) => {}
        Err(e) => say(format!("note: {e}")),
    }
    say(format!(
        "bulkhead: {} in flight, {} waiting; consecutive gateway failures 5 (consecutiveErrors) \
         and 5xx 5, interval {:?}, base ejection {:?}, max ejected 50 %",
        bulkhead.max_concurrent(),
        bulkhead.max_waiting(),
        scaled(30.0),
        scaled(30.0)
    ));

    let phase = Arc::new(AtomicUsize::new(0));
    let mut replicas: Vec<Replica> = Vec::new();
    for _ in 0..REPLICAS {
        replicas.push(serve(phase.clone()).await?);
    }
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let ejected_calls = Arc::new(AtomicU64::new(0));
    let endpoints: Vec<Endpoint> = (0..REPLICAS)
        .map(|i| detector.endpoint(format!("r{i}")))
        .collect();
    let services = replicas.iter().zip(&endpoints).map(|(replica, endpoint)| {
        let (client, uri) = (client.clone(), format!("http://{}/charge", replica.addr));
        let http = service_fn(move |()| {
            let request = Request::post(uri.as_str()).body(Empty::new());
            let client = client.clone();
            async move { Ok::<_, BoxError>(client.request(request?).await?) }
        });
        let watched = Watch {
            inner: http,
            endpoint: endpoint.clone(),
            detector: detector.clone(),
            ejected_calls: ejected_calls.clone(),
        };
        endpoint
            .layer_with(HttpOutcomes)
            .layer(Timeout::new(watched, PER_TRY))
    });
    let balance = Balance::new(ServiceList::new(services.collect::<Vec<_>>()));
    let mut pool = ServiceBuilder::new()
        .map_err(|e: BoxError| e)
        .layer(bulkhead.layer())
        .service(balance);

    let cap = (REPLICAS * 50 / 100).max(1);
    let (calls, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let in_flight = Arc::new(Semaphore::new(IN_FLIGHT));
    let start = Instant::now();
    let mut ticks = tokio::time::interval(Duration::from_millis(1));
    let mut shown = detector.snapshot();
    let (mut refusals_shown, mut refusal_shown_at, mut max_ejected) = (0, Duration::ZERO, 0);
    let schedule = [
        (
            BAD_AT,
            vec![(1, Mode::Error500), (2, Mode::Hang), (3, Mode::Slow)],
        ),
        (FOURTH_AT, vec![(4, Mode::Unavailable)]),
        (HEAL_AT, (1..=4).map(|i| (i, Mode::Healthy)).collect()),
    ];
    let mut next = 0;
    while start.elapsed() < scaled(END_AT) {
        ticks.tick().await;
        let now = start.elapsed();
        let t = now.as_secs_f64();
        if next < schedule.len() && now >= scaled(schedule[next].0) {
            for (i, mode) in &schedule[next].1 {
                replicas[*i].set(*mode);
                say(format!("{t:6.2}s  r{i} {}", mode.describe()));
            }
            phase.store(
                match next {
                    0 | 1 => 1,
                    _ => 2,
                },
                Relaxed,
            );
            next += 1;
        }
        for _ in 0..PER_TICK {
            let permit = in_flight.clone().acquire_owned().await?;
            let call = pool.ready().await?.call(());
            let (calls, failed) = (calls.clone(), failed.clone());
            tokio::spawn(async move {
                let ok = matches!(call.await, Ok(r) if r.status().is_success());
                calls.fetch_add(1, Relaxed);
                if !ok {
                    failed.fetch_add(1, Relaxed);
                }
                drop(permit);
            });
        }
        max_ejected = max_ejected.max(detector.ejected());
        if now.as_millis() % 20 == 0 {
            let snapshot = detector.snapshot();
            for (before, after) in shown.iter().zip(&snapshot) {
                let ejected = detector.ejected();
                match (before.ejected_for, after.ejected_for) {
                    (None, Some(time)) => say(format!(
                        "{t:6.2}s  {} ejected, {} in a row, for {:.1}s more ({ejected} of {REPLICAS} ejected)",
                        after.label,
                        after.times_ejected,
                        time.as_secs_f64(),
                    )),
                    (Some(_), None) => say(format!("{t:6.2}s  {} back in the pool", after.label)),
                    (Some(old), Some(new)) if new > old => say(format!(
                        "{t:6.2}s  {} back in the pool and ejected again, {} in a row, for {:.1}s more",
                        after.label,
                        after.times_ejected,
                        new.as_secs_f64(),
                    )),
                    _ => {}
                }
            }
            shown = snapshot;
            let refusals = detector.cap_refusals();
            if refusals > refusals_shown && now >= refusal_shown_at + Duration::from_secs(1) {
                say(format!(
                    "{t:6.2}s  cap reached: {} of {REPLICAS} ejected; {} ejections refused so far",
                    detector.ejected(),
                    refusals
                ));
                (refusals_shown, refusal_shown_at) = (refusals, now);
            }
        }
    }
    // Let the calls in flight finish (at most one per-try limit).
    let _ = in_flight.acquire_many(IN_FLIGHT as u32).await?;

    say(format!(
        "\nrequests received per replica ({} calls, {} failed):",
        calls.load(Relaxed),
        failed.load(Relaxed)
    ));
    say(format!(
        "{:>8} {:>9} {:>9} {:>9}   last mode",
        "replica", "before", "during", "after"
    ));
    for (i, replica) in replicas.iter().enumerate() {
        let n: Vec<u64> = (0..PHASES)
            .map(|p| replica.received[p].load(Relaxed))
            .collect();
        say(format!(
            "{:>8} {:>9} {:>9} {:>9}   {}",
            format!("r{i}"),
            n[0],
            n[1],
            n[2],
            replica.mode().describe()
        ));
    }
    let ejections = tower_breakwater::outlier::EjectionReason::ALL
        .iter()
        .map(|r| detector.ejections(*r))
        .sum();
    Ok(Report {
        ejected_calls: ejected_calls.load(Relaxed),
        max_ejected,
        cap,
        cap_refusals: detector.cap_refusals(),
        ejections,
        calls: calls.load(Relaxed),
        failed: failed.load(Relaxed),
    })
}
