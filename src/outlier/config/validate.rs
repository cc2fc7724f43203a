//! The checks `Builder::build` runs, once.

use std::time::Duration;

use super::{Builder, Config};
use crate::config_error::LONGEST;
use crate::ConfigError;

impl Builder {
    pub(crate) fn validate(self) -> Result<Config, ConfigError> {
        let mut c = self.config;
        let name = c.name.as_str().to_owned();
        ConfigError::check_name(&name)?;
        let err = |field, value: &dyn std::fmt::Debug, expected| {
            Err(ConfigError::new(&name, field, value, expected))
        };
        for (field, rule) in [
            ("consecutive_5xx", c.consecutive_5xx),
            ("consecutive_gateway_failure", c.consecutive_gateway),
        ] {
            if rule.threshold == 0 {
                return err(field, &0, "at least 1");
            }
            if rule.enforcing > 100 {
                return err(
                    field,
                    &rule.enforcing,
                    "an enforcing percentage of 0 to 100",
                );
            }
        }
        let sr = c.success_rate;
        if !sr.threshold.is_finite() || sr.threshold < 0.0 {
            return err(
                "success_rate",
                &sr.threshold,
                "a finite stdev factor of 0 or more",
            );
        }
        let fp = c.failure_percentage;
        if fp.threshold > 100.0 {
            return err(
                "failure_percentage",
                &fp.threshold,
                "a percentage of 0 to 100",
            );
        }
        for (field, rule) in [("success_rate", sr), ("failure_percentage", fp)] {
            if rule.minimum_hosts == 0 || rule.request_volume == 0 {
                return err(
                    field,
                    &rule,
                    "minimum hosts and request volume of at least 1",
                );
            }
            if rule.enforcing > 100 {
                return err(
                    field,
                    &rule.enforcing,
                    "an enforcing percentage of 0 to 100",
                );
            }
        }
        for (field, value) in [
            ("interval", c.interval),
            ("base_ejection_time", c.base_ejection_time),
            ("max_ejection_time", c.max_ejection_time),
        ] {
            if value < Duration::from_millis(1) || value > LONGEST {
                return err(field, &value, "a duration from 1ms to ten years");
            }
        }
        let load = c.load;
        for (field, value) in [
            ("failure_penalty", load.failure_penalty),
            ("failure_penalty", load.max_penalty),
            ("load_estimate", load.decay),
        ] {
            if value < Duration::from_millis(1) || value > LONGEST {
                return err(field, &value, "a duration from 1ms to ten years");
            }
        }
        if load.default_rtt > LONGEST {
            return err(
                "load_estimate",
                &load.default_rtt,
                "a default round trip of at most ten years",
            );
        }
        if c.max_ejection_percent > 100 {
            return err("max_ejection_percent", &c.max_ejection_percent, "0 to 100");
        }
        if c.min_health_percent > 100 {
            return err("min_health_percent", &c.min_health_percent, "0 to 100");
        }
        c.max_ejection_time = c.max_ejection_time.max(c.base_ejection_time);
        Ok(c)
    }
}
