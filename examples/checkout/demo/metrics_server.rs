//! `/metrics` for the demo: the stack's Prometheus metrics, served while it runs.

use std::net::SocketAddr;

use axum::http::header::CONTENT_TYPE;
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use prometheus::{Encoder, Registry, TextEncoder};
use tokio::net::TcpListener;
use tower::BoxError;

/// Serve `registry` at `http://127.0.0.1:{port}/metrics` (port 0: any free port).
pub async fn serve(registry: Registry, port: u16) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    let app = Router::new().route(
        "/metrics",
        get(move || {
            let registry = registry.clone();
            async move {
                let mut text = Vec::new();
                // Encoding our own families into a Vec cannot fail.
                let _ = TextEncoder::new().encode(&registry.gather(), &mut text);
                (
                    [(CONTENT_TYPE, TextEncoder::new().format_type().to_string())],
                    text,
                )
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(addr)
}

/// Fetch `/metrics` the way Prometheus would.
pub async fn scrape(addr: SocketAddr) -> Result<String, BoxError> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let response = client
        .get(format!("http://{addr}/metrics").parse()?)
        .await?;
    let body = response.into_body().collect().await?.to_bytes();
    Ok(String::from_utf8(body.to_vec())?)
}
