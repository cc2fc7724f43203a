//! What the queue stores and what its stores answer.

/// Milliseconds since the Unix epoch: the time stamps the stores keep (every process of a
/// fleet reads the same wall clock, give or take NTP).
pub type Millis = u64;

/// The longest idempotency key, in bytes.
pub const MAX_KEY_LEN: usize = 256;

/// An item to enqueue: its idempotency key and its payload (the encoded request).
///
/// ```
/// use tower_breakwater::deferred::NewItem;
/// let item = NewItem::new("order-17", b"1700".to_vec());
/// assert_eq!(item.key, "order-17");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewItem {
    /// The idempotency key: enqueuing the same key twice keeps one item, and the replayed
    /// request carries it so the receiver can deduplicate.
    pub key: String,
    /// The encoded request.
    pub payload: Vec<u8>,
}

impl NewItem {
    /// An item with this key and payload.
    ///
    /// ```
    /// # use tower_breakwater::deferred::NewItem;
    /// assert_eq!(NewItem::new(String::from("k"), vec![1]).payload, [1]);
    /// ```
    pub fn new(key: impl Into<String>, payload: Vec<u8>) -> Self {
        NewItem {
            key: key.into(),
            payload,
        }
    }
}

/// What an enqueue did. Either way the key's item is durable when it is returned.
///
/// ```
/// use tower_breakwater::deferred::Enqueued;
/// assert!(Enqueued::Duplicate.is_duplicate());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    /// A new item was stored.
    Added,
    /// An item with this key was already in the queue (pending, leased or dead): it was
    /// kept as it is and nothing was added.
    Duplicate,
}

impl Enqueued {
    /// True for [`Enqueued::Duplicate`].
    ///
    /// ```
    /// # use tower_breakwater::deferred::Enqueued;
    /// assert!(!Enqueued::Added.is_duplicate());
    /// ```
    pub fn is_duplicate(self) -> bool {
        self == Enqueued::Duplicate
    }
}

/// Where an item is.
///
/// ```
/// use tower_breakwater::deferred::ItemState;
/// assert_eq!(ItemState::Dead.as_str(), "dead");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ItemState {
    /// Waiting for a drainer (perhaps backing off until a time after a failed attempt).
    Ready,
    /// Leased by a drainer until its visibility timeout; it comes back if the drainer dies.
    Leased,
    /// Dead-lettered after its last attempt: kept, listable, re-queueable.
    Dead,
}

impl ItemState {
    /// Every state, in the order of the `deferred_items{state}` series.
    pub const ALL: [ItemState; 3] = [ItemState::Ready, ItemState::Leased, ItemState::Dead];

    /// The name used in metrics: `ready`, `leased`, `dead`.
    ///
    /// ```
    /// # use tower_breakwater::deferred::ItemState;
    /// assert_eq!(ItemState::Leased.as_str(), "leased");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            ItemState::Ready => "ready",
            ItemState::Leased => "leased",
            ItemState::Dead => "dead",
        }
    }
}

/// A stored item, as a store reads it back.
///
/// ```
/// use tower_breakwater::deferred::{Item, ItemState};
/// let item = Item {
///     id: 1,
///     key: "order-1".into(),
///     payload: vec![],
///     state: ItemState::Ready,
///     attempts: 0,
///     enqueued_at: 0,
///     due_at: 0,
///     last_error: None,
/// };
/// assert_eq!(item.key, "order-1");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// The store's id: increases with enqueue order, never reused.
    pub id: u64,
    /// The idempotency key.
    pub key: String,
    /// The encoded request.
    pub payload: Vec<u8>,
    /// Where it is. A lease whose time has passed reads as [`ItemState::Leased`] until the
    /// next claim takes it.
    pub state: ItemState,
    /// Attempts so far, counted when an item is claimed (so a drainer that crashes while
    /// delivering it still used an attempt). A claimed item's `attempts` is its lease token.
    pub attempts: u32,
    /// When it was first enqueued.
    pub enqueued_at: Millis,
    /// Ready: not to be claimed before this time (backoff). Leased: the end of the lease.
    pub due_at: Millis,
    /// The error of the last failed attempt.
    pub last_error: Option<String>,
}

/// What became of a claimed item that was not delivered.
///
/// ```
/// use tower_breakwater::deferred::Release;
/// let retry = Release::Retry { at: 1_000, error: "503".into() };
/// assert!(matches!(retry, Release::Retry { at: 1_000, .. }));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Release {
    /// The attempt failed: ready again at `at`.
    Retry {
        /// When it may be claimed again.
        at: Millis,
        /// Why the attempt failed (kept as the item's `last_error`).
        error: String,
    },
    /// The last attempt failed: dead-letter it.
    Dead {
        /// Why the attempt failed.
        error: String,
    },
    /// It was never sent (the breaker refused it): ready again at `at`, and the attempt is
    /// given back.
    Unsent {
        /// When it may be claimed again.
        at: Millis,
    },
}

/// How many items a queue holds, by state, and the age of its oldest live item.
///
/// ```
/// use tower_breakwater::deferred::Stats;
/// let stats = Stats::default();
/// assert_eq!(stats.ready + stats.leased + stats.dead, 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Waiting for a drainer, including those backing off and those whose lease ran out.
    pub ready: u64,
    /// Leased now (lease not run out).
    pub leased: u64,
    /// Dead-lettered.
    pub dead: u64,
    /// When the oldest ready or leased item was enqueued (`None` when there is none).
    pub oldest_enqueued_at: Option<Millis>,
}
