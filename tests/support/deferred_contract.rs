//! The promises of a deferred store, checked the same way on every store (redb in
//! `tests/deferred_redb.rs`, PostgreSQL in `tests/deferred_postgres.rs`). Time stamps are
//! passed in, so nothing here waits for a clock.

use std::collections::HashSet;
use std::sync::Arc;

use tower_breakwater::deferred::{
    DeferredError, Enqueued, ItemState, Millis, NewItem, Release, Stats, Store,
};

/// An arbitrary "now".
pub const T0: Millis = 1_700_000_000_000;
const LEASE: Millis = 30_000;

fn item(key: &str) -> NewItem {
    NewItem::new(key, format!("payload of {key}").into_bytes())
}

pub async fn unmigrated_store_says_so(store: &dyn Store) {
    let err = store.enqueue(item("a"), T0).await.unwrap_err();
    assert!(matches!(err, DeferredError::NotMigrated { .. }), "{err}");
    let err = store.stats(T0).await.unwrap_err();
    assert!(matches!(err, DeferredError::NotMigrated { .. }), "{err}");
    store.migrate().await.unwrap();
    store.migrate().await.unwrap(); // idempotent
    assert_eq!(store.stats(T0).await.unwrap(), Stats::default());
}

pub async fn one_item_per_key(store: &dyn Store) {
    assert_eq!(store.enqueue(item("k"), T0).await.unwrap(), Enqueued::Added);
    let again = NewItem::new("k", b"other".to_vec());
    assert_eq!(
        store.enqueue(again, T0 + 5).await.unwrap(),
        Enqueued::Duplicate
    );
    let found = store.find("k").await.unwrap().expect("held");
    assert_eq!(found.payload, b"payload of k");
    assert_eq!(found.enqueued_at, T0);
    assert_eq!(found.state, ItemState::Ready);
    // Still a duplicate while leased and while dead.
    let leased = store.claim(10, T0, T0 + LEASE).await.unwrap();
    assert_eq!(
        store.enqueue(item("k"), T0).await.unwrap(),
        Enqueued::Duplicate
    );
    let dead = Release::Dead { error: "no".into() };
    assert!(store.release(leased[0].id, 1, dead).await.unwrap());
    assert_eq!(
        store.enqueue(item("k"), T0).await.unwrap(),
        Enqueued::Duplicate
    );
    assert_eq!(store.stats(T0).await.unwrap().dead, 1);
    // Delivered items are forgotten, key and all.
    store.enqueue(item("delivered"), T0).await.unwrap();
    let leased = store.claim(10, T0, T0 + LEASE).await.unwrap();
    store.complete(vec![leased[0].id]).await.unwrap();
    assert!(store.find("delivered").await.unwrap().is_none());
    assert_eq!(
        store.enqueue(item("delivered"), T0).await.unwrap(),
        Enqueued::Added
    );
}

pub async fn claims_take_the_oldest_due_first(store: &dyn Store) {
    for key in ["a", "b", "c", "d"] {
        store.enqueue(item(key), T0).await.unwrap();
    }
    let first = store.claim(2, T0, T0 + LEASE).await.unwrap();
    assert_eq!(keys(&first), ["a", "b"]);
    assert!(first
        .iter()
        .all(|i| i.state == ItemState::Leased && i.attempts == 1));
    assert!(first.iter().all(|i| i.due_at == T0 + LEASE));
    // "a" fails and backs off until T0 + 1000; "c" and "d" pass it meanwhile.
    let retry = Release::Retry {
        at: T0 + 1_000,
        error: "503".into(),
    };
    assert!(store.release(first[0].id, 1, retry).await.unwrap());
    assert_eq!(
        keys(&store.claim(10, T0 + 999, T0 + LEASE).await.unwrap()),
        ["c", "d"]
    );
    let again = store.claim(10, T0 + 1_000, T0 + LEASE).await.unwrap();
    assert_eq!(keys(&again), ["a"]);
    assert_eq!(again[0].attempts, 2);
    assert_eq!(again[0].last_error.as_deref(), Some("503"));
    assert!(store
        .claim(10, T0 + 1_000, T0 + LEASE)
        .await
        .unwrap()
        .is_empty());
}

pub async fn leases_run_out_and_the_item_comes_back(store: &dyn Store) {
    store.enqueue(item("x"), T0).await.unwrap();
    let first = store.claim(1, T0, T0 + LEASE).await.unwrap();
    assert_eq!(first.len(), 1);
    // Hidden until the lease ends...
    assert!(store
        .claim(1, T0 + LEASE - 1, T0 + 2 * LEASE)
        .await
        .unwrap()
        .is_empty());
    let stats = store.stats(T0 + LEASE - 1).await.unwrap();
    assert_eq!((stats.ready, stats.leased), (0, 1));
    // ...then back (its drainer is presumed dead), with one more attempt counted.
    assert_eq!(store.stats(T0 + LEASE).await.unwrap().ready, 1);
    let second = store.claim(1, T0 + LEASE, T0 + 2 * LEASE).await.unwrap();
    assert_eq!(keys(&second), ["x"]);
    assert_eq!(second[0].attempts, 2);
    // The first drainer's lease is gone: its report changes nothing.
    let late = Release::Retry {
        at: T0,
        error: "late".into(),
    };
    assert!(!store.release(first[0].id, 1, late).await.unwrap());
    // The second drainer's report counts; a refused (unsent) attempt is given back.
    let unsent = Release::Unsent { at: T0 + LEASE };
    assert!(store.release(second[0].id, 2, unsent).await.unwrap());
    let third = store.claim(1, T0 + LEASE, T0 + 2 * LEASE).await.unwrap();
    assert_eq!(third[0].attempts, 2);
}

pub async fn dead_letters_are_kept_listed_and_requeued(store: &dyn Store) {
    for key in ["p", "q", "r"] {
        store.enqueue(item(key), T0).await.unwrap();
    }
    let leased = store.claim(3, T0, T0 + LEASE).await.unwrap();
    for dead in [&leased[0], &leased[2]] {
        let release = Release::Dead {
            error: format!("{} declined", dead.key),
        };
        assert!(store.release(dead.id, 1, release).await.unwrap());
    }
    // Dead items are never claimed.
    assert!(
        store
            .claim(10, T0 + 10 * LEASE, T0 + 11 * LEASE)
            .await
            .unwrap()
            .len()
            == 1
    );
    let listed = store.dead_letters(0, 10).await.unwrap();
    assert_eq!(keys(&listed), ["p", "r"]);
    assert!(listed.iter().all(|i| i.state == ItemState::Dead));
    assert_eq!(listed[1].last_error.as_deref(), Some("r declined"));
    // Paging.
    assert_eq!(
        keys(&store.dead_letters(listed[0].id, 10).await.unwrap()),
        ["r"]
    );
    assert_eq!(keys(&store.dead_letters(0, 1).await.unwrap()), ["p"]);
    // Re-queued: ready, attempts back to zero, claimed first again (oldest).
    assert!(store.requeue("r", T0 + 5).await.unwrap());
    assert!(!store.requeue("r", T0 + 5).await.unwrap()); // no longer dead
    assert!(!store.requeue("missing", T0 + 5).await.unwrap());
    let found = store.find("r").await.unwrap().unwrap();
    assert_eq!((found.state, found.attempts), (ItemState::Ready, 0));
    let stats = store.stats(T0 + 5).await.unwrap();
    assert_eq!((stats.ready, stats.dead), (1, 1));
    assert_eq!(stats.oldest_enqueued_at, Some(T0));
}

pub async fn stats_count_each_state(store: &dyn Store) {
    for (i, key) in ["s1", "s2", "s3", "s4"].into_iter().enumerate() {
        store.enqueue(item(key), T0 + i as Millis).await.unwrap();
    }
    let leased = store.claim(2, T0 + 10, T0 + LEASE).await.unwrap();
    let dead = Release::Dead { error: "x".into() };
    store.release(leased[1].id, 1, dead).await.unwrap();
    let stats = store.stats(T0 + 10).await.unwrap();
    assert_eq!(
        stats,
        Stats {
            ready: 2,
            leased: 1,
            dead: 1,
            oldest_enqueued_at: Some(T0),
        }
    );
    store.complete(vec![leased[0].id]).await.unwrap();
    assert_eq!(
        store.stats(T0 + 10).await.unwrap().oldest_enqueued_at,
        Some(T0 + 2)
    );
}

/// Eight drainers claim at once from 400 items: every item is claimed exactly once.
pub async fn concurrent_claims_never_share_an_item(store: Arc<dyn Store>) {
    for i in 0..400 {
        store.enqueue(item(&format!("c{i:03}")), T0).await.unwrap();
    }
    let mut drainers = Vec::new();
    for _ in 0..8 {
        let store = store.clone();
        drainers.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let batch = store.claim(7, T0, T0 + LEASE).await.unwrap();
                if batch.is_empty() {
                    return mine;
                }
                mine.extend(batch.into_iter().map(|i| i.key));
            }
        }));
    }
    let mut seen = HashSet::new();
    let mut total = 0;
    for drainer in drainers {
        for key in drainer.await.unwrap() {
            total += 1;
            assert!(seen.insert(key.clone()), "{key} claimed twice");
        }
    }
    assert_eq!((total, seen.len()), (400, 400));
}

fn keys(items: &[tower_breakwater::deferred::Item]) -> Vec<&str> {
    items.iter().map(|i| i.key.as_str()).collect()
}
