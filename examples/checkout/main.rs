//! Checkout: an order service keeps taking orders while its payment service falls over,
//! and no payment is lost.
//!
//! Everything runs in this process on 127.0.0.1: a payment service over real HTTP whose
//! health follows a script (healthy → 500s → hanging → healthy), and an order service whose
//! hyper client is wrapped in breakwater's stack (fallback, retry with a budget, circuit
//! breaker, timeout). When payments cannot be made, orders are accepted as "pending payment"
//! and the payments wait in breakwater's durable queue (`tower_breakwater::deferred`: a
//! redb file by default, PostgreSQL with `--store`); when the breaker closes again a
//! `Replayer` drains the queue through the same client.
//!
//! It prints a timeline of phases and breaker transitions, then a tally, and exits non-zero
//! if a payment was lost.
//!
//! ```text
//! cargo run --example checkout
//! cargo run --example checkout -- --orders 1000 --script healthy=1s,errors=3s,healthy=4s
//! cargo run --example checkout -- --store postgres://postgres@127.0.0.1:5432/test
//! ```

mod demo;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use tower_breakwater::circuit_breaker::State;

use demo::script::{Health, Script};
use demo::{Config, Observer, OrderOutcome, StoreChoice, Tally};

const USAGE: &str = "\
usage: checkout [--orders N] [--script PHASES] [--db PATH | --store URL] [--port PORT]

  --orders N       orders to take, spread evenly over the script (default 400)
  --script PHASES  the payment service's health, e.g. the default
                   healthy=2s,errors=2.5s,hanging=2.5s,healthy=3s
                   (healthy | errors: 500 at once | hanging: never answers; end healthy)
  --db PATH        the durable queue's redb file (default: a fresh file in the temp
                   dir, removed at the end if empty)
  --store URL      keep the queue in PostgreSQL instead (postgres://user@host:port/db),
                   in a schema of this run's own, dropped at the end if empty
  --port PORT      serve /metrics on 127.0.0.1:PORT while it runs (default: a free port)";

#[tokio::main]
async fn main() -> ExitCode {
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let db = args.db.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("breakwater-checkout-{}.redb", std::process::id()))
    });
    let store = match &args.store {
        Some(url) => StoreChoice::Postgres {
            url: url.clone(),
            schema: format!("breakwater_checkout_{}", std::process::id()),
        },
        None => StoreChoice::Redb(db.clone()),
    };
    println!(
        "checkout: {} orders over {:.1}s; payment service: {}",
        args.orders,
        args.script.total().as_secs_f64(),
        args.script
    );
    println!("durable queue: {store}");

    let bar = ProgressBar::new(args.orders);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} orders  {msg}")
            .expect("a valid template"),
    );
    let progress = Arc::new(Progress { bar: bar.clone() });
    let config = Config {
        orders: args.orders,
        script: args.script,
        store: store.clone(),
        drain_deadline: Duration::from_secs(10),
        metrics_port: args.port,
    };
    let tally = match demo::run(config, progress).await {
        Ok(tally) => tally,
        Err(e) => {
            bar.abandon();
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    bar.finish_and_clear();
    print_tally(&tally);
    if tally.still_queued == 0 {
        match &store {
            StoreChoice::Redb(path) if args.db.is_none() => {
                let _ = std::fs::remove_file(path);
            }
            StoreChoice::Postgres { url, schema } => drop_schema(url, schema).await,
            StoreChoice::Redb(_) => {}
        }
    }
    if tally.balanced() {
        ExitCode::SUCCESS
    } else {
        eprintln!("error: payments are unaccounted for (see the tally)");
        ExitCode::FAILURE
    }
}

struct Progress {
    bar: ProgressBar,
}

impl Progress {
    fn line(&self, at: Duration, text: String) {
        let line = format!("  [{:6.3}s] {text}", at.as_secs_f64());
        // A hidden bar (output is not a terminal) prints nothing, not even println.
        if self.bar.is_hidden() {
            println!("{line}");
        } else {
            self.bar.println(line);
        }
    }
}

impl Observer for Progress {
    fn serving_metrics(&self, addr: std::net::SocketAddr) {
        self.line(
            Duration::ZERO,
            format!("metrics at http://{addr}/metrics (while it runs)"),
        );
    }

    fn phase(&self, at: Duration, health: Health) {
        self.line(at, format!("payment service is now {health}"));
        self.bar.set_message(format!("payments {health}"));
    }

    fn transition(&self, at: Duration, from: State, to: State) {
        self.line(at, format!("breaker 'payments': {from} -> {to}"));
    }

    fn order(&self, _outcome: OrderOutcome) {
        self.bar.inc(1);
    }

    fn drained(&self, at: Duration, charged: u64, still_queued: u64) {
        self.line(
            at,
            format!("the replayer charged {charged} queued payments ({still_queued} left)"),
        );
    }
}

fn print_tally(t: &Tally) {
    println!();
    println!("orders taken                 {}", t.orders);
    println!("  accepted                   {}", t.accepted);
    println!("  turned away                {}", t.refused);
    println!("charged at once              {}", t.charged_at_once);
    println!("deferred: breaker open       {}", t.deferred_breaker_open);
    println!("deferred: call failed        {}", t.deferred_after_failure);
    println!("charged later (from queue)   {}", t.charged_later);
    println!("still queued                 {}", t.still_queued);
    println!("lost                         {}", t.lost);
    println!("charged twice                {}", t.charged_twice);
    println!();
    println!(
        "payment service: {} requests, {} charges, {} duplicates absorbed by the idempotency key",
        t.server_requests, t.ledger, t.duplicates
    );
    println!(
        "breaker: {} transitions, {} calls rejected without touching the network",
        t.transitions.len(),
        t.breaker_rejections
    );
    println!("wall time: {:.1}s", t.wall_time.as_secs_f64());
    println!();
    println!("last scrape of /metrics (the breaker's and the queue's series):");
    for line in &t.breaker_metrics {
        println!("  {line}");
    }
}

struct Args {
    orders: u64,
    script: Script,
    db: Option<PathBuf>,
    store: Option<String>,
    port: u16,
}

impl Args {
    fn parse(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
        let mut parsed = Args {
            orders: 400,
            script: Script::classic(),
            db: None,
            store: None,
            port: 0,
        };
        while let Some(flag) = args.next() {
            let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
            match flag.as_str() {
                "--orders" => {
                    parsed.orders = value()?
                        .parse()
                        .ok()
                        .filter(|n| (1..=1_000_000).contains(n))
                        .ok_or("--orders must be a number from 1 to 1000000")?;
                }
                "--script" => parsed.script = Script::parse(&value()?)?,
                "--db" => parsed.db = Some(PathBuf::from(value()?)),
                "--store" => {
                    let url = value()?;
                    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                        return Err("--store takes a postgres://… URL".to_string());
                    }
                    parsed.store = Some(url);
                }
                "--port" => {
                    parsed.port = value()?
                        .parse()
                        .map_err(|_| "--port must be a number from 0 to 65535")?;
                }
                "-h" | "--help" => return Err("checkout: the breakwater demo".to_string()),
                other => return Err(format!("unknown argument '{other}'")),
            }
        }
        if parsed.db.is_some() && parsed.store.is_some() {
            return Err("--db and --store: choose one".to_string());
        }
        Ok(parsed)
    }
}

/// Drop this run's schema (its queue is empty).
async fn drop_schema(url: &str, schema: &str) {
    let Ok((client, connection)) = tokio_postgres::connect(url, tokio_postgres::NoTls).await else {
        return;
    };
    tokio::spawn(connection);
    let _ = client
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .await;
}
