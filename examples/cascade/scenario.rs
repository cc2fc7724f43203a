//! What one run does: the payment service's phases, the load, and the time scale.
//!
//! Every duration a configuration uses (its timeouts, its breaker's open period) and every
//! phase length is multiplied by one `scale`, so the quick CI mode keeps the same shape as a
//! full run, only shorter.

use std::fmt;
use std::time::Duration;

/// How the payment service behaves during one phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// Answers 200 at once.
    Healthy,
    /// Accepts the request and never answers.
    Hanging,
    /// Answers 500 at once.
    Errors,
    /// Answers 200 after [`Scenario::slow_answer`].
    Slow,
}

impl Health {
    pub fn code(self) -> u8 {
        match self {
            Health::Healthy => 0,
            Health::Hanging => 1,
            Health::Errors => 2,
            Health::Slow => 3,
        }
    }

    /// An outage phase: the targets about sparing payments apply to it.
    pub fn is_outage(self) -> bool {
        self != Health::Healthy
    }
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Health::Healthy => "healthy",
            Health::Hanging => "hanging",
            Health::Errors => "500",
            Health::Slow => "slow",
        })
    }
}

/// One phase of payments' schedule, with its place in the run.
#[derive(Debug, Clone, Copy)]
pub struct Phase {
    pub health: Health,
    pub start: Duration,
    pub end: Duration,
}

impl Phase {
    pub fn contains(&self, at: Duration) -> bool {
        at >= self.start && at < self.end
    }

    /// "healthy", "hanging", "500", "slow", "recovered" (the last healthy phase).
    pub fn label(&self, index: usize) -> String {
        match (self.health, index) {
            (Health::Healthy, 0) => "healthy".into(),
            (Health::Healthy, _) => "recovered".into(),
            (health, _) => health.to_string(),
        }
    }
}

/// How callers reach service A.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallerMode {
    /// A pool of kept-alive connections, grown as needed.
    KeepAlive,
    /// A new TCP connection for every request (`Connection: close`).
    NewConnection,
}

impl fmt::Display for CallerMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CallerMode::KeepAlive => "keep-alive",
            CallerMode::NewConnection => "new connection",
        })
    }
}

/// Everything one run needs besides the configuration under test.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Multiplies every configuration's durations (1.0 in a full run).
    pub scale: f64,
    pub phases: Vec<Phase>,
    /// Requests per second to A, all routes together.
    pub rate: u32,
    /// One request in `checkout_every` is a checkout (5: 20 %).
    pub checkout_every: u64,
    /// The callers give up after this long, measured from the scheduled send time.
    pub caller_timeout: Duration,
    /// How late payments answers in its slow phase.
    pub slow_answer: Duration,
    pub mode: CallerMode,
    /// A's soft and hard limit on open files (`None`: the limit it inherits).
    pub fd_limit: Option<u64>,
}

impl Scenario {
    /// The full run's phases: healthy 3 s → hanging `hang` → 500 for 3 s → slow for 3 s →
    /// healthy 6 s.
    pub fn full(hang: Duration, mode: CallerMode, fd_limit: Option<u64>) -> Self {
        let lengths = [3.0, hang.as_secs_f64(), 3.0, 3.0, 6.0];
        Scenario::new(1.0, lengths, mode, fd_limit)
    }

    /// healthy → hanging → 500 → slow → healthy, `lengths` in seconds of the full-scale
    /// design, each multiplied by `scale`.
    pub fn new(scale: f64, lengths: [f64; 5], mode: CallerMode, fd_limit: Option<u64>) -> Self {
        let s = |secs: f64| Duration::from_secs_f64(secs * scale);
        let healths = [
            Health::Healthy,
            Health::Hanging,
            Health::Errors,
            Health::Slow,
            Health::Healthy,
        ];
        let lengths = healths.into_iter().zip(lengths.map(s));
        let mut start = Duration::ZERO;
        let phases = lengths
            .into_iter()
            .map(|(health, length)| {
                let phase = Phase {
                    health,
                    start,
                    end: start + length,
                };
                start += length;
                phase
            })
            .collect();
        Scenario {
            scale,
            phases,
            rate: 1000,
            checkout_every: 5,
            caller_timeout: Duration::from_secs(10),
            slow_answer: s(2.0),
            mode,
            fd_limit,
        }
    }

    /// A duration of the full-scale design, scaled to this run.
    pub fn scaled(&self, full: Duration) -> Duration {
        full.mul_f64(self.scale)
    }

    pub fn total(&self) -> Duration {
        self.phases.last().map_or(Duration::ZERO, |p| p.end)
    }

    /// The phase `at` (since the run's start) falls in; the last one after the end.
    pub fn phase_index(&self, at: Duration) -> usize {
        self.phases
            .iter()
            .position(|p| p.contains(at))
            .unwrap_or(self.phases.len() - 1)
    }

    pub fn health_at(&self, at: Duration) -> Health {
        self.phases[self.phase_index(at)].health
    }

    /// When the outage starts (the first unhealthy phase).
    pub fn outage_start(&self) -> Duration {
        self.phases
            .iter()
            .find(|p| p.health.is_outage())
            .map_or(Duration::ZERO, |p| p.start)
    }

    /// When payments heals for good (the last phase's start).
    pub fn recovery_start(&self) -> Duration {
        self.phases.last().map_or(Duration::ZERO, |p| p.start)
    }

    /// The hanging phase's length.
    pub fn hang(&self) -> Duration {
        self.phases
            .iter()
            .find(|p| p.health == Health::Hanging)
            .map_or(Duration::ZERO, |p| p.end - p.start)
    }
}
