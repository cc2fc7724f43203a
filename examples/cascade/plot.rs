//! The PNG plots: A's checkouts in flight, its open files and `/browse` p99 over time, one
//! line per configuration, the outage's phases shaded. Text is drawn with DejaVu Sans, read
//! at run time (Debian's fonts-dejavu-core); only the full run draws plots.

use std::path::Path;
use std::time::Duration;

use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};
use tower::BoxError;

use crate::load::Route;
use crate::run::{Outcome, Sample};
use crate::scenario::Health;
use crate::stats::percentile;

const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
const COLORS: [RGBColor; 8] = [
    RGBColor(214, 39, 40),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(31, 119, 180),
    RGBColor(44, 160, 44),
    RGBColor(23, 190, 207),
];

/// Make text drawable: plotters' `ab_glyph` backend has no font until one is registered.
pub fn load_font() -> Result<(), BoxError> {
    let bytes = std::fs::read(FONT)
        .map_err(|e| format!("{FONT}: {e} (install Debian's fonts-dejavu-core)"))?;
    register_font(
        "sans-serif",
        FontStyle::Normal,
        Box::leak(bytes.into_boxed_slice()),
    )
    .map_err(|_| format!("{FONT} is not a font plotters can read"))?;
    Ok(())
}

/// Draw the three panels for `runs` (all of one scenario) into `path`.
pub fn plot(path: &Path, title: &str, runs: &[&Outcome]) -> Result<(), BoxError> {
    let Some(first) = runs.first() else {
        return Ok(());
    };
    let end = first.scenario.total().as_secs_f64() + 0.5;
    let root = BitMapBackend::new(path, (1200, 1300)).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, rest) = root.split_vertically(50);
    top.titled(title, ("sans-serif", 24))?;
    let panels = rest.split_evenly((3, 1));
    let series = |run: &Outcome, panel: usize| -> Vec<(f64, f64)> {
        match panel {
            0 => points(&run.in_flight, 1.0),
            1 => points(&run.fds, 1.0),
            _ => browse_p99(run),
        }
    };
    let labels = [
        "checkouts in flight in A (log)",
        "A's open files (log)",
        "/browse p99 per 0.5 s, ms (log)",
    ];
    for (panel, area) in panels.iter().enumerate() {
        let top_value = runs
            .iter()
            .flat_map(|run| series(run, panel))
            .map(|(_, y)| y)
            .fold(10.0_f64, f64::max)
            * 1.5;
        let floor = if panel == 2 { 0.1 } else { 1.0 };
        let mut chart = ChartBuilder::on(area)
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(70)
            .caption(labels[panel], ("sans-serif", 20))
            .build_cartesian_2d(0.0..end, (floor..top_value).log_scale())?;
        chart
            .configure_mesh()
            .x_desc("seconds since the start")
            .y_labels(8)
            .max_light_lines(1)
            .light_line_style(RGBColor(238, 238, 238))
            .label_style(("sans-serif", 14))
            .draw()?;
        for (i, phase) in first.scenario.phases.iter().enumerate() {
            let shade = match phase.health {
                Health::Healthy => continue,
                Health::Hanging => RGBColor(255, 205, 205),
                Health::Errors => RGBColor(255, 230, 190),
                Health::Slow => RGBColor(255, 250, 200),
            };
            let (x0, x1) = (phase.start.as_secs_f64(), phase.end.as_secs_f64());
            chart.draw_series([Rectangle::new(
                [(x0, floor), (x1, top_value)],
                shade.mix(0.6).filled(),
            )])?;
            chart.draw_series([Text::new(
                phase.label(i),
                (x0 + 0.2, top_value / 1.4),
                ("sans-serif", 14),
            )])?;
        }
        for (i, run) in runs.iter().enumerate() {
            let color = COLORS[i % COLORS.len()];
            let line: Vec<(f64, f64)> = series(run, panel)
                .into_iter()
                .map(|(x, y)| (x, y.max(floor)))
                .collect();
            chart
                .draw_series(LineSeries::new(line, color.stroke_width(2)))?
                .label(run.config.as_str())
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 20, y)], color.stroke_width(3))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 14))
            .draw()?;
    }
    root.present()?;
    Ok(())
}

fn points(samples: &[Sample], unit: f64) -> Vec<(f64, f64)> {
    samples
        .iter()
        .map(|s| (s.at.as_secs_f64(), s.value as f64 / unit))
        .collect()
}

/// `/browse` p99 of each half second of due times, in milliseconds.
fn browse_p99(run: &Outcome) -> Vec<(f64, f64)> {
    let bin = Duration::from_millis(500);
    let bins = (run.scenario.total().as_millis() / bin.as_millis()) as usize + 1;
    let mut latencies: Vec<Vec<Duration>> = vec![Vec::new(); bins];
    for r in run.records.iter().filter(|r| r.route == Route::Browse) {
        let i = (r.due.as_millis() / bin.as_millis()) as usize;
        if let Some(b) = latencies.get_mut(i) {
            b.push(r.latency);
        }
    }
    latencies
        .iter_mut()
        .enumerate()
        .filter(|(_, b)| !b.is_empty())
        .map(|(i, b)| {
            let mid = (i as f64 + 0.5) * bin.as_secs_f64();
            (mid, percentile(b, 0.99).as_secs_f64() * 1e3)
        })
        .collect()
}
