//! The cascade, measured: what happens to a service A, and to the payments service it
//! depends on, when payments goes down (hangs, answers 500, gets slow) and comes back —
//! under no protection, a timeout only, three peers' breakers, and breakwater's stack.
//!
//! ```text
//! cargo run --release --example cascade               # the full run (~15 min), writes docs/cascade/
//! cargo run --release --example cascade -- --quick    # CI: a few seconds, asserts counts only
//! cargo run --release --example cascade -- --group 1 --out /tmp/cascade   # one scenario
//! ```
//!
//! The driver (this process) runs payments and the load; service A is this same binary
//! re-executed as `cascade serve-a …`, so its fds, memory and file limit are its own.

// The unit tests build this file without calling `main`.
#![cfg_attr(test, allow(dead_code))]

mod configs;
mod deferred;
mod load;
mod payments;
mod plot;
mod quick;
mod recovery;
mod report;
mod run;
mod scenario;
mod service_a;
mod stats;
mod targets;
#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use tower::BoxError;

use run::Outcome;
use scenario::{CallerMode, Scenario};

const USAGE: &str = "\
usage: cascade [--quick] [--group N]... [--out DIR]

  --quick     CI mode: a 5 s scenario, timeout-only and breakwater, asserts counts only
  --group N   run only scenario N (1-5; repeatable); default: all
  --out DIR   where results.md and the PNG plots go (default docs/cascade)";

/// A scenario and the configurations run under it.
pub struct Group {
    pub number: usize,
    pub title: &'static str,
    pub file: &'static str,
    pub scenario: Scenario,
    pub configs: Vec<&'static str>,
}

fn groups() -> Vec<Group> {
    let hang = Duration::from_secs(10);
    let main = configs::MAIN.to_vec();
    vec![
        Group {
            number: 1,
            title: "keep-alive callers, payments hangs 10 s",
            file: "keep-alive-hang-10s",
            scenario: Scenario::full(hang, CallerMode::KeepAlive, None),
            configs: main.clone(),
        },
        Group {
            number: 2,
            title: "keep-alive callers, payments hangs 20 s",
            file: "keep-alive-hang-20s",
            scenario: Scenario::full(hang * 2, CallerMode::KeepAlive, None),
            configs: main.clone(),
        },
        Group {
            number: 3,
            title: "the cascade variant: a new connection per request, A limited to 1,024 files",
            file: "new-connection-fd-1024",
            scenario: Scenario::full(hang, CallerMode::NewConnection, Some(1024)),
            configs: main.clone(),
        },
        Group {
            number: 4,
            title: "a new connection per request, A's default file limit",
            file: "new-connection",
            scenario: Scenario::full(hang, CallerMode::NewConnection, None),
            configs: main,
        },
        Group {
            number: 5,
            title: "recovery options of the breakwater stack (keep-alive, hang 10 s)",
            file: "recovery",
            scenario: Scenario::full(hang, CallerMode::KeepAlive, None),
            configs: recovery::VARIANTS.iter().map(|v| v.name).collect(),
        },
    ]
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    if args.first().map(String::as_str) == Some("serve-a") {
        let served = service_a::Args::parse(&args[1..])
            .map_err(BoxError::from)
            .and_then(|a| runtime.block_on(service_a::serve(a)));
        return match served {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("service A: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let mut quick_mode = false;
    let mut only = Vec::new();
    let mut out = PathBuf::from("docs/cascade");
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        match (flag.as_str(), rest.clone().next()) {
            ("--quick", _) => quick_mode = true,
            ("--group", Some(n)) if matches!(n.parse(), Ok(1..=5)) => {
                only.push(n.parse::<usize>().expect("checked"));
                rest.next();
            }
            ("--out", Some(dir)) => {
                out = PathBuf::from(dir);
                rest.next();
            }
            _ => {
                eprintln!("unexpected argument '{flag}'\n\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let result = if quick_mode {
        runtime.block_on(quick::run())
    } else {
        runtime.block_on(full(&only, &out))
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn full(only: &[usize], out: &std::path::Path) -> Result<(), BoxError> {
    plot::load_font()?;
    std::fs::create_dir_all(out)?;
    let mut results: Vec<(Group, Vec<Outcome>)> = Vec::new();
    for group in groups() {
        if !only.is_empty() && !only.contains(&group.number) {
            continue;
        }
        println!("== {}. {}", group.number, group.title);
        let mut outcomes = Vec::new();
        for config in &group.configs {
            let began = std::time::Instant::now();
            let outcome = run::run(config, &group.scenario).await?;
            println!(
                "   {config:<28} {:>5.1} s  {} requests",
                began.elapsed().as_secs_f64(),
                outcome.records.len()
            );
            outcomes.push(outcome);
        }
        let runs: Vec<&Outcome> = outcomes.iter().collect();
        let png = out.join(format!("{}.png", group.file));
        plot::plot(&png, group.title, &runs)?;
        results.push((group, outcomes));
    }
    let markdown = targets::results_markdown(&results);
    let path = out.join("results.md");
    std::fs::write(&path, &markdown)?;
    println!("\n{markdown}\nwritten: {}", path.display());
    Ok(())
}
