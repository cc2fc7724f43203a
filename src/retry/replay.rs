//! What a further attempt needs: the service clone, the request to replay, the plan, and
//! the waits between attempts (boxed on the first retry, with the retry's span).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use tokio::time::{Instant, Sleep};

use super::config::Plan;
use super::future::Stop;
use super::CopyRequest;

/// All a further attempt needs, made only when one could really happen. Kept small (the
/// whole future is moved on every call): the settings behind a pointer, the waiting state
/// boxed on the first retry.
pub(crate) struct Replay<S, Req, C> {
    /// A clone of the inner service; `poll_ready` is called on it before each attempt.
    pub(crate) service: S,
    /// The request the next attempt sends (the attempt in flight has its own).
    pub(crate) request: Req,
    pub(crate) plan: Arc<Plan<C>>,
    /// Created on the first retry.
    pub(crate) waits: Option<Box<Waits>>,
}

/// Between attempts.
pub(crate) struct Waits {
    /// Created on the first non-zero wait, reset for the next ones.
    sleep: Option<Pin<Box<Sleep>>>,
    /// Set when a wait starts, cleared when it is over.
    sleeping: bool,
    /// The last backoff wait drawn (a decorrelated backoff grows from it).
    prev_wait: Duration,
    rng: fastrand::Rng,
    /// The `retry_attempt` span of the retry being sent (disabled unless a subscriber
    /// wants debug spans of this crate).
    pub(crate) span: tracing::Span,
}

/// A copy of `request` for the attempt after attempt number `attempt` (1 for the first),
/// or why there will be none: no attempt left, the budget cannot afford a retry now (a
/// hint: the withdrawal comes later), or the request cannot be replayed.
#[inline]
pub(crate) fn copy_for_attempt<C: CopyRequest<Req>, Req>(
    plan: &Plan<C>,
    attempt: u32,
    request: &Req,
) -> Result<Req, Stop> {
    if attempt >= plan.max_attempts {
        return Err(Stop::AttemptsOut);
    }
    if let Some(budget) = &plan.budget {
        if !budget.can_withdraw() {
            return Err(Stop::BudgetEmpty);
        }
    }
    plan.copier.copy_request(request).ok_or(Stop::NotReplayable)
}

impl<S, Req, C> Replay<S, Req, C> {
    #[inline]
    pub(crate) fn new(service: S, request: Req, plan: Arc<Plan<C>>) -> Self {
        Replay {
            service,
            request,
            plan,
            waits: None,
        }
    }

    /// The wait before retry number `retry`: the backoff's, or what the callee asked for
    /// (capped). The backoff curve moves on either way. Starts the wait, and the
    /// `retry_attempt` span of the attempt that follows it (a child of the caller's span,
    /// current while this is polled).
    pub(crate) fn start_wait(
        &mut self,
        retry: u32,
        asked: Option<Duration>,
        reason: &'static str,
    ) -> Duration {
        let plan = &*self.plan;
        let waits = self.waits.get_or_insert_with(|| {
            Box::new(Waits {
                sleep: None,
                sleeping: false,
                prev_wait: Duration::ZERO,
                rng: fastrand::Rng::new(),
                span: tracing::Span::none(),
            })
        });
        let backoff = plan
            .backoff
            .delay(plan.jitter, retry, waits.prev_wait, &mut waits.rng);
        waits.prev_wait = backoff;
        let wait = asked.map_or(backoff, |asked| asked.min(plan.max_retry_after));
        tracing::debug!(
            name = %plan.name,
            attempt = retry + 1,
            max_attempts = plan.max_attempts,
            ?wait,
            retry_after = ?asked,
            reason,
            "retrying"
        );
        waits.span = tracing::debug_span!(
            "retry_attempt",
            name = %plan.name,
            attempt = retry + 1,
            max_attempts = plan.max_attempts,
            backoff = ?wait,
            reason,
            outcome = tracing::field::Empty,
            breaker_state = tracing::field::Empty,
        );
        if !wait.is_zero() {
            let deadline = Instant::now() + wait;
            match &mut waits.sleep {
                Some(sleep) => sleep.as_mut().reset(deadline),
                None => waits.sleep = Some(Box::pin(tokio::time::sleep_until(deadline))),
            }
            waits.sleeping = true;
        }
        wait
    }

    pub(crate) fn poll_wait(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if let Some(waits) = &mut self.waits {
            if waits.sleeping {
                if let Some(sleep) = &mut waits.sleep {
                    ready!(sleep.as_mut().poll(cx));
                }
                waits.sleeping = false;
            }
        }
        Poll::Ready(())
    }
}
