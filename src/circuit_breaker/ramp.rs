//! The half-open ramp (an option, [`Builder::half_open_ramp`](super::Builder::half_open_ramp)):
//! instead of a fixed number of trial calls, half-open admits a growing share of the calls
//! in stages, each lasting `stage_for`, and closes after the last one; any failed (or slow)
//! call on the way opens the breaker again, as a failed trial does.
//!
//! # How it fits the state machine
//! Half-open stays one state of the state word. The caller that moves the breaker from open
//! to half-open publishes when that episode began ([`RampStart`]); every later admission in
//! the episode reads the clock, finds its stage, and admits with that stage's probability
//! (a trial ticket of the episode's generation, without touching the word, so there is no
//! permit count to exhaust). The first admission after the last stage closes the breaker.
//! Outcomes go through the usual trial path, except that a success does not count toward
//! `success_threshold`: time, not a number of successes, closes a ramped breaker.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use super::core::Core;
use super::state::{Refusal, State, Ticket};

/// The ramp's stages, checked by the builder: 1 to 16 shares in (0, 1], non-decreasing.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Ramp {
    pub(crate) shares: Box<[f64]>,
    pub(crate) stage_for: Duration,
}

/// The most stages a ramp may have.
pub(crate) const MAX_STAGES: usize = 16;

impl Ramp {
    /// The share of calls admitted `elapsed` nanoseconds into half-open, or `None` once the
    /// last stage is over.
    pub(crate) fn share_at(&self, elapsed: u64) -> Option<f64> {
        let stage_nanos = u64::try_from(self.stage_for.as_nanos()).unwrap_or(u64::MAX);
        let stage = elapsed / stage_nanos.max(1);
        usize::try_from(stage)
            .ok()
            .and_then(|stage| self.shares.get(stage).copied())
    }
}

/// When the current half-open episode began, published by the caller that opened it.
/// Until it is published (a few instructions after the transition) an episode reads as
/// just begun: its first stage.
#[derive(Debug, Default)]
pub(crate) struct RampStart {
    /// The half-open generation `since` belongs to; written after `since` (Release).
    generation: AtomicU32,
    since: AtomicU64,
}

impl RampStart {
    pub(crate) fn publish(&self, generation: u32, now: u64) {
        self.since.store(now, Ordering::Relaxed);
        self.generation.store(generation, Ordering::Release);
    }

    /// When episode `generation` began, if published.
    fn since(&self, generation: u32) -> Option<u64> {
        if self.generation.load(Ordering::Acquire) != generation {
            return None;
        }
        let since = self.since.load(Ordering::Acquire);
        // A later episode may have published in between: then this one is over anyway.
        (self.generation.load(Ordering::Relaxed) == generation).then_some(since)
    }
}

impl Core {
    /// Admit or refuse a call of a half-open breaker with a ramp; `None` when the breaker is
    /// not half-open (or the ramp just closed it): then the usual admission decides.
    pub(super) fn admit_ramp(&self, ramp: &Ramp) -> Option<Result<Ticket, Refusal>> {
        let (state, generation) = self.state.state();
        if state != State::HalfOpen {
            return None;
        }
        let now = self.now();
        let elapsed = self
            .ramp_start
            .since(generation)
            .map_or(0, |since| now.saturating_sub(since));
        match ramp.share_at(elapsed) {
            Some(share) if share >= 1.0 || fastrand::f64() < share => {
                Some(Ok(Ticket::trial(generation).with_breaker(self.id)))
            }
            Some(_) => Some(Err(Refusal::HalfOpenFull)),
            None => {
                self.close(generation);
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_follow_each_other_then_end() {
        let ramp = Ramp {
            shares: vec![0.01, 0.05, 0.25, 0.5].into(),
            stage_for: Duration::from_nanos(10),
        };
        let shares: Vec<Option<f64>> = [0, 9, 10, 19, 20, 30, 39, 40, u64::MAX]
            .into_iter()
            .map(|t| ramp.share_at(t))
            .collect();
        assert_eq!(
            shares,
            [
                Some(0.01),
                Some(0.01),
                Some(0.05),
                Some(0.05),
                Some(0.25),
                Some(0.5),
                Some(0.5),
                None,
                None
            ]
        );
    }

    #[test]
    fn an_unpublished_episode_reads_as_just_begun() {
        let start = RampStart::default();
        assert_eq!(start.since(3), None);
        start.publish(3, 77);
        assert_eq!(start.since(3), Some(77));
        assert_eq!(start.since(5), None);
    }
}
