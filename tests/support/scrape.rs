//! Reading a Prometheus registry back as a scraper would, for the metrics tests.

use std::collections::BTreeMap;

use prometheus::{Encoder, Registry, TextEncoder};

/// The registry in the text format.
pub fn render(registry: &Registry) -> String {
    let mut text = Vec::new();
    TextEncoder::new()
        .encode(&registry.gather(), &mut text)
        .expect("encodes");
    String::from_utf8(text).expect("utf-8")
}

/// Every sample of the text format: `series -> value`, the series as written
/// (`name{label="value",...}`).
pub fn scrape(registry: &Registry) -> BTreeMap<String, f64> {
    render(registry)
        .lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("a sample line");
            (series.to_owned(), value.parse().expect("a number"))
        })
        .collect()
}
