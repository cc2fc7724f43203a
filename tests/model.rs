//! Model-based test of the circuit breaker: random sequences of operations go through both a
//! small sequential reference model (plain Rust, written from the rules documented in
//! `circuit_breaker/mod.rs` and `config.rs`) and the real breaker, and after every step the
//! two must agree on the state, the generation, the open deadline, the half-open counts, the
//! window, the totals, the transition counters and events, and on every acquire whether it
//! was admitted (and if not, why).
//!
//! Time is tokio's paused clock: each case runs in its own paused current-thread runtime and
//! advances the clock explicitly.

use std::collections::VecDeque;
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use tokio::sync::broadcast::error::TryRecvError;
use tokio::time::Instant;
use tower_breakwater::circuit_breaker::{CircuitBreaker, Permit, State};

const OPEN_FOR: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------
// Configurations.
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
enum Rule {
    Consecutive(u32),
    Count {
        size: usize,
        minimum_calls: usize,
        rate: f64,
    },
}

#[derive(Debug, Clone, Copy)]
struct Config {
    rule: Rule,
    permits: u32,
    threshold: u32,
}

impl Config {
    fn build(&self) -> CircuitBreaker {
        let builder = CircuitBreaker::builder("model")
            .open_for(OPEN_FOR)
            .half_open_permits(self.permits)
            .success_threshold(self.threshold);
        let builder = match self.rule {
            Rule::Consecutive(n) => builder.consecutive_failures(n),
            Rule::Count {
                size,
                minimum_calls,
                rate,
            } => builder
                .count_window(size as u32)
                .minimum_calls(minimum_calls as u32)
                .failure_rate(rate),
        };
        builder.build().expect("valid config")
    }
}

const CONSECUTIVE: Config = Config {
    rule: Rule::Consecutive(3),
    permits: 2,
    threshold: 2,
};

const COUNT_WINDOW: Config = Config {
    rule: Rule::Count {
        size: 5,
        minimum_calls: 3,
        rate: 0.5,
    },
    permits: 2,
    threshold: 2,
};

/// Every failure trips: many short closed periods and half-open episodes per case, so
/// permits held across several episodes complete in later ones.
const FLAPPING: Config = Config {
    rule: Rule::Consecutive(1),
    permits: 3,
    threshold: 2,
};

/// A window of 32 calls: contended callers may claim slots 2 at a time (`n / 16`).
const WIDE_COUNT_WINDOW: Config = Config {
    rule: Rule::Count {
        size: 32,
        minimum_calls: 2,
        rate: 0.5,
    },
    permits: 3,
    threshold: 2,
};

// ---------------------------------------------------------------------------------------
// The reference model.
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Closed(u32),
    Trial(u32),
    Passthrough,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Success,
    Failure,
    Ignored,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Totals {
    successes: u64,
    failures: u64,
    ignored: u64,
    rejected: u64,
    cancelled: u64,
}

#[derive(Debug)]
struct Model {
    config: Config,
    state: State,
    generation: u32,
    /// Nanoseconds since the breaker was built.
    now: u64,
    /// When the current state began.
    since: u64,
    /// Consecutive rule: the current run of failures of this closed period.
    run: u32,
    /// Count rule: the last `size` outcomes of this closed period, true = failed.
    ring: VecDeque<bool>,
    /// End of the current (or last) open period.
    deadline: u64,
    issued: u32,
    successes: u32,
    totals: Totals,
    transitions: [[u64; 5]; 5],
    /// Transitions not yet matched against the breaker's events: (from, to, generation,
    /// when).
    events: VecDeque<(State, State, u32, u64)>,
}

impl Model {
    fn new(config: Config) -> Self {
        Model {
            config,
            state: State::Closed,
            generation: 0,
            now: 0,
            since: 0,
            run: 0,
            ring: VecDeque::new(),
            deadline: 0,
            issued: 0,
            successes: 0,
            totals: Totals::default(),
            transitions: [[0; 5]; 5],
            events: VecDeque::new(),
        }
    }

    fn transition(&mut self, to: State) {
        let from = self.state;
        self.transitions[from.index()][to.index()] += 1;
        self.generation = self.generation.wrapping_add(1);
        self.state = to;
        self.since = self.now;
        self.issued = 0;
        self.successes = 0;
        self.events.push_back((from, to, self.generation, self.now));
    }

    fn clear_window(&mut self) {
        self.run = 0;
        self.ring.clear();
    }

    fn trip(&mut self) {
        self.transition(State::Open);
        self.deadline = self.now + OPEN_FOR.as_nanos() as u64;
    }

    fn close(&mut self) {
        self.clear_window();
        self.transition(State::Closed);
    }

    /// `Ok(kind)` if admitted, else the state the rejection reports and its retry time.
    fn acquire(&mut self) -> Result<Kind, (State, Option<u64>)> {
        let result = match self.state {
            State::Closed => Ok(Kind::Closed(self.generation)),
            State::Disabled => Ok(Kind::Passthrough),
            State::ForcedOpen => Err((State::ForcedOpen, None)),
            State::Open if self.now < self.deadline => Err((State::Open, Some(self.deadline))),
            State::Open => {
                // The first call at or after the deadline goes half-open and takes a permit.
                self.transition(State::HalfOpen);
                self.issued = 1;
                Ok(Kind::Trial(self.generation))
            }
            State::HalfOpen if self.issued >= self.config.permits => Err((State::HalfOpen, None)),
            State::HalfOpen => {
                self.issued += 1;
                Ok(Kind::Trial(self.generation))
            }
        };
        if result.is_err() {
            self.totals.rejected += 1;
        }
        result
    }

    fn complete(&mut self, kind: Kind, outcome: Outcome) {
        match outcome {
            Outcome::Success => self.totals.successes += 1,
            Outcome::Failure => self.totals.failures += 1,
            Outcome::Ignored => self.totals.ignored += 1,
        }
        match kind {
            Kind::Passthrough => {}
            Kind::Closed(g) => {
                // Only outcomes of the current closed period count.
                if outcome == Outcome::Ignored
                    || (self.state, self.generation) != (State::Closed, g)
                {
                    return;
                }
                let failed = outcome == Outcome::Failure;
                match self.config.rule {
                    Rule::Consecutive(n) => {
                        if failed {
                            self.run += 1;
                            if self.run >= n {
                                self.trip();
                            }
                        } else {
                            self.run = 0;
                        }
                    }
                    Rule::Count {
                        size,
                        minimum_calls,
                        rate,
                    } => {
                        if self.ring.len() == size {
                            self.ring.pop_front();
                        }
                        self.ring.push_back(failed);
                        let calls = self.ring.len();
                        let failures = self.ring.iter().filter(|f| **f).count();
                        if failed
                            && calls >= minimum_calls
                            && failures as f64 / calls as f64 >= rate
                        {
                            self.trip();
                        }
                    }
                }
            }
            Kind::Trial(g) => {
                // Only trials of the current half-open episode count.
                if (self.state, self.generation) != (State::HalfOpen, g) {
                    return;
                }
                match outcome {
                    Outcome::Ignored => self.issued -= 1,
                    Outcome::Success if self.successes + 1 >= self.config.threshold => self.close(),
                    Outcome::Success => self.successes += 1,
                    Outcome::Failure => self.trip(),
                }
            }
        }
    }

    fn cancel(&mut self, kind: Kind) {
        self.totals.cancelled += 1;
        if kind == Kind::Trial(self.generation) && self.state == State::HalfOpen {
            self.issued -= 1;
        }
    }

    fn force(&mut self, to: State) -> Option<State> {
        if to == State::Closed {
            // A reset empties the window even when the breaker is closed already.
            self.clear_window();
        }
        let from = self.state;
        (from != to).then(|| {
            self.transition(to);
            from
        })
    }
}

// ---------------------------------------------------------------------------------------
// Operations.
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Op {
    Acquire,
    /// Complete the `i`-th newest held permit (modulo how many are held).
    Succeed(usize),
    Fail(usize),
    Ignore(usize),
    /// Drop it unused.
    Cancel(usize),
    Advance(Duration),
    Reset,
    ForceOpen,
    Disable,
}

fn op() -> impl Strategy<Value = Op> {
    let advance = prop_oneof![
        // Whole seconds, so deadlines (10 s after a trip) are often hit exactly.
        3 => (0u64..=12).prop_map(Duration::from_secs),
        2 => Just(OPEN_FOR),
        1 => (1u64..2_000).prop_map(Duration::from_millis),
        1 => Just(Duration::from_nanos(1)),
    ];
    // Which held permit to complete, counted from the newest: mostly one of the last two
    // (so trials are often completed in their own episode), sometimes any of them (so
    // permits held across transitions complete in a later generation).
    let pick = || prop_oneof![3 => 0usize..2, 1 => any::<usize>()];
    let operator = prop_oneof![Just(Op::Reset), Just(Op::ForceOpen), Just(Op::Disable)];
    prop_oneof![
        16 => Just(Op::Acquire),
        8 => pick().prop_map(Op::Succeed),
        10 => pick().prop_map(Op::Fail),
        4 => pick().prop_map(Op::Ignore),
        4 => pick().prop_map(Op::Cancel),
        10 => advance.prop_map(Op::Advance),
        3 => operator,
    ]
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(op(), 10..=60)
}

// ---------------------------------------------------------------------------------------
// Running one case through both.
// ---------------------------------------------------------------------------------------

fn run(config: Config, ops: &[Op]) -> Result<(), TestCaseError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let origin = Instant::now();
        let breaker = config.build();
        let mut events = breaker.subscribe();
        let mut model = Model::new(config);
        let mut held: Vec<(Permit, Kind)> = Vec::new();
        check(&breaker, &mut model, &mut events, origin, "start")?;
        for (step, op) in ops.iter().enumerate() {
            let at = format!("step {step}: {op:?}");
            match *op {
                Op::Acquire => {
                    let expected = model.acquire();
                    match (breaker.try_acquire(), expected) {
                        (Ok(permit), Ok(kind)) => held.push((permit, kind)),
                        (Err(rejected), Err((state, retry_at))) => {
                            prop_assert_eq!(rejected.state(), state, "{}", at);
                            prop_assert_eq!(
                                rejected.retry_at(),
                                retry_at.map(|nanos| origin + Duration::from_nanos(nanos)),
                                "{}",
                                at
                            );
                        }
                        (real, expected) => {
                            return Err(TestCaseError::fail(format!(
                                "{at}: breaker said {:?}, model said {expected:?}",
                                real.map(|_| "admitted").map_err(|r| r.to_string())
                            )))
                        }
                    }
                }
                Op::Succeed(i) | Op::Fail(i) | Op::Ignore(i) | Op::Cancel(i) => {
                    if held.is_empty() {
                        continue;
                    }
                    let (permit, kind) = held.remove(held.len() - 1 - i % held.len());
                    match op {
                        Op::Succeed(_) => {
                            model.complete(kind, Outcome::Success);
                            permit.success();
                        }
                        Op::Fail(_) => {
                            model.complete(kind, Outcome::Failure);
                            permit.failure();
                        }
                        Op::Ignore(_) => {
                            model.complete(kind, Outcome::Ignored);
                            permit.ignore();
                        }
                        _ => {
                            model.cancel(kind);
                            drop(permit);
                        }
                    }
                }
                Op::Advance(d) => {
                    tokio::time::advance(d).await;
                    model.now += d.as_nanos() as u64;
                }
                Op::Reset => {
                    let expected = model.force(State::Closed);
                    prop_assert_eq!(breaker.reset(), expected, "{}", at);
                }
                Op::ForceOpen => {
                    let expected = model.force(State::ForcedOpen);
                    prop_assert_eq!(breaker.force_open(), expected, "{}", at);
                }
                Op::Disable => {
                    let expected = model.force(State::Disabled);
                    prop_assert_eq!(breaker.disable(), expected, "{}", at);
                }
            }
            check(&breaker, &mut model, &mut events, origin, &at)?;
        }
        // Every permit still held is dropped at the end: cancelled.
        for (permit, kind) in held.drain(..) {
            model.cancel(kind);
            drop(permit);
        }
        check(&breaker, &mut model, &mut events, origin, "end")
    })
}

/// Everything the breaker shows must match the model.
fn check(
    breaker: &CircuitBreaker,
    model: &mut Model,
    events: &mut tokio::sync::broadcast::Receiver<tower_breakwater::circuit_breaker::Transition>,
    origin: Instant,
    at: &str,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(breaker.state(), model.state, "{}", at);
    let snap = breaker.snapshot();
    prop_assert_eq!(snap.state, model.state, "{}", at);
    prop_assert_eq!(snap.generation, model.generation, "{}", at);
    prop_assert_eq!(
        snap.time_in_state,
        Duration::from_nanos(model.now - model.since),
        "{}",
        at
    );
    let retry_at =
        (model.state == State::Open).then(|| origin + Duration::from_nanos(model.deadline));
    prop_assert_eq!(snap.retry_at, retry_at, "{}", at);
    prop_assert_eq!(
        (snap.half_open_trials, snap.half_open_successes),
        (model.issued, model.successes),
        "{}",
        at
    );
    let closed = model.state == State::Closed;
    match model.config.rule {
        Rule::Consecutive(_) => {
            let run = if closed { model.run } else { 0 };
            prop_assert_eq!(snap.consecutive_failures, Some(run), "{}", at);
            prop_assert_eq!((snap.window.calls, snap.window.failures), (0, 0), "{}", at);
        }
        Rule::Count { .. } => {
            prop_assert_eq!(snap.consecutive_failures, None, "{}", at);
            let (calls, failures) = if closed {
                let failures = model.ring.iter().filter(|f| **f).count();
                (model.ring.len() as u64, failures as u64)
            } else {
                (0, 0)
            };
            prop_assert_eq!(
                (snap.window.calls, snap.window.failures),
                (calls, failures),
                "{} (window: {:?})",
                at,
                model.ring
            );
        }
    }
    prop_assert_eq!(snap.window.slow, 0, "{}", at);
    let t = &snap.totals;
    prop_assert_eq!(
        Totals {
            successes: t.successes,
            failures: t.failures,
            ignored: t.ignored,
            rejected: t.rejected,
            cancelled: t.cancelled,
        },
        model.totals,
        "{}",
        at
    );
    prop_assert_eq!(t.slow, 0, "{}", at);
    for from in State::ALL {
        for to in State::ALL {
            prop_assert_eq!(
                breaker.transitions(from, to),
                model.transitions[from.index()][to.index()],
                "{}: transitions {:?} -> {:?}",
                at,
                from,
                to
            );
        }
    }
    // Events: exactly the model's transitions, in order, at the time they happened (drained
    // after every step, so the channel never lags).
    loop {
        match events.try_recv() {
            Ok(event) => {
                let want = model.events.pop_front();
                prop_assert_eq!(
                    Some((event.from, event.to, event.generation, event.at)),
                    want.map(|(from, to, g, nanos)| (
                        from,
                        to,
                        g,
                        origin + Duration::from_nanos(nanos)
                    )),
                    "{}: event",
                    at
                );
            }
            Err(TryRecvError::Empty) => break,
            Err(e) => return Err(TestCaseError::fail(format!("{at}: events: {e}"))),
        }
    }
    prop_assert_eq!(
        model.events.pop_front(),
        None,
        "{}: an event is missing",
        at
    );
    Ok(())
}

/// 1024 cases (or `PROPTEST_CASES`).
fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(1024);
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn consecutive_rule_matches_the_model(ops in ops()) {
        run(CONSECUTIVE, &ops)?;
    }

    #[test]
    fn count_window_rule_matches_the_model(ops in ops()) {
        run(COUNT_WINDOW, &ops)?;
    }

    #[test]
    fn flapping_breaker_matches_the_model(ops in ops()) {
        run(FLAPPING, &ops)?;
    }

    #[test]

    fn wide_count_window_matches_the_model(ops in ops()) {
        run(WIDE_COUNT_WINDOW, &ops)?;
    }
}

// ---------------------------------------------------------------------------------------
// Deterministic reproducers of what the model found.
// ---------------------------------------------------------------------------------------

/// "Close the breaker with an empty window, whatever state it is in": after a reset of a
/// breaker that was closed already, one caller's outcomes fill the count window exactly.
/// (Found by `wide_count_window_matches_the_model`.)
#[test]

fn a_reset_of_a_closed_breaker_empties_the_count_window_exactly() {
    let breaker = CircuitBreaker::builder("window")
        .count_window(32)
        .minimum_calls(2)
        .failure_rate(0.5)
        .build()
        .unwrap();
    breaker.try_acquire().unwrap().success();
    assert_eq!(breaker.reset(), None, "already closed");
    assert_eq!(breaker.snapshot().window.calls, 0);
    breaker.try_acquire().unwrap().success();
    assert_eq!(breaker.snapshot().window.calls, 1);
    breaker.try_acquire().unwrap().failure();
    // 1 failure in 2 calls: the minimum is reached and the rate is 0.5.
    assert_eq!(
        breaker.state(),
        State::Open,
        "{:?}",
        breaker.snapshot().window
    );
}

/// The same promise for a time window: its buckets are tagged with the closed period's
/// generation only, and a reset of a closed breaker keeps the generation.
#[test]

fn a_reset_of_a_closed_breaker_empties_the_time_window() {
    let breaker = CircuitBreaker::builder("window")
        .time_window(Duration::from_secs(60), 6)
        .minimum_calls(2)
        .failure_rate(0.5)
        .build()
        .unwrap();
    breaker.try_acquire().unwrap().failure();
    assert_eq!(breaker.snapshot().window.calls, 1);
    assert_eq!(breaker.reset(), None, "already closed");
    assert_eq!(
        breaker.snapshot().window.calls,
        0,
        "{:?}",
        breaker.snapshot().window
    );
    breaker.try_acquire().unwrap().success();
    breaker.try_acquire().unwrap().success();
    breaker.try_acquire().unwrap().failure();
    assert_eq!(breaker.state(), State::Closed, "1 failure in 3 calls");
}
