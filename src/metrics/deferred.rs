//! The metrics of a deferred queue (features `metrics` and `deferred`).
//!
//! The counters (`deferred_enqueued_total`, `deferred_replayed_total`) are this process's,
//! read from the queue handle's atomics. The item counts and the oldest item's age describe
//! the whole queue (a fleet's, for Postgres) and need a query, which a scrape (a synchronous
//! `collect`) cannot wait for: each scrape shows the queue's last count and starts a recount
//! in the background, so the counts are at most one scrape interval old. Every
//! `Queue::stats` call records its count too. The age is computed at scrape time from the
//! oldest item's enqueue time.

use prometheus::core::Collector;
use prometheus::{Gauge, IntCounter, IntCounterVec, IntGaugeVec};

use super::collect::{set_counter, Namer, Source};
use super::names::*;
use crate::deferred::{ItemState, Queue, REPLAY_OUTCOMES};

pub(crate) struct DeferredSource {
    queue: Queue,
    /// The runtime of `Metrics::register`, used when a scrape runs outside any runtime.
    runtime: Option<tokio::runtime::Handle>,
    items: IntGaugeVec,
    enqueued: IntCounter,
    replayed: IntCounterVec,
    oldest_age: Gauge,
}

impl DeferredSource {
    pub(crate) fn new(queue: Queue, namespace: Option<&str>) -> prometheus::Result<Self> {
        let namer = Namer {
            namespace,
            instance: queue.name(),
        };
        let items = IntGaugeVec::new(namer.opts(DEFERRED_ITEMS), &[STATE_LABEL])?;
        for state in ItemState::ALL {
            items.with_label_values(&[state.as_str()]);
        }
        let replayed = IntCounterVec::new(namer.opts(DEFERRED_REPLAYED), &[OUTCOME_LABEL])?;
        for outcome in REPLAY_OUTCOMES {
            replayed.with_label_values(&[outcome]);
        }
        Ok(DeferredSource {
            enqueued: IntCounter::with_opts(namer.opts(DEFERRED_ENQUEUED))?,
            oldest_age: Gauge::with_opts(namer.opts(DEFERRED_OLDEST_AGE))?,
            runtime: tokio::runtime::Handle::try_current().ok(),
            items,
            replayed,
            queue,
        })
    }
}

impl Source for DeferredSource {
    fn metrics(&self) -> Vec<&dyn Collector> {
        vec![
            &self.items,
            &self.enqueued,
            &self.replayed,
            &self.oldest_age,
        ]
    }

    fn refresh(&self) {
        let counters = self.queue.counters();
        set_counter(&self.enqueued, counters.enqueued_total());
        for (outcome, total) in REPLAY_OUTCOMES.into_iter().zip(counters.replayed()) {
            set_counter(&self.replayed.with_label_values(&[outcome]), total);
        }
        let runtime = tokio::runtime::Handle::try_current()
            .ok()
            .or_else(|| self.runtime.clone());
        if let Some(runtime) = runtime {
            self.queue.recount_in_background(&runtime);
        }
        let Some(stats) = self.queue.last_stats() else {
            return;
        };
        let gauge = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        for (state, count) in
            ItemState::ALL
                .into_iter()
                .zip([stats.ready, stats.leased, stats.dead])
        {
            self.items
                .with_label_values(&[state.as_str()])
                .set(gauge(count));
        }
        let age_ms = stats
            .oldest_enqueued_at
            .map_or(0, |t| self.queue.now().saturating_sub(t));
        self.oldest_age.set(age_ms as f64 / 1_000.0);
    }
}
