//! End-to-end (feature `otel`): the user service exports its `request` spans over
//! OTLP/HTTP to a collector (here a small receiver in the test that decodes the protobuf
//! requests), continuing the caller's W3C trace, and flushes the last ones on SIGTERM.
//!
//! Build the examples with the feature first: `cargo build --all-features --examples`.
#![cfg(feature = "otel")]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value};
use portcullis_examples::testing::{ADMIN_PASSWORD, Service, example_command, http_client};
use prost::Message;

/// The caller's trace: the W3C specification's example ids.
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_ID: &str = "00f067aa0ba902b7";

/// One exported span, as the receiver decoded it.
#[derive(Clone, Debug)]
struct Exported {
    service_name: String,
    name: String,
    trace_id: String,
    parent_span_id: String,
    attributes: HashMap<String, String>,
}

type Received = Arc<Mutex<Vec<Exported>>>;

/// An OTLP/HTTP receiver on a free loopback port: `POST /v1/traces` with a protobuf
/// `ExportTraceServiceRequest`, answered with an empty (all-accepted) response.
async fn start_receiver() -> (String, Received) {
    let received = Received::default();
    let app = Router::new()
        .route("/v1/traces", post(receive))
        .with_state(Arc::clone(&received));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, received)
}

async fn receive(
    State(received): State<Received>,
    body: Bytes,
) -> (StatusCode, [(&'static str, &'static str); 1]) {
    let Ok(request) = ExportTraceServiceRequest::decode(body) else {
        return (StatusCode::BAD_REQUEST, [("content-type", "text/plain")]);
    };
    let mut spans = received.lock().unwrap();
    for resource_spans in request.resource_spans {
        let resource = resource_spans
            .resource
            .map(|resource| text_attributes(&resource.attributes))
            .unwrap_or_default();
        let service_name = resource.get("service.name").cloned().unwrap_or_default();
        for span in resource_spans.scope_spans.into_iter().flat_map(|s| s.spans) {
            spans.push(Exported {
                service_name: service_name.clone(),
                name: span.name,
                trace_id: hex(&span.trace_id),
                parent_span_id: hex(&span.parent_span_id),
                attributes: text_attributes(&span.attributes),
            });
        }
    }
    // An empty ExportTraceServiceResponse: every span accepted.
    (StatusCode::OK, [("content-type", "application/x-protobuf")])
}

fn text_attributes(attributes: &[KeyValue]) -> HashMap<String, String> {
    attributes
        .iter()
        .filter_map(|kv| match kv.value.as_ref()?.value.as_ref()? {
            any_value::Value::StringValue(text) => Some((kv.key.clone(), text.clone())),
            _ => None,
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut text, b| {
        let _ = write!(text, "{b:02x}");
        text
    })
}

/// The user service exporting to `receiver` every `interval_ms`.
fn start_user_service(receiver: &str, interval_ms: u64) -> Service {
    let mut command = example_command("user_service");
    command
        .env("PORTCULLIS_PORT", "0")
        .env("PORTCULLIS_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("PORTCULLIS_OTLP_ENDPOINT", receiver)
        .env(
            "PORTCULLIS_OTLP_EXPORT_INTERVAL_MS",
            interval_ms.to_string(),
        );
    Service::start("user_service", command)
}

/// Sends `GET path` (with `traceparent` when given) and returns the response's request id.
async fn get(service: &Service, path: &str, traceparent: Option<&str>) -> String {
    let mut request = http_client().get(service.url(path));
    if let Some(traceparent) = traceparent {
        request = request.header("traceparent", traceparent);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200, "{path}");
    response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned()
}

/// The exported `request` span of the request `request_id`, waiting up to `within`.
async fn span_of(
    received: &Received,
    request_id: &str,
    within: Duration,
    service: &Service,
) -> Exported {
    let deadline = Instant::now() + within;
    loop {
        let found = received
            .lock()
            .unwrap()
            .iter()
            .find(|span| {
                span.name == "request"
                    && span.attributes.get("request_id").map(String::as_str) == Some(request_id)
            })
            .cloned();
        if let Some(span) = found {
            return span;
        }
        assert!(
            Instant::now() < deadline,
            "no exported span for request {request_id} within {within:?}; received {:#?}\n{}",
            received.lock().unwrap(),
            service.process.report()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn request_spans_continue_the_callers_trace_or_start_the_requests_own() {
    let (receiver, received) = start_receiver().await;
    let service = start_user_service(&receiver, 200);

    let traceparent = format!("00-{TRACE_ID}-{PARENT_ID}-01");
    let continued = get(&service, "/.well-known/jwks.json", Some(&traceparent)).await;
    let fresh = get(&service, "/.well-known/jwks.json", None).await;

    let span = span_of(&received, &continued, Duration::from_secs(15), &service).await;
    assert_eq!(span.service_name, "user_service");
    assert_eq!(span.trace_id, TRACE_ID, "the caller's trace");
    assert_eq!(
        span.parent_span_id, PARENT_ID,
        "the caller's span is the parent"
    );
    assert_eq!(span.attributes["method"], "GET");
    assert_eq!(span.attributes["path"], "/.well-known/jwks.json");
    assert_eq!(
        span.attributes["trace_id"], TRACE_ID,
        "the logged trace id agrees"
    );

    let span = span_of(&received, &fresh, Duration::from_secs(15), &service).await;
    assert_eq!(span.service_name, "user_service");
    assert_eq!(span.trace_id.len(), 32);
    assert_ne!(span.trace_id, "0".repeat(32));
    assert_ne!(span.trace_id, TRACE_ID, "a new trace");
    assert_eq!(span.parent_span_id, "", "the request starts its trace");
    assert_eq!(
        span.attributes["trace_id"], span.trace_id,
        "the exported trace is the one logged and continued on outgoing calls"
    );
}

#[tokio::test]
async fn the_last_spans_are_flushed_on_sigterm() {
    let (receiver, received) = start_receiver().await;
    // An interval longer than the test: only the shutdown's flush can send the span.
    let mut service = start_user_service(&receiver, 600_000);
    let request_id = get(&service, "/.well-known/jwks.json", None).await;
    assert!(
        !received
            .lock()
            .unwrap()
            .iter()
            .any(|span| span.attributes.get("request_id") == Some(&request_id)),
        "not exported before the shutdown"
    );

    service.process.terminate();
    let code = tokio::task::spawn_blocking(move || {
        let code = service.process.wait_for_exit(Duration::from_secs(20));
        (code, service)
    })
    .await
    .unwrap();
    let (code, service) = code;
    assert_eq!(code, Some(0), "{}", service.process.report());
    let span = span_of(&received, &request_id, Duration::from_secs(1), &service).await;
    assert_eq!(span.service_name, "user_service");
}
