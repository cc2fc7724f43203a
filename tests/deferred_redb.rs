//! The deferred queue on its embedded store: the store's promises, a crash while enqueuing,
//! and the queue's own rules (backoff, dead letters) on tokio's paused clock.

#[path = "support/deferred_contract.rs"]
mod contract;
#[path = "support/deferred_crash.rs"]
mod crash;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tower_breakwater::deferred::{Fate, ItemState, Queue, RedbStore, Store};

/// A fresh directory for one test's database file.
fn dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("bw-deferred-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn store(test: &str) -> RedbStore {
    let store = RedbStore::open(dir(test).join("q.redb")).unwrap();
    store.migrate().await.unwrap();
    store
}

#[tokio::test]
async fn unmigrated_store_says_so() {
    let store = RedbStore::open(dir("unmigrated").join("q.redb")).unwrap();
    contract::unmigrated_store_says_so(&store).await;
}

#[tokio::test]
async fn one_item_per_key() {
    contract::one_item_per_key(&store("keys").await).await;
}

#[tokio::test]
async fn claims_take_the_oldest_due_first() {
    contract::claims_take_the_oldest_due_first(&store("oldest").await).await;
}

#[tokio::test]
async fn leases_run_out_and_the_item_comes_back() {
    contract::leases_run_out_and_the_item_comes_back(&store("leases").await).await;
}

#[tokio::test]
async fn dead_letters_are_kept_listed_and_requeued() {
    contract::dead_letters_are_kept_listed_and_requeued(&store("dead").await).await;
}

#[tokio::test]
async fn stats_count_each_state() {
    contract::stats_count_each_state(&store("stats").await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_claims_never_share_an_item() {
    let store: Arc<dyn Store> = Arc::new(store("concurrent").await);
    contract::concurrent_claims_never_share_an_item(store).await;
}

#[tokio::test]
async fn items_survive_closing_and_reopening_the_file() {
    let path = dir("reopen").join("q.redb");
    let store = RedbStore::open(&path).unwrap();
    store.migrate().await.unwrap();
    let queue = Queue::builder("reopen", store).build().unwrap();
    queue.enqueue("kept", b"1".to_vec()).await.unwrap();
    drop(queue); // joins the writer thread and unlocks the file
    let queue = Queue::builder("reopen", RedbStore::open(&path).unwrap())
        .build()
        .unwrap();
    assert_eq!(queue.find("kept").await.unwrap().unwrap().payload, b"1");
}

#[test]
fn crash_child() {
    // Only a child run (see `enqueue_survives_sigkill`) does anything.
    let Ok(spec) = std::env::var(crash::CHILD) else {
        return;
    };
    let path = spec.strip_prefix("redb:").expect("a redb spec");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(crash::enqueue_and_acknowledge(
        RedbStore::open(path).unwrap(),
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enqueue_survives_sigkill() {
    let path = dir("crash").join("q.redb");
    let spec = format!("redb:{}", path.display());
    let (acked, kill_after) =
        tokio::task::spawn_blocking(move || crash::run_child_and_kill_it("crash_child", &spec))
            .await
            .unwrap();
    assert!(acked.len() >= kill_after);
    let queue = Queue::builder("crash", RedbStore::open(&path).unwrap())
        .build()
        .unwrap();
    crash::check_every_acknowledged_item_is_there_once(&queue, &acked).await;
}

async fn queue(test: &str, attempts: u32) -> Queue {
    let queue = Queue::builder(test.to_owned(), store(test).await)
        .max_attempts(attempts)
        .backoff(Duration::from_secs(1), Duration::from_secs(5))
        .visibility_timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    queue.migrate().await.unwrap();
    queue
}

#[tokio::test(start_paused = true)]
async fn failed_attempts_back_off_exponentially_then_dead_letter() {
    let queue = queue("backoff", 5).await;
    queue.enqueue("order-1", vec![]).await.unwrap();
    // Waits after attempts 1..4: 1 s, 2 s, 4 s, 5 s (capped); attempt 5 is the last.
    for wait in [1_000, 2_000, 4_000, 5_000] {
        let leased = queue.claim(1).await.unwrap();
        let failed_at = queue.now();
        let Fate::Retry { at } = queue.failed(&leased[0], "503").await.unwrap() else {
            panic!("retried");
        };
        assert_eq!(at - failed_at, wait);
        tokio::time::advance(Duration::from_millis(wait - 1)).await;
        assert!(
            queue.claim(1).await.unwrap().is_empty(),
            "still backing off"
        );
        tokio::time::advance(Duration::from_millis(1)).await;
    }
    let last = queue.claim(1).await.unwrap();
    assert_eq!(last[0].attempts, 5);
    assert_eq!(queue.failed(&last[0], "503").await.unwrap(), Fate::Dead);
    let dead = queue.dead_letters(0, 10).await.unwrap();
    assert_eq!((dead.len(), dead[0].attempts), (1, 5));
    assert!(queue.claim(1).await.unwrap().is_empty());
    assert!(queue.requeue("order-1").await.unwrap());
    assert_eq!(queue.claim(1).await.unwrap()[0].attempts, 1);
}

#[tokio::test(start_paused = true)]
async fn a_crashed_drainers_items_come_back_after_the_visibility_timeout() {
    let queue = queue("visibility", 3).await;
    queue.enqueue("order-1", vec![]).await.unwrap();
    let lost = queue.claim(1).await.unwrap(); // this drainer "crashes": never reports
    tokio::time::advance(Duration::from_secs(29)).await;
    assert!(queue.claim(1).await.unwrap().is_empty());
    tokio::time::advance(Duration::from_secs(1)).await;
    let back = queue.claim(1).await.unwrap();
    assert_eq!(back[0].key, "order-1");
    assert_eq!(
        queue.failed(&lost[0], "late").await.unwrap(),
        Fate::LeaseLost
    );
    queue.delivered(&back).await.unwrap();
    assert!(queue.find("order-1").await.unwrap().is_none());
}

#[tokio::test]
async fn bad_input_is_refused_before_the_store() {
    let queue = Queue::builder("limits", store("limits").await)
        .max_payload(16)
        .build()
        .unwrap();
    let too_long = "k".repeat(257);
    assert!(queue.enqueue(too_long, vec![]).await.is_err());
    assert!(queue.enqueue("", vec![]).await.is_err());
    assert!(queue.enqueue("k", vec![0; 17]).await.is_err());
    queue.enqueue("k", vec![0; 16]).await.unwrap();
    assert_eq!(
        queue.find("k").await.unwrap().unwrap().state,
        ItemState::Ready
    );
    for (field, built) in [
        (
            "max_attempts",
            Queue::builder("q", store("cfg1").await)
                .max_attempts(0)
                .build(),
        ),
        (
            "backoff",
            Queue::builder("q", store("cfg2").await)
                .backoff(Duration::ZERO, Duration::from_secs(1))
                .build(),
        ),
        (
            "visibility_timeout",
            Queue::builder("q", store("cfg3").await)
                .visibility_timeout(Duration::ZERO)
                .build(),
        ),
        (
            "max_payload",
            Queue::builder("q", store("cfg4").await)
                .max_payload(0)
                .build(),
        ),
    ] {
        assert_eq!(built.unwrap_err().field(), field);
    }
}
