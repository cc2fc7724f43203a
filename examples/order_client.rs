//! An order service's payment client: a hyper-util HTTP client behind the whole stack
//! (fallback → retry → breaker → timeout → bulkhead), built in one expression whose parts
//! all take the stack's name.
//!
//! The payment service (an axum app in this process, on 127.0.0.1) is healthy, then answers
//! 503 for a while, then is healthy again. What the order client does:
//! - healthy: orders are charged (200);
//! - 503s: each is retried once (`RetryOnStatus`), counts as a failure for the breaker
//!   (`ResponseClassifier`), and three in a row open it; a call that still fails after its
//!   retry comes back as the 503 it is;
//! - while the breaker is open, nothing is sent: the fallback answers `202 Accepted` and
//!   puts the unsent order in a queue (in memory here; `examples/checkout` keeps it on
//!   disk);
//! - once the service is back and the breaker lets calls through, the queue is drained
//!   through the same stack.
//!
//! The body is collected *below* the stack (`Response<Incoming>` → `Response<Bytes>`): a
//! fallback answers with the service's own response type, and a `Response<Incoming>` is
//! one nobody can build. The example checks its books (every order charged exactly once,
//! or answered 503; the queue empty at the end) and exits 0, 1 otherwise.
//!
//! Run: `cargo run --example order_client`

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State as AxumState;
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower::{BoxError, Layer, ServiceBuilder, ServiceExt};
use tower_breakwater::circuit_breaker::State;
use tower_breakwater::http::ResponseClassifier;
use tower_breakwater::retry::http::RetryOnStatus;
use tower_breakwater::retry::{Backoff, Jitter};
use tower_breakwater::{Error, Resilience};

type Order = u64;
type Queue = Arc<Mutex<VecDeque<Order>>>;

/// The payment service: charges `POST /charge` bodies (order ids) while healthy, answers
/// 503 while not; its ledger is the list of orders it charged.
#[derive(Clone, Default)]
struct Payments {
    down: Arc<AtomicBool>,
    ledger: Arc<Mutex<Vec<Order>>>,
}

async fn charge(AxumState(payments): AxumState<Payments>, body: Bytes) -> (StatusCode, String) {
    if payments.down.load(Ordering::Relaxed) {
        return (StatusCode::SERVICE_UNAVAILABLE, "maintenance".into());
    }
    let order = String::from_utf8_lossy(&body).parse().unwrap_or(0);
    payments.ledger.lock().expect("not poisoned").push(order);
    (StatusCode::OK, format!("charged order {order}"))
}

async fn read_body(response: Response<Incoming>) -> Result<Response<Bytes>, BoxError> {
    let (parts, body) = response.into_parts();
    Ok(Response::from_parts(
        parts,
        body.collect().await?.to_bytes(),
    ))
}

fn fail(why: String) -> ! {
    eprintln!("FAILED: {why}");
    std::process::exit(1);
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let payments = Payments::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/charge", listener.local_addr()?);
    let app = Router::new()
        .route("/charge", post(charge))
        .with_state(payments.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });

    // The client, below the stack: an order id becomes a POST, the body is read in full.
    let http = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let to_request = move |order: Order| {
        Request::post(url.as_str())
            .body(Full::from(order.to_string()))
            .expect("a valid request")
    };
    let client = ServiceBuilder::new()
        .map_request(to_request)
        .and_then(read_body)
        .service(http);

    let queue: Queue = Queue::default();
    let deferred = queue.clone();
    let stack = Resilience::builder("payments")
        // Refusals only (open breaker, full bulkhead): the order was never sent, so queue
        // it and accept it. The answer is the client's own response type.
        .with_fallback(move |error: Error<BoxError, Order>, order: Option<Order>| {
            let queue = deferred.clone();
            async move {
                let Some(order) = order else {
                    return Err(error);
                };
                queue.lock().expect("not poisoned").push_back(order);
                Ok(Response::builder()
                    .status(StatusCode::ACCEPTED)
                    .body(Bytes::from(format!(
                        "order {order} accepted, payment queued"
                    )))
                    .expect("a valid response"))
            }
        })
        .with_retry(|retry| {
            retry
                .max_attempts(2)
                .backoff(Backoff::constant(Duration::from_millis(10)))
                .jitter(Jitter::None)
                .retry_if(RetryOnStatus)
        })
        .with_circuit_breaker(|breaker| {
            breaker
                .consecutive_failures(3)
                .open_for(Duration::from_millis(300))
                .half_open_permits(1)
                .success_threshold(1)
        })
        .breaker_classifier(ResponseClassifier::new()) // a 503 is a failure
        .timeout(Duration::from_secs(2))
        .with_bulkhead(|bulkhead| bulkhead.max_concurrent(8))
        .build()?;
    let breaker = stack.circuit_breaker().clone();
    let mut transitions = breaker.subscribe();
    let service = stack.layer(client);

    let mut answered_503 = Vec::new();
    let order_once = |order: Order| {
        let service = service.clone();
        async move {
            let response = service
                .oneshot(order)
                .await
                .map_err(|e| format!("order {order}: {e}"))?;
            println!(
                "  order {order:>2} -> {} {}",
                response.status().as_u16(),
                String::from_utf8_lossy(response.body())
            );
            Ok::<_, String>(response.status())
        }
    };

    println!("payment service healthy:");
    for order in 1..=4 {
        order_once(order).await?;
    }
    println!("payment service answers 503:");
    payments.down.store(true, Ordering::Relaxed);
    for order in 5..=10 {
        if order_once(order).await? == StatusCode::SERVICE_UNAVAILABLE {
            answered_503.push(order);
        }
    }
    if breaker.state() != State::Open {
        fail(format!(
            "the breaker should be open, it is {}",
            breaker.state()
        ));
    }
    println!(
        "payment service healthy again; draining the queue once the breaker lets calls through:"
    );
    payments.down.store(false, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(350)).await;
    loop {
        let next = queue.lock().expect("not poisoned").pop_front();
        let Some(order) = next else { break };
        // Through the same stack: were the breaker open again, the fallback would queue it
        // once more; the loop would come back for it.
        if order_once(order).await? == StatusCode::ACCEPTED {
            tokio::time::sleep(Duration::from_millis(350)).await;
        }
    }
    while let Ok(transition) = transitions.try_recv() {
        println!("  {transition}");
    }

    let mut charged = payments.ledger.lock().expect("not poisoned").clone();
    charged.sort_unstable();
    let mut expected: Vec<Order> = (1..=10).filter(|o| !answered_503.contains(o)).collect();
    expected.sort_unstable();
    println!("charged: {charged:?}; answered 503 (the caller's to handle): {answered_503:?}");
    if charged != expected {
        fail(format!(
            "expected {expected:?} charged once each, the ledger has {charged:?}"
        ));
    }
    if answered_503.is_empty() || answered_503.len() > 3 {
        fail(format!(
            "three failed calls should open the breaker, saw {answered_503:?}"
        ));
    }
    if breaker.state() != State::Closed {
        fail(format!(
            "the breaker should be closed again, it is {}",
            breaker.state()
        ));
    }
    println!("ok: nothing lost, nothing charged twice, the queue is empty");
    Ok(())
}
