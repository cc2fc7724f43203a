//! The crash test of a deferred store, shared by both stores: a child process (this test
//! binary, run again) enqueues 10,000 items, 64 at a time, and prints `ok <key>` after each
//! enqueue returns; the parent kills it with SIGKILL at a random point, opens the store
//! again and checks that every acknowledged item is there exactly once.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;

use tower_breakwater::deferred::{Queue, Store};

/// The environment variable that turns a run of the test binary into the child.
pub const CHILD: &str = "BREAKWATER_CRASH_CHILD";
pub const ITEMS: usize = 10_000;

/// The child: enqueue `ITEMS` items into `store`, acknowledging each on stdout.
pub async fn enqueue_and_acknowledge(store: impl Store) {
    let queue = Queue::builder("crash", store).build().unwrap();
    queue.migrate().await.unwrap();
    let permits = Arc::new(tokio::sync::Semaphore::new(64));
    let mut tasks = Vec::with_capacity(ITEMS);
    for i in 0..ITEMS {
        let permit = permits.clone().acquire_owned().await.unwrap();
        let queue = queue.clone();
        tasks.push(tokio::spawn(async move {
            let key = format!("item-{i:05}");
            queue
                .enqueue(key.clone(), key.clone().into_bytes())
                .await
                .unwrap();
            // Straight to the file descriptor: the test harness captures print!, not this.
            let mut out = std::io::stdout().lock();
            writeln!(out, "ok {key}").unwrap();
            out.flush().unwrap();
            drop(permit);
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}

/// The parent: run `test_name` of this binary as the child with `CHILD=spec`, kill it
/// after a random number of acknowledgements, and return the acknowledged keys.
pub fn run_child_and_kill_it(test_name: &str, spec: &str) -> (Vec<String>, usize) {
    let kill_after = fastrand::usize(500..9_000);
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test_name, "--nocapture", "--test-threads=1"])
        .env(CHILD, spec)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut acked = Vec::new();
    let mut killed = false;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(key) = line.strip_prefix("ok ") {
            acked.push(key.to_owned());
            if acked.len() == kill_after {
                child.kill().unwrap(); // SIGKILL on Unix
                killed = true;
                break;
            }
        }
    }
    // Acknowledgements already in the pipe were made before the kill: they count too.
    for line in lines {
        let Ok(line) = line else { break };
        if let Some(key) = line.strip_prefix("ok ") {
            acked.push(key.to_owned());
        }
    }
    let status = child.wait().unwrap();
    assert!(killed, "the child ended before the kill: {status}");
    (acked, kill_after)
}

/// Every acknowledged key is in `queue` exactly once (and nothing is there twice).
pub async fn check_every_acknowledged_item_is_there_once(queue: &Queue, acked: &[String]) {
    let mut held: HashMap<String, usize> = HashMap::new();
    loop {
        let batch = queue.claim(1_000).await.unwrap();
        if batch.is_empty() {
            break;
        }
        for item in batch {
            assert_eq!(item.payload, item.key.as_bytes(), "payload intact");
            *held.entry(item.key).or_default() += 1;
        }
    }
    assert!(held.values().all(|&n| n == 1), "an item is held twice");
    for key in acked {
        assert_eq!(held.get(key), Some(&1), "acknowledged {key} is lost");
    }
    assert!(held.len() >= acked.len());
    assert!(held.len() <= ITEMS);
}
