//! The metrics of the other layers: bulkhead, retry, timeout and fallback. Each reads the
//! counters its layer already keeps.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use prometheus::core::Collector;
use prometheus::{Gauge, IntCounter, IntCounterVec, IntGauge};

use super::collect::{set_counter, Namer, Source};
use super::names::*;
use crate::bulkhead::Bulkhead;
use crate::retry::Budget;

pub(crate) struct BulkheadSource {
    bulkhead: Bulkhead,
    in_flight: IntGauge,
    waiting: IntGauge,
    max_concurrent: IntGauge,
    rejected: IntCounter,
}

impl BulkheadSource {
    pub(crate) fn new(bulkhead: Bulkhead, namespace: Option<&str>) -> prometheus::Result<Self> {
        let namer = Namer {
            namespace,
            instance: bulkhead.name(),
        };
        Ok(BulkheadSource {
            in_flight: IntGauge::with_opts(namer.opts(BULKHEAD_IN_FLIGHT))?,
            waiting: IntGauge::with_opts(namer.opts(BULKHEAD_WAITING))?,
            max_concurrent: IntGauge::with_opts(namer.opts(BULKHEAD_MAX_CONCURRENT))?,
            rejected: IntCounter::with_opts(namer.opts(BULKHEAD_REJECTED))?,
            bulkhead,
        })
    }
}

impl Source for BulkheadSource {
    fn metrics(&self) -> Vec<&dyn Collector> {
        vec![
            &self.in_flight,
            &self.waiting,
            &self.max_concurrent,
            &self.rejected,
        ]
    }

    fn refresh(&self) {
        let gauge = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        self.in_flight.set(gauge(self.bulkhead.in_flight()));
        self.waiting.set(gauge(self.bulkhead.waiting()));
        self.max_concurrent
            .set(gauge(self.bulkhead.max_concurrent()));
        set_counter(&self.rejected, self.bulkhead.rejected());
    }
}

/// What a retry layer shares with its metrics (the layer itself is generic).
#[derive(Debug, Clone)]
pub(crate) struct RetryPart {
    pub(crate) name: crate::Name,
    pub(crate) stats: Arc<crate::retry::Stats>,
    pub(crate) budget: Option<Budget>,
}

pub(crate) struct RetrySource {
    part: RetryPart,
    attempts: IntCounter,
    calls: IntCounterVec,
    budget_available: Option<IntGauge>,
}

impl RetrySource {
    pub(crate) fn new(part: RetryPart, namespace: Option<&str>) -> prometheus::Result<Self> {
        let namer = Namer {
            namespace,
            instance: part.name.as_str(),
        };
        let calls = IntCounterVec::new(namer.opts(RETRY_CALLS), &[OUTCOME_LABEL])?;
        for outcome in RETRY_OUTCOMES {
            calls.with_label_values(&[outcome]);
        }
        let budget_available = match part.budget {
            Some(_) => Some(IntGauge::with_opts(namer.opts(RETRY_BUDGET_AVAILABLE))?),
            None => None,
        };
        Ok(RetrySource {
            attempts: IntCounter::with_opts(namer.opts(RETRY_ATTEMPTS))?,
            calls,
            budget_available,
            part,
        })
    }
}

impl Source for RetrySource {
    fn metrics(&self) -> Vec<&dyn Collector> {
        let mut metrics: Vec<&dyn Collector> = vec![&self.attempts, &self.calls];
        if let Some(gauge) = &self.budget_available {
            metrics.push(gauge);
        }
        metrics
    }

    fn refresh(&self) {
        let stats = &self.part.stats;
        set_counter(&self.attempts, stats.retries.load(Relaxed));
        let by_outcome = [
            &stats.recovered,
            &stats.failed,
            &stats.exhausted,
            &stats.budget_exhausted,
        ];
        for (outcome, total) in RETRY_OUTCOMES.into_iter().zip(by_outcome) {
            set_counter(
                &self.calls.with_label_values(&[outcome]),
                total.load(Relaxed),
            );
        }
        if let (Some(gauge), Some(budget)) = (&self.budget_available, &self.part.budget) {
            gauge.set(i64::try_from(budget.available()).unwrap_or(i64::MAX));
        }
    }
}

/// What a timeout layer shares with its metrics.
#[derive(Debug, Clone)]
pub(crate) struct TimeoutPart {
    pub(crate) name: crate::Name,
    pub(crate) limit: Duration,
    pub(crate) fired: Arc<crate::timeout::Fired>,
}

pub(crate) struct TimeoutSource {
    part: TimeoutPart,
    expired: IntCounter,
    limit: Gauge,
}

impl TimeoutSource {
    pub(crate) fn new(part: TimeoutPart, namespace: Option<&str>) -> prometheus::Result<Self> {
        let namer = Namer {
            namespace,
            instance: part.name.as_str(),
        };
        let limit = Gauge::with_opts(namer.opts(TIMEOUT_LIMIT))?;
        limit.set(part.limit.as_secs_f64());
        Ok(TimeoutSource {
            expired: IntCounter::with_opts(namer.opts(TIMEOUT_TIMEOUTS))?,
            limit,
            part,
        })
    }
}

impl Source for TimeoutSource {
    fn metrics(&self) -> Vec<&dyn Collector> {
        vec![&self.expired, &self.limit]
    }

    fn refresh(&self) {
        set_counter(&self.expired, self.part.fired.count());
    }
}

/// What a fallback shares with its metrics.
#[derive(Debug, Clone)]
pub(crate) struct FallbackPart {
    pub(crate) name: crate::Name,
    pub(crate) count: Arc<AtomicU64>,
}

pub(crate) struct FallbackSource {
    part: FallbackPart,
    fallbacks: IntCounter,
}

impl FallbackSource {
    pub(crate) fn new(part: FallbackPart, namespace: Option<&str>) -> prometheus::Result<Self> {
        let namer = Namer {
            namespace,
            instance: part.name.as_str(),
        };
        Ok(FallbackSource {
            fallbacks: IntCounter::with_opts(namer.opts(BREAKER_FALLBACKS))?,
            part,
        })
    }
}

impl Source for FallbackSource {
    fn metrics(&self) -> Vec<&dyn Collector> {
        vec![&self.fallbacks]
    }

    fn refresh(&self) {
        set_counter(&self.fallbacks, self.part.count.load(Relaxed));
    }
}
