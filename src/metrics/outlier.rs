//! The metrics of an outlier detector (features `metrics` and `outlier`): the pool's
//! ejection counts, and each endpoint's state up to a cap on series.

use prometheus::core::Collector;
use prometheus::{IntCounter, IntCounterVec, IntGauge, IntGaugeVec};

use super::collect::{set_counter, Namer, Source};
use crate::outlier::{EjectionReason, OutlierDetector};

/// The most endpoints shown one by one in `outlier_endpoint_ejected` (per pool); the rest
/// are counted in `outlier_endpoints_unlisted`. The one place this cap lives: it is meant
/// to become the keyed breakers' series cap once both are in the crate.
pub(crate) const ENDPOINT_SERIES_CAP: usize = 100;

const ENDPOINTS: (&str, &str) = ("outlier_endpoints", "Endpoints in the pool.");
const EJECTED: (&str, &str) = (
    "outlier_ejected_endpoints",
    "Endpoints of the pool ejected now.",
);
const EJECTIONS: (&str, &str) = (
    "outlier_ejections_total",
    "Ejections made, by the rule that asked for them.",
);
const DETECTIONS: (&str, &str) = (
    "outlier_detections_total",
    "Outliers detected, ejected or not (enforcing percentages, detect-only rules).",
);
const REFUSED: (&str, &str) = (
    "outlier_ejections_refused_total",
    "Enforced ejections refused because max_ejection_percent was reached.",
);
const ENDPOINT_EJECTED: (&str, &str) = (
    "outlier_endpoint_ejected",
    "1 while the endpoint is ejected, else 0 (the first endpoints of the pool, up to a cap).",
);
const UNLISTED: (&str, &str) = (
    "outlier_endpoints_unlisted",
    "Endpoints left out of outlier_endpoint_ejected by its cap on series.",
);

const REASON_LABEL: &str = "reason";
const ENDPOINT_LABEL: &str = "endpoint";

pub(crate) struct OutlierSource {
    detector: OutlierDetector,
    endpoints: IntGauge,
    ejected: IntGauge,
    ejections: IntCounterVec,
    detections: IntCounterVec,
    refused: IntCounter,
    endpoint_ejected: IntGaugeVec,
    unlisted: IntGauge,
}

impl OutlierSource {
    pub(crate) fn new(
        detector: OutlierDetector,
        namespace: Option<&str>,
    ) -> prometheus::Result<Self> {
        let namer = Namer {
            namespace,
            instance: detector.name(),
        };
        let ejections = IntCounterVec::new(namer.opts(EJECTIONS), &[REASON_LABEL])?;
        let detections = IntCounterVec::new(namer.opts(DETECTIONS), &[REASON_LABEL])?;
        for reason in EjectionReason::ALL {
            ejections.with_label_values(&[reason.as_str()]);
            detections.with_label_values(&[reason.as_str()]);
        }
        Ok(OutlierSource {
            endpoints: IntGauge::with_opts(namer.opts(ENDPOINTS))?,
            ejected: IntGauge::with_opts(namer.opts(EJECTED))?,
            refused: IntCounter::with_opts(namer.opts(REFUSED))?,
            endpoint_ejected: IntGaugeVec::new(namer.opts(ENDPOINT_EJECTED), &[ENDPOINT_LABEL])?,
            unlisted: IntGauge::with_opts(namer.opts(UNLISTED))?,
            ejections,
            detections,
            detector,
        })
    }
}

impl Source for OutlierSource {
    fn metrics(&self) -> Vec<&dyn Collector> {
        vec![
            &self.endpoints,
            &self.ejected,
            &self.ejections,
            &self.detections,
            &self.refused,
            &self.endpoint_ejected,
            &self.unlisted,
        ]
    }

    fn refresh(&self) {
        let gauge = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        let d = &self.detector;
        self.endpoints.set(gauge(d.endpoints()));
        self.ejected.set(gauge(d.ejected()));
        for reason in EjectionReason::ALL {
            let label = [reason.as_str()];
            set_counter(
                &self.ejections.with_label_values(&label),
                d.ejections(reason),
            );
            set_counter(
                &self.detections.with_label_values(&label),
                d.detections(reason),
            );
        }
        set_counter(&self.refused, d.cap_refusals());
        // Endpoints come and go: the series are rebuilt at each scrape, so a removed
        // endpoint's series goes with it.
        self.endpoint_ejected.reset();
        let snapshot = d.snapshot();
        for endpoint in snapshot.iter().take(ENDPOINT_SERIES_CAP) {
            let ejected = i64::from(endpoint.ejected_for.is_some());
            self.endpoint_ejected
                .with_label_values(&[endpoint.label.as_str()])
                .set(ejected);
        }
        let unlisted = snapshot.len().saturating_sub(ENDPOINT_SERIES_CAP);
        self.unlisted.set(gauge(unlisted));
    }
}
