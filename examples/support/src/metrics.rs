//! `GET /metrics`: every metric the libraries record (through the `metrics` facade, their
//! `metrics` features) in the Prometheus text format, from one recorder per process.
//!
//! The exporter is `metrics-exporter-prometheus` without its HTTP listener: the services
//! serve the text on their own port, outside the token guard, like `/healthz`, or on a
//! listener of its own when `metricsPort` is set ([`serve_on_own_port`]).

use std::sync::OnceLock;
use std::time::Duration;

use std::error::Error;
use std::net::SocketAddr;

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use portcullis_response::{RouterExt, ServiceDefaults};
use tokio::net::TcpListener;

use crate::config::CommonConfig;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// The histogram buckets of every `_seconds` metric: 1 ms to 10 s.
const SECONDS_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's recorder, installed on first use. If another recorder was installed
/// first (a test's), a detached one is used: `/metrics` then shows only what it records.
pub fn prometheus() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets(&SECONDS_BUCKETS)
            .expect("the bucket list is not empty");
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed; /metrics shows its own only");
        }
        start_upkeep(handle.clone());
        handle
    })
}

/// How often the recorder folds the recorded histogram samples into their buckets.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// Runs the recorder's upkeep on a thread of its own, for the life of the process. A
/// recorder made by `build_recorder` keeps every histogram sample until something drains
/// it: without this, a service nobody scrapes grows by every request's samples (the
/// exporter's documentation, "upkeep task").
fn start_upkeep(handle: PrometheusHandle) {
    let started = std::thread::Builder::new()
        .name("portcullis-metrics-upkeep".to_owned())
        .spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_INTERVAL);
                handle.run_upkeep();
            }
        });
    if let Err(error) = started {
        tracing::error!(%error, "cannot start the metrics upkeep: histograms grow until scraped");
    }
}

/// The handler of `GET /metrics`. The breakers export their call counts in batches (to
/// keep a closed call cheap): they are flushed first, so that a scrape sees every call.
pub async fn render() -> impl IntoResponse {
    portcullis_circuit_breaker::flush_metrics();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        prometheus().render(),
    )
}

/// With `metricsPort` set, binds it and serves `GET /metrics` there, alone, for the life
/// of the process (with the same connection limits as the API; nothing to drain at
/// shutdown), and prints `metrics on http://ADDR/metrics`. `None` when `metricsPort` is
/// empty: [`finish_router`](crate::server::finish_router) then routes `/metrics` beside
/// the API.
///
/// # Errors
///
/// An unusable `metricsPort`, or an address that cannot be bound.
pub async fn serve_on_own_port(
    config: &CommonConfig,
) -> Result<Option<SocketAddr>, Box<dyn Error + Send + Sync>> {
    let Some(addr) = config.metrics_addr()? else {
        return Ok(None);
    };
    prometheus();
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|error| format!("metricsPort {addr}: {error}"))?;
    let bound = listener.local_addr()?;
    let app = Router::new()
        .route("/metrics", get(render))
        .with_portcullis_defaults(ServiceDefaults::new());
    let limits = config.connection_limits();
    tokio::spawn(async move {
        let forever = std::future::pending::<()>();
        if let Err(error) =
            crate::server::serve_until("metrics", listener, app, limits, forever).await
        {
            tracing::error!(%error, "the metrics listener stopped");
        }
    });
    println!("metrics on http://{bound}/metrics");
    tracing::info!(%bound, "metrics served on their own listener");
    Ok(Some(bound))
}
