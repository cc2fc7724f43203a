//! The library API: a circuit breaker around plain async code, no tower.
//!
//! A "forecast service" (an async function here, a remote API in real life) works, fails,
//! and recovers. The caller wraps each call in `breaker.call(|| async { ... })`:
//! - three failures in a row open the breaker; while it is open the function is not called
//!   at all and the caller serves its last good answer instead;
//! - after `open_for`, trial calls go through; two successes close the breaker again;
//! - `call_with` takes a classifier: a "city not found" answer is the caller's mistake, not
//!   the service's, so it counts neither way;
//! - the same function behind the rest of the stack (a timeout and a retry, built by the
//!   composer, no tower code of our own): a slow answer times out and is retried, and the
//!   caller gets one `tower_breakwater::Error` saying what happened.
//!
//! Transitions are printed with their `Display` (`circuit 'forecast': closed -> open`).
//!
//! Prints every step and every transition, checks the story went as told (exit 1
//! otherwise) and finishes in well under a second.
//!
//! Run: `cargo run --example library_api`

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use tower::{service_fn, Layer, ServiceExt};
use tower_breakwater::circuit_breaker::{CircuitBreaker, Error, State};
use tower_breakwater::classify::Outcome;
use tower_breakwater::retry::Backoff;
use tower_breakwater::Resilience;

/// The remote service's errors.
#[derive(Debug)]
enum ForecastError {
    Unavailable,
    UnknownCity(String),
}

impl std::fmt::Display for ForecastError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ForecastError::Unavailable => f.write_str("forecast service unavailable"),
            ForecastError::UnknownCity(city) => write!(f, "no such city: {city}"),
        }
    }
}

/// Stands in for a remote API; `HEALTHY` is its health, `CALLS` counts what reached it.
static HEALTHY: AtomicBool = AtomicBool::new(true);
static SLOW: AtomicBool = AtomicBool::new(false);
static CALLS: AtomicU32 = AtomicU32::new(0);

async fn fetch_forecast(city: &str) -> Result<String, ForecastError> {
    CALLS.fetch_add(1, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(5)).await; // the network
    if SLOW.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    if !HEALTHY.load(Ordering::Relaxed) {
        return Err(ForecastError::Unavailable);
    }
    match city {
        "Lisbon" => Ok("sunny, 24°C".to_string()),
        "Oslo" => Ok("snow, -3°C".to_string()),
        other => Err(ForecastError::UnknownCity(other.to_string())),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let breaker = CircuitBreaker::builder("forecast")
        .consecutive_failures(3)
        .open_for(Duration::from_millis(200))
        .half_open_permits(2)
        .success_threshold(2)
        .build()
        .expect("valid config");

    // Every transition (an operator would log or alert on these), printed after each step.
    let mut transitions = breaker.subscribe();
    let mut seen = Vec::new();
    let mut print_transitions = || {
        while let Ok(t) = transitions.try_recv() {
            println!("    [transition] {t}");
            seen.push((t.from, t.to));
        }
    };

    let mut last_good = String::from("(no forecast yet)");
    let mut served_from_cache = 0;

    println!("1. the service is healthy");
    for city in ["Lisbon", "Oslo"] {
        let forecast = breaker.call(|| fetch_forecast(city)).await;
        println!("  {city}: {forecast:?}");
        if let Ok(forecast) = forecast {
            last_good = forecast;
        }
    }
    print_transitions();

    println!("2. the service falls over: three failures in a row open the breaker");
    HEALTHY.store(false, Ordering::Relaxed);
    for attempt in 1..=5 {
        match breaker.call(|| fetch_forecast("Lisbon")).await {
            Ok(forecast) => println!("  attempt {attempt}: {forecast}"),
            Err(Error::Inner(e)) => println!("  attempt {attempt}: called, failed: {e}"),
            Err(Error::Rejected(open)) => {
                // Not called at all: no socket, no timeout to wait out.
                served_from_cache += 1;
                println!("  attempt {attempt}: not called ({open}); serving \"{last_good}\"");
            }
        }
        print_transitions();
    }
    let calls_while_down = CALLS.load(Ordering::Relaxed);

    println!("3. the service recovers; after open_for, trial calls close the breaker");
    HEALTHY.store(true, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(250)).await;
    for attempt in 1..=2 {
        let forecast = breaker.call(|| fetch_forecast("Oslo")).await;
        println!(
            "  trial {attempt}: {forecast:?}, breaker {}",
            breaker.state()
        );
        print_transitions();
    }

    println!("4. call_with: an unknown city is our mistake, not the service's");
    let breaker_only_minds_outages = |result: &Result<String, ForecastError>| match result {
        Ok(_) => Outcome::Success,
        Err(ForecastError::UnknownCity(_)) => Outcome::Ignored,
        Err(ForecastError::Unavailable) => Outcome::Failure,
    };
    for _ in 0..5 {
        let forecast = breaker
            .call_with(&breaker_only_minds_outages, || fetch_forecast("Atlantis"))
            .await;
        if let Err(Error::Inner(e)) = &forecast {
            println!("  {e} (ignored by the breaker)");
        }
    }

    let snapshot = breaker.snapshot();
    let totals = snapshot.totals;
    println!(
        "totals: {} successes, {} failures, {} ignored, {} rejected; breaker {}",
        totals.successes, totals.failures, totals.ignored, totals.rejected, snapshot.state
    );
    print_transitions();
    let state = snapshot.state;
    let opened = breaker.transitions(State::Closed, State::Open);

    println!("5. the same function behind a timeout and a retry (the composer, no tower code)");
    let stack = Resilience::builder("forecast")
        .with_retry(|retry| {
            retry
                .max_attempts(2)
                .backoff(Backoff::constant(Duration::from_millis(10)))
        })
        .timeout(Duration::from_millis(50))
        .build()
        .expect("valid config");
    let forecasts = stack.layer(service_fn(|city: &'static str| fetch_forecast(city)));
    SLOW.store(true, Ordering::Relaxed);
    let slow = forecasts.clone().oneshot("Lisbon").await;
    SLOW.store(false, Ordering::Relaxed);
    let gave_up = match &slow {
        Err(tower_breakwater::Error::RetriesExhausted(gave_up)) => {
            println!("  slow: {gave_up}");
            gave_up.attempts() == 2 && gave_up.last().is_timeout()
        }
        other => {
            println!("  slow: unexpected {other:?}");
            false
        }
    };
    let fast = forecasts.oneshot("Oslo").await;
    println!("  fast again: {fast:?}");
    let stack_ok = gave_up && fast.is_ok();

    // The story above, checked: so this example is also a smoke test.
    let expected = [
        (State::Closed, State::Open),
        (State::Open, State::HalfOpen),
        (State::HalfOpen, State::Closed),
    ];
    let ok = state == State::Closed
        && opened == 1
        && seen == expected
        && served_from_cache == 2
        && calls_while_down == 5 // 2 healthy + 3 failed; the 2 rejected never reached it
        && totals.ignored == 5
        && totals.rejected == 2
        && stack_ok;
    if !ok {
        eprintln!("unexpected story: transitions {seen:?}, served from cache {served_from_cache}");
        std::process::exit(1);
    }
    println!("ok: the breaker opened once, spared the service 2 calls, and closed again; the stack timed out and retried");
}
