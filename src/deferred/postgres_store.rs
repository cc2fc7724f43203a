//! [`PostgresStore`]: one queue in a PostgreSQL table, shared by a fleet (feature `postgres`).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use tokio_postgres::error::SqlState;
use tokio_postgres::NoTls;

use super::postgres_sql::{db_time, item, Sql};
use super::{DeferredError, Enqueued, Item, Millis, NewItem, Release, Stats, Store, StoreFuture};
use crate::ConfigError;

/// The PostgreSQL store: a table that every instance of a fleet enqueues into and drains.
///
/// - Enqueue is one `INSERT … ON CONFLICT (key) DO NOTHING`, committed on its own with
///   `synchronous_commit = on` (set on every connection, whatever the server's default), so
///   it is in the server's WAL on disk when it returns.
/// - Claim is one statement: the oldest due rows are picked with `FOR UPDATE SKIP LOCKED`
///   and leased in the same `UPDATE`, so concurrent drainers never wait for each other and
///   never take the same row.
/// - [`migrate`](Store::migrate) creates the schema (if one is set), the table and its index
///   under a transaction-scoped advisory lock, so a fleet starting at once is fine.
///
/// No TLS: connect over a trusted network or a local socket.
///
/// ```no_run
/// use tower_breakwater::deferred::{PostgresStore, Queue};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let store = PostgresStore::builder("postgres://postgres@127.0.0.1:5432/shop")
///     .table("deferred_payments")
///     .pool_size(8)
///     .connect()
///     .await
///     .expect("the database answers");
/// let queue = Queue::builder("payments", store).build().unwrap();
/// queue.migrate().await.unwrap();
/// # }
/// ```
#[derive(Clone)]
pub struct PostgresStore {
    pool: Pool,
    sql: Arc<Sql>,
}

/// Settings of a [`PostgresStore`].
///
/// ```
/// use tower_breakwater::deferred::PostgresStore;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let err = PostgresStore::builder("postgres://127.0.0.1/db").table("bad name").connect().await;
/// assert!(err.is_err());
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct PostgresStoreBuilder {
    url: String,
    schema: Option<String>,
    table: String,
    pool_size: usize,
    connect_timeout: Duration,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("table", &self.sql.table)
            .finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Settings for a store at `url` (`postgres://user@host:port/database`, or the
    /// `key=value` form), table `breakwater_deferred` in the default schema, a pool of 8
    /// connections, 5 s to connect.
    ///
    /// ```
    /// # use tower_breakwater::deferred::PostgresStore;
    /// let builder = PostgresStore::builder("postgres://postgres@127.0.0.1:5432/test").schema("shop");
    /// # let _ = builder;
    /// ```
    pub fn builder(url: impl Into<String>) -> PostgresStoreBuilder {
        PostgresStoreBuilder {
            url: url.into(),
            schema: None,
            table: "breakwater_deferred".into(),
            pool_size: 8,
            connect_timeout: Duration::from_secs(5),
        }
    }

    async fn client(&self) -> Result<Object, DeferredError> {
        self.pool.get().await.map_err(pg_error)
    }
}

impl PostgresStoreBuilder {
    /// Keep the table in this schema (created by `migrate` if missing). A lower-case SQL
    /// identifier: `[a-z_][a-z0-9_]*`, at most 63 bytes.
    ///
    /// ```
    /// # use tower_breakwater::deferred::PostgresStore;
    /// let builder = PostgresStore::builder("postgres://127.0.0.1/db").schema("orders");
    /// # let _ = builder;
    /// ```
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = Some(schema.into());
        self
    }

    /// The table's name (default `breakwater_deferred`); one table is one queue. A lower-case
    /// SQL identifier: `[a-z_][a-z0-9_]*`, at most 63 bytes.
    ///
    /// ```
    /// # use tower_breakwater::deferred::PostgresStore;
    /// let builder = PostgresStore::builder("postgres://127.0.0.1/db").table("deferred_payments");
    /// # let _ = builder;
    /// ```
    pub fn table(mut self, table: impl Into<String>) -> Self {
        self.table = table.into();
        self
    }

    /// Connections in the pool (default 8; 1 to 256). Concurrent enqueues use one each,
    /// and share the server's WAL flushes.
    ///
    /// ```
    /// # use tower_breakwater::deferred::PostgresStore;
    /// let builder = PostgresStore::builder("postgres://127.0.0.1/db").pool_size(16);
    /// # let _ = builder;
    /// ```
    pub fn pool_size(mut self, size: usize) -> Self {
        self.pool_size = size;
        self
    }

    /// How long to wait for a connection to open, and for a free one from the pool
    /// (default 5 s; 10 ms to 10 min).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tower_breakwater::deferred::PostgresStore;
    /// let builder = PostgresStore::builder("postgres://127.0.0.1/db").connect_timeout(Duration::from_secs(1));
    /// # let _ = builder;
    /// ```
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Check the settings, open one connection (so a wrong URL or a server that is down is
    /// an error now, not at the first enqueue) and make the store.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tower_breakwater::deferred::{DeferredError, PostgresStore};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let err = PostgresStore::builder("postgres://127.0.0.1/db").pool_size(0).connect().await.unwrap_err();
    /// assert!(matches!(err, DeferredError::Config(ref e) if e.field() == "pool_size"));
    /// # }
    /// ```
    pub async fn connect(self) -> Result<PostgresStore, DeferredError> {
        let name = self.table.as_str();
        if let Some(schema) = &self.schema {
            check_identifier(name, "schema", schema)?;
        }
        check_identifier(name, "table", &self.table)?;
        if !(1..=256).contains(&self.pool_size) {
            return Err(DeferredError::Config(ConfigError::new(
                name,
                "pool_size",
                self.pool_size,
                "1 to 256 connections",
            )));
        }
        if self.connect_timeout < Duration::from_millis(10)
            || self.connect_timeout > Duration::from_secs(600)
        {
            return Err(DeferredError::Config(ConfigError::new(
                name,
                "connect_timeout",
                self.connect_timeout,
                "10ms to 10 minutes",
            )));
        }
        let mut config: tokio_postgres::Config = self.url.parse().map_err(pg_error)?;
        // Durable commits whatever the server's default: an acknowledged enqueue is on disk.
        let options = match config.get_options() {
            Some(given) => format!("{given} -c synchronous_commit=on"),
            None => "-c synchronous_commit=on".to_owned(),
        };
        config.options(&options);
        config.connect_timeout(self.connect_timeout);
        if config.get_application_name().is_none() {
            config.application_name("breakwater-deferred");
        }
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(self.pool_size)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(self.connect_timeout))
            .create_timeout(Some(self.connect_timeout))
            .build()
            .map_err(pg_error)?;
        let store = PostgresStore {
            pool,
            sql: Arc::new(Sql::new(self.schema.as_deref(), &self.table)),
        };
        drop(store.client().await?);
        Ok(store)
    }
}

fn check_identifier(name: &str, field: &'static str, value: &str) -> Result<(), DeferredError> {
    let mut chars = value.chars();
    let ok = value.len() <= 63
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    match ok {
        true => Ok(()),
        false => Err(DeferredError::Config(ConfigError::new(
            name,
            field,
            value,
            "a lower-case SQL identifier ([a-z_][a-z0-9_]*, at most 63 bytes)",
        ))),
    }
}

fn pg_error(e: impl fmt::Display) -> DeferredError {
    DeferredError::store("postgres", e)
}

/// A query error: a missing table means `migrate` was never run.
fn query_error(e: tokio_postgres::Error) -> DeferredError {
    match e.code() {
        Some(code) if *code == SqlState::UNDEFINED_TABLE => {
            DeferredError::NotMigrated { store: "postgres" }
        }
        _ => pg_error(e),
    }
}

impl Store for PostgresStore {
    fn kind(&self) -> &'static str {
        "postgres"
    }

    fn migrate(&self) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(pg_error)?;
            for statement in &self.sql.migrate {
                tx.execute(statement.as_str(), &[])
                    .await
                    .map_err(pg_error)?;
            }
            tx.commit().await.map_err(pg_error)
        })
    }

    fn enqueue(&self, new: NewItem, now: Millis) -> StoreFuture<'_, Enqueued> {
        Box::pin(async move {
            let client = self.client().await?;
            let statement = client
                .prepare_cached(&self.sql.enqueue)
                .await
                .map_err(query_error)?;
            // ON CONFLICT rather than catching the unique violation: a duplicate must not
            // write an ERROR line to the server's log.
            let inserted = client
                .execute(&statement, &[&new.key, &new.payload, &db_time(now)])
                .await
                .map_err(query_error)?;
            Ok(match inserted {
                1 => Enqueued::Added,
                _ => Enqueued::Duplicate,
            })
        })
    }

    fn claim(&self, max: usize, now: Millis, lease_until: Millis) -> StoreFuture<'_, Vec<Item>> {
        Box::pin(async move {
            let client = self.client().await?;
            let statement = client
                .prepare_cached(&self.sql.claim)
                .await
                .map_err(query_error)?;
            let limit = i64::try_from(max).unwrap_or(i64::MAX);
            let rows = client
                .query(&statement, &[&db_time(now), &limit, &db_time(lease_until)])
                .await
                .map_err(query_error)?;
            let mut items = rows.iter().map(item).collect::<Result<Vec<_>, _>>()?;
            // RETURNING keeps no order.
            items.sort_unstable_by_key(|item| item.id);
            Ok(items)
        })
    }

    fn complete(&self, ids: Vec<u64>) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let client = self.client().await?;
            let statement = client
                .prepare_cached(&self.sql.complete)
                .await
                .map_err(query_error)?;
            let ids: Vec<i64> = ids
                .into_iter()
                .filter_map(|id| i64::try_from(id).ok())
                .collect();
            client
                .execute(&statement, &[&ids])
                .await
                .map_err(query_error)?;
            Ok(())
        })
    }

    fn release(&self, id: u64, attempt: u32, release: Release) -> StoreFuture<'_, bool> {
        Box::pin(async move {
            let client = self.client().await?;
            let (Ok(id), Ok(attempt)) = (i64::try_from(id), i32::try_from(attempt)) else {
                return Ok(false);
            };
            let changed = match release {
                Release::Retry { at, error } => {
                    let statement = client
                        .prepare_cached(&self.sql.retry)
                        .await
                        .map_err(query_error)?;
                    client
                        .execute(&statement, &[&id, &attempt, &db_time(at), &error])
                        .await
                }
                Release::Unsent { at } => {
                    let statement = client
                        .prepare_cached(&self.sql.unsent)
                        .await
                        .map_err(query_error)?;
                    client
                        .execute(&statement, &[&id, &attempt, &db_time(at)])
                        .await
                }
                Release::Dead { error } => {
                    let statement = client
                        .prepare_cached(&self.sql.dead)
                        .await
                        .map_err(query_error)?;
                    client.execute(&statement, &[&id, &attempt, &error]).await
                }
            };
            Ok(changed.map_err(query_error)? == 1)
        })
    }

    fn dead_letters(&self, after: u64, limit: usize) -> StoreFuture<'_, Vec<Item>> {
        Box::pin(async move {
            let client = self.client().await?;
            let statement = client
                .prepare_cached(&self.sql.dead_letters)
                .await
                .map_err(query_error)?;
            let after = i64::try_from(after).unwrap_or(i64::MAX);
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let rows = client
                .query(&statement, &[&after, &limit])
                .await
                .map_err(query_error)?;
            rows.iter().map(item).collect()
        })
    }

    fn requeue(&self, key: &str, now: Millis) -> StoreFuture<'_, bool> {
        let key = key.to_owned();
        Box::pin(async move {
            let client = self.client().await?;
            let statement = client
                .prepare_cached(&self.sql.requeue)
                .await
                .map_err(query_error)?;
            let changed = client
                .execute(&statement, &[&key, &db_time(now)])
                .await
                .map_err(query_error)?;
            Ok(changed == 1)
        })
    }

    fn find(&self, key: &str) -> StoreFuture<'_, Option<Item>> {
        let key = key.to_owned();
        Box::pin(async move {
            let client = self.client().await?;
            let statement = client
                .prepare_cached(&self.sql.find)
                .await
                .map_err(query_error)?;
            let row = client
                .query_opt(&statement, &[&key])
                .await
                .map_err(query_error)?;
            row.as_ref().map(item).transpose()
        })
    }

    fn stats(&self, now: Millis) -> StoreFuture<'_, Stats> {
        Box::pin(async move {
            let client = self.client().await?;
            let statement = client
                .prepare_cached(&self.sql.stats)
                .await
                .map_err(query_error)?;
            let row = client
                .query_one(&statement, &[&db_time(now)])
                .await
                .map_err(query_error)?;
            let get_err = |e: tokio_postgres::Error| DeferredError::corrupt(e.to_string());
            let count = |i: usize| -> Result<u64, DeferredError> {
                Ok(row.try_get::<_, i64>(i).map_err(get_err)?.max(0) as u64)
            };
            let oldest: Option<i64> = row.try_get(3).map_err(get_err)?;
            Ok(Stats {
                leased: count(0)?,
                ready: count(1)?,
                dead: count(2)?,
                oldest_enqueued_at: oldest.map(|t| t.max(0) as u64),
            })
        })
    }
}
