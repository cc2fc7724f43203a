//! The callers: an open-loop generator. Request `i` is due at `start + i / rate` whatever
//! happened to the others, and its latency counts from that due time, so a stalled A shows
//! up in the numbers instead of slowing the load down (no coordinated omission).

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::header::{CONNECTION, HOST};
use hyper::{Request, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tower::BoxError;

use crate::scenario::{CallerMode, Scenario};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Browse,
    Checkout,
}

/// How one request ended, as its caller saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// `/browse` answered 200, or `/checkout` answered "charged".
    Ok,
    /// `/checkout` answered "deferred" (202).
    Deferred,
    /// Any other answer, or no connection.
    Error,
    /// No answer within the caller's timeout.
    TimedOut,
}

/// One request's fate.
#[derive(Debug, Clone, Copy)]
pub struct Record {
    /// When it was due, since the run's start.
    pub due: Duration,
    pub route: Route,
    pub outcome: Outcome,
    /// From its due time to its end (the caller's timeout at most).
    pub latency: Duration,
}

/// Send the scenario's load to A at `addr` from `start` on; every request's record once all
/// have ended.
pub async fn run(scenario: &Scenario, addr: SocketAddr, start: Instant) -> Vec<Record> {
    let count = (scenario.total().as_secs_f64() * f64::from(scenario.rate)) as u64;
    let gap = Duration::from_secs_f64(1.0 / f64::from(scenario.rate));
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let pool: Client<HttpConnector, Empty<Bytes>> =
        Client::builder(TokioExecutor::new()).build(connector);
    let (records, mut collected) = mpsc::unbounded_channel();
    for i in 0..count {
        let due = start + gap.mul_f64(i as f64);
        tokio::time::sleep_until(due).await;
        let route = if i % scenario.checkout_every == 0 {
            Route::Checkout
        } else {
            Route::Browse
        };
        let path = match route {
            Route::Browse => "/browse",
            Route::Checkout => "/checkout",
        };
        let send = match scenario.mode {
            CallerMode::KeepAlive => Box::pin(keep_alive(pool.clone(), addr, path))
                as std::pin::Pin<Box<dyn std::future::Future<Output = _> + Send>>,
            CallerMode::NewConnection => Box::pin(new_connection(addr, path)),
        };
        let records = records.clone();
        let timeout = scenario.caller_timeout;
        tokio::spawn(async move {
            let outcome = match tokio::time::timeout_at(due + timeout, send).await {
                Err(_) => Outcome::TimedOut,
                Ok(Err(_)) => Outcome::Error,
                Ok(Ok(StatusCode::OK)) => Outcome::Ok,
                Ok(Ok(StatusCode::ACCEPTED)) if route == Route::Checkout => Outcome::Deferred,
                Ok(Ok(_)) => Outcome::Error,
            };
            let _ = records.send(Record {
                due: due - start,
                route,
                outcome,
                latency: due.elapsed().min(timeout),
            });
        });
    }
    drop(records);
    let mut all = Vec::with_capacity(count as usize);
    while let Some(record) = collected.recv().await {
        all.push(record);
    }
    all.sort_by_key(|r| r.due);
    all
}

async fn keep_alive(
    pool: Client<HttpConnector, Empty<Bytes>>,
    addr: SocketAddr,
    path: &'static str,
) -> Result<StatusCode, BoxError> {
    let uri = format!("http://{addr}{path}");
    let response = pool.get(uri.parse()?).await?;
    let status = response.status();
    response.into_body().collect().await?;
    Ok(status)
}

async fn new_connection(addr: SocketAddr, path: &'static str) -> Result<StatusCode, BoxError> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    // A closes the connection after its answer (`Connection: close`), which ends this task.
    tokio::spawn(connection);
    let request = Request::get(path)
        .header(HOST, addr.to_string())
        .header(CONNECTION, "close")
        .body(Empty::<Bytes>::new())?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    response.into_body().collect().await?;
    Ok(status)
}
