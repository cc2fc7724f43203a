//! Faults over real sockets: an HTTP/1 server on 127.0.0.1 that answers 500s, hangs past
//! the timeout, resets connections and sends a slow body, in phases; a hyper client behind
//! a breaker and a timeout. The stack must open the breaker after the configured number of
//! failures, never keep a caller longer than the timeout (each call's wall time is checked),
//! refuse while open without touching the socket (the server counts every request), probe
//! with half-open trials, and close once the server is healthy again.
//!
//! Real time, kept short: a 150 ms timeout, a 300 ms open period, about 2 s in all.
#![cfg(feature = "http")]

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering::SeqCst};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http::{Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Bytes, Frame};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;
use tokio::time::Sleep;
use tower::{service_fn, BoxError, Layer, Service, ServiceExt};
use tower_breakwater::circuit_breaker::{CircuitBreaker, State};
use tower_breakwater::http::ResponseClassifier;
use tower_breakwater::{Error, Resilience};

const TIMEOUT: Duration = Duration::from_millis(150);
const OPEN_FOR: Duration = Duration::from_millis(300);
/// How much later than the timeout a call may end on a busy 2-core machine.
const MARGIN: Duration = Duration::from_millis(150);
/// A refusal makes no I/O: it should take microseconds; this is generous.
const REFUSAL: Duration = Duration::from_millis(50);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Phase {
    Healthy,
    Fail500,
    /// Answers after 10 s, far past the client's timeout.
    Hang,
    /// Reads the request, then resets the connection without an answer.
    Reset,
    /// Sends its headers at once and then one byte every 100 ms, for a second.
    SlowBody,
}

const PHASES: [Phase; 5] = [
    Phase::Healthy,
    Phase::Fail500,
    Phase::Hang,
    Phase::Reset,
    Phase::SlowBody,
];

struct Server {
    addr: SocketAddr,
    phase: Arc<AtomicU8>,
    /// Every request that reached the server (the client opens one connection per request).
    requests: Arc<AtomicU64>,
}

impl Server {
    fn set(&self, phase: Phase) {
        self.phase.store(phase as u8, SeqCst);
    }

    fn requests(&self) -> u64 {
        self.requests.load(SeqCst)
    }
}

async fn serve() -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let phase = Arc::new(AtomicU8::new(Phase::Healthy as u8));
    let requests = Arc::new(AtomicU64::new(0));
    let (shared_phase, shared_requests) = (phase.clone(), requests.clone());
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let phase = shared_phase.clone();
            let requests = shared_requests.clone();
            tokio::spawn(async move {
                if PHASES[phase.load(SeqCst) as usize] == Phase::Reset {
                    let mut request = [0u8; 1024];
                    if stream.read(&mut request).await.unwrap_or(0) > 0 {
                        requests.fetch_add(1, SeqCst);
                    }
                    // SO_LINGER 0: closing sends a TCP reset, not an orderly FIN.
                    let _ = stream.set_zero_linger();
                    return;
                }
                let handler =
                    hyper::service::service_fn(move |_: Request<hyper::body::Incoming>| {
                        requests.fetch_add(1, SeqCst);
                        respond(PHASES[phase.load(SeqCst) as usize])
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), handler)
                    .await;
            });
        }
    });
    Server {
        addr,
        phase,
        requests,
    }
}

async fn respond(phase: Phase) -> Result<Response<BoxBody<Bytes, Infallible>>, Infallible> {
    let full = |status, text: &'static str| {
        let mut response = Response::new(Full::new(Bytes::from(text)).boxed());
        *response.status_mut() = status;
        response
    };
    Ok(match phase {
        Phase::Healthy => full(StatusCode::OK, "ok"),
        Phase::Fail500 => full(StatusCode::INTERNAL_SERVER_ERROR, "down"),
        Phase::Hang => {
            tokio::time::sleep(Duration::from_secs(10)).await;
            full(StatusCode::OK, "late")
        }
        Phase::SlowBody => Response::new(SlowBody::default().boxed()),
        Phase::Reset => unreachable!("reset before hyper sees the request"),
    })
}

/// One byte every 100 ms, ten times.
struct SlowBody {
    tick: Pin<Box<Sleep>>,
    left: u8,
}

impl Default for SlowBody {
    fn default() -> Self {
        SlowBody {
            tick: Box::pin(tokio::time::sleep(Duration::from_millis(100))),
            left: 10,
        }
    }
}

impl Body for SlowBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        std::task::ready!(self.tick.as_mut().poll(cx));
        self.left -= 1;
        let next = tokio::time::Instant::now() + Duration::from_millis(100);
        self.tick.as_mut().reset(next);
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b".")))))
    }
}

type Req = Request<Full<Bytes>>;
type Resp = Response<Bytes>;
type StackError = Error<BoxError, Req>;

/// One call through the stack, checked never to take longer than the timeout allows.
async fn call<S>(stack: &S, addr: SocketAddr) -> (Result<Resp, StackError>, Duration)
where
    S: Service<Req, Response = Resp, Error = StackError> + Clone,
{
    let start = Instant::now();
    let result = stack.clone().oneshot(get(addr)).await;
    let waited = start.elapsed();
    assert!(
        waited <= TIMEOUT + MARGIN,
        "a caller waited {waited:?}, past the {TIMEOUT:?} timeout"
    );
    (result, waited)
}

/// One call that the open breaker must refuse at once, without a request to the server.
async fn refused<S>(stack: S, addr: SocketAddr, requests: Arc<AtomicU64>)
where
    S: Service<Req, Response = Resp, Error = StackError> + Clone,
{
    let before = requests.load(SeqCst);
    let (result, waited) = call(&stack, addr).await;
    let mut error = result.unwrap_err();
    assert!(error.is_rejected(), "{error:?}");
    assert!(
        error.take_request().is_some(),
        "the unsent request comes back"
    );
    assert!(waited <= REFUSAL, "a refusal took {waited:?}");
    assert_eq!(
        requests.load(SeqCst),
        before,
        "a refusal never touches the socket"
    );
}

fn get(addr: SocketAddr) -> Req {
    Request::get(format!("http://{addr}/"))
        .body(Full::new(Bytes::new()))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stack_rides_out_a_misbehaving_server() {
    let started = Instant::now();
    let server = serve().await;
    let breaker = CircuitBreaker::builder("api")
        .consecutive_failures(3)
        .open_for(OPEN_FOR)
        .half_open_permits(2)
        .success_threshold(2)
        .build()
        .unwrap();
    // One connection per request (no pool), and no silent retry inside the client: every
    // attempt the stack makes is exactly one request the server counts.
    let client = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(0)
        .retry_canceled_requests(false)
        .build_http::<Full<Bytes>>();
    let http = service_fn(move |request: Req| {
        let client = client.clone();
        async move {
            let response = client.request(request).await?;
            // The body is read inside the timed call: a slow body is a slow answer.
            let (parts, body) = response.into_parts();
            let body = body.collect().await?.to_bytes();
            Ok::<_, BoxError>(Response::from_parts(parts, body))
        }
    });
    let stack = Resilience::builder("api")
        .circuit_breaker_with(&breaker, ResponseClassifier::new())
        .timeout(TIMEOUT)
        .build()
        .unwrap()
        .layer(http);
    let addr = server.addr;
    // Healthy.
    for _ in 0..3 {
        assert_eq!(call(&stack, addr).await.0.unwrap().status(), StatusCode::OK);
    }
    assert_eq!(server.requests(), 3);

    // 500s: the third in a row opens the breaker, not one sooner.
    server.set(Phase::Fail500);
    for failure in 1..=3 {
        let response = call(&stack, addr).await.0.unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let expected = if failure < 3 {
            State::Closed
        } else {
            State::Open
        };
        assert_eq!(breaker.state(), expected, "after failure {failure}");
    }
    assert_eq!(server.requests(), 6);

    // Open: a burst of callers is refused at once; none reaches the server.
    let burst: Vec<_> = (0..50)
        .map(|_| tokio::spawn(refused(stack.clone(), addr, server.requests.clone())))
        .collect();
    for caller in burst {
        caller.await.unwrap();
    }
    assert_eq!(server.requests(), 6);

    // Each fault in turn meets a half-open probe: one request, a failure, open again.
    for fault in [Phase::Hang, Phase::Reset, Phase::SlowBody] {
        server.set(fault);
        tokio::time::sleep(OPEN_FOR).await;
        let before = server.requests();
        let (result, waited) = call(&stack, addr).await;
        let error = result.unwrap_err();
        match fault {
            Phase::Reset => assert!(error.inner().is_some(), "{fault:?}: {error:?}"),
            _ => {
                assert!(error.is_timeout(), "{fault:?}: {error:?}");
                assert!(waited >= TIMEOUT, "{fault:?} ended early: {waited:?}");
            }
        }
        assert_eq!(server.requests(), before + 1, "{fault:?}: one probe");
        assert_eq!(breaker.state(), State::Open, "{fault:?}: the probe failed");
        refused(stack.clone(), addr, server.requests.clone()).await;
    }

    // Recovery: two successful probes close the breaker; traffic flows again.
    server.set(Phase::Healthy);
    tokio::time::sleep(OPEN_FOR).await;
    let before = server.requests();
    assert_eq!(call(&stack, addr).await.0.unwrap().status(), StatusCode::OK);
    assert_eq!(breaker.state(), State::HalfOpen);
    assert_eq!(call(&stack, addr).await.0.unwrap().status(), StatusCode::OK);
    assert_eq!(breaker.state(), State::Closed);
    for _ in 0..5 {
        assert_eq!(call(&stack, addr).await.0.unwrap().status(), StatusCode::OK);
    }
    assert_eq!(server.requests(), before + 7);

    let t = breaker.snapshot().totals;
    println!(
        "sockets: {} requests reached the server; breaker {t:?}; {:?} in all",
        server.requests(),
        started.elapsed()
    );
    assert_eq!(t.rejected, 53);
    assert_eq!(t.failures, 6);
}
