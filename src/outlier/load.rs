//! Load biasing: one endpoint's Peak-EWMA round-trip estimate, where a failure counts as a
//! penalty latency (raised to its `Retry-After`, capped), and its calls in flight. P2C
//! compares `estimate × (in flight + 1)` and so steers away from a failing endpoint before
//! any ejection.
//!
//! The estimate and the time of its last update share one atomic word (the estimate as
//! `f32` nanoseconds in the high half, the update time in ms since the detector's epoch in
//! the low half), so a sample is one compare-and-swap and a read takes no lock.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Load-biasing settings (see [`Builder`](super::Builder)).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct LoadConfig {
    /// Off: the load is the calls in flight alone, and calls are not timed.
    pub(crate) peak_ewma: bool,
    /// The estimate of an endpoint before its first response.
    pub(crate) default_rtt: Duration,
    /// The latency a failure counts as (linkerd's default: 5 s).
    pub(crate) failure_penalty: Duration,
    /// The most a `Retry-After` raises the penalty to (300 s).
    pub(crate) max_penalty: Duration,
    /// How fast the estimate forgets: a sample's weight falls by e every `decay`.
    pub(crate) decay: Duration,
}

impl Default for LoadConfig {
    fn default() -> Self {
        LoadConfig {
            peak_ewma: true,
            default_rtt: Duration::from_millis(30),
            failure_penalty: Duration::from_secs(5),
            max_penalty: Duration::from_secs(300),
            decay: Duration::from_secs(10),
        }
    }
}

impl LoadConfig {
    /// The latency a failure is recorded as: the penalty, raised to `retry_after`, capped.
    pub(crate) fn penalty(&self, retry_after: Option<Duration>) -> Duration {
        let raised = retry_after.map_or(self.failure_penalty, |r| r.max(self.failure_penalty));
        raised.min(self.max_penalty)
    }
}

#[repr(C)]
pub(crate) struct PeakEwma {
    /// High 32 bits: the estimate (`f32` ns); low 32 bits: its time (ms, wrapping).
    word: AtomicU64,
    decay_ms: f64,
}

fn pack(rtt_ns: f64, at_ms: u64) -> u64 {
    (u64::from((rtt_ns as f32).to_bits()) << 32) | (at_ms & u64::from(u32::MAX))
}

fn unpack(word: u64) -> (f64, u32) {
    (f64::from(f32::from_bits((word >> 32) as u32)), word as u32)
}

impl PeakEwma {
    pub(crate) fn new(config: &LoadConfig, now_ms: u64) -> Self {
        PeakEwma {
            word: AtomicU64::new(pack(config.default_rtt.as_nanos() as f64, now_ms)),
            decay_ms: config.decay.as_secs_f64() * 1e3,
        }
    }

    /// The estimate at `now_ms`, decayed since its last update.
    pub(crate) fn estimate(&self, now_ms: u64) -> f64 {
        let (rtt, at) = unpack(self.word.load(Relaxed));
        let elapsed = (now_ms as u32).wrapping_sub(at);
        rtt * (-f64::from(elapsed) / self.decay_ms).exp()
    }

    /// Record one response's round trip (or a failure's penalty): a higher sample is taken
    /// at once (the "peak"), a lower one is blended in by the time since the last sample.
    pub(crate) fn sample(&self, rtt: Duration, now_ms: u64) {
        let sample = rtt.as_nanos() as f64;
        let _ = self.word.fetch_update(Relaxed, Relaxed, |word| {
            let (current, at) = unpack(word);
            let next = if sample > current {
                sample
            } else {
                let elapsed = f64::from((now_ms as u32).wrapping_sub(at));
                let kept = (-elapsed / self.decay_ms).exp();
                current * kept + sample * (1.0 - kept)
            };
            Some(pack(next, now_ms))
        });
    }

    /// What P2C compares: the estimate × (calls in flight + 1).
    pub(crate) fn cost(&self, now_ms: u64, in_flight: u32) -> f64 {
        self.estimate(now_ms) * (f64::from(in_flight) + 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: f64 = 1e6;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= b.abs() * 1e-4
    }

    #[test]
    fn a_higher_sample_is_taken_at_once_a_lower_one_is_blended() {
        let ewma = PeakEwma::new(&LoadConfig::default(), 0);
        assert!(close(ewma.estimate(0), 30.0 * MS));
        ewma.sample(Duration::from_millis(100), 0);
        assert!(close(ewma.estimate(0), 100.0 * MS));
        // 10 s later (one decay time), a 20 ms sample: 100·e⁻¹ + 20·(1 − e⁻¹) = 49.43 ms.
        ewma.sample(Duration::from_millis(20), 10_000);
        let expected = 100.0 * (-1f64).exp() + 20.0 * (1.0 - (-1f64).exp());
        assert!(close(ewma.estimate(10_000), expected * MS));
        // Read 10 s after that, unsampled: decayed by e again.
        assert!(close(ewma.estimate(20_000), expected * (-1f64).exp() * MS));
    }

    #[test]
    fn cost_counts_calls_in_flight() {
        let ewma = PeakEwma::new(&LoadConfig::default(), 0);
        assert!(close(ewma.cost(0, 2), 90.0 * MS));
    }

    #[test]
    fn penalty_is_raised_by_retry_after_and_capped() {
        let c = LoadConfig::default();
        assert_eq!(c.penalty(None), Duration::from_secs(5));
        assert_eq!(
            c.penalty(Some(Duration::from_secs(1))),
            Duration::from_secs(5)
        );
        assert_eq!(
            c.penalty(Some(Duration::from_secs(60))),
            Duration::from_secs(60)
        );
        assert_eq!(c.penalty(Some(Duration::MAX)), Duration::from_secs(300));
    }
}
