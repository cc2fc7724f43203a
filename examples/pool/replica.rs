//! A payment replica: a real HTTP/1 server on 127.0.0.1 whose behaviour can be switched
//! while it runs, counting the requests it receives in each phase of the scenario.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// How a replica answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Mode {
    Healthy = 0,
    /// 500 Internal Server Error, after 20 ms of work.
    Error500 = 1,
    /// Never answers (the connection stays open).
    Hang = 2,
    /// Answers 200 after a second: beyond the client's per-try timeout.
    Slow = 3,
    /// 503 Service Unavailable, after 20 ms.
    Unavailable = 4,
}

impl Mode {
    fn from_u8(n: u8) -> Mode {
        [
            Mode::Healthy,
            Mode::Error500,
            Mode::Hang,
            Mode::Slow,
            Mode::Unavailable,
        ][n as usize]
    }

    pub fn describe(self) -> &'static str {
        match self {
            Mode::Healthy => "healthy",
            Mode::Error500 => "answers 500",
            Mode::Hang => "hangs",
            Mode::Slow => "slow (1 s)",
            Mode::Unavailable => "answers 503",
        }
    }
}

/// Phases of the scenario, for the tally: before, during, after.
pub const PHASES: usize = 3;

pub struct Replica {
    pub addr: SocketAddr,
    mode: Arc<AtomicU8>,
    pub received: Arc<[AtomicU64; PHASES]>,
}

impl Replica {
    pub fn set(&self, mode: Mode) {
        self.mode.store(mode as u8, Relaxed);
    }

    pub fn mode(&self) -> Mode {
        Mode::from_u8(self.mode.load(Relaxed))
    }
}

/// Serve one replica on a free port of 127.0.0.1; `phase` is the scenario's current phase.
pub async fn serve(phase: Arc<AtomicUsize>) -> std::io::Result<Replica> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let mode = Arc::new(AtomicU8::new(Mode::Healthy as u8));
    let received: Arc<[AtomicU64; PHASES]> = Arc::new(Default::default());
    let (shared_mode, counts) = (mode.clone(), received.clone());
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (mode, counts, phase) = (shared_mode.clone(), counts.clone(), phase.clone());
            tokio::spawn(async move {
                let handler =
                    hyper::service::service_fn(move |_: Request<hyper::body::Incoming>| {
                        counts[phase.load(Relaxed).min(PHASES - 1)].fetch_add(1, Relaxed);
                        answer(Mode::from_u8(mode.load(Relaxed)))
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), handler)
                    .await;
            });
        }
    });
    Ok(Replica {
        addr,
        mode,
        received,
    })
}

async fn answer(mode: Mode) -> Result<Response<Full<Bytes>>, Infallible> {
    let status = match mode {
        Mode::Healthy => StatusCode::OK,
        Mode::Error500 => {
            tokio::time::sleep(Duration::from_millis(20)).await;
            StatusCode::INTERNAL_SERVER_ERROR
        }
        Mode::Hang => {
            // Long enough to outlive the run; the client gives up at its timeout.
            tokio::time::sleep(Duration::from_secs(600)).await;
            StatusCode::OK
        }
        Mode::Slow => {
            tokio::time::sleep(Duration::from_secs(1)).await;
            StatusCode::OK
        }
        Mode::Unavailable => {
            tokio::time::sleep(Duration::from_millis(20)).await;
            StatusCode::SERVICE_UNAVAILABLE
        }
    };
    let mut response = Response::new(Full::new(Bytes::from_static(b"charged")));
    *response.status_mut() = status;
    Ok(response)
}
