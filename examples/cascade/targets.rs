//! The targets for the breakwater stack, checked against a full run, and the
//! results file that shows them beside every table.

use std::fmt::Write;
use std::time::Duration;

use crate::configs::{MAX_CONCURRENT, OPEN_FOR, TIMEOUT};
use crate::recovery::Recovery;
use crate::report::{self, ms};
use crate::run::Outcome;
use crate::stats::Summary;
use crate::Group;

/// One target: what it asks, what was measured, whether it is met.
struct Check {
    what: String,
    measured: String,
    met: bool,
}

fn check(what: impl Into<String>, measured: String, met: bool) -> Check {
    Check {
        what: what.into(),
        measured,
        met,
    }
}

/// The breakwater checks of one scenario.
fn breakwater_checks(group: &Group, run: &Outcome, s: &Summary) -> Vec<Check> {
    let mut checks = Vec::new();
    let outage: Vec<_> = s
        .phases
        .iter()
        .filter(|(label, _)| label != "healthy" && label != "recovered")
        .collect();
    let shares: Vec<String> = outage
        .iter()
        .map(|(l, f)| format!("{l} {:.1} %", f.reached_share() * 100.0))
        .collect();
    checks.push(check(
        "≤ 5 % of checkouts reach payments, in every outage phase",
        shares.join(", "),
        outage.iter().all(|(_, f)| f.reached_share() <= 0.05),
    ));
    let p50s: Vec<String> = outage
        .iter()
        .map(|(l, f)| format!("{l} {}", ms(f.checkout_p50)))
        .collect();
    checks.push(check(
        "checkout p50 ≤ 2 ms, in every outage phase",
        format!(
            "{} (a deferred checkout spends {} in A on average, most of it the durable write)",
            p50s.join(", "),
            ms(run.tally.mean_deferral())
        ),
        outage
            .iter()
            .all(|(_, f)| f.checkout_p50 <= Duration::from_millis(2)),
    ));
    let peak_in_flight = s.phases.iter().map(|(_, f)| f.peak_in_flight).max();
    let peak_held = s.phases.iter().map(|(_, f)| f.peak_held).max();
    let bound = MAX_CONCURRENT as u64 + 1;
    checks.push(check(
        format!("checkouts in flight ≤ max_concurrent + 1 = {bound}"),
        format!(
            "peak {}; not counting those in a deferral's durable write: {}",
            peak_in_flight.unwrap_or(0),
            peak_held.unwrap_or(0)
        ),
        peak_in_flight.unwrap_or(0) <= bound,
    ));
    let baseline = s.healthy().peak_fds;
    let peak_fds = s.phases.iter().map(|(_, f)| f.peak_fds).max().unwrap_or(0);
    let fd_bound = 2 * MAX_CONCURRENT as u64 + baseline;
    checks.push(check(
        format!("fds ≤ 2 × max_concurrent + healthy baseline ({baseline}) = {fd_bound}"),
        format!("peak {peak_fds}"),
        peak_fds <= fd_bound,
    ));
    let t = run.tally;
    let failed: u64 = s.phases.iter().map(|(_, f)| f.failed).sum();
    checks.push(check(
        "nothing lost: every checkout charged or durably deferred",
        format!(
            "callers saw {failed} failed; A: {} charged, {} deferred ({} rows on disk), {} errors, {} abandoned",
            t.charged,
            t.deferred,
            t.stored,
            t.errors,
            t.abandoned()
        ),
        failed == 0 && t.errors == 0 && t.abandoned() == 0 && t.stored >= t.deferred,
    ));
    let bound = group.scenario.scaled(OPEN_FOR + TIMEOUT) + Duration::from_millis(500);
    let closed = s.closed_after;
    checks.push(check(
        format!(
            "breaker closed ≤ open_for + timeout + 0.5 s = {} after heal",
            ms(bound)
        ),
        closed.map_or("never".into(), ms),
        closed.is_some_and(|c| c <= bound),
    ));
    let share = s.recovered().not_charged_share();
    checks.push(check(
        "the recovered phase's checkouts charged at once (here: ≤ 1 % not charged)",
        format!("{:.1} % not charged", share * 100.0),
        share <= 0.01,
    ));
    checks
}

fn render(out: &mut String, title: &str, checks: &[Check]) {
    let _ = writeln!(
        out,
        "\n**{title}**\n\n| target | measured | met |\n|---|---|---|"
    );
    for c in checks {
        let met = if c.met { "yes" } else { "**no**" };
        let _ = writeln!(out, "| {} | {} | {met} |", c.what, c.measured);
    }
}

fn find<'a>(
    runs: &'a [(&'a Outcome, Summary)],
    config: &str,
) -> Option<&'a (&'a Outcome, Summary)> {
    runs.iter().find(|(o, _)| o.config == config)
}

/// results.md: every table, the plots, and the targets.
pub fn results_markdown(results: &[(Group, Vec<Outcome>)]) -> String {
    let mut out = String::from(
        "# The cascade, measured: results\n\n\
         Written by `cargo run --release --example cascade` (see the README's \"The cascade, \
         measured\"), on a shared 2-core VM: the driver (load and payments), service A and \
         other projects' builds share the two cores, so latencies carry that noise (compare \
         configurations within one table; the healthy phase gives each run's baseline). Load: 1,000 requests/s to service A (every 5th a `/checkout`), open \
         loop, latency from each request's due time, callers give up after 10 s. Payments: \
         healthy 3 s → hanging → answering 500 for 3 s → slow (2 s) for 3 s → healthy 6 s. \
         The \"outage\" columns cover the hanging, 500 and slow phases together, by due time; \
         \"reached payments\" counts calls that arrived at payments in those phases. \
         \"not charged\" = deferred or failed. Peaks are over the whole run.\n",
    );
    let mut bw_rss: Vec<(String, u64)> = Vec::new();
    for (group, outcomes) in results {
        let runs: Vec<(&Outcome, Summary)> = outcomes.iter().map(|o| (o, Summary::of(o))).collect();
        let summaries: Vec<Summary> = outcomes.iter().map(Summary::of).collect();
        let _ = writeln!(
            out,
            "\n## {}. {}\n\n![{}]({}.png)\n",
            group.number, group.title, group.title, group.file
        );
        if group.number == 5 {
            let rows: Vec<(Recovery, Summary)> = outcomes
                .iter()
                .filter_map(|o| Some((Recovery::named(&o.config)?, Summary::of(o))))
                .collect();
            out.push_str(&report::recovery_table(&rows));
        } else {
            out.push_str(&report::main_table(&summaries));
        }
        if let Some((run, s)) = find(&runs, "breakwater") {
            if group.number <= 2 {
                render(
                    &mut out,
                    "Targets for the breakwater stack",
                    &breakwater_checks(group, run, s),
                );
                let peak = s.phases.iter().map(|(_, f)| f.peak_rss).max().unwrap_or(0);
                bw_rss.push((group.title.to_string(), peak));
            }
            if group.number == 3 {
                let mut checks = Vec::new();
                for (run, s) in &runs {
                    if run.config != "breakwater" && run.config != "unprotected" {
                        continue;
                    }
                    let healthy = s.healthy().browse_p99;
                    let worst = s.phases.iter().map(|(_, f)| f.browse_p99).max();
                    let all: u64 = s.phases.iter().map(|(_, f)| f.browse).sum();
                    let ok: u64 = s.phases.iter().map(|(_, f)| f.browse_ok).sum();
                    let success = ok as f64 / all.max(1) as f64;
                    let worst = worst.unwrap_or_default();
                    checks.push(check(
                        format!(
                            "{}: /browse ≥ 99.9 % success, p99 ≤ 2 × healthy in every phase",
                            run.config
                        ),
                        format!(
                            "{:.2} % success; worst phase p99 {} vs healthy {}",
                            success * 100.0,
                            ms(worst),
                            ms(healthy)
                        ),
                        success >= 0.999 && worst <= healthy * 2,
                    ));
                }
                render(&mut out, "The cascade variant's target", &checks);
            }
        }
    }
    if let [(short, a), (long, b)] = &bw_rss[..] {
        let growth = *b as f64 / (*a).max(1) as f64 - 1.0;
        render(
            &mut out,
            "RSS flat whatever the outage's length (breakwater)",
            &[check(
                "the longer outage's peak RSS within 10 % of the shorter one's",
                format!(
                    "{short}: {:.1} MB; {long}: {:.1} MB ({:+.1} %)",
                    *a as f64 / 1e6,
                    *b as f64 / 1e6,
                    growth * 100.0
                ),
                growth.abs() <= 0.10,
            )],
        );
    }
    out.push_str("\n## Every phase of every run\n");
    for (group, outcomes) in results {
        let _ = writeln!(out, "\n### {}. {}\n", group.number, group.title);
        for o in outcomes {
            let s = Summary::of(o);
            out.push_str(&report::phase_table(&s));
            let transitions: Vec<String> = o
                .transitions
                .iter()
                .map(|(at, state)| format!("{:.2} s {state}", at.as_secs_f64()))
                .collect();
            if !transitions.is_empty() {
                let _ = writeln!(out, "\nbreaker: {}\n", transitions.join(" → "));
            } else {
                out.push('\n');
            }
        }
    }
    out
}
