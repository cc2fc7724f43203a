//! What operators and plain async code see of a circuit breaker: forcing, disabling and
//! resetting it, snapshots, transition events (as a subscription and as `tracing` events),
//! and the `call` / `call_with` library API. Time is tokio's paused clock.

use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::broadcast::error::TryRecvError;
use tokio::time::{advance, sleep, timeout, Instant};
use tower_breakwater::circuit_breaker::{CircuitBreaker, Error, State};
use tower_breakwater::classify::Outcome;

const OPEN_FOR: Duration = Duration::from_secs(10);

#[path = "support/breaker.rs"]
mod breaker_support;
use breaker_support::{fail, succeed};

fn one_strike() -> CircuitBreaker {
    CircuitBreaker::builder("ops")
        .consecutive_failures(1)
        .open_for(OPEN_FOR)
        .half_open_permits(2)
        .success_threshold(2)
        .build()
        .unwrap()
}

/// Walk `breaker` (a one-strike breaker) through every transition once:
/// closed → open → half-open → closed → forced-open → disabled → closed.
async fn tour(breaker: &CircuitBreaker) {
    fail(breaker);
    advance(OPEN_FOR).await;
    succeed(breaker); // opens the half-open episode
    succeed(breaker); // second success closes
    advance(Duration::from_secs(1)).await;
    breaker.force_open();
    breaker.disable();
    breaker.reset();
}

/// The transitions `tour` makes, as (from, to, generation).
const TOUR: [(State, State, u32); 6] = [
    (State::Closed, State::Open, 1),
    (State::Open, State::HalfOpen, 2),
    (State::HalfOpen, State::Closed, 3),
    (State::Closed, State::ForcedOpen, 4),
    (State::ForcedOpen, State::Disabled, 5),
    (State::Disabled, State::Closed, 6),
];

// ---------------------------------------------------------------------------------------
// Operators.
// ---------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn force_open_rejects_everything_until_reset() {
    let breaker = one_strike();
    assert_eq!(breaker.force_open(), Some(State::Closed));
    assert_eq!(breaker.force_open(), None, "already forced open");
    let rejected = breaker.try_acquire().unwrap_err();
    assert_eq!(rejected.state(), State::ForcedOpen);
    assert_eq!(rejected.retry_at(), None);
    assert_eq!(rejected.to_string(), "circuit 'ops' is forced open");

    // No open period ends it.
    advance(Duration::from_secs(24 * 3600)).await;
    assert!(breaker.try_acquire().is_err());
    assert_eq!(breaker.state(), State::ForcedOpen);

    assert_eq!(breaker.reset(), Some(State::ForcedOpen));
    assert_eq!(breaker.state(), State::Closed);
    succeed(&breaker);
    let t = breaker.snapshot().totals;
    assert_eq!((t.rejected, t.successes), (2, 1));
    assert_eq!(breaker.transitions(State::Closed, State::ForcedOpen), 1);
    assert_eq!(breaker.transitions(State::ForcedOpen, State::Closed), 1);
}

#[tokio::test(start_paused = true)]
async fn force_open_overrides_an_open_period_and_half_open() {
    let breaker = one_strike();
    fail(&breaker);
    assert_eq!(breaker.force_open(), Some(State::Open));
    advance(OPEN_FOR).await;
    assert_eq!(
        breaker.try_acquire().unwrap_err().state(),
        State::ForcedOpen
    );
    breaker.reset();

    fail(&breaker);
    advance(OPEN_FOR).await;
    let trial = breaker.try_acquire().unwrap();
    assert_eq!(breaker.force_open(), Some(State::HalfOpen));
    trial.success(); // a trial of the forced-away episode changes nothing
    assert_eq!(breaker.state(), State::ForcedOpen);
}

#[tokio::test(start_paused = true)]
async fn disable_lets_every_call_through_and_never_trips() {
    let breaker = one_strike();
    assert_eq!(breaker.disable(), Some(State::Closed));
    assert_eq!(breaker.disable(), None);
    for _ in 0..100 {
        fail(&breaker);
    }
    let snap = breaker.snapshot();
    assert_eq!(snap.state, State::Disabled);
    assert_eq!(snap.totals.failures, 100);
    assert_eq!(snap.consecutive_failures, Some(0));
    assert_eq!(breaker.transitions(State::Disabled, State::Open), 0);

    // Disabling an open breaker lets calls through at once.
    breaker.reset();
    fail(&breaker);
    assert_eq!(breaker.state(), State::Open);
    assert_eq!(breaker.disable(), Some(State::Open));
    succeed(&breaker);

    // Reset: the rule is back.
    assert_eq!(breaker.reset(), Some(State::Disabled));
    fail(&breaker);
    assert_eq!(breaker.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn reset_closes_with_an_empty_window_and_restarts_open_for_growth() {
    let breaker = CircuitBreaker::builder("ops")
        .consecutive_failures(5)
        .open_for(OPEN_FOR)
        .open_for_growth(2.0, Duration::from_secs(100))
        .half_open_permits(1)
        .success_threshold(1)
        .build()
        .unwrap();
    for _ in 0..4 {
        fail(&breaker);
    }
    assert_eq!(breaker.reset(), None, "already closed: no transition");
    assert_eq!(breaker.snapshot().consecutive_failures, Some(0));
    for _ in 0..4 {
        fail(&breaker);
    }
    assert_eq!(
        breaker.state(),
        State::Closed,
        "the run started again from 0"
    );

    // Grow open_for to 20 s, then reset from open.
    fail(&breaker);
    advance(OPEN_FOR).await;
    fail(&breaker); // failed trial
    let left = breaker.snapshot().retry_at.unwrap() - Instant::now();
    assert_eq!(left, Duration::from_secs(20));
    assert_eq!(breaker.reset(), Some(State::Open));
    let snap = breaker.snapshot();
    assert_eq!((snap.state, snap.retry_at), (State::Closed, None));
    for _ in 0..5 {
        fail(&breaker);
    }
    let left = breaker.snapshot().retry_at.unwrap() - Instant::now();
    assert_eq!(left, OPEN_FOR, "growth starts over after a reset");
}

#[tokio::test(start_paused = true)]
async fn reset_empties_a_count_window() {
    let breaker = CircuitBreaker::builder("ops")
        .count_window(4)
        .minimum_calls(4)
        .build()
        .unwrap();
    for _ in 0..3 {
        fail(&breaker);
    }
    assert_eq!(breaker.snapshot().window.failures, 3);
    breaker.reset();
    let w = breaker.snapshot().window;
    assert_eq!((w.calls, w.failures), (0, 0));
    fail(&breaker);
    fail(&breaker);
    succeed(&breaker);
    succeed(&breaker);
    assert_eq!(
        breaker.state(),
        State::Closed,
        "2 failures of the last 4 since reset"
    );
    let w = breaker.snapshot().window;
    assert_eq!((w.calls, w.failures), (4, 2));
}

#[tokio::test(start_paused = true)]
async fn reset_empties_a_time_window_even_when_closed() {
    let breaker = CircuitBreaker::builder("ops")
        .time_window(Duration::from_secs(60), 6)
        .minimum_calls(4)
        .build()
        .unwrap();
    for _ in 0..3 {
        fail(&breaker);
    }
    assert_eq!(breaker.snapshot().window.failures, 3);
    assert_eq!(breaker.reset(), None);
    let w = breaker.snapshot().window;
    assert_eq!(
        (w.calls, w.failures),
        (0, 0),
        "reset leaves an empty window"
    );
    fail(&breaker);
    assert_eq!(
        breaker.state(),
        State::Closed,
        "1 failure since the reset cannot trip"
    );
}

// ---------------------------------------------------------------------------------------
// Snapshots.
// ---------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn snapshot_reports_state_time_window_and_totals() {
    let breaker = CircuitBreaker::builder("ops")
        .count_window(10)
        .minimum_calls(5)
        .failure_rate(0.5)
        .open_for(OPEN_FOR)
        .build()
        .unwrap();
    advance(Duration::from_secs(7)).await;
    let snap = breaker.snapshot();
    assert_eq!(snap.name.as_str(), "ops");
    assert_eq!((snap.state, snap.generation), (State::Closed, 0));
    assert_eq!(snap.time_in_state, Duration::from_secs(7));
    assert_eq!(snap.retry_at, None);
    assert_eq!(snap.consecutive_failures, None, "a rate rule has no run");
    assert_eq!((snap.window.calls, snap.window.failures), (0, 0));

    succeed(&breaker);
    fail(&breaker);
    succeed(&breaker);
    breaker.try_acquire().unwrap().ignore();
    drop(breaker.try_acquire().unwrap()); // cancelled
    let snap = breaker.snapshot();
    assert_eq!(
        (snap.window.calls, snap.window.failures, snap.window.slow),
        (3, 1, 0)
    );
    assert_eq!(snap.window.failure_rate(), 1.0 / 3.0);
    let t = snap.totals;
    assert_eq!(
        (
            t.successes,
            t.failures,
            t.ignored,
            t.rejected,
            t.cancelled,
            t.slow
        ),
        (2, 1, 1, 0, 1, 0)
    );
    assert_eq!(t.calls(), 5);

    // 3 failures of 5: open.
    fail(&breaker);
    fail(&breaker);
    let tripped_at = Instant::now();
    let snap = breaker.snapshot();
    assert_eq!((snap.state, snap.generation), (State::Open, 1));
    assert_eq!(snap.time_in_state, Duration::ZERO);
    assert_eq!(snap.retry_at, Some(tripped_at + OPEN_FOR));
    assert_eq!(snap.window.calls, 0, "the window shows only while closed");

    advance(Duration::from_secs(3)).await;
    assert!(breaker.try_acquire().is_err());
    let snap = breaker.snapshot();
    assert_eq!(snap.time_in_state, Duration::from_secs(3));
    assert_eq!((snap.totals.rejected, snap.totals.calls()), (1, 8));

    advance(Duration::from_secs(7)).await;
    let trial = breaker.try_acquire().unwrap();
    succeed(&breaker);
    let snap = breaker.snapshot();
    assert_eq!((snap.state, snap.generation), (State::HalfOpen, 2));
    assert_eq!((snap.half_open_trials, snap.half_open_successes), (2, 1));
    assert_eq!((snap.time_in_state, snap.retry_at), (Duration::ZERO, None));
    trial.success();
    assert_eq!(breaker.snapshot().generation, 3);
}

// ---------------------------------------------------------------------------------------
// Transition events.
// ---------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn subscribers_receive_every_transition_in_order() {
    let breaker = one_strike();
    let start = Instant::now();
    let mut rx = breaker.subscribe();
    tour(&breaker).await;

    let mut seen = Vec::new();
    while let Ok(t) = rx.try_recv() {
        assert_eq!(t.name.as_str(), "ops");
        seen.push((t.from, t.to, t.generation, t.at - start));
    }
    let expected: Vec<_> = TOUR
        .iter()
        .enumerate()
        .map(|(i, &(from, to, generation))| {
            let at = if i == 0 {
                0
            } else if i < 3 {
                10
            } else {
                11
            };
            (from, to, generation, Duration::from_secs(at))
        })
        .collect();
    assert_eq!(seen, expected);
    for (from, to, _) in TOUR {
        assert_eq!(breaker.transitions(from, to), 1, "{from} -> {to}");
    }

    // A late subscriber sees only what happens after it subscribed.
    let mut late = breaker.subscribe();
    assert!(matches!(late.try_recv(), Err(TryRecvError::Empty)));
    breaker.force_open();
    let t = late.try_recv().unwrap();
    assert_eq!(
        (t.from, t.to, t.generation),
        (State::Closed, State::ForcedOpen, 7)
    );
    assert!(matches!(late.try_recv(), Err(TryRecvError::Empty)));
}

#[tokio::test(start_paused = true)]
async fn a_subscriber_that_falls_behind_is_told_how_many_it_missed() {
    let breaker = one_strike();
    let mut rx = breaker.subscribe();
    for _ in 0..35 {
        breaker.force_open();
        breaker.reset();
    }
    // 70 transitions, 64 kept: the 6 oldest are reported missed, then the rest arrive.
    assert!(matches!(rx.try_recv(), Err(TryRecvError::Lagged(6))));
    let first = rx.try_recv().unwrap();
    assert_eq!(
        (first.from, first.to, first.generation),
        (State::Closed, State::ForcedOpen, 7)
    );
    let mut rest = 1;
    while rx.try_recv().is_ok() {
        rest += 1;
    }
    assert_eq!(rest, 64);
    assert_eq!(breaker.transitions(State::Closed, State::ForcedOpen), 35);
}

/// One `tracing` event, as the collector saw it.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    target: String,
    level: tracing::Level,
    message: String,
    breaker: String,
    from: String,
    to: String,
}

/// A minimal `tracing` subscriber that keeps every event.
#[derive(Clone, Default)]
struct Collector(Arc<Mutex<Vec<Seen>>>);

#[derive(Default)]
struct Fields {
    message: String,
    breaker: String,
    from: String,
    to: String,
}

impl Fields {
    fn slot(&mut self, name: &str) -> Option<&mut String> {
        match name {
            "message" => Some(&mut self.message),
            "breaker" => Some(&mut self.breaker),
            "from" => Some(&mut self.from),
            "to" => Some(&mut self.to),
            _ => None,
        }
    }
}

impl tracing::field::Visit for Fields {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if let Some(slot) = self.slot(field.name()) {
            *slot = value.to_owned();
        }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if let Some(slot) = self.slot(field.name()) {
            *slot = format!("{value:?}");
        }
    }
}

impl tracing::Subscriber for Collector {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        self.0.lock().unwrap().push(Seen {
            target: event.metadata().target().to_owned(),
            level: *event.metadata().level(),
            message: fields.message,
            breaker: fields.breaker,
            from: fields.from,
            to: fields.to,
        });
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[tokio::test(start_paused = true)]
async fn every_transition_is_a_tracing_event_with_target_tower_breakwater() {
    let collector = Collector::default();
    let breaker = one_strike();
    {
        // `tracing` caches each callsite's interest process-wide, computed on whichever thread
        // first reaches it; while only one dispatcher exists that is the thread's own default,
        // so a sibling test without a subscriber could cache "never" for the breaker's
        // callsites. Two live dispatchers make every registration ask both of them.
        let _anchor = tracing::Dispatch::new(Collector::default());
        let dispatch = tracing::Dispatch::new(collector.clone());
        // The test runtime is current-thread: the thread's default subscriber sees it all.
        let _guard = tracing::dispatcher::set_default(&dispatch);
        tour(&breaker).await;
        // Calls that change no state log nothing.
        succeed(&breaker);
        assert_eq!(breaker.reset(), None);
    }
    let events: Vec<Seen> = collector
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.target == "tower_breakwater")
        .cloned()
        .collect();
    let expected: Vec<Seen> = TOUR
        .iter()
        .map(|&(from, to, _)| {
            let opened = matches!(to, State::Open | State::ForcedOpen);
            Seen {
                target: "tower_breakwater".into(),
                level: if opened {
                    tracing::Level::WARN
                } else {
                    tracing::Level::INFO
                },
                message: if opened {
                    "circuit breaker opened"
                } else {
                    "circuit breaker changed state"
                }
                .into(),
                breaker: "ops".into(),
                from: from.as_str().into(),
                to: to.as_str().into(),
            }
        })
        .collect();
    assert_eq!(events, expected);
}

// ---------------------------------------------------------------------------------------
// The library API: `call` and `call_with`.
// ---------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn call_runs_the_closure_and_counts_its_outcome() {
    let breaker = one_strike();
    assert_eq!(
        breaker.call(|| async { Ok::<_, &str>(7) }).await.unwrap(),
        7
    );
    let err = breaker
        .call(|| async { Err::<u8, _>("down") })
        .await
        .unwrap_err();
    assert!(!err.is_rejected());
    assert_eq!(err.into_inner(), Some("down"));
    assert_eq!(breaker.state(), State::Open);
    let t = breaker.snapshot().totals;
    assert_eq!((t.successes, t.failures), (1, 1));
}

#[tokio::test(start_paused = true)]
async fn call_is_rejected_when_open_without_running_the_closure() {
    let breaker = one_strike();
    fail(&breaker);
    advance(Duration::from_secs(2)).await;
    let ran = AtomicBool::new(false);
    let result = breaker
        .call(|| async {
            ran.store(true, SeqCst);
            Ok::<_, &str>(())
        })
        .await;
    assert!(!ran.load(SeqCst), "the closure must not run");
    let Err(Error::Rejected(rejected)) = result else {
        panic!("expected a rejection, got {result:?}");
    };
    assert_eq!(rejected.name(), "ops");
    assert_eq!(rejected.state(), State::Open);
    assert_eq!(rejected.retry_after(), Some(Duration::from_secs(8)));
    assert_eq!(rejected.into_request(), None);
    assert_eq!(breaker.snapshot().totals.rejected, 1);
}

#[tokio::test(start_paused = true)]
async fn call_with_uses_the_classifier() {
    let breaker = CircuitBreaker::builder("ops")
        .consecutive_failures(2)
        .build()
        .unwrap();
    let empty_is_failure = |r: &Result<Vec<u8>, ()>| match r {
        Ok(v) if v.is_empty() => Outcome::Failure,
        Ok(_) => Outcome::Success,
        Err(()) => Outcome::Ignored,
    };
    let got = breaker
        .call_with(&empty_is_failure, || async { Err(()) })
        .await;
    assert!(matches!(got, Err(Error::Inner(()))));
    for _ in 0..2 {
        let got = breaker
            .call_with(&empty_is_failure, || async { Ok(vec![]) })
            .await;
        assert_eq!(got.unwrap(), Vec::<u8>::new());
    }
    assert_eq!(breaker.state(), State::Open, "two empty answers in a row");
    let t = breaker.snapshot().totals;
    assert_eq!((t.ignored, t.failures, t.successes), (1, 2, 0));

    let ran = AtomicBool::new(false);
    let got = breaker
        .call_with(&empty_is_failure, || async {
            ran.store(true, SeqCst);
            Ok(vec![1])
        })
        .await;
    assert!(got.unwrap_err().is_rejected());
    assert!(!ran.load(SeqCst));
}

#[tokio::test(start_paused = true)]
async fn dropping_a_call_mid_flight_counts_it_cancelled_and_frees_its_trial() {
    let breaker = CircuitBreaker::builder("ops")
        .consecutive_failures(1)
        .open_for(OPEN_FOR)
        .half_open_permits(1)
        .success_threshold(1)
        .build()
        .unwrap();
    fail(&breaker);
    advance(OPEN_FOR).await;

    let slow = breaker.call(|| async {
        sleep(Duration::from_secs(3600)).await;
        Ok::<_, ()>(())
    });
    assert!(timeout(Duration::from_secs(1), slow).await.is_err());
    let snap = breaker.snapshot();
    assert_eq!((snap.state, snap.half_open_trials), (State::HalfOpen, 0));
    let t = snap.totals;
    assert_eq!((t.cancelled, t.successes, t.failures), (1, 0, 1));

    // The permit is back: a trial runs and closes the breaker.
    breaker.call(|| async { Ok::<_, ()>(()) }).await.unwrap();
    assert_eq!(breaker.state(), State::Closed);

    // A call future dropped before it was ever polled asked for nothing.
    drop(breaker.call(|| async { Ok::<_, ()>(()) }));
    assert_eq!(breaker.snapshot().totals.calls(), 3);
}
