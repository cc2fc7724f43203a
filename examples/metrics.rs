//! An axum app whose payment route sits behind a circuit breaker, with the breaker's
//! metrics at `/metrics` in the Prometheus text format. It runs a short outage against
//! itself and scrapes itself while it runs: the breaker trips, rejects, then recovers.
//!
//! ```sh
//! cargo run --example metrics --features metrics            # 127.0.0.1, a free port
//! cargo run --example metrics --features metrics -- 127.0.0.1:9000
//! ```
//!
//! It prints the address, the metric lines after the trip and after the recovery, and
//! exits 0 within a second (1 if the metrics are not what the story says).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::http::{header, StatusCode};
use axum::routing::get;
use axum::Router;
use prometheus::{Encoder, Registry, TextEncoder};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tower::{service_fn, ServiceBuilder, ServiceExt};
use tower_breakwater::circuit_breaker::{CircuitBreaker, Error};
use tower_breakwater::metrics::Metrics;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), BoxError> {
    let breaker = CircuitBreaker::builder("payments")
        .consecutive_failures(3)
        .open_for(Duration::from_millis(300))
        .half_open_permits(1)
        .success_threshold(1)
        .build()?;
    let registry = Registry::new();
    Metrics::new()
        .namespace("shop")
        .circuit_breaker(&breaker)
        .register(&registry)?;

    // The payment provider, and a switch to take it down.
    let provider_down = Arc::new(AtomicBool::new(true));
    let down = provider_down.clone();
    let payments = ServiceBuilder::new()
        .layer(breaker.layer())
        .service(service_fn(move |order: u64| {
            let down = down.load(Ordering::Relaxed);
            async move {
                match down {
                    true => Err(std::io::Error::other("payment provider down")),
                    false => Ok(order),
                }
            }
        }));

    let app = Router::new()
        .route(
            "/pay",
            get(move || async move {
                match payments.oneshot(17).await {
                    Ok(order) => (StatusCode::OK, format!("paid order {order}\n")),
                    Err(Error::Rejected(open)) => {
                        (StatusCode::SERVICE_UNAVAILABLE, format!("{open}\n"))
                    }
                    Err(Error::Inner(e)) => (StatusCode::BAD_GATEWAY, format!("{e}\n")),
                }
            }),
        )
        .route(
            "/metrics",
            get(move || async move {
                let mut text = Vec::new();
                match TextEncoder::new().encode(&registry.gather(), &mut text) {
                    Ok(()) => (
                        StatusCode::OK,
                        [(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)],
                        text,
                    ),
                    Err(e) => (
                        StatusCode::INTERNAL_SERVER_ERROR,
                        [(header::CONTENT_TYPE, "text/plain")],
                        e.to_string().into_bytes(),
                    ),
                }
            }),
        );

    let bind = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".to_owned());
    let listener = TcpListener::bind(&bind).await?;
    let addr = listener.local_addr()?;
    println!("serving http://{addr}/metrics");
    tokio::spawn(async move { axum::serve(listener, app).await });

    // The outage: three failures trip the breaker, the fourth call is rejected.
    for _ in 0..4 {
        let (status, body) = http_get(addr, "/pay").await?;
        print!("GET /pay -> {status} {body}");
    }
    let tripped = scrape(addr).await?;

    // The provider recovers; after open_for, one trial call closes the breaker.
    provider_down.store(false, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(350)).await;
    let (status, body) = http_get(addr, "/pay").await?;
    print!("GET /pay -> {status} {body}");
    let recovered = scrape(addr).await?;

    let checks = [
        (
            &tripped,
            r#"shop_circuit_breaker_state{name="payments"}"#,
            1.0,
        ),
        (
            &tripped,
            r#"shop_circuit_breaker_calls_total{name="payments",outcome="failure"}"#,
            3.0,
        ),
        (
            &tripped,
            r#"shop_circuit_breaker_calls_total{name="payments",outcome="rejected"}"#,
            1.0,
        ),
        (
            &recovered,
            r#"shop_circuit_breaker_state{name="payments"}"#,
            0.0,
        ),
        (
            &recovered,
            r#"shop_circuit_breaker_calls_total{name="payments",outcome="success"}"#,
            1.0,
        ),
        (
            &recovered,
            r#"shop_circuit_breaker_transitions_total{from="half_open",name="payments",to="closed"}"#,
            1.0,
        ),
    ];
    let wrong: Vec<_> = checks
        .iter()
        .filter(|(lines, series, want)| value(lines, series) != Some(*want))
        .map(|(_, series, want)| format!("{series} should be {want}"))
        .collect();
    if !wrong.is_empty() {
        eprintln!("unexpected metrics:\n  {}", wrong.join("\n  "));
        std::process::exit(1);
    }
    println!("ok: the breaker tripped and recovered, and /metrics said so");
    Ok(())
}

/// GET `/metrics` and print the breaker's lines.
async fn scrape(addr: SocketAddr) -> Result<Vec<String>, BoxError> {
    let (status, body) = http_get(addr, "/metrics").await?;
    println!("GET /metrics -> {status}");
    let lines: Vec<String> = body
        .lines()
        .filter(|line| !line.starts_with('#'))
        .map(str::to_owned)
        .collect();
    for line in &lines {
        println!("  {line}");
    }
    Ok(lines)
}

/// The value of `series` in scraped sample lines.
fn value(lines: &[String], series: &str) -> Option<f64> {
    lines.iter().find_map(|line| {
        let (name, value) = line.rsplit_once(' ')?;
        (name == series).then(|| value.parse().ok())?
    })
}

/// A minimal HTTP/1.1 GET over a fresh connection (the server closes it after answering).
async fn http_get(addr: SocketAddr, path: &str) -> Result<(u16, String), BoxError> {
    let mut stream = TcpStream::connect(addr).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or("no status line")?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}
