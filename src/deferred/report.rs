//! Reporting what became of claimed items: delivered, failed (retry or dead letter), never
//! sent.

use std::fmt;
use std::time::Duration;

use super::queue::{cut, millis};
use super::{DeferredError, Item, Millis, Queue, Release};

/// What [`Queue::failed`] did with an item.
///
/// ```
/// use tower_breakwater::deferred::Fate;
/// assert_ne!(Fate::Dead, Fate::LeaseLost);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// It will be tried again, not before `at`.
    Retry {
        /// When it is due again.
        at: Millis,
    },
    /// That was its last attempt: it is dead-lettered.
    Dead,
    /// Its lease had run out and another drainer has it (or it is gone): nothing changed.
    LeaseLost,
}

impl Queue {
    /// These claimed items were delivered: forget them.
    ///
    /// ```
    /// # use tower_breakwater::deferred::{Queue, RedbStore};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # let dir = std::env::temp_dir().join(format!("bw-del-doc-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir).unwrap();
    /// # let queue = Queue::builder("payments", RedbStore::open(dir.join("q.redb")).unwrap()).build().unwrap();
    /// # queue.migrate().await.unwrap();
    /// queue.enqueue("a", vec![]).await.unwrap();
    /// let leased = queue.claim(1).await.unwrap();
    /// queue.delivered(&leased).await.unwrap();
    /// assert!(queue.find("a").await.unwrap().is_none());
    /// # drop(queue); std::fs::remove_dir_all(&dir).ok();
    /// # }
    /// ```
    pub async fn delivered(&self, items: &[Item]) -> Result<(), DeferredError> {
        if items.is_empty() {
            return Ok(());
        }
        let ids = items.iter().map(|item| item.id).collect();
        self.inner.settings.store.complete(ids).await?;
        self.inner.counters.delivered(items.len());
        Ok(())
    }

    /// This claimed item's attempt failed with `error`: retry it after its backoff, or
    /// dead-letter it if that was its last attempt.
    ///
    /// ```
    /// # use tower_breakwater::deferred::{Fate, Queue, RedbStore};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # let dir = std::env::temp_dir().join(format!("bw-fail-doc-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir).unwrap();
    /// # let queue = Queue::builder("payments", RedbStore::open(dir.join("q.redb")).unwrap()).max_attempts(1).build().unwrap();
    /// # queue.migrate().await.unwrap();
    /// queue.enqueue("a", vec![]).await.unwrap();
    /// let leased = queue.claim(1).await.unwrap();
    /// assert_eq!(queue.failed(&leased[0], "declined").await.unwrap(), Fate::Dead);
    /// assert_eq!(queue.dead_letters(0, 10).await.unwrap()[0].last_error.as_deref(), Some("declined"));
    /// # drop(queue); std::fs::remove_dir_all(&dir).ok();
    /// # }
    /// ```
    pub async fn failed(
        &self,
        item: &Item,
        error: impl fmt::Display,
    ) -> Result<Fate, DeferredError> {
        let error = cut(error.to_string());
        let (release, fate) = if item.attempts >= self.inner.settings.max_attempts {
            (Release::Dead { error }, Fate::Dead)
        } else {
            let at = self
                .now()
                .saturating_add(millis(self.backoff(item.attempts)));
            (Release::Retry { at, error }, Fate::Retry { at })
        };
        if !self
            .inner
            .settings
            .store
            .release(item.id, item.attempts, release)
            .await?
        {
            return Ok(Fate::LeaseLost);
        }
        self.inner.counters.failed(fate == Fate::Dead);
        Ok(fate)
    }

    /// Dead-letter this claimed item now, whatever its attempts (its payload cannot be
    /// decoded, say). `false` if its lease was lost.
    ///
    /// ```
    /// # use tower_breakwater::deferred::{Queue, RedbStore};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # let dir = std::env::temp_dir().join(format!("bw-dead-doc-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir).unwrap();
    /// # let queue = Queue::builder("payments", RedbStore::open(dir.join("q.redb")).unwrap()).build().unwrap();
    /// # queue.migrate().await.unwrap();
    /// queue.enqueue("a", b"not json".to_vec()).await.unwrap();
    /// let leased = queue.claim(1).await.unwrap();
    /// assert!(queue.dead_letter(&leased[0], "undecodable").await.unwrap());
    /// assert_eq!(queue.stats().await.unwrap().dead, 1);
    /// # drop(queue); std::fs::remove_dir_all(&dir).ok();
    /// # }
    /// ```
    pub async fn dead_letter(
        &self,
        item: &Item,
        error: impl fmt::Display,
    ) -> Result<bool, DeferredError> {
        let release = Release::Dead {
            error: cut(error.to_string()),
        };
        let released = self
            .inner
            .settings
            .store
            .release(item.id, item.attempts, release)
            .await?;
        if released {
            self.inner.counters.failed(true);
        }
        Ok(released)
    }

    /// This claimed item was never sent (the breaker refused it): make it ready again at
    /// once and give its attempt back. `false` if its lease was lost.
    ///
    /// ```
    /// # use tower_breakwater::deferred::{Queue, RedbStore};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # let dir = std::env::temp_dir().join(format!("bw-unsent-doc-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir).unwrap();
    /// # let queue = Queue::builder("payments", RedbStore::open(dir.join("q.redb")).unwrap()).build().unwrap();
    /// # queue.migrate().await.unwrap();
    /// queue.enqueue("a", vec![]).await.unwrap();
    /// let leased = queue.claim(1).await.unwrap();
    /// assert!(queue.unsent(&leased[0]).await.unwrap());
    /// assert_eq!(queue.claim(1).await.unwrap()[0].attempts, 1); // not 2
    /// # drop(queue); std::fs::remove_dir_all(&dir).ok();
    /// # }
    /// ```
    pub async fn unsent(&self, item: &Item) -> Result<bool, DeferredError> {
        let release = Release::Unsent { at: self.now() };
        let released = self
            .inner
            .settings
            .store
            .release(item.id, item.attempts, release)
            .await?;
        if released {
            self.inner.counters.refused();
        }
        Ok(released)
    }

    /// The wait after the `attempts`-th failed attempt.
    fn backoff(&self, attempts: u32) -> Duration {
        let doublings = attempts.saturating_sub(1).min(40);
        self.inner
            .settings
            .backoff_initial
            .saturating_mul(1 << doublings.min(31))
            .min(self.inner.settings.backoff_max)
    }
}
