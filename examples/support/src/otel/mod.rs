//! Traces (feature `otel`): the services' spans exported over OTLP/HTTP (protobuf) to the
//! collector named by `otlpEndpoint`, as a continuation of each request's W3C trace.
//!
//! Every request already runs in the scope of its trace
//! ([`TraceContext::current`](portcullis_response::TraceContext::current)): the incoming
//! `traceparent`, or a new trace. The exported `request` span keeps that trace:
//!
//! - with a valid incoming `traceparent`, the span's trace id is the caller's and its
//!   parent is the caller's span ([`remote_parent`], applied by the server around each
//!   request);
//! - without one, the span starts the request's new trace: its trace id is the one the
//!   logs show as `trace_id` and that outgoing calls continue (an id generator that
//!   reads the request's trace).
//!
//! Spans leave in batches (`otlpExportIntervalMs`, a bounded queue: past 2,048 waiting
//! spans new ones are dropped, never blocking a request), each export bounded by a
//! timeout, and are flushed when the server stops ([`flush`]). The HTTP client is the
//! services' own (reqwest, rustls, `tlsRootCertificates`), run on the tokio runtime.
//!
//! One known gap: the `traceparent` sent on outgoing calls names a fresh id per hop
//! (W3C section 3.2.2.3), not the exported span's own id, so a downstream service's span
//! shows that hop id as its parent rather than this service's `request` span.

mod client;
mod ids;

use std::io;
use std::sync::OnceLock;
use std::time::Duration;

use opentelemetry::trace::{SpanContext, TraceContextExt, TraceFlags, TracerProvider as _};
use opentelemetry::trace::{SpanId, TraceId, TraceState};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider};
use portcullis_response::TraceContext;
use tracing_subscriber::Layer;
use tracing_subscriber::registry::LookupSpan;

use crate::config::CommonConfig;
use crate::tls::{self, ExtraRoots};

/// Spans waiting for export past this are dropped (the SDK counts and reports them).
const MAX_QUEUE: usize = 2_048;
/// Spans per export request.
const MAX_BATCH: usize = 512;
/// One export, connection and upload included (the HTTP client's and the exporter's
/// timeout).
const EXPORT_TIMEOUT: Duration = Duration::from_secs(5);

/// The installed provider, for [`flush`]. A second [`layer`] call (two services in one
/// process) keeps the first, as logging does.
static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

/// The tracing layer that exports spans to `otlpEndpoint`, or `None` when it is empty.
/// Must be called on the tokio runtime the services run on (the exports are sent from it).
pub fn layer<S>(
    service: &str,
    config: &CommonConfig,
) -> io::Result<Option<impl Layer<S> + Send + Sync + 'static>>
where
    S: tracing::Subscriber + for<'span> LookupSpan<'span> + Send + Sync,
{
    let Some(endpoint) = config.otlp_endpoint() else {
        return Ok(None);
    };
    let roots = ExtraRoots::load(&config.tls_root_certificates).map_err(io::Error::other)?;
    let http = tls::http_client_builder(&roots)
        .map_err(io::Error::other)?
        .timeout(EXPORT_TIMEOUT)
        .build()
        .map_err(io::Error::other)?;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(client::RuntimeClient::new(http)?)
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(traces_url(endpoint))
        .with_timeout(EXPORT_TIMEOUT)
        .build()
        .map_err(io::Error::other)?;
    let batch = BatchConfigBuilder::default()
        .with_max_queue_size(MAX_QUEUE)
        .with_max_export_batch_size(MAX_BATCH)
        .with_scheduled_delay(config.otlp_export_interval())
        .build();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(
            BatchSpanProcessor::builder(exporter)
                .with_batch_config(batch)
                .build(),
        )
        .with_id_generator(ids::RequestTraceIds::default())
        .with_resource(
            Resource::builder()
                .with_service_name(service.to_owned())
                .build(),
        )
        .build();
    let tracer = provider.tracer("portcullis-examples");
    let _ = PROVIDER.set(provider);
    Ok(Some(
        tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_location(false)
            .with_threads(false),
    ))
}

/// Logs the export's destination (after logging is installed): where spans go, and the
/// loud warning for plain `http://` off loopback that `allowInsecureHttp` allowed.
pub(crate) fn announce(config: &CommonConfig) {
    if let Some(endpoint) = config.otlp_endpoint() {
        // Checked at load; with allowInsecureHttp this only warns.
        let _ = tls::check_plain_http("otlpEndpoint", endpoint, config.allow_insecure_http);
        tracing::info!(
            endpoint = %traces_url(endpoint),
            interval_ms = config.otlp_export_interval().as_millis(),
            "exporting spans over OTLP/HTTP"
        );
    }
}

/// `http://collector:4318` -> `http://collector:4318/v1/traces` (the OTLP/HTTP signal path,
/// OTLP specification "OTLP/HTTP Request").
fn traces_url(base: &str) -> String {
    format!("{}/v1/traces", base.trim_end_matches('/'))
}

/// The OpenTelemetry context a request's spans start in: the caller's span as a remote
/// parent when `headers` hold a valid `traceparent` (read as
/// [`TraceContext::from_headers`] reads it, so the exported trace and the logged one
/// agree), else an empty context (the span starts the request's new trace).
pub fn remote_parent(headers: &http::HeaderMap) -> opentelemetry::Context {
    let Some(incoming) = (PROVIDER.get().is_some())
        .then(|| TraceContext::from_headers(headers))
        .flatten()
    else {
        return opentelemetry::Context::new();
    };
    let (Ok(trace_id), Ok(span_id)) = (
        TraceId::from_hex(&incoming.trace_id()),
        SpanId::from_hex(&incoming.parent_id()),
    ) else {
        return opentelemetry::Context::new();
    };
    let flags = if incoming.is_sampled() {
        TraceFlags::SAMPLED
    } else {
        TraceFlags::default()
    };
    let parent = SpanContext::new(trace_id, span_id, flags, true, TraceState::default());
    opentelemetry::Context::new().with_remote_span_context(parent)
}

/// Exports every finished span still queued (a server's last step on shutdown). Waits at
/// most the export timeout; a no-op when nothing is exported.
pub async fn flush() {
    let Some(provider) = PROVIDER.get() else {
        return;
    };
    // The SDK blocks until its worker thread has exported, and that export runs on this
    // runtime: wait off the runtime's threads.
    let provider = provider.clone();
    match tokio::task::spawn_blocking(move || provider.force_flush()).await {
        Ok(Ok(())) => tracing::debug!("spans flushed"),
        Ok(Err(error)) => tracing::warn!(%error, "cannot flush the last spans"),
        Err(error) => tracing::warn!(%error, "cannot flush the last spans"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_traces_path_is_appended_to_the_base_url() {
        assert_eq!(
            traces_url("http://127.0.0.1:4318"),
            "http://127.0.0.1:4318/v1/traces"
        );
        assert_eq!(
            traces_url("https://collector/otlp/"),
            "https://collector/otlp/v1/traces"
        );
    }
}
