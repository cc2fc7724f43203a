//! The sick dependency: a payment service on 127.0.0.1 whose health follows the scenario's
//! phases, counting every call that reached it, by phase.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::time::Instant;

use crate::scenario::{Health, Scenario};

/// The payment service, bound to its port before A starts (A needs the address).
pub struct Payments {
    pub addr: SocketAddr,
    listener: TcpListener,
}

/// Calls that reached payments, by the phase they arrived in; the server stops when this
/// is dropped.
pub struct Reached {
    counts: Arc<Vec<AtomicU64>>,
    server: tokio::task::JoinHandle<()>,
}

type Shared = Arc<(Scenario, Arc<Vec<AtomicU64>>, Instant)>;

impl Payments {
    pub async fn bind() -> std::io::Result<Payments> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        Ok(Payments {
            addr: listener.local_addr()?,
            listener,
        })
    }

    /// Serve, the phases counting from `start`.
    pub fn serve(self, scenario: &Scenario, start: Instant) -> Reached {
        let counts: Arc<Vec<AtomicU64>> =
            Arc::new(scenario.phases.iter().map(|_| AtomicU64::new(0)).collect());
        let shared: Shared = Arc::new((scenario.clone(), counts.clone(), start));
        let listener = self.listener;
        let server = tokio::spawn(async move {
            loop {
                // Payments' own limits are not under test: on an accept error, try again.
                let Ok((stream, _)) = listener.accept().await else {
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let shared = shared.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| charge(shared.clone(), request));
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Reached { counts, server }
    }
}

impl Reached {
    pub fn counts(&self) -> Vec<u64> {
        self.counts
            .iter()
            .map(|n| n.load(Ordering::Relaxed))
            .collect()
    }
}

impl Drop for Reached {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn charge(
    shared: Shared,
    _request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (scenario, reached, start) = &*shared;
    let phase = scenario.phase_index(start.elapsed());
    reached[phase].fetch_add(1, Ordering::Relaxed);
    let status = match scenario.phases[phase].health {
        Health::Healthy => StatusCode::OK,
        Health::Errors => StatusCode::INTERNAL_SERVER_ERROR,
        Health::Slow => {
            tokio::time::sleep(scenario.slow_answer).await;
            StatusCode::OK
        }
        // Until the caller gives up and closes the connection (hyper then drops this).
        Health::Hanging => std::future::pending().await,
    };
    Ok(Response::builder()
        .status(status)
        .body(Full::from(if status.is_success() {
            "charged"
        } else {
            "error"
        }))
        .expect("a valid response"))
}
