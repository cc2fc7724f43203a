//! The redb store's writer thread: every write goes through it, and the writes waiting
//! when it is free share one transaction and one fsync (a group commit). Each caller is
//! answered only after the commit that holds its write, so an acknowledged enqueue is on
//! disk; concurrent callers just share the cost of getting there.

use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::Arc;

use redb::{Database, ReadableTable, TableDefinition, WriteTransaction};
use tokio::sync::oneshot;

use super::redb_record::{decode, encode, header};
use super::{DeferredError, Enqueued, Item, ItemState, Millis, NewItem, Release};

/// Live items (ready or leased), by id: claims scan this in id order.
pub(crate) const ITEMS: TableDefinition<'_, u64, &[u8]> =
    TableDefinition::new("breakwater_deferred_items");
/// Dead-lettered items, by id, kept apart so claims never scan them.
pub(crate) const DEAD: TableDefinition<'_, u64, &[u8]> =
    TableDefinition::new("breakwater_deferred_dead");
/// Idempotency key → id, for every item held (live or dead).
pub(crate) const KEYS: TableDefinition<'_, &str, u64> =
    TableDefinition::new("breakwater_deferred_keys");
/// `schema` (its version) and `next_id`.
pub(crate) const META: TableDefinition<'_, &str, u64> =
    TableDefinition::new("breakwater_deferred_meta");

pub(crate) const SCHEMA_VERSION: u64 = 1;

/// Writes waiting beyond this many go into the next transaction.
const MAX_BATCH: usize = 1_024;

pub(crate) enum Op {
    Migrate,
    Enqueue {
        item: NewItem,
        now: Millis,
    },
    Claim {
        max: usize,
        now: Millis,
        lease_until: Millis,
    },
    Complete {
        ids: Vec<u64>,
    },
    Release {
        id: u64,
        attempt: u32,
        release: Release,
    },
    Requeue {
        key: String,
        now: Millis,
    },
}

pub(crate) enum Done {
    Migrated,
    Enqueued(Enqueued),
    Claimed(Vec<Item>),
    Completed,
    Released(bool),
}

pub(crate) struct Request {
    pub(crate) op: Op,
    pub(crate) reply: oneshot::Sender<Result<Done, DeferredError>>,
}

pub(crate) fn store_error(e: impl std::fmt::Display) -> DeferredError {
    DeferredError::store("redb", e)
}

/// Runs until every sender is dropped.
pub(crate) fn run(db: Arc<Database>, requests: Receiver<Request>) {
    let mut migrated = is_migrated(&db);
    while let Ok(first) = requests.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match requests.try_recv() {
                Ok(request) => batch.push(request),
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        if !commit_together(&db, &mut migrated, &mut batch) {
            // One write failed inside the shared transaction, which was rolled back: give
            // each its own, so one bad write cannot fail the others.
            for request in batch {
                commit_together(&db, &mut migrated, &mut vec![request]);
            }
        }
    }
}

fn is_migrated(db: &Database) -> bool {
    db.begin_read()
        .ok()
        .and_then(|tx| tx.open_table(META).ok())
        .and_then(|meta| meta.get("schema").ok().flatten().map(|v| v.value()))
        .is_some_and(|version| version >= SCHEMA_VERSION)
}

/// Apply `batch` in one transaction and answer every request. Returns false (answering
/// nobody, leaving `batch` as it was, the transaction rolled back) if a write failed and the
/// batch had more than one.
fn commit_together(db: &Database, migrated: &mut bool, batch: &mut Vec<Request>) -> bool {
    let answer_all = |batch: &mut Vec<Request>, error: DeferredError| {
        for request in batch.drain(..) {
            let _ = request.reply.send(Err(error.clone()));
        }
    };
    let tx = match db.begin_write() {
        Ok(tx) => tx,
        Err(e) => {
            answer_all(batch, store_error(e));
            return true;
        }
    };
    let mut now_migrated = *migrated;
    let mut results = Vec::with_capacity(batch.len());
    for request in batch.iter() {
        let result = match (&request.op, now_migrated) {
            (Op::Migrate, _) => migrate(&tx).map(|()| {
                now_migrated = true;
                Done::Migrated
            }),
            (_, false) => Err(DeferredError::NotMigrated { store: "redb" }),
            (op, true) => apply(&tx, op),
        };
        match result {
            Err(DeferredError::NotMigrated { store }) => {
                results.push(Err(DeferredError::NotMigrated { store }))
            }
            // A failed write may have changed part of what it touched: roll it back (drop
            // `tx`) rather than commit half of it.
            Err(e) if batch.len() == 1 => {
                drop(tx);
                answer_all(batch, e);
                return true;
            }
            Err(_) => return false,
            Ok(done) => results.push(Ok(done)),
        }
    }
    if let Err(e) = tx.commit() {
        answer_all(batch, store_error(e));
        return true;
    }
    *migrated = now_migrated;
    for (request, result) in batch.drain(..).zip(results) {
        let _ = request.reply.send(result);
    }
    true
}

fn migrate(tx: &WriteTransaction) -> Result<(), DeferredError> {
    tx.open_table(ITEMS).map_err(store_error)?;
    tx.open_table(DEAD).map_err(store_error)?;
    tx.open_table(KEYS).map_err(store_error)?;
    let mut meta = tx.open_table(META).map_err(store_error)?;
    meta.insert("schema", SCHEMA_VERSION).map_err(store_error)?;
    Ok(())
}

fn apply(tx: &WriteTransaction, op: &Op) -> Result<Done, DeferredError> {
    match op {
        Op::Migrate => unreachable!("handled by the caller"),
        Op::Enqueue { item, now } => enqueue(tx, item, *now).map(Done::Enqueued),
        Op::Claim {
            max,
            now,
            lease_until,
        } => claim(tx, *max, *now, *lease_until).map(Done::Claimed),
        Op::Complete { ids } => complete(tx, ids).map(|()| Done::Completed),
        Op::Release {
            id,
            attempt,
            release,
        } => release_one(tx, *id, *attempt, release).map(Done::Released),
        Op::Requeue { key, now } => requeue(tx, key, *now).map(Done::Released),
    }
}

fn enqueue(tx: &WriteTransaction, new: &NewItem, now: Millis) -> Result<Enqueued, DeferredError> {
    let mut keys = tx.open_table(KEYS).map_err(store_error)?;
    if keys.get(new.key.as_str()).map_err(store_error)?.is_some() {
        return Ok(Enqueued::Duplicate);
    }
    let mut meta = tx.open_table(META).map_err(store_error)?;
    let id = meta
        .get("next_id")
        .map_err(store_error)?
        .map_or(1, |v| v.value());
    meta.insert("next_id", id + 1).map_err(store_error)?;
    keys.insert(new.key.as_str(), id).map_err(store_error)?;
    let item = Item {
        id,
        key: new.key.clone(),
        payload: new.payload.clone(),
        state: ItemState::Ready,
        attempts: 0,
        enqueued_at: now,
        due_at: now,
        last_error: None,
    };
    let mut items = tx.open_table(ITEMS).map_err(store_error)?;
    items
        .insert(id, encode(&item).as_slice())
        .map_err(store_error)?;
    Ok(Enqueued::Added)
}

fn claim(
    tx: &WriteTransaction,
    max: usize,
    now: Millis,
    lease_until: Millis,
) -> Result<Vec<Item>, DeferredError> {
    let mut items = tx.open_table(ITEMS).map_err(store_error)?;
    let mut due = Vec::new();
    for entry in items.iter().map_err(store_error)? {
        if due.len() >= max {
            break;
        }
        let (id, bytes) = entry.map_err(store_error)?;
        if header(bytes.value())?.due_at <= now {
            due.push(decode(id.value(), bytes.value())?);
        }
    }
    for item in &mut due {
        item.state = ItemState::Leased;
        item.attempts = item.attempts.saturating_add(1);
        item.due_at = lease_until;
        items
            .insert(item.id, encode(item).as_slice())
            .map_err(store_error)?;
    }
    Ok(due)
}

fn complete(tx: &WriteTransaction, ids: &[u64]) -> Result<(), DeferredError> {
    let mut items = tx.open_table(ITEMS).map_err(store_error)?;
    let mut keys = tx.open_table(KEYS).map_err(store_error)?;
    for &id in ids {
        let removed = items.remove(id).map_err(store_error)?;
        if let Some(bytes) = removed {
            let item = decode(id, bytes.value())?;
            keys.remove(item.key.as_str()).map_err(store_error)?;
        }
    }
    Ok(())
}

fn release_one(
    tx: &WriteTransaction,
    id: u64,
    attempt: u32,
    release: &Release,
) -> Result<bool, DeferredError> {
    let mut items = tx.open_table(ITEMS).map_err(store_error)?;
    let current = match items.get(id).map_err(store_error)? {
        Some(bytes) => decode(id, bytes.value())?,
        None => return Ok(false),
    };
    let mut item = current;
    if item.state != ItemState::Leased || item.attempts != attempt {
        return Ok(false);
    }
    match release {
        Release::Retry { at, error } => {
            item.state = ItemState::Ready;
            item.due_at = *at;
            item.last_error = Some(error.clone());
        }
        Release::Unsent { at } => {
            item.state = ItemState::Ready;
            item.due_at = *at;
            item.attempts = item.attempts.saturating_sub(1);
        }
        Release::Dead { error } => {
            item.state = ItemState::Dead;
            item.last_error = Some(error.clone());
            items.remove(id).map_err(store_error)?;
            let mut dead = tx.open_table(DEAD).map_err(store_error)?;
            dead.insert(id, encode(&item).as_slice())
                .map_err(store_error)?;
            return Ok(true);
        }
    }
    items
        .insert(id, encode(&item).as_slice())
        .map_err(store_error)?;
    Ok(true)
}

fn requeue(tx: &WriteTransaction, key: &str, now: Millis) -> Result<bool, DeferredError> {
    let keys = tx.open_table(KEYS).map_err(store_error)?;
    let Some(id) = keys.get(key).map_err(store_error)?.map(|v| v.value()) else {
        return Ok(false);
    };
    let mut dead = tx.open_table(DEAD).map_err(store_error)?;
    let removed = dead.remove(id).map_err(store_error)?;
    let Some(bytes) = removed else {
        return Ok(false);
    };
    let mut item = decode(id, bytes.value())?;
    drop(bytes);
    item.state = ItemState::Ready;
    item.attempts = 0;
    item.due_at = now;
    let mut items = tx.open_table(ITEMS).map_err(store_error)?;
    items
        .insert(id, encode(&item).as_slice())
        .map_err(store_error)?;
    Ok(true)
}
