//! The `Store` trait: what a durable queue needs from its storage.

use std::future::Future;
use std::pin::Pin;

use super::{DeferredError, Enqueued, Item, Millis, NewItem, Release, Stats};

/// The future a [`Store`] method returns (boxed: a store is used as `dyn Store`, and every
/// operation waits for a disk or a database anyway).
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, DeferredError>> + Send + 'a>>;

/// A durable store of deferred items: [`RedbStore`](super::RedbStore) (embedded, one
/// process) and, with feature `postgres`, [`PostgresStore`](super::PostgresStore) (a fleet
/// shares it). A [`Queue`](super::Queue) adds the policy (attempts, backoff, visibility
/// timeout) and passes every time stamp in, so a store reads no clock itself.
///
/// What every store promises (the tests in `tests/deferred_store.rs` check each one on both
/// stores):
/// - **Durable enqueue**: when `enqueue` returns `Ok`, the item is committed and on disk
///   (fsync): it survives a crash of the process (and, for Postgres, of the server).
/// - **One item per key** among the items it holds (ready, leased or dead): a second enqueue
///   of a key answers [`Enqueued::Duplicate`] and changes nothing.
/// - **Exclusive leases**: `claim` leases each item it returns until `lease_until`; no other
///   claim returns it before then, however many drainers claim at once. After then it may
///   be claimed again (its drainer is presumed dead). Each claim adds one to `attempts`.
/// - **Oldest first**: `claim` returns, in increasing `id` (enqueue order), the items with
///   the smallest ids among those due (`due_at <= now`, not dead).
/// - `release` and `requeue` act only on an item in the expected state (a lease that is still
///   the caller's, a dead item) and say whether they did.
///
/// ```
/// use tower_breakwater::deferred::{NewItem, RedbStore, Store};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// # let dir = std::env::temp_dir().join(format!("bw-store-doc-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir).unwrap();
/// let store = RedbStore::open(dir.join("queue.redb")).unwrap();
/// store.migrate().await.unwrap();
/// store.enqueue(NewItem::new("order-1", b"1700".to_vec()), 1_000).await.unwrap();
/// let claimed = store.claim(10, 1_000, 31_000).await.unwrap();
/// assert_eq!(claimed[0].key, "order-1");
/// store.complete(vec![claimed[0].id]).await.unwrap();
/// assert_eq!(store.stats(2_000).await.unwrap().ready, 0);
/// # drop(store);
/// # std::fs::remove_dir_all(&dir).ok();
/// # }
/// ```
pub trait Store: Send + Sync + 'static {
    /// A short name for errors and logs: `"redb"`, `"postgres"`.
    fn kind(&self) -> &'static str;

    /// Create the schema if it is missing (idempotent, safe from several processes at once).
    fn migrate(&self) -> StoreFuture<'_, ()>;

    /// Store `item`, durably, unless its key is already held.
    fn enqueue(&self, item: NewItem, now: Millis) -> StoreFuture<'_, Enqueued>;

    /// Lease up to `max` due items until `lease_until`, oldest first; each one's `attempts`
    /// goes up by one.
    fn claim(&self, max: usize, now: Millis, lease_until: Millis) -> StoreFuture<'_, Vec<Item>>;

    /// Forget delivered items (by id; unknown ids are ignored).
    fn complete(&self, ids: Vec<u64>) -> StoreFuture<'_, ()>;

    /// Give back the lease of item `id`, claimed as attempt `attempt`: retry it later,
    /// dead-letter it, or undo an attempt that was never sent. `false` if the lease is no
    /// longer this attempt's (it ran out and another drainer took the item, or it is gone).
    fn release(&self, id: u64, attempt: u32, release: Release) -> StoreFuture<'_, bool>;

    /// Dead items with an id above `after`, oldest first, at most `limit` of them.
    fn dead_letters(&self, after: u64, limit: usize) -> StoreFuture<'_, Vec<Item>>;

    /// Make the dead item with this key ready again, its attempts back to zero. `false` if
    /// no dead item has this key.
    fn requeue(&self, key: &str, now: Millis) -> StoreFuture<'_, bool>;

    /// The item with this key, in whatever state.
    fn find(&self, key: &str) -> StoreFuture<'_, Option<Item>>;

    /// Counts by state at `now`, and the oldest live item's enqueue time.
    fn stats(&self, now: Millis) -> StoreFuture<'_, Stats>;
}
