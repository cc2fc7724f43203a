//! Checkout: an order service calls a payment service that falls over and comes back.
//!
//! The payment service here is an in-process tower service whose health follows a script
//! (healthy → failing → healthy). The order service calls it through a circuit breaker:
//! - while payments fail, the breaker opens after 3 failures in a row and the order service
//!   stops calling it; rejected orders are accepted as "pending payment" and their payments
//!   are queued (the request comes back inside the rejection, nothing is cloned);
//! - after `open_for`, trial calls test the service; once it is healthy the breaker closes
//!   and the queue is drained through the same breaker.
//!
//! Every state change is printed as it happens, then a tally. The example exits non-zero if
//! any payment was lost. (The full demo over real HTTP with a durable queue comes later.)
//!
//! Run: `cargo run --example checkout`

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use breakwater::circuit_breaker::{CircuitBreaker, Error, State};
use tokio::time::Instant;
use tower::{service_fn, Service, ServiceBuilder, ServiceExt};

#[derive(Debug, Clone, Copy)]
struct Payment {
    order: u32,
    cents: u64,
}

#[derive(Debug)]
struct Declined;

impl std::fmt::Display for Declined {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("payment service unavailable")
    }
}

const ORDERS: u32 = 120;
/// Orders 30..70 arrive while the payment service is down.
const OUTAGE: std::ops::Range<u32> = 30..70;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let started = Instant::now();
    let breaker = CircuitBreaker::builder("payments")
        .consecutive_failures(3)
        .open_for(Duration::from_millis(300))
        .half_open_permits(2)
        .success_threshold(2)
        .build()
        .expect("valid breaker config");

    // Print every transition as it happens.
    let mut transitions = breaker.subscribe();
    let timeline = tokio::spawn(async move {
        while let Ok(t) = transitions.recv().await {
            let at = t.at.duration_since(started).as_secs_f64();
            println!("  [{at:6.3}s] breaker '{}': {} -> {}", t.name, t.from, t.to);
        }
    });

    // The payment service: healthy, then down for the orders in OUTAGE, then healthy again.
    // `down` follows the order counter, so the outage lasts as long as orders keep coming.
    let down = Arc::new(AtomicU32::new(0));
    let charged = Arc::new(AtomicU32::new(0));
    let payments = {
        let (down, charged) = (down.clone(), charged.clone());
        service_fn(move |payment: Payment| {
            let (down, charged) = (down.clone(), charged.clone());
            async move {
                tokio::time::sleep(Duration::from_millis(2)).await;
                if down.load(Ordering::Relaxed) == 1 {
                    return Err(Declined);
                }
                charged.fetch_add(1, Ordering::Relaxed);
                Ok(payment.order)
            }
        })
    };
    let mut client = ServiceBuilder::new()
        .layer(breaker.layer())
        .service(payments);

    let mut queue: VecDeque<Payment> = VecDeque::new();
    let (mut at_once, mut failed_then_queued, mut deferred, mut later) = (0u32, 0u32, 0u32, 0u32);

    println!("checkout: {ORDERS} orders, payment outage during orders {OUTAGE:?}");
    for order in 0..ORDERS {
        down.store(u32::from(OUTAGE.contains(&order)), Ordering::Relaxed);
        let payment = Payment {
            order,
            cents: 1_000 + u64::from(order),
        };
        match client
            .ready()
            .await
            .expect("breaker is always ready")
            .call(payment)
            .await
        {
            Ok(_) => at_once += 1,
            Err(Error::Inner(Declined)) => {
                // The call was made and failed: keep the payment for later.
                failed_then_queued += 1;
                queue.push_back(payment);
            }
            Err(Error::Rejected(mut rejected)) => {
                // Not sent: the breaker hands the payment back; accept the order anyway.
                deferred += 1;
                queue.push_back(rejected.take_request().expect("the request comes back"));
            }
        }
        // Drain the queue while the breaker is closed.
        if breaker.state() == State::Closed {
            later += drain(&mut client, &mut queue).await;
        }
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
    // The service is healthy again: wait for the breaker to close, then drain what is left.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !queue.is_empty() && Instant::now() < deadline {
        later += drain(&mut client, &mut queue).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let snap = breaker.snapshot();
    timeline.abort();
    let total_charged = charged.load(Ordering::Relaxed);
    let lost = ORDERS - total_charged - queue.len() as u32;
    println!();
    println!("orders accepted        {ORDERS}");
    println!("charged at once        {at_once}");
    println!("failed, then queued    {failed_then_queued}");
    println!("deferred by breaker    {deferred}");
    println!("charged later          {later}");
    println!("still queued           {}", queue.len());
    println!("lost                   {lost}");
    println!(
        "breaker: {} ({} successes, {} failures, {} rejected)",
        snap.state, snap.totals.successes, snap.totals.failures, snap.totals.rejected
    );
    let sum = queue.iter().map(|p| p.cents).sum::<u64>();
    if sum > 0 {
        println!("queued amount          {:.2}", sum as f64 / 100.0);
    }
    if lost != 0 || at_once + later != total_charged {
        eprintln!("error: payments were lost");
        std::process::exit(1);
    }
}

/// Send queued payments through the breaker until one is refused or fails.
async fn drain<S>(client: &mut S, queue: &mut VecDeque<Payment>) -> u32
where
    S: Service<Payment, Error = Error<Declined, Payment>>,
{
    let mut sent = 0;
    while let Some(payment) = queue.pop_front() {
        let Ok(ready) = client.ready().await else {
            queue.push_front(payment);
            break;
        };
        match ready.call(payment).await {
            Ok(_) => sent += 1,
            Err(Error::Inner(Declined)) => {
                queue.push_front(payment);
                break;
            }
            Err(Error::Rejected(mut rejected)) => {
                queue.push_front(rejected.take_request().expect("the request comes back"));
                break;
            }
        }
    }
    sent
}
