//! The fallback's handle: its configuration and its count of answers.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::{CloneRequest, CopyRequest, FallbackLayer, Kinds, NoCopy};
use crate::{ErrorKind, Name};

/// A fallback: which failed calls it answers ([`on`](Fallback::on) /
/// [`when`](Fallback::when)), whether it keeps a copy of sent requests
/// ([`copy_request`](Fallback::copy_request)), the function that answers, and the count of
/// answers given so far. See the [module docs](super) for when to use it.
///
/// The function answers with the inner service's own response type, exactly (see
/// [the module docs](super#the-fallback-answers-with-the-services-own-response-type) for
/// what to do when that type cannot be built).
///
/// ```
/// use tower_breakwater::fallback::Fallback;
/// use tower_breakwater::{Error, ErrorKind};
///
/// let fallback = Fallback::new("prices", |_: Error<&str, u32>, _: Option<u32>| async {
///     Ok::<_, Error<&str, u32>>(0.0) // a cached price would go here
/// })
/// .on(ErrorKind::Timeout);
/// assert_eq!(fallback.name(), "prices");
/// assert_eq!(fallback.count(), 0);
/// # let _ = fallback.layer();
/// ```
#[derive(Debug, Clone)]
pub struct Fallback<H, P = Kinds, K = NoCopy> {
    name: Name,
    handler: H,
    predicate: P,
    copy: K,
    /// Shared with every layer and service made from this handle; bumped once per answer
    /// (failures only, so a shared write is fine here).
    count: Arc<AtomicU64>,
}

/// What a layer and each of its response futures share: one `Arc`, built once per layer.
pub(crate) struct Shared<H, P, K> {
    /// For its `tracing` events.
    pub(crate) name: Name,
    pub(crate) handler: H,
    pub(crate) predicate: P,
    pub(crate) copy: K,
    pub(crate) count: Arc<AtomicU64>,
}

impl<H> Fallback<H> {
    /// A fallback called `name` (its label in metrics) that answers refused calls (an open
    /// breaker, a full bulkhead) with `handler`.
    ///
    /// ```
    /// # use tower_breakwater::fallback::Fallback;
    /// # use tower_breakwater::Error;
    /// let fallback = Fallback::new("p", |e: Error<(), ()>, _: Option<()>| async { Err::<(), _>(e) });
    /// assert_eq!(fallback.name(), "p");
    /// ```
    pub fn new(name: impl Into<Name>, handler: H) -> Self {
        Fallback {
            name: name.into(),
            handler,
            predicate: Kinds::refusals(),
            copy: NoCopy,
            count: Arc::new(AtomicU64::new(0)),
        }
    }
}

impl<H, K> Fallback<H, Kinds, K> {
    /// Also answer errors of `kind`. For a sent call (timeout, inner error, retries
    /// exhausted), answering may hide a call that took effect: add these only when that is
    /// safe, and consider [`copy_request`](Fallback::copy_request) so the function gets the
    /// request.
    ///
    /// ```
    /// # use tower_breakwater::fallback::Fallback;
    /// # use tower_breakwater::{Error, ErrorKind};
    /// let fallback = Fallback::new("p", |e: Error<(), ()>, _: Option<()>| async { Err::<(), _>(e) })
    ///     .on(ErrorKind::Timeout)
    ///     .on(ErrorKind::Inner);
    /// # let _ = fallback;
    /// ```
    #[must_use]
    pub fn on(mut self, kind: ErrorKind) -> Self {
        self.predicate = self.predicate.with(kind);
        self
    }
}

impl<H, P, K> Fallback<H, P, K> {
    /// Answer exactly the errors `predicate` picks (a [`Kinds`] set or any
    /// `Fn(&Error<E, Req>) -> bool`), instead of the kinds chosen so far.
    ///
    /// ```
    /// # use tower_breakwater::fallback::Fallback;
    /// use tower_breakwater::Error;
    /// let fallback = Fallback::new("p", |e: Error<u16, ()>, _: Option<()>| async { Err::<(), _>(e) })
    ///     .when(|e: &Error<u16, ()>| e.is_rejected() || e.inner() == Some(&503));
    /// # let _ = fallback;
    /// ```
    pub fn when<W>(self, predicate: W) -> Fallback<H, W, K> {
        Fallback {
            name: self.name,
            handler: self.handler,
            predicate,
            copy: self.copy,
            count: self.count,
        }
    }

    /// Clone each request before it is sent, so the function also gets the request of a
    /// *sent* call that failed (refusals hand theirs back without a copy). One clone per call.
    ///
    /// ```
    /// # use tower_breakwater::fallback::Fallback;
    /// # use tower_breakwater::{Error, ErrorKind};
    /// let fallback = Fallback::new("p", |e: Error<(), String>, order: Option<String>| async move {
    ///     order.map(|o| format!("queued {o}")).ok_or(e)
    /// })
    /// .on(ErrorKind::Timeout)
    /// .copy_request();
    /// # let _ = fallback;
    /// ```
    pub fn copy_request(self) -> Fallback<H, P, CloneRequest> {
        self.copy_request_with(CloneRequest)
    }

    /// Copy requests with `copy` (any [`CopyRequest`], e.g. `|req: &Req| -> Option<Req>`),
    /// for requests that are not `Clone` or that only sometimes need a copy.
    ///
    /// ```
    /// # use tower_breakwater::fallback::Fallback;
    /// # use tower_breakwater::Error;
    /// let fallback = Fallback::new("p", |e: Error<(), u64>, _: Option<u64>| async { Err::<(), _>(e) })
    ///     .copy_request_with(|order: &u64| (*order > 1_000).then_some(*order));
    /// # let _ = fallback;
    /// ```
    pub fn copy_request_with<C>(self, copy: C) -> Fallback<H, P, C> {
        Fallback {
            name: self.name,
            handler: self.handler,
            predicate: self.predicate,
            copy,
            count: self.count,
        }
    }

    /// The fallback's name.
    ///
    /// ```
    /// # use tower_breakwater::fallback::Fallback;
    /// # use tower_breakwater::Error;
    /// let fallback = Fallback::new("p", |e: Error<(), ()>, _: Option<()>| async { Err::<(), _>(e) });
    /// assert_eq!(fallback.name(), "p");
    /// ```
    pub fn name(&self) -> &str {
        self.name.as_str()
    }

    /// How many times the function has been run (by every layer made from this handle).
    ///
    /// ```
    /// # use tower_breakwater::fallback::Fallback;
    /// # use tower_breakwater::Error;
    /// let fallback = Fallback::new("p", |e: Error<(), ()>, _: Option<()>| async { Err::<(), _>(e) });
    /// assert_eq!(fallback.count(), 0);
    /// ```
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// The shared count, for a metrics collector.
    #[cfg(feature = "metrics")]
    pub(crate) fn counter(&self) -> &Arc<AtomicU64> {
        &self.count
    }

    /// A tower layer that puts this fallback above a service whose error is
    /// [`tower_breakwater::Error<E, Req>`](crate::Error).
    ///
    /// ```
    /// # use tower_breakwater::fallback::Fallback;
    /// # use tower_breakwater::Error;
    /// let fallback = Fallback::new("p", |e: Error<(), ()>, _: Option<()>| async { Err::<(), _>(e) });
    /// let layer = fallback.layer();
    /// # let _ = layer;
    /// ```
    pub fn layer(&self) -> FallbackLayer<H, P, K>
    where
        H: Clone,
        P: Clone,
        K: Clone,
    {
        FallbackLayer::new(Arc::new(Shared {
            name: self.name.clone(),
            handler: self.handler.clone(),
            predicate: self.predicate.clone(),
            copy: self.copy.clone(),
            count: self.count.clone(),
        }))
    }
}

impl<H, P, K> Shared<H, P, K> {
    pub(crate) fn copy_of<Req>(&self, request: &Req) -> Option<Req>
    where
        K: CopyRequest<Req>,
    {
        self.copy.copy_request(request)
    }

    pub(crate) fn counted(&self) {
        self.count.fetch_add(1, Ordering::Relaxed);
    }
}
