//! The durable queue of deferred payments: an embedded redb database on disk.
//!
//! Why redb: pure Rust (no C toolchain, nothing to install, a quick build), ACID
//! transactions, and a commit is on disk (fsync) before `push` returns — a payment the
//! order service accepted survives a crash of the order service.

use std::path::Path;
use std::sync::Arc;

use redb::{Database, ReadableTable, ReadableTableMetadata, TableDefinition};

use tower::BoxError;

use super::Payment;

/// order number → amount in cents. Keyed by order, so queueing the same payment twice
/// keeps one entry.
const DEFERRED: TableDefinition<'_, u64, u64> = TableDefinition::new("deferred_payments");

#[derive(Clone)]
pub struct DurableQueue {
    db: Arc<Database>,
}

impl DurableQueue {
    pub fn open(path: &Path) -> Result<DurableQueue, BoxError> {
        let db = Database::create(path)?;
        let tx = db.begin_write()?;
        tx.open_table(DEFERRED)?; // create it, so readers never meet a missing table
        tx.commit()?;
        Ok(DurableQueue { db: Arc::new(db) })
    }

    /// Store `payment`; on disk when this returns.
    pub async fn push(&self, payment: Payment) -> Result<(), BoxError> {
        self.write(move |db| {
            let tx = db.begin_write()?;
            tx.open_table(DEFERRED)?
                .insert(payment.order, payment.cents)?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// Forget `order` (it has been charged).
    pub async fn remove(&self, order: u64) -> Result<(), BoxError> {
        self.write(move |db| {
            let tx = db.begin_write()?;
            tx.open_table(DEFERRED)?.remove(order)?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// Every queued payment, oldest order first.
    pub fn all(&self) -> Result<Vec<Payment>, BoxError> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(DEFERRED)?;
        let mut payments = Vec::new();
        for entry in table.iter()? {
            let (order, cents) = entry?;
            payments.push(Payment {
                order: order.value(),
                cents: cents.value(),
            });
        }
        Ok(payments)
    }

    pub fn len(&self) -> Result<u64, BoxError> {
        Ok(self.db.begin_read()?.open_table(DEFERRED)?.len()?)
    }

    pub fn contains(&self, order: u64) -> Result<bool, BoxError> {
        let tx = self.db.begin_read()?;
        Ok(tx.open_table(DEFERRED)?.get(order)?.is_some())
    }

    /// Commits wait for the disk: keep them off the async worker threads.
    async fn write<F>(&self, f: F) -> Result<(), BoxError>
    where
        F: FnOnce(&Database) -> Result<(), BoxError> + Send + 'static,
    {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || f(&db))
            .await
            .expect("queue writes do not panic")
    }
}
