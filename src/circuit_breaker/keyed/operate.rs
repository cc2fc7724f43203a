//! What operators and health checks do with single keys: look, list, force open, reset,
//! evict.

use std::fmt::Display;
use std::hash::Hash;

use super::map::Found;
use super::{Evicted, KeyedCircuitBreaker, KeysFull};
use crate::circuit_breaker::{CircuitBreaker, Snapshot, State, Totals};

/// One live key, as metrics read it at scrape time.
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
pub(crate) struct LiveKey<K> {
    pub(crate) key: K,
    /// Unique per insertion of the key (a key evicted and made again has a new one).
    pub(crate) id: u32,
    pub(crate) breaker: CircuitBreaker,
}

impl<K: Hash + Eq + Clone + Display> KeyedCircuitBreaker<K> {
    /// A handle to `key`'s own breaker, if it has one now (e.g. to
    /// [`subscribe`](CircuitBreaker::subscribe) to its transitions). Looking does not
    /// count as a use: it does not keep the key from being evicted.
    ///
    /// ```
    /// # use tower_breakwater::circuit_breaker::{CircuitBreaker, KeyedCircuitBreaker};
    /// let k: KeyedCircuitBreaker<u8> = CircuitBreaker::builder("k").keyed().build().unwrap();
    /// assert!(k.get(&1).is_none());
    /// k.try_acquire(&1).unwrap().success();
    /// assert_eq!(k.get(&1).unwrap().snapshot().totals.successes, 1);
    /// ```
    pub fn get(&self, key: &K) -> Option<CircuitBreaker> {
        self.inner.map.peek(key, |slot| slot.breaker.clone())
    }

    /// Whether `key` has a breaker of its own now (one hash, one shard read lock, one probe:
    /// the lookup every call makes). Looking does not count as a use.
    ///
    /// ```
    /// # use tower_breakwater::circuit_breaker::{CircuitBreaker, KeyedCircuitBreaker};
    /// let k: KeyedCircuitBreaker<u8> = CircuitBreaker::builder("k").keyed().build().unwrap();
    /// k.try_acquire(&1).unwrap().success();
    /// assert!(k.contains_key(&1) && !k.contains_key(&2));
    /// ```
    pub fn contains_key(&self, key: &K) -> bool {
        self.inner.map.peek(key, |_| ()).is_some()
    }

    /// The state of `key`'s own breaker, if it has one.
    ///
    /// ```
    /// # use tower_breakwater::circuit_breaker::{CircuitBreaker, KeyedCircuitBreaker, State};
    /// let k: KeyedCircuitBreaker<u8> = CircuitBreaker::builder("k").keyed().build().unwrap();
    /// k.try_acquire(&1).unwrap().success();
    /// assert_eq!(k.state(&1), Some(State::Closed));
    /// assert_eq!(k.state(&2), None);
    /// ```
    pub fn state(&self, key: &K) -> Option<State> {
        self.inner.map.peek(key, |slot| slot.breaker.state())
    }

    /// A [`Snapshot`] of `key`'s own breaker, if it has one.
    ///
    /// ```
    /// # use tower_breakwater::circuit_breaker::{CircuitBreaker, KeyedCircuitBreaker};
    /// let k: KeyedCircuitBreaker<u8> = CircuitBreaker::builder("k").keyed().build().unwrap();
    /// k.try_acquire(&1).unwrap().failure();
    /// let snap = k.snapshot(&1).unwrap();
    /// assert_eq!((snap.name.as_str(), snap.consecutive_failures), ("k/1", Some(1)));
    /// ```
    pub fn snapshot(&self, key: &K) -> Option<Snapshot> {
        self.get(key).map(|breaker| breaker.snapshot())
    }

    /// Every key with a breaker of its own and its state, in no particular order: what a
    /// health check reports (the overflow breaker is [`overflow`](Self::overflow)).
    ///
    /// ```
    /// # use tower_breakwater::circuit_breaker::{CircuitBreaker, KeyedCircuitBreaker, State};
    /// let k: KeyedCircuitBreaker<u8> = CircuitBreaker::builder("k").keyed().build().unwrap();
    /// k.try_acquire(&1).unwrap().success();
    /// k.force_open(2).unwrap();
    /// let mut states = k.states();
    /// states.sort_by_key(|(key, _)| *key);
    /// assert_eq!(states, [(1, State::Closed), (2, State::ForcedOpen)]);
    /// ```
    pub fn states(&self) -> Vec<(K, State)> {
        let mut states = Vec::with_capacity(self.len());
        self.inner
            .map
            .for_each(|slot| states.push((slot.key.clone(), slot.breaker.state())));
        states
    }

    /// Operator: force `key`'s breaker open until [`reset`](Self::reset), making one for
    /// the key if it has none (a forced-open breaker is never evicted). Returns the state
    /// it left (`None` if it was forced open already), or [`KeysFull`] if the key has no
    /// breaker and there is no room for one.
    ///
    /// ```
    /// # use tower_breakwater::circuit_breaker::{CircuitBreaker, KeyedCircuitBreaker, State};
    /// let k: KeyedCircuitBreaker<&str> = CircuitBreaker::builder("k").keyed().build().unwrap();
    /// assert_eq!(k.force_open("eu-west").unwrap(), Some(State::Closed));
    /// assert!(k.try_acquire(&"eu-west").is_err());
    /// ```
    pub fn force_open(&self, key: K) -> Result<Option<State>, KeysFull> {
        // A known key first: at the cap, the insert path answers "no room" without looking.
        if let Some(left) = self.inner.map.peek(&key, |slot| slot.breaker.force_open()) {
            return Ok(left);
        }
        let keyed = &*self.inner;
        keyed.map.get_or_insert(
            &key,
            |key| keyed.make(key),
            &mut |slot| keyed.fold_evicted(slot),
            |found| match found {
                Found::Own(breaker) => Ok(breaker.force_open()),
                Found::Overflow => Err(KeysFull::new(keyed.name.clone(), keyed.map.max_keys())),
            },
        )
    }

    /// Operator: close `key`'s breaker with an empty window. Returns the state it left, or
    /// `None` if it was closed already or the key has no breaker.
    ///
    /// ```
    /// # use tower_breakwater::circuit_breaker::{CircuitBreaker, KeyedCircuitBreaker, State};
    /// let k: KeyedCircuitBreaker<&str> = CircuitBreaker::builder("k").keyed().build().unwrap();
    /// k.force_open("eu-west").unwrap();
    /// assert_eq!(k.reset(&"eu-west"), Some(State::ForcedOpen));
    /// assert_eq!(k.reset(&"us-east"), None);
    /// ```
    pub fn reset(&self, key: &K) -> Option<State> {
        self.inner
            .map
            .peek(key, |slot| slot.breaker.reset())
            .flatten()
    }

    /// Evict every key that is idle and closed now (see [the rules](KeyedCircuitBreaker#keys-are-hostile-input)), whatever
    /// the sweep schedule; returns how many went. New keys do this on their own, a shard at
    /// a time; call it to give memory back sooner.
    ///
    /// ```
    /// # use tower_breakwater::circuit_breaker::{CircuitBreaker, KeyedCircuitBreaker};
    /// let k: KeyedCircuitBreaker<u8> = CircuitBreaker::builder("k").keyed().build().unwrap();
    /// k.try_acquire(&1).unwrap().success();
    /// assert_eq!(k.evict_idle(), 0, "used within idle_for");
    /// ```
    pub fn evict_idle(&self) -> usize {
        let keyed = &*self.inner;
        keyed.map.sweep_all(&mut |slot| keyed.fold_evicted(slot))
    }

    /// What the breakers of every key evicted so far had counted, summed: with the live
    /// keys' and the overflow breaker's totals, every call the keyed breaker ever saw.
    ///
    /// ```
    /// # use tower_breakwater::circuit_breaker::{CircuitBreaker, KeyedCircuitBreaker};
    /// let k: KeyedCircuitBreaker<u8> = CircuitBreaker::builder("k").keyed().build().unwrap();
    /// assert_eq!(k.evicted_totals().calls(), 0);
    /// ```
    pub fn evicted_totals(&self) -> Totals {
        self.inner.evicted.lock().totals
    }

    /// The evicted keys' counts (for metrics).
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    pub(crate) fn evicted(&self) -> Evicted {
        *self.inner.evicted.lock()
    }

    /// Every live key with its insertion id and a handle, read shard by shard.
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    pub(crate) fn live_keys(&self) -> Vec<LiveKey<K>> {
        let mut live = Vec::with_capacity(self.len());
        self.inner.map.for_each(|slot| {
            live.push(LiveKey {
                key: slot.key.clone(),
                id: slot.id,
                breaker: slot.breaker.clone(),
            })
        });
        live
    }
}
