//! A call through breakwater's stack, traced with OpenTelemetry through
//! `tracing-opentelemetry`, with the W3C trace context carried to the server.
//!
//! An order service calls an inventory service over HTTP (hyper-util) behind retry +
//! breaker + timeout. The inventory service (in this process, on 127.0.0.1) answers its
//! first request with 503, so the retry layer sends a second attempt, in its own
//! `retry_attempt` span. A small `map_request` layer below the stack writes the current
//! span's context into each request as a `traceparent` header (the W3C Trace Context
//! propagator of the OpenTelemetry SDK).
//!
//! Spans are exported to memory and printed (no collector, no network). The example then
//! checks that both requests carry the caller's trace id, that the first is a child of the
//! caller's span and the retry a child of its `retry_attempt` span, and exits 0 (1
//! otherwise).
//!
//! Run: `cargo run --example tracing_otel`

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use opentelemetry::propagation::{Injector, TextMapPropagator};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};
use tower::{BoxError, Layer, ServiceBuilder, ServiceExt};
use tower_breakwater::retry::http::RetryOnStatus;
use tower_breakwater::retry::{Backoff, Jitter};
use tower_breakwater::Resilience;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;

/// Finished spans, kept in memory (an exporter to a collector would send them instead).
#[derive(Debug, Clone, Default)]
struct InMemory(Arc<Mutex<Vec<SpanData>>>);

impl SpanExporter for InMemory {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.0.lock().expect("not poisoned").extend(batch);
        Ok(())
    }
}

/// Writes the current span's context into a request's headers (`traceparent`).
struct Headers<'a>(&'a mut HeaderMap);

impl Injector for Headers<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            axum::http::HeaderName::try_from(key),
            axum::http::HeaderValue::try_from(value),
        ) {
            self.0.insert(name, value);
        }
    }
}

fn with_trace_context(mut request: Request<Full<Bytes>>) -> Request<Full<Bytes>> {
    let context = tracing::Span::current().context();
    TraceContextPropagator::new().inject_context(&context, &mut Headers(request.headers_mut()));
    request
}

async fn read_body(response: Response<Incoming>) -> Result<Response<Bytes>, BoxError> {
    let (parts, body) = response.into_parts();
    Ok(Response::from_parts(
        parts,
        body.collect().await?.to_bytes(),
    ))
}

/// The inventory service: 503 for its first request, then 200; keeps every `traceparent`.
async fn inventory_service() -> std::io::Result<(String, Arc<Mutex<Vec<String>>>)> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let app = Router::new().route(
        "/stock/{sku}",
        get(move |headers: HeaderMap| async move {
            let traceparent = headers
                .get("traceparent")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-")
                .to_string();
            let mut log = log.lock().expect("not poisoned");
            log.push(traceparent);
            match log.len() {
                1 => (StatusCode::SERVICE_UNAVAILABLE, "warming up"),
                _ => (StatusCode::OK, "12 in stock"),
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((format!("http://{addr}"), seen))
}

fn fail(why: String) -> ! {
    eprintln!("FAILED: {why}");
    std::process::exit(1);
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), BoxError> {
    // tracing → OpenTelemetry: every span (breakwater's debug spans included) is exported.
    let spans = InMemory::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(spans.clone())
        .build();
    let otel = tracing_opentelemetry::layer().with_tracer(provider.tracer("order-service"));
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(otel))?;

    let (base, traceparents) = inventory_service().await?;
    let http = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let stack = Resilience::builder("inventory")
        .with_retry(|retry| {
            retry
                .max_attempts(3)
                .backoff(Backoff::constant(Duration::from_millis(20)))
                .jitter(Jitter::None)
                .retry_if(RetryOnStatus) // 503 is worth another attempt
        })
        .with_circuit_breaker(|breaker| breaker.consecutive_failures(5))
        .timeout(Duration::from_secs(2))
        .build()?;
    let inventory = stack.layer(
        ServiceBuilder::new()
            .map_request(with_trace_context) // below the stack: once per attempt
            .and_then(read_body)
            .service(http),
    );

    let request = Request::get(format!("{base}/stock/sku-42")).body(Full::default())?;
    let checkout = tracing::info_span!("checkout", order = 17);
    let response = inventory
        .oneshot(request)
        .instrument(checkout.clone())
        .await
        .map_err(|e| format!("the call failed: {e}"))?;
    println!(
        "inventory answered {} {:?} after a retry",
        response.status(),
        response.body()
    );
    drop(checkout); // the span ends, and is exported
    provider.force_flush()?;

    let spans = spans.0.lock().expect("not poisoned").clone();
    println!("\nexported spans:");
    for span in &spans {
        let attributes: Vec<String> = span
            .attributes
            .iter()
            .filter(|kv| {
                !kv.key.as_str().starts_with("code.") && !kv.key.as_str().starts_with("thread.")
            })
            .map(|kv| format!("{}={}", kv.key, kv.value))
            .collect();
        println!(
            "  {:<14} trace={} span={} parent={} {}",
            span.name,
            span.span_context.trace_id(),
            span.span_context.span_id(),
            span.parent_span_id,
            attributes.join(" ")
        );
    }
    let traceparents = traceparents.lock().expect("not poisoned").clone();
    println!("\ntraceparent headers the inventory service received:");
    for traceparent in &traceparents {
        println!("  {traceparent}");
    }

    // The checks: one trace, and each request a child of the span that sent it.
    let find = |name: &str| spans.iter().find(|s| s.name == name);
    let Some(root) = find("checkout") else {
        fail("no checkout span exported".into())
    };
    let Some(retry) = find("retry_attempt") else {
        fail("no retry_attempt span exported".into())
    };
    let trace = root.span_context.trace_id().to_string();
    let expect = |parent: &SpanData| format!("00-{trace}-{}-01", parent.span_context.span_id());
    if traceparents != [expect(root), expect(retry)] {
        fail(format!(
            "expected the first request under checkout and the retry under retry_attempt, got {traceparents:?}"
        ));
    }
    if retry.parent_span_id != root.span_context.span_id() {
        fail("retry_attempt is not a child of the caller's span".into());
    }
    let attribute = |key: &str| {
        retry
            .attributes
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| kv.value.to_string())
    };
    if attribute("attempt").as_deref() != Some("2") || attribute("outcome").as_deref() != Some("ok")
    {
        fail(format!("retry_attempt's fields: {:?}", retry.attributes));
    }
    println!("\nok: one trace; the first request under `checkout`, the retry under its `retry_attempt` span");
    provider.shutdown()?;
    Ok(())
}
