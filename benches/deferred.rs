//! What the deferred queue costs over the storage it sits on.
//!
//! - Enqueue latency, one caller at a time (p50 and p99 of 300, and the median of the
//!   pairwise differences, each enqueue measured right after a bare operation): `Queue::enqueue` on
//!   `RedbStore` beside redb's bare write transaction (one insert of the same row, commit),
//!   and on `PostgresStore` beside a bare `INSERT` of the same row committed on its own (one
//!   connection, `synchronous_commit = on` as the store sets it).
//! - Enqueue throughput with 64 callers at once (items/s): the redb store's group commit
//!   against back-to-back bare transactions; Postgres over a pool of 16 against 16 bare
//!   connections.
//! - Drain throughput (items/s): a `Replayer` (concurrency 32) delivering 2,000 items to a
//!   service that answers at once, beside a bare batch "take 32 and delete them" loop.
//!
//! The issue's target: enqueue within 10 % of the bare operation. The Postgres rows need a
//! server (`BREAKWATER_TEST_POSTGRES`, default `postgres://postgres@127.0.0.1:5432/test`);
//! without one they are skipped.
//!
//! ```text
//! cargo bench --bench deferred --features postgres
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use redb::{Database, ReadableTable, TableDefinition};
use tokio_postgres::NoTls;
use tower::service_fn;
use tower_breakwater::deferred::{PostgresStore, Queue, RedbStore, Replayer, Store};
use tower_breakwater::Error;

const SEQUENTIAL: usize = 300;
const CONCURRENT: usize = 2_000;
const DRAIN: usize = 2_000;
const PAYLOAD: usize = 64;

const BARE: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("bare");

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = std::env::temp_dir().join(format!("bw-bench-deferred-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    println!(
        "deferred queue bench ({} sequential enqueues, {CONCURRENT} concurrent, {DRAIN} drained)",
        SEQUENTIAL
    );
    println!("{:<44} {:>10} {:>10} {:>12}", "", "p50", "p99", "items/s");
    runtime.block_on(redb_rows(&dir));
    let url = std::env::var("BREAKWATER_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    runtime.block_on(postgres_rows(&url));
    let _ = std::fs::remove_dir_all(&dir);
}

fn payload() -> Vec<u8> {
    vec![7; PAYLOAD]
}

fn row(name: &str, times: &mut [Duration]) {
    times.sort_unstable();
    let p50 = times[times.len() / 2];
    let p99 = times[times.len() * 99 / 100];
    let total: Duration = times.iter().sum();
    let per_second = times.len() as f64 / total.as_secs_f64();
    println!(
        "{name:<44} {:>8.3}ms {:>8.3}ms {per_second:>12.0}",
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3
    );
}

fn rate(name: &str, items: usize, took: Duration) -> f64 {
    let per_second = items as f64 / took.as_secs_f64();
    println!("{name:<44} {:>10} {:>10} {per_second:>12.0}", "", "");
    per_second
}

/// The median over pairs (measured back to back) of `ours - bare`, against bare's median:
/// steadier on a loaded machine than comparing two medians taken apart.
fn overhead(what: &str, ours: &[Duration], bare: &[Duration]) {
    let mut differences: Vec<f64> = ours
        .iter()
        .zip(bare)
        .map(|(o, b)| o.as_secs_f64() - b.as_secs_f64())
        .collect();
    differences.sort_by(f64::total_cmp);
    let mut bare_sorted: Vec<f64> = bare.iter().map(Duration::as_secs_f64).collect();
    bare_sorted.sort_by(f64::total_cmp);
    let median_difference = differences[differences.len() / 2];
    let bare_p50 = bare_sorted[bare_sorted.len() / 2];
    println!(
        "  -> {what}: median of pairwise differences {:+.3}ms, {:+.1} % of bare's p50",
        median_difference * 1e3,
        median_difference / bare_p50 * 100.0
    );
}

async fn queue_on(store: impl Store) -> Queue {
    let queue = Queue::builder("bench", store).build().unwrap();
    queue.migrate().await.unwrap();
    queue
}

async fn redb_rows(dir: &Path) {
    // Interleaved, one bare transaction then one enqueue, so both see the same machine load.
    let bare_db = Database::create(dir.join("bare.redb")).unwrap();
    let queue = queue_on(RedbStore::open(dir.join("ours.redb")).unwrap()).await;
    let (mut bare, mut ours) = (Vec::new(), Vec::new());
    for i in 0..SEQUENTIAL {
        let start = Instant::now();
        tokio::task::block_in_place(|| bare_redb_write(&bare_db, i as u64));
        bare.push(start.elapsed());
        let start = Instant::now();
        queue
            .enqueue(format!("order-{i:06}"), payload())
            .await
            .unwrap();
        ours.push(start.elapsed());
    }
    overhead("redb enqueue", &ours, &bare);
    row("redb: bare write transaction", &mut bare);
    row("redb: Queue::enqueue", &mut ours);

    let path = dir.join("bare-many.redb");
    let took = tokio::task::spawn_blocking(move || {
        let db = Database::create(path).unwrap();
        let start = Instant::now();
        for i in 0..CONCURRENT as u64 {
            let tx = db.begin_write().unwrap();
            tx.open_table(BARE)
                .unwrap()
                .insert(i, payload().as_slice())
                .unwrap();
            tx.commit().unwrap();
        }
        start.elapsed()
    })
    .await
    .unwrap();
    rate("redb: bare transactions back to back", CONCURRENT, took);
    let queue = queue_on(RedbStore::open(dir.join("ours-many.redb")).unwrap()).await;
    let took = concurrent_enqueues(&queue, 64).await;
    rate("redb: Queue::enqueue, 64 callers", CONCURRENT, took);

    let took = tokio::task::spawn_blocking({
        let path = dir.join("bare-many.redb");
        move || bare_redb_drain(&path)
    })
    .await
    .unwrap();
    rate("redb: bare take-32-and-delete", CONCURRENT, took);
    let queue = queue_on(RedbStore::open(dir.join("drain.redb")).unwrap()).await;
    concurrent_enqueues(&queue, 64).await;
    let took = drain(&queue).await;
    rate("redb: Replayer::drain, 32 at a time", DRAIN, took);
}

/// One insert of a row of the same size, committed with redb's default (fsync) durability.
fn bare_redb_write(db: &Database, id: u64) {
    let tx = db.begin_write().unwrap();
    tx.open_table(BARE)
        .unwrap()
        .insert(id, payload().as_slice())
        .unwrap();
    tx.commit().unwrap();
}

fn bare_redb_drain(path: &PathBuf) -> Duration {
    let db = Database::create(path).unwrap();
    let start = Instant::now();
    loop {
        let tx = db.begin_write().unwrap();
        let taken = {
            let mut table = tx.open_table(BARE).unwrap();
            let ids: Vec<u64> = table
                .iter()
                .unwrap()
                .take(32)
                .map(|entry| entry.unwrap().0.value())
                .collect();
            for id in &ids {
                table.remove(id).unwrap();
            }
            ids.len()
        };
        tx.commit().unwrap();
        if taken == 0 {
            return start.elapsed();
        }
    }
}

async fn concurrent_enqueues(queue: &Queue, callers: usize) -> Duration {
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for caller in 0..callers {
        let queue = queue.clone();
        tasks.spawn(async move {
            for i in (caller..CONCURRENT).step_by(callers) {
                queue
                    .enqueue(format!("many-{i:06}"), payload())
                    .await
                    .unwrap();
            }
        });
    }
    tasks.join_all().await;
    start.elapsed()
}

async fn drain(queue: &Queue) -> Duration {
    let service = service_fn(|_: Vec<u8>| async { Ok::<_, Error<std::io::Error, Vec<u8>>>(()) });
    let replayer = Replayer::builder(queue, service, |item| Ok::<_, String>(item.payload.clone()))
        .concurrency(32)
        .build()
        .unwrap();
    let start = Instant::now();
    let report = replayer.drain().await.unwrap();
    assert_eq!(report.delivered, DRAIN as u64);
    start.elapsed()
}

async fn postgres_rows(url: &str) {
    let schema = format!("bw_bench_{}", std::process::id());
    let admin = match connect(url).await {
        Ok(client) => client,
        Err(e) => {
            println!("postgres rows skipped: nothing answers at {url} ({e})");
            return;
        }
    };
    admin
        .batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema};
             CREATE TABLE {schema}.bare (id bigserial PRIMARY KEY, key text NOT NULL UNIQUE,
                 payload bytea NOT NULL, state smallint NOT NULL DEFAULT 0,
                 attempts integer NOT NULL DEFAULT 0, enqueued_at bigint NOT NULL,
                 due_at bigint NOT NULL, last_error text);
             SET synchronous_commit = on;"
        ))
        .await
        .unwrap();
    let store = PostgresStore::builder(url)
        .schema(&schema)
        .pool_size(16)
        .connect()
        .await
        .unwrap();
    let queue = queue_on(store).await;
    // The bare INSERT goes into the store's own table (same row, same indexes), committed on
    // its own; interleaved with the enqueues so both see the same machine load.
    admin
        .batch_execute("SET synchronous_commit = on")
        .await
        .unwrap();
    let insert = admin
        .prepare(&format!(
            "INSERT INTO {schema}.breakwater_deferred (key, payload, enqueued_at, due_at) VALUES ($1, $2, $3, $3)"
        ))
        .await
        .unwrap();
    let (mut bare, mut ours) = (Vec::new(), Vec::new());
    for i in 0..SEQUENTIAL {
        let key = format!("bare-{i:06}");
        let start = Instant::now();
        admin
            .execute(&insert, &[&key, &payload(), &(i as i64)])
            .await
            .unwrap();
        bare.push(start.elapsed());
        let start = Instant::now();
        queue
            .enqueue(format!("order-{i:06}"), payload())
            .await
            .unwrap();
        ours.push(start.elapsed());
    }
    overhead("postgres enqueue", &ours, &bare);
    row("postgres: bare INSERT + COMMIT", &mut bare);
    row("postgres: Queue::enqueue", &mut ours);

    // 16 bare connections, 2,000 inserts among them.
    let mut clients = Vec::new();
    for _ in 0..16 {
        let client = connect(url).await.unwrap();
        client
            .batch_execute("SET synchronous_commit = on")
            .await
            .unwrap();
        clients.push(Arc::new(client));
    }
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (n, client) in clients.iter().enumerate() {
        let (client, schema) = (client.clone(), schema.clone());
        tasks.spawn(async move {
            let insert = client
                .prepare(&format!(
                    "INSERT INTO {schema}.bare (key, payload, enqueued_at, due_at) VALUES ($1, $2, $3, $3)"
                ))
                .await
                .unwrap();
            for i in (n..CONCURRENT).step_by(16) {
                let key = format!("many-{i:06}");
                client.execute(&insert, &[&key, &payload(), &(i as i64)]).await.unwrap();
            }
        });
    }
    tasks.join_all().await;
    rate(
        "postgres: bare INSERTs, 16 connections",
        CONCURRENT,
        start.elapsed(),
    );
    let took = concurrent_enqueues(&queue, 64).await;
    rate(
        "postgres: Queue::enqueue, 64 callers, pool 16",
        CONCURRENT,
        took,
    );

    let take = admin
        .prepare(&format!(
            "DELETE FROM {schema}.bare WHERE id IN (SELECT id FROM {schema}.bare ORDER BY id
             LIMIT 32 FOR UPDATE SKIP LOCKED) RETURNING id, payload"
        ))
        .await
        .unwrap();
    let start = Instant::now();
    let mut taken = 0;
    loop {
        let rows = admin.query(&take, &[]).await.unwrap();
        if rows.is_empty() {
            break;
        }
        taken += rows.len();
    }
    rate("postgres: bare take-32-and-delete", taken, start.elapsed());
    let drain_schema = format!("{schema}_drain");
    let store = PostgresStore::builder(url)
        .schema(&drain_schema)
        .pool_size(16)
        .connect()
        .await
        .unwrap();
    let queue = queue_on(store).await;
    concurrent_enqueues(&queue, 64).await;
    let took = drain(&queue).await;
    rate("postgres: Replayer::drain, 32 at a time", DRAIN, took);
    admin
        .batch_execute(&format!(
            "DROP SCHEMA {schema} CASCADE; DROP SCHEMA {drain_schema} CASCADE"
        ))
        .await
        .unwrap();
}

async fn connect(url: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}
