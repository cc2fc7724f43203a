//! [`QueueBuilder`]: a queue's settings, checked once.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::queue::Settings;
use super::{Queue, Store};
use crate::config_error::LONGEST;
use crate::{ConfigError, Name};

/// Settings of a [`Queue`], checked by [`build`](QueueBuilder::build).
///
/// ```
/// use std::time::Duration;
/// use tower_breakwater::deferred::{Queue, RedbStore};
///
/// # let dir = std::env::temp_dir().join(format!("bw-builder-doc-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir).unwrap();
/// let err = Queue::builder("payments", RedbStore::open(dir.join("q.redb")).unwrap())
///     .max_attempts(0)
///     .build()
///     .unwrap_err();
/// assert_eq!(err.field(), "max_attempts");
/// # std::fs::remove_dir_all(&dir).ok();
/// ```
pub struct QueueBuilder {
    name: Name,
    store: Arc<dyn Store>,
    max_attempts: u32,
    backoff: (Duration, Duration),
    visibility_timeout: Duration,
    max_payload: usize,
}

impl fmt::Debug for QueueBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueueBuilder")
            .field("name", &self.name.as_str())
            .field("store", &self.store.kind())
            .field("max_attempts", &self.max_attempts)
            .field("backoff", &self.backoff)
            .field("visibility_timeout", &self.visibility_timeout)
            .field("max_payload", &self.max_payload)
            .finish()
    }
}

impl QueueBuilder {
    pub(super) fn new(name: Name, store: Arc<dyn Store>) -> Self {
        QueueBuilder {
            name,
            store,
            max_attempts: 10,
            backoff: (Duration::from_secs(1), Duration::from_secs(300)),
            visibility_timeout: Duration::from_secs(30),
            max_payload: 1 << 20,
        }
    }

    /// Attempts per item before it is dead-lettered (default 10; 1 to 1000).
    ///
    /// ```
    /// # use tower_breakwater::deferred::{Queue, RedbStore};
    /// # let dir = std::env::temp_dir().join(format!("bw-ma-doc-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir).unwrap();
    /// # let store = RedbStore::open(dir.join("q.redb")).unwrap();
    /// let queue = Queue::builder("payments", store).max_attempts(5).build().unwrap();
    /// # drop(queue); std::fs::remove_dir_all(&dir).ok();
    /// ```
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts;
        self
    }

    /// Wait `initial` after a first failed attempt, doubling after each further one, never
    /// more than `max` (default 1 s and 5 min).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tower_breakwater::deferred::{Queue, RedbStore};
    /// # let dir = std::env::temp_dir().join(format!("bw-bo-doc-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir).unwrap();
    /// # let store = RedbStore::open(dir.join("q.redb")).unwrap();
    /// let err = Queue::builder("payments", store)
    ///     .backoff(Duration::from_secs(10), Duration::from_secs(1))
    ///     .build()
    ///     .unwrap_err();
    /// assert_eq!(err.field(), "backoff");
    /// # std::fs::remove_dir_all(&dir).ok();
    /// ```
    pub fn backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.backoff = (initial, max);
        self
    }

    /// How long a claimed item is hidden from other drainers (default 30 s). Longer than a
    /// delivery takes; when it runs out (its drainer crashed) the item comes back.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tower_breakwater::deferred::{Queue, RedbStore};
    /// # let dir = std::env::temp_dir().join(format!("bw-vt-doc-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir).unwrap();
    /// # let store = RedbStore::open(dir.join("q.redb")).unwrap();
    /// let queue = Queue::builder("payments", store)
    ///     .visibility_timeout(Duration::from_secs(60))
    ///     .build()
    ///     .unwrap();
    /// # drop(queue); std::fs::remove_dir_all(&dir).ok();
    /// ```
    pub fn visibility_timeout(mut self, timeout: Duration) -> Self {
        self.visibility_timeout = timeout;
        self
    }

    /// The largest payload accepted, in bytes (default 1 MiB, at most 64 MiB): a larger one
    /// is refused with [`DeferredError::PayloadTooLarge`].
    ///
    /// ```
    /// # use tower_breakwater::deferred::{Queue, RedbStore};
    /// # let dir = std::env::temp_dir().join(format!("bw-mp-doc-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir).unwrap();
    /// # let store = RedbStore::open(dir.join("q.redb")).unwrap();
    /// let queue = Queue::builder("payments", store).max_payload(64 * 1024).build().unwrap();
    /// # drop(queue); std::fs::remove_dir_all(&dir).ok();
    /// ```
    pub fn max_payload(mut self, bytes: usize) -> Self {
        self.max_payload = bytes;
        self
    }

    /// Check the settings and make the queue.
    ///
    /// ```
    /// # use tower_breakwater::deferred::{Queue, RedbStore};
    /// # let dir = std::env::temp_dir().join(format!("bw-build-doc-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir).unwrap();
    /// # let store = RedbStore::open(dir.join("q.redb")).unwrap();
    /// assert!(Queue::builder("", store).build().is_err());
    /// # std::fs::remove_dir_all(&dir).ok();
    /// ```
    pub fn build(self) -> Result<Queue, ConfigError> {
        let name = self.name.as_str();
        ConfigError::check_name(name)?;
        if !(1..=1_000).contains(&self.max_attempts) {
            return Err(ConfigError::new(
                name,
                "max_attempts",
                self.max_attempts,
                "1 to 1000 attempts",
            ));
        }
        let (initial, max) = self.backoff;
        if initial.is_zero() || initial > max || max > LONGEST {
            return Err(ConfigError::new(
                name,
                "backoff",
                self.backoff,
                "0 < initial <= max <= 10 years",
            ));
        }
        if self.visibility_timeout < Duration::from_millis(10) || self.visibility_timeout > LONGEST
        {
            return Err(ConfigError::new(
                name,
                "visibility_timeout",
                self.visibility_timeout,
                "10ms to 10 years",
            ));
        }
        if !(1..=64 << 20).contains(&self.max_payload) {
            return Err(ConfigError::new(
                name,
                "max_payload",
                self.max_payload,
                "1 byte to 64 MiB",
            ));
        }
        Ok(Queue::with_settings(Settings {
            name: self.name,
            store: self.store,
            max_attempts: self.max_attempts,
            backoff_initial: initial,
            backoff_max: max,
            visibility_timeout: self.visibility_timeout,
            max_payload: self.max_payload,
        }))
    }
}
