//! What every collector here shares: a layer's counters, read at scrape time into the
//! `prometheus` crate's own metric types, which then render themselves. Nothing is written
//! on a call's path; a scrape does all the work.

use std::sync::Arc;

use parking_lot::Mutex;
use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{IntCounter, Opts};

use super::names::NAME_LABEL;

/// One instance's metrics (one breaker, one bulkhead, ...).
pub(crate) trait Source: Send + Sync + 'static {
    /// The metrics it fills in, in the order they are rendered.
    fn metrics(&self) -> Vec<&dyn Collector>;
    /// Read the layer's counters into them.
    fn refresh(&self);
    /// Called once every collector of a `register` call is in the registry.
    fn registered(&self) {}
}

/// A [`Source`] as a `prometheus` collector. Clones are the same collector (the registry
/// knows a collector by its descriptions, so a clone can take the original out again).
#[derive(Clone)]
pub(crate) struct Scraped(Arc<Inner<dyn Source>>);

struct Inner<S: ?Sized> {
    /// Held while a scrape refreshes and renders, so two concurrent scrapes cannot
    /// interleave their refreshes and render a half-updated set.
    scraping: Mutex<()>,
    source: S,
}

impl Scraped {
    pub(crate) fn new(source: impl Source) -> Self {
        Scraped(Arc::new(Inner {
            scraping: Mutex::new(()),
            source,
        }))
    }

    /// See [`Source::registered`].
    pub(crate) fn registered(&self) {
        self.0.source.registered();
    }
}

impl Collector for Scraped {
    fn desc(&self) -> Vec<&Desc> {
        self.0
            .source
            .metrics()
            .into_iter()
            .flat_map(|metric| metric.desc())
            .collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let _scraping = self.0.scraping.lock();
        self.0.source.refresh();
        self.0
            .source
            .metrics()
            .into_iter()
            .flat_map(|metric| metric.collect())
            .collect()
    }
}

/// Builds the options of one instance's metrics: the optional namespace, and the
/// instance's name as a constant `name` label. A constant label (not a variable one) makes
/// each instance a collector of its own, so instances register one by one and the registry
/// itself refuses a second instance of the same name.
pub(crate) struct Namer<'a> {
    pub(crate) namespace: Option<&'a str>,
    pub(crate) instance: &'a str,
}

impl Namer<'_> {
    pub(crate) fn opts(&self, (name, help): (&str, &str)) -> Opts {
        let opts = Opts::new(name, help).const_label(NAME_LABEL, self.instance);
        match self.namespace {
            Some(namespace) => opts.namespace(namespace),
            None => opts,
        }
    }
}

/// Bring a counter up to `total`, a layer's running count. Totals only grow, so this only
/// ever adds; called under the scrape lock, the sole writer of these metrics.
pub(crate) fn set_counter(counter: &IntCounter, total: u64) {
    let shown = counter.get();
    if total > shown {
        counter.inc_by(total - shown);
    }
}
