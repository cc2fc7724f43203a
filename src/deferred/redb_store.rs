//! [`RedbStore`]: the embedded store, one file, nothing to install.

use std::path::Path;
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;

use parking_lot::Mutex;
use redb::{Database, ReadableTable, ReadableTableMetadata, TableError};
use tokio::sync::oneshot;

use super::redb_record::{decode, header};
use super::redb_writer::{self, store_error, Done, Op, Request, DEAD, ITEMS, KEYS};
use super::{
    DeferredError, Enqueued, Item, ItemState, Millis, NewItem, Release, Stats, Store, StoreFuture,
};

/// The embedded store: a redb database file. The default store, and what a single
/// instance (or the checkout demo) needs: nothing to install or run.
///
/// One process opens a file at a time (redb locks it); for a fleet of instances sharing a
/// queue use [`PostgresStore`](super::PostgresStore).
///
/// Writes go through one writer thread that commits whatever writes are waiting in one
/// transaction (a group commit): each enqueue is answered only after the fsync of the
/// commit that holds it, and concurrent enqueues share that fsync instead of queueing for
/// one each. Reads (stats, dead letters, lookups) run on tokio's blocking pool beside it.
///
/// ```
/// use tower_breakwater::deferred::{Queue, RedbStore};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// # let dir = std::env::temp_dir().join(format!("bw-redb-doc-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir).unwrap();
/// let store = RedbStore::open(dir.join("deferred.redb")).expect("a writable file");
/// let queue = Queue::builder("payments", store).build().unwrap();
/// queue.migrate().await.unwrap();
/// queue.enqueue("order-1", b"1700".to_vec()).await.unwrap();
/// assert_eq!(queue.stats().await.unwrap().ready, 1);
/// # drop(queue);
/// # std::fs::remove_dir_all(&dir).ok();
/// # }
/// ```
#[derive(Clone)]
pub struct RedbStore {
    inner: Arc<Inner>,
}

struct Inner {
    db: Arc<Database>,
    /// Taken (closed) on drop, which ends the writer thread.
    writer: Mutex<Option<mpsc::Sender<Request>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Inner {
    /// Close the writer and wait for it, so the file is unlocked when the last handle is
    /// gone (a process may open it again at once).
    fn drop(&mut self) {
        self.writer.lock().take();
        if let Some(thread) = self.thread.lock().take() {
            let _ = thread.join();
        }
    }
}

impl std::fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbStore").finish_non_exhaustive()
    }
}

impl RedbStore {
    /// Open the database at `path`, creating the file if it does not exist. Call
    /// [`migrate`](Store::migrate) (or [`Queue::migrate`](super::Queue::migrate)) before use.
    ///
    /// ```
    /// # use tower_breakwater::deferred::RedbStore;
    /// let err = RedbStore::open("/no/such/dir/q.redb").unwrap_err();
    /// assert!(err.is_store());
    /// ```
    pub fn open(path: impl AsRef<Path>) -> Result<RedbStore, DeferredError> {
        let db = Arc::new(Database::create(path.as_ref()).map_err(store_error)?);
        let (writer, requests) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("breakwater-deferred-redb".into())
            .spawn({
                let db = db.clone();
                move || redb_writer::run(db, requests)
            })
            .map_err(store_error)?;
        Ok(RedbStore {
            inner: Arc::new(Inner {
                db,
                writer: Mutex::new(Some(writer)),
                thread: Mutex::new(Some(thread)),
            }),
        })
    }

    fn write(&self, op: Op) -> StoreFuture<'_, Done> {
        let (reply, answer) = oneshot::channel();
        let sent = match &*self.inner.writer.lock() {
            Some(writer) => writer.send(Request { op, reply }).is_ok(),
            None => false,
        };
        Box::pin(async move {
            let stopped = || store_error("the writer thread has stopped");
            if !sent {
                return Err(stopped());
            }
            answer.await.map_err(|_| stopped())?
        })
    }

    fn read<T, F>(&self, f: F) -> StoreFuture<'_, T>
    where
        T: Send + 'static,
        F: FnOnce(&Database) -> Result<T, DeferredError> + Send + 'static,
    {
        let db = self.inner.db.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || f(&db))
                .await
                .map_err(store_error)?
        })
    }
}

/// A table that does not exist yet means `migrate` was never run.
fn table_error(e: TableError) -> DeferredError {
    match e {
        TableError::TableDoesNotExist(_) => DeferredError::NotMigrated { store: "redb" },
        e => store_error(e),
    }
}

fn unexpected(done: Done) -> DeferredError {
    let what = match done {
        Done::Migrated => "migrated",
        Done::Enqueued(_) => "enqueued",
        Done::Claimed(_) => "claimed",
        Done::Completed => "completed",
        Done::Released(_) => "released",
    };
    store_error(format!("the writer answered '{what}' to another request"))
}

impl Store for RedbStore {
    fn kind(&self) -> &'static str {
        "redb"
    }

    fn migrate(&self) -> StoreFuture<'_, ()> {
        let done = self.write(Op::Migrate);
        Box::pin(async move {
            match done.await? {
                Done::Migrated => Ok(()),
                other => Err(unexpected(other)),
            }
        })
    }

    fn enqueue(&self, item: NewItem, now: Millis) -> StoreFuture<'_, Enqueued> {
        let done = self.write(Op::Enqueue { item, now });
        Box::pin(async move {
            match done.await? {
                Done::Enqueued(enqueued) => Ok(enqueued),
                other => Err(unexpected(other)),
            }
        })
    }

    fn claim(&self, max: usize, now: Millis, lease_until: Millis) -> StoreFuture<'_, Vec<Item>> {
        let done = self.write(Op::Claim {
            max,
            now,
            lease_until,
        });
        Box::pin(async move {
            match done.await? {
                Done::Claimed(items) => Ok(items),
                other => Err(unexpected(other)),
            }
        })
    }

    fn complete(&self, ids: Vec<u64>) -> StoreFuture<'_, ()> {
        let done = self.write(Op::Complete { ids });
        Box::pin(async move {
            match done.await? {
                Done::Completed => Ok(()),
                other => Err(unexpected(other)),
            }
        })
    }

    fn release(&self, id: u64, attempt: u32, release: Release) -> StoreFuture<'_, bool> {
        let done = self.write(Op::Release {
            id,
            attempt,
            release,
        });
        Box::pin(async move {
            match done.await? {
                Done::Released(released) => Ok(released),
                other => Err(unexpected(other)),
            }
        })
    }

    fn dead_letters(&self, after: u64, limit: usize) -> StoreFuture<'_, Vec<Item>> {
        self.read(move |db| {
            let tx = db.begin_read().map_err(store_error)?;
            let dead = tx.open_table(DEAD).map_err(table_error)?;
            let mut found = Vec::new();
            for entry in dead.range(after.saturating_add(1)..).map_err(store_error)? {
                if found.len() >= limit {
                    break;
                }
                let (id, bytes) = entry.map_err(store_error)?;
                found.push(decode(id.value(), bytes.value())?);
            }
            Ok(found)
        })
    }

    fn requeue(&self, key: &str, now: Millis) -> StoreFuture<'_, bool> {
        let done = self.write(Op::Requeue {
            key: key.to_owned(),
            now,
        });
        Box::pin(async move {
            match done.await? {
                Done::Released(requeued) => Ok(requeued),
                other => Err(unexpected(other)),
            }
        })
    }

    fn find(&self, key: &str) -> StoreFuture<'_, Option<Item>> {
        let key = key.to_owned();
        self.read(move |db| {
            let tx = db.begin_read().map_err(store_error)?;
            let keys = tx.open_table(KEYS).map_err(table_error)?;
            let Some(id) = keys
                .get(key.as_str())
                .map_err(store_error)?
                .map(|v| v.value())
            else {
                return Ok(None);
            };
            for table in [ITEMS, DEAD] {
                let table = tx.open_table(table).map_err(table_error)?;
                if let Some(bytes) = table.get(id).map_err(store_error)? {
                    return decode(id, bytes.value()).map(Some);
                }
            }
            Err(DeferredError::corrupt(format!(
                "key '{key}' points at item {id}, which is not stored"
            )))
        })
    }

    fn stats(&self, now: Millis) -> StoreFuture<'_, Stats> {
        self.read(move |db| {
            let tx = db.begin_read().map_err(store_error)?;
            let items = tx.open_table(ITEMS).map_err(table_error)?;
            let mut stats = Stats {
                dead: tx
                    .open_table(DEAD)
                    .map_err(table_error)?
                    .len()
                    .map_err(store_error)?,
                ..Stats::default()
            };
            for entry in items.iter().map_err(store_error)? {
                let (_, bytes) = entry.map_err(store_error)?;
                let fixed = header(bytes.value())?;
                if fixed.state == ItemState::Leased && fixed.due_at > now {
                    stats.leased += 1;
                } else {
                    stats.ready += 1;
                }
                // Ids grow with enqueue order, but a re-queued dead item keeps its old one:
                // read the time stamp of each.
                let enqueued_at = fixed.enqueued_at;
                stats.oldest_enqueued_at = Some(
                    stats
                        .oldest_enqueued_at
                        .map_or(enqueued_at, |t| t.min(enqueued_at)),
                );
            }
            Ok(stats)
        })
    }
}
