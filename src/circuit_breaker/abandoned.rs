//! The policy for abandoned calls (an option,
//! [`Builder::abandoned_as_failures_above`](super::Builder::abandoned_as_failures_above)):
//! an admitted call whose permit or response future is dropped before its outcome is
//! *abandoned*. By default it counts neither way. With this policy it counts as a failure
//! (for the trip rule, or as a failed half-open trial) while abandoned calls are at least
//! `rate` of the calls that ended lately, so an endpoint whose calls are always abandoned by
//! the caller's deadline trips like one that fails.
//!
//! "Lately" is two spans of [`SPAN`] ended calls (successes, failures and abandoned calls),
//! the current one and the one before, read from the breaker's totals when a call is
//! abandoned: no cost on calls that end, and one sum of the counters per abandoned call.
//! No decision before [`MIN_ENDED`] calls have ended in those spans.

use parking_lot::Mutex;

use super::snapshot::Totals;

/// Ended calls per span.
pub(crate) const SPAN: u64 = 100;
/// Ended calls needed before abandoned ones can count as failures.
pub(crate) const MIN_ENDED: u64 = 10;

#[derive(Debug)]
pub(crate) struct Abandoned {
    rate: f64,
    spans: Mutex<Spans>,
}

/// `(ended, abandoned)` totals at the start of the previous and of the current span.
#[derive(Debug, Default)]
struct Spans {
    previous: (u64, u64),
    current: (u64, u64),
}

impl Abandoned {
    pub(crate) fn new(rate: f64) -> Self {
        Abandoned {
            rate,
            spans: Mutex::new(Spans::default()),
        }
    }

    /// Whether the call just abandoned (already counted in `totals.cancelled`) counts as a
    /// failure.
    pub(crate) fn counts_as_failure(&self, totals: &Totals) -> bool {
        let abandoned = totals.cancelled;
        let ended = totals.successes + totals.failures + abandoned;
        let mut spans = self.spans.lock();
        if ended.saturating_sub(spans.current.0) >= SPAN {
            spans.previous = spans.current;
            spans.current = (ended, abandoned);
        }
        let lately_ended = ended.saturating_sub(spans.previous.0);
        let lately_abandoned = abandoned.saturating_sub(spans.previous.1);
        lately_ended >= MIN_ENDED && lately_abandoned as f64 >= self.rate * lately_ended as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn totals(successes: u64, cancelled: u64) -> Totals {
        Totals {
            successes,
            cancelled,
            ..Totals::default()
        }
    }

    #[test]
    fn counts_once_the_share_is_reached_and_enough_calls_ended() {
        let policy = Abandoned::new(0.5);
        assert!(!policy.counts_as_failure(&totals(0, 1)), "too few ended");
        assert!(policy.counts_as_failure(&totals(0, 10)));
        let policy = Abandoned::new(0.5);
        assert!(!policy.counts_as_failure(&totals(9, 1)));
        assert!(policy.counts_as_failure(&totals(9, 9)));
    }

    #[test]
    fn old_spans_are_forgotten() {
        let policy = Abandoned::new(0.5);
        // 1000 successes long ago, then only abandoned calls: within two spans the share
        // of the last calls is what counts.
        assert!(!policy.counts_as_failure(&totals(1000, 1)));
        let mut cancelled = 1;
        while !policy.counts_as_failure(&totals(1000, cancelled)) {
            cancelled += 1;
            assert!(cancelled < 2 * SPAN + 1, "never counted");
        }
        assert!(cancelled <= 2 * SPAN);
    }
}
