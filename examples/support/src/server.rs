//! What every service does the same way: probes, common layers, binding, the
//! `listening on` line, connection limits and graceful shutdown.

mod connection;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::map_response_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderName, HeaderValue};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use portcullis_response::{ApiError, Message, RouterExt, ServiceDefaults};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::Service;

use crate::config::CommonConfig;
use connection::{CountingStream, HeadTimer, Reads};

/// The response header naming the instance that answered.
pub const INSTANCE_ID_HEADER: HeaderName = HeaderName::from_static("x-instance-id");

/// A readiness check: `Ok` when the service can do its work (its store answers).
pub type ReadyCheck =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

/// Adds `/healthz`, `/readyz`, `/metrics`, the Portcullis defaults (404/405 fallbacks, body limit,
/// timeout, panic catching, request ids, error bodies in the model) and the
/// `x-instance-id` header to `app`.
pub fn finish_router(app: Router, config: &CommonConfig, ready: ReadyCheck) -> Router {
    // Installed before the first request is counted.
    crate::metrics::prometheus();
    // Prometheus metrics, outside the token guard like the probes, unless they have a
    // listener of their own (`metricsPort`, `crate::metrics::serve_on_own_port`).
    let app = if config.metrics_port.trim().is_empty() {
        app.route("/metrics", get(crate::metrics::render))
    } else {
        app
    };
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

/// What one client may hold of a service: time to send a request head, time to stay
/// connected between requests, and connections at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// From the first byte of a request, the whole head (request line and headers) must
    /// arrive within this, or the connection is closed (slow-header clients).
    pub header_read_timeout: Duration,
    /// A connection with no request under way (after accept, or after a response on a
    /// kept-alive connection) is closed when no byte arrives within this.
    pub idle_timeout: Duration,
    /// At most this many connections are served at once; further clients wait in the
    /// listen backlog (not accepted) until one closes.
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    /// 10 s for a head, 75 s idle, 1024 connections (as the configuration's defaults).
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(75),
            max_connections: 1024,
        }
    }
}

/// Serves `app` until Ctrl-C or SIGTERM, then stops accepting and lets in-flight requests
/// finish (each still bounded by the request timeout). Each connection is HTTP/1.1 under
/// `limits`; the peer address reaches handlers as `ConnectInfo<SocketAddr>`.
pub async fn serve(
    service: &'static str,
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
) -> io::Result<()> {
    serve_until(service, listener, app, limits, shutdown_signal()).await
}

/// As [`serve`], with the shutdown starting when `shutdown` resolves instead of on the
/// signal; the server serves as usual until then (a service in a registry leaves it first:
/// [`shutdown_after_leaving`](crate::registry::announce::shutdown_after_leaving)).
pub async fn serve_until(
    service: &'static str,
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        // A free slot first: at the cap, new clients wait in the kernel's backlog instead
        // of being accepted and starved.
        let permit = tokio::select! {
            permit = Arc::clone(&slots).acquire_owned() => {
                permit.expect("the connection semaphore is never closed")
            }
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    accept_error(&error).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        serve_connection(stream, peer, app.clone(), limits, permit, &graceful);
    }
    tracing::info!(service, "shutting down: finishing in-flight requests");
    // No new connections; idle ones close now, busy ones after their response.
    drop(listener);
    graceful.shutdown().await;
    #[cfg(feature = "otel")]
    crate::otel::flush().await;
    tracing::info!(service, "stopped");
    Ok(())
}

/// Serves one connection on its own task, holding `permit` until it closes.
fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    limits: ConnectionLimits,
    permit: OwnedSemaphorePermit,
    graceful: &GracefulShutdown,
) {
    // Small request/response exchanges: send each response at once.
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(%error, %peer, "cannot set TCP_NODELAY");
    }
    let reads = Reads::default();
    let io = TokioIo::new(CountingStream::new(stream, reads.clone()));
    let handler = hyper::service::service_fn(move |mut request: Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        // The exported spans continue the caller's trace (W3C `traceparent`).
        #[cfg(feature = "otel")]
        let parent = crate::otel::remote_parent(request.headers());
        let response = app.clone().call(request);
        #[cfg(feature = "otel")]
        let response = opentelemetry::context::FutureExt::with_context(response, parent);
        response
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(HeadTimer::new(reads, limits.idle_timeout))
        .header_read_timeout(limits.header_read_timeout)
        .serve_connection(io, handler);
    let connection = graceful.watch(connection);
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            // Timeouts, resets and malformed requests: the client's business.
            tracing::debug!(%error, %peer, "connection ended with an error");
        }
        drop(permit);
    });
}

/// An accept error: a connection that died in the backlog is skipped; anything else (out
/// of file descriptors) is logged and retried after a pause, as axum's `serve` does.
async fn accept_error(error: &io::Error) {
    if matches!(
        error.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
    ) {
        return;
    }
    tracing::error!(%error, "accept failed; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
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
