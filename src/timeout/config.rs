//! The validation of a timeout's settings.

use std::time::Duration;

use crate::{ConfigError, Name};

/// The longest limit accepted. tokio's `sleep` silently clamps a delay to about 30 years,
/// and `Instant + Duration` panics when the deadline overflows the platform's clock (100
/// years already does on some): ten years keeps every deadline exact and representable,
/// and is far beyond any useful per-attempt limit.
pub(crate) use crate::config_error::LONGEST as MAX_LIMIT;

/// A checked timeout setting: a non-empty name and a limit in `1ns..=MAX_LIMIT`.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) name: Name,
    pub(crate) limit: Duration,
    /// The id of the layer's timeout counter (`stats.rs`); 0 for a service built without a
    /// layer, which has nowhere to report.
    pub(crate) counter: u64,
}

impl Config {
    pub(crate) fn new(name: Name, limit: Duration) -> Result<Self, ConfigError> {
        ConfigError::check_name(name.as_str())?;
        if limit.is_zero() {
            // A zero limit would fail every call that is not ready on its first poll: a
            // bug in the config, never something to run with.
            return Err(ConfigError::new(
                name.as_str(),
                "limit",
                limit,
                "a duration above zero",
            ));
        }
        if limit > MAX_LIMIT {
            return Err(ConfigError::new(
                name.as_str(),
                "limit",
                limit,
                "at most ten years (leave the timeout out for no limit)",
            ));
        }
        Ok(Config {
            name,
            limit,
            counter: 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_range_and_rejects_its_ends() {
        assert!(Config::new("db".into(), Duration::from_nanos(1)).is_ok());
        assert!(Config::new("db".into(), MAX_LIMIT).is_ok());
        let zero = Config::new("db".into(), Duration::ZERO).unwrap_err();
        assert_eq!((zero.field(), zero.value()), ("limit", "0ns"));
        let huge = Config::new("db".into(), MAX_LIMIT + Duration::from_nanos(1)).unwrap_err();
        assert_eq!(huge.field(), "limit");
        let max = Config::new("db".into(), Duration::MAX).unwrap_err();
        assert_eq!(max.field(), "limit");
        let unnamed = Config::new("".into(), Duration::from_secs(1)).unwrap_err();
        assert_eq!(unnamed.field(), "name");
    }
}
