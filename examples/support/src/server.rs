//! What every service does the same way: probes, common layers, binding, the
//! `listening on` line and graceful shutdown.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::middleware::map_response_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderName, HeaderValue};
use portcullis_response::{ApiError, Message, RouterExt, ServiceDefaults};
use tokio::net::TcpListener;

use crate::config::CommonConfig;

/// The response header naming the instance that answered.
pub const INSTANCE_ID_HEADER: HeaderName = HeaderName::from_static("x-instance-id");

/// A readiness check: `Ok` when the service can do its work (its store answers).
pub type ReadyCheck =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

/// Adds `/healthz`, `/readyz`, the Portcullis defaults (404/405 fallbacks, body limit,
/// timeout, panic catching, request ids, error bodies in the model) and the
/// `x-instance-id` header to `app`.
pub fn finish_router(app: Router, config: &CommonConfig, ready: ReadyCheck) -> Router {
    let app = app
        // Liveness: the process answers. Never touches a dependency.
        .route("/healthz", get(|| async { Message::new("ok") }))
        // Readiness: the store answers; load balancers stop sending traffic otherwise.
        .route("/readyz", get(readyz).with_state(ready))
        .with_portcullis_defaults(
            ServiceDefaults::new()
                .body_limit(config.body_limit_bytes)
                .timeout(config.request_timeout()),
        );
    match HeaderValue::from_str(config.instance_id.trim()) {
        Ok(value) if !value.is_empty() => {
            app.layer(map_response_with_state(value, add_instance_id))
        }
        _ => app,
    }
}

async fn readyz(State(ready): State<ReadyCheck>) -> Response {
    match ready().await {
        Ok(()) => Message::new("ready").into_response(),
        Err(reason) => {
            tracing::warn!(%reason, "not ready");
            ApiError::unavailable("Store unavailable").into_response()
        }
    }
}

async fn add_instance_id(State(value): State<HeaderValue>, mut response: Response) -> Response {
    response.headers_mut().insert(INSTANCE_ID_HEADER, value);
    response
}

/// Binds `addr` and prints the one stdout line that tests and scripts wait for:
/// `listening on http://127.0.0.1:<port>`.
pub async fn bind(service: &str, addr: SocketAddr) -> io::Result<TcpListener> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    tracing::info!(service, %local, "bound");
    println!("listening on http://{local}");
    Ok(listener)
}

/// Serves `app` until Ctrl-C or SIGTERM, then stops accepting and lets in-flight requests
/// finish (each still bounded by the request timeout).
pub async fn serve(service: &'static str, listener: TcpListener, app: Router) -> io::Result<()> {
    // The peer address reaches handlers as `ConnectInfo<SocketAddr>`: the IAM throttles
    // failed logins per address with it.
    let app = app.into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            tracing::info!(service, "shutting down: finishing in-flight requests");
        })
        .await?;
    tracing::info!(service, "stopped");
    Ok(())
}

/// Resolves on Ctrl-C or, on Unix, SIGTERM (what `docker stop` and Kubernetes send).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
