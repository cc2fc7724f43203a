//! What a keyed breaker costs per call, with the key taken from the request, for breakwater
//! and its peers, around the same always-ready inner service.
//!
//! # What is measured
//! Every contender wraps [`Inner`] (always ready, answers `Ok` at once) and is driven the
//! same way, one thread, a no-op waker: `poll_ready`, `call`, one poll of the response
//! future. Each request carries its key (`Req::host`); the requests visit every key once per
//! round, in one shuffled order, so a call's key is rarely in the CPU's cache, as with many
//! upstream hosts. Keys are made before timing (one call each) and every call is checked
//! to succeed.
//!
//! - `bare`: the inner service alone, the baseline.
//! - `breakwater_keyed`: [`KeyedCircuitBreaker::layer`] with `|req| req.host`.
//! - `breakwater_lookup`: the keyed layer's own part alone: the key taken from the request
//!   and looked up in a [`KeyedCircuitBreaker`] holding every key
//!   ([`KeyedCircuitBreaker::contains_key`]: the hash, the shard's read lock and the probe a
//!   keyed call makes), then the inner call, without any breaker's call.
//! - `breakwater_vec`: one [`CircuitBreaker::layer`] service per key in a `Vec`, indexed by
//!   the key (no map): what the same breakers cost without the keyed lookup. The gap to
//!   `breakwater_keyed` is the keyed layer's own cost (hash, shard lock, probe).
//! - `seatbelt_keyed`: seatbelt 0.11's tower breaker with `breaker_id(|req| req.host)`.
//! - `locked_hashmap_recloser`: a `Mutex<HashMap<u64, recloser::Recloser>>`, the breaker
//!   made on a key's first call, the inner call made under the lock.
//!
//! # Running it
//! ```text
//! cargo bench --bench keyed                      # keys: 1, 10000, 100000
//! KEYED_KEYS=10000 cargo bench --bench keyed     # a chosen list of key counts
//! KEYED_ONLY=seatbelt_keyed cargo bench --bench keyed  # some contenders (and bare)
//! ```
//! It prints one markdown table: ns per call of the fastest of `ROUNDS` timed runs (other
//! processes on a shared machine only ever add time; the rounds interleave the contenders,
//! so a burst of load falls on all of them alike), and the overhead over `bare` measured in
//! the same run.

use std::collections::HashMap;
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use seatbelt::breaker::{Breaker, BreakerId};
use seatbelt::{RecoveryInfo, ResilienceContext};
use tower::{Layer, Service};
use tower_breakwater::circuit_breaker::{CircuitBreaker, KeyedCircuitBreaker};

/// Timed runs per contender and key count; the fastest is reported.
const ROUNDS: usize = 7;
/// Calls per timed run (at least two visits of every key).
const MIN_CALLS: usize = 200_000;

#[derive(Debug, Clone, Copy)]
struct Req {
    host: u64,
    n: u64,
}

#[derive(Debug, Clone, Copy)]
struct Boom;

impl std::fmt::Display for Boom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("boom")
    }
}

impl std::error::Error for Boom {}

/// Always ready, answers at once.
#[derive(Debug, Clone, Copy)]
struct Inner;

impl Service<Req> for Inner {
    type Response = u64;
    type Error = Boom;
    type Future = std::future::Ready<Result<u64, Boom>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Boom>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Req) -> Self::Future {
        std::future::ready(Ok(req.n))
    }
}

/// One call: ready, call, one poll. Panics if anything is not immediate or not `Ok`.
#[inline(always)]
fn one_call<S: Service<Req>>(svc: &mut S, cx: &mut Context<'_>, req: Req) {
    match svc.poll_ready(cx) {
        Poll::Ready(Ok(())) => {}
        _ => panic!("not ready"),
    }
    let future = pin!(svc.call(black_box(req)));
    match future.poll(cx) {
        Poll::Ready(Ok(v)) => {
            black_box(v);
        }
        _ => panic!("a call failed or was refused"),
    }
}

/// A timed pass of `svc` over `requests` (nanoseconds per call), after one warm-up pass
/// made here.
fn runner<S: Service<Req> + 'static>(mut svc: S, requests: Rc<[Req]>) -> Box<dyn FnMut() -> f64> {
    let mut pass = move || {
        let mut cx = Context::from_waker(Waker::noop());
        let start = Instant::now();
        for &req in requests.iter() {
            one_call(&mut svc, &mut cx, req);
        }
        start.elapsed().as_nanos() as f64 / requests.len() as f64
    };
    pass();
    Box::new(pass)
}

/// Every key once per round, in one shuffled order, repeated to at least `MIN_CALLS`.
fn requests(keys: u64) -> Vec<Req> {
    let mut order: Vec<u64> = (0..keys).collect();
    fastrand::Rng::with_seed(42).shuffle(&mut order);
    let calls = MIN_CALLS.max(2 * keys as usize);
    (0..calls)
        .map(|n| Req {
            host: order[n % order.len()],
            n: n as u64,
        })
        .collect()
}

fn breakwater_keyed(keys: u64) -> impl Service<Req, Response = u64> {
    let keyed: KeyedCircuitBreaker<u64> = CircuitBreaker::builder("hosts")
        .keyed()
        .max_keys(keys as usize)
        .build()
        .unwrap();
    keyed.layer(|req: &Req| req.host).layer(Inner)
}

/// A keyed breaker's lookup (see the module docs), then the inner call.
struct LookupOnly {
    keyed: KeyedCircuitBreaker<u64>,
    key_fn: fn(&Req) -> u64,
}

impl Service<Req> for LookupOnly {
    type Response = u64;
    type Error = Boom;
    type Future = std::future::Ready<Result<u64, Boom>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Boom>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Req) -> Self::Future {
        assert!(self.keyed.contains_key(&(self.key_fn)(&req)));
        Inner.call(req)
    }
}

fn breakwater_lookup(keys: u64) -> impl Service<Req, Response = u64> {
    let keyed: KeyedCircuitBreaker<u64> = CircuitBreaker::builder("hosts")
        .keyed()
        .max_keys(keys as usize)
        .build()
        .unwrap();
    for key in 0..keys {
        keyed.force_open(key).unwrap();
    }
    LookupOnly {
        keyed,
        key_fn: |req| req.host,
    }
}

/// One breaker per key, found by indexing a `Vec` with the key.
struct VecOfBreakers<S>(Vec<S>);

impl<S: Service<Req>> Service<Req> for VecOfBreakers<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Req) -> S::Future {
        let svc = &mut self.0[req.host as usize];
        let mut cx = Context::from_waker(Waker::noop());
        match svc.poll_ready(&mut cx) {
            Poll::Ready(Ok(())) => svc.call(req),
            _ => panic!("not ready"),
        }
    }
}

fn breakwater_vec(keys: u64) -> impl Service<Req, Response = u64> {
    VecOfBreakers(
        (0..keys)
            .map(|key| {
                let breaker = CircuitBreaker::builder(format!("host-{key}"))
                    .build()
                    .unwrap();
                breaker.layer().layer(Inner)
            })
            .collect(),
    )
}

fn seatbelt_keyed() -> impl Service<Req, Response = u64> {
    let clock = tick::Clock::new_tokio();
    let context = ResilienceContext::<Req, Result<u64, Boom>>::new(&clock).name("bench");
    Breaker::layer("hosts", &context)
        .recovery_with(|out: &Result<u64, Boom>, _| match out {
            Ok(_) => RecoveryInfo::never(),
            Err(_) => RecoveryInfo::retry(),
        })
        .rejected_input_error(|_, _| Boom)
        .breaker_id(|req: &Req| BreakerId::from(req.host))
        .layer(Inner)
}

/// recloser breakers in a `HashMap` behind one `Mutex`, the inner call made under it.
struct LockedHashMap {
    breakers: Arc<Mutex<HashMap<u64, recloser::Recloser>>>,
    inner: Inner,
}

impl Service<Req> for LockedHashMap {
    type Response = u64;
    type Error = recloser::Error<Boom>;
    type Future = std::future::Ready<Result<u64, recloser::Error<Boom>>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let mut breakers = self.breakers.lock().unwrap();
        let breaker = breakers.entry(req.host).or_insert_with(|| {
            recloser::Recloser::custom()
                .error_rate(0.5)
                .closed_len(100)
                .open_wait(Duration::from_secs(3600))
                .build()
        });
        let inner = &mut self.inner;
        std::future::ready(breaker.call(|| inner.call(req).into_inner()))
    }
}

fn locked_hashmap() -> impl Service<Req, Response = u64> {
    LockedHashMap {
        breakers: Arc::new(Mutex::new(HashMap::new())),
        inner: Inner,
    }
}

fn main() {
    // `cargo bench` passes `--bench`; a filter or `--list` from tooling is ignored.
    let key_counts: Vec<u64> = std::env::var("KEYED_KEYS")
        .unwrap_or_else(|_| "1,10000,100000".to_owned())
        .split(',')
        .map(|k| {
            k.trim()
                .parse()
                .expect("KEYED_KEYS: numbers separated by commas")
        })
        .collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _entered = runtime.enter();

    let only = std::env::var("KEYED_ONLY").ok();
    let contenders: Vec<&str> = [
        "bare",
        "breakwater_lookup",
        "breakwater_keyed",
        "breakwater_vec",
        "seatbelt_keyed",
        "locked_hashmap_recloser",
    ]
    .into_iter()
    .filter(|c| *c == "bare" || only.as_ref().is_none_or(|o| o.split(',').any(|x| x == *c)))
    .collect();
    let mut table: Vec<Vec<f64>> = vec![Vec::new(); contenders.len()];
    for &keys in &key_counts {
        let reqs: Rc<[Req]> = requests(keys).into();
        let mut runners: Vec<Box<dyn FnMut() -> f64>> = contenders
            .iter()
            .map(|name| {
                let reqs = reqs.clone();
                match *name {
                    "bare" => runner(Inner, reqs),
                    "breakwater_lookup" => runner(breakwater_lookup(keys), reqs),
                    "breakwater_keyed" => runner(breakwater_keyed(keys), reqs),
                    "breakwater_vec" => runner(breakwater_vec(keys), reqs),
                    "seatbelt_keyed" => runner(seatbelt_keyed(), reqs),
                    _ => runner(locked_hashmap(), reqs),
                }
            })
            .collect();
        // Rounds interleave the contenders, so a burst of load from elsewhere falls on all
        // of them alike; each keeps its fastest round.
        let mut best = vec![f64::INFINITY; runners.len()];
        for _ in 0..ROUNDS {
            for (best, run) in best.iter_mut().zip(runners.iter_mut()) {
                *best = best.min(run());
            }
        }
        for ((name, ns), row) in contenders.iter().zip(best).zip(table.iter_mut()) {
            eprintln!("{name:>24} keys={keys:>7}: {ns:8.1} ns/call");
            row.push(ns);
        }
    }

    print!("\n| ns per call (overhead over bare) |");
    for keys in &key_counts {
        print!(" {keys} keys |");
    }
    print!("\n|---|");
    for _ in &key_counts {
        print!("---:|");
    }
    println!();
    for (row, name) in contenders.iter().enumerate() {
        print!("| {name} |");
        for (col, ns) in table[row].iter().enumerate() {
            let over = ns - table[0][col];
            print!(" {ns:.1} (+{over:.1}) |");
        }
        println!();
    }
}
