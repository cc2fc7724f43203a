//! One run: payments in this process, service A as a child process (under `prlimit` when
//! the scenario limits its files), the load, and A sampled from outside while it runs.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio::time::Instant;
use tower::BoxError;

use crate::load::{self, Record};
use crate::payments::Payments;
use crate::scenario::Scenario;

/// One sample of A, taken from outside (fds, RSS) or reported by A (checkouts in flight).
#[derive(Debug, Clone, Copy, Default)]
pub struct Sample {
    pub at: Duration,
    pub value: u64,
}

/// Everything a run produced.
pub struct Outcome {
    pub config: String,
    pub scenario: Scenario,
    pub records: Vec<Record>,
    pub in_flight: Vec<Sample>,
    /// Checkouts in flight that were not in a durable write of a deferral at that moment:
    /// the ones held by payments or waiting for it.
    pub held: Vec<Sample>,
    pub fds: Vec<Sample>,
    pub rss: Vec<Sample>,
    /// Breaker transitions: when (since the start) and into which state.
    pub transitions: Vec<(Duration, String)>,
    /// Calls that reached payments, by phase.
    pub reached: Vec<u64>,
    /// A's own tally, its `END` line.
    pub tally: Tally,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Tally {
    /// Checkout handlers entered.
    pub started: u64,
    pub charged: u64,
    pub deferred: u64,
    pub errors: u64,
    /// Rows in the deferred-payments table on disk.
    pub stored: u64,
    /// Deferred checkouts' time in A, summed.
    pub deferred_micros: u64,
}

impl Tally {
    /// Read A's `END …` line.
    pub fn parse_line(line: &str) -> Option<Tally> {
        let mut tally = Tally::default();
        for field in line.split_whitespace().skip(1) {
            let (key, value) = field.split_once('=')?;
            let value = value.parse().ok()?;
            match key {
                "started" => tally.started = value,
                "charged" => tally.charged = value,
                "deferred" => tally.deferred = value,
                "errors" => tally.errors = value,
                "stored" => tally.stored = value,
                "deferred_micros" => tally.deferred_micros = value,
                _ => {}
            }
        }
        Some(tally)
    }

    /// The mean time A took to answer a deferred checkout (refusal + durable write).
    pub fn mean_deferral(&self) -> Duration {
        Duration::from_micros(self.deferred_micros / self.deferred.max(1))
    }

    /// Checkouts A started but never answered (their caller gave up first).
    pub fn abandoned(&self) -> u64 {
        self.started
            .saturating_sub(self.charged + self.deferred + self.errors)
    }
}

#[derive(Default)]
struct Reported {
    in_flight: Vec<Sample>,
    held: Vec<Sample>,
    transitions: Vec<(Duration, String)>,
    tally: Option<Tally>,
}

pub async fn run(config: &str, scenario: &Scenario) -> Result<Outcome, BoxError> {
    let payments = Payments::bind().await?;
    let db = std::env::temp_dir().join(format!(
        "breakwater-cascade-{}-{config}.redb",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&db);
    let exe = std::env::current_exe()?;
    let a_args = [
        "serve-a".to_string(),
        config.to_string(),
        scenario.scale.to_string(),
        payments.addr.to_string(),
        db.display().to_string(),
    ];
    let mut command = match scenario.fd_limit {
        Some(limit) => {
            let mut c = Command::new("prlimit");
            c.arg(format!("--nofile={limit}:{limit}"))
                .arg("--")
                .arg(&exe);
            c
        }
        None => Command::new(&exe),
    };
    let mut child = command
        .args(&a_args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()?;
    let pid = child.id().ok_or("service A exited at once")?;
    let mut lines = BufReader::new(child.stdout.take().ok_or("no stdout")?).lines();
    let port: u16 = loop {
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .map_err(|_| "service A did not start within 30 s")??
            .ok_or("service A exited before listening")?;
        if let Some(port) = line.strip_prefix("LISTEN ") {
            break port.parse()?;
        }
    };
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));

    // Give A and the sampler a moment, then start the clock everyone shares.
    let start = Instant::now() + Duration::from_millis(200);
    let start_unix = SystemTime::now().duration_since(UNIX_EPOCH)? + Duration::from_millis(200);
    let reached = payments.serve(scenario, start);

    let reported = Arc::new(Mutex::new(Reported::default()));
    let reader = {
        let reported = reported.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                let mut r = reported.lock().expect("not poisoned");
                read_line(&line, start_unix, &mut r);
            }
        })
    };
    let samples: Arc<Mutex<Samples>> = Arc::default();
    let sampler = tokio::spawn(sample_proc(pid, start, samples.clone()));
    let records = load::run(scenario, addr, start).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    sampler.abort();
    let (fds, rss) = std::mem::take(&mut *samples.lock().expect("not poisoned"));

    drop(child.stdin.take()); // A prints its tally and exits
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait()).await??;
    let _ = reader.await;
    let _ = std::fs::remove_file(&db);
    if !status.success() {
        return Err(format!("service A ({config}) exited with {status}").into());
    }
    let reported = std::mem::take(&mut *reported.lock().expect("not poisoned"));
    Ok(Outcome {
        config: config.to_string(),
        scenario: scenario.clone(),
        records,
        in_flight: reported.in_flight,
        held: reported.held,
        fds,
        rss,
        transitions: reported.transitions,
        reached: reached.counts(),
        tally: reported.tally.ok_or("service A did not print its tally")?,
    })
}

fn read_line(line: &str, start_unix: Duration, r: &mut Reported) {
    let since_start = |micros: &str| {
        let at = Duration::from_micros(micros.parse().ok()?);
        Some(at.saturating_sub(start_unix))
    };
    let mut words = line.split_whitespace();
    match (words.next(), words.next(), words.next(), words.next()) {
        (Some("S"), Some(at), Some(n), Some(deferring)) => {
            let parsed = (since_start(at), n.parse::<u64>(), deferring.parse::<u64>());
            if let (Some(at), Ok(value), Ok(deferring)) = parsed {
                r.in_flight.push(Sample { at, value });
                let held = value.saturating_sub(deferring);
                r.held.push(Sample { at, value: held });
            }
        }
        (Some("T"), Some(at), Some(state), _) => {
            if let Some(at) = since_start(at) {
                r.transitions.push((at, state.to_string()));
            }
        }
        (Some("END"), ..) => r.tally = Tally::parse_line(line),
        _ => {}
    }
}

type Samples = (Vec<Sample>, Vec<Sample>);

/// A's open files and resident memory, every 50 ms, into `samples` until aborted.
async fn sample_proc(pid: u32, start: Instant, samples: Arc<Mutex<Samples>>) {
    const PAGE: u64 = 4096;
    let mut every = tokio::time::interval(Duration::from_millis(50));
    loop {
        every.tick().await;
        let at = Instant::now().saturating_duration_since(start);
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count() as u64);
        let rss = std::fs::read_to_string(format!("/proc/{pid}/statm"))
            .ok()
            .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok());
        if let (Ok(fds), Some(pages)) = (fds, rss) {
            let mut s = samples.lock().expect("not poisoned");
            s.0.push(Sample { at, value: fds });
            s.1.push(Sample {
                at,
                value: pages * PAGE,
            });
        }
    }
}
