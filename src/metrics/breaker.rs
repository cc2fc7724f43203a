//! The metrics of one circuit breaker, read from its snapshot and transition counters.

use prometheus::core::Collector;
use prometheus::{Gauge, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge};

use super::collect::{set_counter, Namer, Source};
use super::names::*;
use crate::circuit_breaker::{CircuitBreaker, State};

/// Transitions the breaker makes on its own, shown at zero before the first one so that
/// `rate()` sees the first increment. Operator moves (forced-open, disabled, reset) show up
/// once they happen.
const AUTOMATIC: [(State, State); 4] = [
    (State::Closed, State::Open),
    (State::Open, State::HalfOpen),
    (State::HalfOpen, State::Closed),
    (State::HalfOpen, State::Open),
];

pub(crate) struct BreakerSource {
    breaker: CircuitBreaker,
    state: IntGauge,
    state_seconds: Gauge,
    calls: IntCounterVec,
    failures: IntCounter,
    transitions: IntCounterVec,
    /// Written by the calls themselves (it is the breaker's own histogram); only listed here.
    durations: Option<Histogram>,
}

impl BreakerSource {
    /// `durations`: the histogram buckets (seconds) if call durations are asked for.
    pub(crate) fn new(
        breaker: CircuitBreaker,
        namespace: Option<&str>,
        durations: Option<&[f64]>,
    ) -> Result<Self, prometheus::Error> {
        let namer = Namer {
            namespace,
            instance: breaker.name(),
        };
        let calls = IntCounterVec::new(namer.opts(BREAKER_CALLS), &[OUTCOME_LABEL])?;
        for outcome in CALL_OUTCOMES {
            calls.with_label_values(&[outcome]);
        }
        let transitions =
            IntCounterVec::new(namer.opts(BREAKER_TRANSITIONS), &[FROM_LABEL, TO_LABEL])?;
        for (from, to) in AUTOMATIC {
            transitions.with_label_values(&[from.as_str(), to.as_str()]);
        }
        // A breaker has one histogram: a second registration shows the first one's (its
        // namespace and buckets; see `Metrics::call_durations`).
        let durations = match (durations, breaker.core().durations.get()) {
            (None, _) => None,
            (Some(_), Some(existing)) => Some(existing.clone()),
            (Some(buckets), None) => Some(Histogram::with_opts(
                HistogramOpts::from(namer.opts(BREAKER_CALL_DURATIONS)).buckets(buckets.to_vec()),
            )?),
        };
        Ok(BreakerSource {
            durations,
            state: IntGauge::with_opts(namer.opts(BREAKER_STATE))?,
            state_seconds: Gauge::with_opts(namer.opts(BREAKER_STATE_SECONDS))?,
            calls,
            failures: IntCounter::with_opts(namer.opts(BREAKER_FAILURES))?,
            transitions,
            breaker,
        })
    }
}

impl Source for BreakerSource {
    fn metrics(&self) -> Vec<&dyn Collector> {
        let mut metrics: Vec<&dyn Collector> = vec![
            &self.state,
            &self.state_seconds,
            &self.calls,
            &self.failures,
            &self.transitions,
        ];
        if let Some(durations) = &self.durations {
            metrics.push(durations);
        }
        metrics
    }

    /// Start timing the breaker's calls into the histogram, if there is one: only once the
    /// registration succeeded, so a failed one costs the calls nothing.
    fn registered(&self) {
        if let Some(durations) = &self.durations {
            self.breaker.core().observe_durations(durations.clone());
        }
    }

    fn refresh(&self) {
        // One snapshot: the state and its age agree with each other.
        let snapshot = self.breaker.snapshot();
        self.state.set(snapshot.state.index() as i64);
        self.state_seconds.set(snapshot.time_in_state.as_secs_f64());
        let totals = snapshot.totals;
        let by_outcome = [
            totals.successes,
            totals.failures,
            totals.rejected,
            totals.ignored,
            totals.cancelled,
        ];
        for (outcome, total) in CALL_OUTCOMES.into_iter().zip(by_outcome) {
            set_counter(&self.calls.with_label_values(&[outcome]), total);
        }
        set_counter(&self.failures, totals.counted_failures);
        for from in State::ALL {
            for to in State::ALL {
                let count = self.breaker.transitions(from, to);
                if count > 0 {
                    let child = self
                        .transitions
                        .with_label_values(&[from.as_str(), to.as_str()]);
                    set_counter(&child, count);
                }
            }
        }
    }
}
