//! `Fallback::defer`: answer a refused call by putting its request in a durable queue
//! (feature `deferred`).

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use super::{Fallback, Handler};
use crate::deferred::{is_replaying, Enqueued, ItemState, NewItem, Queue};
use crate::{Error, ErrorKind};

/// Why and how a request was deferred, for the "accepted, pending" answer.
///
/// ```
/// use tower_breakwater::fallback::Deferral;
/// # fn answer(d: &Deferral) -> String {
/// format!("pending ({:?}, key {})", d.reason(), d.key())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deferral {
    reason: ErrorKind,
    key: String,
    duplicate: bool,
}

impl Deferral {
    /// The error the call failed with (the fallback's `on` kinds; by default a refusal).
    ///
    /// ```
    /// # use tower_breakwater::fallback::Deferral;
    /// fn status(d: &Deferral) -> &'static str {
    ///     if d.reason() == tower_breakwater::ErrorKind::Rejected { "breaker-open" } else { "failed" }
    /// }
    /// ```
    pub fn reason(&self) -> ErrorKind {
        self.reason
    }

    /// The item's idempotency key.
    ///
    /// ```
    /// # use tower_breakwater::fallback::Deferral;
    /// fn key(d: &Deferral) -> &str { d.key() }
    /// ```
    pub fn key(&self) -> &str {
        &self.key
    }

    /// True if the queue already held an item with this key (it was kept as it is).
    ///
    /// ```
    /// # use tower_breakwater::fallback::Deferral;
    /// fn again(d: &Deferral) -> bool { d.was_duplicate() }
    /// ```
    pub fn was_duplicate(&self) -> bool {
        self.duplicate
    }
}

/// The function of a deferring fallback ([`Fallback::defer`]): encode the request, enqueue
/// it durably, then answer.
#[derive(Clone)]
pub struct Defer<Enc, Ans> {
    queue: Queue,
    encode: Enc,
    answer: Ans,
}

impl<Enc, Ans> fmt::Debug for Defer<Enc, Ans> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Defer")
            .field("queue", &self.queue)
            .finish_non_exhaustive()
    }
}

impl<Enc, Ans> Fallback<Defer<Enc, Ans>> {
    /// A fallback that persists the refused request in `queue` and answers with
    /// `answer(request, &deferral)` — only once the item is durable. `encode` gives the
    /// item's idempotency key and payload; the [`Replayer`](crate::deferred::Replayer) decodes
    /// it later. Named after the queue.
    ///
    /// By default it answers the refusals (an open breaker, a full bulkhead), whose request
    /// was never sent. Add [`on`](Fallback::on)`(ErrorKind::Timeout)` with
    /// [`copy_request`](Fallback::copy_request) to defer sent calls too (the receiver
    /// deduplicates on the key if the first one went through).
    ///
    /// If the enqueue fails, the caller gets the original error (and a `tracing` error is
    /// logged): nothing is answered "accepted" that is not on disk. Inside a replayer's
    /// delivery it also passes the error on, so a replay that fails is retried from the
    /// queue instead of being queued again; so does a call whose key's item is leased to a
    /// drainer right now (a replay whose fallback runs in another task, e.g. behind a
    /// `Buffer`, where the replayer's task-local mark is not seen).
    ///
    /// ```
    /// use tower_breakwater::circuit_breaker::CircuitBreaker;
    /// use tower_breakwater::deferred::{NewItem, Queue, RedbStore};
    /// use tower_breakwater::fallback::Fallback;
    /// use tower_breakwater::{Error, Resilience};
    /// use tower::{service_fn, Layer, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # let dir = std::env::temp_dir().join(format!("bw-defer-doc-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir).unwrap();
    /// let queue = Queue::builder("payments", RedbStore::open(dir.join("q.redb")).unwrap())
    ///     .build()
    ///     .unwrap();
    /// queue.migrate().await.unwrap();
    /// let fallback = Fallback::defer(
    ///     &queue,
    ///     |order: &u64| NewItem::new(order.to_string(), Vec::new()),
    ///     |order, deferral| format!("order {order} accepted, payment pending ({})", deferral.key()),
    /// );
    /// let breaker = CircuitBreaker::builder("payments").build().unwrap();
    /// let stack = Resilience::builder("payments")
    ///     .fallback(&fallback)
    ///     .circuit_breaker(&breaker)
    ///     .build()
    ///     .unwrap();
    /// let svc = stack.layer(service_fn(|o: u64| async move { Ok::<_, std::io::Error>(format!("charged {o}")) }));
    ///
    /// breaker.force_open();
    /// assert_eq!(svc.oneshot(3).await.unwrap(), "order 3 accepted, payment pending (3)");
    /// assert!(queue.find("3").await.unwrap().is_some());
    /// # drop((queue, fallback)); std::fs::remove_dir_all(&dir).ok();
    /// # }
    /// ```
    pub fn defer<Req, Resp>(queue: &Queue, encode: Enc, answer: Ans) -> Self
    where
        Enc: Fn(&Req) -> NewItem,
        Ans: Fn(Req, &Deferral) -> Resp,
    {
        Fallback::new(
            queue.name_owned(),
            Defer {
                queue: queue.clone(),
                encode,
                answer,
            },
        )
    }
}

/// The future of a deferring fallback's answer (boxed: it waits for a commit anyway).
pub type DeferFuture<Resp, E, Req> =
    Pin<Box<dyn Future<Output = Result<Resp, Error<E, Req>>> + Send>>;

impl<Enc, Ans, E, Req, Resp> Handler<E, Req, Resp> for Defer<Enc, Ans>
where
    Enc: Fn(&Req) -> NewItem,
    Ans: Fn(Req, &Deferral) -> Resp + Clone + Send + 'static,
    E: Send + 'static,
    Req: Send + 'static,
    Resp: Send + 'static,
{
    type Future = DeferFuture<Resp, E, Req>;

    fn answer(&self, error: Error<E, Req>, request: Option<Req>) -> Self::Future {
        let request = match request {
            Some(request) if !is_replaying() => request,
            _ => return Box::pin(std::future::ready(Err(error))),
        };
        let item = (self.encode)(&request);
        let queue = self.queue.clone();
        let answer = self.answer.clone();
        Box::pin(async move {
            let key = item.key.clone();
            match queue.enqueue_item(item).await {
                // The key's item is leased to a drainer: most likely this call is its replay,
                // through a stack where this fallback runs outside the replayer's task (behind
                // a `Buffer`, say). "Accepted" would read as delivered and lose the item.
                Ok(Enqueued::Duplicate) if being_delivered(&queue, &key).await => Err(error),
                Ok(enqueued) => {
                    tracing::debug!(
                        queue = queue.name(),
                        key = %key,
                        reason = ?error.kind(),
                        duplicate = enqueued == Enqueued::Duplicate,
                        "deferred a refused request"
                    );
                    let deferral = Deferral {
                        reason: error.kind(),
                        key,
                        duplicate: enqueued == Enqueued::Duplicate,
                    };
                    Ok(answer(request, &deferral))
                }
                Err(e) => {
                    tracing::error!(queue = queue.name(), key = %key, error = %e, "could not defer a refused request");
                    Err(error)
                }
            }
        })
    }
}

/// True if the queue's item with this key is leased now (or it cannot tell).
async fn being_delivered(queue: &Queue, key: &str) -> bool {
    match queue.find(key).await {
        Ok(Some(item)) => item.state == ItemState::Leased && item.due_at > queue.now(),
        Ok(None) => false,
        Err(_) => true,
    }
}
