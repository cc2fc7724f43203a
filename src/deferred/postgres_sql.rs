//! The PostgreSQL store's statements and its rows read back as items.

use tokio_postgres::Row;

use super::{DeferredError, Item, ItemState, Millis};

/// States as stored in the `state` column.
const READY: i16 = 0;
const LEASED: i16 = 1;
const DEAD: i16 = 2;

/// The statements, with the table's name written in once (identifiers cannot be bound).
/// `due_at` is the not-before time of a ready row and the lease's end for a leased one, so
/// "due" is one comparison for both.
pub(crate) struct Sql {
    pub(crate) table: String,
    pub(crate) migrate: Vec<String>,
    pub(crate) enqueue: String,
    pub(crate) claim: String,
    pub(crate) complete: String,
    pub(crate) retry: String,
    pub(crate) unsent: String,
    pub(crate) dead: String,
    pub(crate) dead_letters: String,
    pub(crate) requeue: String,
    pub(crate) find: String,
    pub(crate) stats: String,
}

const COLUMNS: &str = "id, key, payload, state, attempts, enqueued_at, due_at, last_error";

impl Sql {
    pub(crate) fn new(schema: Option<&str>, table: &str) -> Sql {
        let t = match schema {
            Some(schema) => format!("\"{schema}\".\"{table}\""),
            None => format!("\"{table}\""),
        };
        let mut migrate = Vec::new();
        // One migration at a time across the fleet: CREATE … IF NOT EXISTS races otherwise.
        migrate.push(format!("SELECT pg_advisory_xact_lock(hashtext('{t}'))"));
        if let Some(schema) = schema {
            migrate.push(format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\""));
        }
        migrate.push(format!(
            "CREATE TABLE IF NOT EXISTS {t} (
                id          bigserial PRIMARY KEY,
                key         text NOT NULL UNIQUE,
                payload     bytea NOT NULL,
                state       smallint NOT NULL DEFAULT 0 CHECK (state IN (0, 1, 2)),
                attempts    integer NOT NULL DEFAULT 0,
                enqueued_at bigint NOT NULL,
                due_at      bigint NOT NULL,
                last_error  text
            )"
        ));
        migrate.push(format!(
            "CREATE INDEX IF NOT EXISTS \"{table}_live\" ON {t} (id) WHERE state <> {DEAD}"
        ));
        Sql {
            migrate,
            enqueue: format!(
                "INSERT INTO {t} (key, payload, enqueued_at, due_at) VALUES ($1, $2, $3, $3)
                 ON CONFLICT (key) DO NOTHING"
            ),
            claim: format!(
                "WITH next AS (
                    SELECT id FROM {t}
                    WHERE state <> {DEAD} AND due_at <= $1
                    ORDER BY id
                    LIMIT $2
                    FOR UPDATE SKIP LOCKED
                 )
                 UPDATE {t} AS item SET state = {LEASED}, attempts = item.attempts + 1, due_at = $3
                 FROM next WHERE item.id = next.id
                 RETURNING item.id, item.key, item.payload, item.state, item.attempts,
                           item.enqueued_at, item.due_at, item.last_error"
            ),
            complete: format!("DELETE FROM {t} WHERE id = ANY($1)"),
            retry: format!(
                "UPDATE {t} SET state = {READY}, due_at = $3, last_error = $4
                 WHERE id = $1 AND attempts = $2 AND state = {LEASED}"
            ),
            unsent: format!(
                "UPDATE {t} SET state = {READY}, due_at = $3, attempts = attempts - 1
                 WHERE id = $1 AND attempts = $2 AND state = {LEASED}"
            ),
            dead: format!(
                "UPDATE {t} SET state = {DEAD}, last_error = $3
                 WHERE id = $1 AND attempts = $2 AND state = {LEASED}"
            ),
            dead_letters: format!(
                "SELECT {COLUMNS} FROM {t} WHERE state = {DEAD} AND id > $1 ORDER BY id LIMIT $2"
            ),
            requeue: format!(
                "UPDATE {t} SET state = {READY}, attempts = 0, due_at = $2
                 WHERE key = $1 AND state = {DEAD}"
            ),
            find: format!("SELECT {COLUMNS} FROM {t} WHERE key = $1"),
            stats: format!(
                "SELECT count(*) FILTER (WHERE state = {LEASED} AND due_at > $1),
                        count(*) FILTER (WHERE state <> {DEAD} AND NOT (state = {LEASED} AND due_at > $1)),
                        count(*) FILTER (WHERE state = {DEAD}),
                        min(enqueued_at) FILTER (WHERE state <> {DEAD})
                 FROM {t}"
            ),
            table: t,
        }
    }
}

/// Millisecond time stamps are stored as `bigint`; times past the year 292 million clamp.
pub(crate) fn db_time(t: Millis) -> i64 {
    i64::try_from(t).unwrap_or(i64::MAX)
}

pub(crate) fn item(row: &Row) -> Result<Item, DeferredError> {
    let get_err = |e: tokio_postgres::Error| DeferredError::corrupt(e.to_string());
    let id: i64 = row.try_get(0).map_err(get_err)?;
    let state: i16 = row.try_get(3).map_err(get_err)?;
    let attempts: i32 = row.try_get(4).map_err(get_err)?;
    let enqueued_at: i64 = row.try_get(5).map_err(get_err)?;
    let due_at: i64 = row.try_get(6).map_err(get_err)?;
    Ok(Item {
        id: id as u64,
        key: row.try_get(1).map_err(get_err)?,
        payload: row.try_get(2).map_err(get_err)?,
        state: match state {
            READY => ItemState::Ready,
            LEASED => ItemState::Leased,
            _ => ItemState::Dead,
        },
        attempts: attempts.max(0) as u32,
        enqueued_at: enqueued_at.max(0) as u64,
        due_at: due_at.max(0) as u64,
        last_error: row.try_get(7).map_err(get_err)?,
    })
}
