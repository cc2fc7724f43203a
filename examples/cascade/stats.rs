//! What a run's raw records come to: per phase, and over the whole outage.

use std::time::Duration;

use crate::load::{Outcome as Seen, Record, Route};
use crate::run::{Outcome, Sample};

/// The figures of a set of requests (one phase, or the whole outage).
#[derive(Debug, Clone, Default)]
pub struct Figures {
    pub browse: u64,
    pub browse_ok: u64,
    pub browse_p50: Duration,
    pub browse_p99: Duration,
    pub browse_p999: Duration,
    pub checkouts: u64,
    pub charged: u64,
    pub deferred: u64,
    /// Checkouts answered with an error, or not answered in time.
    pub failed: u64,
    pub checkout_p50: Duration,
    pub checkout_p99: Duration,
    /// Calls that reached payments.
    pub reached: u64,
    pub peak_in_flight: u64,
    /// The peak of checkouts in flight not in a deferral's durable write.
    pub peak_held: u64,
    pub peak_fds: u64,
    pub peak_rss: u64,
}

impl Figures {
    pub fn browse_success(&self) -> f64 {
        ratio(self.browse_ok, self.browse)
    }

    pub fn reached_share(&self) -> f64 {
        ratio(self.reached, self.checkouts)
    }

    pub fn not_charged_share(&self) -> f64 {
        ratio(self.checkouts - self.charged, self.checkouts)
    }
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// A run, summed up.
pub struct Summary {
    pub config: String,
    /// Per phase, with its label.
    pub phases: Vec<(String, Figures)>,
    /// The hanging, 500 and slow phases together.
    pub outage: Figures,
    /// From the outage's start to the breaker's first open (none without a breaker).
    pub opened_after: Option<Duration>,
    /// From payments' recovery to the breaker's close; `Some(ZERO)` if it was closed then.
    pub closed_after: Option<Duration>,
    /// Whether the run had a breaker at all (it reported a transition).
    pub has_breaker: bool,
    /// How long payments stayed healthy at the end (the longest `closed_after` can see).
    pub recovered_for: Duration,
}

impl Summary {
    pub fn of(run: &Outcome) -> Summary {
        let scenario = &run.scenario;
        let phases = scenario
            .phases
            .iter()
            .enumerate()
            .map(|(i, phase)| {
                let within = |at: Duration| phase.contains(at);
                let figures = figures(run, &within, run.reached[i]);
                (phase.label(i), figures)
            })
            .collect();
        let outage_phases: Vec<_> = scenario
            .phases
            .iter()
            .enumerate()
            .filter(|(_, p)| p.health.is_outage())
            .collect();
        let in_outage = |at: Duration| outage_phases.iter().any(|(_, p)| p.contains(at));
        let reached = outage_phases.iter().map(|(i, _)| run.reached[*i]).sum();
        let outage = figures(run, &in_outage, reached);

        let outage_start = scenario.outage_start();
        let recovery = scenario.recovery_start();
        let opened_after = run
            .transitions
            .iter()
            .find(|(at, state)| *at >= outage_start && state == "Open")
            .map(|(at, _)| *at - outage_start);
        let closed_before = run
            .transitions
            .iter()
            .rfind(|(at, _)| *at < recovery)
            .is_none_or(|(_, state)| state == "Closed");
        let closed_after = if closed_before {
            Some(Duration::ZERO)
        } else {
            run.transitions
                .iter()
                .find(|(at, state)| *at >= recovery && state == "Closed")
                .map(|(at, _)| *at - recovery)
        };
        Summary {
            config: run.config.clone(),
            phases,
            outage,
            opened_after,
            closed_after,
            has_breaker: !run.transitions.is_empty(),
            recovered_for: scenario.total() - recovery,
        }
    }

    /// The last phase's figures (payments healthy again).
    pub fn recovered(&self) -> &Figures {
        &self.phases.last().expect("a run has phases").1
    }

    /// The first phase's figures (before the outage).
    pub fn healthy(&self) -> &Figures {
        &self.phases.first().expect("a run has phases").1
    }
}

fn figures(run: &Outcome, within: &dyn Fn(Duration) -> bool, reached: u64) -> Figures {
    let records: Vec<&Record> = run.records.iter().filter(|r| within(r.due)).collect();
    let mut browse: Vec<Duration> = Vec::new();
    let mut checkout: Vec<Duration> = Vec::new();
    let mut f = Figures {
        reached,
        ..Figures::default()
    };
    for r in &records {
        match r.route {
            Route::Browse => {
                f.browse += 1;
                f.browse_ok += u64::from(r.outcome == Seen::Ok);
                browse.push(r.latency);
            }
            Route::Checkout => {
                f.checkouts += 1;
                match r.outcome {
                    Seen::Ok => f.charged += 1,
                    Seen::Deferred => f.deferred += 1,
                    Seen::Error | Seen::TimedOut => f.failed += 1,
                }
                checkout.push(r.latency);
            }
        }
    }
    f.browse_p50 = percentile(&mut browse, 0.5);
    f.browse_p99 = percentile(&mut browse, 0.99);
    f.browse_p999 = percentile(&mut browse, 0.999);
    f.checkout_p50 = percentile(&mut checkout, 0.5);
    f.checkout_p99 = percentile(&mut checkout, 0.99);
    let peak = |samples: &[Sample]| {
        samples
            .iter()
            .filter(|s| within(s.at))
            .map(|s| s.value)
            .max()
            .unwrap_or(0)
    };
    f.peak_in_flight = peak(&run.in_flight);
    f.peak_held = peak(&run.held);
    f.peak_fds = peak(&run.fds);
    f.peak_rss = peak(&run.rss);
    f
}

/// The `q` quantile (nearest rank); zero for no values.
pub fn percentile(values: &mut [Duration], q: f64) -> Duration {
    if values.is_empty() {
        return Duration::ZERO;
    }
    values.sort_unstable();
    let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
    values[rank - 1]
}
