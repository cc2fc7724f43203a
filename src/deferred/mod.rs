//! Deferred work (feature `deferred`): a durable queue of requests that could not be sent
//! now, replayed through the same stack when the dependency is back — the brief's "accept
//! the order, charge later", as a library.
//!
//! # How the files fit together
//! A [`Store`] keeps items durably: [`RedbStore`] (embedded, a file, the default) or, with
//! feature `postgres`, [`PostgresStore`] (a fleet of instances shares one queue). A [`Queue`]
//! adds the rules (attempts, backoff, visibility timeout, size limits) and its clock, and
//! passes every time stamp to the store. [`Fallback::defer`](crate::fallback::Fallback::defer)
//! puts refused requests into a queue and answers "accepted, pending" once they are durable;
//! a [`Replayer`] drains the queue through the same stack when the breaker closes and on an
//! interval. With feature `metrics`, `Metrics::deferred` exports the queue's counts.
//!
//! Files: `store.rs` (the trait), `item.rs` (what is stored), `redb_store.rs` with
//! `redb_writer.rs` (its group-committing writer thread) and `redb_record.rs` (its row
//! layout), `postgres_store.rs` with `postgres_sql.rs` (its statements), `queue.rs` and
//! `builder.rs` (the queue and its settings), `report.rs` (delivered / failed / unsent),
//! `replayer.rs` and `replayer_task.rs` (draining, now or in the background),
//! `counters.rs` (what the metrics read), `error.rs`.
//!
//! # Promises (each tested on both stores)
//! - **Durable enqueue.** When [`Queue::enqueue`] (or the fallback's answer) returns, the item
//!   is committed and fsync'd: redb commits with its default `Immediate` durability;
//!   Postgres commits with `synchronous_commit = on`, set on every connection. A crash of the
//!   process right after loses nothing acknowledged (`tests/deferred_crash.rs` kills a child
//!   with SIGKILL while it enqueues 10,000 items).
//! - **One item per idempotency key.** Enqueuing a key the queue already holds (ready,
//!   leased or dead) keeps the one item. A delivered item is forgotten, key and all: the
//!   receiver deduplicates on the key, which the replayed request carries.
//! - **Leases with a visibility timeout.** A claimed item is hidden from every other drainer
//!   until its lease runs out; if its drainer crashes, it comes back then. On Postgres,
//!   claims use `FOR UPDATE SKIP LOCKED`: drainers never wait for each other and never take
//!   the same item.
//! - **At-least-once delivery.** An item is forgotten only after a delivery succeeded, so a
//!   crash between delivery and report sends it again: receivers deduplicate on the key.
//! - **Attempts with backoff, then a dead letter.** Each claim counts an attempt; a failed
//!   attempt waits `initial × 2^(n−1)` (capped) before the item is due again; after
//!   `max_attempts` it is dead-lettered: kept, listed by [`Queue::dead_letters`], put back by
//!   [`Queue::requeue`]. A call the breaker refused gives its attempt back.
//! - **Ordering.** Each claim takes the *oldest due* items first (in enqueue order). Nothing
//!   more: an item backing off lets younger ones pass, deliveries of one batch run
//!   concurrently, and several drainers interleave. There is no per-key order (one key is one
//!   item).
//!
//! Time stamps are wall-clock milliseconds read by each process: a fleet's clocks should
//! agree to well within the visibility timeout (NTP does).
//!
//! ```
//! use std::time::Duration;
//! use tower_breakwater::circuit_breaker::CircuitBreaker;
//! use tower_breakwater::deferred::{NewItem, Queue, RedbStore, Replayer};
//! use tower_breakwater::fallback::Fallback;
//! use tower_breakwater::{Error, Resilience};
//! use tower::{service_fn, Layer, ServiceExt};
//!
//! #[derive(Debug, PartialEq)]
//! enum Order { Charged(u64), PendingPayment(u64) }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! # let dir = std::env::temp_dir().join(format!("bw-deferred-doc-{}", std::process::id()));
//! # std::fs::create_dir_all(&dir).unwrap();
//! let queue = Queue::builder("payments", RedbStore::open(dir.join("payments.redb")).unwrap())
//!     .build()
//!     .unwrap();
//! queue.migrate().await.unwrap();
//! let breaker = CircuitBreaker::builder("payments").build().unwrap();
//!
//! // Refused payments go to the queue; the order is "pending" once the payment is on disk.
//! let fallback = Fallback::defer(
//!     &queue,
//!     |order: &u64| NewItem::new(format!("order-{order}"), order.to_le_bytes().to_vec()),
//!     |order, _deferral| Order::PendingPayment(order),
//! );
//! let stack = Resilience::builder("payments")
//!     .fallback(&fallback)
//!     .circuit_breaker(&breaker)
//!     .build()
//!     .unwrap();
//! let charge = service_fn(|order: u64| async move { Ok::<_, std::io::Error>(Order::Charged(order)) });
//! let payments = stack.layer(charge);
//!
//! breaker.force_open();
//! assert_eq!(payments.clone().oneshot(7).await.unwrap(), Order::PendingPayment(7));
//!
//! // Back up: the replayer sends the queued payment through the same stack.
//! breaker.reset();
//! let replayer = Replayer::builder(&queue, payments, |item| {
//!     <[u8; 8]>::try_from(item.payload.as_slice()).map(u64::from_le_bytes)
//! })
//! .breaker(&breaker)
//! .build()
//! .unwrap();
//! assert_eq!(replayer.drain().await.unwrap().delivered, 1);
//! # drop((replayer, queue, fallback)); std::fs::remove_dir_all(&dir).ok();
//! # }
//! ```

mod builder;
mod counters;
mod error;
mod item;
#[cfg(feature = "postgres")]
mod postgres_sql;
#[cfg(feature = "postgres")]
mod postgres_store;
mod queue;
mod redb_record;
mod redb_store;
mod redb_writer;
mod replayer;
mod replayer_task;
mod report;
mod store;

pub use builder::QueueBuilder;
#[cfg(feature = "metrics")]
pub(crate) use counters::REPLAY_OUTCOMES;
pub use error::DeferredError;
pub use item::{Enqueued, Item, ItemState, Millis, NewItem, Release, Stats, MAX_KEY_LEN};
#[cfg(feature = "postgres")]
pub use postgres_store::{PostgresStore, PostgresStoreBuilder};
pub use queue::Queue;
pub use redb_store::RedbStore;
pub(crate) use replayer::is_replaying;
pub use replayer::{DrainReport, Replayer, ReplayerBuilder};
pub use replayer_task::ReplayerTask;
pub use report::Fate;
pub use store::{Store, StoreFuture};
