//! An axum server that protects one handler with a bulkhead, a timeout and a circuit breaker,
//! and answers each refusal with a proper HTTP response:
//!
//! | what happened | response |
//! |---|---|
//! | the handler answered | its own response (a 500 counts as a failure for the breaker) |
//! | too many requests in flight (bulkhead full) | 429 Too Many Requests |
//! | the handler took too long (timeout) | 504 Gateway Timeout |
//! | the breaker is open | 503 Service Unavailable + `Retry-After` |
//!
//! Refusals get a generic body (`too many requests`, `gateway timeout`, `service
//! unavailable`): the breaker's name and the handler's errors stay on the server.
//!
//! `GET /metrics` serves the Prometheus exposition of the route's breaker, bulkhead and
//! timeout (the `metrics` feature), read at scrape time.
//!
//! The example binds 127.0.0.1 (an ephemeral port unless `--port N`), prints the port, then
//! sends its own requests to show each row of the table, scrapes its own `/metrics`, checks
//! the answers (exit 1 otherwise) and stops in about two seconds. `GET /quote/{mode}` is the
//! protected handler: `ok` answers at once, `busy` takes 250 ms, `hang` takes 2 s, `fail`
//! answers 500. `--scrape-to FILE` writes the last scrape to `FILE` (CI checks it with
//! `promtool check metrics`).
//!
//! Run: `cargo run --example axum_server --features http,metrics [-- --port 3000]`

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::error_handling::HandleErrorLayer;
use axum::extract::{Path, Request};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use prometheus::{Encoder, Registry, TextEncoder};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceBuilder;
use tower_breakwater::bulkhead::Bulkhead;
use tower_breakwater::circuit_breaker::CircuitBreaker;
use tower_breakwater::http::ResponseClassifier;
use tower_breakwater::metrics::Metrics;
use tower_breakwater::{Error, Resilience};

/// The limits of the protected handler; the scenario below is written against them.
pub const MAX_IN_FLIGHT: usize = 2;
pub const TIME_LIMIT: Duration = Duration::from_millis(500);
pub const OPEN_FOR: Duration = Duration::from_secs(1);

/// The breaker and the bulkhead of the protected handler (handles: the caller keeps them to
/// watch them, the layers share them).
pub fn limits() -> (CircuitBreaker, Bulkhead) {
    let breaker = CircuitBreaker::builder("quotes")
        .consecutive_failures(3)
        .open_for(OPEN_FOR)
        .half_open_permits(1)
        .success_threshold(1)
        .build()
        .expect("valid breaker");
    let bulkhead = Bulkhead::builder("quotes")
        .max_concurrent(MAX_IN_FLIGHT)
        // No waiting room: axum never waits for readiness, so waiting would only park
        // requests in memory; refusing at once lets the client go elsewhere.
        .max_waiting(0)
        .build()
        .expect("valid bulkhead");
    (breaker, bulkhead)
}

/// The app: `/quote/{mode}` behind bulkhead + timeout + breaker; `/health` unprotected;
/// `/metrics` the route's layers in the Prometheus text format.
pub fn app(breaker: &CircuitBreaker, bulkhead: &Bulkhead) -> Router {
    let protection = Resilience::builder("quotes")
        // The handler never fails with an Err: it answers 500. The classifier reads the
        // status, so a 500 counts as a failure (and a full bulkhead counts neither way).
        .circuit_breaker_with(breaker, ResponseClassifier::new())
        .timeout(TIME_LIMIT)
        .bulkhead(bulkhead)
        .build()
        .expect("valid stack");
    let registry = Registry::new();
    Metrics::new()
        .circuit_breaker(breaker)
        .bulkhead(bulkhead)
        .timeout(protection.timeout_layer())
        .register(&registry)
        .expect("each layer registered once");
    let stack = ServiceBuilder::new()
        // Above the stack: turns breakwater's typed refusals into responses, so the route's
        // error type is Infallible again, as axum requires.
        .layer(HandleErrorLayer::new(refusal_to_response))
        .layer(protection);
    Router::new()
        .route("/quote/{mode}", get(quote).layer(stack))
        .route("/health", get(|| async { "ok" }))
        .route(
            "/metrics",
            get(move || async move { exposition(&registry) }),
        )
}

/// Open breaker → 503 + Retry-After, timeout → 504, full bulkhead → 429: the crate's own
/// mapping, with 429 chosen for the bulkhead to tell clients to slow down. The body is
/// generic; the detailed message goes to the server's log.
async fn refusal_to_response(error: Error<Infallible, Request>) -> Response {
    eprintln!("  (server log: {error})");
    error.to_response_with_bulkhead_status::<Body>(StatusCode::TOO_MANY_REQUESTS)
}

/// `GET /metrics`: every registered series, read now.
fn exposition(registry: &Registry) -> Response {
    let mut text = Vec::new();
    match TextEncoder::new().encode(&registry.gather(), &mut text) {
        Ok(()) => ([(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)], text).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// The series a scrape after `scenario` must hold (the breaker closed again, one bulkhead
/// refusal, one timeout, one trip).
pub const EXPECTED_SERIES: [&str; 4] = [
    "circuit_breaker_state{name=\"quotes\"} 0",
    "bulkhead_rejected_total{name=\"quotes\"} 1",
    "timeout_timeouts_total{name=\"quotes\"} 1",
    "circuit_breaker_transitions_total{from=\"closed\",name=\"quotes\",to=\"open\"} 1",
];

async fn quote(Path(mode): Path<String>) -> (StatusCode, String) {
    match mode.as_str() {
        "busy" => tokio::time::sleep(Duration::from_millis(250)).await,
        "hang" => tokio::time::sleep(Duration::from_secs(2)).await,
        "fail" => {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                "quote engine down".into(),
            )
        }
        _ => {}
    }
    (StatusCode::OK, format!("quote for {mode}: 42.00"))
}

/// What the client saw for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub retry_after: Option<String>,
    pub body: String,
}

/// A GET over a fresh connection: a dozen lines of HTTP/1.1, so the example needs no
/// client crate (`Connection: close`, so the body is everything after the headers).
pub async fn get_path(addr: SocketAddr, path: &str) -> std::io::Result<Answer> {
    let mut stream = TcpStream::connect(addr).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await?;
    let text = String::from_utf8_lossy(&raw);
    let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, "not an HTTP response");
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(bad)?;
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or_else(bad)?;
    let retry_after = lines
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.eq_ignore_ascii_case("retry-after"))
        .map(|(_, value)| value.trim().to_string());
    Ok(Answer {
        status,
        retry_after,
        body: body.to_string(),
    })
}

/// Drive the server through each mapping; returns every step as (what, answer).
pub async fn scenario(
    addr: SocketAddr,
    bulkhead: &Bulkhead,
) -> std::io::Result<Vec<(&'static str, Answer)>> {
    let mut steps = Vec::new();
    let mut step = |what: &'static str, answer: Answer| {
        println!(
            "  {what:<44} -> {} {}{}",
            answer.status,
            answer.body,
            answer
                .retry_after
                .as_deref()
                .map(|s| format!(" (Retry-After: {s})"))
                .unwrap_or_default()
        );
        steps.push((what, answer));
    };

    step("healthy", get_path(addr, "/quote/ok").await?);

    // Fill the bulkhead with two slow calls, then one more arrives.
    let first = tokio::spawn(get_path(addr, "/quote/busy"));
    let second = tokio::spawn(get_path(addr, "/quote/busy"));
    // Wait until both hold their slot (polling the shared handle), however slow the machine.
    while bulkhead.in_flight() < MAX_IN_FLIGHT {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    step(
        "a third call while two are in flight",
        get_path(addr, "/quote/ok").await?,
    );
    step("the first slow call", first.await.expect("task ran")?);
    step("the second slow call", second.await.expect("task ran")?);

    // Three failures in a row (a timeout counts) open the breaker.
    step(
        "a call that hangs past the time limit",
        get_path(addr, "/quote/hang").await?,
    );
    step("a call that fails", get_path(addr, "/quote/fail").await?);
    step(
        "another that fails (the third failure)",
        get_path(addr, "/quote/fail").await?,
    );
    step(
        "a healthy call while the breaker is open",
        get_path(addr, "/quote/ok").await?,
    );
    step(
        "an unprotected route meanwhile",
        get_path(addr, "/health").await?,
    );

    // After open_for, a trial call goes through and closes the breaker.
    tokio::time::sleep(OPEN_FOR + Duration::from_millis(50)).await;
    step(
        "a healthy call after open_for",
        get_path(addr, "/quote/ok").await?,
    );
    Ok(steps)
}

/// The statuses `scenario` must see, in order.
pub const EXPECTED: [u16; 10] = [200, 429, 200, 200, 504, 500, 500, 503, 200, 200];

/// Bind 127.0.0.1:`port` (0: any free port) and serve `app` until the task is dropped.
pub async fn serve(port: u16, app: Router) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            eprintln!("server stopped: {e}");
        }
    });
    Ok(addr)
}

/// The value after `flag`, if the flag is given.
fn arg_after(flag: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    let i = args.iter().position(|a| a == flag)?;
    match args.get(i + 1) {
        Some(value) => Some(value.clone()),
        None => usage(),
    }
}

fn usage() -> ! {
    eprintln!("usage: axum_server [--port N] [--scrape-to FILE]");
    std::process::exit(2);
}

fn port_from_args() -> u16 {
    arg_after("--port").map_or(0, |p| p.parse().unwrap_or_else(|_| usage()))
}

#[tokio::main]
async fn main() {
    let (breaker, bulkhead) = limits();
    let addr = match serve(port_from_args(), app(&breaker, &bulkhead)).await {
        Ok(addr) => addr,
        Err(e) => {
            eprintln!("cannot bind: {e}");
            std::process::exit(1);
        }
    };
    println!("listening on http://{addr} (port {})", addr.port());

    let steps = match tokio::time::timeout(Duration::from_secs(10), scenario(addr, &bulkhead)).await
    {
        Ok(Ok(steps)) => steps,
        Ok(Err(e)) => {
            eprintln!("request failed: {e}");
            std::process::exit(1);
        }
        Err(_) => {
            eprintln!("the scenario did not finish within 10 s");
            std::process::exit(1);
        }
    };
    let seen: Vec<u16> = steps.iter().map(|(_, answer)| answer.status).collect();
    println!("breaker: {}", breaker.state());
    if seen != EXPECTED {
        eprintln!("unexpected statuses: {seen:?}, expected {EXPECTED:?}");
        std::process::exit(1);
    }
    let scrape = match get_path(addr, "/metrics").await {
        Ok(scrape) if scrape.status == 200 => scrape.body,
        other => {
            eprintln!("GET /metrics failed: {other:?}");
            std::process::exit(1);
        }
    };
    println!("GET /metrics:");
    for line in scrape.lines().filter(|l| l.contains("quotes")) {
        println!("  {line}");
    }
    if let Some(missing) = EXPECTED_SERIES.iter().find(|s| !scrape.contains(*s)) {
        eprintln!("the scrape lacks {missing}");
        std::process::exit(1);
    }
    if let Some(path) = arg_after("--scrape-to") {
        if let Err(e) = std::fs::write(&path, &scrape) {
            eprintln!("cannot write {path}: {e}");
            std::process::exit(1);
        }
    }
    println!("ok: 429 for a full bulkhead, 504 for a timeout, 503 + Retry-After while open, /metrics agrees");
}
