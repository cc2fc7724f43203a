//! The payment service: real HTTP on 127.0.0.1, with a health the script sets.
//!
//! It keeps a ledger keyed by the idempotency key (the order number), so a payment sent
//! twice (a retry after a timeout, a queued payment drained later) is charged once.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use tokio::net::TcpListener;

use super::script::Health;

#[derive(Debug, Default)]
pub struct PaymentServer {
    health: AtomicU8,
    /// Requests that reached the service, whatever came of them.
    requests: AtomicU64,
    /// Payments sent again after they were charged, answered 200 without charging.
    duplicates: AtomicU64,
    /// order → cents charged.
    ledger: Mutex<HashMap<u64, u64>>,
    /// order → how many times money was taken for it (an audit of the ledger).
    times_charged: Mutex<HashMap<u64, u32>>,
}

impl PaymentServer {
    /// Start serving on an ephemeral port of 127.0.0.1.
    pub async fn start() -> std::io::Result<(Arc<PaymentServer>, SocketAddr)> {
        let server = Arc::new(PaymentServer::default());
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let app = Router::new()
            .route("/charge", post(charge))
            .with_state(server.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok((server, addr))
    }

    pub fn set_health(&self, health: Health) {
        self.health.store(health.code(), Ordering::Relaxed);
    }

    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    pub fn duplicates(&self) -> u64 {
        self.duplicates.load(Ordering::Relaxed)
    }

    pub fn is_charged(&self, order: u64) -> bool {
        self.ledger.lock().unwrap().contains_key(&order)
    }

    pub fn charged(&self) -> usize {
        self.ledger.lock().unwrap().len()
    }

    /// Orders charged more than once.
    pub fn charged_twice(&self) -> usize {
        let times = self.times_charged.lock().unwrap();
        times.values().filter(|&&n| n > 1).count()
    }
}

async fn charge(
    State(server): State<Arc<PaymentServer>>,
    headers: HeaderMap,
    body: String,
) -> (StatusCode, &'static str) {
    server.requests.fetch_add(1, Ordering::Relaxed);
    match Health::from_code(server.health.load(Ordering::Relaxed)) {
        Health::Errors => return (StatusCode::INTERNAL_SERVER_ERROR, "card processor down"),
        Health::Hanging => {
            // Far past any sane client timeout; the client gives up first and the
            // connection's drop cancels this handler. Nothing is charged.
            tokio::time::sleep(Duration::from_secs(60)).await;
            return (StatusCode::SERVICE_UNAVAILABLE, "gave up");
        }
        Health::Healthy => {}
    }
    let order = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let (Some(order), Ok(cents)) = (order, body.trim().parse::<u64>()) else {
        return (
            StatusCode::BAD_REQUEST,
            "need an idempotency-key and an amount",
        );
    };
    // A little work, as a real processor would do.
    tokio::time::sleep(Duration::from_millis(2)).await;
    let mut ledger = server.ledger.lock().unwrap();
    if ledger.insert(order, cents).is_some() {
        server.duplicates.fetch_add(1, Ordering::Relaxed);
        return (StatusCode::OK, "already charged");
    }
    *server
        .times_charged
        .lock()
        .unwrap()
        .entry(order)
        .or_default() += 1;
    (StatusCode::OK, "charged")
}
