//! Service A, run as its own process (`cascade serve-a …`), so that its fds, memory and
//! file limit are its own: axum with `/browse` (needs nothing) and `/checkout` (calls
//! payments through the configuration under test).
//!
//! It talks to the driver on stdout, one line per fact:
//! `LISTEN <port>` once, `S <unix µs> <checkouts in flight> <of which deferring>` every
//! 50 ms (deferring: waiting for the durable write of their deferred payment),
//! `T <unix µs> <state>` on each breaker transition, and `END <tally>` after its stdin
//! closes, just before it exits.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use tower::{BoxError, ServiceExt};

use crate::configs::{self, Checkout, Paid};
use crate::deferred::DeferredPayments;

/// What `serve-a` is told on its command line.
pub struct Args {
    pub config: String,
    pub scale: f64,
    pub payments: String,
    pub db: PathBuf,
}

impl Args {
    pub fn parse(args: &[String]) -> Result<Args, String> {
        let [config, scale, payments, db] = args else {
            return Err("usage: cascade serve-a CONFIG SCALE PAYMENTS_ADDR DB_PATH".into());
        };
        Ok(Args {
            config: config.clone(),
            scale: scale
                .parse()
                .ok()
                .filter(|s: &f64| *s > 0.0 && *s <= 10.0)
                .ok_or("SCALE must be a number in (0, 10]")?,
            payments: payments.clone(),
            db: PathBuf::from(db),
        })
    }
}

#[derive(Default)]
struct Tally {
    in_flight: AtomicU64,
    started: AtomicU64,
    charged: AtomicU64,
    deferred: AtomicU64,
    errors: AtomicU64,
    /// Deferred checkouts' time in A, summed (µs): what the durable write costs a caller.
    deferred_micros: AtomicU64,
}

struct App {
    checkout: Checkout,
    tally: Tally,
    next_order: AtomicU64,
}

pub async fn serve(args: Args) -> Result<(), BoxError> {
    let deferred = DeferredPayments::open(&args.db).await?;
    let uri = format!("http://{}/charge", args.payments);
    let checkout = configs::build(&args.config, args.scale, &uri, &deferred)?;
    let app = Arc::new(App {
        checkout,
        tally: Tally::default(),
        next_order: AtomicU64::new(1),
    });
    let router = Router::new()
        .route("/browse", get(browse))
        .route("/checkout", get(pay))
        .with_state(app.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("LISTEN {}", listener.local_addr()?.port());
    tokio::spawn(async move { axum::serve(listener, router).await });

    let sampled = app.clone();
    let writes = deferred.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_millis(50));
        loop {
            every.tick().await;
            let deferring = writes.in_progress();
            let in_flight = sampled.tally.in_flight.load(Ordering::Relaxed);
            println!("S {} {in_flight} {deferring}", unix_micros(Duration::ZERO));
        }
    });

    // The driver closes our stdin when the run is over.
    tokio::task::spawn_blocking(|| std::io::copy(&mut std::io::stdin(), &mut std::io::sink()))
        .await??;
    let t = &app.tally;
    println!(
        "END started={} charged={} deferred={} errors={} stored={} deferred_micros={}",
        t.started.load(Ordering::Relaxed),
        t.charged.load(Ordering::Relaxed),
        t.deferred.load(Ordering::Relaxed),
        t.errors.load(Ordering::Relaxed),
        deferred.len().await?,
        t.deferred_micros.load(Ordering::Relaxed),
    );
    Ok(())
}

async fn browse() -> &'static str {
    "catalogue"
}

async fn pay(State(app): State<Arc<App>>) -> (StatusCode, &'static str) {
    let _in_flight = InFlight::enter(&app.tally.in_flight);
    app.tally.started.fetch_add(1, Ordering::Relaxed);
    let order = app.next_order.fetch_add(1, Ordering::Relaxed);
    let began = std::time::Instant::now();
    let (counter, answer) = match app.checkout.clone().oneshot(order).await {
        Ok(Paid::Charged) => (&app.tally.charged, (StatusCode::OK, "charged")),
        Ok(Paid::Deferred) => (&app.tally.deferred, (StatusCode::ACCEPTED, "deferred")),
        Err(_) => (
            &app.tally.errors,
            (StatusCode::SERVICE_UNAVAILABLE, "payment failed"),
        ),
    };
    counter.fetch_add(1, Ordering::Relaxed);
    if answer.0 == StatusCode::ACCEPTED {
        let micros = began.elapsed().as_micros() as u64;
        app.tally
            .deferred_micros
            .fetch_add(micros, Ordering::Relaxed);
    }
    answer
}

/// Counts a checkout in flight until its handler ends, or is dropped because its caller
/// went away.
struct InFlight<'a>(&'a AtomicU64);

impl<'a> InFlight<'a> {
    fn enter(counter: &'a AtomicU64) -> Self {
        counter.fetch_add(1, Ordering::Relaxed);
        InFlight(counter)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Tell the driver the breaker entered `state` now.
pub fn transition(state: &str) {
    transition_at(state, Duration::ZERO);
}

/// Tell the driver the breaker entered `state`, `ago` before now.
pub fn transition_at(state: &str, ago: Duration) {
    println!("T {} {state}", unix_micros(ago));
}

fn unix_micros(ago: Duration) -> u128 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    now.saturating_sub(ago).as_micros()
}
