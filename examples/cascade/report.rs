//! The markdown tables.

use std::fmt::Write;
use std::time::Duration;

use crate::recovery::Recovery;
use crate::stats::{Figures, Summary};

pub fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1e3;
    if ms >= 1000.0 {
        format!("{:.2} s", ms / 1e3)
    } else if ms >= 10.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{ms:.1} ms")
    }
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

fn pct(share: f64) -> String {
    if share > 0.0 && share < 0.001 {
        format!("{:.2} %", share * 100.0)
    } else {
        format!("{:.1} %", share * 100.0)
    }
}

/// When the breaker closed after payments healed; "> 6.00 s" if not before the run ended.
fn closed(s: &Summary) -> String {
    match (s.closed_after, s.has_breaker) {
        (_, false) => "–".into(),
        (Some(d), true) => ms(d),
        (None, true) => format!("> {}", ms(s.recovered_for)),
    }
}

fn opened(s: &Summary) -> String {
    match (s.opened_after, s.has_breaker) {
        (_, false) => "–".into(),
        (Some(d), true) => ms(d),
        (None, true) => "never".into(),
    }
}

/// One line per configuration: the outage's figures, resources, and recovery.
pub fn main_table(summaries: &[Summary]) -> String {
    let mut out = String::from(
        "| configuration | /browse p99 · p99.9 · ok (outage) | checkouts charged · deferred · failed (outage) | checkout p50 · p99 (outage) | reached payments (outage) | peak in-flight · fds · RSS | breaker open after | closed after heal | recovered phase: not charged |\n\
         |---|---|---|---|---|---|---|---|---|\n",
    );
    for s in summaries {
        let o = &s.outage;
        let run_peak =
            |f: fn(&Figures) -> u64| s.phases.iter().map(|(_, p)| f(p)).max().unwrap_or(0);
        let _ = writeln!(
            out,
            "| {} | {} · {} · {} | {} · {} · {} | {} · {} | {} of {} ({}) | {} · {} · {} | {} | {} | {} |",
            s.config,
            ms(o.browse_p99),
            ms(o.browse_p999),
            pct(o.browse_success()),
            o.charged,
            o.deferred,
            o.failed,
            ms(o.checkout_p50),
            ms(o.checkout_p99),
            o.reached,
            o.checkouts,
            pct(o.reached_share()),
            run_peak(|p| p.peak_in_flight),
            run_peak(|p| p.peak_fds),
            mb(run_peak(|p| p.peak_rss)),
            opened(s),
            closed(s),
            pct(s.recovered().not_charged_share()),
        );
    }
    out
}

/// Every phase of one run.
pub fn phase_table(summary: &Summary) -> String {
    let mut out = format!(
        "**{}**\n\n| phase | /browse p50 · p99 · p99.9 | /browse ok | checkouts | charged · deferred · failed | checkout p50 · p99 | reached payments | peak in-flight | peak fds | peak RSS |\n\
         |---|---|---|---|---|---|---|---|---|---|\n",
        summary.config
    );
    for (label, f) in &summary.phases {
        let _ = writeln!(
            out,
            "| {label} | {} · {} · {} | {} | {} | {} · {} · {} | {} · {} | {} | {} | {} | {} |",
            ms(f.browse_p50),
            ms(f.browse_p99),
            ms(f.browse_p999),
            pct(f.browse_success()),
            f.checkouts,
            f.charged,
            f.deferred,
            f.failed,
            ms(f.checkout_p50),
            ms(f.checkout_p99),
            f.reached,
            f.peak_in_flight,
            f.peak_fds,
            mb(f.peak_rss),
        );
    }
    out
}

/// The recovery options, side by side.
pub fn recovery_table(rows: &[(Recovery, Summary)]) -> String {
    let mut out = String::from(
        "| variant | settings | closed after heal | recovered phase: deferred | reached payments (outage) | hanging · 500 · slow phase reached | checkout p50 (outage) |\n\
         |---|---|---|---|---|---|---|\n",
    );
    for (variant, s) in rows {
        let o = &s.outage;
        let by_phase: Vec<String> = s
            .phases
            .iter()
            .filter(|(label, _)| label != "healthy" && label != "recovered")
            .map(|(_, f)| f.reached.to_string())
            .collect();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} of {} ({}) | {} | {} |",
            variant.name,
            variant.describe(),
            closed(s),
            pct(s.recovered().not_charged_share()),
            o.reached,
            o.checkouts,
            pct(o.reached_share()),
            by_phase.join(" · "),
            ms(o.checkout_p50),
        );
    }
    out
}
