//! The error of the deferred queue and its stores.

use std::fmt;

/// Why a deferred-queue operation failed. A failed [`enqueue`](super::Queue::enqueue) means
/// the item is **not** durable: the caller must not answer "accepted".
///
/// ```
/// use tower_breakwater::deferred::DeferredError;
///
/// let e = DeferredError::PayloadTooLarge { len: 2_000_000, max: 1_048_576 };
/// assert_eq!(e.to_string(), "deferred item of 2000000 bytes is larger than the limit of 1048576");
/// assert!(!e.is_store());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeferredError {
    /// The store's schema is missing: call [`Queue::migrate`](super::Queue::migrate) (or the
    /// store's own `migrate`) once before use.
    NotMigrated {
        /// Which store: `"redb"` or `"postgres"`.
        store: &'static str,
    },
    /// The store failed: an I/O error, a lost connection, a database error.
    Store {
        /// Which store: `"redb"` or `"postgres"`.
        store: &'static str,
        /// What it said.
        message: String,
    },
    /// A stored item could not be read back (a damaged file or a foreign row).
    Corrupt {
        /// What was wrong with it.
        message: String,
    },
    /// An idempotency key that is empty or longer than [`MAX_KEY_LEN`](super::MAX_KEY_LEN).
    InvalidKey {
        /// Its length in bytes.
        len: usize,
    },
    /// A store's settings were refused (a table name that is not an identifier, say).
    Config(crate::ConfigError),
    /// A payload longer than the queue's
    /// [`max_payload`](super::QueueBuilder::max_payload).
    PayloadTooLarge {
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
}

impl DeferredError {
    pub(crate) fn store(store: &'static str, error: impl fmt::Display) -> Self {
        DeferredError::Store {
            store,
            message: error.to_string(),
        }
    }

    pub(crate) fn corrupt(message: impl Into<String>) -> Self {
        DeferredError::Corrupt {
            message: message.into(),
        }
    }

    /// True when the store itself failed (I/O, connection, database), as opposed to bad
    /// input or a missing schema.
    ///
    /// ```
    /// # use tower_breakwater::deferred::DeferredError;
    /// assert!(DeferredError::Store { store: "redb", message: "disk full".into() }.is_store());
    /// ```
    pub fn is_store(&self) -> bool {
        matches!(self, DeferredError::Store { .. })
    }
}

impl fmt::Display for DeferredError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeferredError::NotMigrated { store } => {
                write!(
                    f,
                    "deferred {store} store has no schema; call migrate() first"
                )
            }
            DeferredError::Store { store, message } => {
                write!(f, "deferred {store} store failed: {message}")
            }
            DeferredError::Config(e) => write!(f, "deferred store settings: {e}"),
            DeferredError::Corrupt { message } => write!(f, "deferred item is damaged: {message}"),
            DeferredError::InvalidKey { len } => write!(
                f,
                "deferred idempotency key of {len} bytes (expected 1 to {})",
                super::MAX_KEY_LEN
            ),
            DeferredError::PayloadTooLarge { len, max } => write!(
                f,
                "deferred item of {len} bytes is larger than the limit of {max}"
            ),
        }
    }
}

impl std::error::Error for DeferredError {}
