//! Settings read from files — TOML, JSON, anything serde reads — and checked by the same
//! builders as code (feature `serde`).
//!
//! Each layer has a plain settings struct with one optional field per builder method
//! ([`BreakerConfig`], [`RetryConfig`], [`BulkheadConfig`], [`TimeoutConfig`], and with the
//! `chaos` feature [`ChaosConfig`]), and [`StackConfig`] holds a whole stack. Durations are
//! written for people: `"30s"`, `"250ms"`, `"1m 30s"`. Unknown fields are refused, so a
//! typo is an error rather than a silent default.
//!
//! Two kinds of error, at two moments:
//! - reading: a value of the wrong type, an unknown field or a duration that does not
//!   parse is the format's error (`toml::de::Error`, `serde_json::Error`, ...);
//! - building: a value out of range is a [`ConfigError`](crate::ConfigError) naming the
//!   field, exactly as the builder would return it, because `build` goes through the
//!   builder.
//!
//! ```
//! use tower_breakwater::config::StackConfig;
//!
//! let config: StackConfig = serde_json::from_str(r#"{
//!     "name": "payments",
//!     "circuit_breaker": { "consecutive_failures": 5, "open_for": "30s" },
//!     "retry": { "max_attempts": 3, "backoff": { "constant": "100ms" } }
//! }"#).unwrap();
//! let parts = config.build().unwrap();
//! assert_eq!(parts.circuit_breaker.unwrap().name(), "payments");
//!
//! // A typo is caught when reading; a bad value when building, naming the field.
//! assert!(serde_json::from_str::<StackConfig>(r#"{"name": "x", "retyr": {}}"#).is_err());
//! let bad: StackConfig =
//!     serde_json::from_str(r#"{"name": "x", "retry": {"max_attempts": 0}}"#).unwrap();
//! assert_eq!(bad.build().unwrap_err().field(), "max_attempts");
//! ```

mod breaker;
mod bulkhead;
#[cfg(feature = "chaos")]
mod chaos;
mod duration;
mod retry;
mod stack;

pub use self::breaker::{BreakerConfig, HalfOpenRamp, OpenForGrowth, SlowCalls, TimeWindow};
pub use self::bulkhead::{BulkheadConfig, TimeoutConfig};
#[cfg(feature = "chaos")]
pub use self::chaos::{ChaosConfig, LatencyConfig};
pub use self::retry::{BackoffConfig, BudgetConfig, RetryConfig};
pub use self::stack::{Stack, StackConfig};
