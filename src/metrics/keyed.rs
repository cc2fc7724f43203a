//! The metrics of a keyed breaker: one series per key up to a cap, the rest (keys past the
//! cap, the overflow breaker, evicted keys) folded into `key="other"`.
//!
//! Every value is recomputed at each scrape from the live keys' snapshots, the overflow
//! breaker and the evicted keys' running sums, so a key's series disappears with the key
//! (no stale state gauge), and what it had counted moves into `other`: the sum of a
//! counter over all `key` values never goes down.

use std::fmt::Display;
use std::hash::Hash;

use parking_lot::Mutex;
use prometheus::core::Collector;
use prometheus::{GaugeVec, IntCounter, IntCounterVec, IntGaugeVec};

use super::cap::{SeriesCap, OTHER};
use super::collect::{set_counter, Namer, Source};
use super::names::*;
use crate::circuit_breaker::keyed::add_totals;
use crate::circuit_breaker::{key_label, KeyedCircuitBreaker, Snapshot, State, Totals};

pub(crate) struct KeyedSource<K> {
    keyed: KeyedCircuitBreaker<K>,
    cap: Mutex<SeriesCap>,
    state: IntGaugeVec,
    state_seconds: GaugeVec,
    calls: IntCounterVec,
    failures: IntCounterVec,
    transitions: IntCounterVec,
    keys: IntGaugeVec,
    evicted: IntCounter,
}

/// What is summed into `key="other"`.
#[derive(Default)]
struct Folded {
    totals: Totals,
    transitions: [[u64; 5]; 5],
}

impl<K> KeyedSource<K>
where
    K: Hash + Eq + Clone + Display + Send + Sync + 'static,
{
    pub(crate) fn new(
        keyed: KeyedCircuitBreaker<K>,
        max_series: usize,
        namespace: Option<&str>,
    ) -> prometheus::Result<Self> {
        let namer = Namer {
            namespace,
            instance: keyed.name(),
        };
        Ok(KeyedSource {
            cap: Mutex::new(SeriesCap::new(max_series)),
            state: IntGaugeVec::new(namer.opts(KEYED_STATE), &[KEY_LABEL])?,
            state_seconds: GaugeVec::new(namer.opts(KEYED_STATE_SECONDS), &[KEY_LABEL])?,
            calls: IntCounterVec::new(namer.opts(KEYED_CALLS), &[KEY_LABEL, OUTCOME_LABEL])?,
            failures: IntCounterVec::new(namer.opts(KEYED_FAILURES), &[KEY_LABEL])?,
            transitions: IntCounterVec::new(
                namer.opts(KEYED_TRANSITIONS),
                &[KEY_LABEL, FROM_LABEL, TO_LABEL],
            )?,
            keys: IntGaugeVec::new(namer.opts(KEYED_KEYS), &[STATE_LABEL])?,
            evicted: IntCounter::with_opts(namer.opts(KEYED_EVICTED))?,
            keyed,
        })
    }

    /// One key's (or `other`'s) counters, from zero: the vectors were reset by this scrape.
    fn show(&self, key: &str, totals: &Totals, transitions: &[[u64; 5]; 5]) {
        let by_outcome = [
            totals.successes,
            totals.failures,
            totals.rejected,
            totals.ignored,
            totals.cancelled,
        ];
        for (outcome, total) in CALL_OUTCOMES.into_iter().zip(by_outcome) {
            set_counter(&self.calls.with_label_values(&[key, outcome]), total);
        }
        set_counter(
            &self.failures.with_label_values(&[key]),
            totals.counted_failures,
        );
        for from in State::ALL {
            for to in State::ALL {
                let count = transitions[from.index()][to.index()];
                if count > 0 || AUTOMATIC.contains(&(from, to)) {
                    let child =
                        self.transitions
                            .with_label_values(&[key, from.as_str(), to.as_str()]);
                    set_counter(&child, count);
                }
            }
        }
    }

    fn show_state(&self, key: &str, snapshot: &Snapshot) {
        self.state
            .with_label_values(&[key])
            .set(snapshot.state.index() as i64);
        self.state_seconds
            .with_label_values(&[key])
            .set(snapshot.time_in_state.as_secs_f64());
    }
}

/// Transitions a breaker makes on its own, shown at zero (see `breaker.rs`).
const AUTOMATIC: [(State, State); 4] = [
    (State::Closed, State::Open),
    (State::Open, State::HalfOpen),
    (State::HalfOpen, State::Closed),
    (State::HalfOpen, State::Open),
];

fn transitions_of(breaker: &crate::circuit_breaker::CircuitBreaker) -> [[u64; 5]; 5] {
    let mut all = [[0; 5]; 5];
    for from in State::ALL {
        for to in State::ALL {
            all[from.index()][to.index()] = breaker.transitions(from, to);
        }
    }
    all
}

fn add_transitions(sum: &mut [[u64; 5]; 5], more: &[[u64; 5]; 5]) {
    for (row, more_row) in sum.iter_mut().zip(more) {
        for (cell, more_cell) in row.iter_mut().zip(more_row) {
            *cell += more_cell;
        }
    }
}

impl<K> Source for KeyedSource<K>
where
    K: Hash + Eq + Clone + Display + Send + Sync + 'static,
{
    fn metrics(&self) -> Vec<&dyn Collector> {
        vec![
            &self.state,
            &self.state_seconds,
            &self.calls,
            &self.failures,
            &self.transitions,
            &self.keys,
            &self.evicted,
        ]
    }

    fn refresh(&self) {
        // The live keys and the evicted sums as of one instant: read the sums on both sides
        // of the live keys, again if a key was evicted in between (a key counted in both,
        // or in neither, would make the sum of a counter jump and fall back).
        let (evicted, live) = {
            let mut tries = 0;
            loop {
                let before = self.keyed.evicted();
                let live = self.keyed.live_keys();
                let after = self.keyed.evicted();
                tries += 1;
                if before.keys == after.keys || tries == 4 {
                    break (after, live);
                }
            }
        };
        let labels: Vec<(String, u64)> = live
            .iter()
            .map(|member| (key_label(&member.key), u64::from(member.id)))
            .collect();
        let own = self.cap.lock().assign(&labels);

        for vec in [&self.calls, &self.failures, &self.transitions] {
            vec.reset();
        }
        self.state.reset();
        self.state_seconds.reset();

        let mut by_state = [0i64; 5];
        let mut folded = Folded {
            totals: evicted.totals,
            transitions: evicted.transitions,
        };
        for ((member, (label, _)), own) in live.iter().zip(&labels).zip(own) {
            let snapshot = member.breaker.snapshot();
            by_state[snapshot.state.index()] += 1;
            let transitions = transitions_of(&member.breaker);
            if own {
                self.show_state(label, &snapshot);
                self.show(label, &snapshot.totals, &transitions);
            } else {
                add_totals(&mut folded.totals, &snapshot.totals);
                add_transitions(&mut folded.transitions, &transitions);
            }
        }
        let overflow = self.keyed.overflow();
        let snapshot = overflow.snapshot();
        self.show_state(OTHER, &snapshot);
        add_totals(&mut folded.totals, &snapshot.totals);
        add_transitions(&mut folded.transitions, &transitions_of(overflow));
        self.show(OTHER, &folded.totals, &folded.transitions);

        for state in State::ALL {
            self.keys
                .with_label_values(&[state.as_str()])
                .set(by_state[state.index()]);
        }
        set_counter(&self.evicted, evicted.keys);
    }
}
