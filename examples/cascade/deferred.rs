//! Where the breakwater configuration's fallback puts a payment it cannot make now: a redb
//! table on disk, written by one thread that commits whatever is waiting in one
//! transaction (group commit), so a burst of deferrals costs one fsync, not one each.
//!
//! `defer` returns only after the commit that holds the order is on disk: a checkout is
//! answered "deferred" only then. Everything else in the example goes through `defer`,
//! so moving to `tower_breakwater::deferred` changes this file only.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use redb::{Database, ReadableTableMetadata, TableDefinition};
use tokio::sync::{mpsc, oneshot};
use tower::BoxError;

/// order number → 1, keyed by order so deferring twice keeps one row.
const DEFERRED: TableDefinition<'_, u64, u8> = TableDefinition::new("deferred_payments");

type Ack = oneshot::Sender<Result<(), String>>;

/// A handle on the durable table; clones share the writer thread.
#[derive(Clone)]
pub struct DeferredPayments {
    queue: mpsc::UnboundedSender<(u64, Ack)>,
    db: Arc<Database>,
    /// Calls of `defer` that have not returned yet.
    in_progress: Arc<AtomicU64>,
}

impl DeferredPayments {
    pub fn open(path: &Path) -> Result<DeferredPayments, BoxError> {
        let db = Arc::new(Database::create(path)?);
        let tx = db.begin_write()?;
        tx.open_table(DEFERRED)?;
        tx.commit()?;
        let (queue, waiting) = mpsc::unbounded_channel();
        let writer_db = db.clone();
        std::thread::Builder::new()
            .name("deferred-writer".into())
            .spawn(move || write_loop(&writer_db, waiting))?;
        Ok(DeferredPayments {
            queue,
            db,
            in_progress: Arc::default(),
        })
    }

    /// Store `order`; durable when this returns `Ok`.
    pub async fn defer(&self, order: u64) -> Result<(), BoxError> {
        self.in_progress.fetch_add(1, Ordering::Relaxed);
        let result = self.write(order).await;
        self.in_progress.fetch_sub(1, Ordering::Relaxed);
        result
    }

    /// Deferrals waiting for their commit right now.
    pub fn in_progress(&self) -> u64 {
        self.in_progress.load(Ordering::Relaxed)
    }

    async fn write(&self, order: u64) -> Result<(), BoxError> {
        let (ack, done) = oneshot::channel();
        self.queue
            .send((order, ack))
            .map_err(|_| "the deferred-payment writer stopped")?;
        match done.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e.into()),
            Err(_) => Err("the deferred-payment writer stopped".into()),
        }
    }

    /// Rows on disk.
    pub fn len(&self) -> Result<u64, BoxError> {
        Ok(self.db.begin_read()?.open_table(DEFERRED)?.len()?)
    }
}

fn write_loop(db: &Database, mut waiting: mpsc::UnboundedReceiver<(u64, Ack)>) {
    while let Some(first) = waiting.blocking_recv() {
        let mut batch = vec![first];
        while let Ok(next) = waiting.try_recv() {
            batch.push(next);
        }
        let result = commit(db, batch.iter().map(|(order, _)| *order)).map_err(|e| e.to_string());
        for (_, ack) in batch {
            let _ = ack.send(result.clone());
        }
    }
}

fn commit(db: &Database, orders: impl Iterator<Item = u64>) -> Result<(), BoxError> {
    let tx = db.begin_write()?;
    {
        let mut table = tx.open_table(DEFERRED)?;
        for order in orders {
            table.insert(order, 1)?;
        }
    }
    tx.commit()?;
    Ok(())
}
