//! Loom models of a thread's counter block and its retirement (`blocks.rs`): the real
//! `ThreadBlock` and `Blocks` code over loom's `AtomicU64`, with the breaker's lock as a loom
//! `Mutex`. The promises checked: a block's own thread counts with a plain load and store
//! while readers sum under the lock; when the thread retires its block (it exits), its counts
//! move into the breaker in one critical section, so a reader never sees a count twice or
//! lose one, and once every thread is gone the sum is exact and no block is left.

use std::sync::Arc;

use crate::circuit_breaker::blocks::{Blocks, ThreadBlock};
use loom::sync::atomic::AtomicU64;
use loom::sync::Mutex;
use loom::thread;

type Shared = loom::sync::Arc<Mutex<Blocks<AtomicU64>>>;

use super::model;

/// A thread that counts `calls` successes in a block of its own, then exits (retires it).
fn caller(blocks: &Shared, calls: u64) -> thread::JoinHandle<()> {
    let blocks = blocks.clone();
    thread::spawn(move || {
        let block = Arc::new(ThreadBlock::<AtomicU64>::new(0));
        blocks.lock().unwrap().adopt(block.clone());
        for _ in 0..calls {
            block.count_success();
        }
        blocks.lock().unwrap().retire(&block);
    })
}

/// A thread counts and exits while a reader sums twice: every sum is between what was
/// surely counted and the total, sums never go back, and the end is exact with no block left.
#[test]
fn counts_survive_threads_that_exit_while_read() {
    model(|| {
        let blocks: Shared = loom::sync::Arc::new(Mutex::new(Blocks::new(0)));
        let threads = [caller(&blocks, 2)];
        let reader = {
            let blocks = blocks.clone();
            thread::spawn(move || {
                let first = blocks.lock().unwrap().successes();
                let second = blocks.lock().unwrap().successes();
                assert!(first <= second && second <= 2, "{first} then {second}");
            })
        };
        for t in threads {
            t.join().unwrap();
        }
        reader.join().unwrap();
        let blocks = blocks.lock().unwrap();
        assert_eq!((blocks.successes(), blocks.live()), (2, 0));
    });
}

/// A block that serves one call only (the thread's cache was unavailable) is folded at once
/// while another thread's block is retired: both counts land, once.
#[test]
fn a_one_call_block_and_a_retiring_block_both_land() {
    model(|| {
        let blocks: Shared = loom::sync::Arc::new(Mutex::new(Blocks::new(0)));
        let exiting = caller(&blocks, 1);
        let once = {
            let blocks = blocks.clone();
            thread::spawn(move || {
                let block = ThreadBlock::<AtomicU64>::new(0);
                block.count_success();
                blocks.lock().unwrap().fold(&block);
            })
        };
        exiting.join().unwrap();
        once.join().unwrap();
        let blocks = blocks.lock().unwrap();
        assert_eq!((blocks.successes(), blocks.live()), (2, 0));
    });
}
