//! Running a [`Replayer`] in the background: the triggers (a breaker's close, an interval,
//! a stop) and the handle that stops it.

use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;

use tokio::sync::{broadcast, Notify};
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;
use tower_service::Service;

use super::Replayer;
use crate::circuit_breaker::{CircuitBreaker, State, Transition};
use crate::Error;

impl<S, Req, E> Replayer<S, Req>
where
    S: Service<Req, Error = Error<E, Req>> + Clone + Send + Sync + 'static,
    S::Future: Send,
    S::Response: Send + 'static,
    Req: Send + 'static,
    E: fmt::Display + Send + 'static,
{
    /// Run in the background on the current tokio runtime: drain at once, then whenever
    /// the breaker closes and every `interval` while it is not open. A drain's store error
    /// is logged (`tracing`) and the next trigger tries again.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tower_breakwater::deferred::{Queue, RedbStore, Replayer};
    /// # use tower_breakwater::Error;
    /// # use tower::service_fn;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # let dir = std::env::temp_dir().join(format!("bw-rsp-doc-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir).unwrap();
    /// # let queue = Queue::builder("p", RedbStore::open(dir.join("q.redb")).unwrap()).build().unwrap();
    /// # queue.migrate().await.unwrap();
    /// let svc = service_fn(|()| async { Ok::<_, Error<std::io::Error, ()>>(()) });
    /// let task = Replayer::builder(&queue, svc, |_| Ok::<_, String>(())).build().unwrap().spawn();
    /// task.shutdown().await; // lets a drain in progress finish
    /// # drop(queue); std::fs::remove_dir_all(&dir).ok();
    /// # }
    /// ```
    pub fn spawn(self) -> ReplayerTask {
        let stop = Arc::new(Notify::new());
        // Subscribed here, not in the task: a transition right after `spawn` is not missed.
        let transitions = self.breaker.as_ref().map(CircuitBreaker::subscribe);
        let handle = tokio::spawn(self.run(transitions, stop.clone()));
        ReplayerTask {
            handle: Some(handle),
            stop,
        }
    }

    async fn run(
        self,
        mut transitions: Option<broadcast::Receiver<Transition>>,
        stop: Arc<Notify>,
    ) {
        let mut ticks = tokio::time::interval(self.interval);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            let trigger = {
                let mut stopped = pin!(stop.notified());
                let mut tick = pin!(ticks.tick());
                let mut transition = pin!(next_transition(transitions.as_mut()));
                poll_fn(|cx| {
                    if stopped.as_mut().poll(cx).is_ready() {
                        return Poll::Ready(None);
                    }
                    if let Poll::Ready(closed) = transition.as_mut().poll(cx) {
                        return Poll::Ready(Some(closed));
                    }
                    tick.as_mut().poll(cx).map(|_| Some(true))
                })
                .await
            };
            match trigger {
                None => return,
                Some(false) => continue,
                Some(true) => {
                    if let Err(e) = self.drain().await {
                        tracing::warn!(queue = self.queue.name(), error = %e, "deferred drain failed");
                    }
                }
            }
        }
    }
}

/// Wait for the next transition; true if it is worth a drain (the breaker closed, or
/// transitions were missed). Never resolves without a breaker.
async fn next_transition(
    transitions: Option<&mut broadcast::Receiver<crate::circuit_breaker::Transition>>,
) -> bool {
    let Some(transitions) = transitions else {
        return std::future::pending().await;
    };
    match transitions.recv().await {
        Ok(t) => t.to == State::Closed,
        Err(broadcast::error::RecvError::Lagged(_)) => true,
        Err(broadcast::error::RecvError::Closed) => std::future::pending().await,
    }
}

/// A [`Replayer`] running in the background; dropping it aborts it (items being delivered
/// come back when their lease runs out), [`shutdown`](ReplayerTask::shutdown) lets the
/// drain in progress finish.
///
/// ```
/// # use tower_breakwater::deferred::{Queue, RedbStore, Replayer};
/// # use tower_breakwater::Error;
/// # use tower::service_fn;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// # let dir = std::env::temp_dir().join(format!("bw-rt-doc-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir).unwrap();
/// # let queue = Queue::builder("p", RedbStore::open(dir.join("q.redb")).unwrap()).build().unwrap();
/// # queue.migrate().await.unwrap();
/// let svc = service_fn(|()| async { Ok::<_, Error<std::io::Error, ()>>(()) });
/// let task = Replayer::builder(&queue, svc, |_| Ok::<_, String>(())).build().unwrap().spawn();
/// drop(task); // aborted
/// # drop(queue); std::fs::remove_dir_all(&dir).ok();
/// # }
/// ```
#[derive(Debug)]
pub struct ReplayerTask {
    handle: Option<JoinHandle<()>>,
    stop: Arc<Notify>,
}

impl ReplayerTask {
    /// Stop after the drain in progress (if any) and wait for it.
    ///
    /// ```
    /// # use tower_breakwater::deferred::{Queue, RedbStore, Replayer};
    /// # use tower_breakwater::Error;
    /// # use tower::service_fn;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # let dir = std::env::temp_dir().join(format!("bw-rts-doc-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir).unwrap();
    /// # let queue = Queue::builder("p", RedbStore::open(dir.join("q.redb")).unwrap()).build().unwrap();
    /// # queue.migrate().await.unwrap();
    /// # let svc = service_fn(|()| async { Ok::<_, Error<std::io::Error, ()>>(()) });
    /// let task = Replayer::builder(&queue, svc, |_| Ok::<_, String>(())).build().unwrap().spawn();
    /// task.shutdown().await;
    /// # drop(queue); std::fs::remove_dir_all(&dir).ok();
    /// # }
    /// ```
    pub async fn shutdown(mut self) {
        self.stop.notify_one();
        if let Some(handle) = self.handle.take() {
            let _ = handle.await;
        }
    }
}

impl Drop for ReplayerTask {
    fn drop(&mut self) {
        if let Some(handle) = &self.handle {
            handle.abort();
        }
    }
}
