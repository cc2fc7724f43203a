//! The keys of a keyed breaker: a sharded hash table, its cap, and the eviction of idle keys.
//!
//! # Why this shape
//! - A lookup hashes the key once (std's keyed SipHash: a flood of chosen keys cannot make
//!   one shard's table degenerate), picks a shard from middle bits of the hash, and finds the
//!   key under that shard's read lock. Calls on different shards never share a lock word.
//! - A call marks its slot *touched* with a load, and a store only if it was not touched
//!   yet: a busy key's slot is written once per sweep, not once per call. No clock is read.
//! - Only inserting reads the clock. Sweeps (which evict) run on the insert path, at most
//!   once per `idle_for / 4` per shard, under that shard's write lock, so their cost is
//!   paid by new keys, never by calls of known keys, and no background task is needed.
//!
//! # Eviction rule
//! A sweep clears each touched slot and notes the time (`idle_since`); it evicts a slot that
//! stayed untouched for `idle_for` since then **and whose breaker is closed**. A key used
//! less than `idle_for` ago is therefore never evicted, and neither is an open, half-open,
//! forced-open or disabled breaker: forgetting it would forget the outage (or undo an
//! operator's decision).
//!
//! # The cap
//! `len` counts keys in every shard; an insert takes its place with a `fetch_add` and gives
//! it back if that went past `max_keys`, so the table never holds more than `max_keys`
//! keys, whatever keys arrive and however many threads insert at once.

use std::hash::{BuildHasher, Hash, RandomState};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

use hashbrown::HashTable;
use parking_lot::RwLock;
use tokio::time::Instant;

use crate::circuit_breaker::{CircuitBreaker, State};

/// One key's breaker, as the table keeps it.
///
/// Kept small (32 bytes with a `u64` key): at 100,000 keys every call misses the cache on
/// its slot, and fewer slots straddle two cache lines. The hash is computed again when the
/// table grows rather than stored.
pub(super) struct Slot<K> {
    pub(super) key: K,
    pub(super) breaker: CircuitBreaker,
    /// Given per insertion (wrapping): a key evicted and inserted again gets a new one
    /// (metrics tell the two lives apart with it).
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    pub(super) id: u32,
    /// Set by calls (only when unset), cleared by sweeps under the write lock.
    touched: AtomicBool,
    /// When a sweep last found this slot touched (or when it was inserted): nanoseconds on
    /// the map's clock. Written under the write lock only.
    idle_since: u64,
}

impl<K> Slot<K> {
    #[inline]
    fn touch(&self) {
        if !self.touched.load(Relaxed) {
            self.touched.store(true, Relaxed);
        }
    }
}

/// A shard on its own cache lines, so two shards' lock words never share one.
#[repr(align(128))]
struct Shard<K> {
    table: RwLock<HashTable<Slot<K>>>,
    /// No sweep of this shard before this time (nanoseconds on the map's clock).
    next_sweep: AtomicU64,
}

/// Where a key's calls go.
pub(super) enum Found<'a> {
    /// The key's own breaker.
    Own(&'a CircuitBreaker),
    /// No room for the key: the shared overflow breaker.
    Overflow,
}

pub(super) struct KeyMap<K> {
    shards: Box<[Shard<K>]>,
    shard_mask: usize,
    hasher: RandomState,
    len: AtomicUsize,
    max_keys: usize,
    idle_nanos: u64,
    sweep_every: u64,
    origin: Instant,
    next_id: AtomicU32,
}

/// Bits of the hash that pick a shard: above the bits hashbrown uses to place a key in its
/// table (the low ones) and below its tag (the top 7), so a shard's keys still spread over
/// its whole table.
const SHARD_SHIFT: u32 = 40;
/// At most 64 shards; fewer for small caps so that each holds a fair share of keys.
const MAX_SHARDS: usize = 64;

impl<K> KeyMap<K> {
    /// Keys held now.
    pub(super) fn len(&self) -> usize {
        self.len.load(Relaxed)
    }

    pub(super) fn max_keys(&self) -> usize {
        self.max_keys
    }
}

impl<K: Hash + Eq> KeyMap<K> {
    pub(super) fn new(max_keys: usize, idle_for: Duration) -> Self {
        let shards = (max_keys / 16).clamp(1, MAX_SHARDS).next_power_of_two();
        let shards = shards.min(MAX_SHARDS);
        let idle_nanos = u64::try_from(idle_for.as_nanos()).unwrap_or(u64::MAX);
        KeyMap {
            shards: (0..shards)
                .map(|_| Shard {
                    table: RwLock::new(HashTable::new()),
                    next_sweep: AtomicU64::new(0),
                })
                .collect(),
            shard_mask: shards - 1,
            hasher: RandomState::new(),
            len: AtomicUsize::new(0),
            max_keys,
            idle_nanos,
            sweep_every: (idle_nanos / 4).max(1),
            origin: Instant::now(),
            next_id: AtomicU32::new(1),
        }
    }

    fn now(&self) -> u64 {
        let nanos = Instant::now()
            .saturating_duration_since(self.origin)
            .as_nanos();
        u64::try_from(nanos).unwrap_or(u64::MAX)
    }

    #[inline]
    fn shard(&self, hash: u64) -> &Shard<K> {
        &self.shards[(hash >> SHARD_SHIFT) as usize & self.shard_mask]
    }

    /// Run `f` on `key`'s breaker if the key is known (the hot path: one hash, one read
    /// lock, no clock), marking the key used.
    #[inline]
    pub(super) fn get<R>(&self, key: &K, f: impl FnOnce(&CircuitBreaker) -> R) -> Option<R> {
        let hash = self.hasher.hash_one(key);
        let table = self.shard(hash).table.read();
        let slot = table.find(hash, |slot| slot.key == *key)?;
        slot.touch();
        Some(f(&slot.breaker))
    }

    /// Run `f` on `key`'s breaker without marking it used (operators and snapshots).
    pub(super) fn peek<R>(&self, key: &K, f: impl FnOnce(&Slot<K>) -> R) -> Option<R> {
        let hash = self.hasher.hash_one(key);
        let table = self.shard(hash).table.read();
        table.find(hash, |slot| slot.key == *key).map(f)
    }

    /// Run `f` on `key`'s breaker, making one for it with `make` if there is room (sweeping
    /// its shard first when a sweep is due); [`Found::Overflow`] when there is none.
    /// `evict` is asked about each idle closed slot a sweep finds; it keeps what the slot's
    /// breaker counted and answers whether the slot may go.
    pub(super) fn get_or_insert<R>(
        &self,
        key: &K,
        make: impl FnOnce(&K) -> CircuitBreaker,
        evict: &mut dyn FnMut(&Slot<K>) -> bool,
        f: impl FnOnce(Found<'_>) -> R,
    ) -> R
    where
        K: Clone,
    {
        let hash = self.hasher.hash_one(key);
        let shard = self.shard(hash);
        let now = self.now();
        let sweep_due = now >= shard.next_sweep.load(Relaxed);
        // Full and no sweep due: answer without the write lock, so a flood of new keys at
        // the cap never stalls the calls of known keys in this shard.
        if !sweep_due && self.len() >= self.max_keys {
            return f(Found::Overflow);
        }
        let mut table = shard.table.write();
        if let Some(slot) = table.find(hash, |slot| slot.key == *key) {
            slot.touch();
            return f(Found::Own(&slot.breaker));
        }
        if sweep_due && now >= shard.next_sweep.load(Relaxed) {
            shard
                .next_sweep
                .store(now.saturating_add(self.sweep_every), Relaxed);
            self.sweep_table(&mut table, now, evict);
        }
        if self.len.fetch_add(1, Relaxed) >= self.max_keys {
            self.len.fetch_sub(1, Relaxed);
            return f(Found::Overflow);
        }
        let slot = Slot {
            key: key.clone(),
            breaker: make(key),
            id: self.next_id.fetch_add(1, Relaxed),
            touched: AtomicBool::new(true),
            idle_since: now,
        };
        let hasher = &self.hasher;
        let entry = table.insert_unique(hash, slot, |slot| hasher.hash_one(&slot.key));
        f(Found::Own(&entry.get().breaker))
    }

    /// Sweep every shard now, whatever their schedule; returns how many keys were evicted.
    pub(super) fn sweep_all(&self, evict: &mut dyn FnMut(&Slot<K>) -> bool) -> usize {
        let now = self.now();
        let before = self.len();
        for shard in self.shards.iter() {
            let mut table = shard.table.write();
            shard
                .next_sweep
                .store(now.saturating_add(self.sweep_every), Relaxed);
            self.sweep_table(&mut table, now, evict);
        }
        before.saturating_sub(self.len())
    }

    fn sweep_table(
        &self,
        table: &mut HashTable<Slot<K>>,
        now: u64,
        evict: &mut dyn FnMut(&Slot<K>) -> bool,
    ) {
        table.retain(|slot| {
            if *slot.touched.get_mut() {
                *slot.touched.get_mut() = false;
                slot.idle_since = now;
                return true;
            }
            let idle = now.saturating_sub(slot.idle_since) >= self.idle_nanos;
            if idle && slot.breaker.state() == State::Closed && evict(slot) {
                self.len.fetch_sub(1, Relaxed);
                return false;
            }
            true
        });
    }

    /// Every slot, shard by shard (each shard's read lock held while `f` sees its slots).
    pub(super) fn for_each(&self, mut f: impl FnMut(&Slot<K>)) {
        for shard in self.shards.iter() {
            let table = shard.table.read();
            table.iter().for_each(&mut f);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_of_a_u64_key_takes_at_most_40_bytes() {
        assert!(std::mem::size_of::<Slot<u64>>() <= 40);
    }
}
