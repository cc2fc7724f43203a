//! Keyed breakers: one breaker per key, eviction of idle closed keys only, the cap and the
//! overflow breaker under a flood of random keys, operators by key. On tokio's paused clock.

use std::time::Duration;

use tower::{service_fn, Layer, Service, ServiceExt};
use tower_breakwater::circuit_breaker::{CircuitBreaker, Error, KeyedCircuitBreaker, State};

const IDLE: Duration = Duration::from_secs(60);

fn keyed(max_keys: usize) -> KeyedCircuitBreaker<u64> {
    CircuitBreaker::builder("hosts")
        .consecutive_failures(2)
        .open_for(Duration::from_secs(10))
        .half_open_permits(1)
        .success_threshold(1)
        .keyed()
        .max_keys(max_keys)
        .idle_for(IDLE)
        .build()
        .expect("valid config")
}

fn succeed(k: &KeyedCircuitBreaker<u64>, key: u64) {
    k.try_acquire(&key).expect("admitted").success();
}

fn fail(k: &KeyedCircuitBreaker<u64>, key: u64) {
    k.try_acquire(&key).expect("admitted").failure();
}

/// Every call the keyed breaker saw: live keys, overflow and evicted keys.
fn all_calls(k: &KeyedCircuitBreaker<u64>) -> u64 {
    let live: u64 = k
        .states()
        .iter()
        .map(|(key, _)| k.snapshot(key).unwrap().totals.calls())
        .sum();
    live + k.overflow().snapshot().totals.calls() + k.evicted_totals().calls()
}

#[tokio::test(start_paused = true)]
async fn each_key_has_its_own_breaker() {
    let k = keyed(100);
    fail(&k, 1);
    fail(&k, 1);
    succeed(&k, 2);
    assert_eq!(k.state(&1), Some(State::Open));
    assert_eq!(k.state(&2), Some(State::Closed));
    assert!(k.try_acquire(&1).is_err());
    assert!(k.try_acquire(&2).is_ok());
    assert_eq!(k.len(), 2);
    assert_eq!(k.get(&1).unwrap().name(), "hosts/1");
    let rejected = k.try_acquire(&1).unwrap_err();
    assert_eq!(rejected.name(), "hosts/1");
    assert_eq!(rejected.retry_after(), Some(Duration::from_secs(10)));
}

#[tokio::test(start_paused = true)]
async fn an_idle_closed_key_is_evicted_and_a_used_one_is_not() {
    let k = keyed(100);
    succeed(&k, 1);
    succeed(&k, 2);
    // A sweep clears the marks of keys used since the last one: nothing is evicted yet.
    assert_eq!(k.evict_idle(), 0);
    tokio::time::advance(IDLE - Duration::from_secs(1)).await;
    succeed(&k, 2);
    assert_eq!(k.evict_idle(), 0, "not idle for a whole idle_for yet");
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(
        k.evict_idle(),
        1,
        "key 1: unused for idle_for since a sweep"
    );
    assert_eq!(k.state(&1), None);
    assert_eq!(k.state(&2), Some(State::Closed), "key 2 was used since");
    assert_eq!(k.evicted_totals().successes, 1, "key 1's count is kept");
    assert_eq!(all_calls(&k), 3);

    // A key made again starts afresh.
    succeed(&k, 1);
    assert_eq!(k.snapshot(&1).unwrap().totals.successes, 1);
}

#[tokio::test(start_paused = true)]
async fn open_and_half_open_breakers_are_never_evicted() {
    let k = keyed(100);
    fail(&k, 1);
    fail(&k, 1);
    k.force_open(2).unwrap();
    succeed(&k, 3);
    k.get(&3).unwrap().disable();
    for _ in 0..20 {
        tokio::time::advance(IDLE).await;
        k.evict_idle();
    }
    assert_eq!(
        k.state(&1),
        Some(State::Open),
        "open long past idle_for: kept"
    );
    assert_eq!(k.state(&2), Some(State::ForcedOpen), "forced open: kept");
    assert_eq!(k.state(&3), Some(State::Disabled), "disabled: kept");

    // Half-open with its trial in flight: still kept, however long.
    let trial = k.try_acquire(&1).expect("open period over: a trial");
    assert_eq!(k.state(&1), Some(State::HalfOpen));
    for _ in 0..20 {
        tokio::time::advance(IDLE).await;
        k.evict_idle();
    }
    assert_eq!(k.state(&1), Some(State::HalfOpen));
    trial.success();
    assert_eq!(k.state(&1), Some(State::Closed));

    // Closed again, and its last call (the trial) began long ago: now it goes.
    assert_eq!(k.evict_idle(), 1);
    assert_eq!(k.state(&1), None);
    assert_eq!(k.len(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_flood_of_random_keys_never_grows_past_the_cap() {
    let k = keyed(100);
    for key in 0..10 {
        succeed(&k, key);
    }
    let mut rng = fastrand::Rng::with_seed(7);
    let flood = 100_000;
    for _ in 0..flood {
        let key = rng.u64(1_000..);
        match k.try_acquire(&key) {
            Ok(permit) => permit.success(),
            Err(e) => panic!("closed breakers refuse nothing: {e}"),
        }
        assert!(k.len() <= 100);
    }
    assert_eq!(k.len(), 100);
    for key in 0..10 {
        assert_eq!(
            k.state(&key),
            Some(State::Closed),
            "known keys keep their place"
        );
    }
    // 90 flood keys found room; every other call went through the overflow breaker.
    assert_eq!(k.overflow().snapshot().totals.successes, flood - 90);
    assert_eq!(all_calls(&k), 10 + flood);

    // Time passes: the idle keys (the flood's and ours) give way to new keys, a shard's
    // sweep at a time, and the cap still holds.
    tokio::time::advance(IDLE).await;
    k.evict_idle();
    tokio::time::advance(IDLE).await;
    for _ in 0..flood {
        let key = rng.u64(1_000..);
        k.try_acquire(&key).unwrap().success();
        assert!(k.len() <= 100);
    }
    assert!(k.evicted_totals().calls() > 0);
    assert_eq!(
        all_calls(&k),
        10 + 2 * flood,
        "no count is lost to eviction"
    );
}

#[tokio::test(start_paused = true)]
async fn a_failing_flood_trips_the_overflow_breaker_not_the_known_keys() {
    let k = keyed(4);
    for key in 0..4 {
        k.force_open(key).unwrap();
    }
    // Full of breakers that cannot be evicted: new keys share the overflow breaker.
    fail(&k, 100);
    fail(&k, 101);
    assert_eq!(k.overflow().state(), State::Open);
    assert_eq!(k.len(), 4);
    let refused = k.try_acquire(&102).unwrap_err();
    assert_eq!(refused.name(), "hosts/other");
    assert_eq!(k.force_open(5).unwrap_err().name(), "hosts");
    assert_eq!(k.force_open(3).unwrap(), None, "a known key at the cap");
    // An operator frees a place: the next new key gets its own breaker again (once the
    // place is idle and a sweep is due).
    assert_eq!(k.reset(&0), Some(State::ForcedOpen));
    k.evict_idle();
    tokio::time::advance(IDLE).await;
    assert_eq!(k.evict_idle(), 1);
    assert_eq!(k.len(), 3);
    succeed(&k, 103);
    assert_eq!(k.state(&103), Some(State::Closed));
}

#[tokio::test(start_paused = true)]
async fn operators_work_by_key() {
    let k = keyed(100);
    assert_eq!(k.reset(&9), None, "no breaker, nothing to reset");
    assert_eq!(k.force_open(9).unwrap(), Some(State::Closed));
    assert_eq!(k.force_open(9).unwrap(), None);
    assert!(k.try_acquire(&9).is_err());
    succeed(&k, 8);
    let mut states = k.states();
    states.sort_by_key(|(key, _)| *key);
    assert_eq!(states, [(8, State::Closed), (9, State::ForcedOpen)]);
    assert_eq!(k.reset(&9), Some(State::ForcedOpen));
    assert_eq!(k.snapshot(&9).unwrap().totals.rejected, 1);
    let mut transitions = k.get(&8).unwrap().subscribe();
    k.force_open(8).unwrap();
    assert_eq!(transitions.try_recv().unwrap().to, State::ForcedOpen);
}

#[tokio::test(start_paused = true)]
async fn the_layer_takes_the_key_from_the_request() {
    let k = keyed(100);
    let mut svc = k.layer(|req: &(u64, &'static str)| req.0).layer(service_fn(
        |(_, body): (u64, &'static str)| async move {
            match body {
                "boom" => Err("upstream failed"),
                _ => Ok(body),
            }
        },
    ));
    for _ in 0..2 {
        let e = svc.ready().await.unwrap().call((1, "boom")).await;
        assert!(matches!(e, Err(Error::Inner("upstream failed"))));
    }
    let Err(Error::Rejected(rejected)) = svc.ready().await.unwrap().call((1, "hi")).await else {
        panic!("key 1 is open");
    };
    assert_eq!(
        rejected.into_request(),
        Some((1, "hi")),
        "the request comes back"
    );
    assert_eq!(
        svc.ready().await.unwrap().call((2, "hi")).await.unwrap(),
        "hi"
    );

    // A dropped response future counts as cancelled, on its key's breaker.
    drop(svc.ready().await.unwrap().call((2, "hi")));
    assert_eq!(k.snapshot(&2).unwrap().totals.cancelled, 1);

    // After open_for, key 1 lets one trial through, which closes it.
    tokio::time::advance(Duration::from_secs(10)).await;
    assert_eq!(
        svc.ready().await.unwrap().call((1, "ok")).await.unwrap(),
        "ok"
    );
    assert_eq!(k.state(&1), Some(State::Closed));
}

#[test]
fn threads_racing_on_new_keys_make_one_breaker_per_key_and_respect_the_cap() {
    let k = keyed(64);
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let k = &k;
            s.spawn(move || {
                for i in 0..20_000u64 {
                    let key = (i * 7 + t) % 200;
                    k.try_acquire(&key).unwrap().success();
                    assert!(k.len() <= 64);
                }
            });
        }
    });
    assert_eq!(k.len(), 64);
    assert_eq!(all_calls(&k), 80_000, "every call counted exactly once");
}

/// An axum route with one breaker per tenant header: the layer fits axum's bounds (`Clone +
/// Send + Sync + 'static` layer and service, `Send` future) and refuses an open tenant only.
#[tokio::test(start_paused = true)]
async fn an_axum_route_keyed_by_a_tenant_header() {
    use axum::error_handling::HandleErrorLayer;
    use axum::http::{Request, StatusCode};
    use axum::routing::get;
    use axum::{body::Body, BoxError, Router};
    use tower::ServiceBuilder;

    let tenants: KeyedCircuitBreaker<String> =
        CircuitBreaker::builder("tenants").keyed().build().unwrap();
    let tenant = |req: &Request<Body>| {
        req.headers()
            .get("x-tenant")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("anonymous")
            .to_owned()
    };
    let app = Router::new().route("/", get(|| async { "ok" })).layer(
        ServiceBuilder::new()
            .layer(HandleErrorLayer::new(|_: BoxError| async {
                StatusCode::SERVICE_UNAVAILABLE
            }))
            .map_err(
                |e: Error<std::convert::Infallible, Request<Body>>| -> BoxError {
                    match e {
                        Error::Rejected(r) => Box::new(r.without_request()),
                        Error::Inner(never) => match never {},
                    }
                },
            )
            .layer(tenants.layer(tenant)),
    );
    let request = |t: &str| {
        Request::get("/")
            .header("x-tenant", t)
            .body(Body::empty())
            .unwrap()
    };
    tenants.force_open("acme".to_owned()).unwrap();
    let acme = app.clone().oneshot(request("acme")).await.unwrap();
    assert_eq!(acme.status(), StatusCode::SERVICE_UNAVAILABLE);
    let globex = app.oneshot(request("globex")).await.unwrap();
    assert_eq!(globex.status(), StatusCode::OK);
    assert_eq!(
        tenants
            .snapshot(&"globex".to_owned())
            .unwrap()
            .totals
            .successes,
        1
    );
}

/// Calls on many threads while another thread sweeps without pause (every key idle after
/// 1ns): the cap holds at every moment, and no breaker opened along the way is evicted.
#[test]
fn sweeping_while_calls_race_never_evicts_an_open_breaker() {
    let k: KeyedCircuitBreaker<u64> = CircuitBreaker::builder("race")
        .consecutive_failures(1)
        .open_for(Duration::from_secs(3600))
        .keyed()
        .max_keys(64)
        .idle_for(Duration::from_nanos(1))
        .build()
        .unwrap();
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                k.evict_idle();
                assert!(k.len() <= 64);
            }
        });
        let callers: Vec<_> = (0..3u64)
            .map(|t| {
                let k = &k;
                s.spawn(move || {
                    for i in 0..20_000u64 {
                        let key = (i * 13 + t * 7) % 300;
                        if let Ok(permit) = k.try_acquire(&key) {
                            // Keys 0..8 fail once and stay open for the whole test.
                            if key < 8 {
                                permit.failure();
                            } else {
                                permit.success();
                            }
                        }
                        assert!(k.len() <= 64);
                    }
                })
            })
            .collect();
        for caller in callers {
            caller.join().unwrap();
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    for key in 0..8 {
        if let Some(state) = k.state(&key) {
            assert_eq!(state, State::Open, "key {key}");
        }
    }
    let open: Vec<u64> = k
        .states()
        .into_iter()
        .filter(|(_, state)| *state == State::Open)
        .map(|(key, _)| key)
        .collect();
    assert!(open.iter().all(|key| *key < 8));
    // Every key that ever opened its own breaker is still there: opened breakers count
    // their trips, and evicted keys' trips would show in the evicted totals' transitions.
    let opened_own = (0..8)
        .filter(|key| {
            k.get(key)
                .is_some_and(|b| b.transitions(State::Closed, State::Open) == 1)
        })
        .count();
    assert_eq!(opened_own, open.len());
    assert_eq!(
        k.evicted_totals().counted_failures,
        0,
        "no open breaker was evicted"
    );
}
