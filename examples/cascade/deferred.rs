//! Where the breakwater configuration's fallback puts a payment it cannot make now: the
//! crate's own durable queue (`tower_breakwater::deferred`, redb on disk), keyed by order so
//! deferring twice keeps one item.
//!
//! `defer` returns only once the item is on disk (the store's group commit fsyncs whatever
//! is waiting in one transaction): a checkout is answered "deferred" only then.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tower::BoxError;
use tower_breakwater::deferred::{Queue, RedbStore};

/// A handle on the durable queue; clones share it.
#[derive(Clone)]
pub struct DeferredPayments {
    queue: Queue,
    /// Calls of `defer` that have not returned yet.
    in_progress: Arc<AtomicU64>,
}

impl DeferredPayments {
    pub async fn open(path: &Path) -> Result<DeferredPayments, BoxError> {
        let queue = Queue::builder("payments", RedbStore::open(path)?).build()?;
        queue.migrate().await?;
        Ok(DeferredPayments {
            queue,
            in_progress: Arc::default(),
        })
    }

    /// Store `order`; durable when this returns `Ok`.
    pub async fn defer(&self, order: u64) -> Result<(), BoxError> {
        self.in_progress.fetch_add(1, Ordering::Relaxed);
        let result = self
            .queue
            .enqueue(format!("order-{order}"), order.to_be_bytes().to_vec())
            .await;
        self.in_progress.fetch_sub(1, Ordering::Relaxed);
        result?;
        Ok(())
    }

    /// Deferrals waiting for their commit right now.
    pub fn in_progress(&self) -> u64 {
        self.in_progress.load(Ordering::Relaxed)
    }

    /// Items on disk.
    pub async fn len(&self) -> Result<u64, BoxError> {
        let stats = self.queue.stats().await?;
        Ok(stats.ready + stats.leased + stats.dead)
    }
}
