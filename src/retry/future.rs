//! The response future of the retry service: attempts, waits between them, and the end.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::{fmt, mem};

use pin_project_lite::pin_project;
use tower_service::Service;

use super::config::Plan;
pub(crate) use super::replay::{copy_for_attempt, Replay, Waits};
use super::stats::Stats;
use super::{CopyRequest, Predicate, RetriesExhausted};
use crate::{Error, Name};

pin_project! {
    /// The future of [`RetryService`](super::RetryService): runs an attempt, and while the
    /// predicate, attempts and budget allow, waits and runs another.
    ///
    /// Nothing is boxed on the way of a call that succeeds; the wait between attempts is a
    /// tokio `Sleep`, boxed once, on the first retry, and reused. Dropping the future at
    /// any point drops the attempt in flight, the wait, the request copy and the service
    /// clone, and nothing else happens.
    ///
    /// ```
    /// use tower_breakwater::retry::{ResponseFuture, RetryLayer};
    /// use tower_breakwater::Error;
    /// use tower::{service_fn, Layer, Service, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mut svc = RetryLayer::builder("db")
    ///     .build()
    ///     .unwrap()
    ///     .layer(service_fn(|x: u8| async move { Ok::<_, Error<(), u8>>(x) }));
    /// let future = svc.ready().await.unwrap().call(7);
    /// assert_eq!(future.await.unwrap(), 7);
    /// # }
    /// ```
    pub struct ResponseFuture<S, Req, P, C>
    where
        S: Service<Req>,
    {
        #[pin]
        attempt: Attempt<S::Future>,
        predicate: P,
        // What happens after an attempt the predicate wants retried.
        next: Next<S, Req, C>,
        // Attempts finished so far.
        attempts: u32,
    }
}

pin_project! {
    #[project = AttemptProj]
    enum Attempt<F> {
        // The first attempt, polled as it is (in the caller's span): the path of every call.
        Running { #[pin] future: F },
        // A retry, polled inside its `retry_attempt` span, which the waits keep.
        Retrying { #[pin] future: F },
        // Between attempts; only while `next` is a `Replay`, which holds the wait.
        Waiting,
    }
}

/// What the future can do once an attempt has failed.
pub(crate) enum Next<S, Req, C> {
    /// Send another attempt.
    Replay(Replay<S, Req, C>),
    /// Nothing more: give up, saying why. `waits` is the last retry's (with its span), if
    /// the call was retried.
    Stop {
        by: Owner<C>,
        stop: Stop,
        waits: Option<Box<Waits>>,
    },
}

/// Whose call gives up. Just the name when the call stopped before its first attempt for a
/// reason nobody counts (no attempt left, a request that cannot be copied): so the success
/// path takes no reference count. The plan, with its counters, when the end will be counted.
pub(crate) enum Owner<C> {
    Name(Name),
    Plan(Arc<Plan<C>>),
}

impl<C> Owner<C> {
    fn name(&self) -> &Name {
        match self {
            Owner::Name(name) => name,
            Owner::Plan(plan) => &plan.name,
        }
    }

    fn stats(&self) -> Option<&Stats> {
        match self {
            Owner::Name(_) => None,
            Owner::Plan(plan) => Some(&plan.stats),
        }
    }
}

/// Why no further attempt will be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    AttemptsOut,
    BudgetEmpty,
    NotReplayable,
}

impl<S, Req, C> Next<S, Req, C> {
    /// A call that was retried ended with an outcome the predicate accepts.
    #[cold]
    fn retried_call_ended(&self, ok: bool) {
        let stats = match self {
            Next::Replay(replay) => Some(&*replay.plan.stats),
            Next::Stop { by, .. } => by.stats(),
        };
        if let Some(stats) = stats {
            stats.retried_call_ended(ok);
        }
    }

    /// The span of the retry in flight, if any.
    fn span(&self) -> Option<&tracing::Span> {
        let waits = match self {
            Next::Replay(replay) => replay.waits.as_ref(),
            Next::Stop { waits, .. } => waits.as_ref(),
        };
        waits.map(|waits| &waits.span)
    }
}

impl<S, Req, P, C> ResponseFuture<S, Req, P, C>
where
    S: Service<Req>,
{
    #[inline]
    pub(crate) fn new(future: S::Future, predicate: P, next: Next<S, Req, C>) -> Self {
        ResponseFuture {
            attempt: Attempt::Running { future },
            predicate,
            next,
            attempts: 0,
        }
    }
}

impl<S, Req, E, P, C> Future for ResponseFuture<S, Req, P, C>
where
    S: Service<Req, Error = Error<E, Req>>,
    P: Predicate<S::Response, E, Req>,
    C: CopyRequest<Req>,
{
    type Output = Result<S::Response, Error<E, Req>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            let outcome = match this.attempt.as_mut().project() {
                // An outcome that is not retried (the common case) is decided in place and
                // moved out once: a copy through a local first cost a stalled reload of the
                // just-written value (+2 ns a call).
                AttemptProj::Running { future } => match future.poll(cx) {
                    Poll::Ready(outcome) if this.predicate.should_retry(&outcome) => outcome,
                    done_or_pending => return done_or_pending,
                },
                AttemptProj::Retrying { future } => {
                    let polled = {
                        let _entered = this.next.span().map(tracing::Span::enter);
                        future.poll(cx)
                    };
                    let Poll::Ready(outcome) = polled else {
                        return Poll::Pending;
                    };
                    record_outcome(this.next.span(), &outcome);
                    if !this.predicate.should_retry(&outcome) {
                        // Counted only for a call that was retried.
                        this.next.retried_call_ended(outcome.is_ok());
                        return Poll::Ready(outcome);
                    }
                    outcome
                }
                AttemptProj::Waiting => {
                    let Next::Replay(replay) = this.next else {
                        unreachable!("an attempt waits only while a replay is armed")
                    };
                    ready!(replay.poll_wait(cx));
                    if let Err(e) = ready!(replay.service.poll_ready(cx)) {
                        // The service clone cannot take a request: that is final (tower's
                        // contract), not an attempt's outcome to retry.
                        return Poll::Ready(Err(e));
                    }
                    let attempt = *this.attempts + 1;
                    Stats::count(&replay.plan.stats.retries);
                    // The attempt is sent inside its span, so layers below (one that writes
                    // the trace context into the request's headers) see it as current.
                    let future = match copy_for_attempt(&*replay.plan, attempt, &replay.request) {
                        Ok(copy) => {
                            let request = mem::replace(&mut replay.request, copy);
                            let _entered = replay.waits.as_ref().map(|w| w.span.enter());
                            replay.service.call(request)
                        }
                        Err(stop) => {
                            // The last attempt: it takes the request and the service clone
                            // with it, so nothing is held past it.
                            // A retry was sent, so its end is counted: keep the plan.
                            let by = Owner::Plan(replay.plan.clone());
                            let waits = replay.waits.take();
                            let next = Next::Stop { by, stop, waits };
                            let Next::Replay(last) = mem::replace(this.next, next) else {
                                unreachable!("matched as a replay above")
                            };
                            let _entered = this.next.span().map(tracing::Span::enter);
                            let Replay {
                                mut service,
                                request,
                                ..
                            } = last;
                            service.call(request)
                        }
                    };
                    this.attempt.set(Attempt::Retrying { future });
                    continue;
                }
            };
            *this.attempts += 1;
            let attempts = *this.attempts;
            let replay = match this.next {
                Next::Replay(replay) => replay,
                Next::Stop { by, stop, .. } => {
                    return Poll::Ready(give_up(outcome, by.name(), by.stats(), *stop, attempts))
                }
            };
            if let Some(budget) = &replay.plan.budget {
                if !budget.try_withdraw() {
                    let plan = &replay.plan;
                    return Poll::Ready(give_up(
                        outcome,
                        &plan.name,
                        Some(&plan.stats),
                        Stop::BudgetEmpty,
                        attempts,
                    ));
                }
            }
            let asked = this.predicate.retry_after(&outcome);
            let reason = match &outcome {
                Ok(_) => "response",
                Err(error) => error.kind().as_str(),
            };
            // The failed attempt's outcome (maybe a response with a body) goes now, not
            // after the wait.
            drop(outcome);
            replay.start_wait(attempts, asked, reason);
            this.attempt.set(Attempt::Waiting);
        }
    }
}

/// What a retry's attempt ended with, on its span: `ok` or the error's kind, and the
/// breaker's state when a breaker refused it.
fn record_outcome<R, E, Req>(span: Option<&tracing::Span>, outcome: &Result<R, Error<E, Req>>) {
    let Some(span) = span else { return };
    match outcome {
        Ok(_) => {
            span.record("outcome", "ok");
        }
        Err(error) => {
            span.record("outcome", error.kind().as_str());
            if let Error::Rejected(rejected) = error {
                span.record("breaker_state", rejected.state().as_str());
            }
        }
    }
}

/// The end of a call the predicate wanted retried when no retry may follow: a response is
/// returned as it is; an error is wrapped in [`RetriesExhausted`], unless the request could
/// not be replayed at all (then the retry layer was never involved, and stays invisible).
fn give_up<R, E, Req>(
    outcome: Result<R, Error<E, Req>>,
    name: &Name,
    stats: Option<&Stats>,
    stop: Stop,
    attempts: u32,
) -> Result<R, Error<E, Req>> {
    if let Some(stats) = stats {
        match stop {
            Stop::BudgetEmpty => Stats::count(&stats.budget_exhausted),
            Stop::NotReplayable if attempts == 1 => {}
            _ => Stats::count(&stats.exhausted),
        }
    }
    match outcome {
        Ok(response) => Ok(response),
        Err(error) if stop == Stop::NotReplayable && attempts == 1 => Err(error),
        Err(error) => {
            let budget_empty = stop == Stop::BudgetEmpty;
            tracing::debug!(%name, attempts, budget_empty, "giving up");
            Err(RetriesExhausted::new(name.clone(), attempts, budget_empty, error).into())
        }
    }
}

impl<S, Req, P, C> fmt::Debug for ResponseFuture<S, Req, P, C>
where
    S: Service<Req>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let waiting = matches!(self.attempt, Attempt::Waiting);
        f.debug_struct("ResponseFuture")
            .field("attempts", &self.attempts)
            .field("waiting", &waiting)
            .finish_non_exhaustive()
    }
}
