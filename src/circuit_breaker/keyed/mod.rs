//! Keyed breakers: one circuit breaker per key, made lazily from one checked config. The
//! public docs (when to use it, the eviction rule, the cap, the cost) are on
//! [`KeyedCircuitBreaker`]. `map.rs` holds the keys (sharded, capped, swept), `builder.rs`
//! the builder, `operate.rs` the per-key operator API, `layer.rs` / `service.rs` the tower
//! layer, `error.rs` the one refusal of the operator API.

mod builder;
mod error;
mod layer;
mod map;
mod operate;
mod service;

use std::fmt::{self, Display};
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

pub use self::builder::KeyedBuilder;
pub use self::error::KeysFull;
pub use self::layer::KeyedLayer;
pub use self::service::KeyedService;

use self::map::{Found, KeyMap, Slot};
use super::config::Config;
use super::{CircuitBreaker, Permit, Rejected, State, Totals};
use crate::Name;

/// One circuit breaker per key (upstream host, tenant, route), made on the key's first call
/// from one checked config, in one layer. Built by
/// [`Builder::keyed`](super::Builder::keyed).
///
/// # When to use it
/// When one dependency is really many: a hyper client that calls many hosts, an axum route
/// that serves many tenants. One host going down should open *its* breaker, not everyone's.
/// The layer takes the key from each request with a function you give it.
///
/// ```
/// use tower_breakwater::circuit_breaker::{CircuitBreaker, Error, KeyedCircuitBreaker, State};
/// use tower::{service_fn, Service, ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// // The URI authority of an `http::Request` as the key: one breaker per upstream host.
/// let hosts: KeyedCircuitBreaker<String> = CircuitBreaker::builder("upstreams")
///     .consecutive_failures(2)
///     .keyed()
///     .max_keys(10_000)
///     .build()
///     .unwrap();
/// let authority = |req: &http::Request<()>| {
///     req.uri().authority().map_or_else(String::new, |a| a.as_str().to_owned())
/// };
/// let mut client = ServiceBuilder::new()
///     .layer(hosts.layer(authority))
///     .service(service_fn(|req: http::Request<()>| async move {
///         match req.uri().host() {
///             Some("down.example") => Err("connection refused"),
///             _ => Ok("200 OK"),
///         }
///     }));
///
/// for _ in 0..2 {
///     let req = http::Request::get("http://down.example/").body(()).unwrap();
///     let _ = client.ready().await.unwrap().call(req).await;
/// }
/// assert_eq!(hosts.state(&"down.example".to_owned()), Some(State::Open));
///
/// // The other host's breaker is its own, and closed.
/// let req = http::Request::get("http://up.example/").body(()).unwrap();
/// assert_eq!(client.ready().await.unwrap().call(req).await.unwrap(), "200 OK");
/// let req = http::Request::get("http://down.example/").body(()).unwrap();
/// let refused = client.ready().await.unwrap().call(req).await.unwrap_err();
/// assert!(matches!(refused, Error::Rejected(_)));
/// # }
/// ```
///
/// For an axum route, a tenant header is a key: `|req: &Request| tenant_of(req.headers())`,
/// with a `KeyedCircuitBreaker<String>` (see [`layer`](Self::layer)).
///
/// # Keys are hostile input
/// A key comes from a request, so anyone can send new ones. Memory stays bounded:
/// - At most `max_keys` keys have a breaker of their own ([`KeyedBuilder::max_keys`]).
/// - A key not called for `idle_for` is evicted ([`KeyedBuilder::idle_for`]) — **only if its
///   breaker is closed**. An open, half-open, forced-open or disabled breaker is never
///   evicted: that would forget the outage (or the operator's decision), and its host would
///   get full traffic again at once.
/// - At the cap, a new key takes the place of an idle closed key of its shard when a sweep
///   finds one; otherwise its calls go through one shared **overflow breaker**
///   ([`overflow`](Self::overflow)), built from the same config. So a flood of random
///   keys cannot push out the known keys' breakers, cannot grow memory, and its calls are
///   still guarded by a breaker (the overflow one opens if they fail).
/// - Keys are hashed with std's keyed SipHash, so chosen keys cannot pile up in one slot.
///   A key's own size is yours to bound in the key function (e.g. hyper already caps a
///   header's length).
///
/// # Cost
/// A call with a known key: the key function, one hash, a shard's read lock (64 shards), a
/// table probe, and the breaker's own call; no clock read, no allocation, and a shared write
/// only the first time a key is used after each sweep. A new key takes its shard's write
/// lock, reads the clock and builds a breaker; sweeps of idle keys run then, at most every
/// `idle_for / 4` per shard, so nothing runs in the background.
///
/// With a keyed layer, `poll_ready` polls the inner service (the key is not known before
/// `call`), so a refused call leaves the inner service's readiness for the next request.
///
/// # Handle
/// A cheap-to-clone handle (clones share the keys). Put it in front of a service with
/// [`layer`](Self::layer); call plain async code with [`call`](Self::call); watch and steer
/// single keys with [`snapshot`](Self::snapshot), [`states`](Self::states),
/// [`force_open`](Self::force_open) and [`reset`](Self::reset).
///
/// ```
/// use tower_breakwater::circuit_breaker::{CircuitBreaker, KeyedCircuitBreaker, State};
///
/// let tenants: KeyedCircuitBreaker<&str> =
///     CircuitBreaker::builder("tenants").consecutive_failures(1).keyed().build().unwrap();
/// tenants.try_acquire(&"acme").unwrap().failure();
/// tenants.try_acquire(&"globex").unwrap().success();
/// assert_eq!(tenants.state(&"acme"), Some(State::Open));
/// assert_eq!(tenants.state(&"globex"), Some(State::Closed));
/// assert!(tenants.try_acquire(&"acme").is_err());
/// ```
pub struct KeyedCircuitBreaker<K> {
    inner: Arc<Keyed<K>>,
}

struct Keyed<K> {
    /// The keyed breaker's name; a key's breaker is named `name/key`.
    name: Name,
    /// Every key's breaker is built from this (with its own name).
    config: Config,
    map: KeyMap<K>,
    /// Where the calls of keys that found no room go.
    overflow: CircuitBreaker,
    /// What evicted keys' breakers had counted, so that totals are never lost.
    evicted: Mutex<Evicted>,
}

/// The counts of every evicted key's breaker, summed at eviction.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Evicted {
    pub(crate) keys: u64,
    pub(crate) totals: Totals,
    /// `transitions[from][to]`, by `State::index`.
    pub(crate) transitions: [[u64; 5]; 5],
}

impl<K> Clone for KeyedCircuitBreaker<K> {
    fn clone(&self) -> Self {
        KeyedCircuitBreaker {
            inner: self.inner.clone(),
        }
    }
}

impl<K> fmt::Debug for KeyedCircuitBreaker<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedCircuitBreaker")
            .field("name", &self.inner.name)
            .field("keys", &self.inner.map.len())
            .field("max_keys", &self.inner.map.max_keys())
            .finish()
    }
}

/// The longest piece of a key that goes into a breaker's name or a metric label.
const KEY_LABEL_MAX: usize = 96;

/// `key` as text for names and labels, cut to [`KEY_LABEL_MAX`] bytes (on a character
/// boundary): a key from a request may be arbitrarily long.
pub(crate) fn key_label(key: &impl Display) -> String {
    let mut label = key.to_string();
    if label.len() > KEY_LABEL_MAX {
        let mut end = KEY_LABEL_MAX;
        while !label.is_char_boundary(end) {
            end -= 1;
        }
        label.truncate(end);
    }
    label
}

impl<K: Hash + Eq + Clone + Display> KeyedCircuitBreaker<K> {
    fn new(config: Config, max_keys: usize, idle_for: Duration) -> Self {
        let name = config.name.clone();
        let mut overflow = config.clone();
        overflow.name = Name::from(format!("{name}/other"));
        KeyedCircuitBreaker {
            inner: Arc::new(Keyed {
                map: KeyMap::new(max_keys, idle_for),
                overflow: CircuitBreaker::from_config(overflow),
                evicted: Mutex::new(Evicted::default()),
                config,
                name,
            }),
        }
    }

    /// The keyed breaker's name (a key's breaker is named `name/key`).
    ///
    /// ```
    /// # use tower_breakwater::circuit_breaker::{CircuitBreaker, KeyedCircuitBreaker};
    /// let k: KeyedCircuitBreaker<u8> = CircuitBreaker::builder("hosts").keyed().build().unwrap();
    /// k.try_acquire(&7).unwrap().success();
    /// assert_eq!(k.name(), "hosts");
    /// assert_eq!(k.get(&7).unwrap().name(), "hosts/7");
    /// ```
    pub fn name(&self) -> &str {
        self.inner.name.as_str()
    }

    /// How many keys have a breaker of their own now.
    ///
    /// ```
    /// # use tower_breakwater::circuit_breaker::{CircuitBreaker, KeyedCircuitBreaker};
    /// let k: KeyedCircuitBreaker<u8> = CircuitBreaker::builder("k").keyed().build().unwrap();
    /// k.try_acquire(&1).unwrap().success();
    /// k.try_acquire(&2).unwrap().success();
    /// assert_eq!(k.len(), 2);
    /// ```
    pub fn len(&self) -> usize {
        self.inner.map.len()
    }

    /// True if no key has a breaker of its own.
    ///
    /// ```
    /// # use tower_breakwater::circuit_breaker::{CircuitBreaker, KeyedCircuitBreaker};
    /// let k: KeyedCircuitBreaker<u8> = CircuitBreaker::builder("k").keyed().build().unwrap();
    /// assert!(k.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most keys with a breaker of their own.
    ///
    /// ```
    /// # use tower_breakwater::circuit_breaker::{CircuitBreaker, KeyedCircuitBreaker};
    /// let k: KeyedCircuitBreaker<u8> =
    ///     CircuitBreaker::builder("k").keyed().max_keys(3).build().unwrap();
    /// assert_eq!(k.max_keys(), 3);
    /// ```
    pub fn max_keys(&self) -> usize {
        self.inner.map.max_keys()
    }

    /// The breaker that keys finding no room share (named `name/other`).
    ///
    /// ```
    /// # use tower_breakwater::circuit_breaker::{CircuitBreaker, KeyedCircuitBreaker};
    /// let k: KeyedCircuitBreaker<u8> =
    ///     CircuitBreaker::builder("k").keyed().max_keys(1).build().unwrap();
    /// k.force_open(1).unwrap(); // never evicted: key 1 keeps the only place
    /// k.try_acquire(&2).unwrap().success(); // no room: the overflow breaker
    /// assert_eq!(k.overflow().name(), "k/other");
    /// assert_eq!(k.overflow().snapshot().totals.successes, 1);
    /// ```
    pub fn overflow(&self) -> &CircuitBreaker {
        &self.inner.overflow
    }

    /// Ask to make one call for `key`: a [`Permit`] from the key's breaker (made now if the
    /// key is new and there is room, else the overflow breaker's), or a [`Rejected`].
    ///
    /// ```
    /// # use tower_breakwater::circuit_breaker::{CircuitBreaker, KeyedCircuitBreaker};
    /// let k: KeyedCircuitBreaker<String> = CircuitBreaker::builder("k").keyed().build().unwrap();
    /// let permit = k.try_acquire(&"eu-west".to_owned()).expect("closed");
    /// permit.success();
    /// ```
    #[inline]
    pub fn try_acquire(&self, key: &K) -> Result<Permit, Rejected> {
        match self.inner.map.get(key, CircuitBreaker::try_acquire) {
            Some(decided) => decided,
            None => self.acquire_new(key),
        }
    }

    #[cold]
    #[inline(never)]
    fn acquire_new(&self, key: &K) -> Result<Permit, Rejected> {
        self.with_breaker(key, CircuitBreaker::try_acquire)
    }

    /// Run `f` on the breaker `key`'s calls go to (its own, made if needed; or overflow).
    fn with_breaker<R>(&self, key: &K, f: impl FnOnce(&CircuitBreaker) -> R) -> R {
        let keyed = &*self.inner;
        keyed.map.get_or_insert(
            key,
            |key| keyed.make(key),
            &mut |slot| keyed.fold_evicted(slot),
            |found| match found {
                Found::Own(breaker) => f(breaker),
                Found::Overflow => f(&keyed.overflow),
            },
        )
    }
}

impl<K: Hash + Eq + Clone + Display> Keyed<K> {
    /// A new key's breaker: the shared config, named after the key.
    fn make(&self, key: &K) -> CircuitBreaker {
        let mut config = self.config.clone();
        config.name = Name::from(format!("{}/{}", self.name, key_label(key)));
        CircuitBreaker::from_config(config)
    }

    /// Keep what an evicted key's breaker counted, and answer whether it may go: only if it
    /// is still closed once its counts are read, so that a failure landing during the sweep
    /// (which trips the breaker before the second look) keeps the key. Calls still in flight
    /// when the key goes end uncounted: the key went `idle_for` without a new call.
    fn fold_evicted(&self, slot: &Slot<K>) -> bool {
        let snapshot = slot.breaker.snapshot();
        let mut transitions = [[0u64; State::ALL.len()]; State::ALL.len()];
        for from in State::ALL {
            for to in State::ALL {
                transitions[from.index()][to.index()] = slot.breaker.transitions(from, to);
            }
        }
        if snapshot.state != State::Closed || slot.breaker.state() != State::Closed {
            return false;
        }
        let mut evicted = self.evicted.lock();
        evicted.keys += 1;
        add_totals(&mut evicted.totals, &snapshot.totals);
        for (sum, more) in evicted.transitions.iter_mut().zip(&transitions) {
            for (sum, more) in sum.iter_mut().zip(more) {
                *sum += more;
            }
        }
        true
    }
}

/// `sum += more`, field by field.
pub(crate) fn add_totals(sum: &mut Totals, more: &Totals) {
    sum.successes += more.successes;
    sum.failures += more.failures;
    sum.ignored += more.ignored;
    sum.rejected += more.rejected;
    sum.cancelled += more.cancelled;
    sum.slow += more.slow;
    sum.counted_failures += more.counted_failures;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_key_is_cut_on_a_character_boundary() {
        assert_eq!(key_label(&"db.internal"), "db.internal");
        let long = "é".repeat(1_000); // 2 bytes each
        let label = key_label(&long);
        assert!(label.len() <= KEY_LABEL_MAX && label.len() >= KEY_LABEL_MAX - 1);
        assert!(label.chars().all(|c| c == 'é'));
    }

    #[test]
    fn a_hostile_key_makes_a_bounded_breaker_name() {
        let keyed: KeyedCircuitBreaker<String> =
            CircuitBreaker::builder("hosts").keyed().build().unwrap();
        let key = "x".repeat(1 << 20);
        keyed.try_acquire(&key).unwrap().success();
        let name_len = keyed.get(&key).unwrap().name().len();
        assert_eq!(name_len, "hosts/".len() + KEY_LABEL_MAX);
    }
}
