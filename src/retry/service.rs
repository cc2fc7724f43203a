//! The tower `Service` of the retry middleware.

use std::fmt;
use std::task::{Context, Poll};

use tower_service::Service;

use super::config::Policy;
use super::future::{copy_for_attempt, Next, Owner, Replay, Stop};
use super::{CloneRequest, CopyRequest, Predicate, ResponseFuture, RetryOnError};
use crate::Error;

/// A service whose failed calls are tried again; made by [`RetryLayer`](super::RetryLayer).
///
/// The inner service fails with [`tower_breakwater::Error<E, Req>`](crate::Error) and so does this
/// one: the call ends with the response (also an `Ok` one the predicate would have retried,
/// once attempts or budget run out), an error the predicate does not retry unchanged, or
/// [`Error::RetriesExhausted`] when it would have retried but could not.
///
/// `poll_ready` is the inner service's. Later attempts go through a clone of the inner
/// service, readied before each one (so `S: Clone`).
///
/// ```
/// use tower_breakwater::retry::RetryLayer;
/// use tower_breakwater::Error;
/// use tower::{service_fn, Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let layer = RetryLayer::builder("db").max_attempts(2).build().unwrap();
/// let svc = layer.layer(service_fn(|q: &'static str| async move {
///     Err::<(), Error<&str, &str>>(Error::Inner("down"))
/// }));
/// let Err(Error::RetriesExhausted(gave_up)) = svc.oneshot("select 1").await else {
///     panic!("expected RetriesExhausted");
/// };
/// assert_eq!(gave_up.attempts(), 2);
/// assert!(matches!(gave_up.last(), Error::Inner("down")));
/// # }
/// ```
#[derive(Clone)]
pub struct RetryService<S, P = RetryOnError, C = CloneRequest> {
    inner: S,
    policy: Policy<P, C>,
}

impl<S, P, C> RetryService<S, P, C> {
    pub(crate) fn from_policy(inner: S, policy: Policy<P, C>) -> Self {
        RetryService { inner, policy }
    }

    /// The inner service.
    ///
    /// ```
    /// # use tower_breakwater::retry::RetryLayer;
    /// # use tower::Layer;
    /// let svc = RetryLayer::builder("db").build().unwrap().layer(17u8);
    /// assert_eq!(*svc.get_ref(), 17);
    /// ```
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    ///
    /// ```
    /// # use tower_breakwater::retry::RetryLayer;
    /// # use tower::Layer;
    /// let mut svc = RetryLayer::builder("db").build().unwrap().layer(17u8);
    /// *svc.get_mut() += 1;
    /// assert_eq!(*svc.get_ref(), 18);
    /// ```
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, unwrapped.
    ///
    /// ```
    /// # use tower_breakwater::retry::RetryLayer;
    /// # use tower::Layer;
    /// let svc = RetryLayer::builder("db").build().unwrap().layer(17u8);
    /// assert_eq!(svc.into_inner(), 17);
    /// ```
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, Req, E, P, C> Service<Req> for RetryService<S, P, C>
where
    S: Service<Req, Error = Error<E, Req>> + Clone,
    P: Predicate<S::Response, E, Req> + Clone,
    C: CopyRequest<Req> + Clone,
{
    type Response = S::Response;
    type Error = Error<E, Req>;
    type Future = ResponseFuture<S, Req, P, C>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    // Always inlined: left out of line (LLVM's choice with a plain `#[inline]`), the
    // future is built in a stack slot and then moved, and reloading its just-written
    // fields stalls: 28.5 ns a call instead of 16.7 ns in `benches/retry.rs`.
    #[inline(always)]
    fn call(&mut self, request: Req) -> Self::Future {
        let plan = &*self.policy.plan;
        if let Some(budget) = &plan.budget {
            budget.deposit();
        }
        // Copy the request now, before it moves into the inner service, but only if a
        // second attempt could really follow (attempts, budget, replayable).
        let copy = copy_for_attempt(plan, 1, &request);
        let future = self.inner.call(request);
        let next = match copy {
            // The future needs a service of its own to send later attempts through (it
            // cannot reach back to this one), so the inner service is cloned, after the
            // call, as tower's Retry does: only here, when a retry may really happen.
            Ok(copy) => Next::Replay(Replay::new(
                self.inner.clone(),
                copy,
                self.policy.plan.clone(),
            )),
            // Counted if the first attempt wants a retry the budget then refuses: a
            // reference count taken only while the budget is empty (an outage).
            Err(Stop::BudgetEmpty) => Next::Stop {
                waits: None,
                by: Owner::Plan(self.policy.plan.clone()),
                stop: Stop::BudgetEmpty,
            },
            Err(stop) => Next::Stop {
                waits: None,
                by: Owner::Name(plan.name.clone()),
                stop,
            },
        };
        ResponseFuture::new(future, self.policy.predicate.clone(), next)
    }
}

impl<S: fmt::Debug, P, C> fmt::Debug for RetryService<S, P, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryService")
            .field("inner", &self.inner)
            .field("name", &self.policy.plan.name)
            .finish_non_exhaustive()
    }
}
