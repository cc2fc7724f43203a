//! The payment service's fault script: which health it has, and for how long.

use std::fmt;
use std::time::Duration;

/// How the payment service behaves during one phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// Charges and answers 200 within a few milliseconds.
    Healthy,
    /// Answers 500 at once and charges nothing.
    Errors,
    /// Holds every request far past the client's timeout and charges nothing.
    Hanging,
}

impl Health {
    fn parse(word: &str) -> Option<Health> {
        match word {
            "healthy" => Some(Health::Healthy),
            "errors" => Some(Health::Errors),
            "hanging" => Some(Health::Hanging),
            _ => None,
        }
    }

    pub fn code(self) -> u8 {
        self as u8
    }

    pub fn from_code(code: u8) -> Health {
        match code {
            0 => Health::Healthy,
            1 => Health::Errors,
            _ => Health::Hanging,
        }
    }
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Health::Healthy => "healthy",
            Health::Errors => "errors",
            Health::Hanging => "hanging",
        })
    }
}

/// Phases in order, e.g. `healthy=2s,errors=2500ms,hanging=2.5s,healthy=3s`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    pub phases: Vec<(Health, Duration)>,
}

impl Script {
    /// The default story: healthy, a burst of 500s, a hang, healthy again.
    pub fn classic() -> Script {
        Script {
            phases: vec![
                (Health::Healthy, Duration::from_millis(2_000)),
                (Health::Errors, Duration::from_millis(2_500)),
                (Health::Hanging, Duration::from_millis(2_500)),
                (Health::Healthy, Duration::from_millis(3_000)),
            ],
        }
    }

    pub fn parse(text: &str) -> Result<Script, String> {
        let mut phases = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (word, length) = part
                .split_once('=')
                .ok_or_else(|| format!("phase '{part}' should look like healthy=2s"))?;
            let health = Health::parse(word.trim())
                .ok_or_else(|| format!("unknown health '{word}' (healthy, errors, hanging)"))?;
            phases.push((health, parse_duration(length.trim())?));
        }
        match phases.last() {
            None => Err("the script has no phases".to_string()),
            // The queue can only drain into a service that works: end healthy.
            Some((last, _)) if *last != Health::Healthy => {
                Err("the script must end with a healthy phase".to_string())
            }
            Some(_) => Ok(Script { phases }),
        }
    }

    pub fn total(&self) -> Duration {
        self.phases.iter().map(|(_, d)| *d).sum()
    }
}

impl fmt::Display for Script {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (health, length)) in self.phases.iter().enumerate() {
            let sep = if i == 0 { "" } else { " → " };
            write!(f, "{sep}{health} {:.1}s", length.as_secs_f64())?;
        }
        Ok(())
    }
}

/// `250ms`, `2s` or `2.5s`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("bad duration '{text}' (e.g. 250ms, 2s, 2.5s)");
    let seconds = if let Some(ms) = text.strip_suffix("ms") {
        ms.parse::<f64>().map_err(|_| bad())? / 1_000.0
    } else if let Some(s) = text.strip_suffix('s') {
        s.parse::<f64>().map_err(|_| bad())?
    } else {
        return Err(bad());
    };
    if !(seconds > 0.0 && seconds <= 3_600.0) {
        return Err(format!(
            "duration '{text}' must be above 0 and at most an hour"
        ));
    }
    Ok(Duration::from_secs_f64(seconds))
}
