//! A tonic client (`tonic::transport::Channel`) wrapped in a breakwater stack, against an
//! in-process tonic server on 127.0.0.1.
//!
//! The server runs the standard gRPC Health service (from `tonic-health`, so no protoc) behind
//! a switch that makes it answer UNAVAILABLE, as a sick server or its proxy would. The client
//! calls `Health/Check` through timeout + circuit breaker; the breaker reads each
//! response's `grpc-status` with `tower_breakwater::grpc::GrpcClassifier`:
//! - NOT_FOUND (an unknown service name) is the request's fault: the breaker stays closed;
//! - three UNAVAILABLE in a row open it; then calls fail at once with UNAVAILABLE made on
//!   the client (the server sees none of them);
//! - once the server is well and `open_for` has passed, a trial call closes it again.
//!
//! Checks the story (exit 1 otherwise) and stops in about a second.
//!
//! Run: `cargo run --example tonic_client --features grpc`

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tonic::body::Body;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Server};
use tonic::{Code, Status};
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;
use tower::{BoxError, Layer, Service, ServiceBuilder};
use tower_breakwater::circuit_breaker::{CircuitBreaker, State};
use tower_breakwater::grpc::GrpcClassifier;
use tower_breakwater::{Error, Resilience};

pub const OPEN_FOR: Duration = Duration::from_millis(300);

/// The server's side of the story: its address, its sickness switch, and how many calls
/// reached it.
#[derive(Clone)]
pub struct Backend {
    pub addr: SocketAddr,
    pub sick: Arc<AtomicBool>,
    pub calls: Arc<AtomicU32>,
}

/// Serve the Health service on 127.0.0.1:`port` (0: any free port) until the task ends.
pub async fn start_backend(port: u16) -> std::io::Result<Backend> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    let backend = Backend {
        addr,
        sick: Arc::new(AtomicBool::new(false)),
        calls: Arc::new(AtomicU32::new(0)),
    };
    let (_reporter, health) = tonic_health::server::health_reporter();
    let switch = SickSwitch {
        sick: backend.sick.clone(),
        calls: backend.calls.clone(),
    };
    tokio::spawn(async move {
        let served = Server::builder()
            .layer(switch)
            .add_service(health)
            .serve_with_incoming(TcpIncoming::from(listener))
            .await;
        if let Err(e) = served {
            eprintln!("server stopped: {e}");
        }
    });
    Ok(backend)
}

/// A server-side layer that counts calls and, while `sick`, answers every call with a
/// trailers-only UNAVAILABLE (what an overloaded server or a draining proxy sends).
#[derive(Clone)]
struct SickSwitch {
    sick: Arc<AtomicBool>,
    calls: Arc<AtomicU32>,
}

impl<S> Layer<S> for SickSwitch {
    type Service = Sick<S>;
    fn layer(&self, inner: S) -> Sick<S> {
        Sick {
            inner,
            switch: self.clone(),
        }
    }
}

#[derive(Clone)]
struct Sick<S> {
    inner: S,
    switch: SickSwitch,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S> Service<http::Request<Body>> for Sick<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<http::Response<Body>, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        self.switch.calls.fetch_add(1, Ordering::Relaxed);
        if self.switch.sick.load(Ordering::Relaxed) {
            let response = Status::unavailable("warehouse database down").into_http();
            return Box::pin(async move { Ok(response) });
        }
        Box::pin(self.inner.call(request))
    }
}

/// The breaker of the client (the handle kept to watch it; the stack shares it).
pub fn breaker() -> CircuitBreaker {
    CircuitBreaker::builder("health")
        .consecutive_failures(3)
        .open_for(OPEN_FOR)
        .half_open_permits(1)
        .success_threshold(1)
        .build()
        .expect("valid breaker")
}

/// breakwater's refusals as the `Status` a gRPC caller expects: tonic returns a `Status`
/// it finds in the error as is (otherwise every refusal would surface as UNKNOWN).
/// `Channel` errors (connection refused, ...) stay what they are.
fn into_status(error: Error<tonic::transport::Error, http::Request<Body>>) -> BoxError {
    let code = Code::from(error.grpc_code() as i32);
    let message = error.to_string();
    match error.into_inner() {
        Some(transport) => transport.into(),
        None => Status::new(code, message).into(),
    }
}

/// One call of the story: what was asked, what came back (the serving status, or the
/// error's code and message), and how many calls the server had seen by then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub what: &'static str,
    pub answer: Result<String, (Code, String)>,
    pub server_calls: u32,
    pub breaker: State,
}

/// Drive the client through the story against `backend`.
pub async fn scenario(backend: &Backend, breaker: &CircuitBreaker) -> Result<Vec<Step>, BoxError> {
    let channel = Channel::from_shared(format!("http://{}", backend.addr))?
        .connect_timeout(Duration::from_secs(2))
        .connect()
        .await?;
    let stack = Resilience::builder("health")
        .circuit_breaker_with(breaker, GrpcClassifier::new())
        .timeout(Duration::from_secs(1))
        .build()?;
    let mut client = HealthClient::new(
        ServiceBuilder::new()
            .map_err(into_status)
            .layer(stack)
            .service(channel),
    );

    let mut steps = Vec::new();
    let mut call = async |what: &'static str, service: &str| {
        let request = HealthCheckRequest {
            service: service.to_string(),
        };
        let answer = match client.check(request).await {
            Ok(response) => Ok(format!("{:?}", response.into_inner().status())),
            Err(status) => Err((status.code(), status.message().to_string())),
        };
        let step = Step {
            what,
            answer,
            server_calls: backend.calls.load(Ordering::Relaxed),
            breaker: breaker.state(),
        };
        println!(
            "  {:<40} -> {:<60} server saw {} calls, breaker {}",
            step.what,
            match &step.answer {
                Ok(status) => status.clone(),
                Err((code, message)) => format!("{code:?}: {message}"),
            },
            step.server_calls,
            step.breaker
        );
        steps.push(step);
    };

    call("healthy", "").await;
    call("an unknown service (NOT_FOUND)", "no.such.Service").await;
    backend.sick.store(true, Ordering::Relaxed);
    for what in [
        "sick: 1st UNAVAILABLE",
        "sick: 2nd UNAVAILABLE",
        "sick: 3rd UNAVAILABLE",
    ] {
        call(what, "").await;
    }
    call("while open (never sent)", "").await;
    backend.sick.store(false, Ordering::Relaxed);
    call("well again, but still open", "").await;
    tokio::time::sleep(OPEN_FOR + Duration::from_millis(50)).await;
    call("after open_for: the trial call", "").await;
    call("closed again", "").await;
    Ok(steps)
}

/// What `scenario` must show: (answer code or OK, server calls so far, breaker state).
pub const EXPECTED: [(Code, u32, State); 9] = [
    (Code::Ok, 1, State::Closed),
    (Code::NotFound, 2, State::Closed),
    (Code::Unavailable, 3, State::Closed),
    (Code::Unavailable, 4, State::Closed),
    (Code::Unavailable, 5, State::Open),
    (Code::Unavailable, 5, State::Open),
    (Code::Unavailable, 5, State::Open),
    (Code::Ok, 6, State::Closed),
    (Code::Ok, 7, State::Closed),
];

/// A step as (code, server calls, state), to compare with [`EXPECTED`].
pub fn summary(step: &Step) -> (Code, u32, State) {
    let code = step
        .answer
        .as_ref()
        .err()
        .map_or(Code::Ok, |(code, _)| *code);
    (code, step.server_calls, step.breaker)
}

#[tokio::main]
async fn main() {
    let backend = match start_backend(0).await {
        Ok(backend) => backend,
        Err(e) => {
            eprintln!("cannot bind: {e}");
            std::process::exit(1);
        }
    };
    println!(
        "gRPC Health server on {} (port {})",
        backend.addr,
        backend.addr.port()
    );
    let breaker = breaker();
    let steps =
        match tokio::time::timeout(Duration::from_secs(10), scenario(&backend, &breaker)).await {
            Ok(Ok(steps)) => steps,
            Ok(Err(e)) => {
                eprintln!("client failed: {e}");
                std::process::exit(1);
            }
            Err(_) => {
                eprintln!("the scenario did not finish within 10 s");
                std::process::exit(1);
            }
        };
    let seen: Vec<_> = steps.iter().map(summary).collect();
    if seen != EXPECTED {
        eprintln!("unexpected story: {seen:?}\nexpected {EXPECTED:?}");
        std::process::exit(1);
    }
    println!("ok: opened after 3 UNAVAILABLE, spared the server 2 calls, closed after one trial");
}
