//! CI's quick mode: the same phases and configurations at half the time (timeouts, open
//! periods, the slow answer), shorter healthy phases, timeout-only and breakwater only, and
//! assertions on counts (never on latencies, which a loaded 2-core machine cannot promise).
//!
//! The hanging phase stays long enough (6 s) that the calls a breaker must let through
//! anyway (the bulkhead's worth before it trips, then its trials) stay a small share.

use tower::BoxError;

use crate::configs::MAX_CONCURRENT;
use crate::run::{self, Outcome};
use crate::scenario::{CallerMode, Scenario};
use crate::stats::Summary;

const SCALE: f64 = 0.5;
/// Seconds of the full-scale design: healthy, hanging, 500, slow, healthy.
const PHASES: [f64; 5] = [1.0, 12.0, 2.0, 2.0, 2.0];

pub async fn run() -> Result<(), BoxError> {
    let scenario = Scenario::new(SCALE, PHASES, CallerMode::KeepAlive, None);
    let timeout_only = run::run("timeout-only", &scenario).await?;
    let breakwater = run::run("breakwater", &scenario).await?;
    let mut failures = Vec::new();

    let (s, t) = (Summary::of(&breakwater), breakwater.tally);
    println!("breakwater:   {}", describe(&breakwater, &s));
    let failed: u64 = s.phases.iter().map(|(_, f)| f.failed).sum();
    if failed > 0 || t.errors > 0 || t.abandoned() > 0 || t.stored < t.deferred {
        failures.push(format!(
            "breakwater lost checkouts: callers saw {failed} failed; A answered {} errors, \
             abandoned {}, stored {} of {} deferred",
            t.errors,
            t.abandoned(),
            t.stored,
            t.deferred
        ));
    }
    // Checkouts held on payments (or waiting for it); those in the durable write of their
    // deferral, a millisecond or two each, are bounded by the rate, not by payments.
    let held = breakwater.held.iter().map(|s| s.value).max().unwrap_or(0);
    if held > MAX_CONCURRENT as u64 + 1 {
        failures.push(format!(
            "breakwater held {held} checkouts on payments, above the bulkhead's {MAX_CONCURRENT} + 1"
        ));
    }
    if s.outage.reached_share() > 0.05 {
        failures.push(format!(
            "under breakwater {} of {} outage checkouts reached payments (more than 5 %)",
            s.outage.reached, s.outage.checkouts
        ));
    }

    let (s, t) = (Summary::of(&timeout_only), timeout_only.tally);
    println!("timeout-only: {}", describe(&timeout_only, &s));
    let reached: u64 = timeout_only.reached.iter().sum();
    if reached < t.started {
        failures.push(format!(
            "under timeout-only only {reached} of {} checkouts reached payments",
            t.started
        ));
    }

    if failures.is_empty() {
        println!("cascade quick mode: all count checks passed");
        Ok(())
    } else {
        Err(failures.join("\n").into())
    }
}

fn describe(run: &Outcome, s: &Summary) -> String {
    let t = run.tally;
    format!(
        "{} checkouts ({} charged, {} deferred, {} errors); {} of {} outage checkouts reached payments; peak {} in flight ({} held on payments)",
        t.started,
        t.charged,
        t.deferred,
        t.errors,
        s.outage.reached,
        s.outage.checkouts,
        run.in_flight.iter().map(|s| s.value).max().unwrap_or(0),
        run.held.iter().map(|s| s.value).max().unwrap_or(0),
    )
}
