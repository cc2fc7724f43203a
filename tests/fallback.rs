//! The fallback layer: which failures it answers, and the request it hands to the function.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tower::{service_fn, Layer, ServiceBuilder, ServiceExt};
use tower_breakwater::bulkhead::BulkheadFull;
use tower_breakwater::circuit_breaker::CircuitBreaker;
use tower_breakwater::fallback::Fallback;
use tower_breakwater::timeout::Elapsed;
use tower_breakwater::{Error, ErrorKind};

/// A request that cannot be cloned: the fallback must get it back without `Req: Clone`.
#[derive(Debug, PartialEq)]
struct Order(u32);

type Failure = Error<&'static str, Order>;

#[derive(Debug, PartialEq)]
enum Answer {
    Charged(u32),
    Deferred(u32),
    Unknown,
}

type Answered = std::future::Ready<Result<Answer, Failure>>;

/// Defers an order it gets back; answers "unknown" for a timeout it has no order for.
fn deferring() -> Fallback<impl Fn(Failure, Option<Order>) -> Answered + Clone> {
    Fallback::new("payments", |error: Failure, order: Option<Order>| {
        std::future::ready(match order {
            Some(Order(id)) => Ok(Answer::Deferred(id)),
            None if error.is_timeout() => Ok(Answer::Unknown),
            None => Err(error),
        })
    })
}

#[tokio::test]
async fn an_open_breaker_hands_the_unsent_request_to_the_fallback() {
    let breaker = CircuitBreaker::builder("payments").build().unwrap();
    let sent = Arc::new(AtomicUsize::new(0));
    let fallback = deferring();
    let counter = sent.clone();
    let svc = ServiceBuilder::new()
        .layer(fallback.layer())
        .layer(breaker.layer().flat())
        .map_err(Error::Inner)
        .service(service_fn(move |Order(id)| {
            counter.fetch_add(1, Ordering::Relaxed);
            async move { Ok::<_, &'static str>(Answer::Charged(id)) }
        }));

    assert_eq!(
        svc.clone().oneshot(Order(1)).await.unwrap(),
        Answer::Charged(1)
    );
    breaker.force_open();
    assert_eq!(
        svc.clone().oneshot(Order(2)).await.unwrap(),
        Answer::Deferred(2)
    );
    assert_eq!(svc.oneshot(Order(3)).await.unwrap(), Answer::Deferred(3));
    assert_eq!(
        sent.load(Ordering::Relaxed),
        1,
        "refused orders never reach payments"
    );
    assert_eq!(fallback.count(), 2);
}

#[tokio::test]
async fn a_full_bulkhead_hands_the_unsent_request_to_the_fallback() {
    let fallback = deferring();
    let svc = fallback
        .layer()
        .layer(service_fn(|order: Order| async move {
            Err::<Answer, Failure>(
                BulkheadFull::new("payments", 4, None)
                    .with_request(order)
                    .into(),
            )
        }));
    assert_eq!(svc.oneshot(Order(9)).await.unwrap(), Answer::Deferred(9));
    assert_eq!(fallback.count(), 1);
}

#[tokio::test]
async fn inner_errors_and_timeouts_pass_through_unless_chosen() {
    let fallback = deferring();
    let failing = fallback.layer().layer(service_fn(|_: Order| async {
        Err::<Answer, Failure>(Error::Inner("card declined"))
    }));
    let err = failing.oneshot(Order(1)).await.unwrap_err();
    assert_eq!(err.into_inner(), Some("card declined"));

    let timing_out = fallback.layer().layer(service_fn(|_: Order| async {
        Err::<Answer, Failure>(
            Elapsed::new("payments", Duration::from_secs(1), Duration::from_secs(1)).into(),
        )
    }));
    assert!(timing_out.oneshot(Order(2)).await.unwrap_err().is_timeout());
    assert_eq!(fallback.count(), 0, "nothing was answered");
}

#[tokio::test]
async fn a_chosen_timeout_is_answered_without_the_request_unless_copied() {
    let timing_out = || {
        service_fn(|_: Order| async {
            Err::<Answer, Failure>(
                Elapsed::new("payments", Duration::from_secs(1), Duration::from_secs(2)).into(),
            )
        })
    };
    let fallback = deferring().on(ErrorKind::Timeout);
    let svc = fallback.layer().layer(timing_out());
    assert_eq!(svc.oneshot(Order(5)).await.unwrap(), Answer::Unknown);

    let copying = deferring()
        .on(ErrorKind::Timeout)
        .copy_request_with(|order: &Order| Some(Order(order.0)));
    let svc = copying.layer().layer(timing_out());
    assert_eq!(svc.oneshot(Order(6)).await.unwrap(), Answer::Deferred(6));
    assert_eq!((fallback.count(), copying.count()), (1, 1));
}

#[tokio::test]
async fn copies_are_made_only_when_asked_for() {
    #[derive(Debug)]
    struct Counted(Arc<AtomicUsize>);
    impl Clone for Counted {
        fn clone(&self) -> Self {
            self.0.fetch_add(1, Ordering::Relaxed);
            Counted(self.0.clone())
        }
    }
    let clones = Arc::new(AtomicUsize::new(0));
    let ok = || service_fn(|_: Counted| async { Ok::<_, Error<(), Counted>>(()) });
    let answer = |e: Error<(), Counted>, _: Option<Counted>| async move { Err::<(), _>(e) };

    let plain = Fallback::new("p", answer);
    plain
        .layer()
        .layer(ok())
        .oneshot(Counted(clones.clone()))
        .await
        .unwrap();
    assert_eq!(clones.load(Ordering::Relaxed), 0);

    let copying = Fallback::new("p", answer).copy_request();
    copying
        .layer()
        .layer(ok())
        .oneshot(Counted(clones.clone()))
        .await
        .unwrap();
    assert_eq!(clones.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn a_predicate_picks_exactly_what_is_answered() {
    let fallback = Fallback::new("stock", |_: Error<u16, ()>, _: Option<()>| async {
        Ok::<_, Error<u16, ()>>(0u32)
    })
    .when(|e: &Error<u16, ()>| e.inner().is_some_and(|status| *status >= 500));

    let with_status = |status: u16| {
        fallback.layer().layer(service_fn(move |()| async move {
            Err::<u32, _>(Error::Inner(status))
        }))
    };
    assert_eq!(with_status(503).oneshot(()).await.unwrap(), 0);
    assert_eq!(
        with_status(404).oneshot(()).await.unwrap_err().into_inner(),
        Some(404)
    );
    assert_eq!(fallback.count(), 1);
}

#[tokio::test]
async fn the_fallbacks_own_error_is_returned() {
    let fallback = deferring().on(ErrorKind::Inner);
    let svc = fallback.layer().layer(service_fn(|_: Order| async {
        Err::<Answer, Failure>(Error::Inner("down"))
    }));
    // `deferring` has no request for a sent call and no timeout: it gives the error back.
    assert_eq!(
        svc.oneshot(Order(1)).await.unwrap_err().into_inner(),
        Some("down")
    );
    assert_eq!(fallback.count(), 1, "the function ran, and it is counted");
}

#[tokio::test(start_paused = true)]
async fn a_dropped_answer_is_harmless() {
    let fallback = Fallback::new("slow", |_: Failure, _: Option<Order>| async {
        std::future::pending::<()>().await;
        Ok::<Answer, Failure>(Answer::Unknown)
    });
    let breaker = CircuitBreaker::builder("payments").build().unwrap();
    breaker.force_open();
    let svc = ServiceBuilder::new()
        .layer(fallback.layer())
        .layer(breaker.layer().flat())
        .map_err(Error::Inner)
        .service(service_fn(|_: Order| async {
            Ok::<Answer, &'static str>(Answer::Unknown)
        }));
    let answer = svc.oneshot(Order(1));
    let polled_once = tokio::time::timeout(Duration::from_millis(1), answer).await;
    assert!(
        polled_once.is_err(),
        "the fallback's answer is still pending"
    );
    assert_eq!(fallback.count(), 1);
    assert_eq!(breaker.snapshot().totals.rejected, 1);
}
