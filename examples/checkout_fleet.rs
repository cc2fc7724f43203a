//! Checkout as a fleet: three order-service instances, each its own process, share one
//! PostgreSQL queue of deferred payments. The payment service fails for a while; during the
//! outage one instance is killed (SIGKILL). The payments it had deferred are on the shared
//! queue, so the other two charge them when the payment service is back.
//!
//! It ends with a tally and exits non-zero unless nothing was lost and nothing was charged
//! twice. Needs a PostgreSQL server (the default is the development machine's):
//!
//! ```text
//! cargo run --example checkout_fleet --features postgres
//! cargo run --example checkout_fleet --features postgres -- --store postgres://postgres@127.0.0.1:5432/test --orders 600
//! ```

// The single-process demo's parts (the payment service, its script, the client stack).
#[allow(dead_code)]
#[path = "checkout/demo/mod.rs"]
mod demo;

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tower::{BoxError, ServiceExt};
use tower_breakwater::deferred::{PostgresStore, Queue, Replayer};

use demo::client::{self, DEFERRED};
use demo::payment_server::PaymentServer;
use demo::script::Script;
use demo::Payment;

const INSTANCES: u64 = 3;
const USAGE: &str = "usage: checkout_fleet [--store postgres://…] [--orders N]";

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("--instance") => instance(&args[1..]).await,
        _ => coordinate(&args).await,
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

/// The parent: the payment service and its script, three instances, one killed, the tally.
async fn coordinate(args: &[String]) -> Result<ExitCode, BoxError> {
    let url = flag(args, "--store").unwrap_or_else(|| {
        std::env::var("BREAKWATER_TEST_POSTGRES")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
    });
    let orders: u64 = match flag(args, "--orders").map(|n| n.parse()) {
        None => 300,
        Some(Ok(n)) if (INSTANCES..=100_000).contains(&n) => n,
        Some(_) => return Err(format!("--orders: 3 to 100000\n{USAGE}").into()),
    };
    let script = Script::parse("healthy=1s,errors=2.5s,healthy=2.5s")?;
    let schema = format!("breakwater_fleet_{}", std::process::id());
    let queue = open_queue(&url, &schema).await?;
    queue.migrate().await?;
    let (server, addr) = PaymentServer::start().await?;
    println!(
        "checkout fleet: {INSTANCES} order-service processes, {orders} orders over {:.1}s; payment service: {script}",
        script.total().as_secs_f64()
    );
    println!("shared queue: {url}, table {schema}.breakwater_deferred");

    let accepted = Arc::new(Mutex::new(HashSet::new()));
    let refused = Arc::new(Mutex::new(0u64));
    let pace = script.total().div_f64(orders as f64);
    let mut instances: Vec<Child> = Vec::new();
    let mut readers = Vec::new();
    for i in 0..INSTANCES {
        let mut child = Command::new(std::env::current_exe()?)
            .args([
                "--instance",
                &i.to_string(),
                "--orders",
                &orders.to_string(),
            ])
            .args(["--pace-us", &pace.as_micros().to_string()])
            .args([
                "--payments",
                &addr.to_string(),
                "--store",
                &url,
                "--schema",
                &schema,
            ])
            .stdout(Stdio::piped())
            .spawn()?;
        let stdout = child.stdout.take().expect("piped");
        let (accepted, refused) = (accepted.clone(), refused.clone());
        readers.push(std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let mut words = line.split_whitespace();
                match (
                    words.next(),
                    words.next().and_then(|o| o.parse::<u64>().ok()),
                ) {
                    (Some("accepted"), Some(order)) => {
                        accepted.lock().unwrap().insert(order);
                    }
                    (Some("refused"), Some(_)) => *refused.lock().unwrap() += 1,
                    _ => {}
                }
            }
        }));
        instances.push(child);
    }

    // The script, and the kill one second into the outage.
    let mut at = Duration::ZERO;
    let started = tokio::time::Instant::now();
    let mut killed = false;
    for (health, length) in script.phases.clone() {
        tokio::time::sleep_until(started + at).await;
        server.set_health(health);
        println!(
            "  [{:5.2}s] payment service is now {health}",
            at.as_secs_f64()
        );
        if health != demo::script::Health::Healthy && !killed {
            tokio::time::sleep(Duration::from_secs(1)).await;
            instances[0].kill()?; // SIGKILL
            killed = true;
            println!(
                "  [{:5.2}s] order-service instance 0 killed (SIGKILL) during the outage",
                started.elapsed().as_secs_f64()
            );
        }
        at += length;
    }
    let survivors: Vec<_> = instances
        .into_iter()
        .map(|mut child| std::thread::spawn(move || child.wait()))
        .collect();
    let statuses: Vec<_> = tokio::task::spawn_blocking(move || {
        survivors
            .into_iter()
            .map(|t| t.join().expect("joined"))
            .collect::<Vec<_>>()
    })
    .await?;
    for reader in readers {
        let _ = reader.join();
    }
    println!(
        "  [{:5.2}s] the two survivors drained the shared queue and stopped",
        started.elapsed().as_secs_f64()
    );

    let accepted = accepted.lock().unwrap().clone();
    let mut lost = 0;
    for &order in &accepted {
        if !server.is_charged(order) && queue.find(&order.to_string()).await?.is_none() {
            lost += 1;
        }
    }
    let stats = queue.stats().await?;
    let still_queued = stats.ready + stats.leased + stats.dead;
    // A payment sent again (by a survivor, for the killed instance's leases) carries the
    // same idempotency key: the payment service answers "already charged".
    let charged_twice = server.charged_twice();
    let not_taken = orders - accepted.len() as u64 - *refused.lock().unwrap();
    println!();
    println!("orders accepted (all instances) {}", accepted.len());
    println!(
        "orders turned away              {}",
        refused.lock().unwrap()
    );
    println!("orders not taken (node down)    {not_taken}");
    println!("charged                         {}", server.charged());
    println!("still queued                    {still_queued}");
    println!("lost                            {lost}");
    println!("charged twice                   {charged_twice}");
    println!(
        "payment service: {} requests, {} repeats absorbed by the idempotency key",
        server.requests(),
        server.duplicates()
    );
    let survivors_ok = statuses[1..]
        .iter()
        .all(|s| s.as_ref().is_ok_and(|s| s.success()));
    if still_queued == 0 {
        drop_schema(&url, &schema).await;
    }
    if lost == 0
        && still_queued == 0
        && survivors_ok
        && accepted.len() as u64 == server.charged() as u64
    {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("error: payments unaccounted for, or an instance failed: {statuses:?}");
        Ok(ExitCode::FAILURE)
    }
}

async fn open_queue(url: &str, schema: &str) -> Result<Queue, BoxError> {
    let store = PostgresStore::builder(url)
        .schema(schema)
        .pool_size(4)
        .connect()
        .await?;
    // A short visibility timeout: a killed instance's leased payments come back quickly.
    Ok(Queue::builder("payments", store)
        .visibility_timeout(Duration::from_secs(2))
        .backoff(Duration::from_millis(200), Duration::from_secs(2))
        .build()?)
}

/// One order-service instance: take every third order, then drain until the queue is empty.
async fn instance(args: &[String]) -> Result<ExitCode, BoxError> {
    let need = |name: &str| flag(args, name).ok_or_else(|| format!("{name} missing"));
    let me: u64 = args.first().ok_or("instance number")?.parse()?;
    let orders: u64 = need("--orders")?.parse()?;
    let pace = Duration::from_micros(need("--pace-us")?.parse()?);
    let addr: SocketAddr = need("--payments")?.parse()?;
    let queue = open_queue(&need("--store")?, &need("--schema")?).await?;

    let breaker = client::breaker()?;
    let registry = prometheus::Registry::new();
    let client = client::payment_client(addr, &breaker, &queue, &registry)?;
    let replayer = Replayer::builder(&queue, client.clone(), client::decode)
        .breaker(&breaker)
        .interval(Duration::from_millis(250))
        .concurrency(8)
        .delivered_if(|r: &client::PaymentResponse| {
            r.status().is_success() && !r.headers().contains_key(DEFERRED)
        })
        .build()?
        .spawn();

    let mut ticks = tokio::time::interval(pace * INSTANCES as u32);
    let mut taken = Vec::new();
    for order in (me..orders).step_by(INSTANCES as usize) {
        ticks.tick().await;
        let payment = Payment {
            order,
            cents: 1_000 + order % 9_000,
        };
        let client = client.clone();
        let queue = queue.clone();
        taken.push(tokio::spawn(async move {
            let line = match client.oneshot(payment).await {
                Ok(r) if r.status().is_success() => format!("accepted {order}"),
                // A 5xx after the retries: defer it ourselves.
                Ok(_) => match queue.enqueue_item(client::encode(&payment)).await {
                    Ok(_) => format!("accepted {order}"),
                    Err(_) => format!("refused {order}"),
                },
                Err(_) => format!("refused {order}"),
            };
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }));
    }
    for order in taken {
        order.await?;
    }
    // Stay until the shared queue is empty (the payments of a dead instance included).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let stats = queue.stats().await?;
        if stats.ready + stats.leased == 0 || tokio::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    replayer.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

async fn drop_schema(url: &str, schema: &str) {
    let Ok((client, connection)) = tokio_postgres::connect(url, tokio_postgres::NoTls).await else {
        return;
    };
    tokio::spawn(connection);
    let _ = client
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .await;
}
