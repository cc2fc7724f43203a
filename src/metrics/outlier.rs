//! The metrics of an outlier detector (features `metrics` and `outlier`): the pool's
//! ejection counts, and each endpoint's state up to a cap on series.

use std::sync::atomic::Ordering::Relaxed;

use parking_lot::Mutex;
use prometheus::core::Collector;
use prometheus::{IntCounter, IntCounterVec, IntGauge, IntGaugeVec};

use super::cap::{SeriesCap, OTHER};
use super::collect::{set_counter, Namer, Source};
use crate::outlier::{EjectionReason, OutlierDetector};

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
    "1 while the endpoint is ejected, else 0 (endpoints past the cap on series: how many are ejected, in endpoint=\"other\").",
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
    /// Which endpoints have a series of their own: the keyed breakers' cap, so an
    /// endpoint keeps its series (or its place in `other`) for as long as it lives.
    cap: Mutex<SeriesCap>,
}

impl OutlierSource {
    pub(crate) fn new(
        detector: OutlierDetector,
        max_series: usize,
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
            cap: Mutex::new(SeriesCap::new(max_series)),
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
        // endpoint's series goes with it; those past the cap share `endpoint="other"`
        // (how many of them are ejected now).
        let members = d.shared.members();
        let live: Vec<(String, u64)> = members
            .iter()
            .map(|m| (m.health.label.to_string(), m.life))
            .collect();
        let own = self.cap.lock().assign(&live);
        self.endpoint_ejected.reset();
        let (mut unlisted, mut unlisted_ejected) = (0, 0);
        for ((label, _), (member, own)) in live.iter().zip(members.iter().zip(own)) {
            let ejected = i64::from(member.health.ejected_until.load(Relaxed) != 0);
            if own {
                self.endpoint_ejected
                    .with_label_values(&[label.as_str()])
                    .set(ejected);
            } else {
                unlisted += 1;
                unlisted_ejected += ejected;
            }
        }
        if unlisted > 0 {
            self.endpoint_ejected
                .with_label_values(&[OTHER])
                .set(unlisted_ejected);
        }
        self.unlisted.set(gauge(unlisted));
    }
}
